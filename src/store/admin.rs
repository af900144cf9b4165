//! Administrative operations on the redb store, for the command line (`kmipd init`,
//! `backup`, `restore`, `master-key rotate`, `store-key rotate`).
//!
//! # For the CLI author
//!
//! Every function returns a report (plain data, no secrets) or a [`StoreError`] whose
//! `Display` says what failed and, where there is one, what to do. Suggested wiring:
//!
//! | command | call | print on success | exit code on error |
//! |---|---|---|---|
//! | `kmipd init [--hsm]` | [`init`] | `initialised <db_path>: store key v<store_key_version> wrapped by master key v<master_version> (<provider.describe()>)` | 1; "already initialised" when the store exists |
//! | `kmipd backup FILE` | [`backup`] (server running: through its store) or [`backup_offline`] | `backup written to FILE: <objects> objects, <store_keys> store keys (key material stays sealed; the master key is NOT in the backup)` | 1; refuses an existing FILE |
//! | `kmipd restore FILE` | [`restore`] | `restored <objects> objects into <db_path>; start kmipd with the same master key` | 1; refuses a non-empty data directory |
//! | `kmipd master-key rotate` | [`rotate_master_key`] | `master key is now version <n>; <k> store keys re-wrapped` | 1 |
//! | `kmipd store-key rotate` | [`rotate_store_key`] with a progress bar fed by `progress(done, total)` | `store key v<version>: <count> objects re-sealed` | 1; running it again resumes an interrupted rotation |
//!
//! Exit code 0 on success, 1 on any error, 2 for usage errors (clap's). Print the error
//! with `{}` (never `{:?}` of a keyring or store: those are redacted anyway, but say less).
//!
//! The data directory holds one database file, [`DB_FILE`](super::redb::DB_FILE). With the
//! `file` master key provider the master key files live beside it: a backup does *not*
//! contain them, and they must be saved separately (and apart) for a restore to be usable.
//!
//! # Crash behaviour
//!
//! - `init` commits the store key record durably before returning; a crash before leaves an
//!   empty store that the next `init` or start completes.
//! - `backup` writes `FILE.partial` and renames it to `FILE` once durable: `FILE` is either
//!   absent or complete.
//! - `restore` copies to `kmipd.redb.partial`, syncs, renames, and then opens the result to
//!   check its schema; a failed check removes it.
//! - Master key rotation creates the new master key version first, then replaces every store
//!   key record in one transaction: before it, the records still unwrap under the old version.
//! - Store key rotation commits the new store key record and a position record together, then
//!   re-seals objects in batches of [`RESEAL_BATCH`], each batch committed with its new
//!   position; after a crash, running it again resumes from the position. It finishes with a
//!   verification pass, which catches objects written under the old key while it ran.

use std::fs;
use std::os::unix::fs::DirBuilderExt;
use std::path::{Path, PathBuf};

use redb::{Database, ReadableDatabase, ReadableTable, ReadableTableMetadata};

use super::StoreError;
use super::redb::schema::{self, Record};
use super::redb::{DB_FILE, RedbStore, open_database, storage, verify_audit_in};
use super::sealer::{KeyringSealer, read_store_keys, write_store_keys};
use crate::audit::ChainHead;
use crate::crypto::{Keyring, MasterKeyProvider};

/// Objects re-sealed per transaction during store key rotation.
pub const RESEAL_BATCH: usize = 256;
/// Rows copied per transaction into a backup file.
const BACKUP_CHUNK: usize = 20_000;

/// The database file of a data directory.
pub fn db_path(data_dir: &Path) -> PathBuf {
    data_dir.join(DB_FILE)
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InitReport {
    pub db_path: PathBuf,
    pub store_key_version: u32,
    pub master_version: u32,
}

/// Creates the data directory (0700) and an empty store whose first store key is wrapped by
/// `provider`'s current master key. Refuses a directory that already has a store.
pub fn init(data_dir: &Path, provider: &dyn MasterKeyProvider) -> Result<InitReport, StoreError> {
    fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(data_dir)
        .map_err(|e| io("creating", data_dir, e))?;
    let path = db_path(data_dir);
    let existed = path.exists();
    let db = open_database(&path)?;
    if existed && !read_store_keys(&db)?.is_empty() {
        return Err(StoreError::Storage(format!(
            "{} is already initialised",
            path.display()
        )));
    }
    let sealer = KeyringSealer::load_or_init(&db, provider)?;
    let records = read_store_keys(&db)?;
    Ok(InitReport {
        db_path: path,
        store_key_version: sealer.keyring().current_version(),
        master_version: records.last().map_or(0, |r| r.master_version),
    })
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BackupReport {
    pub file: PathBuf,
    pub objects: u64,
    pub store_keys: u64,
    /// Audit records copied (the chain is verified in the copy).
    pub audit_records: u64,
    /// The head of the copied audit chain.
    pub audit_head: ChainHead,
}

/// A consistent snapshot of a running store: one read transaction copied into a fresh redb
/// file. Material stays sealed; the store key records stay wrapped.
pub fn backup(store: &RedbStore, out: &Path) -> Result<BackupReport, StoreError> {
    snapshot(store.database()?, out)
}

/// [`backup`] of a store no process has open.
pub fn backup_offline(db: &Path, out: &Path) -> Result<BackupReport, StoreError> {
    if !db.is_file() {
        return Err(StoreError::Storage(format!(
            "{} does not exist",
            db.display()
        )));
    }
    let db = open_database(db)?;
    snapshot(&db, out)
}

macro_rules! copy_table {
    ($src:expr, $dst:expr, $def:expr, $count:ident, |$k:ident, $v:ident| $key:expr, $val:expr) => {{
        let src = $src.open_table($def).map_err(storage)?;
        let mut txn = $dst.begin_write().map_err(storage)?;
        txn.set_durability(redb::Durability::None)
            .map_err(|e| StoreError::Storage(e.to_string()))?;
        let mut n = 0usize;
        let mut $count = 0u64;
        {
            let mut t = txn.open_table($def).map_err(storage)?;
            for entry in src.iter().map_err(storage)? {
                let ($k, $v) = entry.map_err(storage)?;
                t.insert($key, $val).map_err(storage)?;
                $count += 1;
                n += 1;
                if n == BACKUP_CHUNK {
                    n = 0;
                    drop(t);
                    txn.commit().map_err(storage)?;
                    txn = $dst.begin_write().map_err(storage)?;
                    txn.set_durability(redb::Durability::None)
                        .map_err(|e| StoreError::Storage(e.to_string()))?;
                    t = txn.open_table($def).map_err(storage)?;
                }
            }
        }
        txn.commit().map_err(storage)?;
        $count
    }};
}

fn snapshot(db: &Database, out: &Path) -> Result<BackupReport, StoreError> {
    if out.exists() {
        return Err(StoreError::Storage(format!(
            "{} exists: choose a new backup file name",
            out.display()
        )));
    }
    let mut partial = out.as_os_str().to_owned();
    partial.push(".partial");
    let partial = PathBuf::from(partial);
    if partial.exists() {
        fs::remove_file(&partial).map_err(|e| io("removing", &partial, e))?;
    }
    let src = db.begin_read().map_err(storage)?;
    let copied = (|| {
        let dst = Database::create(&partial).map_err(storage)?;
        copy_table!(src, dst, schema::META, _m, |k, v| k.value(), v.value());
        let objects = copy_table!(
            src,
            dst,
            schema::OBJECTS,
            count,
            |k, v| k.value(),
            v.value()
        );
        copy_table!(src, dst, schema::SEQUENCE, _s, |k, v| k.value(), v.value());
        let keys = copy_table!(
            src,
            dst,
            schema::STORE_KEYS,
            count,
            |k, v| k.value(),
            v.value()
        );
        copy_table!(src, dst, schema::INDEX, _i, |k, _v| k.value(), ());
        copy_table!(src, dst, schema::AUDIT, _a, |k, v| k.value(), v.value());
        // One durable commit makes everything above durable.
        let mut txn = dst.begin_write().map_err(storage)?;
        txn.set_durability(redb::Durability::Immediate)
            .map_err(|e| StoreError::Storage(e.to_string()))?;
        txn.commit().map_err(storage)?;
        // The copy's audit chain must be whole: a backup of a tampered log is no backup.
        let audit = verify_audit_in(&dst)?;
        Ok::<_, StoreError>((objects, keys, audit))
    })();
    let (objects, store_keys, audit) = match copied {
        Ok(parts) => parts,
        Err(e) => {
            drop(fs::remove_file(&partial));
            return Err(e);
        }
    };
    fs::rename(&partial, out).map_err(|e| io("renaming", &partial, e))?;
    sync_parent(out)?;
    Ok(BackupReport {
        file: out.to_path_buf(),
        objects,
        store_keys,
        audit_records: audit.records,
        audit_head: audit.head,
    })
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RestoreReport {
    pub db_path: PathBuf,
    pub objects: u64,
    pub store_keys: u64,
    /// Audit records restored (the chain is verified before the restore is accepted).
    pub audit_records: u64,
    pub audit_head: ChainHead,
}

/// Restores a backup file into an empty (or absent) data directory.
pub fn restore(backup: &Path, data_dir: &Path) -> Result<RestoreReport, StoreError> {
    if !backup.is_file() {
        return Err(StoreError::Storage(format!(
            "{} does not exist",
            backup.display()
        )));
    }
    if data_dir.exists() {
        let mut entries = fs::read_dir(data_dir).map_err(|e| io("reading", data_dir, e))?;
        if entries.next().is_some() {
            return Err(StoreError::Storage(format!(
                "{} is not empty: restore only into an empty data directory",
                data_dir.display()
            )));
        }
    }
    fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(data_dir)
        .map_err(|e| io("creating", data_dir, e))?;
    let path = db_path(data_dir);
    let partial = data_dir.join(format!("{DB_FILE}.partial"));
    fs::copy(backup, &partial).map_err(|e| io("copying into", &partial, e))?;
    fs::File::open(&partial)
        .and_then(|f| f.sync_all())
        .map_err(|e| io("syncing", &partial, e))?;
    fs::rename(&partial, &path).map_err(|e| io("renaming", &partial, e))?;
    sync_parent(&path)?;
    let checked = (|| {
        let db = Database::open(&path).map_err(storage)?;
        let db = check_schema(db, &path)?;
        let txn = db.begin_read().map_err(storage)?;
        let objects = txn
            .open_table(schema::OBJECTS)
            .map_err(storage)?
            .len()
            .map_err(storage)?;
        let keys = txn
            .open_table(schema::STORE_KEYS)
            .map_err(storage)?
            .len()
            .map_err(storage)?;
        drop(txn);
        let audit = verify_audit_in(&db)?;
        Ok::<_, StoreError>((objects, keys, audit))
    })();
    match checked {
        Ok((objects, store_keys, audit)) => Ok(RestoreReport {
            db_path: path,
            objects,
            store_keys,
            audit_records: audit.records,
            audit_head: audit.head,
        }),
        Err(e) => {
            // Leave the directory as it was: empty.
            drop(fs::remove_file(&path));
            Err(StoreError::Storage(format!(
                "{} is not a usable kmipd backup: {e}",
                backup.display()
            )))
        }
    }
}

fn check_schema(db: Database, path: &Path) -> Result<Database, StoreError> {
    let txn = db.begin_read().map_err(storage)?;
    let meta = txn.open_table(schema::META).map_err(storage)?;
    let v = match meta.get(schema::META_SCHEMA_VERSION).map_err(storage)? {
        Some(v) => schema::u32_from(v.value(), "schema version")?,
        None => {
            return Err(StoreError::Corrupt(format!(
                "{}: no schema version",
                path.display()
            )));
        }
    };
    // An older schema that kmipd migrates is migrated when the store is next opened.
    if !(schema::OLDEST_MIGRATABLE..=schema::SCHEMA_VERSION).contains(&v) {
        return Err(StoreError::Storage(format!(
            "{}: schema version {v}, this kmipd uses {}",
            path.display(),
            schema::SCHEMA_VERSION
        )));
    }
    drop(meta);
    drop(txn);
    Ok(db)
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MasterRotationReport {
    pub master_version: u32,
    pub store_keys_rewrapped: usize,
}

/// Creates a new master key version and re-wraps every store key record under it, in one
/// durable transaction. Works on a running store (`store.database()`) or an offline one.
pub fn rotate_master_key(
    db: &Database,
    provider: &dyn MasterKeyProvider,
) -> Result<MasterRotationReport, StoreError> {
    let records = read_store_keys(db)?;
    if records.is_empty() {
        return Err(StoreError::Storage(
            "the store has no store keys: run `kmipd init` first".into(),
        ));
    }
    let keyring =
        Keyring::load(provider, &records).map_err(|e| StoreError::Sealing(e.to_string()))?;
    let master_version = provider
        .rotate()
        .map_err(|e| StoreError::Sealing(e.to_string()))?;
    let rewrapped = keyring
        .rewrap_all(provider)
        .map_err(|e| StoreError::Sealing(e.to_string()))?;
    write_store_keys(db, &rewrapped)?;
    Ok(MasterRotationReport {
        master_version,
        store_keys_rewrapped: rewrapped.len(),
    })
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoreRotationReport {
    pub store_key_version: u32,
    /// Objects re-sealed (by this run; a resumed rotation counts what it did).
    pub resealed: u64,
    /// Whether this run resumed an interrupted rotation.
    pub resumed: bool,
}

fn rotation_state(db: &Database) -> Result<Option<(u32, u64)>, StoreError> {
    let txn = db.begin_read().map_err(storage)?;
    let meta = txn.open_table(schema::META).map_err(storage)?;
    match meta.get(schema::META_ROTATION).map_err(storage)? {
        Some(v) => schema::rotation_from_bytes(v.value()).map(Some),
        None => Ok(None),
    }
}

/// Rotates the store key online: a new store key becomes current (new writes use it at
/// once), then every object sealed under an older key is re-sealed, [`RESEAL_BATCH`] per
/// transaction, through the store's committer (so it interleaves with client writes; an
/// object changed meanwhile is left to its writer). `progress(done, total)` is called after
/// each batch (`total` is the object count at the start). Resumes an interrupted rotation.
pub fn rotate_store_key(
    store: &RedbStore,
    sealer: &KeyringSealer,
    provider: &dyn MasterKeyProvider,
    mut progress: impl FnMut(u64, u64),
) -> Result<StoreRotationReport, StoreError> {
    let keyring = sealer.keyring();
    let (version, mut position, resumed) = match rotation_state(store.database()?)? {
        Some((version, position)) => {
            if keyring.current_version() != version {
                return Err(StoreError::Sealing(format!(
                    "an interrupted rotation to store key v{version} is recorded, but the \
                     current store key is v{}: restart kmipd, then run the rotation again",
                    keyring.current_version()
                )));
            }
            (version, position, true)
        }
        None => {
            let staged = keyring
                .rotate_store_key(provider)
                .map_err(|e| StoreError::Sealing(e.to_string()))?;
            let version = staged.record().version;
            let record = staged.record().to_bytes();
            store.run_admin(Box::new(move |txn| {
                txn.open_table(schema::STORE_KEYS)
                    .map_err(storage)?
                    .insert(version, record.as_slice())
                    .map_err(storage)?;
                txn.open_table(schema::META)
                    .map_err(storage)?
                    .insert(
                        schema::META_ROTATION,
                        schema::rotation_to_bytes(version, 0).as_slice(),
                    )
                    .map_err(storage)?;
                Ok(0)
            }))?;
            keyring
                .activate(staged)
                .map_err(|e| StoreError::Sealing(e.to_string()))?;
            (version, 0, false)
        }
    };
    let total = {
        use super::ObjectStore;
        store.count()?
    };
    let mut resealed = 0u64;
    let mut done = 0u64;
    // The main pass from the recorded position, then a verification pass from the start.
    for pass in 0..2 {
        if pass == 1 {
            position = 0;
        }
        loop {
            let (batch, last, seen) = next_batch(store, sealer, position)?;
            let Some(last) = last else { break };
            done += seen;
            let n = store.run_admin(Box::new(move |txn| {
                let mut objects = txn.open_table(schema::OBJECTS).map_err(storage)?;
                let mut n = 0;
                for (uid, old, new) in &batch {
                    let current = match objects.get(uid.as_str()).map_err(storage)? {
                        Some(v) => Record::from_bytes(v.value())?,
                        None => continue,
                    };
                    if current.sealed.as_deref() != Some(old.as_slice()) {
                        continue; // changed meanwhile: its writer sealed it afresh
                    }
                    let record = schema::record_bytes(
                        current.seq,
                        current.revision,
                        current.object_type,
                        &current.owner,
                        &current.attributes,
                        Some(new),
                    );
                    objects
                        .insert(uid.as_str(), record.as_slice())
                        .map_err(storage)?;
                    n += 1;
                }
                txn.open_table(schema::META)
                    .map_err(storage)?
                    .insert(
                        schema::META_ROTATION,
                        schema::rotation_to_bytes(version, last).as_slice(),
                    )
                    .map_err(storage)?;
                Ok(n)
            }))?;
            resealed += n;
            position = last;
            progress(done.min(total), total);
        }
    }
    store.run_admin(Box::new(|txn| {
        txn.open_table(schema::META)
            .map_err(storage)?
            .remove(schema::META_ROTATION)
            .map_err(storage)?;
        Ok(0)
    }))?;
    progress(total, total);
    Ok(StoreRotationReport {
        store_key_version: version,
        resealed,
        resumed,
    })
}

type ResealBatch = Vec<(String, Vec<u8>, Vec<u8>)>;

/// The next objects after `position` (creation sequence) that need re-sealing, the last
/// sequence looked at (`None` at the end) and how many objects were looked at.
fn next_batch(
    store: &RedbStore,
    sealer: &KeyringSealer,
    position: u64,
) -> Result<(ResealBatch, Option<u64>, u64), StoreError> {
    let txn = store.database()?.begin_read().map_err(storage)?;
    let sequence = txn.open_table(schema::SEQUENCE).map_err(storage)?;
    let objects = txn.open_table(schema::OBJECTS).map_err(storage)?;
    let mut batch = Vec::new();
    let mut last = None;
    let mut seen = 0;
    let start = position.saturating_add(1);
    for entry in sequence.range(start..).map_err(storage)?.take(RESEAL_BATCH) {
        let (seq, uid) = entry.map_err(storage)?;
        last = Some(seq.value());
        seen += 1;
        let uid = uid.value().to_string();
        let Some(v) = objects.get(uid.as_str()).map_err(storage)? else {
            continue;
        };
        let record = Record::from_bytes(v.value())?;
        if let Some(old) = record.sealed
            && sealer.needs_reseal(&old)?
        {
            let new = sealer.reseal(&uid, &old)?;
            batch.push((uid, old, new));
        }
    }
    Ok((batch, last, seen))
}

fn io(what: &str, path: &Path, e: std::io::Error) -> StoreError {
    StoreError::Storage(format!("{what} {}: {e}", path.display()))
}

fn sync_parent(path: &Path) -> Result<(), StoreError> {
    let parent = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    fs::File::open(parent)
        .and_then(|d| d.sync_all())
        .map_err(|e| io("syncing", parent, e))?;
    Ok(())
}
