//! Decoding errors: each names the byte offset and the rule of KMIP 2.1 section 9.1 it breaks.

use super::{ItemType, Tag};

/// A binary TTLV decoding error at `offset` bytes from the start of the input.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("TTLV error at offset {offset}: {kind}")]
pub struct DecodeError {
    pub offset: usize,
    pub kind: DecodeErrorKind,
}

/// The rule broken. Each variant is one rule, so tests and callers can tell them apart.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum DecodeErrorKind {
    #[error("truncated: {needed} more bytes needed than the input holds")]
    Truncated { needed: usize },
    #[error("unknown item type 0x{0:02X}")]
    UnknownType(u8),
    #[error("{item_type:?} must have length {expected}, not {actual}")]
    WrongLength {
        item_type: ItemType,
        expected: u32,
        actual: u32,
    },
    #[error("Big Integer length {0} is not a non-zero multiple of 8")]
    BigIntegerLength(u32),
    #[error("padding bytes are not zero")]
    NonZeroPadding,
    #[error("Boolean value {0} is neither 0 nor 1")]
    BadBoolean(u64),
    #[error("Text String is not valid UTF-8")]
    InvalidUtf8,
    #[error("Structure length {declared} does not match its contents")]
    StructureLength { declared: u32 },
    #[error("nesting deeper than {0} structures")]
    TooDeep(usize),
    #[error("more than {0} items")]
    TooManyItems(usize),
    #[error("{0} trailing bytes after the item")]
    TrailingBytes(usize),
    #[error("declared length {declared} exceeds the maximum of {max}")]
    TooLarge { declared: u64, max: u64 },
    #[error("a message must be a Structure, not {0:?}")]
    NotAStructure(ItemType),
    #[error("tag {0} is not a KMIP tag")]
    BadTag(Tag),
}

impl DecodeError {
    pub(crate) fn new(offset: usize, kind: DecodeErrorKind) -> Self {
        DecodeError { offset, kind }
    }
}

/// An error from the XML or JSON encodings, or from a hex or textual value.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{context}: {message}")]
pub struct TextError {
    /// Where: a line and column, a path of tag names, or a byte offset.
    pub context: String,
    pub message: String,
}

impl TextError {
    pub fn new(context: impl Into<String>, message: impl Into<String>) -> Self {
        TextError {
            context: context.into(),
            message: message.into(),
        }
    }
}
