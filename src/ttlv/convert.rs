//! Conversion between the four forms a TTLV message takes: binary, hex text, XML and JSON.
//!
//! Every input may hold several messages, which are converted in order: binary messages
//! back to back, hex with any white space (one message per line is what is written), an XML
//! `<KMIP>` or `<KmipTestCase>` root, a JSON array. A single message stays a single element
//! or object; several are written as concatenated binary, one hex line each, a `<KMIP>`
//! root, or a JSON array.

use super::decode::padding;
use super::error::{DecodeError, DecodeErrorKind};
use super::{Item, Names, OwnedItem, TextError, decode, encode, json, xml};

/// A form of TTLV messages.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Format {
    /// Binary TTLV.
    Ttlv,
    /// Binary TTLV as hex digits.
    Hex,
    /// KMIP Additional Message Encodings, section 6.
    Xml,
    /// KMIP Additional Message Encodings, section 4.
    Json,
}

/// Why a conversion failed: a binary rule at a byte offset, or a text error with its place.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ConvertError {
    #[error(transparent)]
    Decode(#[from] DecodeError),
    #[error(transparent)]
    Text(#[from] TextError),
    #[error("input is not UTF-8 (at byte {0})")]
    NotUtf8(usize),
}

/// Converts every message in `input` from one form to another.
pub fn convert(
    input: &[u8],
    from: Format,
    to: Format,
    names: &dyn Names,
) -> Result<Vec<u8>, ConvertError> {
    let items = read(input, from, names)?;
    Ok(write(&items, to, names))
}

/// Reads every message of `input` in the form `from`.
pub fn read(input: &[u8], from: Format, names: &dyn Names) -> Result<Vec<OwnedItem>, ConvertError> {
    let text = || std::str::from_utf8(input).map_err(|e| ConvertError::NotUtf8(e.valid_up_to()));
    Ok(match from {
        Format::Ttlv => decode_all(input)?,
        Format::Hex => decode_all(&super::hex::decode(text()?)?)?,
        Format::Xml => {
            let text = text()?;
            if xml::is_container(text) {
                xml::messages_from_xml(text, names)?
            } else {
                vec![xml::from_xml(text, names)?]
            }
        }
        Format::Json => json::messages_from_json(text()?, names)?,
    })
}

/// Writes `items` in the form `to`.
pub fn write(items: &[Item<'_>], to: Format, names: &dyn Names) -> Vec<u8> {
    match (to, items) {
        (Format::Ttlv, _) => items.iter().flat_map(encode).collect(),
        (Format::Hex, _) => items
            .iter()
            .map(|i| super::hex::encode(&encode(i)) + "\n")
            .collect::<String>()
            .into_bytes(),
        (Format::Xml, [one]) => xml::to_xml(one, names).into_bytes(),
        (Format::Xml, _) => xml::messages_to_xml(items, names).into_bytes(),
        (Format::Json, [one]) => json::to_json(one, names).into_bytes(),
        (Format::Json, _) => json::messages_to_json(items, names).into_bytes(),
    }
}

/// Decodes messages that follow one another; errors carry offsets into the whole input.
pub fn decode_all(input: &[u8]) -> Result<Vec<OwnedItem>, DecodeError> {
    let mut out = Vec::new();
    let mut at = 0;
    while at < input.len() {
        let rest = &input[at..];
        if rest.len() < 8 {
            return Err(DecodeError::new(
                at,
                DecodeErrorKind::Truncated {
                    needed: 8 - rest.len(),
                },
            ));
        }
        let len = u32::from_be_bytes([rest[4], rest[5], rest[6], rest[7]]);
        let total = 8 + len as usize + padding(len) as usize;
        if rest.len() < total {
            return Err(DecodeError::new(
                at,
                DecodeErrorKind::Truncated {
                    needed: total - rest.len(),
                },
            ));
        }
        let item = decode(&rest[..total]).map_err(|e| DecodeError::new(e.offset + at, e.kind))?;
        out.push(item.into_owned());
        at += total;
    }
    Ok(out)
}
