//! Layouts 1 and 2 of an audit record and the hash that chains them (described byte by byte
//! in `docs/audit.md`). Integers are big-endian; `str` is a u32 length then that many bytes
//! of UTF-8. Every read goes through [`Reader`], which never reads past its slice, so stored
//! lengths are not trusted; both the record and the event inside it must end exactly where
//! their bytes do.
//!
//! ```text
//! record = u8 layout (1 or 2) ‖ previous hash [32] ‖ u32 event length ‖ event ‖ hash [32]
//! event  = i64 time ‖ str principal ‖ str operation
//!          ‖ u32 count ‖ count × str unique identifier
//!          ‖ str result status ‖ opt str result reason
//!          [layout 2:] ‖ opt str client correlation value ‖ opt str server correlation value
//! opt str = u8 0 | u8 1 ‖ str
//! hash   = SHA-256(DOMAIN(layout) ‖ u64 sequence ‖ previous hash ‖ event)
//! ```
//!
//! The encoding is canonical (one byte string per event, and parsing gives it back), so the
//! hash of a record read back is the hash of what was written. New records are written in
//! [`LAYOUT`]; layout 1 records, from before, are read and verified as they are.

use sha2::{Digest as _, Sha256};

use super::{AuditError, AuditEvent, AuditRecord};

/// The layout new records are written in (their first byte).
pub(super) const LAYOUT: u8 = 2;

/// Hashes of audit records cannot be mistaken for any other SHA-256 this server computes,
/// nor a record of one layout for one of another: each layout has its own string.
fn domain(layout: u8) -> &'static [u8] {
    match layout {
        1 => b"kmipd audit v1\0",
        _ => b"kmipd audit v2\0",
    }
}

/// The encoded event in `layout`: the part of the record that the hash covers besides its
/// position. (Layout 1 has no correlation values: an event's are left out.)
pub(super) fn event_bytes(layout: u8, event: &AuditEvent) -> Vec<u8> {
    let uids: usize = event.unique_identifiers.iter().map(|u| 4 + u.len()).sum();
    let mut out = Vec::with_capacity(
        8 + 4 * 4
            + 5
            + event.principal.len()
            + event.operation.len()
            + uids
            + event.result_status.len()
            + event.result_reason.as_ref().map_or(0, String::len),
    );
    out.extend_from_slice(&event.time.to_be_bytes());
    put_str(&mut out, &event.principal);
    put_str(&mut out, &event.operation);
    put_len(&mut out, event.unique_identifiers.len());
    for uid in &event.unique_identifiers {
        put_str(&mut out, uid);
    }
    put_str(&mut out, &event.result_status);
    put_opt_str(&mut out, event.result_reason.as_deref());
    if layout >= 2 {
        put_opt_str(&mut out, event.client_correlation_value.as_deref());
        put_opt_str(&mut out, event.server_correlation_value.as_deref());
    }
    out
}

fn put_opt_str(out: &mut Vec<u8>, s: Option<&str>) {
    match s {
        None => out.push(0),
        Some(s) => {
            out.push(1);
            put_str(out, s);
        }
    }
}

pub(super) fn record_hash(
    layout: u8,
    sequence: u64,
    previous_hash: &[u8; 32],
    event: &[u8],
) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update(domain(layout));
    h.update(sequence.to_be_bytes());
    h.update(previous_hash);
    h.update(event);
    h.finalize().into()
}

pub(super) fn record_bytes(
    layout: u8,
    previous_hash: &[u8; 32],
    event: &AuditEvent,
    hash: &[u8; 32],
) -> Vec<u8> {
    record_bytes_from_parts(layout, previous_hash, &event_bytes(layout, event), hash)
}

pub(super) fn record_bytes_from_parts(
    layout: u8,
    previous_hash: &[u8; 32],
    event: &[u8],
    hash: &[u8; 32],
) -> Vec<u8> {
    let mut out = Vec::with_capacity(1 + 32 + 4 + event.len() + 32);
    out.push(layout);
    out.extend_from_slice(previous_hash);
    put_len(&mut out, event.len());
    out.extend_from_slice(event);
    out.extend_from_slice(hash);
    out
}

pub(super) fn parse_record(sequence: u64, bytes: &[u8]) -> Result<AuditRecord, AuditError> {
    let mut r = Reader { sequence, bytes };
    let layout = match r.u8("layout")? {
        layout @ (1 | 2) => layout,
        other => return Err(r.corrupt(format!("unknown layout {other}"))),
    };
    let previous_hash = r.hash("previous hash")?;
    let mut e = r.sub("event")?;
    let event = AuditEvent {
        time: i64::from_be_bytes(e.array("time")?),
        principal: e.str("principal")?,
        operation: e.str("operation")?,
        unique_identifiers: {
            let count = e.u32("unique identifier count")?;
            // Each identifier takes at least its 4-byte length: a count the event cannot hold
            // is refused before anything is allocated for it.
            if count as usize > e.bytes.len() / 4 {
                return Err(e.corrupt(format!(
                    "{count} unique identifiers cannot fit in {} bytes",
                    e.bytes.len()
                )));
            }
            (0..count)
                .map(|_| e.str("unique identifier"))
                .collect::<Result<_, _>>()?
        },
        result_status: e.str("result status")?,
        result_reason: e.opt_str("result reason")?,
        client_correlation_value: match layout {
            1 => None,
            _ => e.opt_str("client correlation value")?,
        },
        server_correlation_value: match layout {
            1 => None,
            _ => e.opt_str("server correlation value")?,
        },
    };
    e.finish("event")?;
    let hash = r.hash("hash")?;
    r.finish("record")?;
    Ok(AuditRecord {
        sequence,
        layout,
        previous_hash,
        event,
        hash,
    })
}

/// # Panics
/// For a length of 4 GiB or more, which a u32 cannot say (see [`super::ChainHead::append`]).
fn put_len(out: &mut Vec<u8>, len: usize) {
    let len = u32::try_from(len).expect("audit field of 4 GiB or more");
    out.extend_from_slice(&len.to_be_bytes());
}

fn put_str(out: &mut Vec<u8>, s: &str) {
    put_len(out, s.len());
    out.extend_from_slice(s.as_bytes());
}

/// A bounded reader over (part of) one record; its errors name the record and the field.
struct Reader<'a> {
    sequence: u64,
    bytes: &'a [u8],
}

impl<'a> Reader<'a> {
    fn corrupt(&self, what: String) -> AuditError {
        AuditError::Corrupt {
            sequence: self.sequence,
            what,
        }
    }

    fn take(&mut self, n: usize, what: &str) -> Result<&'a [u8], AuditError> {
        if self.bytes.len() < n {
            return Err(self.corrupt(format!(
                "truncated {what}: {n} bytes needed, {} left",
                self.bytes.len()
            )));
        }
        let (head, tail) = self.bytes.split_at(n);
        self.bytes = tail;
        Ok(head)
    }

    fn array<const N: usize>(&mut self, what: &str) -> Result<[u8; N], AuditError> {
        let mut out = [0u8; N];
        out.copy_from_slice(self.take(N, what)?);
        Ok(out)
    }

    fn u8(&mut self, what: &str) -> Result<u8, AuditError> {
        Ok(self.take(1, what)?[0])
    }

    fn u32(&mut self, what: &str) -> Result<u32, AuditError> {
        self.array(what).map(u32::from_be_bytes)
    }

    fn hash(&mut self, what: &str) -> Result<[u8; 32], AuditError> {
        self.array(what)
    }

    /// A reader over the next length-prefixed field, and past it for `self`.
    fn sub(&mut self, what: &str) -> Result<Reader<'a>, AuditError> {
        if self.bytes.len() < 4 {
            return Err(self.corrupt(format!("truncated length of the {what}")));
        }
        let len = self.u32(what)?;
        let bytes = self.take(len as usize, what)?;
        Ok(Reader {
            sequence: self.sequence,
            bytes,
        })
    }

    fn str(&mut self, what: &str) -> Result<String, AuditError> {
        let bytes = self.sub(what)?.bytes;
        match std::str::from_utf8(bytes) {
            Ok(s) => Ok(s.to_string()),
            Err(_) => Err(self.corrupt(format!("{what} is not UTF-8"))),
        }
    }

    /// A flag byte (0: absent, 1: a string follows), then the string.
    fn opt_str(&mut self, what: &str) -> Result<Option<String>, AuditError> {
        match self.u8(what)? {
            0 => Ok(None),
            1 => self.str(what).map(Some),
            other => Err(self.corrupt(format!("{what} flag is {other}, not 0 or 1"))),
        }
    }

    fn finish(&self, what: &str) -> Result<(), AuditError> {
        match self.bytes.len() {
            0 => Ok(()),
            n => Err(self.corrupt(format!("{n} bytes after the end of the {what}"))),
        }
    }
}
