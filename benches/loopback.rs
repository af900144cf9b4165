//! The machine's ceilings for a request/response protocol, measured without a KMIP server.
//!
//! One connection: a bare TCP round trip over loopback (200 bytes
//! each way, blocking sockets, `TCP_NODELAY`, no TLS, no KMIP), between two threads that the
//! scheduler places on any vCPU, and between two threads pinned to the same vCPU.
//!
//! A one-connection benchmark of any server (`kmipd bench --connections 1`) is a chain of
//! such round trips plus the work on both sides, so its rate can't exceed this floor. On a
//! virtual machine, the cross-vCPU figure is dominated by waking the other side (an
//! inter-processor interrupt and a host wake-up of the sleeping vCPU), not by TCP; all the
//! more where the guest kernel halts idle vCPUs without polling first (`guest_halt_poll_ns`
//! of 0, as on the machine these figures come from). Figures and what they imply for the
//! targets are in `docs/benchmarks.md`.
//!
//! Many connections: `tcp_round_trips_32_connections` runs a bare echo server
//! and a client on two tokio runtimes (as `kmipd serve` and `kmipd bench` do, each with one
//! worker per vCPU), 32 connections with one 200-byte message in flight on each. Its rate is
//! what the kernel's loopback TCP and the two runtimes allow on this machine before any TLS,
//! KMIP or store work, so a 32-connection benchmark of any server stays below it.
//! `kmipd_framework_32_connections` adds everything of kmipd's but the request's own work:
//! the real `server::run` (mutual TLS, the connection tasks, the hand-off to the handler
//! threads) with a handler that answers every request with the same 200-byte message, and
//! the load generator's own connections as clients. Between the two lies what TLS and
//! kmipd's threading cost; between the second and `kmipd bench --mix get` lies the cost of
//! decoding, the store read, the audit record and encoding.

use std::hint::black_box;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::Arc;
use std::thread;
use std::time::Duration;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const MESSAGE: usize = 200;

/// Pins the calling thread to `cpu` (Linux); false if the kernel refused.
fn pin_to(cpu: usize) -> bool {
    // SAFETY: a zeroed cpu_set_t is an empty set; CPU_SET and sched_setaffinity only read
    // and write the set passed to them.
    unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        libc::CPU_SET(cpu, &mut set);
        libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &set) == 0
    }
}

/// A connected pair; the far end echoes every message on its own thread (pinned to `pin`
/// if given) until the near end closes.
fn echo_pair(pin: Option<usize>) -> TcpStream {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = listener.local_addr().expect("addr");
    thread::spawn(move || {
        if let Some(cpu) = pin {
            assert!(pin_to(cpu), "pinning the echo thread");
        }
        let (mut s, _) = listener.accept().expect("accept");
        s.set_nodelay(true).expect("nodelay");
        let mut buf = [0u8; MESSAGE];
        while s.read_exact(&mut buf).is_ok() {
            if s.write_all(&buf).is_err() {
                break;
            }
        }
    });
    let s = TcpStream::connect(addr).expect("connect");
    s.set_nodelay(true).expect("nodelay");
    s
}

fn round_trips(c: &mut Criterion) {
    let mut group = c.benchmark_group("tcp_round_trip_200B");
    // SAFETY: sched_getaffinity fills the zeroed set it is given.
    let before = unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        libc::sched_getaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &mut set);
        set
    };
    // The first vCPU this process may run on.
    // SAFETY: CPU_ISSET reads the set filled above.
    let first = (0..libc::CPU_SETSIZE as usize).find(|&c| unsafe { libc::CPU_ISSET(c, &before) });
    for (name, pin) in [("any_vcpu", None), ("same_vcpu", first)] {
        if name == "same_vcpu" && pin.is_none_or(|cpu| !pin_to(cpu)) {
            eprintln!("same_vcpu: cannot pin threads here; skipped");
            continue;
        }
        let mut s = echo_pair(pin);
        let mut buf = [7u8; MESSAGE];
        group.bench_function(name, |b| {
            b.iter(|| {
                s.write_all(&buf).expect("write");
                s.read_exact(&mut buf).expect("read");
                black_box(&buf);
            })
        });
        drop(s);
        // SAFETY: restores the mask read above (the measuring thread was pinned for
        // `same_vcpu`).
        unsafe {
            libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &before);
        }
    }
    group.finish();
}

/// Connections in flight for the many-connection floor (the get target is at 32).
const CONNECTIONS: usize = 32;

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime")
}

/// An echo server on its own runtime: every connection echoes 200-byte messages until closed.
fn echo_server(rt: &tokio::runtime::Runtime) -> std::net::SocketAddr {
    let listener = rt
        .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    rt.spawn(async move {
        while let Ok((mut s, _)) = listener.accept().await {
            s.set_nodelay(true).expect("nodelay");
            tokio::spawn(async move {
                let mut buf = [0u8; MESSAGE];
                while s.read_exact(&mut buf).await.is_ok() {
                    if s.write_all(&buf).await.is_err() {
                        break;
                    }
                }
            });
        }
    });
    addr
}

fn many_connections(c: &mut Criterion) {
    let server = runtime();
    let addr = echo_server(&server);
    let client = runtime();
    let conns: Vec<tokio::net::TcpStream> = client.block_on(async {
        let mut v = Vec::with_capacity(CONNECTIONS);
        for _ in 0..CONNECTIONS {
            let s = tokio::net::TcpStream::connect(addr).await.expect("connect");
            s.set_nodelay(true).expect("nodelay");
            v.push(s);
        }
        v
    });
    let mut conns = Some(conns);
    let mut group = c.benchmark_group("tcp_round_trips_32_connections");
    group.throughput(Throughput::Elements(1));
    group.bench_function("200B", |b| {
        b.iter_custom(|iters| {
            all_at_once(&client, &mut conns, iters, |mut s, per| async move {
                let mut buf = [7u8; MESSAGE];
                for _ in 0..per {
                    s.write_all(&buf).await.expect("write");
                    s.read_exact(&mut buf).await.expect("read");
                }
                s
            })
        })
    });
    group.finish();
}

/// Runs `iters` round trips spread over the connections, each connection doing its share
/// (`round_trips(connection, share)`, which hands the connection back) at the same time as
/// the others; returns the elapsed time scaled to exactly `iters`, so criterion's time per
/// iteration is the cost of one round trip at this concurrency.
fn all_at_once<C, F, Fut>(
    rt: &tokio::runtime::Runtime,
    conns: &mut Option<Vec<C>>,
    iters: u64,
    round_trips: F,
) -> Duration
where
    C: Send + 'static,
    F: Fn(C, u64) -> Fut,
    Fut: Future<Output = C> + Send + 'static,
{
    let taken = conns.take().expect("connections");
    let count = taken.len() as u64;
    let per = iters.div_ceil(count);
    let (elapsed, back) = rt.block_on(async {
        let start = std::time::Instant::now();
        let tasks: Vec<_> = taken
            .into_iter()
            .map(|conn| tokio::spawn(round_trips(conn, per)))
            .collect();
        let mut back = Vec::with_capacity(tasks.len());
        for t in tasks {
            back.push(t.await.expect("connection task"));
        }
        (start.elapsed(), back)
    });
    *conns = Some(back);
    elapsed.mul_f64(iters as f64 / (per * count) as f64)
}

/// Answers every request with the same message, at once: no KMIP, no store.
struct Canned(Vec<u8>);

impl kmipd::server::Handler for Canned {
    fn handle(&self, _: &kmipd::server::Principal, _: &[u8]) -> Vec<u8> {
        self.0.clone()
    }
}

/// A 200-byte framed TTLV message (one Byte String in a Structure), valid for any reader.
fn canned_message() -> Vec<u8> {
    let body = MESSAGE - 16;
    let mut m = Vec::with_capacity(MESSAGE);
    m.extend_from_slice(&[0x42, 0x00, 0x7B, 0x01]);
    m.extend_from_slice(&((body + 8) as u32).to_be_bytes());
    m.extend_from_slice(&[0x42, 0x00, 0x94, 0x08]);
    m.extend_from_slice(&(body as u32).to_be_bytes());
    m.resize(MESSAGE, 0x5A);
    m
}

fn framework(c: &mut Criterion) {
    use kmipd::loadgen::client::{Conn, Target, server_name, tls_config};
    use kmipd::server::{DevPki, Settings, TlsSettings, tls};

    let dir = tempfile::tempdir().expect("tempdir");
    let pki = DevPki::create(&dir.path().join("certs")).expect("development PKI");
    let tls_settings = TlsSettings::from_pem_files(&pki.server_cert, &pki.server_key, &pki.ca_cert)
        .expect("server TLS files");
    let settings = Arc::new(Settings::new(
        tls::server_config(tls_settings).expect("server TLS configuration"),
    ));
    let server = runtime();
    let listener = server
        .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    let message = canned_message();
    server.spawn(kmipd::server::run(
        listener,
        settings,
        Arc::new(Canned(message.clone())),
        std::future::pending(),
    ));
    let client_config =
        tls_config(&pki.ca_cert, &pki.client_cert, &pki.client_key).expect("client TLS");
    let target = Target {
        addr: addr.to_string(),
        server_name: server_name(&addr.to_string(), Some("localhost")).expect("server name"),
        connector: tokio_rustls::TlsConnector::from(client_config),
        timeout: Duration::from_secs(10),
        http_path: None,
        connecting: Arc::new(tokio::sync::Semaphore::new(
            kmipd::loadgen::client::CONNECTS_AT_ONCE,
        )),
    };
    let client = runtime();
    let conns: Vec<Conn> = client.block_on(async {
        let mut v = Vec::with_capacity(CONNECTIONS);
        for _ in 0..CONNECTIONS {
            v.push(Conn::connect(&target).await.expect("connect"));
        }
        v
    });
    let mut conns = Some(conns);
    let message = Arc::new(message);
    let mut group = c.benchmark_group("kmipd_framework_32_connections");
    group.throughput(Throughput::Elements(1));
    group.bench_function("200B", |b| {
        b.iter_custom(|iters| {
            all_at_once(&client, &mut conns, iters, |mut conn, per| {
                let message = message.clone();
                async move {
                    for _ in 0..per {
                        let answer = conn
                            .call(&message, Duration::from_secs(10))
                            .await
                            .expect("call");
                        assert_eq!(answer.len(), MESSAGE);
                    }
                    conn
                }
            })
        })
    });
    group.finish();
}

criterion_group!(benches, round_trips, many_connections, framework);
criterion_main!(benches);
