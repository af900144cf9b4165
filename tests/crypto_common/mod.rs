//! The key-store suite, written once and run against every master key provider
//! (`tests/crypto_file.rs`, `tests/crypto_pkcs11.rs`) through `key_store_suite!`.
//!
//! A provider fixture gives a fresh master key per call, so tests that rotate do not
//! disturb each other, and a second, unrelated master key for the wrong-key test.

use std::any::Any;

use kmipd::crypto::{
    CryptoError, Keyring, MasterKeyProvider, SealedMaterial, WrappedKey, WrappedStoreKey,
    random_bytes,
};

/// A provider under test and whatever must outlive it (a temp dir).
pub struct Subject {
    pub provider: Box<dyn MasterKeyProvider>,
    pub _guard: Box<dyn Any>,
}

/// Generates one `#[test]` per suite function; `$fresh` is an expression of type
/// `fn() -> Subject` giving a fresh, independent master key each call.
#[macro_export]
macro_rules! key_store_suite {
    ($fresh:expr) => {
        #[test]
        fn suite_wrap_unwrap_round_trip() {
            crypto_common::wrap_unwrap_round_trip(&*$fresh().provider);
        }
        #[test]
        fn suite_master_rotation() {
            crypto_common::master_rotation(&*$fresh().provider);
        }
        #[test]
        fn suite_rewrap_after_master_rotation() {
            crypto_common::rewrap_after_master_rotation(&*$fresh().provider);
        }
        #[test]
        fn suite_seal_open_and_reload() {
            crypto_common::seal_open_and_reload(&*$fresh().provider);
        }
        #[test]
        fn suite_aad_binds_uid() {
            crypto_common::aad_binds_uid(&*$fresh().provider);
        }
        #[test]
        fn suite_tamper_detection() {
            crypto_common::tamper_detection(&*$fresh().provider);
        }
        #[test]
        fn suite_wrong_master_key_fails() {
            let a = $fresh();
            let b = $fresh();
            crypto_common::wrong_master_key_fails(&*a.provider, &*b.provider);
        }
        #[test]
        fn suite_store_key_rotation_and_reseal() {
            crypto_common::store_key_rotation_and_reseal(&*$fresh().provider);
        }
        #[test]
        fn suite_concurrent_use() {
            crypto_common::concurrent_use(&*$fresh().provider);
        }
    };
}

pub fn wrap_unwrap_round_trip(p: &dyn MasterKeyProvider) {
    let v = p.current_version();
    assert!(v >= 1, "{}", p.describe());
    // Multiples of 8 only: the PKCS#11 provider refuses other lengths (see its module doc);
    // the file provider's odd lengths are covered by its unit tests.
    for len in [8usize, 16, 24, 32, 64] {
        let key = random_bytes(len).expect("rng");
        let w = p.wrap(None, &key).expect("wrap");
        assert_eq!(w.master_version, v);
        assert_eq!(w.bytes.len(), len.div_ceil(8) * 8 + 8, "RFC 5649 length");
        assert_ne!(
            &w.bytes[8..8 + len],
            &key[..],
            "wrapped bytes are not the key"
        );
        assert_eq!(*p.unwrap(&w).expect("unwrap"), *key);
        let explicit = p.wrap(Some(v), &key).expect("wrap with version");
        assert_eq!(*p.unwrap(&explicit).expect("unwrap"), *key);
    }
}

pub fn master_rotation(p: &dyn MasterKeyProvider) {
    let v1 = p.current_version();
    let key = random_bytes(32).expect("rng");
    let old = p.wrap(None, &key).expect("wrap");
    let v2 = p.rotate().expect("rotate");
    assert_eq!(v2, v1 + 1);
    assert_eq!(p.current_version(), v2);
    assert!(
        p.describe().contains(&format!("version {v2}")),
        "{}",
        p.describe()
    );
    let new = p.wrap(None, &key).expect("wrap");
    assert_eq!(new.master_version, v2);
    assert_ne!(new.bytes, old.bytes);
    assert_eq!(*p.unwrap(&old).expect("old version still unwraps"), *key);
    assert_eq!(*p.unwrap(&new).expect("unwrap"), *key);
    assert_eq!(p.wrap(Some(v1), &key).expect("wrap v1").master_version, v1);
    let missing = WrappedKey {
        master_version: v2 + 10,
        bytes: new.bytes.clone(),
    };
    assert!(p.unwrap(&missing).is_err());
    assert!(p.wrap(Some(v2 + 10), &key).is_err());
}

pub fn rewrap_after_master_rotation(p: &dyn MasterKeyProvider) {
    let (keyring, first) = Keyring::create(p).expect("create");
    let staged = keyring.rotate_store_key(p).expect("stage");
    let second = staged.record().clone();
    keyring.activate(staged).expect("activate");
    let sealed_old = keyring.seal("uid-1", b"secret one").expect("seal");

    let old_master = p.current_version();
    let new_master = p.rotate().expect("rotate master");
    let records = keyring.rewrap_all(p).expect("rewrap");
    assert_eq!(records.len(), 2);
    for (r, before) in records.iter().zip([&first, &second]) {
        assert_eq!(r.version, before.version);
        assert_eq!(before.master_version, old_master);
        assert_eq!(r.master_version, new_master);
    }
    // A restart with only the re-wrapped records sees the same store keys.
    let reloaded = Keyring::load(p, &records).expect("load");
    assert_eq!(reloaded.versions(), vec![1, 2]);
    assert_eq!(reloaded.current_version(), 2);
    assert_eq!(
        &*reloaded.open("uid-1", &sealed_old).expect("open"),
        b"secret one"
    );
}

pub fn seal_open_and_reload(p: &dyn MasterKeyProvider) {
    let (keyring, record) = Keyring::create(p).expect("create");
    assert_eq!(record.version, 1);
    assert_eq!(record.master_version, p.current_version());
    for plaintext in [&b""[..], b"k", &[0x5A; 32], &[7; 4096]] {
        let sealed = keyring.seal("object-42", plaintext).expect("seal");
        assert_eq!(sealed.store_key_version, 1);
        assert_eq!(sealed.ciphertext.len(), plaintext.len() + 16);
        let bytes = sealed.to_bytes();
        let parsed = SealedMaterial::from_bytes(&bytes).expect("parse");
        assert_eq!(parsed, sealed);
        assert_eq!(
            &*keyring.open("object-42", &parsed).expect("open"),
            plaintext
        );
    }
    let a = keyring.seal("x", b"same").expect("seal");
    let b = keyring.seal("x", b"same").expect("seal");
    assert_ne!(a.nonce, b.nonce, "nonces are random per seal");

    // Restart: the record goes through its byte form and is unwrapped again.
    let sealed = keyring.seal("object-42", b"persisted").expect("seal");
    let record = WrappedStoreKey::from_bytes(&record.to_bytes()).expect("parse record");
    let reloaded = Keyring::load(p, &[record]).expect("load");
    assert_eq!(
        &*reloaded.open("object-42", &sealed).expect("open"),
        b"persisted"
    );
}

pub fn aad_binds_uid(p: &dyn MasterKeyProvider) {
    let (keyring, _) = Keyring::create(p).expect("create");
    let sealed = keyring.seal("uid-A", b"material of A").expect("seal");
    for other in ["uid-B", "uid-A ", "uid-", ""] {
        match keyring.open(other, &sealed) {
            Err(CryptoError::OpenFailed { uid }) => assert_eq!(uid, other),
            r => panic!("a blob sealed for uid-A opened for {other:?}: {r:?}"),
        }
    }
    assert_eq!(
        &*keyring.open("uid-A", &sealed).expect("open"),
        b"material of A"
    );
}

pub fn tamper_detection(p: &dyn MasterKeyProvider) {
    let (keyring, record) = Keyring::create(p).expect("create");
    let sealed = keyring.seal("uid", b"0123456789abcdef").expect("seal");
    let bytes = sealed.to_bytes();
    // Every byte after the layout byte is covered: version (AAD), nonce, ciphertext, tag.
    for i in 1..bytes.len() {
        let mut t = bytes.clone();
        t[i] ^= 0x01;
        let opened = SealedMaterial::from_bytes(&t).and_then(|s| keyring.open("uid", &s));
        assert!(opened.is_err(), "flipping byte {i} went unnoticed");
    }
    let mut short = sealed.clone();
    short.ciphertext.pop();
    assert!(keyring.open("uid", &short).is_err());

    // A tampered store key record does not unwrap.
    for i in 0..record.wrapped.len() {
        let mut t = record.clone();
        t.wrapped[i] ^= 0x80;
        match Keyring::load(p, &[t]) {
            Err(CryptoError::UnwrapFailed { .. }) => {}
            r => panic!("tampered wrapped byte {i}: {r:?}"),
        }
    }
}

pub fn wrong_master_key_fails(a: &dyn MasterKeyProvider, b: &dyn MasterKeyProvider) {
    let (keyring, record) = Keyring::create(a).expect("create");
    let _ = keyring;
    assert_eq!(
        record.master_version,
        b.current_version(),
        "same version number"
    );
    match Keyring::load(b, std::slice::from_ref(&record)) {
        Err(CryptoError::UnwrapFailed { version }) => assert_eq!(version, record.master_version),
        r => panic!("another master key unwrapped the store key: {r:?}"),
    }
    let w = a.wrap(None, &[1; 32]).expect("wrap");
    assert!(b.unwrap(&w).is_err());
}

pub fn store_key_rotation_and_reseal(p: &dyn MasterKeyProvider) {
    let (keyring, _) = Keyring::create(p).expect("create");
    let old = keyring.seal("uid-r", b"rotate me").expect("seal");
    let staged = keyring.rotate_store_key(p).expect("stage");
    assert_eq!(staged.record().version, 2);
    // Not active until activated: still sealing under 1.
    assert_eq!(
        keyring.seal("uid-r", b"x").expect("seal").store_key_version,
        1
    );
    // A second staging for the same version loses the race.
    let loser = keyring.rotate_store_key(p).expect("stage");
    assert_eq!(keyring.activate(staged).expect("activate"), 2);
    assert!(matches!(
        keyring.activate(loser),
        Err(CryptoError::StaleRotation {
            staged: 2,
            current: 2
        })
    ));
    assert_eq!(keyring.current_version(), 2);
    assert!(keyring.needs_reseal(&old));
    let new = keyring.reseal("uid-r", &old).expect("reseal");
    assert_eq!(new.store_key_version, 2);
    assert!(!keyring.needs_reseal(&new));
    assert!(
        keyring.reseal("uid-other", &old).is_err(),
        "reseal checks the uid"
    );
    assert_eq!(
        &*keyring.open("uid-r", &old).expect("old opens"),
        b"rotate me"
    );
    assert!(keyring.retire(2).is_err(), "current cannot be retired");
    keyring.retire(1).expect("retire");
    assert!(matches!(
        keyring.open("uid-r", &old),
        Err(CryptoError::UnknownStoreKeyVersion(1))
    ));
    assert_eq!(&*keyring.open("uid-r", &new).expect("open"), b"rotate me");
}

pub fn concurrent_use(p: &dyn MasterKeyProvider) {
    let (keyring, _) = Keyring::create(p).expect("create");
    std::thread::scope(|s| {
        for t in 0..4 {
            let keyring = &keyring;
            s.spawn(move || {
                for i in 0..10 {
                    let key = random_bytes(32).expect("rng");
                    let w = p.wrap(None, &key).expect("wrap");
                    assert_eq!(*p.unwrap(&w).expect("unwrap"), *key);
                    let uid = format!("t{t}-{i}");
                    let sealed = keyring.seal(&uid, &key).expect("seal");
                    assert_eq!(*keyring.open(&uid, &sealed).expect("open"), *key);
                }
            });
        }
    });
}
