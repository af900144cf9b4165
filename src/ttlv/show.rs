//! A human-readable dump of an item tree, for operators reading a captured exchange.
//!
//! One line per item, indented by depth: the tag's name (or its hex), the type, and the
//! value decoded as far as the [`Names`] allow: enumerations by name with their number,
//! masks by bit names with their number, Date-Times in ISO-8601 with their Unix seconds,
//! text quoted and escaped, byte strings in full hex with their length.
//!
//! **This output reveals key material.** Unlike the `Debug` impls of the item types, which
//! print only the length of a byte string, `show` prints every byte: key values, wrapped
//! keys, secrets, nonces. It is meant for an operator's terminal with test or captured
//! traffic they are entitled to read; never log it, and never feed it production traffic
//! that should stay secret.

use std::fmt::Write as _;

use super::text::{self, Namer};
use super::{Item, Names, Value};

/// Writes the indented dump of `item`, ending with a newline. See the module comment: byte
/// strings, and so key material, are printed in full.
pub fn show(item: &Item<'_>, names: &dyn Names) -> String {
    let mut out = String::new();
    write_item(&mut out, &Namer::new(names), item, None, 0);
    out
}

fn write_item(
    out: &mut String,
    namer: &Namer<'_>,
    item: &Item<'_>,
    attr: Option<&String>,
    depth: usize,
) {
    let names = namer.names;
    let indent = "  ".repeat(depth);
    let tag = match namer.tag_name(item.tag) {
        Some(name) => name.to_owned(),
        None => format!("Tag {}", text::tag_hex(item.tag)),
    };
    let ty = item.value.item_type().name();
    let attr_name = attr.cloned();
    let ctx = namer.context(item.tag, &attr_name);
    let value = match &item.value {
        Value::Structure(items) => {
            let _ = writeln!(out, "{indent}{tag} (Structure, {} items)", items.len());
            let child_attr = namer.attribute_name_of(items);
            for child in items {
                write_item(out, namer, child, child_attr.as_ref(), depth + 1);
            }
            return;
        }
        Value::Integer(v) => match names
            .mask_bits(item.tag, ctx)
            .and_then(|bits| text::mask_text(bits, *v, " | "))
        {
            Some(mask) => format!("{mask} (0x{:08x})", *v as u32),
            None => v.to_string(),
        },
        Value::LongInteger(v) => v.to_string(),
        Value::BigInteger(b) => format!("0x{} ({} bytes)", hex::encode(b.as_ref()), b.len()),
        Value::Enumeration(v) => match names.enum_name(item.tag, ctx, *v) {
            Some(name) => format!("{name} (0x{v:08x})"),
            None => format!("0x{v:08x} (no name known)"),
        },
        Value::Boolean(v) => v.to_string(),
        Value::TextString(s) => format!("{s:?}"),
        Value::ByteString(b) => format!("{} ({} bytes)", hex::encode(b.as_ref()), b.len()),
        Value::DateTime(v) => format!("{} ({v})", text::datetime_text(*v)),
        Value::Interval(v) => format!("{v} s"),
        Value::DateTimeExtended(v) => format!("{} ({v} µs)", text::datetime_extended_text(*v)),
    };
    let _ = writeln!(out, "{indent}{tag} ({ty}): {value}");
}
