//! Group commit: one thread owns every write transaction.
//!
//! Writers prepare their write sets on their own threads (TTLV encoding, sealing, index
//! keys: the expensive part), queue them, and wait. The committer takes *everything* queued,
//! checks each set's [`Expect`]s against the state left by the sets before it in the same
//! transaction, applies the sets that pass, commits once with `Durability::Immediate`, and
//! only then answers every waiter. A set whose check fails gets `Conflict` and leaves no
//! trace; any other error in a set aborts the transaction, answers that set with the error,
//! and puts the other sets back at the head of the queue, so they are retried in the next
//! transaction (nothing of them was committed).
//!
//! Readers never come here: they use redb read transactions (MVCC).

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::SyncSender;
use std::sync::{Arc, Condvar, Mutex};

use redb::{Database, ReadableTable, Table, WriteTransaction};

use super::schema::{self, INDEXES, IndexPrefix, Record};
use super::storage;
use crate::kmip::KmipVersion;
use crate::kmip::attributes::Attributes;
use crate::kmip::codec::{Cx, Ttlv};
use crate::store::{Expect, StoreError};

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
    Set(Vec<PreparedWrite>, SyncSender<Result<Vec<u64>, StoreError>>),
    Admin(AdminJob, SyncSender<Result<u64, StoreError>>),
}

impl Job {
    fn fail(self, e: StoreError) {
        // A waiter that gave up is not an error of ours.
        match self {
            Job::Set(_, reply) => drop(reply.send(Err(e))),
            Job::Admin(_, reply) => drop(reply.send(Err(e))),
        }
    }
}

#[derive(Default)]
pub struct Queue {
    pub jobs: VecDeque<Job>,
    pub shutdown: bool,
    /// The committer thread has ended (shut down or panicked): nothing will run new jobs.
    pub stopped: bool,
}

#[derive(Default)]
pub struct Shared {
    pub queue: Mutex<Queue>,
    pub wake: Condvar,
    /// Durable commits made.
    pub commits: AtomicU64,
    /// Write sets committed.
    pub sets: AtomicU64,
}

impl Shared {
    pub fn submit(&self, job: Job) -> Result<(), StoreError> {
        let mut q = self
            .queue
            .lock()
            .map_err(|_| StoreError::Storage("commit queue poisoned".into()))?;
        if q.shutdown || q.stopped {
            return Err(StoreError::Storage("the store is closed".into()));
        }
        q.jobs.push_back(job);
        drop(q);
        self.wake.notify_one();
        Ok(())
    }
}

/// Marks the committer stopped and fails whatever is still queued, however the thread
/// ends (a panic in redb included), so no writer waits forever.
struct StopGuard(Arc<Shared>);

impl Drop for StopGuard {
    fn drop(&mut self) {
        let mut q = self.0.queue.lock().unwrap_or_else(|e| e.into_inner());
        q.stopped = true;
        for job in q.jobs.drain(..) {
            job.fail(StoreError::Storage("the committer stopped".into()));
        }
    }
}

/// The committer thread's loop; returns when the store shuts down and the queue is empty.
pub fn run(db: Arc<Database>, shared: Arc<Shared>) {
    let _guard = StopGuard(shared.clone());
    loop {
        let jobs: Vec<Job> = {
            let mut q = match shared.queue.lock() {
                Ok(q) => q,
                Err(_) => return,
            };
            while q.jobs.is_empty() && !q.shutdown {
                q = match shared.wake.wait(q) {
                    Ok(q) => q,
                    Err(_) => return,
                };
            }
            if q.jobs.is_empty() {
                return;
            }
            q.jobs.drain(..).collect()
        };
        batch(&db, &shared, jobs);
    }
}

enum Outcome {
    Set(Result<Vec<u64>, StoreError>),
    Admin(Result<u64, StoreError>),
}

fn batch(db: &Database, shared: &Shared, jobs: Vec<Job>) {
    let mut txn = match db.begin_write() {
        Ok(t) => t,
        Err(e) => {
            let e = storage(e);
            for j in jobs {
                j.fail(StoreError::Storage(e.to_string()));
            }
            return;
        }
    };
    if let Err(e) = txn.set_durability(redb::Durability::Immediate) {
        let msg = e.to_string();
        for j in jobs {
            j.fail(StoreError::Storage(msg.clone()));
        }
        return;
    }
    let mut outcomes: Vec<Outcome> = Vec::with_capacity(jobs.len());
    let mut failed: Option<(usize, StoreError)> = None;
    {
        // Tables stay open across consecutive sets (opening them per set costs more than
        // the writes); an admin job gets the bare transaction, so they are closed first.
        let mut tables: Option<Tables<'_>> = None;
        for (i, job) in jobs.iter().enumerate() {
            let outcome = match job {
                Job::Set(writes, _) => {
                    if tables.is_none() {
                        match Tables::open(&txn) {
                            Ok(t) => tables = Some(t),
                            Err(e) => {
                                failed = Some((i, e));
                                break;
                            }
                        }
                    }
                    let Some(t) = tables.as_mut() else { break };
                    match apply_set(t, writes) {
                        Ok(r) => Outcome::Set(Ok(r)),
                        Err(StoreError::Conflict) => Outcome::Set(Err(StoreError::Conflict)),
                        Err(e) => {
                            failed = Some((i, e));
                            break;
                        }
                    }
                }
                Job::Admin(f, _) => {
                    if let Some(t) = tables.take()
                        && let Err(e) = t.close()
                    {
                        failed = Some((i, e));
                        break;
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
            && let Err(e) = t.close()
        {
            failed = Some((jobs.len().saturating_sub(1), e));
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
        return;
    }
    if let Err(e) = txn.commit() {
        let msg = storage(e).to_string();
        for job in jobs {
            job.fail(StoreError::Storage(msg.clone()));
        }
        return;
    }
    shared.commits.fetch_add(1, Ordering::Relaxed);
    for (job, outcome) in jobs.into_iter().zip(outcomes) {
        match (job, outcome) {
            (Job::Set(_, reply), Outcome::Set(r)) => {
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

/// The tables a write set touches, open for one run of sets in a transaction.
struct Tables<'t> {
    objects: Table<'t, &'static str, &'static [u8]>,
    meta: Table<'t, &'static str, &'static [u8]>,
    sequence: Table<'t, u64, &'static str>,
    indexes: Vec<Table<'t, &'static [u8], ()>>,
    next_seq: u64,
    start_seq: u64,
}

impl<'t> Tables<'t> {
    fn open(txn: &'t WriteTransaction) -> Result<Self, StoreError> {
        let meta = txn.open_table(schema::META).map_err(storage)?;
        let next_seq = match meta.get(schema::META_NEXT_SEQ).map_err(storage)? {
            Some(v) => schema::u64_from(v.value(), "next sequence")?,
            None => 1,
        };
        Ok(Tables {
            objects: txn.open_table(schema::OBJECTS).map_err(storage)?,
            meta,
            sequence: txn.open_table(schema::SEQUENCE).map_err(storage)?,
            indexes: INDEXES
                .iter()
                .map(|i| txn.open_table(i.table()).map_err(storage))
                .collect::<Result<Vec<_>, _>>()?,
            next_seq,
            start_seq: next_seq,
        })
    }

    /// Writes back the sequence counter.
    fn close(mut self) -> Result<(), StoreError> {
        if self.next_seq != self.start_seq {
            self.meta
                .insert(
                    schema::META_NEXT_SEQ,
                    self.next_seq.to_be_bytes().as_slice(),
                )
                .map_err(storage)?;
        }
        Ok(())
    }
}

/// Checks then applies one write set. `Conflict` leaves the tables untouched; any other
/// error may leave them half-applied, and the caller aborts the transaction.
fn apply_set(t: &mut Tables<'_>, writes: &[PreparedWrite]) -> Result<Vec<u64>, StoreError> {
    // Checks first, against the state before this set (as MemoryStore does).
    for w in writes {
        let (uid, expect) = match w {
            PreparedWrite::Put(p, e) => (p.unique_identifier.as_str(), *e),
            PreparedWrite::Delete(uid, e) => (uid.as_str(), *e),
        };
        let current = match t.objects.get(uid).map_err(storage)? {
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
                let old = read_record(&t.objects, &p.unique_identifier)?;
                let (seq, revision) = match old {
                    Some(old) => {
                        for (index, prefix) in record_index(&old)? {
                            t.indexes[index.slot()]
                                .remove(schema::with_seq(&prefix, old.seq).as_slice())
                                .map_err(storage)?;
                        }
                        (old.seq, old.revision + 1)
                    }
                    None => {
                        let seq = t.next_seq;
                        t.next_seq += 1;
                        t.sequence
                            .insert(seq, p.unique_identifier.as_str())
                            .map_err(storage)?;
                        (seq, 1)
                    }
                };
                for (index, prefix) in &p.index {
                    t.indexes[index.slot()]
                        .insert(schema::with_seq(prefix, seq).as_slice(), ())
                        .map_err(storage)?;
                }
                let record = schema::record_bytes(
                    seq,
                    revision,
                    p.object_type,
                    &p.owner,
                    &p.attributes,
                    p.sealed.as_deref(),
                );
                t.objects
                    .insert(p.unique_identifier.as_str(), record.as_slice())
                    .map_err(storage)?;
                revisions.push(revision);
            }
            PreparedWrite::Delete(uid, _) => {
                if let Some(old) = read_record(&t.objects, uid)? {
                    for (index, prefix) in record_index(&old)? {
                        t.indexes[index.slot()]
                            .remove(schema::with_seq(&prefix, old.seq).as_slice())
                            .map_err(storage)?;
                    }
                    t.sequence.remove(old.seq).map_err(storage)?;
                    t.objects.remove(uid.as_str()).map_err(storage)?;
                }
            }
        }
    }
    Ok(revisions)
}
