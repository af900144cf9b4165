//! Shared pieces of the store tests: object builders with recognisable key bytes, and the
//! store suite run against every master key provider (`tests/store_file.rs`,
//! `tests/store_pkcs11.rs`) through `store_suite!`.
#![allow(dead_code)]

use std::path::Path;

use kmipd::crypto::MasterKeyProvider;
use kmipd::kmip::attributes::{
    ApplicationSpecificInformation, Attribute, Link, Name, VendorAttribute,
};
use kmipd::kmip::codec::DateTime;
use kmipd::kmip::objects::{KeyBlock, KeyMaterial, KeyValue, Object, SecretData, SymmetricKey};
use kmipd::kmip::{
    CryptographicAlgorithm, KeyBytes, KeyFormatType, LinkType, NameType, ObjectType,
    SecretDataType, State,
};
use kmipd::store::{
    Expect, Filter, ManagedObject, ObjectStore, Query, RedbStore, Write, WriteSet, admin,
};
use kmipd::ttlv::Value;

/// 32 key bytes no other test data contains: a marker, then the index, then a pattern.
pub fn key_bytes(i: u32) -> Vec<u8> {
    let mut k = b"KMIPD-AT-REST-".to_vec();
    k.extend_from_slice(&i.to_be_bytes());
    while k.len() < 32 {
        k.push(0xA5 ^ k.len() as u8);
    }
    k
}

fn key_block(bytes: Vec<u8>, alg: CryptographicAlgorithm, len: i32) -> KeyBlock {
    KeyBlock {
        key_format_type: KeyFormatType::Raw,
        key_compression_type: None,
        key_value: Some(KeyValue::Plain {
            key_material: KeyMaterial::Bytes(KeyBytes::new(bytes)),
            attributes: vec![],
        }),
        cryptographic_algorithm: Some(alg),
        cryptographic_length: Some(len),
        key_wrapping_data: None,
    }
}

/// A Symmetric Key with name `name`, group `group`, the given key bytes and a few indexed
/// attributes.
pub fn symmetric(uid: &str, name: &str, group: &str, bytes: Vec<u8>) -> ManagedObject {
    ManagedObject {
        unique_identifier: uid.into(),
        object_type: ObjectType::SymmetricKey,
        owner: "alice".into(),
        attributes: vec![
            Attribute::UniqueIdentifier(uid.into()),
            Attribute::ObjectType(ObjectType::SymmetricKey),
            Attribute::Name(Name {
                name_value: name.into(),
                name_type: NameType::UninterpretedTextString,
            }),
            Attribute::State(State::Active),
            Attribute::CryptographicAlgorithm(CryptographicAlgorithm::AES),
            Attribute::CryptographicLength(256),
            Attribute::ObjectGroup(group.into()),
            Attribute::InitialDate(DateTime(1_700_000_000)),
            Attribute::ApplicationSpecificInformation(ApplicationSpecificInformation {
                application_namespace: "ssl".into(),
                application_data: Some(format!("host-{name}")),
            }),
            Attribute::Link(Link {
                link_type: LinkType::ParentLink,
                linked_object_identifier: "parent-1".into(),
            }),
            Attribute::Vendor(VendorAttribute {
                vendor_identification: "x".into(),
                attribute_name: "Barcode".into(),
                attribute_value: Value::TextString(format!("bc-{name}").into()),
            }),
        ],
        object: Some(Object::SymmetricKey(SymmetricKey {
            key_block: key_block(bytes, CryptographicAlgorithm::AES, 256),
        })),
        revision: 0,
    }
}

pub fn secret(uid: &str, owner: &str, bytes: Vec<u8>) -> ManagedObject {
    ManagedObject {
        unique_identifier: uid.into(),
        object_type: ObjectType::SecretData,
        owner: owner.into(),
        attributes: vec![Attribute::State(State::PreActive)],
        object: Some(Object::SecretData(SecretData {
            secret_data_type: SecretDataType::Password,
            key_block: key_block(bytes, CryptographicAlgorithm::AES, 128),
        })),
        revision: 0,
    }
}

pub fn put(store: &dyn ObjectStore, object: ManagedObject) -> u64 {
    let expect = match store.get(&object.unique_identifier).expect("get") {
        Some(o) => Expect::Revision(o.revision),
        None => Expect::Absent,
    };
    store
        .commit(WriteSet {
            writes: vec![Write::Put { object, expect }],
        })
        .expect("commit")[0]
}

pub fn by_name(store: &dyn ObjectStore, name: &str) -> Vec<String> {
    store
        .locate(&Query {
            filters: vec![Filter::Name(name.into())],
            ..Query::default()
        })
        .expect("locate")
        .unique_identifiers
}

/// Every file under `dir`, recursively.
pub fn files(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).expect("read_dir") {
        let p = e.expect("entry").path();
        if p.is_dir() {
            out.extend(files(&p));
        } else {
            out.push(p);
        }
    }
    out
}

pub fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

#[macro_export]
macro_rules! store_suite {
    ($fresh:expr) => {
        #[test]
        fn suite_round_trip_and_reopen() {
            let s = $fresh();
            store_common::round_trip_and_reopen(&*s.provider, s.dir.path());
        }
        #[test]
        fn suite_key_bytes_never_at_rest() {
            let s = $fresh();
            store_common::key_bytes_never_at_rest(&*s.provider, s.dir.path());
        }
        #[test]
        fn suite_material_is_bound_to_its_object() {
            let s = $fresh();
            store_common::material_is_bound_to_its_object(&*s.provider, s.dir.path());
        }
        #[test]
        fn suite_every_object_type_round_trips() {
            let s = $fresh();
            store_common::every_object_type_round_trips(&*s.provider, s.dir.path());
        }
        #[test]
        fn suite_rotations_backup_restore() {
            let s = $fresh();
            store_common::rotations_backup_restore(&*s.provider, s.dir.path());
        }
    };
}

/// A provider under test and the temp dir holding its data (and, for `file`, its key).
pub struct Subject {
    pub provider: Box<dyn MasterKeyProvider>,
    pub dir: tempfile::TempDir,
    pub _guard: Box<dyn std::any::Any>,
}

pub fn round_trip_and_reopen(p: &dyn MasterKeyProvider, dir: &Path) {
    let data = dir.join("data");
    admin::init(&data, p).expect("init");
    let path = admin::db_path(&data);
    let a = symmetric("uid-a", "alpha", "g1", key_bytes(1));
    let b = secret("uid-b", "bob", key_bytes(2));
    {
        let (store, _) = RedbStore::open_with_provider(&path, p).expect("open");
        assert_eq!(put(&store, a.clone()), 1);
        assert_eq!(put(&store, b.clone()), 1);
        let mut a2 = a.clone();
        a2.attributes.push(Attribute::Comment("second".into()));
        assert_eq!(put(&store, a2), 2);
    }
    let (store, _) = RedbStore::open_with_provider(&path, p).expect("reopen");
    let got = store.get("uid-a").expect("get").expect("present");
    assert_eq!(got.revision, 2);
    assert_eq!(got.object, a.object);
    assert_eq!(got.attributes.len(), a.attributes.len() + 1);
    let mut want_b = b.clone();
    want_b.revision = 1;
    assert_eq!(store.get("uid-b").expect("get"), Some(want_b));
    assert_eq!(store.count().expect("count"), 2);
    assert_eq!(by_name(&store, "alpha"), vec!["uid-a".to_string()]);
    let owned = store
        .locate(&Query {
            owner: Some("bob".into()),
            ..Query::default()
        })
        .expect("locate");
    assert_eq!(owned.unique_identifiers, vec!["uid-b".to_string()]);
}

pub fn key_bytes_never_at_rest(p: &dyn MasterKeyProvider, dir: &Path) {
    let data = dir.join("data");
    admin::init(&data, p).expect("init");
    {
        let (store, _) = RedbStore::open_with_provider(admin::db_path(&data), p).expect("open");
        for i in 0..200 {
            let o = if i % 2 == 0 {
                symmetric(&format!("k{i}"), &format!("n{i}"), "g", key_bytes(i))
            } else {
                secret(&format!("k{i}"), "alice", key_bytes(i))
            };
            put(&store, o);
        }
        // Updates and deletes leave freed pages behind: they must not hold key bytes either.
        for i in 0..50 {
            let mut o = store.get(&format!("k{i}")).expect("get").expect("present");
            o.attributes.push(Attribute::Comment("touched".into()));
            put(&store, o);
        }
        assert_eq!(
            store.get("k3").expect("get").map(|o| o.object.is_some()),
            Some(true)
        );
        let backup = dir.join("backup.redb");
        admin::backup(&store, &backup).expect("backup");
    }
    let mut scanned = 0;
    for file in files(dir) {
        let bytes = std::fs::read(&file).expect("read");
        scanned += bytes.len();
        for i in 0..200 {
            let k = key_bytes(i);
            assert!(
                !contains(&bytes, &k),
                "key {i} in clear in {}",
                file.display()
            );
            // The marker prefix alone (14 bytes) is not there either.
            assert!(!contains(&bytes, &k[..14]), "marker in {}", file.display());
        }
    }
    assert!(scanned > 100_000, "scanned only {scanned} bytes");
}

pub fn material_is_bound_to_its_object(p: &dyn MasterKeyProvider, dir: &Path) {
    use redb::ReadableTable;
    let data = dir.join("data");
    admin::init(&data, p).expect("init");
    let path = admin::db_path(&data);
    {
        let (store, _) = RedbStore::open_with_provider(&path, p).expect("open");
        put(&store, symmetric("one", "n1", "g", key_bytes(1)));
        put(&store, symmetric("two", "n2", "g", key_bytes(2)));
    }
    // Swap the two records' material behind the store's back.
    {
        use kmipd::store::redb::schema::{OBJECTS, Record};
        let db = kmipd::store::redb::open_database(&path).expect("open db");
        let txn = db.begin_write().expect("write");
        {
            let mut t = txn.open_table(OBJECTS).expect("table");
            let mut one = Record::from_bytes(t.get("one").expect("get").expect("one").value())
                .expect("record");
            let two = Record::from_bytes(t.get("two").expect("get").expect("two").value())
                .expect("record");
            one.sealed = two.sealed.clone();
            t.insert("one", one.to_bytes().as_slice()).expect("insert");
        }
        txn.commit().expect("commit");
    }
    let (store, _) = RedbStore::open_with_provider(&path, p).expect("reopen");
    assert!(store.get("two").expect("two opens").is_some());
    match store.get("one") {
        Err(kmipd::store::StoreError::Sealing(msg)) => assert!(msg.contains("one"), "{msg}"),
        other => panic!("moved material opened: {other:?}"),
    }
}

pub fn rotations_backup_restore(p: &dyn MasterKeyProvider, dir: &Path) {
    let data = dir.join("data");
    let report = admin::init(&data, p).expect("init");
    assert_eq!(report.store_key_version, 1);
    assert!(admin::init(&data, p).is_err(), "second init refused");
    let path = admin::db_path(&data);
    let (store, sealer) = RedbStore::open_with_provider(&path, p).expect("open");
    for i in 0..600 {
        put(
            &store,
            symmetric(&format!("r{i}"), &format!("n{i}"), "g", key_bytes(i)),
        );
    }
    let m =
        admin::rotate_master_key(store.database().expect("database"), p).expect("master rotation");
    assert_eq!(m.store_keys_rewrapped, 1);
    let mut calls = Vec::new();
    let r = admin::rotate_store_key(&store, &sealer, p, |d, t| calls.push((d, t)))
        .expect("store key rotation");
    assert_eq!(r.store_key_version, 2);
    assert_eq!(r.resealed, 600);
    assert!(!r.resumed);
    assert_eq!(calls.last(), Some(&(600, 600)));
    assert!(calls.len() >= 3, "{calls:?}");
    for i in [0u32, 299, 599] {
        let o = store.get(&format!("r{i}")).expect("get").expect("present");
        assert_eq!(o.revision, 1, "re-sealing does not change the revision");
        assert_eq!(o.object, symmetric("x", "x", "x", key_bytes(i)).object);
    }
    let backup = dir.join("snap.redb");
    let b = admin::backup(&store, &backup).expect("backup");
    assert_eq!(b.objects, 600);
    assert_eq!(b.store_keys, 2);
    assert!(admin::backup(&store, &backup).is_err(), "no overwrite");
    drop(store);
    drop(sealer);

    // Restore refuses a non-empty directory, then restores into an empty one.
    assert!(admin::restore(&backup, &data).is_err());
    let restored = dir.join("restored");
    let r = admin::restore(&backup, &restored).expect("restore");
    assert_eq!(r.objects, 600);
    // After the master rotation and a restart, the restored store opens with the provider.
    let (store, sealer) = RedbStore::open_with_provider(&r.db_path, p).expect("open restored");
    assert_eq!(sealer.keyring().current_version(), 2);
    assert_eq!(store.count().expect("count"), 600);
    assert_eq!(by_name(&store, "n42"), vec!["r42".to_string()]);
    let o = store.get("r42").expect("get").expect("present");
    assert_eq!(o.object, symmetric("x", "x", "x", key_bytes(42)).object);
}

/// One object of every KMIP object type a store keeps, each with its own secret bytes
/// (`key_bytes(base + k)`) and multi-valued attributes.
pub fn every_object_type(base: u32) -> Vec<ManagedObject> {
    use kmipd::kmip::objects::{
        Certificate, CertificateRequest, OpaqueObject, PGPKey, PrivateKey, PublicKey, SecretBigInt,
        SplitKey, TransparentKeyMaterial,
    };
    use kmipd::kmip::{CertificateRequestType, CertificateType, OpaqueDataType, SplitKeyMethod};
    use zeroize::Zeroizing;
    let raw = |k: u32, alg, len| key_block(key_bytes(base + k), alg, len);
    let big = |k: u32| Some(SecretBigInt(Zeroizing::new(key_bytes(base + k))));
    let objects: Vec<(ObjectType, Object)> = vec![
        (
            ObjectType::SymmetricKey,
            Object::SymmetricKey(SymmetricKey {
                key_block: raw(0, CryptographicAlgorithm::AES, 256),
            }),
        ),
        (
            ObjectType::PublicKey,
            Object::PublicKey(PublicKey {
                key_block: raw(1, CryptographicAlgorithm::RSA, 2048),
            }),
        ),
        (
            ObjectType::PrivateKey,
            Object::PrivateKey(PrivateKey {
                key_block: KeyBlock {
                    key_format_type: KeyFormatType::TransparentRSAPrivateKey,
                    key_compression_type: None,
                    key_value: Some(KeyValue::Plain {
                        key_material: KeyMaterial::Transparent(Box::new(TransparentKeyMaterial {
                            key: None,
                            modulus: big(2),
                            private_exponent: big(3),
                            public_exponent: big(4),
                            p: big(5),
                            q: big(6),
                            g: None,
                            j: None,
                            x: None,
                            y: None,
                            prime_exponent_p: big(7),
                            prime_exponent_q: big(8),
                            crt_coefficient: big(9),
                            recommended_curve: None,
                            d: None,
                            q_string: None,
                        })),
                        attributes: vec![],
                    }),
                    cryptographic_algorithm: Some(CryptographicAlgorithm::RSA),
                    cryptographic_length: Some(256),
                    key_wrapping_data: None,
                },
            }),
        ),
        (
            ObjectType::Certificate,
            Object::Certificate(Certificate {
                certificate_type: CertificateType::X_509,
                certificate_value: kmipd::kmip::codec::ByteString(key_bytes(base + 10)),
            }),
        ),
        (
            ObjectType::CertificateRequest,
            Object::CertificateRequest(CertificateRequest {
                certificate_request_type: CertificateRequestType::PKCS_10,
                certificate_request_value: kmipd::kmip::codec::ByteString(key_bytes(base + 11)),
            }),
        ),
        (
            ObjectType::SecretData,
            Object::SecretData(SecretData {
                secret_data_type: SecretDataType::Password,
                key_block: raw(12, CryptographicAlgorithm::AES, 256),
            }),
        ),
        (
            ObjectType::OpaqueObject,
            Object::OpaqueObject(OpaqueObject {
                opaque_data_type: OpaqueDataType::from_u32(0x8000_0001),
                opaque_data_value: KeyBytes::new(key_bytes(base + 13)),
            }),
        ),
        (
            ObjectType::SplitKey,
            Object::SplitKey(SplitKey {
                split_key_parts: 3,
                key_part_identifier: 2,
                split_key_threshold: 2,
                split_key_method: SplitKeyMethod::XOR,
                prime_field_size: None,
                key_block: raw(14, CryptographicAlgorithm::AES, 256),
            }),
        ),
        (
            ObjectType::PGPKey,
            Object::PGPKey(PGPKey {
                pgp_key_version: 4,
                key_block: raw(15, CryptographicAlgorithm::RSA, 2048),
            }),
        ),
    ];
    objects
        .into_iter()
        .enumerate()
        .map(|(i, (object_type, object))| {
            let uid = format!("every-{base}-{i}");
            ManagedObject {
                unique_identifier: uid.clone(),
                object_type,
                owner: "alice".into(),
                attributes: vec![
                    Attribute::UniqueIdentifier(uid.clone()),
                    Attribute::ObjectType(object_type),
                    Attribute::Name(Name {
                        name_value: format!("{uid}-a"),
                        name_type: NameType::UninterpretedTextString,
                    }),
                    Attribute::Name(Name {
                        name_value: format!("{uid}-b"),
                        name_type: NameType::UninterpretedTextString,
                    }),
                    Attribute::State(State::Active),
                    Attribute::ObjectGroup("every".into()),
                    Attribute::Link(Link {
                        link_type: LinkType::ParentLink,
                        linked_object_identifier: "parent".into(),
                    }),
                    Attribute::Vendor(VendorAttribute {
                        vendor_identification: "x".into(),
                        attribute_name: "Kind".into(),
                        attribute_value: Value::TextString(format!("{object_type:?}").into()),
                    }),
                ],
                object: Some(object),
                revision: 0,
            }
        })
        .collect()
}

/// Every object type is kept whole (object and every attribute) across a reopen, found by
/// its indexes, and none of its secret bytes is on disk.
pub fn every_object_type_round_trips(p: &dyn MasterKeyProvider, dir: &Path) {
    let data = dir.join("data");
    admin::init(&data, p).expect("init");
    let path = admin::db_path(&data);
    let objects = every_object_type(9000);
    {
        let (store, _) = RedbStore::open_with_provider(&path, p).expect("open");
        for o in &objects {
            assert_eq!(put(&store, o.clone()), 1, "{:?}", o.object_type);
        }
    }
    let (store, _) = RedbStore::open_with_provider(&path, p).expect("reopen");
    for o in &objects {
        let got = store
            .get(&o.unique_identifier)
            .expect("get")
            .expect("present");
        let mut want = o.clone();
        want.revision = 1;
        assert_eq!(got, want, "{:?}", o.object_type);
        let by_type = store
            .locate(&Query {
                filters: vec![
                    Filter::ObjectType(o.object_type),
                    Filter::ObjectGroup("every".into()),
                ],
                ..Query::default()
            })
            .expect("locate");
        assert_eq!(
            by_type.unique_identifiers,
            vec![o.unique_identifier.clone()]
        );
        for n in ["a", "b"] {
            assert_eq!(
                by_name(&store, &format!("{}-{n}", o.unique_identifier)),
                vec![o.unique_identifier.clone()]
            );
        }
    }
    drop(store);
    for file in files(&data) {
        let bytes = std::fs::read(&file).expect("read");
        for k in 0..16 {
            assert!(
                !contains(&bytes, &key_bytes(9000 + k)),
                "secret {k} in clear in {}",
                file.display()
            );
        }
    }
}

/// An audit event by `alice` naming one object.
pub fn audit_event(operation: &str, uid: &str) -> kmipd::audit::AuditEvent {
    kmipd::audit::AuditEvent {
        time: 1_700_000_000,
        principal: "alice".into(),
        operation: operation.into(),
        unique_identifiers: vec![uid.into()],
        result_status: "Success".into(),
        result_reason: None,
        client_correlation_value: None,
        server_correlation_value: None,
    }
}
