//! How records and heads read to people (`kmipd audit show`) and to log pipelines (one JSON
//! object per line). The strings of an event come from clients (a certificate's CN, a
//! Unique Identifier), so neither form lets them break the line or forge a field.

use std::fmt;
use std::str::FromStr;

use serde::Serialize;

use super::{AuditError, AuditRecord, ChainHead};

/// The first 8 bytes of a hash in hex: enough to tell records apart when reading.
pub(super) fn short_hex(hash: &[u8; 32]) -> String {
    hex::encode(&hash[..8])
}

/// RFC 3339 in UTC ("2025-01-02T03:04:05Z"), or `None` for a time that has no such form.
fn rfc3339(time: i64) -> Option<String> {
    let t = time::OffsetDateTime::from_unix_timestamp(time).ok()?;
    t.format(&time::format_description::well_known::Rfc3339)
        .ok()
}

/// A value for a `key=value` line: bare when that is unambiguous, else quoted with Rust's
/// escapes, so a space, quote, comma or newline in a client's string cannot forge a field.
fn field(s: &str) -> String {
    let plain = !s.is_empty()
        && s.chars().all(|c| {
            !c.is_whitespace()
                && !c.is_control()
                && !matches!(c, '"' | '\\' | '=' | ',' | '[' | ']')
        });
    if plain {
        s.to_string()
    } else {
        format!("{s:?}")
    }
}

/// One line: `#<sequence> <time> principal=… operation=… result=… [reason=…] uids=[…]
/// [client_correlation=…] [server_correlation=…] hash=<first 8 bytes>`.
impl fmt::Display for AuditRecord {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let e = &self.event;
        let time = rfc3339(e.time).unwrap_or_else(|| format!("@{}", e.time));
        write!(
            f,
            "#{} {time} principal={} operation={} result={}",
            self.sequence,
            field(&e.principal),
            field(&e.operation),
            field(&e.result_status),
        )?;
        if let Some(reason) = &e.result_reason {
            write!(f, " reason={}", field(reason))?;
        }
        let uids: Vec<String> = e.unique_identifiers.iter().map(|u| field(u)).collect();
        write!(f, " uids=[{}]", uids.join(","))?;
        if let Some(c) = &e.client_correlation_value {
            write!(f, " client_correlation={}", field(c))?;
        }
        if let Some(c) = &e.server_correlation_value {
            write!(f, " server_correlation={}", field(c))?;
        }
        write!(f, " hash={}", short_hex(&self.hash))
    }
}

#[derive(Serialize)]
struct JsonLine<'a> {
    sequence: u64,
    time: i64,
    /// `null` when the time has no RFC 3339 form (before year 0 or after 9999).
    time_utc: Option<String>,
    principal: &'a str,
    operation: &'a str,
    unique_identifiers: &'a [String],
    result_status: &'a str,
    result_reason: Option<&'a str>,
    /// Layout 2 records only; absent (not `null`) when the request had none.
    #[serde(skip_serializing_if = "Option::is_none")]
    client_correlation_value: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    server_correlation_value: Option<&'a str>,
    previous_hash: String,
    hash: String,
}

impl AuditRecord {
    /// One JSON object on one line (no trailing newline), fields in a fixed order, hashes in
    /// full lowercase hex. Strings are escaped by `serde_json`, so a line is always one line.
    pub fn to_json_line(&self) -> String {
        let e = &self.event;
        let line = JsonLine {
            sequence: self.sequence,
            time: e.time,
            time_utc: rfc3339(e.time),
            principal: &e.principal,
            operation: &e.operation,
            unique_identifiers: &e.unique_identifiers,
            result_status: &e.result_status,
            result_reason: e.result_reason.as_deref(),
            client_correlation_value: e.client_correlation_value.as_deref(),
            server_correlation_value: e.server_correlation_value.as_deref(),
            previous_hash: hex::encode(self.previous_hash),
            hash: hex::encode(self.hash),
        };
        // Serializing borrowed strings, integers and options cannot fail.
        serde_json::to_string(&line).unwrap_or_default()
    }
}

/// `<next sequence>:<last hash in hex>`, e.g. `1235:9f86…` for a chain whose record 1234 has
/// hash `9f86…`: the text to ship off the host and to give back to a verification.
impl fmt::Display for ChainHead {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.next_sequence, hex::encode(self.last_hash))
    }
}

/// Reads the [`Display`](fmt::Display) form, with the checks of [`ChainHead::from_bytes`].
impl FromStr for ChainHead {
    type Err = AuditError;

    fn from_str(s: &str) -> Result<ChainHead, AuditError> {
        let bad = |what: &str| AuditError::CorruptHead(format!("{s:?}: {what}"));
        let (sequence, hash) = s
            .trim()
            .split_once(':')
            .ok_or_else(|| bad("expected <next sequence>:<64 hex digits>"))?;
        let next_sequence = sequence
            .parse()
            .map_err(|_| bad("the next sequence is not a number"))?;
        let mut last_hash = [0u8; 32];
        hex::decode_to_slice(hash, &mut last_hash)
            .map_err(|_| bad("the hash is not 64 hex digits"))?;
        ChainHead {
            next_sequence,
            last_hash,
        }
        .checked()
    }
}

/// "record 7 is" or "records 7 to 9 are", for a message about missing records.
pub(super) fn span(first: u64, last: u64) -> String {
    if first == last {
        format!("record {first} is")
    } else {
        format!("records {first} to {last} are")
    }
}

/// The message of [`AuditError::HeadMismatch`], saying which way the two differ.
pub(super) fn head_mismatch(expected: &ChainHead, found: &ChainHead) -> String {
    let last = |h: &ChainHead| h.next_sequence.saturating_sub(1);
    let how = if found.next_sequence < expected.next_sequence {
        format!(
            "{} missing (the log was cut short?)",
            span(found.next_sequence, last(expected))
        )
    } else if found.next_sequence > expected.next_sequence {
        format!(
            "{} records follow the anchored record {}; verify up to it alone to check it",
            found.next_sequence - expected.next_sequence,
            last(expected),
        )
    } else {
        format!(
            "record {} has hash {}, the anchor says {} (the chain was rewritten?)",
            last(found),
            short_hex(&found.last_hash),
            short_hex(&expected.last_hash),
        )
    };
    format!("audit chain ends at {found}, not at the anchored head {expected}: {how}")
}
