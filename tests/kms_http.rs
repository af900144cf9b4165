//! KMIP over HTTPS on the KMIP port (KMIP Additional Message Encodings 1.0 §2), with TTLV,
//! XML and JSON bodies, over real TLS with client certificates.
//!
//! - the OASIS message-encoding test cases (MSGENC-HTTPS, -XML, -JSON for 1.0–1.2 from the
//!   golden hex pairs, 1.4 and 2.1 from the profile files) sent as HTTP requests to the real
//!   `kmipd serve` binary (redb file, file master key, development PKI), the 1.0–1.2 HTTPS
//!   requests with the vectors' own HTTP head (HTTP/1.0, keep-alive, a padded length);
//! - one key seen from a TTLV connection and from HTTP connections in each encoding;
//! - requests that are not KMIP exchanges (each status, and whether the connection goes on),
//!   bodies that are not KMIP messages (a KMIP Invalid Message), pipelining,
//!   `Expect: 100-continue`, HTTP/1.0 closing, a client gone mid-request, a stalled body (idle
//!   timeout), HTTP turned off:
//!   against the dispatcher over a redb store behind `server::run`, while a TTLV client
//!   keeps being served.

mod daemon_util;
mod kms_util;
mod server_util;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use kmipd::crypto::FileMasterKey;
use kmipd::kmip::codec::Cx;
use kmipd::kmip::messages::*;
use kmipd::kmip::payloads::*;
use kmipd::kmip::*;
use kmipd::server::Limits;
use kmipd::store::{RedbStore, admin};
use kmipd::ttlv::{self, Format, Item, OwnedItem, Tag, Value};
use kms_util::*;
use server_util::{PATIENCE, client_config, expect_closed};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_rustls::client::TlsStream;

use KmipVersion::*;

// ---------------------------------------------------------------------------------------
// A small HTTP/1.1 client over a TLS stream.

/// One HTTP answer.
#[derive(Debug)]
struct Answer {
    status: u16,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Answer {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The KMIP response in the body, read in `format`; checks the headers §2.5 requires.
    fn kmip(&self, format: Format) -> OwnedItem {
        assert_eq!(self.status, 200, "{self:?}");
        let content_type = match format {
            Format::Xml => "text/xml",
            Format::Json => "application/json",
            _ => "application/octet-stream",
        };
        assert_eq!(self.header("Content-Type"), Some(content_type));
        assert_eq!(self.header("Cache-Control"), Some("no-cache"));
        let mut items =
            ttlv::convert::read(&self.body, format, &KmipNames).expect("a KMIP message body");
        assert_eq!(items.len(), 1, "one message");
        items.remove(0)
    }
}

/// An HTTP connection: a TLS stream and what was read past the last answer.
struct Http {
    stream: TlsStream<TcpStream>,
    pending: Vec<u8>,
}

impl Http {
    async fn connect(addr: std::net::SocketAddr, config: Arc<rustls::ClientConfig>) -> Http {
        Http {
            stream: server_util::connect(addr, config).await.expect("TLS"),
            pending: Vec::new(),
        }
    }

    async fn write(&mut self, bytes: &[u8]) {
        self.stream.write_all(bytes).await.expect("write");
        self.stream.flush().await.expect("flush");
    }

    /// Reads one answer (within [`PATIENCE`]); `None` if the server closed first.
    async fn answer(&mut self) -> Option<Answer> {
        tokio::time::timeout(PATIENCE, async {
            loop {
                let mut fields = [httparse::EMPTY_HEADER; 32];
                let mut response = httparse::Response::new(&mut fields);
                if let httparse::Status::Complete(head) =
                    response.parse(&self.pending).expect("an HTTP answer")
                {
                    let headers: Vec<(String, String)> = response
                        .headers
                        .iter()
                        .map(|h| {
                            let value = String::from_utf8_lossy(h.value).into_owned();
                            (h.name.to_string(), value)
                        })
                        .collect();
                    let status = response.code.unwrap();
                    let len = headers
                        .iter()
                        .find(|(n, _)| n.eq_ignore_ascii_case("content-length"))
                        .map_or(0, |(_, v)| v.parse::<usize>().unwrap());
                    while self.pending.len() < head + len {
                        self.read_more().await?;
                    }
                    let rest = self.pending.split_off(head + len);
                    let body = self.pending.split_off(head);
                    self.pending = rest;
                    return Some(Answer {
                        status,
                        headers,
                        body,
                    });
                }
                self.read_more().await?;
            }
        })
        .await
        .expect("an answer in time")
    }

    async fn read_more(&mut self) -> Option<()> {
        let mut chunk = [0u8; 4096];
        match self.stream.read(&mut chunk).await {
            Ok(0) | Err(_) => None,
            Ok(n) => {
                self.pending.extend_from_slice(&chunk[..n]);
                Some(())
            }
        }
    }

    /// POSTs a Discover Versions in `version` as TTLV, which must succeed (`what` says when).
    async fn served(&mut self, version: KmipVersion, what: &str) {
        let r = response_of(
            &self
                .post(Format::Ttlv, &discover(version))
                .await
                .kmip(Format::Ttlv),
        );
        success(r.batch_item.into_iter().next().unwrap(), what);
    }

    /// Creates an AES-256 key named `name` with a request in `format`; its identifier.
    async fn create(&mut self, version: KmipVersion, name: &str, format: Format) -> String {
        let body = encoded(
            version,
            Operation::Create,
            create(version, 256, name),
            format,
        );
        let r = response_of(&self.post(format, &body).await.kmip(format));
        match success(r.batch_item.into_iter().next().unwrap(), "Create") {
            ResponsePayload::Create(c) => c.unique_identifier,
            other => panic!("{other:?}"),
        }
    }

    /// POSTs `body` to `/kmip` as `format` (HTTP/1.1, kept alive) and reads the answer.
    async fn post(&mut self, format: Format, body: &[u8]) -> Answer {
        self.write(&post(format, body)).await;
        self.answer().await.expect("an answer")
    }
}

fn post(format: Format, body: &[u8]) -> Vec<u8> {
    let content_type = match format {
        Format::Xml => "text/xml",
        Format::Json => "application/json",
        _ => "application/octet-stream",
    };
    let mut out = format!(
        "POST /kmip HTTP/1.1\r\nHost: localhost\r\nContent-Type: {content_type}\r\n\
         Cache-Control: no-cache\r\nContent-Length: {}\r\n\r\n",
        body.len()
    )
    .into_bytes();
    out.extend_from_slice(body);
    out
}

/// A request message in `format`.
fn encoded(
    version: KmipVersion,
    operation: Operation,
    payload: RequestPayload,
    f: Format,
) -> Vec<u8> {
    let bytes = RequestMessage {
        request_header: header(version, 1),
        batch_item: vec![item(operation, payload)],
    }
    .to_bytes(&Cx::new(version));
    let item = ttlv::decode(&bytes).unwrap();
    ttlv::convert::write(std::slice::from_ref(&item), f, &KmipNames)
}

/// A Discover Versions request in TTLV.
fn discover(version: KmipVersion) -> Vec<u8> {
    let payload = RequestPayload::DiscoverVersions(DiscoverVersionsPayload {
        protocol_version: vec![],
    });
    encoded(version, Operation::DiscoverVersions, payload, Format::Ttlv)
}

fn response_of(item: &OwnedItem) -> ResponseMessage {
    decode_response(&ttlv::encode(item))
}

// ---------------------------------------------------------------------------------------
// Servers.

/// The dispatcher over a redb store with a file master key in a temporary directory, behind
/// `server::run` with the development PKI.
async fn kmsd_on_redb(limits: Limits, http_path: Option<&str>) -> (Kmsd, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let provider = FileMasterKey::open_or_create(dir.path().join("data")).unwrap();
    let (store, _sealer) =
        RedbStore::open_with_provider(admin::db_path(&dir.path().join("data")), &provider).unwrap();
    let http_path = http_path.map(str::to_string);
    let kmsd =
        Kmsd::start_configured(limits, Arc::new(store), move |s| s.http_path = http_path).await;
    (kmsd, dir)
}

fn limits() -> Limits {
    Limits {
        handshake_timeout: Duration::from_secs(5),
        ..server_util::test_limits()
    }
}

fn vectors() -> PathBuf {
    let dir = std::env::var_os("KMIP_VECTORS_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/kmip/vectors"));
    assert!(
        dir.join("ttlv-hex-pairs").is_dir(),
        "the KMIP test vectors are not in {} (set KMIP_VECTORS_DIR)",
        dir.display()
    );
    dir
}

// ---------------------------------------------------------------------------------------
// The OASIS message-encoding test cases, against the real binary.

/// What the test cases fix in a response: the version, and per batch item its operation,
/// status and reason (payloads hold the server's own operation and object lists).
fn outcome(message: &Item<'_>) -> Vec<String> {
    let header = message.child(Tag::ResponseHeader).expect("a header");
    let version = header.child(Tag::ProtocolVersion).expect("a version");
    let mut out = vec![format!("{:?}", version.value)];
    for item in message
        .children()
        .iter()
        .filter(|i| i.tag == Tag::BatchItem)
    {
        let field = |tag: Tag| match item.child(tag).map(|i| &i.value) {
            Some(Value::Enumeration(v)) => format!("{tag:?}={v}"),
            _ => format!("{tag:?} absent"),
        };
        out.push(
            [Tag::Operation, Tag::ResultStatus, Tag::ResultReason]
                .map(field)
                .join(" "),
        );
    }
    out
}

/// The vectors' own request head (MSGENC-HTTPS-M-1-10): HTTP/1.0 kept alive, a
/// Content-Length padded with spaces.
fn vector_head(body_len: usize) -> Vec<u8> {
    format!(
        "POST /kmip HTTP/1.0\r\nPragma: no-cache\r\nCache-Control: no-cache\r\n\
         Connection: keep-alive\r\nContent-Type: application/octet-stream\r\n\
         Content-Length: {body_len:<10}\r\n\r\n"
    )
    .into_bytes()
}

#[test]
fn oasis_message_encoding_cases_over_https() {
    let vectors = vectors();
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let daemon = daemon_util::Daemon::start(&data, dir.path().join("kmipd.log"));
    let addr: std::net::SocketAddr = daemon.addr.parse().unwrap();
    let config = server_util::dev_admin_client(&data);
    let rt = tokio::runtime::Runtime::new().unwrap();
    let mut checked = Vec::new();
    rt.block_on(async {
        // 1.0–1.2: the golden pairs, each test case on one kept-alive connection.
        let pairs = vectors.join("ttlv-hex-pairs");
        for (encoding, format) in [
            ("HTTPS", Format::Ttlv),
            ("XML", Format::Xml),
            ("JSON", Format::Json),
        ] {
            for minor in ["10", "11", "12"] {
                let case = format!("MSGENC-{encoding}-M-1-{minor}");
                let mut http = Http::connect(addr, config.clone()).await;
                for (request, response) in
                    [("00_request", "01_response"), ("02_request", "03_response")]
                {
                    let read = |suffix: &str| std::fs::read(pairs.join(format!("{case}_{suffix}")));
                    let expected = ttlv::decode_all(
                        &ttlv::hex::decode(
                            &String::from_utf8(read(&format!("{response}.hex")).unwrap()).unwrap(),
                        )
                        .unwrap(),
                    )
                    .unwrap()
                    .remove(0);
                    let answer = match format {
                        Format::Ttlv => {
                            let hex = String::from_utf8(read(&format!("{request}.hex")).unwrap())
                                .unwrap();
                            let body = ttlv::hex::decode(&hex).unwrap();
                            let mut bytes = vector_head(body.len());
                            bytes.extend_from_slice(&body);
                            http.write(&bytes).await;
                            http.answer().await.expect("an answer")
                        }
                        Format::Xml => {
                            http.post(format, &read(&format!("{request}.xml")).unwrap())
                                .await
                        }
                        _ => {
                            http.post(format, &read(&format!("{request}.json.txt")).unwrap())
                                .await
                        }
                    };
                    let got = answer.kmip(format);
                    if case == "MSGENC-JSON-M-1-10" && request == "00_request" {
                        // The source document's JSON lacks its final "}" (ttlv-hex-pairs/README):
                        // not a message, so Invalid Message, and the connection goes on.
                        let r = response_of(&got);
                        assert_eq!(
                            r.batch_item[0].result_reason,
                            Some(ResultReason::InvalidMessage)
                        );
                        checked.push(format!(
                            "{case} {request}: Invalid Message (truncated JSON)"
                        ));
                        continue;
                    }
                    assert_eq!(outcome(&got), outcome(&expected), "{case} {request}");
                    checked.push(format!("{case} {request}"));
                }
                assert_eq!(answer_count(&mut http).await, 0, "{case}: nothing more");
            }
        }
        // 1.4 and 2.1: the profile files' conversations, each request in its encoding.
        for file in [
            "v1.4/mandatory/MSGENC-HTTPS-M-1-14.xml",
            "v1.4/mandatory/MSGENC-XML-M-1-14.xml",
            "v1.4/mandatory/MSGENC-JSON-M-1-14.xml",
            "v2.1/mandatory/MSGENC-HTTPS-M-1-21.xml",
            "v2.1/mandatory/MSGENC-XML-M-1-21.xml",
            "v2.1/mandatory/MSGENC-JSON-M-1-21.xml",
        ] {
            let text = std::fs::read_to_string(vectors.join(file)).unwrap();
            let text = ttlv::placeholders::substitute(&text, 0);
            let messages = ttlv::messages_from_xml(&text, &KmipNames).unwrap();
            let format = if file.contains("-XML-") {
                Format::Xml
            } else if file.contains("-JSON-") {
                Format::Json
            } else {
                Format::Ttlv
            };
            let mut http = Http::connect(addr, config.clone()).await;
            for pair in messages.chunks(2) {
                let body = ttlv::convert::write(&pair[..1], format, &KmipNames);
                let got = http.post(format, &body).await.kmip(format);
                assert_eq!(outcome(&got), outcome(&pair[1]), "{file}");
                checked.push(file.to_string());
            }
        }
    });
    println!("{}", checked.join("\n"));
    assert_eq!(checked.len(), 3 * 3 * 2 + 6 * 2);
    let status = daemon.stop();
    assert!(status.success(), "kmipd did not exit cleanly: {status}");
}

/// Nothing is left unread on a connection: a short wait shows no further answer.
async fn answer_count(http: &mut Http) -> usize {
    let mut chunk = [0u8; 64];
    match tokio::time::timeout(Duration::from_millis(50), http.stream.read(&mut chunk)).await {
        Ok(Ok(n)) => n + http.pending.len(),
        _ => http.pending.len(),
    }
}

// ---------------------------------------------------------------------------------------
// Metrics.

/// `GET /metrics` against the real binary configured with `[policy] metrics_readers =
/// ["prometheus"]`: the development client (`admin`, not an administrator here) gets 403
/// and its connection goes on; a certificate issued for `prometheus` reads the counters in
/// the Prometheus text format, and can do nothing else with keys.
#[test]
fn metrics_are_read_by_metrics_readers_only() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let config = dir.path().join("kmipd.toml");
    std::fs::write(
        &config,
        format!(
            "listen = \"127.0.0.1:0\"\ndata_dir = {:?}\n[policy]\nmetrics_readers = [\"prometheus\"]\n",
            data.display().to_string()
        ),
    )
    .unwrap();
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_kmipd"));
    cmd.arg("serve").arg("--config").arg(&config);
    let daemon = daemon_util::Daemon::spawn(cmd, dir.path().join("kmipd.log"));
    let out = dir.path().join("clients");
    daemon_util::kmipd(&[
        "certs",
        "issue",
        "--data-dir",
        data.to_str().unwrap(),
        "--cn",
        "prometheus",
        "--out",
        out.to_str().unwrap(),
    ]);
    let addr: std::net::SocketAddr = daemon.addr.parse().unwrap();
    let certs = data.join("certs");
    let ca = certs.join("ca.pem");
    let admin = client_config(&ca, &certs.join("client.pem"), &certs.join("client.key"));
    let prometheus = client_config(
        &ca,
        &out.join("prometheus.pem"),
        &out.join("prometheus.key"),
    );
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let mut http = Http::connect(addr, admin).await;
        let uid = http.create(V1_4, "metered", Format::Ttlv).await;
        http.write(b"GET /metrics HTTP/1.1\r\n\r\n").await;
        let refused = http.answer().await.unwrap();
        assert_eq!(refused.status, 403, "{refused:?}");
        http.write(b"POST /metrics HTTP/1.1\r\nContent-Length: 0\r\n\r\n")
            .await;
        let wrong = http.answer().await.unwrap();
        assert_eq!((wrong.status, wrong.header("Allow")), (405, Some("GET")));
        // The connection goes on.
        http.served(V2_1, "after the refusals").await;

        let mut reader = Http::connect(addr, prometheus).await;
        reader
            .write(b"GET /metrics HTTP/1.1\r\nHost: kmipd\r\n\r\n")
            .await;
        let metrics = reader.answer().await.unwrap();
        assert_eq!(metrics.status, 200, "{metrics:?}");
        assert_eq!(
            metrics.header("Content-Type"),
            Some("text/plain; version=0.0.4; charset=utf-8")
        );
        let text = String::from_utf8(metrics.body.clone()).unwrap();
        let value = |name: &str| -> u64 {
            let line = text
                .lines()
                .find(|l| {
                    l.strip_prefix(name)
                        .is_some_and(|rest| rest.starts_with(' '))
                })
                .unwrap_or_else(|| panic!("{name} missing from:\n{text}"));
            line.rsplit(' ').next().unwrap().parse().unwrap()
        };
        assert!(
            text.contains("# TYPE kmipd_requests_total counter"),
            "{text}"
        );
        assert_eq!(
            value("kmipd_requests_total"),
            2,
            "the Create and the Discover Versions"
        );
        assert_eq!(value("kmipd_http_requests_total"), 2);
        assert_eq!(value("kmipd_http_refusals_total"), 2);
        assert_eq!(value("kmipd_connections_active"), 2);
        assert_eq!(value("kmipd_objects"), 1);
        assert!(value("kmipd_store_commits_total") >= 1);
        assert!(value("kmipd_store_write_sets_total") >= 1);
        // The dispatcher's counts, by operation and result.
        assert_eq!(
            value("kmipd_operations_total{operation=\"Create\",result=\"Success\"}"),
            1
        );
        assert_eq!(
            value("kmipd_operations_total{operation=\"Discover Versions\",result=\"Success\"}"),
            1
        );
        // A metrics reader reads counters, not keys.
        let body = encoded(V1_4, Operation::Get, get(&uid, None), Format::Ttlv);
        let r = response_of(&reader.post(Format::Ttlv, &body).await.kmip(Format::Ttlv));
        assert_eq!(
            r.batch_item[0].result_reason,
            Some(ResultReason::PermissionDenied),
            "{r:?}"
        );
        // ... and sees that refusal counted.
        reader
            .write(b"GET /metrics HTTP/1.1\r\nHost: kmipd\r\n\r\n")
            .await;
        let again = String::from_utf8(reader.answer().await.unwrap().body).unwrap();
        let denied = "kmipd_operations_total{operation=\"Get\",result=\"Operation Failed\",\
                      reason=\"Permission Denied\"} 1";
        assert!(again.lines().any(|l| l == denied), "{again}");
    });
    let status = daemon.stop();
    assert!(status.success(), "kmipd did not exit cleanly: {status}");
}

// ---------------------------------------------------------------------------------------
// One port, both ways.

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_key_is_the_same_from_ttlv_and_from_each_http_encoding() {
    let (kmsd, _dir) = kmsd_on_redb(limits(), Some("/kmip")).await;
    let mut ttlv_client = kmsd.connect().await;
    let uid = ttlv_client.create(V1_4, 256, "shared-port").await;
    let key = key_bytes(&ttlv_client.get(V1_4, &uid, None).await);

    let mut http = Http::connect(kmsd.addr(), kmsd.admin()).await;
    for (version, format) in [
        (V1_4, Format::Ttlv),
        (V2_1, Format::Xml),
        (V1_2, Format::Json),
    ] {
        let body = encoded(version, Operation::Get, get(&uid, None), format);
        let r = response_of(&http.post(format, &body).await.kmip(format));
        assert_eq!(
            r.response_header.protocol_version,
            ProtocolVersion::new(version)
        );
        match success(r.batch_item.into_iter().next().unwrap(), "Get") {
            ResponsePayload::Get(g) => assert_eq!(key_bytes(&g), key, "{version} {format:?}"),
            other => panic!("{other:?}"),
        }
        let body = encoded(
            version,
            Operation::Locate,
            locate(version, vec![name("shared-port")], None, None),
            format,
        );
        let r = response_of(&http.post(format, &body).await.kmip(format));
        match success(r.batch_item.into_iter().next().unwrap(), "Locate") {
            ResponsePayload::Locate(l) => assert_eq!(l.unique_identifier, vec![uid.clone()]),
            other => panic!("{other:?}"),
        }
    }
    // A key made over HTTP is read over TTLV; its Destroy over HTTP is seen there too.
    let made = http.create(V2_1, "made-over-http", Format::Json).await;
    assert_eq!(
        key_bytes(&ttlv_client.get(V2_1, &made, None).await).len(),
        32
    );
    let body = encoded(
        V2_1,
        Operation::Destroy,
        RequestPayload::Destroy(kms_util::uid(Some(&made))),
        Format::Xml,
    );
    let r = response_of(&http.post(Format::Xml, &body).await.kmip(Format::Xml));
    success(r.batch_item.into_iter().next().unwrap(), "Destroy");
    ttlv_client
        .fails(
            V2_1,
            Operation::Get,
            get(&made, None),
            ResultReason::ObjectDestroyed,
        )
        .await;
    assert_eq!(kmsd.server.metrics.snapshot().http_requests, 8);
}

// ---------------------------------------------------------------------------------------
// What is not a KMIP exchange.

/// Sends `bytes` on a new connection; the answer's status, and whether the server then
/// closed the connection (`true`) or answered a POST on it (`false`).
async fn refused(kmsd: &Kmsd, bytes: &[u8]) -> (u16, bool) {
    let mut http = Http::connect(kmsd.addr(), kmsd.admin()).await;
    http.write(bytes).await;
    let answer = http.answer().await.expect("an answer");
    assert_eq!(
        answer.header("Content-Type"),
        Some("text/plain"),
        "{answer:?}"
    );
    let closes = answer.header("Connection") == Some("close");
    if closes {
        expect_closed(&mut http.stream).await;
    } else {
        http.served(V1_4, "Discover Versions after a refusal").await;
    }
    (answer.status, closes)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requests_that_are_not_kmip_exchanges_get_http_statuses() {
    let (kmsd, _dir) = kmsd_on_redb(limits(), Some("/kmip")).await;
    let mut steady = kmsd.connect().await;
    let long_head = format!(
        "POST /kmip HTTP/1.1\r\nX-Pad: {}\r\n\r\n",
        "a".repeat(17_000)
    );
    let many = (0..60).map(|i| format!("X-{i}: 1\r\n")).collect::<String>();
    let cases: Vec<(&str, Vec<u8>, u16, bool)> = vec![
        (
            "GET",
            b"GET /kmip HTTP/1.1\r\nHost: x\r\n\r\n".to_vec(),
            405,
            false,
        ),
        (
            "another path, body skipped",
            b"POST /api HTTP/1.1\r\nContent-Length: 5\r\n\r\nhello".to_vec(),
            404,
            false,
        ),
        (
            "query string",
            b"POST /kmip?x=1 HTTP/1.1\r\nContent-Length: 0\r\n\r\n".to_vec(),
            404,
            false,
        ),
        (
            "text/plain",
            b"POST /kmip HTTP/1.1\r\nContent-Type: text/plain\r\nContent-Length: 2\r\n\r\nhi"
                .to_vec(),
            415,
            false,
        ),
        (
            "no length",
            b"POST /kmip HTTP/1.1\r\nContent-Type: text/xml\r\n\r\n".to_vec(),
            411,
            true,
        ),
        (
            "chunked",
            b"POST /kmip HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n"
                .to_vec(),
            411,
            true,
        ),
        (
            "over the limit",
            b"POST /kmip HTTP/1.1\r\nContent-Length: 4097\r\n\r\n".to_vec(),
            413,
            true,
        ),
        (
            "4 GiB declared",
            b"POST /kmip HTTP/1.1\r\nContent-Length: 4294967296\r\n\r\n".to_vec(),
            413,
            true,
        ),
        (
            "bad length",
            b"POST /kmip HTTP/1.1\r\nContent-Length: 12abc\r\n\r\n".to_vec(),
            400,
            true,
        ),
        (
            "two lengths",
            b"POST /kmip HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n".to_vec(),
            400,
            true,
        ),
        (
            "garbage head",
            b"POST /kmip HTTP/1.1\r\nNo colon here\r\n\r\n".to_vec(),
            400,
            true,
        ),
        ("HTTP/2", b"POST /kmip HTTP/2.0\r\n\r\n".to_vec(), 505, true),
        (
            "Expect",
            b"POST /kmip HTTP/1.1\r\nExpect: 200-ok\r\nContent-Length: 0\r\n\r\n".to_vec(),
            417,
            true,
        ),
        ("head too large", long_head.into_bytes(), 431, true),
        (
            "too many fields",
            format!("POST /kmip HTTP/1.1\r\n{many}\r\n").into_bytes(),
            431,
            true,
        ),
    ];
    for (what, bytes, status, closes) in cases {
        assert_eq!(refused(&kmsd, &bytes).await, (status, closes), "{what}");
        // The TTLV client on the same port is served between every case.
        let key = steady_key(&mut steady).await;
        assert_eq!(steady.state(V1_4, &key).await, State::PreActive, "{what}");
    }
    let m = kmsd.server.metrics.snapshot();
    assert_eq!(m.http_refusals, 15);
}

/// A body far over the limit, sent whole without waiting (no `Expect: 100-continue`): the
/// client still reads its 413, however much of the body the server never reads.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_oversized_body_sent_at_once_still_gets_its_answer() {
    let (kmsd, _dir) = kmsd_on_redb(limits(), Some("/kmip")).await;
    for size in [5_000usize, 300_000] {
        let http = Http::connect(kmsd.addr(), kmsd.admin()).await;
        let mut bytes =
            format!("POST /kmip HTTP/1.1\r\nContent-Length: {size}\r\n\r\n").into_bytes();
        bytes.resize(bytes.len() + size, b'x');
        // Written from another task: the server may stop reading before it is all sent.
        let (mut reader, mut writer) = tokio::io::split(http.stream);
        let sender = tokio::spawn(async move {
            let _ = writer.write_all(&bytes).await;
            let _ = writer.flush().await;
            writer
        });
        let mut answer = Vec::new();
        let read = tokio::time::timeout(PATIENCE, reader.read_to_end(&mut answer)).await;
        let text = String::from_utf8_lossy(&answer);
        assert!(
            text.starts_with("HTTP/1.1 413 "),
            "{size}: {read:?}, {text:?}"
        );
        let _ = sender.await;
    }
}

/// A client that goes on sending its oversized body after the server has answered 413 and
/// closed (a client that does not read while it writes): every write goes through, because
/// the server reads and discards until the client closes too, and the client then reads the
/// 413 and a clean TLS close, not a connection reset.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_body_still_arriving_after_its_refusal_does_not_reset_the_connection() {
    let (kmsd, _dir) = kmsd_on_redb(limits(), Some("/kmip")).await;
    let mut http = Http::connect(kmsd.addr(), kmsd.admin()).await;
    let size = 256 * 1024;
    let head = format!("POST /kmip HTTP/1.1\r\nContent-Length: {size}\r\n\r\n");
    http.stream.write_all(head.as_bytes()).await.unwrap();
    http.stream.flush().await.unwrap();
    kmsd.server
        .wait_for("the refusal", |m| m.http_refusals == 1)
        .await;
    let chunk = vec![b'x'; 16 * 1024];
    for n in 0..size / chunk.len() {
        let sent = async {
            http.stream.write_all(&chunk).await?;
            http.stream.flush().await
        };
        sent.await
            .unwrap_or_else(|e| panic!("chunk {n} after the refusal: {e}"));
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let mut answer = Vec::new();
    let read = tokio::time::timeout(PATIENCE, http.stream.read_to_end(&mut answer))
        .await
        .expect("the server closes");
    let text = String::from_utf8_lossy(&answer);
    assert!(read.is_ok(), "{read:?} after {text:?}");
    assert!(text.starts_with("HTTP/1.1 413 "), "{text:?}");
}

async fn steady_key(c: &mut Client) -> String {
    c.create(V1_4, 128, "steady").await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bodies_that_are_not_one_kmip_message_get_invalid_message() {
    let (kmsd, _dir) = kmsd_on_redb(limits(), Some("/kmip")).await;
    let mut http = Http::connect(kmsd.addr(), kmsd.admin()).await;
    let query = |format| {
        let payload = RequestPayload::Query(QueryRequest {
            query_function: vec![QueryFunction::QueryOperations],
        });
        encoded(V1_4, Operation::Query, payload, format)
    };
    let one = String::from_utf8(query(Format::Json)).unwrap();
    let ttlv = query(Format::Ttlv);
    let cases: Vec<(&str, Format, Vec<u8>)> = vec![
        ("not XML", Format::Xml, b"<RequestMessage".to_vec()),
        (
            "XML of an unknown tag",
            Format::Xml,
            b"<NoSuchTag type=\"Integer\" value=\"1\"/>".to_vec(),
        ),
        ("not JSON", Format::Json, b"{\"tag\":".to_vec()),
        (
            "two JSON messages",
            Format::Json,
            format!("[{one},{one}]").into_bytes(),
        ),
        ("not UTF-8", Format::Xml, vec![0xFF, 0xFE, 0x00]),
        ("empty TTLV", Format::Ttlv, Vec::new()),
        (
            "TTLV cut short",
            Format::Ttlv,
            ttlv[..ttlv.len() - 8].to_vec(),
        ),
        (
            "TTLV with bytes after it",
            Format::Ttlv,
            [ttlv.as_slice(), &[0u8; 8]].concat(),
        ),
        (
            "random bytes",
            Format::Ttlv,
            (0..200u32)
                .map(|i| (i.wrapping_mul(2_654_435_761) >> 11) as u8)
                .collect(),
        ),
    ];
    for (what, format, body) in cases {
        let r = response_of(&http.post(format, &body).await.kmip(format));
        assert_eq!(r.batch_item.len(), 1, "{what}");
        assert_eq!(
            r.batch_item[0].result_status,
            ResultStatus::OperationFailed,
            "{what}"
        );
        assert_eq!(
            r.batch_item[0].result_reason,
            Some(ResultReason::InvalidMessage),
            "{what}"
        );
    }
    // The connection is still good.
    let r = response_of(
        &http
            .post(Format::Json, one.as_bytes())
            .await
            .kmip(Format::Json),
    );
    success(r.batch_item.into_iter().next().unwrap(), "Query");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pipelining_continue_http_1_0_and_a_stalled_body() {
    let (kmsd, _dir) = kmsd_on_redb(limits(), Some("/kmip")).await;

    // Three requests in one write, a refusal among them: answered in order.
    let mut http = Http::connect(kmsd.addr(), kmsd.admin()).await;
    let mut bytes = post(Format::Ttlv, &discover(V1_0));
    bytes.extend_from_slice(b"GET /kmip HTTP/1.1\r\n\r\n");
    bytes.extend(post(Format::Ttlv, &discover(V2_1)));
    http.write(&bytes).await;
    let first = response_of(&http.answer().await.unwrap().kmip(Format::Ttlv));
    assert_eq!(
        first.response_header.protocol_version,
        ProtocolVersion::new(V1_0)
    );
    assert_eq!(http.answer().await.unwrap().status, 405);
    let third = response_of(&http.answer().await.unwrap().kmip(Format::Ttlv));
    assert_eq!(
        third.response_header.protocol_version,
        ProtocolVersion::new(V2_1)
    );

    // Expect: 100-continue: the body follows the interim answer.
    let body = discover(V1_4);
    let head = format!(
        "POST /kmip HTTP/1.1\r\nExpect: 100-continue\r\nContent-Length: {}\r\n\r\n",
        body.len()
    );
    http.write(head.as_bytes()).await;
    assert_eq!(http.answer().await.unwrap().status, 100);
    http.write(&body).await;
    response_of(&http.answer().await.unwrap().kmip(Format::Ttlv));

    // HTTP/1.0 without keep-alive, or Connection: close: answered, then closed.
    for head in [
        "POST /kmip HTTP/1.0\r\n",
        "POST /kmip HTTP/1.1\r\nConnection: close\r\n",
    ] {
        let mut http = Http::connect(kmsd.addr(), kmsd.admin()).await;
        let body = discover(V1_2);
        let mut bytes = format!("{head}Content-Length: {}\r\n\r\n", body.len()).into_bytes();
        bytes.extend_from_slice(&body);
        http.write(&bytes).await;
        let answer = http.answer().await.unwrap();
        assert_eq!(answer.header("Connection"), Some("close"));
        response_of(&answer.kmip(Format::Ttlv));
        expect_closed(&mut http.stream).await;
    }

    let body = discover(V1_2);
    let bytes = post(Format::Ttlv, &body);
    // Half a head, or half a body, then the client goes: nothing is answered or kept.
    for cut in [20, bytes.len() - 10] {
        let mut gone = Http::connect(kmsd.addr(), kmsd.admin()).await;
        gone.write(&bytes[..cut]).await;
        gone.stream.shutdown().await.unwrap();
        assert!(gone.answer().await.is_none(), "an answer to {cut} bytes");
    }
    let requests = kmsd.server.metrics.snapshot().requests;

    // Half a body, then nothing: closed by the idle timeout, with no answer.
    let mut stalled = Http::connect(kmsd.addr(), kmsd.admin()).await;
    stalled.write(&bytes[..bytes.len() - 10]).await;
    let started = std::time::Instant::now();
    assert!(
        stalled.answer().await.is_none(),
        "no answer to half a request"
    );
    assert!(
        started.elapsed() >= Duration::from_secs(1),
        "closed before the idle timeout"
    );
    assert!(kmsd.server.metrics.snapshot().idle_timeouts >= 1);
    assert_eq!(
        kmsd.server.metrics.snapshot().requests,
        requests,
        "no request handled from a part"
    );
    // After it, others are served (the first connection has idled out too, meanwhile).
    let mut http = Http::connect(kmsd.addr(), kmsd.admin()).await;
    http.served(V1_2, "Discover Versions").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_http_off_an_http_request_is_closed_unanswered() {
    let (kmsd, _dir) = kmsd_on_redb(limits(), None).await;
    let mut http = Http::connect(kmsd.addr(), kmsd.admin()).await;
    http.write(b"POST /kmip HTTP/1.1\r\nContent-Length: 0\r\n\r\n")
        .await;
    assert!(http.answer().await.is_none());
    assert_eq!(kmsd.server.metrics.snapshot().framing_errors, 1);
    // TTLV is served as before.
    let mut c = kmsd.connect().await;
    c.create(V2_1, 256, "ttlv-only").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn another_path_is_configurable() {
    let (kmsd, _dir) = kmsd_on_redb(limits(), Some("/v1/kmip")).await;
    let mut http = Http::connect(kmsd.addr(), kmsd.admin()).await;
    let body = discover(V1_4);
    assert_eq!(http.post(Format::Ttlv, &body).await.status, 404);
    let mut bytes = format!(
        "POST /v1/kmip HTTP/1.1\r\nContent-Length: {}\r\n\r\n",
        body.len()
    )
    .into_bytes();
    bytes.extend_from_slice(&body);
    http.write(&bytes).await;
    response_of(&http.answer().await.unwrap().kmip(Format::Ttlv));
}
