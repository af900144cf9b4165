//! TTLV: the Tag-Type-Length-Value encoding of KMIP, with no I/O and no KMIP semantics.
//!
//! This module knows the eleven item types of KMIP 2.1 (section 9.1 "TTLV Encoding") and
//! nothing of what a tag *means*: names of tags and enumerations come in through the
//! [`Names`] trait, which `kmip/` implements. It must not import tokio, redb, cryptoki,
//! rustls or anything KMIP-semantic.
//!
//! Invariants kept by every decoder here:
//! - wire lengths are untrusted: every read goes through a bounded slice, and no buffer is
//!   ever allocated from a declared length;
//! - each item type has the length the spec fixes, padding is zero, Booleans are 0 or 1,
//!   Text Strings are UTF-8, and a Structure's length equals the sum of its contents;
//! - byte and text values borrow from the input ([`Cow::Borrowed`]).
//!
//! Layout:
//! - `item`: [`Tag`], [`ItemType`], [`Value`], [`Item`]: the tree every encoding shares;
//! - `decode`: the nom decoder with [`DecodeLimits`];
//! - `encode`: the encoder, nested lengths patched in one pass;
//! - `frame`: message framing ("need more bytes" apart from "malformed");
//! - `xml`, `json`: the XML and JSON encodings of TTLV (KMIP Additional Message Encodings),
//!   sharing the value forms and name context of `text`;
//! - `show`: a human-readable dump for operators (it prints key material);
//! - `hex`: hex text of binary messages; `convert`: any of the four forms to any other.

use std::borrow::Cow;

pub mod convert;
mod decode;
mod encode;
mod error;
pub mod frame;
pub mod hex;
mod item;
pub mod json;
mod names;
pub mod placeholders;
pub mod show;
mod text;
#[cfg(test)]
mod text_tests;
pub mod xml;

pub use convert::{ConvertError, Format, convert, decode_all};
pub use decode::{DecodeLimits, decode, decode_with, find_child};
pub use encode::{Open, Writer, encode, encode_into};
pub use error::{DecodeError, DecodeErrorKind, TextError};
pub use item::{Item, ItemType, Tag, Value};
pub use json::{from_json, to_json};
pub use names::{NameContext, Names, NoNames};
pub use show::show;
pub use xml::{from_xml, messages_from_xml, to_xml};

/// A convenience for tests and tools: an owned item tree.
pub type OwnedItem = Item<'static>;

impl<'a> Item<'a> {
    /// Copies every borrowed value so the tree outlives its input.
    pub fn into_owned(self) -> OwnedItem {
        Item {
            tag: self.tag,
            value: self.value.into_owned(),
        }
    }
}

impl<'a> Value<'a> {
    /// Copies every borrowed value so the value outlives its input.
    pub fn into_owned(self) -> Value<'static> {
        match self {
            Value::Structure(items) => {
                Value::Structure(items.into_iter().map(Item::into_owned).collect())
            }
            Value::Integer(v) => Value::Integer(v),
            Value::LongInteger(v) => Value::LongInteger(v),
            Value::BigInteger(v) => Value::BigInteger(Cow::Owned(v.into_owned())),
            Value::Enumeration(v) => Value::Enumeration(v),
            Value::Boolean(v) => Value::Boolean(v),
            Value::TextString(v) => Value::TextString(Cow::Owned(v.into_owned())),
            Value::ByteString(v) => Value::ByteString(Cow::Owned(v.into_owned())),
            Value::DateTime(v) => Value::DateTime(v),
            Value::Interval(v) => Value::Interval(v),
            Value::DateTimeExtended(v) => Value::DateTimeExtended(v),
        }
    }
}

#[cfg(test)]
mod tests;
