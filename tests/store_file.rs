//! The redb store with the file master key provider: the shared store suite, and the tests
//! that need only one provider: group commit, Locate at scale through the indexes, schema
//! version checks, crash resume of store key rotation.

mod store_common;

use std::sync::Arc;

use kmipd::crypto::FileMasterKey;
use kmipd::store::{
    Expect, Filter, ObjectStore, Query, RedbStore, StoreError, Write, WriteSet, admin,
};
use store_common::{Subject, key_bytes, secret, symmetric};

fn fresh() -> Subject {
    let dir = tempfile::tempdir().expect("tempdir");
    let provider = FileMasterKey::open_or_create(dir.path().join("data")).expect("provider");
    Subject {
        provider: Box::new(provider),
        dir,
        _guard: Box::new(()),
    }
}

store_suite!(fresh);

fn open(dir: &std::path::Path) -> (RedbStore, Arc<kmipd::store::KeyringSealer>, FileMasterKey) {
    let provider = FileMasterKey::open_or_create(dir.join("data")).expect("provider");
    let (store, sealer) =
        RedbStore::open_with_provider(admin::db_path(&dir.join("data")), &provider).expect("open");
    (store, sealer, provider)
}

/// A batch is answered once its log record is durable and committed to redb just after;
/// a read that comes in between waits for that commit. Every answered write must be seen by
/// the very next read, by UID and by Locate, and the test checks that reads did land in the
/// window (else it proves nothing).
#[test]
fn an_answered_write_is_seen_by_the_next_read() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (store, _, _) = open(dir.path());
    for i in 0..400u32 {
        let uid = format!("seen-{i}");
        store
            .commit(WriteSet {
                writes: vec![Write::Put {
                    object: symmetric(&uid, &format!("name-{i}"), "g", key_bytes(i)),
                    expect: Expect::Absent,
                }],
            })
            .expect("commit");
        assert!(store.get(&uid).expect("get").is_some(), "{uid} not visible");
        assert_eq!(
            store_common::by_name(&store, &format!("name-{i}")),
            vec![uid.clone()]
        );
    }
    assert_eq!(store.count().expect("count"), 400);
    let waits = store.stats().visibility_waits;
    assert!(waits > 0, "no read landed between an answer and its commit");
    eprintln!("reads that waited for a commit: {waits} of 1200");
}

#[test]
fn concurrent_writers_share_commits() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (store, _, _) = open(dir.path());
    let threads = 16;
    let per_thread = 20;
    std::thread::scope(|s| {
        for t in 0..threads {
            let store = &store;
            s.spawn(move || {
                for i in 0..per_thread {
                    let uid = format!("t{t}-{i}");
                    store
                        .commit(WriteSet {
                            writes: vec![Write::Put {
                                object: secret(&uid, "alice", key_bytes(t * 1000 + i)),
                                expect: Expect::Absent,
                            }],
                        })
                        .expect("every concurrent commit succeeds");
                }
            });
        }
    });
    let stats = store.stats();
    let writes = u64::from(threads * per_thread);
    assert_eq!(stats.committed_sets, writes);
    assert_eq!(store.count().expect("count"), writes);
    assert!(
        stats.commits < writes,
        "{} durable commits for {writes} write sets: no grouping",
        stats.commits
    );
    eprintln!("{writes} write sets in {} commits", stats.commits);
}

#[test]
fn a_conflicting_set_leaves_no_trace_and_others_proceed() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (store, _, _) = open(dir.path());
    store_common::put(&store, symmetric("a", "a", "g", key_bytes(1)));
    let r = store.commit(WriteSet {
        writes: vec![
            Write::Put {
                object: symmetric("b", "b", "g", key_bytes(2)),
                expect: Expect::Absent,
            },
            Write::Put {
                object: symmetric("a", "changed", "g", key_bytes(3)),
                expect: Expect::Revision(7),
            },
        ],
    });
    assert!(matches!(r, Err(StoreError::Conflict)), "{r:?}");
    assert_eq!(store.get("b").expect("get"), None);
    assert!(store_common::by_name(&store, "changed").is_empty());
    assert!(store_common::by_name(&store, "b").is_empty());
    store_common::put(&store, symmetric("b", "b", "g", key_bytes(2)));
    assert_eq!(store_common::by_name(&store, "b"), vec!["b".to_string()]);
}

/// 20k objects; a Name lookup, alone or with filters that match every object, examines a
/// handful of index rows, not thousands.
#[test]
fn locate_at_scale_uses_the_indexes() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (store, _, _) = open(dir.path());
    let n = 20_000u32;
    for chunk in (0..n).collect::<Vec<_>>().chunks(2_000) {
        let writes = chunk
            .iter()
            .map(|&i| Write::Put {
                object: symmetric(
                    &format!("u{i}"),
                    &format!("name-{i}"),
                    &format!("g{}", i % 10),
                    key_bytes(i),
                ),
                expect: Expect::Absent,
            })
            .collect();
        store.commit(WriteSet { writes }).expect("commit");
    }
    let examined = |q: &Query| {
        let before = store.stats().locate_rows_examined;
        let r = store.locate(q).expect("locate");
        (r, store.stats().locate_rows_examined - before)
    };
    let (r, rows) = examined(&Query {
        filters: vec![Filter::Name("name-12345".into())],
        ..Query::default()
    });
    assert_eq!(r.unique_identifiers, vec!["u12345".to_string()]);
    assert_eq!(r.total, 1);
    assert!(rows <= 4, "{rows} rows for a unique name");

    let (r, rows) = examined(&Query {
        filters: vec![
            Filter::ObjectType(kmipd::kmip::ObjectType::SymmetricKey),
            Filter::State(kmipd::kmip::State::Active),
            Filter::CryptographicAlgorithm(kmipd::kmip::CryptographicAlgorithm::AES),
            Filter::Name("name-777".into()),
            Filter::DateRange {
                tag: kmipd::ttlv::Tag::InitialDate,
                from: 0,
                to: i64::MAX,
            },
        ],
        owner: Some("alice".into()),
        ..Query::default()
    });
    assert_eq!(r.unique_identifiers, vec!["u777".to_string()]);
    assert!(rows <= 30, "{rows} rows with broad filters beside the name");

    // A group holds 2k objects: paging walks a page, the total is exact.
    let (r, rows) = examined(&Query {
        filters: vec![Filter::ObjectGroup("g3".into())],
        owner: None,
        offset: 10,
        limit: Some(5),
        exclude_states: vec![],
        newest_first: false,
    });
    assert_eq!(r.total, 2_000);
    assert_eq!(
        r.unique_identifiers,
        (10..15)
            .map(|k| format!("u{}", 3 + 10 * k))
            .collect::<Vec<_>>()
    );
    assert!(rows <= 2_100, "{rows}");
    // Newest first (KMIP 2.x): the same page counted from the other end.
    let (r, _) = examined(&Query {
        filters: vec![Filter::ObjectGroup("g3".into())],
        offset: 10,
        limit: Some(5),
        newest_first: true,
        ..Query::default()
    });
    assert_eq!(r.total, 2_000);
    assert_eq!(
        r.unique_identifiers,
        (1_985..1_990)
            .rev()
            .map(|k| format!("u{}", 3 + 10 * k))
            .collect::<Vec<_>>()
    );
}

#[test]
fn a_newer_schema_is_refused() {
    use kmipd::store::redb::schema::{META, META_SCHEMA_VERSION, SCHEMA_VERSION};
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("x.redb");
    drop(kmipd::store::redb::open_database(&path).expect("create"));
    {
        let db = redb::Database::open(&path).expect("open");
        let txn = db.begin_write().expect("write");
        txn.open_table(META)
            .expect("meta")
            .insert(
                META_SCHEMA_VERSION,
                (SCHEMA_VERSION + 1).to_be_bytes().as_slice(),
            )
            .expect("insert");
        txn.commit().expect("commit");
    }
    let err = kmipd::store::redb::open_database(&path).expect_err("newer schema");
    assert!(err.to_string().contains("newer"), "{err}");
}

/// Makes the store file at `path` look as schema `version` wrote it: its `due` entries (index
/// 13, `due_entries` of them) replaced by `older_due`, and that version in `meta`.
fn as_older_schema(
    path: &std::path::Path,
    version: u32,
    due_entries: usize,
    older_due: &[Vec<u8>],
) {
    use kmipd::store::redb::schema::{INDEX, META, META_SCHEMA_VERSION};
    use redb::ReadableTable;
    let db = redb::Database::create(path).expect("open");
    let txn = db.begin_write().expect("write");
    {
        let mut index = txn.open_table(INDEX).expect("index");
        let due: Vec<Vec<u8>> = index
            .iter()
            .expect("iter")
            .map(|e| e.expect("entry").0.value().to_vec())
            .filter(|k| k[0] == 13)
            .collect();
        assert_eq!(due.len(), due_entries);
        for k in due {
            index.remove(k.as_slice()).expect("remove");
        }
        for k in older_due {
            index.insert(k.as_slice(), ()).expect("insert");
        }
        txn.open_table(META)
            .expect("meta")
            .insert(META_SCHEMA_VERSION, version.to_be_bytes().as_slice())
            .expect("insert");
    }
    txn.commit().expect("commit");
}

/// A schema 2 store (written before the `due` index) is migrated when opened, and a schema 2
/// backup restores and is migrated likewise: the objects whose dates will change their state
/// are found by `Filter::DueBy` afterwards, and nothing else changes. Schema 2 is schema 3 without the index 13 entries, so the test makes one by
/// removing them and writing version 2.
#[test]
fn a_schema_2_store_is_migrated_at_open() {
    use kmipd::kmip::attributes::Attribute;
    use kmipd::kmip::codec::DateTime;
    use kmipd::store::redb::schema::{META, META_SCHEMA_VERSION, SCHEMA_VERSION};
    use redb::ReadableDatabase;
    let dir = tempfile::tempdir().expect("tempdir");
    let due_by = |store: &RedbStore, t: i64| {
        store
            .locate(&Query {
                filters: vec![Filter::DueBy(t)],
                ..Query::default()
            })
            .expect("locate")
            .unique_identifiers
    };
    {
        let (store, _, _) = open(dir.path());
        for i in 0..30i64 {
            let mut o = secret(&format!("s{i}"), "alice", key_bytes(i as u32));
            // Pre-Active with an Activation Date at 100 + i for a third, no dates for the rest.
            if i % 3 == 0 {
                o.attributes
                    .push(Attribute::ActivationDate(DateTime(100 + i)));
            }
            store_common::put(&store, o);
        }
        assert_eq!(due_by(&store, 115).len(), 6);
    }
    let path = admin::db_path(&dir.path().join("data"));
    as_older_schema(&path, 2, 10, &[]);
    // A schema 2 backup restores (restore checks the schema it can migrate), and is migrated
    // when its store is opened, like the original below.
    let restored = tempfile::tempdir().expect("tempdir");
    let report = admin::restore(&path, &restored.path().join("data")).expect("restore");
    assert_eq!(report.objects, 30);
    for entry in std::fs::read_dir(dir.path().join("data")).expect("data dir") {
        let entry = entry.expect("entry");
        if entry
            .file_name()
            .to_string_lossy()
            .starts_with("master-key")
        {
            std::fs::copy(
                entry.path(),
                restored.path().join("data").join(entry.file_name()),
            )
            .expect("copy master key");
        }
    }
    let (store, _, _) = open(restored.path());
    assert_eq!(due_by(&store, i64::MAX).len(), 10);
    drop(store);

    let (store, _, _) = open(dir.path());
    assert_eq!(
        due_by(&store, 115),
        ["s0", "s3", "s6", "s9", "s12", "s15"].map(String::from)
    );
    assert_eq!(due_by(&store, i64::MAX).len(), 10);
    assert_eq!(store.count().expect("count"), 30);
    drop(store);
    let db = redb::Database::open(&path).expect("open");
    let txn = db.begin_read().expect("read");
    let meta = txn.open_table(META).expect("meta");
    let version = meta
        .get(META_SCHEMA_VERSION)
        .expect("get")
        .expect("version");
    assert_eq!(version.value(), SCHEMA_VERSION.to_be_bytes());
}

/// Symptom to guard against: a store key rotation interrupted half-way must not be lost or
/// restarted with yet another key. Simulated by recording a rotation position by hand.
#[test]
fn store_key_rotation_resumes() {
    let dir = tempfile::tempdir().expect("tempdir");
    {
        let (store, sealer, provider) = open(dir.path());
        for i in 0..300 {
            store_common::put(&store, secret(&format!("s{i}"), "alice", key_bytes(i)));
        }
        // First part of a rotation: new key current and recorded, position at 100.
        let staged = sealer.keyring().rotate_store_key(&provider).expect("stage");
        let version = staged.record().version;
        kmipd::store::sealer::write_store_keys(
            store.database().expect("database"),
            &[staged.record().clone()],
        )
        .expect("persist");
        let txn = store
            .database()
            .expect("database")
            .begin_write()
            .expect("write");
        txn.open_table(kmipd::store::redb::schema::META)
            .expect("meta")
            .insert(
                kmipd::store::redb::schema::META_ROTATION,
                kmipd::store::redb::schema::rotation_to_bytes(version, 100).as_slice(),
            )
            .expect("insert");
        txn.commit().expect("commit");
    }
    let (store, sealer, provider) = open(dir.path());
    assert_eq!(sealer.keyring().current_version(), 2);
    let r = admin::rotate_store_key(&store, &sealer, &provider, |_, _| {}).expect("resume");
    assert!(r.resumed);
    assert_eq!(r.store_key_version, 2);
    // 200 after the position, then the verification pass finds the first 100.
    assert_eq!(r.resealed, 300);
    let again = admin::rotate_store_key(&store, &sealer, &provider, |_, _| {}).expect("again");
    assert_eq!(again.store_key_version, 3);
    assert!(!again.resumed);
    for i in [0u32, 150, 299] {
        let o = store.get(&format!("s{i}")).expect("get").expect("present");
        assert_eq!(o.object, secret("x", "x", key_bytes(i)).object);
    }
}

/// The database file is readable by the server's user only: attributes (names, groups) are
/// stored in clear, even though key material is sealed.
#[test]
fn database_file_is_private() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let provider = kmipd::crypto::FileMasterKey::open_or_create(dir.path()).unwrap();
    let path = dir.path().join("kmipd.redb");
    let (store, _) = kmipd::store::RedbStore::open_with_provider(&path, &provider).unwrap();
    drop(store);
    let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600, "{mode:o}");
}

fn operations(store: &RedbStore) -> Vec<(String, String)> {
    store
        .audit_records(1, usize::MAX)
        .expect("audit records")
        .iter()
        .map(|(seq, bytes)| {
            let e = kmipd::audit::AuditRecord::from_bytes(*seq, bytes)
                .expect("record")
                .event;
            (e.operation, e.unique_identifiers.join(","))
        })
        .collect()
}

/// Registers a Secret Data `uid` for alice, with its audit record, in one commit.
fn register_audited(store: &RedbStore, uid: &str, key: u32) -> Result<Vec<u64>, StoreError> {
    store.commit_audited(
        WriteSet {
            writes: vec![Write::Put {
                object: secret(uid, "alice", key_bytes(key)),
                expect: Expect::Absent,
            }],
        },
        vec![store_common::audit_event("Register", uid)],
    )
}

#[test]
fn audit_records_commit_with_writes_and_reads_follow_shortly() {
    let s = fresh();
    let (store, _, _) = open(s.dir.path());
    register_audited(&store, "a1", 1).expect("commit");
    // Written with the change: there as soon as commit returns.
    assert_eq!(operations(&store), vec![("Register".into(), "a1".into())]);

    // A conflicting set appends nothing.
    let err = register_audited(&store, "a1", 2).expect_err("conflict");
    assert!(matches!(err, StoreError::Conflict));

    // A read's record waits for a write to carry it, or for the linger time.
    store
        .record(vec![store_common::audit_event("Get", "a1")])
        .expect("record");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while operations(&store).len() < 2 {
        assert!(
            std::time::Instant::now() < deadline,
            "read record never committed"
        );
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    // Records still pending when the store closes are committed before it does.
    store
        .record(vec![store_common::audit_event("Get", "a1")])
        .expect("record");
    store
        .record(vec![store_common::audit_event("Locate", "a1")])
        .expect("record");
    drop(store);
    let (store, _, _) = open(s.dir.path());
    assert_eq!(
        operations(&store),
        vec![
            ("Register".into(), "a1".into()),
            ("Get".into(), "a1".into()),
            ("Get".into(), "a1".into()),
            ("Locate".into(), "a1".into()),
        ]
    );
    let report = kmipd::store::verify_audit(&store).expect("chain verifies");
    assert_eq!(report.records, 4);
    assert_eq!(report.head, store.audit_head().expect("head"));
}

#[test]
fn a_tampered_audit_log_fails_verification() {
    let s = fresh();
    let (store, _, _) = open(s.dir.path());
    for i in 0..5 {
        register_audited(&store, &format!("t{i}"), i).expect("commit");
    }
    kmipd::store::verify_audit(&store).expect("intact");
    drop(store);

    // Someone with the file rewrites record 3 to hide which object it named.
    let path = admin::db_path(&s.dir.path().join("data"));
    {
        let db = kmipd::store::redb::open_database(&path).expect("open db");
        let mut record = {
            let bytes = kmipd::store::redb::audit_records_in(&db, 3, 1).expect("read")[0]
                .1
                .clone();
            kmipd::audit::AuditRecord::from_bytes(3, &bytes).expect("record")
        };
        record.event.unique_identifiers = vec!["someone-else".into()];
        let txn = db.begin_write().expect("write");
        {
            let mut t = txn
                .open_table(kmipd::store::redb::schema::AUDIT)
                .expect("table");
            t.insert(3u64, record.to_bytes().as_slice())
                .expect("insert");
        }
        txn.commit().expect("commit");
    }
    let (store, _, _) = open(s.dir.path());
    let err = kmipd::store::verify_audit(&store).expect_err("tampering is found");
    assert!(err.to_string().contains('3'), "{err}");
    // A backup refuses to copy a broken chain.
    let err = admin::backup(&store, &s.dir.path().join("b.redb")).expect_err("backup refused");
    assert!(err.to_string().contains("audit"), "{err}");
    assert!(!s.dir.path().join("b.redb.partial").exists());
}

/// A schema 3 store, whose `due` index leaves out automatic rotations, is migrated when
/// opened (the index rebuilt), after which the date sweep finds the keys whose Rotate
/// Interval is reached and rotates them: each replacement is stored with its name, each
/// replaced key loses its name, and nothing is left due. Schema 3 is made from a schema 4
/// store by writing its `due` entries the way schema 3 did (dates only).
#[test]
fn a_schema_3_store_is_migrated_and_its_due_rotations_are_made() {
    use kmipd::kmip::attributes::{Attribute, Name};
    use kmipd::kmip::codec::{DateTime, Interval};
    use kmipd::kmip::{NameType, State};
    use kmipd::store::redb::schema::due_key;
    const T0: i64 = 1_700_000_000;
    let dir = tempfile::tempdir().expect("tempdir");
    let due_by = |store: &RedbStore, t: i64| {
        let mut found = store
            .locate(&Query {
                filters: vec![Filter::DueBy(t)],
                ..Query::default()
            })
            .expect("locate")
            .unique_identifiers;
        found.sort();
        found
    };
    let mut seqs = Vec::new();
    {
        let (store, _, _) = open(dir.path());
        for i in 0..10u32 {
            let mut o = symmetric(&format!("k{i}"), &format!("key-{i}"), "g", key_bytes(i));
            if i % 2 == 0 {
                // Rotated automatically every 100 s after its Initial Date (T0).
                o.attributes.push(Attribute::RotateAutomatic(true));
                o.attributes.push(Attribute::RotateInterval(Interval(100)));
                o.attributes.push(Attribute::ActivationDate(DateTime(T0)));
            } else {
                o.attributes
                    .push(Attribute::DeactivationDate(DateTime(T0 + 1_000_000)));
            }
            seqs.push(store_common::put(&store, o));
        }
        assert_eq!(due_by(&store, T0 + 100), ["k0", "k2", "k4", "k6", "k8"]);
    }
    let path = admin::db_path(&dir.path().join("data"));
    // Schema 3's entries: the Deactivation Dates of the odd keys only.
    let older: Vec<Vec<u8>> = seqs
        .iter()
        .skip(1)
        .step_by(2)
        .map(|seq| due_key(T0 + 1_000_000, *seq))
        .collect();
    as_older_schema(&path, 3, 10, &older);
    let (store, _, _) = open(dir.path());
    assert_eq!(due_by(&store, T0 + 100), ["k0", "k2", "k4", "k6", "k8"]);
    assert_eq!(due_by(&store, i64::MAX).len(), 10);
    let store: Arc<RedbStore> = Arc::new(store);
    let kms = kmipd::ops::Kms::new(store.clone());
    assert_eq!(kms.sweep_dates(T0 + 99).expect("sweep"), 0);
    assert_eq!(kms.sweep_dates(T0 + 100).expect("sweep"), 5);
    assert!(due_by(&store, T0 + 100).is_empty(), "nothing left due");
    for i in (0..10).step_by(2) {
        let named = store_common::by_name(store.as_ref(), &format!("key-{i}"));
        assert_eq!(named.len(), 1);
        assert_ne!(
            named[0],
            format!("k{i}"),
            "the name moved to the replacement"
        );
        let replacement = store.get(&named[0]).expect("get").expect("stored");
        assert_eq!(
            replacement.state(),
            State::Active,
            "its Activation Date copied: Active"
        );
        assert!(replacement.object.is_some());
        let replaced = store.get(&format!("k{i}")).expect("get").expect("stored");
        assert!(
            replaced.object.is_some(),
            "the replaced key keeps its material"
        );
        assert_eq!(replaced.state(), State::Active, "and its state");
        assert!(
            !replaced.attributes.iter().any(|a| matches!(
                a,
                Attribute::Name(Name {
                    name_type: NameType::UninterpretedTextString,
                    ..
                })
            )),
            "{replaced:?}"
        );
    }
    // The replacements come due an interval after their own Initial Date.
    assert_eq!(due_by(&store, T0 + 200).len(), 5);
}
