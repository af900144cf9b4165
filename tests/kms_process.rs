//! The `kmipd serve` process as the operating system sees it: its memory, its core dumps,
//! its open-file limit.
//!
//! Key material does not outlive its use in the server's memory. A real `kmipd serve`
//! (redb file, file master key, development PKI) is given keys by Register and gives them
//! back by Get, over TTLV and over HTTPS with XML and JSON bodies (which carry keys as hex
//! text); once those connections have ended, the test reads every writable mapping of the
//! server process (`/proc/PID/mem`, as its parent) and looks for each key: its bytes, and
//! its upper- and lower-case hex.
//!
//! What this holds kmipd to: every heap buffer that held a key in the clear (the TTLV
//! request and response, the typed message, rustls's record buffers, buffers that grew and
//! were moved, text bodies and their conversion) is overwritten before its memory is freed,
//! whatever code owned it. The scan skips the main thread's stack (`[stack]`); other
//! threads' stacks are anonymous mappings and are searched too.
//!
//! A positive control keeps the scan honest: each key is registered with a random Name,
//! which the server does keep (in the store's page cache), and every Name must be found.
//! The server runs with `KMIPD_ALLOW_CORE_DUMPS=1` there, as an operator debugging it
//! would: by default it makes itself non-dumpable, which (for a test not run as root) also
//! closes its `/proc/PID/mem`. Another test checks that default.

mod daemon_util;
mod kms_util;
mod server_util;

use std::io::{Read, Seek, SeekFrom};

use kmipd::kmip::codec::Cx;
use kmipd::kmip::messages::*;
use kmipd::kmip::objects::*;
use kmipd::kmip::*;
use kmipd::ttlv::{self, Format};
use kms_util::*;
use server_util::PATIENCE;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use KmipVersion::*;

/// Keys registered per version and encoding.
const KEYS: usize = 8;

fn random_bytes(n: usize) -> Vec<u8> {
    let mut bytes = vec![0u8; n];
    std::fs::File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut bytes))
        .expect("/dev/urandom");
    bytes
}

/// Where each needle occurs in the writable memory of process `pid` (the main thread's stack
/// aside): one line per needle found, naming the mappings.
fn find_in_memory(pid: u32, needles: &[(String, Vec<u8>)]) -> Vec<(usize, String)> {
    let maps = std::fs::read_to_string(format!("/proc/{pid}/maps")).expect("maps");
    let mut mem = std::fs::File::open(format!("/proc/{pid}/mem"))
        .expect("the server's memory can be read by its parent (no ptrace restriction forbids it)");
    let mut hits = Vec::new();
    for line in maps.lines() {
        let mut fields = line.split_whitespace();
        let (Some(range), Some(perms)) = (fields.next(), fields.next()) else {
            continue;
        };
        let name = fields.nth(3).unwrap_or("");
        if !perms.starts_with("rw") || name == "[stack]" || name == "[vvar]" {
            continue;
        }
        let (start, end) = range.split_once('-').unwrap();
        let start = u64::from_str_radix(start, 16).unwrap();
        let end = u64::from_str_radix(end, 16).unwrap();
        let mut bytes = vec![0u8; (end - start) as usize];
        if mem.seek(SeekFrom::Start(start)).is_err() || mem.read_exact(&mut bytes).is_err() {
            continue;
        }
        for (i, (what, needle)) in needles.iter().enumerate() {
            let n = memchr::memmem::find_iter(&bytes, needle).count();
            if n > 0 {
                hits.push((i, format!("{what}: {n}× in {range} {perms} {name}")));
            }
        }
    }
    hits
}

/// `kmipd serve` on a fresh data directory, with `KMIPD_ALLOW_CORE_DUMPS` as given.
fn serve(data: &std::path::Path, allow_core_dumps: Option<&str>) -> std::process::Command {
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_kmipd"));
    cmd.arg("serve")
        .arg("--data-dir")
        .arg(data)
        .args(["--listen", "127.0.0.1:0"])
        .env_remove("KMIPD_ALLOW_CORE_DUMPS");
    if let Some(value) = allow_core_dumps {
        cmd.env("KMIPD_ALLOW_CORE_DUMPS", value);
    }
    cmd
}

/// A line of a process's limits (`/proc/PID/limits`), its spaces collapsed.
fn limit(pid: &str, which: &str) -> String {
    std::fs::read_to_string(format!("/proc/{pid}/limits"))
        .expect("limits")
        .lines()
        .find(|l| l.starts_with(which))
        .unwrap_or_else(|| panic!("no {which} limit"))
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
}

fn core_limit(pid: &str) -> String {
    limit(pid, "Max core file size")
}

/// `kmipd serve` started by a shell that first sets the open-file limits (`ulimit` options).
fn serve_with_ulimit(data: &std::path::Path, ulimit: &str) -> std::process::Command {
    let mut cmd = std::process::Command::new("bash");
    cmd.arg("-c")
        .arg(format!(
            "ulimit {ulimit} && exec \"$0\" serve --data-dir \"$1\" --listen 127.0.0.1:0"
        ))
        .arg(env!("CARGO_BIN_EXE_kmipd"))
        .arg(data);
    cmd
}

/// A service manager's low default soft limit on open files (1,024 on many systems) would
/// refuse connections at accept long before `max_connections`: the server raises its soft
/// limit to the hard one, and says so when even the hard one is too low.
#[test]
fn the_server_raises_its_open_file_limit_and_warns_when_it_is_too_low() {
    let dir = tempfile::tempdir().unwrap();
    let hard = limit("self", "Max open files");
    let hard: u64 = hard
        .split(' ')
        .nth(4)
        .unwrap()
        .parse()
        .expect("a finite hard limit");
    assert!(
        hard > 300,
        "this test needs a hard limit over 300, not {hard}"
    );

    // A server started under `ulimit` options: its open-file limits, then its log.
    let run = |name: &str, ulimit: &str| {
        let log = dir.path().join(format!("{name}.log"));
        let command = serve_with_ulimit(&dir.path().join(name), ulimit);
        let daemon = daemon_util::Daemon::spawn(command, log.clone());
        let pid = daemon.child.as_ref().unwrap().id().to_string();
        let open_files = limit(&pid, "Max open files");
        assert!(daemon.stop().success());
        (open_files, std::fs::read_to_string(&log).unwrap())
    };

    let (open_files, text) = run("raised", "-Sn 200");
    assert_eq!(
        open_files,
        format!("Max open files {hard} {hard} files"),
        "the soft limit raised to the hard one"
    );
    assert!(!text.contains("open file limit is below"), "{text}");

    // 300 open files cannot hold the default 512 connections.
    let (open_files, text) = run("low", "-n 300");
    assert_eq!(open_files, "Max open files 300 300 files");
    assert!(
        text.contains("open file limit is below limits.max_connections"),
        "{text}"
    );
}

/// Under systemd (`Type=notify`, `docs/kmipd.service`) the server says on the socket that
/// `NOTIFY_SOCKET` names when it takes connections and when it begins to stop: here a
/// socket of the test's own, by path, then in the abstract namespace.
#[test]
fn the_server_tells_a_service_manager_when_it_is_ready_and_when_it_stops() {
    use std::os::linux::net::SocketAddrExt;
    use std::os::unix::net::{SocketAddr, UnixDatagram};
    let dir = tempfile::tempdir().unwrap();
    let by_path = dir.path().join("notify.sock");
    let abstract_name = format!("kmipd-test-notify-{}", std::process::id());
    let sockets = [
        (
            UnixDatagram::bind(&by_path).unwrap(),
            by_path.to_str().unwrap().to_string(),
        ),
        (
            UnixDatagram::bind_addr(&SocketAddr::from_abstract_name(&abstract_name).unwrap())
                .unwrap(),
            format!("@{abstract_name}"),
        ),
    ];
    for (i, (socket, name)) in sockets.into_iter().enumerate() {
        socket.set_read_timeout(Some(PATIENCE)).unwrap();
        let mut cmd = serve(&dir.path().join(format!("data{i}")), None);
        cmd.env("NOTIFY_SOCKET", &name);
        let daemon = daemon_util::Daemon::spawn(cmd, dir.path().join(format!("kmipd{i}.log")));
        let mut buf = [0u8; 512];
        let n = socket.recv(&mut buf).expect("READY=1");
        let ready = String::from_utf8_lossy(&buf[..n]).to_string();
        assert_eq!(
            ready,
            format!("READY=1\nSTATUS=serving KMIP on {}", daemon.addr),
            "{name}"
        );
        // Ready means served: a client connects at once.
        let admin = server_util::dev_admin_client(&dir.path().join(format!("data{i}")));
        let addr: std::net::SocketAddr = daemon.addr.parse().unwrap();
        let rt = tokio::runtime::Runtime::new().unwrap();
        rt.block_on(async {
            let stream = server_util::connect(addr, admin).await.unwrap();
            let mut client = Client { stream };
            client.create(V1_4, 256, "after READY").await;
        });
        assert!(daemon.stop().success());
        let n = socket.recv(&mut buf).expect("STOPPING=1");
        assert_eq!(&buf[..n], b"STOPPING=1", "{name}");
    }
}

#[test]
fn the_server_writes_no_core_file_and_cannot_be_traced_unless_allowed() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("kmipd.log");
    let daemon = daemon_util::Daemon::spawn(serve(&dir.path().join("data"), None), log.clone());
    let pid = daemon.child.as_ref().unwrap().id().to_string();
    assert_eq!(core_limit(&pid), "Max core file size 0 0 bytes");
    let text = std::fs::read_to_string(&log).unwrap();
    // Logged only once the kernel reports the process non-dumpable.
    assert!(
        text.contains("this process writes no core file and cannot be traced"),
        "{text}"
    );
    if !rustix::process::geteuid().is_root() {
        let opened = std::fs::File::open(format!("/proc/{pid}/mem"));
        assert!(
            opened.is_err(),
            "another process of the same user reads its memory"
        );
    }
    assert!(daemon.stop().success());

    let log = dir.path().join("allowed.log");
    let daemon =
        daemon_util::Daemon::spawn(serve(&dir.path().join("data2"), Some("1")), log.clone());
    let pid = daemon.child.as_ref().unwrap().id().to_string();
    assert_eq!(core_limit(&pid), core_limit("self"), "left as inherited");
    let text = std::fs::read_to_string(&log).unwrap();
    assert!(text.contains("KMIPD_ALLOW_CORE_DUMPS=1"), "{text}");
    assert!(!text.contains("cannot be traced"), "{text}");
    assert!(daemon.stop().success());
}

fn request(version: KmipVersion, operation: Operation, payload: RequestPayload) -> Vec<u8> {
    RequestMessage {
        request_header: header(version, 1),
        batch_item: vec![item(operation, payload)],
    }
    .to_bytes(&Cx::new(version))
}

/// One KMIP exchange over HTTPS with a `format` body; the response as TTLV.
async fn over_https<S: AsyncReadExt + AsyncWriteExt + Unpin>(
    stream: &mut S,
    ttlv_request: &[u8],
    format: Format,
) -> ResponseMessage {
    let item = ttlv::decode(ttlv_request).unwrap();
    let body = ttlv::convert::write(std::slice::from_ref(&item), format, &KmipNames);
    let content_type = match format {
        Format::Xml => "text/xml",
        _ => "application/json",
    };
    let head = format!(
        "POST /kmip HTTP/1.1\r\nHost: kmipd\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\n\r\n",
        body.len()
    );
    let answer = tokio::time::timeout(PATIENCE, async {
        stream.write_all(head.as_bytes()).await?;
        stream.write_all(&body).await?;
        stream.flush().await?;
        let mut buf = Vec::new();
        loop {
            let mut chunk = [0u8; 4096];
            let n = stream.read(&mut chunk).await?;
            assert!(
                n > 0,
                "the server closed: {:?}",
                String::from_utf8_lossy(&buf)
            );
            buf.extend_from_slice(&chunk[..n]);
            let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") else {
                continue;
            };
            let head = String::from_utf8_lossy(&buf[..end]).to_string();
            assert!(head.starts_with("HTTP/1.1 200 "), "{head}");
            let length: usize = head
                .lines()
                .find_map(|l| l.strip_prefix("Content-Length: "))
                .expect("Content-Length")
                .parse()
                .unwrap();
            while buf.len() < end + 4 + length {
                let n = stream.read(&mut chunk).await?;
                assert!(n > 0, "the server closed mid-body");
                buf.extend_from_slice(&chunk[..n]);
            }
            return std::io::Result::Ok(buf[end + 4..end + 4 + length].to_vec());
        }
    })
    .await
    .expect("an answer in time")
    .expect("the exchange");
    let items = ttlv::convert::read(&answer, format, &KmipNames).expect("a KMIP response");
    decode_response(&ttlv::encode(&items[0]))
}

fn only_success(r: ResponseMessage, what: &str) -> ResponsePayload {
    success(r.batch_item.into_iter().next().expect("one item"), what)
}

#[test]
fn keys_leave_no_copies_in_server_memory_once_their_connections_end() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let daemon = daemon_util::Daemon::spawn(serve(&data, Some("1")), dir.path().join("kmipd.log"));
    let pid = daemon.child.as_ref().unwrap().id();
    let addr: std::net::SocketAddr = daemon.addr.parse().unwrap();
    let admin = server_util::dev_admin_client(&data);

    // (what, key, name)
    let mut keys: Vec<(String, Vec<u8>, String)> = Vec::new();
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        for version in [V1_2, V1_4, V2_1] {
            for format in [Format::Ttlv, Format::Xml, Format::Json] {
                let mut stream = server_util::connect(addr, admin.clone()).await.unwrap();
                for _ in 0..KEYS {
                    let key = random_bytes(32);
                    let marker = format!("marker-{}", hex::encode(random_bytes(12)));
                    let register = request(
                        version,
                        Operation::Register,
                        register(version, symmetric_key(&key), vec![name(&marker)]),
                    );
                    let answer = match format {
                        Format::Ttlv => decode_response(
                            &server_util::roundtrip(&mut stream, &register)
                                .await
                                .unwrap(),
                        ),
                        _ => over_https(&mut stream, &register, format).await,
                    };
                    let ResponsePayload::Register(r) = only_success(answer, "Register") else {
                        panic!("not a Register answer");
                    };
                    let uid = r.unique_identifier;
                    for key_format in [KeyFormatType::Raw, KeyFormatType::TransparentSymmetricKey] {
                        let get = request(version, Operation::Get, get(&uid, Some(key_format)));
                        let answer = match format {
                            Format::Ttlv => decode_response(
                                &server_util::roundtrip(&mut stream, &get).await.unwrap(),
                            ),
                            _ => over_https(&mut stream, &get, format).await,
                        };
                        let ResponsePayload::Get(got) = only_success(answer, "Get") else {
                            panic!("not a Get answer");
                        };
                        let Some(Object::SymmetricKey(k)) = got.object else {
                            panic!("no symmetric key");
                        };
                        assert!(
                            format!("{:?}", k.key_block).contains("redacted"),
                            "the key's Debug form hides it"
                        );
                    }
                    keys.push((format!("{version:?} {format:?} key {uid}"), key, marker));
                }
                stream.shutdown().await.unwrap();
                let mut rest = Vec::new();
                let _ = tokio::time::timeout(PATIENCE, stream.read_to_end(&mut rest)).await;
            }
        }
    });
    // The server's connection tasks end once the clients are gone; give them a moment.
    std::thread::sleep(std::time::Duration::from_millis(500));

    let mut needles: Vec<(String, Vec<u8>)> = Vec::new();
    for (what, key, _) in &keys {
        needles.push((what.clone(), key.clone()));
        needles.push((
            format!("{what} as hex"),
            hex::encode_upper(key).into_bytes(),
        ));
        needles.push((
            format!("{what} as lower-case hex"),
            hex::encode(key).into_bytes(),
        ));
    }
    let markers = needles.len();
    for (what, _, marker) in &keys {
        needles.push((format!("the Name of {what}"), marker.clone().into_bytes()));
    }
    let hits = find_in_memory(pid, &needles);
    let status = daemon.stop();
    assert!(status.success(), "{status:?}");

    let (controls, leaks): (Vec<_>, Vec<_>) = hits.into_iter().partition(|(i, _)| *i >= markers);
    let found: std::collections::BTreeSet<usize> = controls.iter().map(|(i, _)| *i).collect();
    assert_eq!(
        found.len(),
        keys.len(),
        "the scan must find every Name the server keeps; it found {controls:?}"
    );
    let leaks: Vec<String> = leaks.into_iter().map(|(_, line)| line).collect();
    assert!(
        leaks.is_empty(),
        "key material left in the server's memory:\n{}",
        leaks.join("\n")
    );
}
