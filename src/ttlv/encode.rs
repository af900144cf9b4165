//! The binary TTLV encoder. A Structure's length is written as a placeholder and patched once
//! its contents are written, so nested lengths cost one pass and no intermediate buffers.
//!
//! [`Writer`] is what typed messages encode through: it writes straight into one buffer,
//! without building an [`Item`] tree first.

use super::decode::padding;
use super::{Item, Tag, Value};

/// Encodes `item` into a new buffer.
pub fn encode(item: &Item<'_>) -> Vec<u8> {
    let mut w = Writer::with_capacity(256);
    w.item(item);
    w.into_inner()
}

/// Appends the encoding of `item` to `out`.
pub fn encode_into(item: &Item<'_>, out: &mut Vec<u8>) {
    let mut w = Writer {
        out: std::mem::take(out),
    };
    w.item(item);
    *out = w.into_inner();
}

/// A TTLV writer over one growing buffer.
#[derive(Default)]
pub struct Writer {
    out: Vec<u8>,
}

/// Where a Structure's length waits to be patched; returned by [`Writer::begin`].
#[must_use = "a structure must be closed with Writer::end"]
pub struct Open(usize);

impl Writer {
    pub fn new() -> Self {
        Writer::default()
    }

    pub fn with_capacity(capacity: usize) -> Self {
        Writer {
            out: Vec::with_capacity(capacity),
        }
    }

    pub fn into_inner(self) -> Vec<u8> {
        self.out
    }

    pub fn len(&self) -> usize {
        self.out.len()
    }

    pub fn is_empty(&self) -> bool {
        self.out.is_empty()
    }

    fn header(&mut self, tag: Tag, code: u8) {
        let tag = tag.0.to_be_bytes();
        self.out.extend_from_slice(&[tag[1], tag[2], tag[3], code]);
    }

    /// Opens a Structure; its length is patched by [`Writer::end`].
    pub fn begin(&mut self, tag: Tag) -> Open {
        self.header(tag, 0x01);
        let at = self.out.len();
        self.out.extend_from_slice(&[0; 4]);
        Open(at)
    }

    pub fn end(&mut self, open: Open) {
        let len = (self.out.len() - open.0 - 4) as u32;
        self.out[open.0..open.0 + 4].copy_from_slice(&len.to_be_bytes());
    }

    /// Writes a Structure whose contents `body` writes.
    pub fn structure(&mut self, tag: Tag, body: impl FnOnce(&mut Writer)) {
        let open = self.begin(tag);
        body(self);
        self.end(open);
    }

    /// Writes a length, the bytes and their zero padding.
    fn padded(&mut self, bytes: &[u8]) {
        self.out
            .extend_from_slice(&(bytes.len() as u32).to_be_bytes());
        self.out.extend_from_slice(bytes);
        self.out
            .resize(self.out.len() + padding(bytes.len() as u32) as usize, 0);
    }

    pub fn integer(&mut self, tag: Tag, v: i32) {
        self.header(tag, 0x02);
        self.padded(&v.to_be_bytes());
    }

    pub fn long_integer(&mut self, tag: Tag, v: i64) {
        self.header(tag, 0x03);
        self.padded(&v.to_be_bytes());
    }

    /// Writes big-endian two's-complement bytes, sign-extended to a non-zero multiple of eight
    /// bytes (KMIP 2.1 section 9.1.1.4).
    pub fn big_integer(&mut self, tag: Tag, v: &[u8]) {
        self.header(tag, 0x04);
        let fill = if v.first().is_some_and(|&b| b & 0x80 != 0) {
            0xFF
        } else {
            0x00
        };
        let extra = if v.is_empty() {
            8
        } else {
            padding(v.len() as u32) as usize
        };
        self.out
            .extend_from_slice(&((v.len() + extra) as u32).to_be_bytes());
        self.out.resize(self.out.len() + extra, fill);
        self.out.extend_from_slice(v);
    }

    pub fn enumeration(&mut self, tag: Tag, v: u32) {
        self.header(tag, 0x05);
        self.padded(&v.to_be_bytes());
    }

    pub fn boolean(&mut self, tag: Tag, v: bool) {
        self.header(tag, 0x06);
        self.padded(&u64::from(v).to_be_bytes());
    }

    pub fn text_string(&mut self, tag: Tag, v: &str) {
        self.header(tag, 0x07);
        self.padded(v.as_bytes());
    }

    pub fn byte_string(&mut self, tag: Tag, v: &[u8]) {
        self.header(tag, 0x08);
        self.padded(v);
    }

    pub fn date_time(&mut self, tag: Tag, v: i64) {
        self.header(tag, 0x09);
        self.padded(&v.to_be_bytes());
    }

    pub fn interval(&mut self, tag: Tag, v: u32) {
        self.header(tag, 0x0A);
        self.padded(&v.to_be_bytes());
    }

    pub fn date_time_extended(&mut self, tag: Tag, v: i64) {
        self.header(tag, 0x0B);
        self.padded(&v.to_be_bytes());
    }

    /// Writes an item tree.
    pub fn item(&mut self, item: &Item<'_>) {
        let tag = item.tag;
        match &item.value {
            Value::Structure(items) => {
                let open = self.begin(tag);
                for child in items {
                    self.item(child);
                }
                self.end(open);
            }
            Value::Integer(v) => self.integer(tag, *v),
            Value::LongInteger(v) => self.long_integer(tag, *v),
            Value::BigInteger(v) => self.big_integer(tag, v),
            Value::Enumeration(v) => self.enumeration(tag, *v),
            Value::Boolean(v) => self.boolean(tag, *v),
            Value::TextString(v) => self.text_string(tag, v),
            Value::ByteString(v) => self.byte_string(tag, v),
            Value::DateTime(v) => self.date_time(tag, *v),
            Value::Interval(v) => self.interval(tag, *v),
            Value::DateTimeExtended(v) => self.date_time_extended(tag, *v),
        }
    }
}
