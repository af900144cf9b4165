//! The audit log: one record per handled operation, appended to a hash chain, and the check
//! that a chain read back is whole.
//!
//! **What is recorded.** An [`AuditEvent`] says who (`principal`: the client's certificate
//! identity, or `admin` for a command-line task), did what (`operation`, by its spec name),
//! to which objects (`unique_identifiers`, possibly none), when (`time`, server clock, in
//! seconds since the Unix epoch) and how it ended (`result_status` and, on failure,
//! `result_reason`, both by spec name). Reads are recorded as well as writes, and failures as
//! well as successes: an audit log that only lists what changed cannot answer "who fetched
//! this key". Events hold identifiers and names only, never key material or attribute values.
//!
//! **The chain.** Records are numbered from 1 without gaps; the store keeps each under its
//! sequence number. Each record carries the hash of the one before it (all zeros for the
//! first) and its own hash, SHA-256 over a domain string, its sequence number, that previous
//! hash and the encoded event. [`ChainHead`] is the end of the chain (next sequence, last
//! hash); [`ChainHead::append`] is the only way records are made, so writer and verifier
//! cannot disagree about the rule. The byte layout is in `docs/audit.md`.
//!
//! **What [`verify`] proves.** Walking the records in order, it checks that the numbering is
//! continuous, that each record names its predecessor's hash, and that each stored hash is
//! the hash of the record's content. A changed, removed, inserted or reordered record is
//! found, *except at the tail*: a log cut after record k is itself a valid chain of k
//! records. Truncation shows only against a head known from elsewhere, which is why the head
//! is exposed and [`verify`] takes an `expected_head`. Nor does the chain hold a secret:
//! someone who can write the file can rewrite every record from the first and recompute
//! every hash. The chain turns "trust the whole file" into "trust one 40-byte head": a head
//! shipped off the host (a log line, a ticket) anchors everything up to it.
//!
//! **Boundaries.** Pure: no I/O, no clock (the caller puts the time in the event), no
//! storage. It must not import `tokio`, `redb`, `server`, `store` or `ops`; `ops` builds the
//! events and the store keeps the bytes, and this module only gives them their shape.

mod codec;
mod render;
#[cfg(test)]
mod tests;

use crate::kmip::{Operation, ResultReason, ResultStatus};

/// What happened: one operation (or one batch item) as the server answered it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AuditEvent {
    /// Seconds since the Unix epoch, by the server's clock.
    pub time: i64,
    /// The client identity (certificate CN or SAN), or `admin` for a command-line task.
    pub principal: String,
    /// The spec name of the operation ("Create", "Get Attributes"), or an administration task
    /// ("store-key rotate").
    pub operation: String,
    /// The Unique Identifiers of the objects the operation touched; may be empty (a failed
    /// Locate, a Query).
    pub unique_identifiers: Vec<String>,
    /// The spec name of the Result Status: "Success", "Operation Failed", "Operation
    /// Pending", "Operation Undone".
    pub result_status: String,
    /// The spec name of the Result Reason when the operation failed ("Permission Denied").
    pub result_reason: Option<String>,
    /// The Client Correlation Value of the request (2.1 §9.9: "the server SHOULD log this
    /// information"), when the client sent one. Layout 2 and later.
    pub client_correlation_value: Option<String>,
    /// The Server Correlation Value the server gave the message's response (2.1 §9.10:
    /// "SHOULD be logged by the server with each request"). Layout 2 and later.
    pub server_correlation_value: Option<String>,
}

/// An enumeration value as the spec's table names it (`spec_name`), or `Unknown
/// (0x0000002A)` when this server has none, so that nothing is dropped.
pub fn enum_name(spec_name: Option<&str>, value: u32) -> String {
    spec_name.map_or_else(|| format!("Unknown (0x{value:08X})"), str::to_string)
}

impl AuditEvent {
    /// An event for a KMIP operation, named as the spec's tables name its values. Values this
    /// server has no name for are written as `Unknown (0x0000002A)`, so nothing is dropped.
    pub fn kmip(
        time: i64,
        principal: impl Into<String>,
        operation: Operation,
        unique_identifiers: Vec<String>,
        result_status: ResultStatus,
        result_reason: Option<ResultReason>,
    ) -> AuditEvent {
        AuditEvent {
            time,
            principal: principal.into(),
            operation: enum_name(operation.spec_name(), operation.value()),
            unique_identifiers,
            result_status: enum_name(result_status.spec_name(), result_status.value()),
            result_reason: result_reason.map(|r| enum_name(r.spec_name(), r.value())),
            client_correlation_value: None,
            server_correlation_value: None,
        }
    }
}

/// One link of the chain, as read back from the store.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AuditRecord {
    /// Position in the chain, from 1; the store's key for the record (not in its bytes).
    pub sequence: u64,
    /// Its layout (`docs/audit.md`): 1, or 2 (which adds the correlation values). Records
    /// are written in the latest; a chain may hold older ones before them.
    pub layout: u8,
    /// The hash of record `sequence - 1`, or all zeros for record 1.
    pub previous_hash: [u8; 32],
    pub event: AuditEvent,
    /// The hash as stored; [`AuditRecord::computed_hash`] is what it should be.
    pub hash: [u8; 32],
}

impl AuditRecord {
    /// Reads a record stored under `sequence`. Only the layout is checked here, so a record
    /// whose hash is wrong can still be shown; [`verify`] checks the chain.
    pub fn from_bytes(sequence: u64, bytes: &[u8]) -> Result<AuditRecord, AuditError> {
        codec::parse_record(sequence, bytes)
    }

    /// The stored bytes of this record (as [`ChainHead::append`] produced them, for a record
    /// read back unchanged).
    pub fn to_bytes(&self) -> Vec<u8> {
        codec::record_bytes(self.layout, &self.previous_hash, &self.event, &self.hash)
    }

    /// The hash this record's sequence, previous hash and event give.
    pub fn computed_hash(&self) -> [u8; 32] {
        codec::record_hash(
            self.layout,
            self.sequence,
            &self.previous_hash,
            &codec::event_bytes(self.layout, &self.event),
        )
    }
}

/// The end of the chain: the next sequence number and the hash of the last record (all zeros
/// before the first). Persisted beside the records, and worth keeping off the host too.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ChainHead {
    pub next_sequence: u64,
    pub last_hash: [u8; 32],
}

impl ChainHead {
    /// The head of an empty log.
    pub const GENESIS: ChainHead = ChainHead {
        next_sequence: 1,
        last_hash: [0; 32],
    };

    /// Appends `event`: returns the new record's key (its sequence) and its stored bytes, and
    /// advances `self` past it. `ChainHead` is `Copy`, so a writer whose transaction may abort
    /// appends to a copy and keeps it only once the records are committed.
    ///
    /// # Panics
    /// If `next_sequence` is `u64::MAX` (no head read by [`ChainHead::from_bytes`] is), or if
    /// a string of the event is 4 GiB or longer (the server's message limits forbid it).
    pub fn append(&mut self, event: &AuditEvent) -> (u64, Vec<u8>) {
        let sequence = self.next_sequence;
        let next_sequence = sequence
            .checked_add(1)
            .expect("audit sequence numbers exhausted");
        let event_bytes = codec::event_bytes(codec::LAYOUT, event);
        let hash = codec::record_hash(codec::LAYOUT, sequence, &self.last_hash, &event_bytes);
        let bytes =
            codec::record_bytes_from_parts(codec::LAYOUT, &self.last_hash, &event_bytes, &hash);
        *self = ChainHead {
            next_sequence,
            last_hash: hash,
        };
        (sequence, bytes)
    }

    /// Layout: u64 BE next sequence ‖ 32-byte last hash.
    pub fn to_bytes(&self) -> [u8; 40] {
        let mut out = [0u8; 40];
        out[..8].copy_from_slice(&self.next_sequence.to_be_bytes());
        out[8..].copy_from_slice(&self.last_hash);
        out
    }

    /// Reads [`ChainHead::to_bytes`]; refuses a head no chain can have (sequence 0 or
    /// `u64::MAX`, or a hash that is all zeros exactly when the chain is not empty).
    pub fn from_bytes(bytes: &[u8]) -> Result<ChainHead, AuditError> {
        let Ok(bytes) = <&[u8; 40]>::try_from(bytes) else {
            return Err(AuditError::CorruptHead(format!(
                "{} bytes, expected 40",
                bytes.len()
            )));
        };
        let mut sequence = [0u8; 8];
        sequence.copy_from_slice(&bytes[..8]);
        let mut last_hash = [0u8; 32];
        last_hash.copy_from_slice(&bytes[8..]);
        ChainHead {
            next_sequence: u64::from_be_bytes(sequence),
            last_hash,
        }
        .checked()
    }

    fn checked(self) -> Result<ChainHead, AuditError> {
        let bad = |what: &str| Err(AuditError::CorruptHead(format!("{what} ({self})")));
        match self.next_sequence {
            0 => bad("sequence 0 is never used"),
            u64::MAX => bad("no sequence number left"),
            1 if self.last_hash != [0; 32] => bad("an empty chain has an all-zero hash"),
            n if n > 1 && self.last_hash == [0; 32] => {
                bad("a non-empty chain has an all-zero hash")
            }
            _ => Ok(self),
        }
    }
}

/// What a successful [`verify`] walked.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct VerifyReport {
    /// Records checked.
    pub records: u64,
    /// The head after the last record checked: what to anchor next time.
    pub head: ChainHead,
}

/// Checks a whole log: `records` are `(key, stored bytes)` in key order, from record 1.
/// See [`verify_from`].
pub fn verify<I>(records: I, expected_head: Option<ChainHead>) -> Result<VerifyReport, AuditError>
where
    I: IntoIterator<Item = Result<(u64, Vec<u8>), AuditError>>,
{
    verify_from(ChainHead::GENESIS, records, expected_head)
}

/// Checks the records that follow `start` (a head verified or anchored before): the keys
/// continue `start.next_sequence` without gap or reordering, each record names its
/// predecessor's hash (the first one, `start.last_hash`), and each stored hash is recomputed.
/// With `expected_head`, the walk must also end exactly there, which is what detects a log
/// cut short. Stops at the first problem; a read error from `records` is passed through.
pub fn verify_from<I>(
    start: ChainHead,
    records: I,
    expected_head: Option<ChainHead>,
) -> Result<VerifyReport, AuditError>
where
    I: IntoIterator<Item = Result<(u64, Vec<u8>), AuditError>>,
{
    let mut head = start.checked()?;
    let mut count = 0u64;
    for item in records {
        let (sequence, bytes) = item?;
        let expected = head.next_sequence;
        if sequence != expected {
            let what = if sequence > expected {
                format!("{} missing before it", render::span(expected, sequence - 1))
            } else {
                format!("out of order: record {expected} was expected here")
            };
            return Err(AuditError::Broken { sequence, what });
        }
        let record = AuditRecord::from_bytes(sequence, &bytes)?;
        if record.previous_hash != head.last_hash {
            let what = format!(
                "it names previous hash {}, but the chain before it ends with {}",
                render::short_hex(&record.previous_hash),
                render::short_hex(&head.last_hash),
            );
            return Err(AuditError::Broken { sequence, what });
        }
        let computed = record.computed_hash();
        if record.hash != computed {
            let what = format!(
                "its stored hash {} is not the hash of its content, {}",
                render::short_hex(&record.hash),
                render::short_hex(&computed),
            );
            return Err(AuditError::Broken { sequence, what });
        }
        head = ChainHead {
            next_sequence: sequence.checked_add(1).ok_or(AuditError::Broken {
                sequence,
                what: "no sequence number left after it".into(),
            })?,
            last_hash: record.hash,
        };
        count += 1;
    }
    match expected_head {
        Some(expected) if expected != head => Err(AuditError::HeadMismatch {
            expected,
            found: head,
        }),
        _ => Ok(VerifyReport {
            records: count,
            head,
        }),
    }
}

/// Why a record, a head or a chain was refused. Messages name the sequence number and what
/// is wrong with it.
#[derive(Debug, thiserror::Error)]
pub enum AuditError {
    /// The stored bytes do not read as a record.
    #[error("audit record {sequence} is corrupt: {what}")]
    Corrupt { sequence: u64, what: String },
    /// The record reads, but breaks the chain rule there.
    #[error("audit chain broken at record {sequence}: {what}")]
    Broken { sequence: u64, what: String },
    /// The chain is whole but does not end at the head it was checked against.
    #[error("{}", render::head_mismatch(expected, found))]
    HeadMismatch {
        expected: ChainHead,
        found: ChainHead,
    },
    /// The stored (or given) chain head is not one a chain can have.
    #[error("audit chain head is corrupt: {0}")]
    CorruptHead(String),
    /// The records could not be read from where they are kept (for the store to report).
    #[error("audit records could not be read: {0}")]
    Read(String),
}
