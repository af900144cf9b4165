//! The file master key provider: the shared key-store suite, plus what only a key file
//! has: its permissions, its persistence across restarts, and redacted `Debug`.

mod crypto_common;

use std::fs;
use std::os::unix::fs::PermissionsExt;

use crypto_common::Subject;
use kmipd::crypto::{
    CryptoError, FileMasterKey, KeyMaterial, Keyring, MasterKeyProvider, WrappedKey,
};

fn fresh() -> Subject {
    let dir = tempfile::tempdir().expect("tempdir");
    let provider = FileMasterKey::open_or_create(dir.path().join("data")).expect("open");
    Subject {
        provider: Box::new(provider),
        _guard: Box::new(dir),
    }
}

key_store_suite!(fresh);

fn mode(path: &std::path::Path) -> u32 {
    fs::metadata(path).expect("stat").permissions().mode() & 0o777
}

#[test]
fn key_file_is_created_0600_in_a_0700_dir() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let data = tmp.path().join("data");
    let p = FileMasterKey::open_or_create(&data).expect("open");
    assert_eq!(p.current_version(), 1);
    let file = data.join("master-key.1");
    assert_eq!(p.key_path(1), file);
    assert_eq!(mode(&file), 0o600);
    assert_eq!(mode(&data), 0o700);
    assert_eq!(fs::metadata(&file).expect("stat").len(), 32);
    assert!(!data.join("master-key.1.tmp").exists());
}

#[test]
fn key_file_readable_by_others_is_refused() {
    let tmp = tempfile::tempdir().expect("tempdir");
    drop(FileMasterKey::open_or_create(tmp.path()).expect("create"));
    let file = tmp.path().join("master-key.1");
    for bad in [0o644, 0o640, 0o604] {
        fs::set_permissions(&file, fs::Permissions::from_mode(bad)).expect("chmod");
        let err = FileMasterKey::open_or_create(tmp.path()).expect_err("must refuse");
        assert!(
            matches!(&err, CryptoError::InsecurePermissions { mode, .. } if *mode == bad),
            "{err:?}"
        );
        let msg = err.to_string();
        assert!(msg.contains(&file.display().to_string()), "{msg}");
        assert!(msg.contains("chmod 600"), "{msg}");
    }
    fs::set_permissions(&file, fs::Permissions::from_mode(0o400)).expect("chmod");
    FileMasterKey::open_or_create(tmp.path()).expect("0400 is fine");
}

#[test]
fn key_file_of_wrong_length_is_refused() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let file = tmp.path().join("master-key.1");
    fs::write(&file, [0u8; 31]).expect("write");
    fs::set_permissions(&file, fs::Permissions::from_mode(0o600)).expect("chmod");
    let err = FileMasterKey::open_or_create(tmp.path()).expect_err("must refuse");
    assert!(matches!(err, CryptoError::BadKeyFile { .. }), "{err:?}");
    assert!(err.to_string().contains("31 bytes"), "{err}");
}

#[test]
fn keys_and_versions_survive_a_restart() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let p = FileMasterKey::open_or_create(tmp.path()).expect("open");
    let (_, r1) = Keyring::create(&p).expect("create");
    assert_eq!(p.rotate().expect("rotate"), 2);
    assert_eq!(mode(&tmp.path().join("master-key.2")), 0o600);
    let (_, r2) = Keyring::create(&p).expect("create");
    drop(p);

    let again = FileMasterKey::open_or_create(tmp.path()).expect("reopen");
    assert_eq!(again.current_version(), 2);
    Keyring::load(&again, &[r1]).expect("v1 record still unwraps");
    Keyring::load(&again, &[r2]).expect("v2 record unwraps");
}

#[test]
fn debug_prints_no_key_bytes() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let p = FileMasterKey::open_or_create(tmp.path()).expect("open");
    let master = fs::read(tmp.path().join("master-key.1")).expect("read");
    let (keyring, record) = Keyring::create(&p).expect("create");
    let store_key = p
        .unwrap(&WrappedKey {
            master_version: record.master_version,
            bytes: record.wrapped.clone(),
        })
        .expect("unwrap");
    let staged = keyring.rotate_store_key(&p).expect("stage");
    let sealed = keyring.seal("uid", &store_key).expect("seal");
    let material = KeyMaterial::from_slice(&store_key);

    let shown = [
        format!("{p:?}"),
        format!("{keyring:?}"),
        format!("{record:?}"),
        format!("{staged:?}"),
        format!("{sealed:?}"),
        format!("{material:?}"),
        p.describe(),
    ];
    for secret in [&master[..], &store_key[..]] {
        let needles = [
            hex::encode(secret),
            hex::encode_upper(secret),
            format!("{:?}", &secret[..4])
                .trim_matches(['[', ']'])
                .to_string(),
        ];
        for s in &shown {
            for n in &needles {
                assert!(!s.contains(n.as_str()), "{s} shows key bytes {n}");
            }
        }
    }
    assert!(format!("{material:?}").contains("redacted"));
}
