//! The redb implementation of [`ObjectStore`]: one file, `kmipd.redb`, in the data directory.
//!
//! - **Records**: `objects` maps a Unique Identifier to its record: creation sequence,
//!   revision, Object Type, owner, the attributes as a TTLV `Attributes` structure (in
//!   clear: metadata), and the object's TTLV sealed by the [`MaterialSealer`] with the UID as
//!   authenticated data. Key bytes are encoded into a zeroizing buffer and sealed on the
//!   writer's thread; they never reach redb in clear.
//! - **Locate** is answered from secondary index tables (one per filter kind, plus owner),
//!   whose keys end in the creation sequence; see [`locate`]. It never scans all objects when
//!   a filter or an owner is given.
//! - **Writes** go through the group committer ([`committer`]): durable before acknowledged,
//!   many writers per fsync. A batch is made durable by one record appended to the
//!   write-ahead log ([`wal`], `kmipd.wal` beside the database), then committed to redb
//!   without an fsync; periodic checkpoints make the database file itself durable, and
//!   opening the database replays what the log holds beyond it. Readers use redb read
//!   transactions and never wait.
//! - **Schema**: [`schema`], documented byte by byte in `docs/storage.md`. A file with a newer
//!   schema version than [`schema::SCHEMA_VERSION`] is refused.
//!
//! This module imports redb and the KMIP types it stores; nothing of the wire protocol.

pub mod committer;
mod locate;
pub mod schema;
pub mod wal;

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

use redb::{Database, ReadableDatabase, ReadableTableMetadata};
use zeroize::Zeroizing;

use self::committer::{AdminJob, Job, PreparedPut, PreparedWrite, Shared};
use self::schema::Record;
use super::{
    CommitWait, Located, ManagedObject, MaterialSealer, ObjectStore, Query, StoreError,
    StoredObject, Write, WriteSet,
};
use crate::audit::{AuditEvent, ChainHead};
use crate::crypto::MasterKeyProvider;
use crate::kmip::codec::{Cx, Ttlv};
use crate::kmip::objects::Object;
use crate::kmip::{KmipVersion, ObjectType};
use crate::store::sealer::KeyringSealer;
use crate::ttlv::{Tag, Writer};

/// The database file's name inside the data directory.
pub const DB_FILE: &str = "kmipd.redb";

/// Initial capacity of the buffer an object is encoded into before sealing. Large enough for
/// any symmetric key and RSA-4096 private key, so the buffer does not grow: a grown `Vec`
/// frees its old allocation without wiping it. Larger objects (big certificates) may leave
/// such a copy in freed heap memory, never on disk.
const PLAINTEXT_CAPACITY: usize = 16 * 1024;

pub(crate) fn storage(e: impl Into<redb::Error>) -> StoreError {
    StoreError::Storage(e.into().to_string())
}

fn cx() -> Cx {
    Cx::new(KmipVersion::V2_1)
}

/// Opens (creating if needed) the database file and checks or writes its schema version.
/// Every table is created here, so readers never meet a missing table. What the
/// write-ahead log beside it holds beyond its last durable commit is applied first.
pub fn open_database(path: &Path) -> Result<Database, StoreError> {
    open_database_counting(path).map(|(db, _)| db)
}

/// [`open_database`], and how many log records it replayed.
fn open_database_counting(path: &Path) -> Result<(Database, u64), StoreError> {
    let db = Database::create(path)
        .map_err(|e| StoreError::Storage(format!("opening {}: {}", path.display(), storage(e))))?;
    // Metadata is in clear (key material is sealed): readable by the server's user only.
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))
            .map_err(|e| StoreError::Storage(format!("{}: {e}", path.display())))?;
    }
    let mut txn = db.begin_write().map_err(storage)?;
    txn.set_durability(redb::Durability::Immediate)
        .map_err(|e| StoreError::Storage(e.to_string()))?;
    let found = {
        let meta = txn.open_table(schema::META).map_err(storage)?;
        match redb::ReadableTable::get(&meta, schema::META_SCHEMA_VERSION).map_err(storage)? {
            Some(v) => Some(schema::u32_from(v.value(), "schema version")?),
            None => None,
        }
    };
    match found {
        Some(v) if v == schema::SCHEMA_VERSION => {
            txn.abort().map_err(storage)?;
            let replayed = replay_log(&db, path)?;
            Ok((db, replayed))
        }
        Some(v) if (schema::OLDEST_MIGRATABLE..schema::SCHEMA_VERSION).contains(&v) => {
            txn.abort().map_err(storage)?;
            // The log holds row changes as the build that wrote it made them: replay them
            // into the schema they were made for, then migrate.
            let replayed = replay_log(&db, path)?;
            migrate(&db, v)?;
            tracing::info!(
                from = v,
                to = schema::SCHEMA_VERSION,
                "migrated the store's schema"
            );
            Ok((db, replayed))
        }
        Some(v) if v > schema::SCHEMA_VERSION => Err(StoreError::Storage(format!(
            "{} has schema version {v}, newer than the {} this kmipd supports: \
             upgrade kmipd",
            path.display(),
            schema::SCHEMA_VERSION
        ))),
        Some(v) => Err(StoreError::Storage(format!(
            "{} has schema version {v}, which this kmipd cannot migrate",
            path.display()
        ))),
        None => {
            {
                let mut meta = txn.open_table(schema::META).map_err(storage)?;
                meta.insert(
                    schema::META_SCHEMA_VERSION,
                    schema::SCHEMA_VERSION.to_be_bytes().as_slice(),
                )
                .map_err(storage)?;
                txn.open_table(schema::OBJECTS).map_err(storage)?;
                txn.open_table(schema::SEQUENCE).map_err(storage)?;
                txn.open_table(schema::STORE_KEYS).map_err(storage)?;
                txn.open_table(schema::INDEX).map_err(storage)?;
                txn.open_table(schema::AUDIT).map_err(storage)?;
            }
            txn.commit().map_err(storage)?;
            // A new database has no log: one left beside it belongs to a file that is gone.
            let log = wal::path_for(path);
            match std::fs::remove_file(&log) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => {
                    return Err(StoreError::Storage(format!(
                        "removing the stale {}: {e}",
                        log.display()
                    )));
                }
            }
            Ok((db, 0))
        }
    }
}

/// Applies what the write-ahead log beside `path` holds beyond the database's last durable
/// commit (after a crash), in one durable commit.
fn replay_log(db: &Database, path: &Path) -> Result<u64, StoreError> {
    let log = wal::path_for(path);
    let recovered = wal::recover(&log)?;
    if recovered.records.is_empty() && recovered.beyond.is_empty() {
        return Ok(0);
    }
    let mut txn = db.begin_write().map_err(storage)?;
    txn.set_durability(redb::Durability::Immediate)
        .map_err(|e| StoreError::Storage(e.to_string()))?;
    let (applied, last) = wal::replay(&txn, recovered, &log)?;
    txn.commit().map_err(storage)?;
    if applied > 0 {
        tracing::info!(
            records = applied,
            last,
            "replayed the write-ahead log after an unclean stop"
        );
    }
    Ok(applied)
}

/// Brings a database of schema `from` (at least [`schema::OLDEST_MIGRATABLE`]) to
/// [`schema::SCHEMA_VERSION`] in one durable transaction: 2 → 3 adds the `due` index
/// (id 13) entry of every object whose dates will change its state.
fn migrate(db: &Database, from: u32) -> Result<(), StoreError> {
    let mut txn = db.begin_write().map_err(storage)?;
    txn.set_durability(redb::Durability::Immediate)
        .map_err(|e| StoreError::Storage(e.to_string()))?;
    {
        let objects = txn.open_table(schema::OBJECTS).map_err(storage)?;
        let mut index = txn.open_table(schema::INDEX).map_err(storage)?;
        if from < 4 {
            // The `due` index is rebuilt: schema 2 has none, schema 3's leaves out automatic
            // rotations.
            let due = schema::Index::Due.prefix();
            let stale: Vec<Vec<u8>> = redb::ReadableTable::range(&index, due.as_slice()..)
                .map_err(storage)?
                .map(|e| e.map(|(k, _)| k.value().to_vec()))
                .take_while(|k| k.as_ref().map_or(true, |k| k.starts_with(&due)))
                .collect::<Result<_, _>>()
                .map_err(storage)?;
            for k in stale {
                index.remove(k.as_slice()).map_err(storage)?;
            }
            for row in redb::ReadableTable::iter(&objects).map_err(storage)? {
                let (_, value) = row.map_err(storage)?;
                let record = Record::from_bytes(value.value())?;
                let attributes = committer::decode_attributes(&record.attributes)?;
                if let Some(t) = super::due(&attributes) {
                    index
                        .insert(schema::due_key(t, record.seq).as_slice(), ())
                        .map_err(storage)?;
                }
            }
        }
        let mut meta = txn.open_table(schema::META).map_err(storage)?;
        meta.insert(
            schema::META_SCHEMA_VERSION,
            schema::SCHEMA_VERSION.to_be_bytes().as_slice(),
        )
        .map_err(storage)?;
    }
    txn.commit().map_err(storage)
}

/// The last log record the database holds (`meta["wal_lsn"]`, 0 when none).
fn durable_lsn(db: &Database) -> Result<u64, StoreError> {
    let txn = db.begin_read().map_err(storage)?;
    let meta = txn.open_table(schema::META).map_err(storage)?;
    match redb::ReadableTable::get(&meta, schema::META_WAL_LSN).map_err(storage)? {
        Some(v) => schema::u64_from(v.value(), "wal lsn"),
        None => Ok(0),
    }
}

/// The end of the committed audit chain held in `db`.
pub fn audit_head_in(db: &Database) -> Result<ChainHead, StoreError> {
    let txn = db.begin_read().map_err(storage)?;
    let meta = txn.open_table(schema::META).map_err(storage)?;
    match redb::ReadableTable::get(&meta, schema::META_AUDIT_HEAD).map_err(storage)? {
        Some(v) => ChainHead::from_bytes(v.value())
            .map_err(|e| StoreError::Corrupt(format!("audit head: {e}"))),
        None => Ok(ChainHead::GENESIS),
    }
}

/// Audit records of `db` with sequence `from` onwards, at most `limit`, as stored.
pub fn audit_records_in(
    db: &Database,
    from: u64,
    limit: usize,
) -> Result<Vec<(u64, Vec<u8>)>, StoreError> {
    let txn = db.begin_read().map_err(storage)?;
    let audit = txn.open_table(schema::AUDIT).map_err(storage)?;
    let mut out = Vec::new();
    for entry in redb::ReadableTable::range(&audit, from..)
        .map_err(storage)?
        .take(limit)
    {
        let (k, v) = entry.map_err(storage)?;
        out.push((k.value(), v.value().to_vec()));
    }
    Ok(out)
}

/// Verifies the audit chain held in `db` against its stored head, streaming the records.
pub fn verify_audit_in(db: &Database) -> Result<crate::audit::VerifyReport, StoreError> {
    use crate::audit::AuditError;
    let head = audit_head_in(db)?;
    let txn = db.begin_read().map_err(storage)?;
    let audit = txn.open_table(schema::AUDIT).map_err(storage)?;
    let records = redb::ReadableTable::iter(&audit)
        .map_err(storage)?
        .map(|entry| {
            entry
                .map(|(k, v)| (k.value(), v.value().to_vec()))
                .map_err(|e| AuditError::Read(e.to_string()))
        });
    crate::audit::verify(records, Some(head))
        .map_err(|e| StoreError::Corrupt(format!("audit log: {e}")))
}

/// Counters for tests and metrics.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct StoreStats {
    /// Batches the committer made durable (by a log record or a durable redb commit).
    pub commits: u64,
    /// Write sets committed (each acknowledged write set counts once).
    pub committed_sets: u64,
    /// Index and table rows Locate has examined since open.
    pub locate_rows_examined: u64,
    /// Write-ahead log records applied when the database was opened (non-zero only after
    /// an unclean stop).
    pub replayed_records: u64,
    /// Reads that waited for a batch answered before its commit (see
    /// [`committer::Shared::wait_visible`]).
    pub visibility_waits: u64,
}

/// The redb object store. Cheap to share behind an `Arc`; dropping it stops the committer
/// after the queued writes are done.
pub struct RedbStore {
    db: Arc<Database>,
    path: PathBuf,
    sealer: Arc<dyn MaterialSealer>,
    shared: Arc<Shared>,
    committer: Mutex<Option<JoinHandle<()>>>,
    rows_examined: AtomicU64,
    replayed: u64,
}

impl std::fmt::Debug for RedbStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedbStore")
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

impl RedbStore {
    /// Opens the database at `path` (created if absent) with an explicit sealer.
    pub fn open(
        path: impl AsRef<Path>,
        sealer: Arc<dyn MaterialSealer>,
    ) -> Result<Self, StoreError> {
        let path = path.as_ref();
        let (db, replayed) = open_database_counting(path)?;
        let mut store = Self::from_database(db, path, sealer)?;
        store.replayed = replayed;
        Ok(store)
    }

    /// Opens the database at `path` and its keyring: the store keys persisted in it are
    /// unwrapped with `provider` (created and persisted on first open).
    pub fn open_with_provider(
        path: impl AsRef<Path>,
        provider: &dyn MasterKeyProvider,
    ) -> Result<(Self, Arc<KeyringSealer>), StoreError> {
        let path = path.as_ref();
        let (db, replayed) = open_database_counting(path)?;
        let sealer = Arc::new(KeyringSealer::load_or_init(&db, provider)?);
        let mut store = Self::from_database(db, path, sealer.clone())?;
        store.replayed = replayed;
        Ok((store, sealer))
    }

    /// Wraps an already opened (and schema-checked, see [`open_database`]) database.
    pub fn from_database(
        db: Database,
        path: &Path,
        sealer: Arc<dyn MaterialSealer>,
    ) -> Result<Self, StoreError> {
        let lsn = durable_lsn(&db)?;
        let wal = wal::Wal::open(&wal::path_for(path), lsn + 1)?;
        let db = Arc::new(db);
        let shared = Arc::new(Shared::at_lsn(lsn));
        let handle = {
            let db = db.clone();
            let shared = shared.clone();
            std::thread::Builder::new()
                .name("kmipd-committer".into())
                .spawn(move || committer::run(db, shared, wal))
                .map_err(|e| StoreError::Storage(format!("starting the committer: {e}")))?
        };
        Ok(RedbStore {
            db,
            path: path.to_path_buf(),
            sealer,
            shared,
            committer: Mutex::new(Some(handle)),
            rows_examined: AtomicU64::new(0),
            replayed: 0,
        })
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The redb database, for administrative reads (backup), once every write already
    /// answered is visible in it (see [`committer::Shared::wait_visible`]).
    pub fn database(&self) -> Result<&Database, StoreError> {
        self.shared.wait_visible()?;
        Ok(&self.db)
    }

    pub fn stats(&self) -> StoreStats {
        StoreStats {
            commits: self.shared.commits.load(Ordering::Relaxed),
            committed_sets: self.shared.sets.load(Ordering::Relaxed),
            locate_rows_examined: self.rows_examined.load(Ordering::Relaxed),
            replayed_records: self.replayed,
            visibility_waits: self.shared.visibility_waits.load(Ordering::Relaxed),
        }
    }

    /// When the committer takes a checkpoint (a durable redb commit after which the
    /// write-ahead log starts again): once `bytes` of log are written, or `interval` after
    /// the first record since the last one. Defaults: [`wal::CHECKPOINT_BYTES`],
    /// [`wal::CHECKPOINT_INTERVAL`]. Small values make crash tests cross many checkpoints.
    pub fn set_checkpoint_policy(&self, bytes: u64, interval: std::time::Duration) {
        self.shared.checkpoint_bytes.store(bytes, Ordering::Relaxed);
        self.shared.checkpoint_interval_ms.store(
            u64::try_from(interval.as_millis()).unwrap_or(u64::MAX),
            Ordering::Relaxed,
        );
        self.shared.wake.notify_all();
    }

    /// Runs `job` inside a committer transaction (durable when this returns).
    pub(crate) fn run_admin(&self, job: AdminJob) -> Result<u64, StoreError> {
        let (tx, rx) = std::sync::mpsc::sync_channel(1);
        self.shared.submit(Job::Admin(job, tx))?;
        rx.recv()
            .map_err(|_| StoreError::Storage("the committer stopped".into()))?
    }

    fn prepare(&self, write: Write) -> Result<PreparedWrite, StoreError> {
        Ok(match write {
            Write::Put { object, expect } => {
                let cx = cx();
                let mut w = Writer::with_capacity(256 + 64 * object.attributes.len());
                let open = w.begin(Tag::Attributes);
                for a in &object.attributes {
                    a.write_v2(&mut w, &cx);
                }
                w.end(open);
                let attributes = w.into_inner();
                let sealed = match &object.object {
                    Some(o) => {
                        let mut w = Writer::with_capacity(PLAINTEXT_CAPACITY);
                        o.write(o.tag(), &mut w, &cx);
                        let plaintext = Zeroizing::new(w.into_inner());
                        Some(self.sealer.seal(&object.unique_identifier, &plaintext)?)
                    }
                    None => None,
                };
                let object_type = object.object_type.value();
                let index = schema::index_entries(object_type, &object.owner, &object.attributes);
                PreparedWrite::Put(
                    PreparedPut {
                        unique_identifier: object.unique_identifier,
                        object_type,
                        owner: object.owner,
                        attributes,
                        sealed,
                        index,
                    },
                    expect,
                )
            }
            Write::Delete {
                unique_identifier,
                expect,
            } => PreparedWrite::Delete(unique_identifier, expect),
        })
    }

    /// The stored record of an object, once every durable write is visible.
    fn record(&self, uid: &str) -> Result<Option<Record>, StoreError> {
        self.shared.wait_visible()?;
        let txn = self.db.begin_read().map_err(storage)?;
        let objects = txn.open_table(schema::OBJECTS).map_err(storage)?;
        match redb::ReadableTable::get(&objects, uid).map_err(storage)? {
            Some(v) => Record::from_bytes(v.value()).map(Some),
            None => Ok(None),
        }
    }

    /// The record's object, its sealed material opened; `None` once destroyed.
    fn open_object(&self, uid: &str, record: &Record) -> Result<Option<Object>, StoreError> {
        let Some(sealed) = &record.sealed else {
            return Ok(None);
        };
        let plaintext = self.sealer.open(uid, sealed)?;
        let item = crate::ttlv::decode(&plaintext)
            .map_err(|e| StoreError::Corrupt(format!("{uid}: object TTLV: {e}")))?;
        Object::read(&item, &cx())
            .map(Some)
            .map_err(|e| StoreError::Corrupt(format!("{uid}: object: {e}")))
    }

    /// Decodes a record into a managed object, opening its material.
    pub(crate) fn materialize(
        &self,
        uid: &str,
        record: Record,
    ) -> Result<ManagedObject, StoreError> {
        let attributes = committer::decode_attributes(&record.attributes)?;
        let object = self.open_object(uid, &record)?;
        Ok(ManagedObject {
            unique_identifier: uid.to_string(),
            object_type: ObjectType::from_u32(record.object_type),
            owner: record.owner,
            attributes,
            object,
            revision: record.revision,
        })
    }
}

impl Drop for RedbStore {
    fn drop(&mut self) {
        if let Ok(mut q) = self.shared.queue.lock() {
            q.shutdown = true;
        }
        self.shared.wake.notify_all();
        if let Ok(mut h) = self.committer.lock()
            && let Some(h) = h.take()
        {
            // A panicked committer has already failed its waiters; nothing to add here.
            drop(h.join());
        }
    }
}

impl ObjectStore for RedbStore {
    fn stats(&self) -> Option<StoreStats> {
        Some(RedbStore::stats(self))
    }

    fn get(&self, unique_identifier: &str) -> Result<Option<ManagedObject>, StoreError> {
        match self.record(unique_identifier)? {
            Some(record) => self.materialize(unique_identifier, record).map(Some),
            None => Ok(None),
        }
    }

    fn get_object(&self, unique_identifier: &str) -> Result<Option<StoredObject>, StoreError> {
        let Some(record) = self.record(unique_identifier)? else {
            return Ok(None);
        };
        // Fresh, Sensitive, Extractable and Key Format Type are read from the attributes
        // without decoding the rest of them.
        let flag = |tag: Tag| {
            crate::ttlv::find_child(&record.attributes, tag).and_then(|i| match i.value {
                crate::ttlv::Value::Boolean(b) => Some(b),
                _ => None,
            })
        };
        Ok(Some(StoredObject {
            unique_identifier: unique_identifier.to_string(),
            object_type: ObjectType::from_u32(record.object_type),
            object: self.open_object(unique_identifier, &record)?,
            owner: record.owner,
            revision: record.revision,
            fresh: flag(Tag::Fresh) == Some(true),
            sensitive: flag(Tag::Sensitive) == Some(true),
            extractable: flag(Tag::Extractable) != Some(false),
            key_format_type: crate::ttlv::find_child(&record.attributes, Tag::KeyFormatType)
                .and_then(|i| match i.value {
                    crate::ttlv::Value::Enumeration(f) => {
                        Some(crate::kmip::KeyFormatType::from_u32(f))
                    }
                    _ => None,
                }),
        }))
    }

    fn locate(&self, query: &Query) -> Result<Located, StoreError> {
        self.shared.wait_visible()?;
        let txn = self.db.begin_read().map_err(storage)?;
        let (located, rows) = locate::locate(&txn, query)?;
        self.rows_examined.fetch_add(rows, Ordering::Relaxed);
        Ok(located)
    }

    fn submit_audited(
        &self,
        writes: WriteSet,
        audit: Vec<AuditEvent>,
    ) -> Result<CommitWait, StoreError> {
        let prepared = writes
            .writes
            .into_iter()
            .map(|w| self.prepare(w))
            .collect::<Result<Vec<_>, _>>()?;
        let (tx, rx) = tokio::sync::oneshot::channel();
        self.shared.submit(Job::Set(prepared, audit, tx))?;
        Ok(rx)
    }

    fn record(&self, events: Vec<AuditEvent>) -> Result<(), StoreError> {
        if events.is_empty() {
            return Ok(());
        }
        self.shared.record(events)
    }

    fn audit_records(&self, from: u64, limit: usize) -> Result<Vec<(u64, Vec<u8>)>, StoreError> {
        audit_records_in(self.database()?, from, limit)
    }

    fn audit_head(&self) -> Result<ChainHead, StoreError> {
        audit_head_in(self.database()?)
    }

    fn count(&self) -> Result<u64, StoreError> {
        self.shared.wait_visible()?;
        let txn = self.db.begin_read().map_err(storage)?;
        let objects = txn.open_table(schema::OBJECTS).map_err(storage)?;
        objects.len().map_err(storage)
    }
}
