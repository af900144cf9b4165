//! The write-ahead log: how a write is durable after one sequential fsync.
//!
//! A durable redb commit rewrites every B-tree page the transaction touched, plus the
//! table tree and the allocator state, scattered over the file: about 0.7 ms for one page
//! and 1.8 ms for twenty on this machine's disk. So the committer commits each batch to
//! redb with `Durability::None` (in memory, visible to readers) and makes it durable by
//! appending the batch's row changes ([`Mutation`]s) to this log, one record, one
//! `fdatasync`, *before* the redb commit makes the batch visible. A **checkpoint** (a
//! durable redb commit, every [`CHECKPOINT_BYTES`] of log or [`CHECKPOINT_INTERVAL`]) makes
//! everything before it durable in the database file, and the log starts again at offset 0.
//!
//! Each record carries a log sequence number (LSN), and every redb commit stores the LSN of
//! the last record whose effects it holds (`meta["wal_lsn"]`). After a crash redb is back at
//! its last durable commit, holding some LSN `n`; [`recover`] reads the log from offset 0
//! while records are intact and consecutive, and [`replay`] applies those after `n`. A
//! record torn by the crash fails its checksum and ends the log: its batch was never
//! acknowledged. Records left from before the last checkpoint have LSNs at most `n` and are
//! skipped (at the start) or break the sequence (further on).
//!
//! The log is overwritten in place rather than truncated, and it grows in zero-filled steps
//! of [`GROWTH_STEP`] ahead of its records, so an append almost always rewrites blocks the
//! file already has and `fdatasync` has no file size or extent to flush: 190 µs against
//! 270 µs for appending at the end of the file, on this machine's disk (`docs/storage.md`).
//! (`fallocate` would not do: its extents are marked unwritten, and the first write to
//! each block has to change that in the file system's journal.)
//!
//! Record layout (integers big-endian; `docs/storage.md` has the same table):
//! `"KWAL"` ‖ u32 payload length ‖ u64 LSN ‖ payload ‖ first 16 bytes of
//! SHA-256(everything before). Payload: mutations, each `op` (1 insert, 2 remove) ‖ table id
//! ‖ str(key) ‖ str(value) (insert only), where `str` is a u32 length then the bytes.
//!
//! Key material in the log is sealed exactly as in the database (the log holds the same row
//! values), and the file is created 0600.

use std::fs::{File, OpenOptions};
use std::io::Read;
use std::os::unix::fs::{FileExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::time::Duration;

use redb::{ReadableTable, WriteTransaction};
use sha2::{Digest, Sha256};

use super::schema;
use super::storage;
use crate::store::StoreError;

/// A checkpoint is taken once this much log has been written since the last one.
pub const CHECKPOINT_BYTES: u64 = 16 * 1024 * 1024;
/// ... or this long after the first record since the last one.
pub const CHECKPOINT_INTERVAL: Duration = Duration::from_secs(2);
/// The log file grows in zero-filled steps of this size, ahead of the records.
pub const GROWTH_STEP: u64 = 1024 * 1024;

const MAGIC: &[u8; 4] = b"KWAL";
const HEADER: usize = 16;
const CHECKSUM: usize = 16;
/// A record larger than this is not ours (a batch is bounded by the commit queue, and each
/// write set by the maximum message size): reading stops there.
const MAX_RECORD: u64 = 1 << 31;

/// The log file beside a database file: `kmipd.redb` → `kmipd.wal`.
pub fn path_for(db: &Path) -> PathBuf {
    db.with_extension("wal")
}

/// The tables whose rows the log records.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TableId {
    Meta = 1,
    Objects = 2,
    Sequence = 3,
    Index = 4,
    Audit = 5,
}

impl TableId {
    fn from_u8(b: u8) -> Option<TableId> {
        Some(match b {
            1 => TableId::Meta,
            2 => TableId::Objects,
            3 => TableId::Sequence,
            4 => TableId::Index,
            5 => TableId::Audit,
            _ => return None,
        })
    }
}

/// One row change. Keys and values are the rows' bytes: text as UTF-8, integers (the
/// `sequence` and `audit` keys) as u64 big-endian.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Mutation {
    Insert {
        table: TableId,
        key: Vec<u8>,
        value: Vec<u8>,
    },
    Remove {
        table: TableId,
        key: Vec<u8>,
    },
}

fn put_chunk(out: &mut Vec<u8>, b: &[u8]) {
    out.extend_from_slice(&u32::try_from(b.len()).unwrap_or(u32::MAX).to_be_bytes());
    out.extend_from_slice(b);
}

/// Appends an insert to a record payload being built.
pub fn put_insert(payload: &mut Vec<u8>, table: TableId, key: &[u8], value: &[u8]) {
    payload.push(1);
    payload.push(table as u8);
    put_chunk(payload, key);
    put_chunk(payload, value);
}

/// Appends a removal to a record payload being built.
pub fn put_remove(payload: &mut Vec<u8>, table: TableId, key: &[u8]) {
    payload.push(2);
    payload.push(table as u8);
    put_chunk(payload, key);
}

/// The payload holding `mutations`.
pub fn payload_of(mutations: &[Mutation]) -> Vec<u8> {
    let mut out = Vec::new();
    for m in mutations {
        match m {
            Mutation::Insert { table, key, value } => put_insert(&mut out, *table, key, value),
            Mutation::Remove { table, key } => put_remove(&mut out, *table, key),
        }
    }
    out
}

fn encode_record(out: &mut Vec<u8>, lsn: u64, payload: &[u8]) {
    out.clear();
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&[0; 4]);
    out.extend_from_slice(&lsn.to_be_bytes());
    out.extend_from_slice(payload);
    let len = u32::try_from(out.len() - HEADER).unwrap_or(u32::MAX);
    out[4..8].copy_from_slice(&len.to_be_bytes());
    let sum = Sha256::digest(&out[..]);
    out.extend_from_slice(&sum[..CHECKSUM]);
}

fn decode_payload(mut p: &[u8]) -> Option<Vec<Mutation>> {
    fn chunk<'a>(p: &mut &'a [u8]) -> Option<&'a [u8]> {
        let len = u32::from_be_bytes(p.get(..4)?.try_into().ok()?) as usize;
        let body = p.get(4..4 + len)?;
        *p = &p[4 + len..];
        Some(body)
    }
    let mut out = Vec::new();
    while !p.is_empty() {
        let op = p[0];
        let table = TableId::from_u8(*p.get(1)?)?;
        p = &p[2..];
        let key = chunk(&mut p)?.to_vec();
        out.push(match op {
            1 => Mutation::Insert {
                table,
                key,
                value: chunk(&mut p)?.to_vec(),
            },
            2 => Mutation::Remove { table, key },
            _ => return None,
        });
    }
    Some(out)
}

/// The log, open for appending by the committer.
pub struct Wal {
    file: File,
    path: PathBuf,
    /// Where the next record goes.
    offset: u64,
    /// The file's length: blocks up to here exist (records or zeros).
    allocated: u64,
    next_lsn: u64,
    buf: Vec<u8>,
}

impl Wal {
    /// Opens (creating, 0600) the log at `path`; the next record gets `next_lsn` and goes
    /// at offset 0. Call after [`recover`] and [`replay`], which leave nothing to replay.
    pub fn open(path: &Path, next_lsn: u64) -> Result<Wal, StoreError> {
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .mode(0o600)
            .open(path)
            .map_err(|e| StoreError::Storage(format!("opening {}: {e}", path.display())))?;
        // The file's directory entry must be durable before a record in it is relied on.
        if let Some(dir) = path.parent()
            && let Ok(d) = File::open(if dir.as_os_str().is_empty() {
                Path::new(".")
            } else {
                dir
            })
        {
            d.sync_all()
                .map_err(|e| StoreError::Storage(format!("syncing {}: {e}", dir.display())))?;
        }
        let allocated = file
            .metadata()
            .map_err(|e| StoreError::Storage(format!("reading {}: {e}", path.display())))?
            .len();
        Ok(Wal {
            file,
            path: path.to_path_buf(),
            offset: 0,
            allocated,
            next_lsn,
            buf: Vec::with_capacity(64 * 1024),
        })
    }

    /// The LSN the next record will get.
    pub fn next_lsn(&self) -> u64 {
        self.next_lsn
    }

    /// Bytes written since the last checkpoint.
    pub fn written(&self) -> u64 {
        self.offset
    }

    /// Appends one record with LSN `lsn` (which must be [`Wal::next_lsn`]) holding the row
    /// changes of `payload` (built with [`put_insert`] and [`put_remove`]) and waits until
    /// it is on disk.
    pub fn append(&mut self, lsn: u64, payload: &[u8]) -> Result<(), StoreError> {
        debug_assert_eq!(lsn, self.next_lsn);
        encode_record(&mut self.buf, lsn, payload);
        let io = |e: std::io::Error| StoreError::Storage(format!("{}: {e}", self.path.display()));
        let end = self.offset + self.buf.len() as u64;
        if end > self.allocated {
            // Grow ahead; this record's fdatasync makes the zeros and the new length
            // durable with it.
            let target = end.div_ceil(GROWTH_STEP) * GROWTH_STEP;
            let zeros = vec![0u8; (target - self.allocated).min(GROWTH_STEP) as usize];
            let mut at = self.allocated;
            while at < target {
                let n = (target - at).min(zeros.len() as u64) as usize;
                self.file.write_all_at(&zeros[..n], at).map_err(io)?;
                at += n as u64;
            }
            self.allocated = target;
        }
        self.file.write_all_at(&self.buf, self.offset).map_err(io)?;
        self.file.sync_data().map_err(io)?;
        self.offset += self.buf.len() as u64;
        self.next_lsn += 1;
        if self.buf.capacity() > 4 * 1024 * 1024 {
            self.buf = Vec::with_capacity(64 * 1024);
        }
        Ok(())
    }

    /// After a checkpoint: the next record goes at offset 0.
    pub fn restart(&mut self) {
        self.offset = 0;
    }
}

/// What a log holds: its intact records from offset 0, and the LSNs of intact records found
/// *after* the point where reading stopped (see [`recover`]).
#[derive(Debug, Default)]
pub struct Recovered {
    pub records: Vec<(u64, Vec<Mutation>)>,
    /// Where reading stopped.
    pub stopped_at: usize,
    /// Intact records further on: older cycles' leftovers (LSNs at most the database's) or,
    /// if any is newer than everything replayed, a sign that a record in the middle of the
    /// log was damaged.
    pub beyond: Vec<u64>,
}

/// One intact record at `at`: its LSN, its payload, and where the next one starts.
fn record_at(bytes: &[u8], at: usize) -> Option<(u64, &[u8], usize)> {
    let header = bytes.get(at..at.checked_add(HEADER)?)?;
    if &header[..4] != MAGIC {
        return None;
    }
    let len = u32::from_be_bytes([header[4], header[5], header[6], header[7]]) as u64;
    if len > MAX_RECORD {
        return None;
    }
    let lsn = u64::from_be_bytes(header[8..16].try_into().ok()?);
    let end = at + HEADER + len as usize;
    let sum = bytes.get(end..end + CHECKSUM)?;
    if Sha256::digest(&bytes[at..end])[..CHECKSUM] != *sum {
        return None;
    }
    Some((lsn, &bytes[at + HEADER..end], end + CHECKSUM))
}

/// Reads the log at `path`: from offset 0 while each record is complete, its checksum right
/// and its LSN one more than the one before; then looks past that point for any other
/// intact record, so that [`replay`] can tell a torn tail (nothing newer after it) from
/// damage in the middle (newer records after it). An absent file holds nothing.
pub fn recover(path: &Path) -> Result<Recovered, StoreError> {
    let mut file = match File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Recovered::default()),
        Err(e) => {
            return Err(StoreError::Storage(format!(
                "opening {}: {e}",
                path.display()
            )));
        }
    };
    let mut bytes = Vec::new();
    file.read_to_end(&mut bytes)
        .map_err(|e| StoreError::Storage(format!("reading {}: {e}", path.display())))?;
    let mut out = Recovered::default();
    let mut at = 0usize;
    while let Some((lsn, payload, next)) = record_at(&bytes, at) {
        if let Some((last, _)) = out.records.last()
            && *last + 1 != lsn
        {
            break;
        }
        let Some(mutations) = decode_payload(payload) else {
            // Checksummed, yet not ours: refuse rather than guess.
            return Err(StoreError::Corrupt(format!(
                "{}: record {lsn} at offset {at} has a valid checksum but an unreadable body",
                path.display()
            )));
        };
        out.records.push((lsn, mutations));
        at = next;
    }
    out.stopped_at = at;
    let mut from = at + 1;
    while let Some(found) = bytes
        .get(from..)
        .and_then(|rest| rest.windows(MAGIC.len()).position(|w| w == MAGIC))
    {
        let candidate = from + found;
        if let Some((lsn, _, _)) = record_at(&bytes, candidate) {
            out.beyond.push(lsn);
        }
        from = candidate + 1;
    }
    Ok(out)
}

/// Applies the recovered records after the database's own `meta["wal_lsn"]` inside `txn`
/// (the caller commits it durably); returns how many it applied and the last LSN the
/// database then holds.
pub fn replay(
    txn: &WriteTransaction,
    recovered: Recovered,
    path: &Path,
) -> Result<(u64, u64), StoreError> {
    let Recovered {
        records,
        stopped_at,
        beyond,
    } = recovered;
    let mut applied = 0u64;
    let meta = txn.open_table(schema::META).map_err(storage)?;
    let mut durable = match meta.get(schema::META_WAL_LSN).map_err(storage)? {
        Some(v) => schema::u64_from(v.value(), "wal lsn")?,
        None => 0,
    };
    drop(meta);
    let mut tables = RowTables::open(txn)?;
    for (lsn, mutations) in records {
        if lsn <= durable {
            continue;
        }
        if lsn != durable + 1 {
            return Err(StoreError::Corrupt(format!(
                "{}: the database holds the log up to record {durable}, but the log goes on \
                 at record {lsn}; records in between are lost",
                path.display()
            )));
        }
        for m in &mutations {
            tables.apply(m)?;
        }
        durable = lsn;
        applied += 1;
    }
    // A torn tail has nothing newer after it; a newer intact record means a record in the
    // middle was damaged, and acknowledged writes would be lost by going on.
    if let Some(newer) = beyond.iter().copied().filter(|l| *l > durable).max() {
        return Err(StoreError::Corrupt(format!(
            "{}: the write-ahead log is damaged at offset {stopped_at} (after record \
             {durable}), yet record {newer} further on is intact: acknowledged writes would be \
             lost; restore from a backup, or move the log aside to accept the loss",
            path.display()
        )));
    }
    drop(tables);
    let mut meta = txn.open_table(schema::META).map_err(storage)?;
    meta.insert(schema::META_WAL_LSN, durable.to_be_bytes().as_slice())
        .map_err(storage)?;
    Ok((applied, durable))
}

/// The tables a [`Mutation`] may name, open in one write transaction.
pub struct RowTables<'t> {
    pub meta: redb::Table<'t, &'static str, &'static [u8]>,
    pub objects: redb::Table<'t, &'static str, &'static [u8]>,
    pub sequence: redb::Table<'t, u64, &'static str>,
    pub index: redb::Table<'t, &'static [u8], ()>,
    pub audit: redb::Table<'t, u64, &'static [u8]>,
}

fn text(b: &[u8]) -> Result<&str, StoreError> {
    std::str::from_utf8(b).map_err(|_| StoreError::Corrupt("log: a text key is not UTF-8".into()))
}

impl<'t> RowTables<'t> {
    pub fn open(txn: &'t WriteTransaction) -> Result<Self, StoreError> {
        Ok(RowTables {
            meta: txn.open_table(schema::META).map_err(storage)?,
            objects: txn.open_table(schema::OBJECTS).map_err(storage)?,
            sequence: txn.open_table(schema::SEQUENCE).map_err(storage)?,
            index: txn.open_table(schema::INDEX).map_err(storage)?,
            audit: txn.open_table(schema::AUDIT).map_err(storage)?,
        })
    }

    /// Applies one row change.
    pub fn apply(&mut self, m: &Mutation) -> Result<(), StoreError> {
        let u64_key = |k: &[u8]| schema::u64_from(k, "log: integer key");
        match m {
            Mutation::Insert { table, key, value } => match table {
                TableId::Meta => drop(
                    self.meta
                        .insert(text(key)?, value.as_slice())
                        .map_err(storage)?,
                ),
                TableId::Objects => drop(
                    self.objects
                        .insert(text(key)?, value.as_slice())
                        .map_err(storage)?,
                ),
                TableId::Sequence => drop(
                    self.sequence
                        .insert(u64_key(key)?, text(value)?)
                        .map_err(storage)?,
                ),
                TableId::Index => drop(self.index.insert(key.as_slice(), ()).map_err(storage)?),
                TableId::Audit => drop(
                    self.audit
                        .insert(u64_key(key)?, value.as_slice())
                        .map_err(storage)?,
                ),
            },
            Mutation::Remove { table, key } => match table {
                TableId::Meta => drop(self.meta.remove(text(key)?).map_err(storage)?),
                TableId::Objects => drop(self.objects.remove(text(key)?).map_err(storage)?),
                TableId::Sequence => drop(self.sequence.remove(u64_key(key)?).map_err(storage)?),
                TableId::Index => drop(self.index.remove(key.as_slice()).map_err(storage)?),
                TableId::Audit => drop(self.audit.remove(u64_key(key)?).map_err(storage)?),
            },
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Vec<Mutation> {
        vec![
            Mutation::Insert {
                table: TableId::Objects,
                key: b"uid-1".to_vec(),
                value: vec![1, 2, 3],
            },
            Mutation::Remove {
                table: TableId::Index,
                key: vec![3, 0, 0, 0, 1],
            },
        ]
    }

    #[test]
    fn records_round_trip_and_stop_at_damage() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("x.wal");
        let mut wal = Wal::open(&path, 5).expect("open");
        for lsn in 5..9 {
            wal.append(lsn, &payload_of(&sample())).expect("append");
        }
        let got = recover(&path).expect("recover").records;
        assert_eq!(
            got.iter().map(|(l, _)| *l).collect::<Vec<_>>(),
            vec![5, 6, 7, 8]
        );
        assert!(got.iter().all(|(_, m)| *m == sample()));
        // The file grew by one zero-filled step, not record by record.
        let len = || std::fs::metadata(&path).expect("stat").len();
        assert_eq!(len(), GROWTH_STEP);

        // A restart after a checkpoint overwrites from offset 0: the old tail is ignored.
        wal.restart();
        wal.append(9, &payload_of(&sample()[..1])).expect("append");
        let got = recover(&path).expect("recover");
        assert_eq!(
            got.records.iter().map(|(l, _)| *l).collect::<Vec<_>>(),
            vec![9]
        );
        // The previous cycle's leftovers are seen, and are all older.
        assert!(got.beyond.iter().all(|l| *l < 9), "{:?}", got.beyond);

        // Any flipped byte in the live record ends the log before it.
        let clean = std::fs::read(&path).expect("read");
        let record_len = {
            let mut b = Vec::new();
            encode_record(&mut b, 9, &payload_of(&sample()[..1]));
            b.len()
        };
        for i in 0..record_len {
            let mut bytes = clean.clone();
            bytes[i] ^= 0x40;
            std::fs::write(&path, &bytes).expect("write");
            assert!(
                recover(&path).expect("recover").records.is_empty(),
                "byte {i}"
            );
        }
        // A torn record (cut anywhere) is no record.
        for cut in 0..record_len {
            std::fs::write(&path, &clean[..cut]).expect("write");
            assert!(
                recover(&path).expect("recover").records.is_empty(),
                "cut {cut}"
            );
        }
    }

    #[test]
    fn the_file_grows_in_zeroed_steps_ahead_of_its_records() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("x.wal");
        let len = || std::fs::metadata(&path).expect("stat").len();
        let mut wal = Wal::open(&path, 1).expect("open");
        assert_eq!(len(), 0, "nothing written before the first record");
        // A record larger than a step, crossing two boundaries.
        let big = payload_of(&[Mutation::Insert {
            table: TableId::Objects,
            key: b"big".to_vec(),
            value: vec![0xA5; (2 * GROWTH_STEP + GROWTH_STEP / 2) as usize],
        }]);
        wal.append(1, &big).expect("append");
        assert_eq!(len(), 3 * GROWTH_STEP);
        let end = wal.written();
        wal.append(2, &payload_of(&sample())).expect("append");
        assert_eq!(len(), 3 * GROWTH_STEP, "the next record fits in the zeros");
        // Everything past the records is zeros: nothing there looks like a record.
        let bytes = std::fs::read(&path).expect("read");
        assert!(bytes[wal.written() as usize..].iter().all(|b| *b == 0));
        assert!(wal.written() > end);
        let got = recover(&path).expect("recover");
        assert_eq!(
            got.records.iter().map(|(l, _)| *l).collect::<Vec<_>>(),
            vec![1, 2]
        );
        assert!(got.beyond.is_empty(), "{:?}", got.beyond);

        // Reopened (after a checkpoint or a restart), the log knows the file's length and
        // overwrites from offset 0 without growing it.
        drop(wal);
        let mut wal = Wal::open(&path, 3).expect("reopen");
        wal.append(3, &payload_of(&sample())).expect("append");
        assert_eq!(len(), 3 * GROWTH_STEP);
        let got = recover(&path).expect("recover");
        assert_eq!(got.records[0].0, 3);
        assert!(got.beyond.iter().all(|l| *l < 3), "{:?}", got.beyond);
    }

    #[test]
    fn damage_in_the_middle_is_refused_a_torn_tail_is_not() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("db.wal");
        let db = redb::Database::create(dir.path().join("db.redb")).expect("db");
        {
            let txn = db.begin_write().expect("write");
            RowTables::open(&txn).expect("tables");
            txn.commit().expect("commit");
        }
        let mut wal = Wal::open(&path, 1).expect("open");
        let mut starts = Vec::new();
        for lsn in 1..=4 {
            starts.push(wal.written() as usize);
            wal.append(lsn, &payload_of(&sample())).expect("append");
        }
        let clean = std::fs::read(&path).expect("read");
        let replay_of = |bytes: &[u8]| {
            std::fs::write(&path, bytes).expect("write");
            let txn = db.begin_write().expect("write");
            let r = replay(&txn, recover(&path).expect("recover"), &path);
            txn.abort().expect("abort");
            r
        };
        // Record 2 damaged: 3 and 4 are intact after it, so replay refuses.
        let mut bytes = clean.clone();
        bytes[starts[1] + HEADER + 3] ^= 0x10;
        let err = replay_of(&bytes).expect_err("damage in the middle");
        assert!(err.to_string().contains("record 4"), "{err}");
        // Record 4 torn (the crash case): 1 to 3 replay.
        let torn = &clean[..wal.written() as usize - 5];
        assert_eq!(replay_of(torn).expect("torn tail"), (3, 3));
    }

    #[test]
    fn absent_log_has_no_records() {
        let dir = tempfile::tempdir().expect("tempdir");
        assert!(
            recover(&dir.path().join("none.wal"))
                .expect("recover")
                .records
                .is_empty()
        );
    }
}
