//! `kmipd bench` against an in-process kmipd: real TLS with development certificates on
//! 127.0.0.1:0, the KMIP operations over the in-memory store. The tests assert behaviour
//! (every operation ran, no errors, the JSON report has its fields, misconfiguration is a
//! clear error and no hang), never speed, so a busy two-core machine cannot make them flaky.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::mpsc;
use std::time::{Duration, SystemTime};

use clap::Parser;
use kmipd::loadgen::{self, BenchArgs, Report};
use kmipd::ops::Kms;
use kmipd::policy;
use kmipd::server::{self, DevPki, Handler, Settings, TlsSettings};
use kmipd::store::memory::MemoryStore;

/// Bound on any one bench run in these tests: far above what it needs, so that a hang fails
/// the test instead of blocking the suite.
const PATIENCE: Duration = Duration::from_secs(60);

struct KmsHandler(Kms);

impl Handler for KmsHandler {
    fn handle(&self, principal: &server::Principal, request: &[u8]) -> Vec<u8> {
        let who = policy::Principal {
            name: principal.name.clone(),
            cert_sha256: principal.cert_sha256,
        };
        let now = SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .unwrap()
            .as_secs() as i64;
        self.0.handle(&who, request, now)
    }
}

/// kmipd on its own thread and runtime; stops when dropped.
struct Kmipd {
    addr: SocketAddr,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Kmipd {
    fn start(pki: &DevPki) -> Kmipd {
        let tls =
            TlsSettings::from_pem_files(&pki.server_cert, &pki.server_key, &pki.ca_cert).unwrap();
        let settings = Arc::new(Settings::new(server::tls::server_config(tls).unwrap()));
        let (addr_tx, addr_rx) = mpsc::channel();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let thread = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()
                .unwrap();
            runtime.block_on(async move {
                let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
                addr_tx.send(listener.local_addr().unwrap()).unwrap();
                let handler = Arc::new(KmsHandler(Kms::new(Arc::new(MemoryStore::new()))));
                server::run(listener, settings, handler, async move {
                    let _ = stopped.await;
                })
                .await;
            });
        });
        Kmipd {
            addr: addr_rx.recv_timeout(PATIENCE).unwrap(),
            stop: Some(stop),
            thread: Some(thread),
        }
    }

    fn stop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            thread.join().unwrap();
        }
    }
}

impl Drop for Kmipd {
    fn drop(&mut self) {
        self.stop();
    }
}

#[derive(Parser)]
struct Cli {
    #[command(flatten)]
    bench: BenchArgs,
}

fn args(addr: SocketAddr, pki: &DevPki, extra: &[&str]) -> BenchArgs {
    let mut argv = vec![
        "bench".to_string(),
        "--addr".into(),
        addr.to_string(),
        "--ca".into(),
        pki.ca_cert.display().to_string(),
        "--cert".into(),
        pki.client_cert.display().to_string(),
        "--key".into(),
        pki.client_key.display().to_string(),
        "--timeout".into(),
        "20".into(),
    ];
    argv.extend(extra.iter().map(|s| s.to_string()));
    Cli::try_parse_from(argv).unwrap().bench
}

/// Runs the load generator on its own thread (it builds its own runtime), bounded in time.
fn bench(args: BenchArgs) -> (Result<Report, String>, String) {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let mut out = Vec::new();
        let result = loadgen::run_with(&args, &mut out);
        let _ = tx.send((result, String::from_utf8(out).unwrap()));
    });
    rx.recv_timeout(PATIENCE)
        .expect("the bench run did not end")
}

fn new_pki() -> (tempfile::TempDir, DevPki) {
    let dir = tempfile::tempdir().unwrap();
    let pki = DevPki::create(&dir.path().join("pki")).unwrap();
    (dir, pki)
}

const ALL_OPS: [&str; 6] = ["create", "get", "locate", "destroy", "register", "encrypt"];

/// Every field a consumer of `--json` relies on.
fn check_json(line: &str) -> serde_json::Value {
    assert_eq!(line.lines().count(), 1, "one JSON line: {line}");
    let v: serde_json::Value = serde_json::from_str(line).unwrap();
    for key in [
        "addr",
        "kmip_version",
        "connections",
        "mix",
        "objects",
        "warmup_s",
        "duration_s",
        "operations",
        "total",
        "connection_errors",
        "refill_creates",
    ] {
        assert!(v.get(key).is_some(), "missing {key}: {line}");
    }
    for (_, op) in v["operations"].as_object().unwrap() {
        for key in ["count", "errors", "ops_per_s", "latency", "result_reasons"] {
            assert!(op.get(key).is_some(), "missing {key}: {op}");
        }
        for key in ["p50_us", "p99_us", "p999_us", "mean_us", "max_us"] {
            assert!(
                op["latency"][key].is_number(),
                "missing latency {key}: {op}"
            );
        }
    }
    v
}

fn assert_clean(report: &Report, ops: &[&str]) {
    assert_eq!(
        report
            .operations
            .keys()
            .map(String::as_str)
            .collect::<Vec<_>>(),
        {
            let mut sorted = ops.to_vec();
            sorted.sort();
            sorted
        }
    );
    for (name, op) in &report.operations {
        assert!(op.count > 0, "{name} never ran: {report:?}");
        assert_eq!(op.errors, 0, "{name} failed: {:?}", op.result_reasons);
        assert!(op.ops_per_s > 0.0);
        assert!(op.latency.p50_us > 0.0 && op.latency.p50_us <= op.latency.p99_us);
        assert!(op.latency.p99_us <= op.latency.p999_us);
        assert!(op.latency.p999_us <= op.latency.max_us);
    }
    let sum: u64 = report.operations.values().map(|o| o.count).sum();
    assert_eq!(report.total.count, sum);
    assert_eq!(report.total.errors, 0);
    assert_eq!(report.connection_errors, 0);
}

#[test]
fn full_mix_in_kmip_1_2_for_two_seconds_with_json() {
    let (_dir, pki) = new_pki();
    let server = Kmipd::start(&pki);
    let args = args(
        server.addr,
        &pki,
        &[
            "--connections",
            "3",
            "--duration",
            "2",
            "--mix",
            "create=1,get=4,locate=1,destroy=2,register=1,encrypt=2",
            "--objects",
            "20",
            // A small pool, so that Destroy drains it and refills it.
            "--destroy-pool",
            "2",
            "--json",
        ],
    );
    let (report, out) = bench(args);
    let report = report.unwrap();
    let json = check_json(&out);
    assert_eq!(json["kmip_version"], "1.2");
    assert_eq!(json["connections"], 3);
    assert_eq!(serde_json::from_str::<Report>(out.trim()).unwrap(), report);
    assert_clean(&report, &ALL_OPS);
    assert!(report.duration_s >= 2.0);
}

#[test]
fn kmip_2_1_with_a_request_count_and_warmup_prints_a_table() {
    let (_dir, pki) = new_pki();
    let server = Kmipd::start(&pki);
    let args = args(
        server.addr,
        &pki,
        &[
            "--kmip-version",
            "2.1",
            "--connections",
            "2",
            "--requests",
            "300",
            "--warmup",
            "0.5",
            "--mix",
            "create,get=3,locate,destroy,register,encrypt",
            "--objects",
            "10",
        ],
    );
    let (report, out) = bench(args);
    let report = report.unwrap();
    assert_clean(&report, &ALL_OPS);
    assert_eq!(report.total.count, 300);
    assert!(out.contains("p999 ms") && out.contains("total"), "{out}");
    for op in ALL_OPS {
        assert!(out.lines().any(|l| l.starts_with(op)), "{op} row: {out}");
    }
}

#[test]
fn connections_shared_unevenly_among_threads_all_count() {
    let (_dir, pki) = new_pki();
    let server = Kmipd::start(&pki);
    // Seven connections on three threads (3, 2 and 2 each): every request of every shard is
    // counted once, and the run ends when the last shard does.
    let args = args(
        server.addr,
        &pki,
        &[
            "--threads",
            "3",
            "--connections",
            "7",
            "--requests",
            "700",
            "--mix",
            "get=3,create",
            "--objects",
            "5",
            "--json",
        ],
    );
    let (report, out) = bench(args);
    let report = report.unwrap();
    assert_eq!(check_json(&out)["connections"], 7);
    assert_clean(&report, &["create", "get"]);
    assert_eq!(report.total.count, 700);
}

#[test]
fn every_protocol_version_gets_and_creates_without_errors() {
    let (_dir, pki) = new_pki();
    let server = Kmipd::start(&pki);
    for version in ["1.0", "1.1", "1.3", "1.4", "2.0"] {
        let args = args(
            server.addr,
            &pki,
            &[
                "--kmip-version",
                version,
                "--requests",
                "40",
                "--mix",
                "create,get,locate,destroy,register",
                "--objects",
                "5",
                "--json",
            ],
        );
        let (report, _) = bench(args);
        let report = report.unwrap_or_else(|e| panic!("{version}: {e}"));
        assert_eq!(report.total.errors, 0, "{version}: {report:?}");
        assert_eq!(report.total.count, 40);
    }
}

#[test]
fn the_full_mix_over_kmip_over_https() {
    let (_dir, pki) = new_pki();
    let server = Kmipd::start(&pki);
    let over_https = args(
        server.addr,
        &pki,
        &[
            "--http",
            "/kmip",
            "--kmip-version",
            "1.4",
            "--connections",
            "2",
            "--requests",
            "200",
            "--mix",
            "create,get=3,locate,destroy,register,encrypt",
            "--objects",
            "10",
            "--json",
        ],
    );
    let (report, _) = bench(over_https);
    let report = report.unwrap();
    assert_clean(&report, &ALL_OPS);
    assert_eq!(report.total.count, 200);

    // A path the server does not serve: the set-up fails, naming the HTTP status.
    let wrong_path = args(server.addr, &pki, &["--http", "/nope", "--requests", "5"]);
    let err = bench(wrong_path).0.unwrap_err();
    assert!(err.contains("HTTP 404"), "{err}");
}

#[test]
fn a_wrong_ca_is_a_clear_error_not_a_hang() {
    let (_dir, pki) = new_pki();
    let (_other_dir, other) = new_pki();
    let server = Kmipd::start(&pki);
    let mut args = args(server.addr, &pki, &["--duration", "1", "--json"]);
    args.ca = other.ca_cert.clone();
    let (result, out) = bench(args);
    let err = result.unwrap_err();
    assert!(err.contains("TLS handshake"), "{err}");
    assert!(err.contains("--ca"), "{err}");
    assert!(out.is_empty());
}

#[test]
fn a_client_certificate_from_another_ca_is_a_clear_error() {
    let (_dir, pki) = new_pki();
    let (_other_dir, other) = new_pki();
    let server = Kmipd::start(&pki);
    let mut args = args(server.addr, &pki, &["--duration", "1", "--json"]);
    args.cert = other.client_cert.clone();
    args.key = other.client_key.clone();
    let (result, _) = bench(args);
    let err = result.unwrap_err();
    assert!(err.contains("--cert"), "{err}");
}

#[test]
fn a_server_that_goes_away_is_counted_and_the_run_ends_on_time() {
    let (_dir, pki) = new_pki();
    let mut server = Kmipd::start(&pki);
    let args = args(
        server.addr,
        &pki,
        &[
            "--connections",
            "2",
            "--duration",
            "3",
            "--objects",
            "5",
            "--json",
        ],
    );
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(loadgen::run_with(&args, &mut Vec::new()));
    });
    std::thread::sleep(Duration::from_millis(1500));
    server.stop();
    let report = rx
        .recv_timeout(PATIENCE)
        .expect("the bench run did not end")
        .unwrap();
    assert!(report.connection_errors > 0, "{report:?}");
    let get = &report.operations["get"];
    assert!(get.count > get.errors, "some gets ran before: {report:?}");
}

#[test]
fn bad_options_are_refused_before_connecting() {
    let (_dir, pki) = new_pki();
    let unused: SocketAddr = "127.0.0.1:9".parse().unwrap();
    let mut a = args(unused, &pki, &["--objects", "0"]);
    assert!(
        loadgen::run_with(&a, &mut Vec::new())
            .unwrap_err()
            .contains("--objects")
    );
    a.objects = 1;
    a.connections = 0;
    assert!(loadgen::run_with(&a, &mut Vec::new()).is_err());
    let unknown = Cli::try_parse_from([
        "bench",
        "--ca",
        "a",
        "--cert",
        "b",
        "--key",
        "c",
        "--mix",
        "decrypt=1",
    ]);
    let text = unknown.err().unwrap().to_string();
    assert!(text.contains("unknown operation"), "{text}");
    // Encrypt needs the working set too.
    a.connections = 1;
    a.objects = 0;
    a.mix = loadgen::Mix::parse("encrypt").unwrap();
    assert!(
        loadgen::run_with(&a, &mut Vec::new())
            .unwrap_err()
            .contains("--objects")
    );
    assert!(
        Cli::try_parse_from([
            "bench",
            "--ca",
            "a",
            "--cert",
            "b",
            "--key",
            "c",
            "--kmip-version",
            "3.0"
        ])
        .is_err()
    );
}
