//! The binary TTLV encoder. A Structure's length is written as a placeholder and patched once
//! its contents are written, so nested lengths cost one pass and no intermediate buffers.

use super::decode::padding;
use super::{Item, Value};

/// Encodes `item` into a new buffer.
pub fn encode(item: &Item<'_>) -> Vec<u8> {
    let mut out = Vec::with_capacity(256);
    encode_into(item, &mut out);
    out
}

/// Appends the encoding of `item` to `out`.
pub fn encode_into(item: &Item<'_>, out: &mut Vec<u8>) {
    let tag = item.tag.0.to_be_bytes();
    out.extend_from_slice(&tag[1..]);
    out.push(item.value.item_type() as u8);
    match &item.value {
        Value::Structure(items) => {
            let len_at = out.len();
            out.extend_from_slice(&[0; 4]);
            for child in items {
                encode_into(child, out);
            }
            let len = (out.len() - len_at - 4) as u32;
            out[len_at..len_at + 4].copy_from_slice(&len.to_be_bytes());
        }
        Value::Integer(v) => fixed(out, &v.to_be_bytes()),
        Value::Enumeration(v) | Value::Interval(v) => fixed(out, &v.to_be_bytes()),
        Value::LongInteger(v) | Value::DateTime(v) | Value::DateTimeExtended(v) => {
            fixed(out, &v.to_be_bytes())
        }
        Value::Boolean(v) => fixed(out, &u64::from(*v).to_be_bytes()),
        Value::TextString(s) => fixed(out, s.as_bytes()),
        Value::ByteString(b) => fixed(out, b),
        Value::BigInteger(b) => {
            // Sign-extend to a non-zero multiple of eight bytes (KMIP 2.1 section 9.1.1.4).
            let fill = if b.first().is_some_and(|&first| first & 0x80 != 0) {
                0xFF
            } else {
                0x00
            };
            let extra = if b.is_empty() {
                8
            } else {
                padding(b.len() as u32) as usize
            };
            out.extend_from_slice(&((b.len() + extra) as u32).to_be_bytes());
            out.resize(out.len() + extra, fill);
            out.extend_from_slice(b);
        }
    }
}

/// Writes a length, the bytes and their zero padding.
fn fixed(out: &mut Vec<u8>, bytes: &[u8]) {
    out.extend_from_slice(&(bytes.len() as u32).to_be_bytes());
    out.extend_from_slice(bytes);
    out.resize(out.len() + padding(bytes.len() as u32) as usize, 0);
}
