//! The real daemon (redb store, write-ahead log, handler threads, commits awaited without a
//! thread) under concurrent load from the real load generator: every request of a mixed
//! workload on 16 connections is answered without error, and after a clean stop and a
//! restart the audit log is whole and holds a record for every request answered.

mod daemon_util;

use daemon_util::{Daemon, kmipd};

#[test]
fn sixteen_connections_of_mixed_load_all_answered_and_audited() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let daemon = Daemon::start(&data, tmp.path().join("kmipd.log"));
    let certs = data.join("certs");
    let out = kmipd(&[
        "bench",
        "--addr",
        &daemon.addr,
        "--ca",
        certs.join("ca.pem").to_str().unwrap(),
        "--cert",
        certs.join("client.pem").to_str().unwrap(),
        "--key",
        certs.join("client.key").to_str().unwrap(),
        "--connections",
        "16",
        "--duration",
        "2",
        "--mix",
        "create=2,get=4,locate=1,destroy=1,register=1",
        "--objects",
        "50",
        "--destroy-pool",
        "200",
        "--json",
    ]);
    let report: serde_json::Value = serde_json::from_str(out.trim()).expect("one JSON line");
    let total = &report["total"];
    let answered = total["count"].as_u64().unwrap();
    assert!(answered > 100, "{out}");
    assert_eq!(total["errors"], 0, "{out}");
    assert_eq!(report["connection_errors"], 0, "{out}");
    assert!(daemon.stop().success());

    // Restart: everything answered is durable, and audited (records of reads included: a
    // clean stop commits the pending ones).
    let daemon = Daemon::start(&data, tmp.path().join("kmipd-2.log"));
    let verified = kmipd(&["audit", "verify", "--data-dir", data.to_str().unwrap()]);
    assert!(verified.contains("audit log intact"), "{verified}");
    let records: u64 = verified
        .split("intact: ")
        .nth(1)
        .and_then(|rest| rest.split(' ').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no record count in {verified}"));
    // The measured requests, plus the load generator's setup (objects, destroy pool).
    assert!(
        records >= answered,
        "{records} records < {answered} answered"
    );
    assert!(daemon.stop().success());
}
