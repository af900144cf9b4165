//! Message framing for a byte stream: read the 8-byte header, check the declared length
//! against the configured maximum *before* any buffer is sized from it, then hand the exact
//! slice to the decoder. "Need more bytes" is told apart from "malformed".

use super::ItemType;
use super::error::{DecodeError, DecodeErrorKind};

/// Size of the tag, type and length that open every TTLV item.
pub const HEADER_LEN: usize = 8;

/// What the bytes received so far amount to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Frame {
    /// A whole message of this many bytes (header included) starts the buffer.
    Complete(usize),
    /// More bytes are needed; `total` is the full message size once the header is known.
    Incomplete { total: Option<usize> },
}

/// Checks the start of `buf` for one message of at most `max_len` bytes (header included).
///
/// A message is a Structure; anything else, or a declared length over the limit, is an error
/// on which the connection should be closed, since the stream can no longer be framed.
pub fn check(buf: &[u8], max_len: usize) -> Result<Frame, DecodeError> {
    if buf.len() < HEADER_LEN {
        return Ok(Frame::Incomplete { total: None });
    }
    let code = buf[3];
    match ItemType::from_code(code) {
        Some(ItemType::Structure) => {}
        Some(other) => return Err(DecodeError::new(3, DecodeErrorKind::NotAStructure(other))),
        None => return Err(DecodeError::new(3, DecodeErrorKind::UnknownType(code))),
    }
    if buf[0] != 0x42 && buf[0] != 0x54 {
        let tag = u32::from_be_bytes([0, buf[0], buf[1], buf[2]]);
        return Err(DecodeError::new(
            0,
            DecodeErrorKind::BadTag(super::Tag(tag)),
        ));
    }
    let declared = u32::from_be_bytes([buf[4], buf[5], buf[6], buf[7]]) as u64;
    let total = declared + HEADER_LEN as u64;
    if total > max_len as u64 {
        return Err(DecodeError::new(
            4,
            DecodeErrorKind::TooLarge {
                declared: total,
                max: max_len as u64,
            },
        ));
    }
    if declared % 8 != 0 {
        return Err(DecodeError::new(
            4,
            DecodeErrorKind::StructureLength {
                declared: declared as u32,
            },
        ));
    }
    let total = total as usize;
    if buf.len() < total {
        Ok(Frame::Incomplete { total: Some(total) })
    } else {
        Ok(Frame::Complete(total))
    }
}
