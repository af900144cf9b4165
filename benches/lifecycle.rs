//! The date sweep (`Kms::sweep_dates`, run by `kmipd serve` every second): what it costs when
//! nothing is due in a large store (the common case, every second), and per object when a
//! batch of keys reaches its Activation Date at once.
//!
//! Objects are Symmetric Keys with 32 bytes of sealed material in a real redb file under a
//! file master key, put straight into the store (one commit per 10,000). The large store's
//! keys are Active with an Activation Date in the past and no Deactivation Date: nothing for
//! the sweep to do, though every one of them has a past date (which is why the sweep reads
//! the `due` index and not the dates). Run: `cargo bench --bench lifecycle`.

use std::sync::Arc;
use std::time::Duration;

use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use kmipd::crypto::FileMasterKey;
use kmipd::kmip::attributes::Attribute;
use kmipd::kmip::codec::DateTime;
use kmipd::kmip::objects::{KeyBlock, KeyMaterial, KeyValue, Object, SymmetricKey};
use kmipd::kmip::{CryptographicAlgorithm, KeyBytes, KeyFormatType, ObjectType, State};
use kmipd::ops::Kms;
use kmipd::store::{Expect, ManagedObject, ObjectStore, RedbStore, Write, WriteSet, admin};

const NOW: i64 = 1_700_000_000;

/// The size of the store with nothing due: 100,000 under `cargo bench`; under `cargo test
/// --all-targets` (one smoke run, debug build) 1,000.
fn store_size() -> u64 {
    if std::env::args().any(|a| a == "--bench") {
        100_000
    } else {
        1_000
    }
}

/// How many keys reach their Activation Date together in the second benchmark.
const DUE: u64 = 1_000;

fn key(uid: String, i: u64, state: State, activation: i64) -> ManagedObject {
    let mut bytes = vec![0u8; 32];
    bytes[..8].copy_from_slice(&i.to_be_bytes());
    ManagedObject {
        attributes: vec![
            Attribute::UniqueIdentifier(uid.clone()),
            Attribute::ObjectType(ObjectType::SymmetricKey),
            Attribute::State(state),
            Attribute::CryptographicAlgorithm(CryptographicAlgorithm::AES),
            Attribute::CryptographicLength(256),
            Attribute::InitialDate(DateTime(NOW - 86_400)),
            Attribute::LastChangeDate(DateTime(NOW - 86_400)),
            Attribute::ActivationDate(DateTime(activation)),
        ],
        unique_identifier: uid,
        object_type: ObjectType::SymmetricKey,
        owner: "bench".into(),
        object: Some(Object::SymmetricKey(SymmetricKey {
            key_block: KeyBlock {
                key_format_type: KeyFormatType::Raw,
                key_compression_type: None,
                key_value: Some(KeyValue::Plain {
                    key_material: KeyMaterial::Bytes(KeyBytes::new(bytes)),
                    attributes: vec![],
                }),
                cryptographic_algorithm: Some(CryptographicAlgorithm::AES),
                cryptographic_length: Some(256),
                key_wrapping_data: None,
            },
        })),
        revision: 0,
    }
}

/// Puts `count` keys made by `make` (from index `first`), 10,000 to a commit.
fn put(store: &RedbStore, first: u64, count: u64, make: impl Fn(u64) -> ManagedObject) {
    let mut i = first;
    while i < first + count {
        let end = (i + 10_000).min(first + count);
        let writes = (i..end)
            .map(|k| Write::Put {
                object: make(k),
                expect: Expect::Absent,
            })
            .collect();
        store.commit(WriteSet { writes }).expect("commit");
        i = end;
    }
}

fn sweep(c: &mut Criterion) {
    let dir = tempfile::tempdir().expect("tempdir");
    let provider = FileMasterKey::open_or_create(dir.path()).expect("master key");
    let (store, _) =
        RedbStore::open_with_provider(admin::db_path(dir.path()), &provider).expect("redb store");
    let store = Arc::new(store);
    let size = store_size();
    put(&store, 0, size, |i| {
        key(format!("active-{i}"), i, State::Active, NOW - 3_600)
    });
    let kms = Kms::new(store.clone());

    let mut g = c.benchmark_group("lifecycle");
    g.warm_up_time(Duration::from_secs(1));
    g.measurement_time(Duration::from_secs(4));
    g.bench_function(format!("sweep_nothing_due_in_{size}"), |b| {
        b.iter(|| assert_eq!(kms.sweep_dates(NOW).expect("sweep"), 0))
    });

    // Each iteration: DUE more Pre-Active keys whose Activation Date has come, then the sweep
    // that activates them (each its own write set and audit record, group-committed).
    let mut next = size;
    g.sample_size(10);
    g.throughput(Throughput::Elements(DUE));
    g.bench_function(format!("sweep_{DUE}_due_in_{size}"), |b| {
        b.iter_batched(
            || {
                put(&store, next, DUE, |i| {
                    key(format!("due-{i}"), i, State::PreActive, NOW - 1)
                });
                next += DUE;
            },
            |()| assert_eq!(kms.sweep_dates(NOW).expect("sweep"), DUE as usize),
            BatchSize::PerIteration,
        )
    });
    g.finish();
}

criterion_group!(benches, sweep);
criterion_main!(benches);
