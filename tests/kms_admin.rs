//! The operator's lifecycle of a data directory, with the real binary: keys registered over
//! KMIP survive a restart (the redb store is durable), an online backup, online store key and
//! master key rotations, and a restore into a fresh directory that serves the same key bytes.

mod daemon_util;
mod kms_util;
mod server_util;

use std::path::Path;
use std::process::Command;

use daemon_util::Daemon;
use kmipd::kmip::KmipVersion;
use kms_util::{Client, key_bytes, symmetric_key};

fn client(rt: &tokio::runtime::Runtime, daemon: &Daemon, data: &Path) -> Client {
    let certs = data.join("certs");
    let config = server_util::client_config(
        &certs.join("ca.pem"),
        &certs.join("client.pem"),
        &certs.join("client.key"),
    );
    let stream = rt
        .block_on(server_util::connect(daemon.addr.parse().unwrap(), config))
        .expect("TLS connection to kmipd");
    Client { stream }
}

fn kmipd(args: &[&str]) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_kmipd"))
        .args(args)
        .output()
        .expect("kmipd runs");
    assert!(
        out.status.success(),
        "kmipd {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn restart_backup_rotations_and_restore_keep_every_key() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let v = KmipVersion::V1_4;
    let keys: Vec<Vec<u8>> = (0..5u8).map(|i| vec![0xA0 + i; 32]).collect();

    let daemon = Daemon::start(&data, tmp.path().join("kmipd-1.log"));
    let mut c = client(&rt, &daemon, &data);
    let uids: Vec<String> = keys
        .iter()
        .map(|k| rt.block_on(c.register(v, symmetric_key(k), vec![])))
        .collect();
    drop(c);
    assert!(daemon.stop().success());

    // Durable: a restart serves the same keys.
    let daemon = Daemon::start(&data, tmp.path().join("kmipd-2.log"));
    let mut c = client(&rt, &daemon, &data);
    for (uid, key) in uids.iter().zip(&keys) {
        assert_eq!(&key_bytes(&rt.block_on(c.get(v, uid, None))), key);
    }

    // Online administration through the running server.
    let backup = tmp.path().join("kmipd.backup");
    let data_arg = data.to_str().unwrap();
    let said = kmipd(&["backup", "--data-dir", data_arg, backup.to_str().unwrap()]);
    assert!(said.contains("5 objects"), "{said}");
    let said = kmipd(&["store-key", "rotate", "--data-dir", data_arg]);
    assert!(said.contains("store key v2: 5 objects re-sealed"), "{said}");
    let said = kmipd(&["master-key", "rotate", "--data-dir", data_arg]);
    assert!(said.contains("master key is now version 2"), "{said}");
    for (uid, key) in uids.iter().zip(&keys) {
        assert_eq!(&key_bytes(&rt.block_on(c.get(v, uid, None))), key);
    }
    drop(c);
    assert!(daemon.stop().success());

    // Restore into an empty directory; the master key files travel separately.
    let restored = tmp.path().join("restored");
    let said = kmipd(&[
        "restore",
        "--data-dir",
        restored.to_str().unwrap(),
        backup.to_str().unwrap(),
    ]);
    assert!(said.contains("restored 5 objects"), "{said}");
    for entry in std::fs::read_dir(&data).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_str().unwrap().to_string();
        if name.starts_with("master-key.") {
            std::fs::copy(&path, restored.join(&name)).unwrap();
        }
    }
    std::fs::create_dir_all(restored.join("certs")).unwrap();
    for f in [
        "ca.pem",
        "ca.key",
        "server.pem",
        "server.key",
        "client.pem",
        "client.key",
    ] {
        std::fs::copy(data.join("certs").join(f), restored.join("certs").join(f)).unwrap();
    }
    let daemon = Daemon::start(&restored, tmp.path().join("kmipd-3.log"));
    let mut c = client(&rt, &daemon, &restored);
    for (uid, key) in uids.iter().zip(&keys) {
        assert_eq!(&key_bytes(&rt.block_on(c.get(v, uid, None))), key);
    }
    drop(c);
    assert!(daemon.stop().success());

    // A restore refuses a directory that is not empty.
    let out = Command::new(env!("CARGO_BIN_EXE_kmipd"))
        .args(["restore", "--data-dir", data_arg, backup.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(!out.status.success());
}
