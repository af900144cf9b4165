//! The redb store checked against the in-memory model, and against SIGKILL.
//!
//! - `redb_store_behaves_like_the_model`: random sequences of write sets (with right and
//!   wrong `Expect`s), gets and Locates with random filters and paging, reopening the
//!   database between steps; every answer must equal `MemoryStore`'s.
//! - `acknowledged_writes_survive_sigkill`: this test binary re-executes itself as a child
//!   (`KMIPD_STORE_CRASH_CHILD` selects the role) that writes and prints each acknowledged
//!   write; the parent kills it with SIGKILL at random moments, 20 times, and after each kill
//!   reopens the store (replaying the write-ahead log) and checks every acknowledged write
//!   and every object. In odd rounds the child checkpoints every few dozen batches, so kills
//!   also land just after checkpoints, while the log is overwritten from its start.

mod store_common;

use std::collections::HashMap;
use std::hash::{BuildHasher, RandomState};
use std::io::{BufRead, BufReader, Write as _};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use kmipd::crypto::FileMasterKey;
use kmipd::kmip::attributes::{
    ApplicationSpecificInformation, Attribute, Link, Name, VendorAttribute,
};
use kmipd::kmip::codec::DateTime;
use kmipd::kmip::{CryptographicAlgorithm, LinkType, NameType, ObjectType, State};
use kmipd::store::memory::MemoryStore;
use kmipd::store::{
    Expect, Filter, ManagedObject, ObjectStore, Query, RedbStore, StoreError, StoredObject, Write,
    WriteSet, admin,
};
use kmipd::ttlv::{Tag, Value};
use proptest::prelude::*;
use store_common::{key_bytes, secret};

// ---------------------------------------------------------------------------------------
// Model-based test
// ---------------------------------------------------------------------------------------

#[derive(Clone, Debug)]
struct Spec {
    name: Vec<u8>,
    group: Option<u8>,
    state: Option<u8>,
    alg: Option<bool>,
    len: u8,
    owner: u8,
    date: Option<i64>,
    asi: Option<Option<u8>>,
    link: Option<u8>,
    vendor: Option<u8>,
    material: bool,
    key: u8,
}

fn spec() -> impl Strategy<Value = Spec> {
    (
        prop::collection::vec(0u8..4, 0..3),
        prop::option::of(0u8..3),
        prop::option::of(0u8..3),
        prop::option::of(any::<bool>()),
        0u8..2,
        0u8..2,
        prop::option::of(-2i64..3),
        prop::option::of(prop::option::of(0u8..2)),
        prop::option::of(0u8..2),
        prop::option::of(0u8..2),
        any::<bool>(),
        any::<u8>(),
    )
        .prop_map(
            |(name, group, state, alg, len, owner, date, asi, link, vendor, material, key)| Spec {
                name,
                group,
                state,
                alg,
                len,
                owner,
                date,
                asi,
                link,
                vendor,
                material,
                key,
            },
        )
}

const STATES: [State; 3] = [State::PreActive, State::Active, State::Deactivated];

fn build(uid: &str, s: &Spec) -> ManagedObject {
    let mut o = secret(
        uid,
        ["alice", "bob"][s.owner as usize],
        key_bytes(u32::from(s.key)),
    );
    if !s.material {
        o.object = None;
    }
    let mut a = vec![Attribute::UniqueIdentifier(uid.into())];
    for n in &s.name {
        a.push(Attribute::Name(Name {
            name_value: format!("n{n}"),
            name_type: NameType::UninterpretedTextString,
        }));
    }
    if let Some(g) = s.group {
        a.push(Attribute::ObjectGroup(format!("g{g}")));
    }
    // Fresh True, False or absent, among the other attributes: `get_object` reads it
    // without decoding the rest.
    if s.key % 3 != 0 {
        a.push(Attribute::Fresh(s.key % 3 == 1));
    }
    // Sensitive and Extractable likewise, each True, False or absent.
    if (s.key / 3) % 3 != 0 {
        a.push(Attribute::Sensitive((s.key / 3) % 3 == 1));
    }
    if (s.key / 9) % 3 != 0 {
        a.push(Attribute::Extractable((s.key / 9) % 3 == 1));
    }
    if let Some(st) = s.state {
        a.push(Attribute::State(STATES[st as usize]));
    }
    if let Some(rsa) = s.alg {
        a.push(Attribute::CryptographicAlgorithm(if rsa {
            CryptographicAlgorithm::RSA
        } else {
            CryptographicAlgorithm::AES
        }));
    }
    a.push(Attribute::CryptographicLength([128, 256][s.len as usize]));
    if let Some(d) = s.date {
        a.push(Attribute::ActivationDate(DateTime(d)));
        // A Deactivation Date on half of them: the `due` index follows it once Active.
        if s.key % 2 == 0 {
            a.push(Attribute::DeactivationDate(DateTime(d + 1)));
        }
    }
    if let Some(data) = s.asi {
        a.push(Attribute::ApplicationSpecificInformation(
            ApplicationSpecificInformation {
                application_namespace: "ns".into(),
                application_data: data.map(|d| format!("d{d}")),
            },
        ));
    }
    if let Some(l) = s.link {
        a.push(Attribute::Link(Link {
            link_type: LinkType::ParentLink,
            linked_object_identifier: format!("u{l}"),
        }));
    }
    if let Some(v) = s.vendor {
        a.push(Attribute::Vendor(VendorAttribute {
            vendor_identification: "x".into(),
            attribute_name: "tag".into(),
            attribute_value: Value::Integer(i32::from(v)),
        }));
    }
    o.attributes = a;
    o
}

fn filter() -> impl Strategy<Value = Filter> {
    prop_oneof![
        (0u8..4).prop_map(|n| Filter::Name(format!("n{n}"))),
        any::<bool>().prop_map(|b| Filter::ObjectType(if b {
            ObjectType::SecretData
        } else {
            ObjectType::SymmetricKey
        })),
        (0usize..3).prop_map(|s| Filter::State(STATES[s])),
        any::<bool>().prop_map(|b| Filter::CryptographicAlgorithm(if b {
            CryptographicAlgorithm::RSA
        } else {
            CryptographicAlgorithm::AES
        })),
        (0usize..2).prop_map(|l| Filter::CryptographicLength([128, 256][l])),
        (0u8..3).prop_map(|g| Filter::ObjectGroup(format!("g{g}"))),
        (0u8..2).prop_map(|l| Filter::Link {
            link_type: LinkType::ParentLink,
            linked_object_identifier: format!("u{l}"),
        }),
        prop::option::of(0u8..2).prop_map(|d| Filter::ApplicationSpecificInformation {
            application_namespace: "ns".into(),
            application_data: d.map(|d| format!("d{d}")),
        }),
        (0i32..2).prop_map(|v| Filter::Vendor {
            vendor_identification: "x".into(),
            attribute_name: "tag".into(),
            value: kmipd::store::memory::vendor_value_bytes(&Value::Integer(v)),
        }),
        (-3i64..3, -3i64..3).prop_map(|(from, to)| Filter::DateRange {
            tag: Tag::ActivationDate,
            from,
            to,
        }),
        (-3i64..4).prop_map(Filter::DueBy),
    ]
}

#[derive(Clone, Debug)]
enum ExpectMode {
    Right,
    Absent,
    Revision(u64),
}

#[derive(Clone, Debug)]
enum Op {
    Commit(Vec<(bool, u8, ExpectMode, Spec)>),
    Get(u8),
    Locate(Vec<Filter>, Option<u8>, usize, Option<usize>),
    Reopen,
}

fn op() -> impl Strategy<Value = Op> {
    let expect = prop_oneof![
        6 => Just(ExpectMode::Right),
        1 => Just(ExpectMode::Absent),
        1 => (0u64..4).prop_map(ExpectMode::Revision),
    ];
    prop_oneof![
        5 => prop::collection::vec((prop::bool::weighted(0.8), 0u8..6, expect, spec()), 1..4)
            .prop_map(Op::Commit),
        2 => (0u8..6).prop_map(Op::Get),
        4 => (
            prop::collection::vec(filter(), 0..3),
            prop::option::of(0u8..2),
            0usize..3,
            prop::option::of(0usize..4)
        )
            .prop_map(|(f, o, off, lim)| Op::Locate(f, o, off, lim)),
        1 => Just(Op::Reopen),
    ]
}

fn same_result<T: PartialEq + std::fmt::Debug>(
    a: Result<T, StoreError>,
    b: Result<T, StoreError>,
    what: &str,
) {
    match (a, b) {
        (Ok(a), Ok(b)) => assert_eq!(a, b, "{what}"),
        (Err(StoreError::Conflict), Err(StoreError::Conflict)) => {}
        (a, b) => panic!("{what}: redb {a:?}, model {b:?}"),
    }
}

fn run_model(ops: Vec<Op>) {
    let dir = tempfile::tempdir().expect("tempdir");
    let provider = FileMasterKey::open_or_create(dir.path().join("keys")).expect("provider");
    let path = dir.path().join("store.redb");
    let mut store = Some(
        RedbStore::open_with_provider(&path, &provider)
            .expect("open")
            .0,
    );
    let model = MemoryStore::new();
    for op in ops {
        let redb = store.as_ref().expect("open store");
        match op {
            Op::Commit(writes) => {
                let set: Vec<Write> = writes
                    .iter()
                    .map(|(is_put, u, mode, spec)| {
                        let uid = format!("u{u}");
                        let expect = match mode {
                            ExpectMode::Right => match model.get(&uid).expect("model get") {
                                Some(o) => Expect::Revision(o.revision),
                                None => Expect::Absent,
                            },
                            ExpectMode::Absent => Expect::Absent,
                            ExpectMode::Revision(r) => Expect::Revision(*r),
                        };
                        if *is_put {
                            Write::Put {
                                object: build(&uid, spec),
                                expect,
                            }
                        } else {
                            Write::Delete {
                                unique_identifier: uid,
                                expect,
                            }
                        }
                    })
                    .collect();
                same_result(
                    redb.commit(WriteSet {
                        writes: set.clone(),
                    }),
                    model.commit(WriteSet { writes: set }),
                    "commit",
                );
            }
            Op::Get(u) => {
                let uid = format!("u{u}");
                same_result(redb.get(&uid), model.get(&uid), "get");
                // Get's attribute-free read is the same object, owner and revision.
                same_result(
                    redb.get_object(&uid),
                    model.get(&uid).map(|o| o.map(StoredObject::from)),
                    "get_object",
                );
            }
            Op::Locate(filters, owner, offset, limit) => {
                let q = Query {
                    filters,
                    owner: owner.map(|o| ["alice", "bob"][o as usize].to_string()),
                    offset,
                    limit,
                    // Every other query also leaves objects of some states out.
                    exclude_states: if offset % 2 == 1 {
                        vec![State::Active, State::Destroyed]
                    } else {
                        vec![]
                    },
                    // And every third counts from the newest (KMIP 2.x's order).
                    newest_first: offset % 3 == 0,
                };
                same_result(redb.locate(&q), model.locate(&q), &format!("{q:?}"));
            }
            Op::Reopen => {
                drop(store.take());
                store = Some(
                    RedbStore::open_with_provider(&path, &provider)
                        .expect("reopen")
                        .0,
                );
            }
        }
        let redb = store.as_ref().expect("open store");
        assert_eq!(redb.count().expect("count"), model.count().expect("count"));
    }
    // At the end, every object and the full Locate agree.
    let redb = store.as_ref().expect("open store");
    same_result(
        redb.locate(&Query::default()),
        model.locate(&Query::default()),
        "all",
    );
    for u in 0..6 {
        let uid = format!("u{u}");
        same_result(redb.get(&uid), model.get(&uid), "final get");
        same_result(
            redb.get_object(&uid),
            model.get(&uid).map(|o| o.map(StoredObject::from)),
            "final get_object",
        );
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]
    #[test]
    fn redb_store_behaves_like_the_model(ops in prop::collection::vec(op(), 1..40)) {
        run_model(ops);
    }
}

// ---------------------------------------------------------------------------------------
// Crash test
// ---------------------------------------------------------------------------------------

const CHILD_ENV: &str = "KMIPD_STORE_CRASH_CHILD";
/// Set for odd rounds: the child takes checkpoints very often.
const CHILD_CHECKPOINTS_ENV: &str = "KMIPD_STORE_CRASH_CHILD_CHECKPOINTS";
const ROUNDS: usize = 20;

fn crash_object(uid: &str, rev_hint: u32) -> ManagedObject {
    let mut o = secret(uid, "alice", key_bytes(rev_hint));
    o.attributes = vec![
        Attribute::Name(Name {
            name_value: format!("name-{uid}"),
            name_type: NameType::UninterpretedTextString,
        }),
        Attribute::Comment(format!("hint {rev_hint}")),
    ];
    o
}

/// The child role: four writer threads creating and updating objects forever, each
/// acknowledged write printed as `ack <uid> <revision>`.
#[test]
fn crash_child() {
    let Some(dir) = std::env::var_os(CHILD_ENV) else {
        return; // not the child: nothing to do
    };
    let dir = Path::new(&dir);
    let provider = FileMasterKey::open_or_create(dir.join("data")).expect("provider");
    let (store, _) =
        RedbStore::open_with_provider(admin::db_path(&dir.join("data")), &provider).expect("open");
    if std::env::var_os(CHILD_CHECKPOINTS_ENV).is_some() {
        // Checkpoints every few dozen batches: the kill then lands as often just after a
        // checkpoint, with the log being overwritten from its start, as in a long run of
        // log records.
        store.set_checkpoint_policy(16 * 1024, Duration::from_millis(20));
    }
    let tag: u64 = RandomState::new().hash_one(std::process::id());
    let out = Mutex::new(std::io::stdout());
    std::thread::scope(|s| {
        for t in 0..4 {
            let (store, out) = (&store, &out);
            s.spawn(move || {
                for i in 0u32.. {
                    let uid = format!("c{tag:x}-{t}-{i}");
                    let mut writes = vec![Write::Put {
                        object: crash_object(&uid, i),
                        expect: Expect::Absent,
                    }];
                    // Every other set also updates this thread's previous object.
                    let prev = format!("c{tag:x}-{t}-{}", i.wrapping_sub(1));
                    let prev_rev = if i > 0 && i % 2 == 0 {
                        let o = store.get(&prev).expect("get").expect("own object");
                        writes.push(Write::Put {
                            object: crash_object(&prev, i),
                            expect: Expect::Revision(o.revision),
                        });
                        Some(o.revision + 1)
                    } else {
                        None
                    };
                    // Each write set carries its audit records, committed with it.
                    let audit = writes
                        .iter()
                        .map(|w| match w {
                            Write::Put { object, expect } => store_common::audit_event(
                                if *expect == Expect::Absent {
                                    "Register"
                                } else {
                                    "Modify Attribute"
                                },
                                &object.unique_identifier,
                            ),
                            Write::Delete {
                                unique_identifier, ..
                            } => store_common::audit_event("Destroy", unique_identifier),
                        })
                        .collect();
                    store
                        .commit_audited(WriteSet { writes }, audit)
                        .expect("commit");
                    let mut out = out.lock().expect("stdout");
                    let _ = writeln!(out, "ack {uid} 1");
                    if let Some(r) = prev_rev {
                        let _ = writeln!(out, "ack {prev} {r}");
                    }
                    let _ = out.flush();
                }
            });
        }
    });
}

#[test]
fn acknowledged_writes_survive_sigkill() {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("data");
    let provider = FileMasterKey::open_or_create(&data).expect("provider");
    admin::init(&data, &provider).expect("init");
    drop(provider);
    let random = RandomState::new();
    let started = Instant::now();
    let mut acked: HashMap<String, u64> = HashMap::new();
    let mut replayed_rounds = 0;
    for round in 0..ROUNDS {
        let mut child = Command::new(std::env::current_exe().expect("current exe"))
            .args([
                "--exact",
                "crash_child",
                "--nocapture",
                "--test-threads",
                "1",
            ])
            .env(CHILD_ENV, dir.path())
            .envs((round % 2 == 1).then_some((CHILD_CHECKPOINTS_ENV, "1")))
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn child");
        let stdout = child.stdout.take().expect("stdout");
        let lines = Arc::new(Mutex::new(Vec::<String>::new()));
        let reader = {
            let lines = lines.clone();
            std::thread::spawn(move || {
                for line in BufReader::new(stdout).lines() {
                    let Ok(line) = line else { break };
                    if line.starts_with("ack ") {
                        lines.lock().expect("lines").push(line);
                    }
                }
            })
        };
        // Wait for the first acknowledgement, then a random 0..300 ms more.
        let deadline = Instant::now() + Duration::from_secs(30);
        while lines.lock().expect("lines").is_empty() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(5));
        }
        let delay = random.hash_one(round) % 300;
        std::thread::sleep(Duration::from_millis(delay));
        child.kill().expect("SIGKILL");
        child.wait().expect("wait");
        reader.join().expect("reader");
        let lines = std::mem::take(&mut *lines.lock().expect("lines"));
        assert!(
            !lines.is_empty(),
            "round {round}: the child acknowledged nothing"
        );
        for line in &lines {
            let mut parts = line.split_whitespace().skip(1);
            let (Some(uid), Some(rev)) = (parts.next(), parts.next()) else {
                continue; // a line cut by the kill
            };
            let Ok(rev) = rev.parse::<u64>() else {
                continue;
            };
            let e = acked.entry(uid.to_string()).or_insert(0);
            *e = (*e).max(rev);
        }

        // Restart: the database opens, every acknowledged write is there, every object is
        // whole (its attributes decode, its material opens, its indexes agree).
        let provider = FileMasterKey::open_or_create(&data).expect("provider");
        let (store, _) =
            RedbStore::open_with_provider(admin::db_path(&data), &provider).expect("reopen");
        let replayed = store.stats().replayed_records;
        if replayed > 0 {
            replayed_rounds += 1;
        }
        for (uid, rev) in &acked {
            let o = store
                .get(uid)
                .expect("get")
                .unwrap_or_else(|| panic!("round {round}: acknowledged {uid} lost"));
            assert!(
                o.revision >= *rev,
                "round {round}: {uid} at {} < {rev}",
                o.revision
            );
        }
        let all = store.locate(&Query::default()).expect("locate all");
        // The audit chain is whole, and no object exists without the record of its creation
        // (they were committed together).
        let audit = kmipd::store::verify_audit(&store)
            .unwrap_or_else(|e| panic!("round {round}: audit chain: {e}"));
        let audited: std::collections::HashSet<String> = store
            .audit_records(1, usize::MAX)
            .expect("audit records")
            .iter()
            .map(|(seq, bytes)| {
                kmipd::audit::AuditRecord::from_bytes(*seq, bytes)
                    .expect("audit record")
                    .event
            })
            .filter(|e| e.operation == "Register")
            .flat_map(|e| e.unique_identifiers)
            .collect();
        for uid in &all.unique_identifiers {
            assert!(
                audited.contains(uid),
                "round {round}: {uid} exists without its audit record"
            );
        }
        assert!(audit.records >= all.total as u64);
        assert_eq!(all.total as u64, store.count().expect("count"));
        for uid in &all.unique_identifiers {
            let o = store.get(uid).expect("whole object").expect("present");
            assert!(o.object.is_some(), "{uid} lost its material");
            let name = format!("name-{uid}");
            assert_eq!(
                store_common::by_name(&store, &name),
                vec![uid.clone()],
                "round {round}: index of {uid}"
            );
        }
        eprintln!(
            "round {round}: killed after {delay} ms, {} acknowledged so far, {} objects, \
             {replayed} log records replayed",
            acked.len(),
            all.total
        );
    }
    // The kills must have exercised recovery from the write-ahead log, not only clean
    // checkpoints.
    assert!(
        replayed_rounds >= ROUNDS / 2,
        "only {replayed_rounds} of {ROUNDS} restarts replayed the log"
    );
    assert!(started.elapsed() < Duration::from_secs(600));
}
