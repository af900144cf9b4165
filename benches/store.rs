//! Store benchmarks: get by Unique Identifier and Locate by Name at 10k, 100k and 1M
//! objects, and durable creates per second with 1, 16 and 64 concurrent writers.
//!
//! The databases are built once per size under `target/bench-store/schema-<v>/<size>` and
//! reused by later runs (delete the directory to rebuild). Each object is a Symmetric Key with a
//! unique Name, a few indexed attributes and 32 bytes of sealed key material; the master
//! key is a file key. Run: `cargo bench --bench store`.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use kmipd::crypto::FileMasterKey;
use kmipd::kmip::attributes::{Attribute, Name};
use kmipd::kmip::codec::DateTime;
use kmipd::kmip::objects::{KeyBlock, KeyMaterial, KeyValue, Object, SymmetricKey};
use kmipd::kmip::{CryptographicAlgorithm, KeyBytes, KeyFormatType, NameType, ObjectType, State};
use kmipd::store::{
    Expect, Filter, ManagedObject, ObjectStore, Query, RedbStore, Write, WriteSet, admin,
};

const SIZES: [u64; 3] = [10_000, 100_000, 1_000_000];

/// The store sizes to measure: all of them under `cargo bench`; under `cargo test
/// --all-targets`, which runs each benchmark once as a smoke test without `--bench`, a small
/// one, so the test suite does not build a million objects in a debug build.
fn sizes() -> Vec<u64> {
    if std::env::args().any(|a| a == "--bench") {
        SIZES.to_vec()
    } else {
        vec![1_000]
    }
}
const BUILD_SET: u64 = 10_000;

fn object(uid: String, i: u64) -> ManagedObject {
    let mut key = vec![0u8; 32];
    key[..8].copy_from_slice(&i.to_be_bytes());
    ManagedObject {
        attributes: vec![
            Attribute::UniqueIdentifier(uid.clone()),
            Attribute::ObjectType(ObjectType::SymmetricKey),
            Attribute::Name(Name {
                name_value: format!("key-{i}"),
                name_type: NameType::UninterpretedTextString,
            }),
            Attribute::State(State::Active),
            Attribute::CryptographicAlgorithm(CryptographicAlgorithm::AES),
            Attribute::CryptographicLength(256),
            Attribute::ObjectGroup(format!("group-{}", i % 100)),
            Attribute::InitialDate(DateTime(1_700_000_000 + i as i64)),
        ],
        unique_identifier: uid,
        object_type: ObjectType::SymmetricKey,
        owner: "bench".into(),
        object: Some(Object::SymmetricKey(SymmetricKey {
            key_block: KeyBlock {
                key_format_type: KeyFormatType::Raw,
                key_compression_type: None,
                key_value: Some(KeyValue::Plain {
                    key_material: KeyMaterial::Bytes(KeyBytes::new(key)),
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

fn uid(i: u64) -> String {
    format!("{i:016x}-0000-4000-8000-bench")
}

fn open(dir: &Path) -> (RedbStore, FileMasterKey) {
    let provider = FileMasterKey::open_or_create(dir).expect("provider");
    let (store, _) =
        RedbStore::open_with_provider(admin::db_path(dir), &provider).expect("open store");
    (store, provider)
}

/// Reads the database file once, so that it is in the OS page cache as a running server's
/// would be: the lookups then measure the B-tree depth, not whether an earlier run (or
/// another job) pushed the file out of memory. Without this, the 1M figure after a cold
/// start measures the disk (≈ 38 µs here against ≈ 10 µs warm).
fn warm(path: &Path) {
    use std::io::Read;
    let mut f = std::fs::File::open(path).expect("db file");
    let mut buf = vec![0u8; 1 << 20];
    while f.read(&mut buf).expect("read db") > 0 {}
}

/// Opens the database of `size` objects, building it if needed.
fn sized(size: u64) -> RedbStore {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("target/bench-store")
        .join(format!(
            "schema-{}",
            kmipd::store::redb::schema::SCHEMA_VERSION
        ))
        .join(size.to_string());
    if dir.exists() {
        let (store, _) = open(&dir);
        if store.count().expect("count") == size {
            warm(&admin::db_path(&dir));
            return store;
        }
        drop(store);
        std::fs::remove_dir_all(&dir).expect("remove stale bench db");
    }
    let (store, _) = open(&dir);
    let started = Instant::now();
    let mut i = 0;
    while i < size {
        let end = (i + BUILD_SET).min(size);
        let writes = (i..end)
            .map(|k| Write::Put {
                object: object(uid(k), k),
                expect: Expect::Absent,
            })
            .collect();
        store.commit(WriteSet { writes }).expect("build commit");
        i = end;
    }
    eprintln!("built {size} objects in {:.1?}", started.elapsed());
    store
}

fn lookups(c: &mut Criterion) {
    for size in sizes() {
        let store = sized(size);
        let mut g = c.benchmark_group(format!("store/{size}"));
        g.measurement_time(Duration::from_secs(4));
        g.warm_up_time(Duration::from_secs(1));
        // A stride through the keys, so caches see a spread of objects.
        let mut k = 0u64;
        g.bench_function("get_by_uid", |b| {
            b.iter(|| {
                k = (k + 7_919) % size;
                store.get(&uid(k)).expect("get").expect("present")
            })
        });
        let mut k = 0u64;
        g.bench_function("locate_by_name", |b| {
            b.iter(|| {
                k = (k + 7_919) % size;
                let r = store
                    .locate(&Query {
                        filters: vec![Filter::Name(format!("key-{k}"))],
                        ..Query::default()
                    })
                    .expect("locate");
                assert_eq!(r.total, 1);
                r
            })
        });
        g.finish();
    }
}

fn creates(c: &mut Criterion) {
    let mut g = c.benchmark_group("store/durable_creates");
    g.throughput(Throughput::Elements(1));
    g.measurement_time(Duration::from_secs(8));
    g.warm_up_time(Duration::from_secs(2));
    g.sample_size(10);
    for writers in [1u64, 16, 64] {
        let dir = tempfile::tempdir().expect("tempdir");
        let (store, _) = open(dir.path());
        let store = Arc::new(store);
        let mut next = 0u64;
        g.bench_function(format!("{writers}_writers"), |b| {
            b.iter_custom(|iters| {
                let base = next;
                next += iters;
                let started = Instant::now();
                std::thread::scope(|s| {
                    for w in 0..writers {
                        let store = &store;
                        s.spawn(move || {
                            let mut k = base + w;
                            while k < base + iters {
                                store
                                    .commit(WriteSet {
                                        writes: vec![Write::Put {
                                            object: object(uid(k), k),
                                            expect: Expect::Absent,
                                        }],
                                    })
                                    .expect("create");
                                k += writers;
                            }
                        });
                    }
                });
                started.elapsed()
            })
        });
        let stats = store.stats();
        eprintln!(
            "{writers} writers: {} write sets in {} durable commits ({:.1} per commit)",
            stats.committed_sets,
            stats.commits,
            stats.committed_sets as f64 / stats.commits.max(1) as f64
        );
    }
    g.finish();
}

criterion_group!(benches, lookups, creates);
criterion_main!(benches);
