//! The binary TTLV decoder, built with nom.
//!
//! Every item is read through a slice bounded by its declared length: a Structure's
//! children are parsed from exactly its value bytes, and must consume them all. The declared
//! length is checked against the bytes actually present before anything is sliced, and
//! nothing is ever allocated from a declared length, so a length of 4 GiB costs nothing.

use std::borrow::Cow;

use nom::IResult;
use nom::Parser;
use nom::bytes::complete::take;
use nom::number::complete::{be_i32, be_i64, be_u8, be_u24, be_u32, be_u64};

use super::error::{DecodeError, DecodeErrorKind};
use super::{Item, ItemType, Tag, Value};

/// Bounds on what one message may contain, so that a small hostile message cannot make the
/// decoder recurse deeply or build a huge tree.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DecodeLimits {
    /// Structures nested inside the outermost one (the outermost counts as depth 1).
    pub max_depth: usize,
    /// Items in the whole tree, the outermost included.
    pub max_items: usize,
}

impl Default for DecodeLimits {
    fn default() -> Self {
        DecodeLimits {
            max_depth: 32,
            max_items: 100_000,
        }
    }
}

/// Decodes one item that must fill `input` exactly, with the default limits.
pub fn decode(input: &[u8]) -> Result<Item<'_>, DecodeError> {
    decode_with(input, DecodeLimits::default())
}

/// Decodes one item that must fill `input` exactly.
pub fn decode_with(input: &[u8], limits: DecodeLimits) -> Result<Item<'_>, DecodeError> {
    let mut decoder = Decoder {
        start: input.as_ptr() as usize,
        limits,
        items: 0,
    };
    let (rest, item) = decoder.item(input, 1)?;
    if !rest.is_empty() {
        return Err(DecodeError::new(
            input.len() - rest.len(),
            DecodeErrorKind::TrailingBytes(rest.len()),
        ));
    }
    Ok(item)
}

/// The first child tagged `tag` of the Structure that fills `input`, decoded on its own: its
/// siblings are stepped over by their lengths, not decoded. `None` when there is no such
/// child or when `input` is not a well-formed Structure (the caller decodes it in full when
/// it needs to know why).
pub fn find_child(input: &[u8], tag: Tag) -> Option<Item<'_>> {
    let ((_, item_type, len), mut rest) = header(input).ok().map(|(rest, h)| (h, rest))?;
    if item_type != ItemType::Structure as u8 || len as usize != rest.len() {
        return None;
    }
    while !rest.is_empty() {
        let (body, (child_tag, _, child_len)) = header(rest).ok()?;
        // A Structure's length is a multiple of eight already: no padding is added.
        let size = child_len as usize + padding(child_len) as usize;
        if body.len() < size {
            return None;
        }
        if child_tag == tag.0 {
            return decode(&rest[..8 + size]).ok();
        }
        rest = &body[size..];
    }
    None
}

struct Decoder {
    start: usize,
    limits: DecodeLimits,
    items: usize,
}

/// nom's own error carries no rule; every failure below is a truncation, since each parser
/// is `complete` over a slice that holds all the bytes there are.
type NomResult<'a, O> = IResult<&'a [u8], O, nom::error::Error<&'a [u8]>>;

fn header(input: &[u8]) -> NomResult<'_, (u32, u8, u32)> {
    (be_u24, be_u8, be_u32).parse(input)
}

/// Bytes of padding after a value of `len` bytes, to the next multiple of eight.
pub(crate) fn padding(len: u32) -> u32 {
    (8 - (len % 8)) % 8
}

impl Decoder {
    fn offset(&self, at: &[u8]) -> usize {
        at.as_ptr() as usize - self.start
    }

    fn err(&self, at: &[u8], kind: DecodeErrorKind) -> DecodeError {
        DecodeError::new(self.offset(at), kind)
    }

    fn truncated(&self, at: &[u8], needed: usize) -> DecodeError {
        self.err(
            at,
            DecodeErrorKind::Truncated {
                needed: needed.saturating_sub(at.len()),
            },
        )
    }

    fn item<'a>(
        &mut self,
        input: &'a [u8],
        depth: usize,
    ) -> Result<(&'a [u8], Item<'a>), DecodeError> {
        self.items += 1;
        if self.items > self.limits.max_items {
            return Err(self.err(input, DecodeErrorKind::TooManyItems(self.limits.max_items)));
        }
        let (after_header, (tag, code, len)) =
            header(input).map_err(|_| self.truncated(input, 8))?;
        let item_type = ItemType::from_code(code)
            .ok_or_else(|| self.err(&input[3..], DecodeErrorKind::UnknownType(code)))?;
        let len_at = &input[4..];
        if let Some(expected) = item_type.fixed_length() {
            if len != expected {
                return Err(self.err(
                    len_at,
                    DecodeErrorKind::WrongLength {
                        item_type,
                        expected,
                        actual: len,
                    },
                ));
            }
        }
        if item_type == ItemType::BigInteger && (len == 0 || len % 8 != 0) {
            return Err(self.err(len_at, DecodeErrorKind::BigIntegerLength(len)));
        }
        let padded = len as usize + padding(len) as usize;
        if after_header.len() < padded {
            return Err(self.truncated(after_header, padded));
        }
        let (rest, body) = take::<_, _, nom::error::Error<&[u8]>>(len as usize)
            .parse(after_header)
            .map_err(|_| self.truncated(after_header, len as usize))?;
        let (rest, pad) = take::<_, _, nom::error::Error<&[u8]>>(padding(len) as usize)
            .parse(rest)
            .map_err(|_| self.truncated(rest, padding(len) as usize))?;
        if pad.iter().any(|&b| b != 0) {
            return Err(self.err(pad, DecodeErrorKind::NonZeroPadding));
        }
        let value = self.value(item_type, body, len, depth)?;
        Ok((
            rest,
            Item {
                tag: Tag(tag),
                value,
            },
        ))
    }

    fn value<'a>(
        &mut self,
        item_type: ItemType,
        body: &'a [u8],
        len: u32,
        depth: usize,
    ) -> Result<Value<'a>, DecodeError> {
        // The lengths were checked above, so the fixed-size reads below cannot fail.
        let fixed = |r: NomResult<'a, Value<'a>>| {
            r.map(|(_, v)| v)
                .map_err(|_| self.truncated(body, len as usize))
        };
        Ok(match item_type {
            ItemType::Structure => {
                if depth > self.limits.max_depth {
                    return Err(self.err(body, DecodeErrorKind::TooDeep(self.limits.max_depth)));
                }
                let mut items = Vec::new();
                let mut rest = body;
                while !rest.is_empty() {
                    let (next, item) = match self.item(rest, depth + 1) {
                        Ok(ok) => ok,
                        Err(DecodeError {
                            kind: DecodeErrorKind::Truncated { .. },
                            ..
                        }) => {
                            return Err(
                                self.err(body, DecodeErrorKind::StructureLength { declared: len })
                            );
                        }
                        Err(e) => return Err(e),
                    };
                    items.push(item);
                    rest = next;
                }
                Value::Structure(items)
            }
            ItemType::Integer => fixed(be_i32.map(Value::Integer).parse(body))?,
            ItemType::LongInteger => fixed(be_i64.map(Value::LongInteger).parse(body))?,
            ItemType::BigInteger => Value::BigInteger(Cow::Borrowed(body)),
            ItemType::Enumeration => fixed(be_u32.map(Value::Enumeration).parse(body))?,
            ItemType::Boolean => match be_u64::<_, nom::error::Error<&[u8]>>(body) {
                Ok((_, 0)) => Value::Boolean(false),
                Ok((_, 1)) => Value::Boolean(true),
                Ok((_, other)) => return Err(self.err(body, DecodeErrorKind::BadBoolean(other))),
                Err(_) => return Err(self.truncated(body, 8)),
            },
            ItemType::TextString => {
                Value::TextString(Cow::Borrowed(std::str::from_utf8(body).map_err(|e| {
                    self.err(&body[e.valid_up_to()..], DecodeErrorKind::InvalidUtf8)
                })?))
            }
            ItemType::ByteString => Value::ByteString(Cow::Borrowed(body)),
            ItemType::DateTime => fixed(be_i64.map(Value::DateTime).parse(body))?,
            ItemType::Interval => fixed(be_u32.map(Value::Interval).parse(body))?,
            ItemType::DateTimeExtended => fixed(be_i64.map(Value::DateTimeExtended).parse(body))?,
        })
    }
}
