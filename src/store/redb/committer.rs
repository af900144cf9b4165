//! Group commit: one thread owns every write transaction.
//!
//! Writers prepare their write sets on their own threads (TTLV encoding, sealing, index
//! keys: the expensive part), queue them, and wait. The committer takes *everything* queued,
//! checks each set's [`Expect`]s against the state left by the sets before it in the same
//! transaction, applies the sets that pass, and makes the batch durable once: it appends the
//! batch's row changes to the write-ahead log ([`wal`](super::wal), one `fdatasync`),
//! answers every waiter (the batch is durable), and then commits the transaction with
//! `Durability::None`, which makes it visible to readers. Answering before that commit takes
//! the commit (about 70 µs here) off the writer's path; what keeps it safe is
//! [`Shared::wait_visible`]: every read first waits until every batch already made durable is
//! also committed, so no one who has been told "done" (or heard of the object from someone
//! who was) can read the store without seeing it. The wait is for one commit at most, and
//! only when a read lands between the fsync and the commit. A reader still never sees a
//! write that is not durable. A batch holding an administrative job (store key
//! rotation, whose changes are not logged row by row) is committed with
//! `Durability::Immediate` instead. Checkpoints (durable commits that let the log start
//! again) are taken here too, between batches.
//!
//! A set whose check fails gets `Conflict` and leaves no trace; any other error in a set
//! aborts the transaction, answers that set with the error, and puts the other sets back at
//! the head of the queue, so they are retried in the next transaction (nothing of them was
//! committed). A failure to write the log leaves the log and the database out of step: the
//! committer answers the batch with the error and stops, and the store refuses writes until
//! it is reopened (which replays the log). A failure to commit *after* the batch was
//! answered stops the committer too; the batch is durable in the log and replayed at the
//! next open, and until then reads that would have to see it fail instead of waiting.
//!
//! Readers never come here: they use redb read transactions (MVCC).

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::mpsc::SyncSender;
use std::sync::{Arc, Condvar, Mutex};

use std::time::{Duration, Instant};

use redb::{Database, ReadableTable, Table, WriteTransaction};

use super::schema::{self, IndexPrefix, Record};
use super::storage;
use super::wal::{self, RowTables, TableId, Wal};
use crate::audit::{AuditEvent, ChainHead};
use crate::kmip::KmipVersion;
use crate::kmip::attributes::Attributes;
use crate::kmip::codec::{Cx, Ttlv};
use crate::store::{AUDIT_LINGER, Expect, StoreError};

/// A Put, prepared on the writer's thread.
pub struct PreparedPut {
    pub unique_identifier: String,
    pub object_type: u32,
    pub owner: String,
    pub attributes: Vec<u8>,
    pub sealed: Option<Vec<u8>>,
    pub index: Vec<IndexPrefix>,
}

pub enum PreparedWrite {
    Put(PreparedPut, Expect),
    Delete(String, Expect),
}

/// Work run inside the committer's transaction by administrative tasks (store key
/// rotation); returns a count.
/// rotation); returns a count. `Fn`, not `FnOnce`: a job may run again when its batch is
/// aborted by another job's error.
pub type AdminJob = Box<dyn Fn(&WriteTransaction) -> Result<u64, StoreError> + Send + 'static>;

pub enum Job {
    /// A write set and the audit events committed with it.
    Set(
        Vec<PreparedWrite>,
        Vec<AuditEvent>,
        tokio::sync::oneshot::Sender<Result<Vec<u64>, StoreError>>,
    ),
    Admin(AdminJob, SyncSender<Result<u64, StoreError>>),
    /// Audit events nobody waits for (reads, failures).
    Audit(Vec<AuditEvent>),
}

impl Job {
    fn fail(self, e: StoreError) {
        // A waiter that gave up is not an error of ours.
        match self {
            Job::Set(_, _, reply) => drop(reply.send(Err(e))),
            Job::Admin(_, reply) => drop(reply.send(Err(e))),
            Job::Audit(events) => {
                tracing::error!(error = %e, lost = events.len(), "audit records could not be committed");
            }
        }
    }
}

#[derive(Default)]
pub struct Queue {
    pub jobs: VecDeque<Job>,
    /// Audit events waiting for a write to carry them, and since when.
    pub pending_audit: Vec<AuditEvent>,
    pub pending_since: Option<Instant>,
    pub shutdown: bool,
    /// The committer thread has ended (shut down or panicked): nothing will run new jobs.
    pub stopped: bool,
}

pub struct Shared {
    pub queue: Mutex<Queue>,
    pub wake: Condvar,
    /// Durable commits made.
    pub commits: AtomicU64,
    /// Write sets committed.
    pub sets: AtomicU64,
    /// Checkpoint policy: log bytes, and milliseconds after the first record.
    pub checkpoint_bytes: AtomicU64,
    pub checkpoint_interval_ms: AtomicU64,
    /// The last log record made durable; its batch may have been answered already.
    pub durable_lsn: AtomicU64,
    /// The last log record whose transaction is committed, visible to readers.
    pub visible_lsn: AtomicU64,
    /// The committer thread has ended (shut down, or stopped by a failure): `visible_lsn`
    /// will not move again.
    pub halted: AtomicBool,
    visible_lock: Mutex<()>,
    visible_cv: Condvar,
    /// Readers waiting in [`Shared::wait_visible`].
    visible_waiters: AtomicUsize,
    /// Reads that had to wait for a commit in [`Shared::wait_visible`].
    pub visibility_waits: AtomicU64,
}

impl Default for Shared {
    fn default() -> Self {
        Shared {
            queue: Mutex::default(),
            wake: Condvar::new(),
            commits: AtomicU64::new(0),
            sets: AtomicU64::new(0),
            checkpoint_bytes: AtomicU64::new(wal::CHECKPOINT_BYTES),
            checkpoint_interval_ms: AtomicU64::new(
                u64::try_from(wal::CHECKPOINT_INTERVAL.as_millis()).unwrap_or(u64::MAX),
            ),
            durable_lsn: AtomicU64::new(0),
            visible_lsn: AtomicU64::new(0),
            halted: AtomicBool::new(false),
            visible_lock: Mutex::new(()),
            visible_cv: Condvar::new(),
            visible_waiters: AtomicUsize::new(0),
            visibility_waits: AtomicU64::new(0),
        }
    }
}

impl Shared {
    /// Shared state for a log whose records up to `lsn` are all in the database.
    pub fn at_lsn(lsn: u64) -> Self {
        let shared = Shared::default();
        shared.durable_lsn.store(lsn, Ordering::SeqCst);
        shared.visible_lsn.store(lsn, Ordering::SeqCst);
        shared
    }

    /// Waits until every batch made durable (and so possibly answered) before this call is
    /// committed and visible; call before beginning a read transaction. Nearly always
    /// returns at once: only a read that lands between a batch's fsync and its commit
    /// waits, for that one commit. Fails, rather than waiting forever or reading without
    /// the batch, if the committer stopped in between (the batch is replayed from the log
    /// at the next open).
    pub fn wait_visible(&self) -> Result<(), StoreError> {
        let want = self.durable_lsn.load(Ordering::SeqCst);
        if self.visible_lsn.load(Ordering::SeqCst) >= want {
            return Ok(());
        }
        self.visibility_waits.fetch_add(1, Ordering::Relaxed);
        let mut guard = self.visible_lock.lock().unwrap_or_else(|e| e.into_inner());
        self.visible_waiters.fetch_add(1, Ordering::SeqCst);
        let result = loop {
            if self.visible_lsn.load(Ordering::SeqCst) >= want {
                break Ok(());
            }
            if self.halted.load(Ordering::SeqCst) {
                break Err(StoreError::Storage(
                    "the store stopped after a failed commit; restart kmipd to replay the \
                     write-ahead log"
                        .into(),
                ));
            }
            // The committer notifies; the timeout only guards against a missed notice.
            guard = match self
                .visible_cv
                .wait_timeout(guard, Duration::from_millis(10))
            {
                Ok((g, _)) => g,
                Err(e) => e.into_inner().0,
            };
        };
        self.visible_waiters.fetch_sub(1, Ordering::SeqCst);
        result
    }

    /// Publishes that the batch logged as `lsn` is committed, waking waiting readers.
    fn set_visible(&self, lsn: u64) {
        self.visible_lsn.store(lsn, Ordering::SeqCst);
        if self.visible_waiters.load(Ordering::SeqCst) > 0 {
            let _guard = self.visible_lock.lock().unwrap_or_else(|e| e.into_inner());
            self.visible_cv.notify_all();
        }
    }

    /// Marks the committer ended, failing readers still waiting for a commit (only a
    /// failure leaves one: a clean shutdown commits every batch it answered).
    fn halt(&self) {
        self.halted.store(true, Ordering::SeqCst);
        let _guard = self.visible_lock.lock().unwrap_or_else(|e| e.into_inner());
        self.visible_cv.notify_all();
    }

    /// The queue, locked, if the store still takes work.
    fn open_queue(&self) -> Result<std::sync::MutexGuard<'_, Queue>, StoreError> {
        let q = self
            .queue
            .lock()
            .map_err(|_| StoreError::Storage("commit queue poisoned".into()))?;
        if q.shutdown || q.stopped {
            return Err(StoreError::Storage("the store is closed".into()));
        }
        Ok(q)
    }

    pub fn submit(&self, job: Job) -> Result<(), StoreError> {
        let mut q = self.open_queue()?;
        q.jobs.push_back(job);
        drop(q);
        self.wake.notify_one();
        Ok(())
    }

    /// Queues audit events to be committed with the next batch, or after
    /// [`AUDIT_LINGER`] at the latest; does not wait.
    pub fn record(&self, events: Vec<AuditEvent>) -> Result<(), StoreError> {
        let mut q = self.open_queue()?;
        q.pending_audit.extend(events);
        // The committer learns of a new linger period once; within it, events just pile up.
        let first = q.pending_since.is_none();
        q.pending_since.get_or_insert_with(Instant::now);
        let many = q.pending_audit.len() >= MAX_PENDING_AUDIT;
        drop(q);
        if first || many {
            self.wake.notify_one();
        }
        Ok(())
    }
}

/// Pending audit events beyond which the committer is woken at once.
const MAX_PENDING_AUDIT: usize = 8192;

/// Marks the committer stopped and fails whatever is still queued, however the thread
/// ends (a panic in redb included), so no writer waits forever.
struct StopGuard(Arc<Shared>);

impl Drop for StopGuard {
    fn drop(&mut self) {
        self.0.halt();
        let mut q = self.0.queue.lock().unwrap_or_else(|e| e.into_inner());
        q.stopped = true;
        for job in q.jobs.drain(..) {
            job.fail(StoreError::Storage("the committer stopped".into()));
        }
        if !q.pending_audit.is_empty() {
            let events = std::mem::take(&mut q.pending_audit);
            Job::Audit(events).fail(StoreError::Storage("the committer stopped".into()));
        }
    }
}

/// The committer thread's loop; returns when the store shuts down and the queue is empty
/// (after a last checkpoint), or after a failure that leaves the log and the database out
/// of step.
pub fn run(db: Arc<Database>, shared: Arc<Shared>, mut wal: Wal) {
    let _guard = StopGuard(shared.clone());
    // When the first log record since the last checkpoint was written.
    let mut dirty_since: Option<Instant> = None;
    let interval = || Duration::from_millis(shared.checkpoint_interval_ms.load(Ordering::Relaxed));
    loop {
        let jobs: Vec<Job> = {
            let mut q = match shared.queue.lock() {
                Ok(q) => q,
                Err(_) => return,
            };
            loop {
                let audit_due = !q.pending_audit.is_empty()
                    && (q.shutdown || q.pending_since.is_some_and(|t| t.elapsed() >= AUDIT_LINGER));
                if !q.jobs.is_empty() || audit_due {
                    break;
                }
                if q.shutdown {
                    drop(q);
                    if dirty_since.is_some() {
                        checkpoint(&db, &mut wal);
                    }
                    return;
                }
                let mut timeout: Option<Duration> = None;
                if let Some(t) = dirty_since {
                    let due = interval().saturating_sub(t.elapsed());
                    if due.is_zero() {
                        break; // no jobs: only the checkpoint below
                    }
                    timeout = Some(due);
                }
                if let Some(t) = q.pending_since {
                    let due = AUDIT_LINGER.saturating_sub(t.elapsed());
                    timeout = Some(timeout.map_or(due, |d| d.min(due)));
                }
                q = match timeout {
                    Some(d) => match shared.wake.wait_timeout(q, d) {
                        Ok((q, _)) => q,
                        Err(_) => return,
                    },
                    None => match shared.wake.wait(q) {
                        Ok(q) => q,
                        Err(_) => return,
                    },
                };
            }
            let mut jobs = Vec::with_capacity(q.jobs.len() + 1);
            if !q.pending_audit.is_empty() {
                // Events recorded before these jobs were queued come first in the chain.
                jobs.push(Job::Audit(std::mem::take(&mut q.pending_audit)));
            }
            q.pending_since = None;
            jobs.extend(q.jobs.drain(..));
            jobs
        };
        if !jobs.is_empty() {
            match batch(&db, &shared, &mut wal, jobs) {
                Ok(Durable::Logged) => {
                    dirty_since.get_or_insert_with(Instant::now);
                }
                Ok(Durable::Checkpoint) => dirty_since = None,
                Ok(Durable::Nothing) => {}
                Err(Stop) => return,
            }
        }
        if let Some(t) = dirty_since
            && (wal.written() >= shared.checkpoint_bytes.load(Ordering::Relaxed)
                || t.elapsed() >= interval())
            && checkpoint(&db, &mut wal)
        {
            dirty_since = None;
        }
    }
}

/// A durable redb commit: everything committed so far is in the database file, so the log
/// may start again at offset 0. On failure the log goes on growing and the next
/// checkpoint tries again; nothing is lost, the log still holds every batch since the last
/// checkpoint.
fn checkpoint(db: &Database, wal: &mut Wal) -> bool {
    let result = (|| -> Result<(), StoreError> {
        let mut txn = db.begin_write().map_err(storage)?;
        txn.set_durability(redb::Durability::Immediate)
            .map_err(|e| StoreError::Storage(e.to_string()))?;
        txn.commit().map_err(storage)
    })();
    match result {
        Ok(()) => {
            wal.restart();
            true
        }
        Err(e) => {
            tracing::error!(error = %e, "checkpoint failed; the write-ahead log keeps growing");
            false
        }
    }
}

/// How a batch was made durable.
enum Durable {
    /// By a log record (the database commit is not durable yet).
    Logged,
    /// By a durable database commit: a checkpoint.
    Checkpoint,
    /// Nothing was written (every set conflicted, or the batch was put back).
    Nothing,
}

/// The committer must stop: the log and the database may be out of step.
struct Stop;

enum Outcome {
    Set(Result<Vec<u64>, StoreError>),
    Admin(Result<u64, StoreError>),
    Audit,
}

fn batch(db: &Database, shared: &Shared, wal: &mut Wal, jobs: Vec<Job>) -> Result<Durable, Stop> {
    let mut txn = match db.begin_write() {
        Ok(t) => t,
        Err(e) => {
            let e = storage(e);
            for j in jobs {
                j.fail(StoreError::Storage(e.to_string()));
            }
            return Ok(Durable::Nothing);
        }
    };
    if let Err(e) = txn.set_durability(redb::Durability::None) {
        let msg = e.to_string();
        for j in jobs {
            j.fail(StoreError::Storage(msg.clone()));
        }
        return Ok(Durable::Nothing);
    }
    let mut outcomes: Vec<Outcome> = Vec::with_capacity(jobs.len());
    let mut failed: Option<(usize, StoreError)> = None;
    // The row changes of the sets, for the log.
    let mut log: Vec<u8> = Vec::new();
    let mut has_admin = false;
    {
        // Tables stay open across consecutive sets (opening them per set costs more than
        // the writes); an admin job gets the bare transaction, so they are closed first.
        let mut tables: Option<Tables<'_>> = None;
        for (i, job) in jobs.iter().enumerate() {
            let outcome = match job {
                Job::Set(writes, audit, _) => {
                    let applied =
                        open_tables(&txn, &mut tables).and_then(|t| apply_set(t, writes, audit));
                    match applied {
                        Ok(r) => Outcome::Set(Ok(r)),
                        Err(StoreError::Conflict) => Outcome::Set(Err(StoreError::Conflict)),
                        Err(e) => {
                            failed = Some((i, e));
                            break;
                        }
                    }
                }
                Job::Audit(events) => {
                    match open_tables(&txn, &mut tables).and_then(|t| t.append_audit(events)) {
                        Ok(()) => Outcome::Audit,
                        Err(e) => {
                            failed = Some((i, e));
                            break;
                        }
                    }
                }
                Job::Admin(f, _) => {
                    has_admin = true;
                    if let Some(t) = tables.take() {
                        match t.close() {
                            Ok(rows) => log.extend_from_slice(&rows),
                            Err(e) => {
                                failed = Some((i, e));
                                break;
                            }
                        }
                    }
                    match f(&txn) {
                        Ok(n) => Outcome::Admin(Ok(n)),
                        Err(e) => {
                            failed = Some((i, e));
                            break;
                        }
                    }
                }
            };
            outcomes.push(outcome);
        }
        if failed.is_none()
            && let Some(t) = tables.take()
        {
            match t.close() {
                Ok(rows) => log.extend_from_slice(&rows),
                Err(e) => failed = Some((jobs.len().saturating_sub(1), e)),
            }
        }
    }
    if let Some((i, e)) = failed {
        drop(txn); // abort: nothing of this batch is committed
        let mut retry = Vec::with_capacity(jobs.len());
        let mut error = Some(e);
        for (k, job) in jobs.into_iter().enumerate() {
            if k == i {
                if let Some(e) = error.take() {
                    job.fail(e);
                }
            } else {
                retry.push(job);
            }
        }
        match shared.queue.lock() {
            Ok(mut q) => {
                for job in retry.into_iter().rev() {
                    q.jobs.push_front(job);
                }
            }
            Err(_) => {
                for job in retry {
                    job.fail(StoreError::Storage("commit queue poisoned".into()));
                }
            }
        }
        return Ok(Durable::Nothing);
    }
    let durable = if has_admin {
        // Not logged row by row: the commit itself is durable, and a checkpoint.
        if let Err(e) = txn.set_durability(redb::Durability::Immediate) {
            let msg = e.to_string();
            for job in jobs {
                job.fail(StoreError::Storage(msg.clone()));
            }
            return Ok(Durable::Nothing);
        }
        if let Err(e) = txn.commit() {
            let msg = storage(e).to_string();
            for job in jobs {
                job.fail(StoreError::Storage(msg.clone()));
            }
            return Ok(Durable::Nothing);
        }
        wal.restart();
        Durable::Checkpoint
    } else if log.is_empty() {
        drop(txn.abort());
        Durable::Nothing
    } else {
        let lsn = wal.next_lsn();
        let stamped = txn
            .open_table(schema::META)
            .map_err(storage)
            .and_then(|mut meta| {
                meta.insert(schema::META_WAL_LSN, lsn.to_be_bytes().as_slice())
                    .map(drop)
                    .map_err(storage)
            });
        if let Err(e) = stamped {
            let msg = e.to_string();
            for job in jobs {
                job.fail(StoreError::Storage(msg.clone()));
            }
            return Ok(Durable::Nothing);
        }
        // Durable first, visible second: a reader never sees a write a crash could undo.
        if let Err(e) = wal.append(lsn, &log) {
            drop(txn);
            let msg = format!("writing the write-ahead log: {e}");
            tracing::error!(error = %msg, "the store stops accepting writes");
            for job in jobs {
                job.fail(StoreError::Storage(msg.clone()));
            }
            return Err(Stop);
        }
        // Durable: answer now, commit next (readers wait for the commit, see the module
        // documentation).
        shared.durable_lsn.store(lsn, Ordering::SeqCst);
        shared.commits.fetch_add(1, Ordering::Relaxed);
        answer(shared, jobs, outcomes);
        if let Err(e) = txn.commit() {
            tracing::error!(
                error = %storage(e),
                lsn,
                "commit after logging failed: the store stops accepting writes until reopened \
                 (the answered batch is in the log and is replayed then)"
            );
            return Err(Stop);
        }
        shared.set_visible(lsn);
        return Ok(Durable::Logged);
    };
    if !matches!(durable, Durable::Nothing) {
        shared.commits.fetch_add(1, Ordering::Relaxed);
    }
    answer(shared, jobs, outcomes);
    Ok(durable)
}

/// Answers each job with its outcome.
fn answer(shared: &Shared, jobs: Vec<Job>, outcomes: Vec<Outcome>) {
    for (job, outcome) in jobs.into_iter().zip(outcomes) {
        match (job, outcome) {
            (Job::Audit(_), Outcome::Audit) => {}
            (Job::Set(_, _, reply), Outcome::Set(r)) => {
                if r.is_ok() {
                    shared.sets.fetch_add(1, Ordering::Relaxed);
                }
                drop(reply.send(r));
            }
            (Job::Admin(_, reply), Outcome::Admin(r)) => drop(reply.send(r)),
            (job, _) => job.fail(StoreError::Storage("commit bookkeeping mismatch".into())),
        }
    }
}

/// The open tables of the current run of sets, opened on first use.
fn open_tables<'a, 't>(
    txn: &'t WriteTransaction,
    tables: &'a mut Option<Tables<'t>>,
) -> Result<&'a mut Tables<'t>, StoreError> {
    if tables.is_none() {
        *tables = Some(Tables::open(txn)?);
    }
    tables
        .as_mut()
        .ok_or_else(|| StoreError::Storage("tables not open".into()))
}

fn read_record(objects: &Table<&str, &[u8]>, uid: &str) -> Result<Option<Record>, StoreError> {
    match objects.get(uid).map_err(storage)? {
        Some(v) => Record::from_bytes(v.value()).map(Some),
        None => Ok(None),
    }
}

/// The index entries of a stored record (decoded from its clear attributes).
pub fn record_index(record: &Record) -> Result<Vec<IndexPrefix>, StoreError> {
    let attrs = decode_attributes(&record.attributes)?;
    Ok(schema::index_entries(
        record.object_type,
        &record.owner,
        &attrs,
    ))
}

pub fn decode_attributes(
    bytes: &[u8],
) -> Result<Vec<crate::kmip::attributes::Attribute>, StoreError> {
    let item = crate::ttlv::decode(bytes)
        .map_err(|e| StoreError::Corrupt(format!("attributes TTLV: {e}")))?;
    Attributes::read(&item, &Cx::new(KmipVersion::V2_1))
        .map(|a| a.0)
        .map_err(|e| StoreError::Corrupt(format!("attributes: {e}")))
}

/// The tables a write set touches, open for one run of sets in a transaction, and the row
/// changes made through them, as a write-ahead log record payload.
struct Tables<'t> {
    rows: RowTables<'t>,
    log: Vec<u8>,
    /// Scratch for index keys.
    key: Vec<u8>,
    next_seq: u64,
    start_seq: u64,
    audit_head: ChainHead,
    start_audit_head: ChainHead,
}

impl<'t> Tables<'t> {
    fn open(txn: &'t WriteTransaction) -> Result<Self, StoreError> {
        let rows = RowTables::open(txn)?;
        let next_seq = match rows.meta.get(schema::META_NEXT_SEQ).map_err(storage)? {
            Some(v) => schema::u64_from(v.value(), "next sequence")?,
            None => 1,
        };
        let audit_head = match rows.meta.get(schema::META_AUDIT_HEAD).map_err(storage)? {
            Some(v) => ChainHead::from_bytes(v.value())
                .map_err(|e| StoreError::Corrupt(format!("audit head: {e}")))?,
            None => ChainHead::GENESIS,
        };
        Ok(Tables {
            rows,
            log: Vec::with_capacity(4096),
            key: Vec::with_capacity(128),
            next_seq,
            start_seq: next_seq,
            audit_head,
            start_audit_head: audit_head,
        })
    }

    // Each change goes to redb and, as the same bytes, to the log payload.

    fn put_object(&mut self, uid: &str, record: &[u8]) -> Result<(), StoreError> {
        self.rows.objects.insert(uid, record).map_err(storage)?;
        wal::put_insert(&mut self.log, TableId::Objects, uid.as_bytes(), record);
        Ok(())
    }

    fn remove_object(&mut self, uid: &str) -> Result<(), StoreError> {
        self.rows.objects.remove(uid).map_err(storage)?;
        wal::put_remove(&mut self.log, TableId::Objects, uid.as_bytes());
        Ok(())
    }

    fn put_sequence(&mut self, seq: u64, uid: &str) -> Result<(), StoreError> {
        self.rows.sequence.insert(seq, uid).map_err(storage)?;
        wal::put_insert(
            &mut self.log,
            TableId::Sequence,
            &seq.to_be_bytes(),
            uid.as_bytes(),
        );
        Ok(())
    }

    fn remove_sequence(&mut self, seq: u64) -> Result<(), StoreError> {
        self.rows.sequence.remove(seq).map_err(storage)?;
        wal::put_remove(&mut self.log, TableId::Sequence, &seq.to_be_bytes());
        Ok(())
    }

    /// Inserts (`insert`) or removes the index entry `prefix ‖ seq`.
    fn index_entry(&mut self, prefix: &[u8], seq: u64, insert: bool) -> Result<(), StoreError> {
        self.key.clear();
        self.key.extend_from_slice(prefix);
        self.key.extend_from_slice(&seq.to_be_bytes());
        if insert {
            self.rows
                .index
                .insert(self.key.as_slice(), ())
                .map_err(storage)?;
            wal::put_insert(&mut self.log, TableId::Index, &self.key, &[]);
        } else {
            self.rows
                .index
                .remove(self.key.as_slice())
                .map_err(storage)?;
            wal::put_remove(&mut self.log, TableId::Index, &self.key);
        }
        Ok(())
    }

    fn put_meta(&mut self, key: &str, value: &[u8]) -> Result<(), StoreError> {
        self.rows.meta.insert(key, value).map_err(storage)?;
        wal::put_insert(&mut self.log, TableId::Meta, key.as_bytes(), value);
        Ok(())
    }

    /// Appends audit records to the chain.
    fn append_audit(&mut self, events: &[AuditEvent]) -> Result<(), StoreError> {
        for event in events {
            let (seq, bytes) = self.audit_head.append(event);
            self.rows
                .audit
                .insert(seq, bytes.as_slice())
                .map_err(storage)?;
            wal::put_insert(&mut self.log, TableId::Audit, &seq.to_be_bytes(), &bytes);
        }
        Ok(())
    }

    /// Writes back the sequence counter and the audit head; returns the log payload of the
    /// row changes made.
    fn close(mut self) -> Result<Vec<u8>, StoreError> {
        if self.audit_head != self.start_audit_head {
            let head = self.audit_head.to_bytes();
            self.put_meta(schema::META_AUDIT_HEAD, &head)?;
        }
        if self.next_seq != self.start_seq {
            let next = self.next_seq.to_be_bytes();
            self.put_meta(schema::META_NEXT_SEQ, &next)?;
        }
        Ok(self.log)
    }
}

/// The index entries to remove and to add to go from `before` to `after` (both sorted and
/// without duplicates, as [`schema::index_entries`] makes them); entries in both stay.
fn index_changes<'a>(
    before: &'a [IndexPrefix],
    after: &'a [IndexPrefix],
) -> (Vec<&'a [u8]>, Vec<&'a [u8]>) {
    let (mut removed, mut added) = (Vec::new(), Vec::new());
    let (mut i, mut j) = (0, 0);
    while i < before.len() || j < after.len() {
        match (before.get(i), after.get(j)) {
            (Some(b), Some(a)) if b == a => {
                i += 1;
                j += 1;
            }
            (Some(b), Some(a)) if b < a => {
                removed.push(b.1.as_slice());
                i += 1;
            }
            (Some(_), Some(a)) | (None, Some(a)) => {
                added.push(a.1.as_slice());
                j += 1;
            }
            (Some(b), None) => {
                removed.push(b.1.as_slice());
                i += 1;
            }
            (None, None) => break,
        }
    }
    (removed, added)
}

/// Checks then applies one write set. `Conflict` leaves the tables untouched; any other
/// error may leave them half-applied, and the caller aborts the transaction.
fn apply_set(
    t: &mut Tables<'_>,
    writes: &[PreparedWrite],
    audit: &[AuditEvent],
) -> Result<Vec<u64>, StoreError> {
    // Checks first, against the state before this set (as MemoryStore does).
    for w in writes {
        let (uid, expect) = match w {
            PreparedWrite::Put(p, e) => (p.unique_identifier.as_str(), *e),
            PreparedWrite::Delete(uid, e) => (uid.as_str(), *e),
        };
        let current = match t.rows.objects.get(uid).map_err(storage)? {
            Some(v) => Some(Record::from_bytes(v.value())?.revision),
            None => None,
        };
        match (current, expect) {
            (None, Expect::Absent) => {}
            (Some(r), Expect::Revision(want)) if r == want => {}
            _ => return Err(StoreError::Conflict),
        }
    }
    let mut revisions = Vec::new();
    for w in writes {
        match w {
            PreparedWrite::Put(p, _) => {
                let old = read_record(&t.rows.objects, &p.unique_identifier)?;
                let (seq, revision) = match old {
                    Some(old) => {
                        // Only the entries that change: an update (Activate, Revoke,
                        // Destroy, an attribute) touches two or three of a dozen.
                        let before = record_index(&old)?;
                        let (removed, added) = index_changes(&before, &p.index);
                        for prefix in removed {
                            t.index_entry(prefix, old.seq, false)?;
                        }
                        for prefix in added {
                            t.index_entry(prefix, old.seq, true)?;
                        }
                        (old.seq, old.revision + 1)
                    }
                    None => {
                        let seq = t.next_seq;
                        t.next_seq += 1;
                        t.put_sequence(seq, &p.unique_identifier)?;
                        for (_, prefix) in &p.index {
                            t.index_entry(prefix, seq, true)?;
                        }
                        (seq, 1)
                    }
                };
                let record = schema::record_bytes(
                    seq,
                    revision,
                    p.object_type,
                    &p.owner,
                    &p.attributes,
                    p.sealed.as_deref(),
                );
                t.put_object(&p.unique_identifier, &record)?;
                revisions.push(revision);
            }
            PreparedWrite::Delete(uid, _) => {
                if let Some(old) = read_record(&t.rows.objects, uid)? {
                    for (_, prefix) in record_index(&old)? {
                        t.index_entry(&prefix, old.seq, false)?;
                    }
                    t.remove_sequence(old.seq)?;
                    t.remove_object(uid)?;
                }
            }
        }
    }
    t.append_audit(audit)?;
    Ok(revisions)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn index_changes_are_the_difference_of_sorted_entry_lists() {
        use schema::Index;
        let e = |i: Index, v: &[u8]| (i, v.to_vec());
        let before = vec![
            e(Index::ObjectType, b"a"),
            e(Index::Name, b"n1"),
            e(Index::State, b"1"),
            e(Index::Date, b"d1"),
        ];
        let mut after = vec![
            e(Index::ObjectType, b"a"),
            e(Index::Name, b"n1"),
            e(Index::State, b"4"),
            e(Index::Date, b"d1"),
            e(Index::Date, b"d2"),
        ];
        let mut before_sorted = before.clone();
        before_sorted.sort();
        after.sort();
        let (removed, added) = index_changes(&before_sorted, &after);
        assert_eq!(removed, vec![b"1".as_slice()]);
        let mut added = added;
        added.sort();
        assert_eq!(added, vec![b"4".as_slice(), b"d2".as_slice()]);
        // Nothing in common: everything goes and comes; identical: nothing moves.
        let (r, a) = index_changes(&before_sorted, &[]);
        assert_eq!((r.len(), a.len()), (4, 0));
        let (r, a) = index_changes(&[], &after);
        assert_eq!((r.len(), a.len()), (0, 5));
        let (r, a) = index_changes(&after, &after);
        assert!(r.is_empty() && a.is_empty());
    }

    #[test]
    fn reads_wait_for_the_commit_of_an_answered_batch_and_fail_if_it_never_comes() {
        let shared = Arc::new(Shared::at_lsn(7));
        shared.wait_visible().expect("nothing in flight: no wait");
        assert_eq!(shared.visibility_waits.load(Ordering::Relaxed), 0);

        // Batch `lsn` answered, not yet committed, and a read starts on another thread.
        let answered_then_read = |lsn: u64| {
            shared.durable_lsn.store(lsn, Ordering::SeqCst);
            let shared = shared.clone();
            std::thread::spawn(move || shared.wait_visible())
        };

        // The read waits until batch 8 is committed.
        let reader = answered_then_read(8);
        std::thread::sleep(Duration::from_millis(50));
        assert!(!reader.is_finished(), "the read went ahead of the commit");
        shared.set_visible(8);
        reader.join().expect("reader").expect("visible");
        assert_eq!(shared.visibility_waits.load(Ordering::Relaxed), 1);

        // Batch 9 answered, then the committer stops: the read fails instead of hanging.
        let reader = answered_then_read(9);
        std::thread::sleep(Duration::from_millis(20));
        shared.halt();
        let err = reader.join().expect("reader").expect_err("halted");
        assert!(err.to_string().contains("replay"), "{err}");
    }
}
