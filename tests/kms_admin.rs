//! The operator's lifecycle of a data directory, with the real binary: keys registered over
//! KMIP survive a restart (the redb store is durable), an online backup, online store key and
//! master key rotations, and a restore into a fresh directory that serves the same key bytes
//! and holds the same audit log (same count, same head, chain verified); `kmipd audit verify`
//! and `kmipd audit show` online and offline, with an anchored head.

mod daemon_util;
mod kms_util;
mod server_util;

use std::path::Path;
use std::process::Command;

use daemon_util::{Daemon, kmipd};
use kmipd::kmip::KmipVersion;
use kms_util::{Client, key_bytes, symmetric_key};

fn client(rt: &tokio::runtime::Runtime, daemon: &Daemon, data: &Path) -> Client {
    let config = server_util::dev_admin_client(data);
    let stream = rt
        .block_on(server_util::connect(daemon.addr.parse().unwrap(), config))
        .expect("TLS connection to kmipd");
    Client { stream }
}

/// Stops the daemon cleanly and returns its audit log as `kmipd audit show --json` prints it.
fn audit_after_stop(daemon: Daemon, data: &Path) -> String {
    assert!(daemon.stop().success());
    kmipd(&[
        "audit",
        "show",
        "--data-dir",
        data.to_str().unwrap(),
        "--json",
    ])
}

/// The number before `what` in `text` ("5 objects" → 5).
fn count_before(text: &str, what: &str) -> u64 {
    let at = text
        .find(what)
        .unwrap_or_else(|| panic!("{what:?} not in {text}"));
    text[..at]
        .trim_end()
        .rsplit(' ')
        .next()
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no count before {what:?} in {text}"))
}

/// The audit head printed after `head ` in `text`.
fn head_in(text: &str) -> String {
    let at = text
        .find("head ")
        .unwrap_or_else(|| panic!("no head in {text}"));
    text[at + 5..]
        .split(|c: char| c == ';' || c == ')' || c.is_whitespace())
        .next()
        .unwrap()
        .to_string()
}

fn kmipd_fails(args: &[&str]) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_kmipd"))
        .args(args)
        .output()
        .expect("kmipd runs");
    assert!(!out.status.success(), "kmipd {args:?} succeeded");
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[test]
fn a_busy_port_fails_before_anything_is_created() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("never");
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap().to_string();
    let err = kmipd_fails(&[
        "serve",
        "--data-dir",
        data.to_str().unwrap(),
        "--listen",
        &addr,
    ]);
    assert!(err.contains(&format!("cannot listen on {addr}")), "{err}");
    assert!(
        !data.exists(),
        "a failed start left {} behind",
        data.display()
    );
}

#[test]
fn a_failed_first_start_takes_back_its_data_directory() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().display().to_string();
    let bad_tls = tmp.path().join("bad-tls.toml");
    std::fs::write(
        &bad_tls,
        format!(
            "[tls]\ncert = \"{dir}/none.pem\"\nkey = \"{dir}/none.key\"\nclient_ca = [\"{dir}/none-ca.pem\"]\n"
        ),
    )
    .unwrap();
    // The development PKI is made before the master key is opened: this one fails after
    // certificates were written.
    let no_hsm = tmp.path().join("no-hsm.toml");
    std::fs::write(
        &no_hsm,
        format!(
            "[master_key]\nprovider = \"pkcs11\"\n[master_key.pkcs11]\nmodule = \"{dir}/no-such-module.so\"\ntoken_label = \"kmipd\"\npin_env = \"KMIPD_NO_PIN\"\n"
        ),
    )
    .unwrap();
    for (config, says) in [(&bad_tls, "none.pem"), (&no_hsm, "no-such-module.so")] {
        for command in ["serve", "init"] {
            let data = tmp.path().join(format!("fresh-{command}"));
            let mut args = vec![
                command,
                "--config",
                config.to_str().unwrap(),
                "--data-dir",
                data.to_str().unwrap(),
            ];
            if command == "serve" {
                args.extend(["--listen", "127.0.0.1:0"]);
            }
            let err = kmipd_fails(&args);
            assert!(err.contains(says), "kmipd {command}: {err}");
            assert!(
                !data.exists(),
                "a failed first {command} left {} behind",
                data.display()
            );
        }
    }
    // A directory that was there before is left as it was, whatever it holds.
    let existing = tmp.path().join("existing");
    std::fs::create_dir(&existing).unwrap();
    std::fs::write(existing.join("keep"), b"operator's file").unwrap();
    kmipd_fails(&[
        "serve",
        "--config",
        no_hsm.to_str().unwrap(),
        "--data-dir",
        existing.to_str().unwrap(),
        "--listen",
        "127.0.0.1:0",
    ]);
    assert_eq!(
        std::fs::read(existing.join("keep")).unwrap(),
        b"operator's file"
    );
    assert!(
        existing.join("certs").exists(),
        "an existing directory keeps what the failed start made in it"
    );
}

/// `kmipd certs revoke` on a running server's development CA: the revoked client is refused
/// within seconds, with no restart (the server rereads its TLS files when they change), and
/// the other clients are not disturbed. SIGHUP reloads too.
#[test]
fn a_client_revoked_with_the_cli_is_refused_by_the_running_server() {
    use std::time::{Duration, Instant};
    let rt = tokio::runtime::Runtime::new().unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let data_arg = data.to_str().unwrap();
    let clients = tmp.path().join("clients");
    let daemon = Daemon::start(&data, tmp.path().join("kmipd.log"));
    kmipd(&[
        "certs",
        "issue",
        "--data-dir",
        data_arg,
        "--cn",
        "bob",
        "--out",
        clients.to_str().unwrap(),
    ]);
    let certs = data.join("certs");
    let bob = server_util::client_config(
        &certs.join("ca.pem"),
        &clients.join("bob.pem"),
        &clients.join("bob.key"),
    );
    let addr = daemon.addr.parse().unwrap();
    let v = KmipVersion::V1_4;
    let mut c = Client {
        stream: rt
            .block_on(server_util::connect(addr, bob.clone()))
            .expect("bob connects"),
    };
    rt.block_on(c.create(v, 128, "bob's"));
    drop(c);
    let said = kmipd(&[
        "certs",
        "revoke",
        "--data-dir",
        data_arg,
        "--cert",
        clients.join("bob.pem").to_str().unwrap(),
        "--reason",
        "key-compromise",
    ]);
    assert!(said.contains("revoked: CN=bob"), "{said}");
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let attempt = rt.block_on(async {
            let mut s = server_util::connect(addr, bob.clone()).await?;
            server_util::roundtrip(&mut s, &server_util::request(1)).await
        });
        if attempt.is_err() {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "bob still served 30 s after his certificate was revoked"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    // The administrator's client is served as before.
    let mut admin = client(&rt, &daemon, &data);
    rt.block_on(admin.create(v, 128, "admin's"));
    drop(admin);
    // SIGHUP reloads with no file changed.
    let pid = daemon.child.as_ref().unwrap().id().to_string();
    assert!(
        std::process::Command::new("kill")
            .args(["-HUP", &pid])
            .status()
            .unwrap()
            .success()
    );
    let deadline = Instant::now() + Duration::from_secs(30);
    while !std::fs::read_to_string(&daemon.log)
        .unwrap()
        .contains("on_signal=true")
    {
        assert!(Instant::now() < deadline, "no reload after SIGHUP");
        std::thread::sleep(Duration::from_millis(100));
    }
    let mut admin = client(&rt, &daemon, &data);
    rt.block_on(admin.create(v, 128, "after SIGHUP"));
    drop(admin);
    let log = daemon.log.clone();
    assert!(daemon.stop().success());
    let text = std::fs::read_to_string(log).unwrap();
    assert!(text.contains("TLS files reloaded"), "{text}");
}

/// Dates reached with nobody asking (2.1 §4.57, transitions 4 and 6): the running server's
/// sweep stores the states they bring, so Locate by State finds a key Active once its
/// Activation Date has come and Deactivated once its Deactivation Date has passed, with an
/// audit record of each change by the server itself. (Waits on the wall clock, bounded, for
/// seconds: not a measurement.)
#[test]
fn the_server_moves_states_when_their_dates_come() {
    use kmipd::kmip::attributes::Attribute;
    use kmipd::kmip::codec::DateTime;
    use kmipd::kmip::messages::ResponsePayload;
    use kmipd::kmip::{CryptographicAlgorithm, Operation, State};
    use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
    let rt = tokio::runtime::Runtime::new().unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let v = KmipVersion::V2_1;
    let daemon = Daemon::start(&data, tmp.path().join("kmipd.log"));
    let mut c = client(&rt, &daemon, &data);
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    let created = rt.block_on(c.ok(
        v,
        Operation::Create,
        kms_util::create_with(
            v,
            vec![
                Attribute::CryptographicAlgorithm(CryptographicAlgorithm::AES),
                Attribute::CryptographicLength(256),
                kms_util::name("dated"),
                Attribute::ActivationDate(DateTime(now + 2)),
                Attribute::DeactivationDate(DateTime(now + 4)),
            ],
        ),
    ));
    let ResponsePayload::Create(created) = created else {
        panic!("{created:?}")
    };
    let uid = created.unique_identifier;
    assert_eq!(rt.block_on(c.state(v, &uid)), State::PreActive);
    let mut wait_for = |state: State| {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let found = rt.block_on(c.locate(v, vec![Attribute::State(state)], None, None));
            if found.unique_identifier == vec![uid.clone()] {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "{uid} not found {state:?} by Locate within 30 s"
            );
            std::thread::sleep(Duration::from_millis(200));
        }
    };
    wait_for(State::Active);
    wait_for(State::Deactivated);
    drop(c);
    let shown = audit_after_stop(daemon, &data);
    for change in ["Activation Date reached", "Deactivation Date reached"] {
        assert!(
            shown.lines().any(|l| l.contains(change)
                && l.contains(uid.as_str())
                && l.contains("\"principal\":\"(kmipd)\"")),
            "no {change} of {uid} in\n{shown}"
        );
    }
}

/// Key wrapping against the binary (redb file, file master key, mTLS), in 1.4 and 2.1: a
/// registered key wrapped by Get under a registered Wrap Key key with NIST Key Wrap and No
/// Encoding is the answer RFC 3394 publishes for those bytes (§4.6); the default, TTLV
/// Encoding, unwraps to the Key Value; a Sensitive key leaves wrapped only; the published
/// wrapped bytes registered are unwrapped to the key data; and the audit log names both keys
/// of a wrapped Get.
#[test]
fn a_key_leaves_the_server_wrapped_under_another() {
    use kmipd::kmip::attributes::{Attribute, CryptographicParameters};
    use kmipd::kmip::codec::{Cx, DateTime, Ttlv as _};
    use kmipd::kmip::messages::{RequestPayload, ResponsePayload};
    use kmipd::kmip::objects::*;
    use kmipd::kmip::payloads::{GetRequest, GetResponse};
    use kmipd::kmip::*;
    let rt = tokio::runtime::Runtime::new().unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let daemon = Daemon::start(&data, tmp.path().join("kmipd.log"));
    let mut c = client(&rt, &daemon, &data);
    let hex = |s: &str| hex::decode(s).unwrap();
    // RFC 3394 §4.6: 256 bits of key data with a 256-bit KEK.
    let kek = hex("000102030405060708090A0B0C0D0E0F101112131415161718191A1B1C1D1E1F");
    let key = hex("00112233445566778899AABBCCDDEEFF000102030405060708090A0B0C0D0E0F");
    let published =
        hex("28C9F404C4B810F4CBCCB35CFB87F8263F5786E2D80ED326CBC7F0E71A99F43BFB988B9B7A02DD21");
    let nist_key_wrap = CryptographicParameters {
        block_cipher_mode: Some(BlockCipherMode::NISTKeyWrap),
        ..CryptographicParameters::none()
    };
    let get_wrapped = |uid: &str, kek_uid: &str, encoding: Option<EncodingOption>| {
        RequestPayload::Get(GetRequest {
            unique_identifier: Some(uid.into()),
            key_format_type: None,
            key_wrap_type: None,
            key_compression_type: None,
            key_wrapping_specification: Some(KeyWrappingSpecification {
                wrapping_method: WrappingMethod::Encrypt,
                encryption_key_information: Some(EncryptionKeyInformation {
                    unique_identifier: kek_uid.into(),
                    cryptographic_parameters: Some(nist_key_wrap.clone()),
                }),
                mac_signature_key_information: None,
                attribute_name: vec![],
                encoding_option: encoding,
            }),
        })
    };
    let wrapped_bytes = |g: &GetResponse| -> (Vec<u8>, KeyWrappingData) {
        let block = g.object.as_ref().and_then(Object::key_block).unwrap();
        let Some(KeyValue::Wrapped(w)) = &block.key_value else {
            panic!("not wrapped: {g:?}")
        };
        (
            w.as_slice().to_vec(),
            block.key_wrapping_data.clone().expect("Key Wrapping Data"),
        )
    };
    let past = DateTime(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs() as i64
            - 60,
    );
    let mut logged = Vec::new();
    for v in [KmipVersion::V1_4, KmipVersion::V2_1] {
        let kek_uid = rt.block_on(c.register(
            v,
            symmetric_key(&kek),
            vec![
                Attribute::CryptographicUsageMask(
                    CryptographicUsageMask::WrapKey | CryptographicUsageMask::UnwrapKey,
                ),
                Attribute::ActivationDate(past),
            ],
        ));
        let uid = rt.block_on(c.register(
            v,
            symmetric_key(&key),
            vec![
                Attribute::CryptographicUsageMask(CryptographicUsageMask::Encrypt),
                Attribute::Sensitive(true),
            ],
        ));
        // Sensitive: not in the clear.
        rt.block_on(c.fails(
            v,
            Operation::Get,
            kms_util::get(&uid, None),
            ResultReason::Sensitive,
        ));
        let ResponsePayload::Get(g) = rt.block_on(c.ok(
            v,
            Operation::Get,
            get_wrapped(&uid, &kek_uid, Some(EncodingOption::NoEncoding)),
        )) else {
            panic!()
        };
        let (wrapped, how) = wrapped_bytes(&g);
        assert_eq!(wrapped, published, "{v}: RFC 3394 §4.6");
        assert_eq!(how.wrapping_method, WrappingMethod::Encrypt);
        assert_eq!(how.encoding_option, Some(EncodingOption::NoEncoding));
        assert_eq!(
            how.encryption_key_information.unwrap().unique_identifier,
            kek_uid
        );
        // The default: the Key Value structure's TTLV, wrapped.
        let ResponsePayload::Get(g) =
            rt.block_on(c.ok(v, Operation::Get, get_wrapped(&uid, &kek_uid, None)))
        else {
            panic!()
        };
        let (wrapped, _) = wrapped_bytes(&g);
        let mut clear = vec![0u8; wrapped.len()];
        let n = {
            use aes_kw::KeyInit as _;
            aes_kw::KwAes256::new(kek.as_slice().try_into().unwrap())
                .unwrap_key(&wrapped, &mut clear)
                .expect("unwraps")
                .len()
        };
        let item = kmipd::ttlv::decode(&clear[..n]).expect("TTLV");
        let value = KeyValue::read(&item, &Cx::new(v)).expect("a Key Value");
        assert_eq!(
            value,
            KeyValue::Plain {
                key_material: KeyMaterial::Bytes(KeyBytes::new(key.clone())),
                attributes: vec![],
            },
            "{v}"
        );
        logged.push((uid, kek_uid.clone()));

        // The other way: the published wrapped bytes registered under the same key are
        // unwrapped (Unwrap Mode Processed) and Get gives the key data back in the clear, and
        // As Registered the very bytes registered.
        let mut imported = symmetric_key(&key);
        if let Object::SymmetricKey(k) = &mut imported {
            k.key_block.key_value = Some(KeyValue::Wrapped(KeyBytes::new(published.clone())));
            k.key_block.key_wrapping_data = Some(KeyWrappingData {
                wrapping_method: WrappingMethod::Encrypt,
                encryption_key_information: Some(EncryptionKeyInformation {
                    unique_identifier: kek_uid.clone(),
                    cryptographic_parameters: Some(nist_key_wrap.clone()),
                }),
                mac_signature_key_information: None,
                mac_signature: None,
                iv_counter_nonce: None,
                encoding_option: Some(EncodingOption::NoEncoding),
            });
        }
        let uid = rt.block_on(c.register(
            v,
            imported,
            vec![Attribute::CryptographicUsageMask(
                CryptographicUsageMask::Encrypt,
            )],
        ));
        assert_eq!(key_bytes(&rt.block_on(c.get(v, &uid, None))), key, "{v}");
        let ResponsePayload::Get(g) = rt.block_on(c.ok(
            v,
            Operation::Get,
            RequestPayload::Get(GetRequest {
                unique_identifier: Some(uid.clone()),
                key_format_type: None,
                key_wrap_type: Some(KeyWrapType::AsRegistered),
                key_compression_type: None,
                key_wrapping_specification: None,
            }),
        )) else {
            panic!()
        };
        assert_eq!(wrapped_bytes(&g).0, published, "{v}: As Registered");
    }
    drop(c);
    let shown = audit_after_stop(daemon, &data);
    for (uid, kek_uid) in logged {
        assert!(
            shown.lines().any(|l| l.contains("\"operation\":\"Get\"")
                && l.contains(&format!("[\"{uid}\",\"{kek_uid}\"]"))),
            "no wrapped Get of {uid} under {kek_uid} in\n{shown}"
        );
    }
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
    let log = daemon.log.clone();
    assert!(daemon.stop().success());
    // Standard error is a file here, as under systemd: plain text, no terminal colour codes.
    let text = std::fs::read_to_string(&log).expect("server log");
    assert!(text.contains("listening"), "the log has lines: {text}");
    assert!(
        !text.contains('\x1b'),
        "colour codes in a log file: {text:?}"
    );

    // Durable: a restart serves the same keys.
    let daemon = Daemon::start(&data, tmp.path().join("kmipd-2.log"));
    let mut c = client(&rt, &daemon, &data);
    for (uid, key) in uids.iter().zip(&keys) {
        assert_eq!(&key_bytes(&rt.block_on(c.get(v, uid, None))), key);
    }

    // Online administration through the running server.
    let backup = tmp.path().join("kmipd.backup");
    let data_arg = data.to_str().unwrap();
    // Every Register and Get so far is in the audit log, by the client's identity.
    std::thread::sleep(std::time::Duration::from_millis(300)); // reads' records linger
    let shown = kmipd(&["audit", "show", "--data-dir", data_arg, "--json"]);
    for uid in &uids {
        for op in ["Register", "Get"] {
            assert!(
                shown
                    .lines()
                    .any(|l| l.contains(&format!("\"operation\":\"{op}\""))
                        && l.contains(uid.as_str())
                        && l.contains("\"principal\":\"admin\"")),
                "no {op} of {uid} in\n{shown}"
            );
        }
    }
    let verified = kmipd(&["audit", "verify", "--data-dir", data_arg]);
    assert!(verified.contains("audit log intact"), "{verified}");
    let anchor = head_in(&verified);

    let said = kmipd(&["backup", "--data-dir", data_arg, backup.to_str().unwrap()]);
    assert!(said.contains("5 objects"), "{said}");
    let backup_audit = count_before(&said, "audit records");
    let backup_head = head_in(&said);
    assert!(backup_audit >= 10, "{said}"); // 5 Register + 5 Get at least
    // The anchor taken before the backup is on the chain the backup holds.
    let verified = kmipd(&[
        "audit",
        "verify",
        "--data-dir",
        data_arg,
        "--expect-head",
        &anchor,
    ]);
    assert!(
        verified.contains("passes through the anchored head"),
        "{verified}"
    );
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
    // The audit log came along whole: same count, same head.
    assert_eq!(count_before(&said, "audit records"), backup_audit, "{said}");
    assert_eq!(head_in(&said), backup_head, "{said}");
    let restored_arg = restored.to_str().unwrap();
    let verified = kmipd(&[
        "audit",
        "verify",
        "--data-dir",
        restored_arg,
        "--expect-head",
        &backup_head,
    ]);
    assert!(
        verified.contains(&format!("{backup_audit} records")),
        "{verified}"
    );
    // An anchor from the future (a head the restored log never reached) is refused.
    let later = format!("{}:{}", backup_audit + 100, "ab".repeat(32));
    let refused = kmipd_fails(&[
        "audit",
        "verify",
        "--data-dir",
        restored_arg,
        "--expect-head",
        &later,
    ]);
    assert!(refused.contains("records were removed"), "{refused}");
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
