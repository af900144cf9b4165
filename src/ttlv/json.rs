//! The JSON encoding of TTLV (KMIP Additional Message Encodings v1.0, section 4).
//!
//! Each item is an object `{"tag": ..., "type": ..., "value": ...}`; `type` is omitted for a
//! Structure, whose value is an array of items. [`to_json`] writes the style of the
//! spec's JSON test cases: tags and enumerations by name (hex `0x` when the [`Names`] do not
//! know them), Integer, Long Integer, Interval and Big Integer as `0x` hex strings of their
//! full width, masks as bit names joined by `|`, Booleans as `true`/`false`, Date-Time as
//! `2014-06-10T08:04:52+00:00`, byte strings in lower-case hex without a prefix.
//!
//! Reading accepts every form section 4.1.6 lists: numbers or `0x` hex for the numeric
//! types and enumerations, enumeration and mask names, `0x` hex for Booleans and
//! Date-Times, a null or absent value for an empty Structure, and an optional `name`
//! (checked against the tables when they know it). It is strict otherwise: an unknown or
//! repeated key, an unknown type, tag or enumeration name, a fractional number or a bad hex
//! digit is an error naming the line and column (syntax) or the path of tags (values).
//! Date-Time Extended, which the 2015 document predates, reads and writes as a Date-Time
//! with six fraction digits.

use std::fmt;
use std::fmt::Write as _;

use serde::de::{self, Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};

use super::text::{self, Builder, Dialect, Namer, RawNode, RawValue};
use super::{Item, ItemType, Names, OwnedItem, Tag, TextError, Value};

/// Writes `item` as indented JSON, one leaf object per line.
pub fn to_json(item: &Item<'_>, names: &dyn Names) -> String {
    let mut out = String::new();
    write_item(&mut out, &Namer::new(names), item, None, 0);
    out.push('\n');
    out
}

/// Writes several messages as a JSON array (not defined by the spec; used by `convert`).
pub fn messages_to_json(items: &[Item<'_>], names: &dyn Names) -> String {
    let namer = Namer::new(names);
    let mut out = String::from("[\n");
    for (i, item) in items.iter().enumerate() {
        write_item(&mut out, &namer, item, None, 1);
        out.push_str(if i + 1 < items.len() { ",\n" } else { "\n" });
    }
    out.push_str("]\n");
    out
}

fn quote(s: &str) -> String {
    // Serialising a &str cannot fail.
    serde_json::to_string(s).unwrap_or_default()
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
        Some(name) => quote(name),
        None => quote(&text::tag_hex(item.tag)),
    };
    let attr_name = attr.cloned();
    let ctx = namer.context(item.tag, &attr_name);
    let value = match &item.value {
        Value::Structure(items) => {
            if items.is_empty() {
                let _ = write!(out, "{indent}{{\"tag\":{tag}, \"value\":[]}}");
            } else {
                let _ = writeln!(out, "{indent}{{\"tag\":{tag}, \"value\":[");
                let child_attr = namer.attribute_name_of(items);
                for (i, child) in items.iter().enumerate() {
                    write_item(out, namer, child, child_attr.as_ref(), depth + 1);
                    out.push_str(if i + 1 < items.len() { ",\n" } else { "\n" });
                }
                let _ = write!(out, "{indent}]}}");
            }
            return;
        }
        Value::Integer(v) => quote(
            &names
                .mask_bits(item.tag, ctx)
                .and_then(|bits| text::mask_text(bits, *v, "|"))
                .unwrap_or_else(|| format!("0x{:08x}", *v as u32)),
        ),
        Value::LongInteger(v) => quote(&format!("0x{v:016x}")),
        Value::BigInteger(b) => quote(&format!("0x{}", hex::encode(text::big_integer_bytes(b)))),
        Value::Enumeration(v) => quote(&text::enum_text(names, item.tag, ctx, *v)),
        Value::Boolean(v) => v.to_string(),
        Value::TextString(s) => quote(s),
        Value::ByteString(b) => quote(&hex::encode(b)),
        Value::DateTime(v) => quote(&text::datetime_text(*v)),
        Value::Interval(v) => quote(&format!("0x{v:08x}")),
        Value::DateTimeExtended(v) => quote(&text::datetime_extended_text(*v)),
    };
    let _ = write!(
        out,
        "{indent}{{\"tag\":{tag}, \"type\":\"{}\", \"value\":{value}}}",
        item.value.item_type().name()
    );
}

/// Reads one item (one message) from a JSON object.
pub fn from_json(text: &str, names: &dyn Names) -> Result<OwnedItem, TextError> {
    let node: Node = serde_json::from_str(text).map_err(syntax)?;
    let mut path = Vec::new();
    let raw = node.resolve(names, &mut path)?;
    Builder::new(names, Dialect::Json).build(raw)
}

/// Reads one object, or an array of objects, as a list of messages.
pub fn messages_from_json(text: &str, names: &dyn Names) -> Result<Vec<OwnedItem>, TextError> {
    let nodes: OneOrMany = serde_json::from_str(text).map_err(syntax)?;
    let nodes = match nodes {
        OneOrMany::One(n) => vec![n],
        OneOrMany::Many(ns) => ns,
    };
    let mut builder = Builder::new(names, Dialect::Json);
    nodes
        .into_iter()
        .map(|n| {
            let mut path = Vec::new();
            builder.build(n.resolve(names, &mut path)?)
        })
        .collect()
}

fn syntax(e: serde_json::Error) -> TextError {
    TextError::new(
        format!("line {}, column {}", e.line(), e.column()),
        e.to_string(),
    )
}

/// An item as parsed, before its tag and type are looked up.
struct Node {
    tag: String,
    name: Option<String>,
    item_type: Option<String>,
    value: JsonValue,
}

enum JsonValue {
    Absent,
    Null,
    Bool(bool),
    Number(i128),
    Str(String),
    Items(Vec<Node>),
}

impl Node {
    fn resolve(
        self,
        names: &dyn Names,
        path: &mut Vec<String>,
    ) -> Result<RawNode<'static>, TextError> {
        let label = self.name.clone().unwrap_or_else(|| self.tag.clone());
        path.push(label.clone());
        let here = |path: &Vec<String>| path.join("/");
        let tag = text::parse_tag_hex(&self.tag)
            .or_else(|| names.tag_by_name(&self.tag))
            .ok_or_else(|| {
                TextError::new(
                    here(path),
                    format!(
                        "unknown tag {:?} (a name, or 0x and 6 hex digits)",
                        self.tag
                    ),
                )
            })?;
        if let Some(n) = &self.name {
            if let Some(known) = names.tag_by_name(n) {
                if known != tag {
                    return Err(TextError::new(
                        here(path),
                        format!("name {n:?} is tag {known}, not {tag}"),
                    ));
                }
            }
        }
        let item_type = match &self.item_type {
            None => ItemType::Structure,
            Some(t) => ItemType::from_name(t)
                .ok_or_else(|| TextError::new(here(path), format!("unknown type {t:?}")))?,
        };
        let value = match self.value {
            JsonValue::Items(items) => {
                if item_type != ItemType::Structure {
                    return Err(TextError::new(
                        here(path),
                        format!("a {} cannot hold items", item_type.name()),
                    ));
                }
                let mut raw = Vec::with_capacity(items.len());
                for item in items {
                    raw.push(item.resolve(names, path)?);
                }
                RawValue::Items(raw)
            }
            JsonValue::Absent => RawValue::Absent,
            JsonValue::Null => RawValue::Null,
            JsonValue::Bool(b) => RawValue::Bool(b),
            JsonValue::Number(n) => RawValue::Number(n),
            JsonValue::Str(s) => {
                if item_type == ItemType::Structure {
                    return Err(TextError::new(
                        here(path),
                        "a Structure's value is an array of items",
                    ));
                }
                RawValue::Text(s.into())
            }
        };
        path.pop();
        Ok(RawNode {
            tag: Tag(tag.0),
            label,
            item_type,
            value,
            at: None,
        })
    }
}

impl<'de> Deserialize<'de> for Node {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_map(NodeVisitor)
    }
}

const FIELDS: &[&str] = &["tag", "name", "type", "value"];

struct NodeVisitor;

impl<'de> Visitor<'de> for NodeVisitor {
    type Value = Node;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a TTLV object with \"tag\", optional \"name\" and \"type\", and \"value\"")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Node, A::Error> {
        let mut tag = None;
        let mut name = None;
        let mut item_type = None;
        let mut value = None;
        while let Some(key) = map.next_key::<String>()? {
            match key.as_str() {
                "tag" if tag.is_none() => tag = Some(map.next_value::<String>()?),
                "name" if name.is_none() => name = Some(map.next_value::<String>()?),
                "type" if item_type.is_none() => item_type = Some(map.next_value::<String>()?),
                "value" if value.is_none() => value = Some(map.next_value::<JsonValue>()?),
                "tag" | "name" | "type" | "value" => {
                    return Err(de::Error::custom(format_args!("duplicate key \"{key}\"")));
                }
                other => return Err(de::Error::unknown_field(other, FIELDS)),
            }
        }
        Ok(Node {
            tag: tag.ok_or_else(|| de::Error::missing_field("tag"))?,
            name,
            item_type,
            value: value.unwrap_or(JsonValue::Absent),
        })
    }
}

impl<'de> Deserialize<'de> for JsonValue {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(ValueVisitor)
    }
}

struct ValueVisitor;

impl<'de> Visitor<'de> for ValueVisitor {
    type Value = JsonValue;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a TTLV value: an array of items, a string, an integer, a boolean or null")
    }
    fn visit_bool<E: de::Error>(self, v: bool) -> Result<JsonValue, E> {
        Ok(JsonValue::Bool(v))
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<JsonValue, E> {
        Ok(JsonValue::Number(v.into()))
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<JsonValue, E> {
        Ok(JsonValue::Number(v.into()))
    }
    fn visit_f64<E: de::Error>(self, v: f64) -> Result<JsonValue, E> {
        Err(E::custom(format_args!(
            "{v} is not an integer; use a 0x hex string for large values"
        )))
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<JsonValue, E> {
        Ok(JsonValue::Str(v.to_owned()))
    }
    fn visit_string<E: de::Error>(self, v: String) -> Result<JsonValue, E> {
        Ok(JsonValue::Str(v))
    }
    fn visit_unit<E: de::Error>(self) -> Result<JsonValue, E> {
        Ok(JsonValue::Null)
    }
    fn visit_none<E: de::Error>(self) -> Result<JsonValue, E> {
        Ok(JsonValue::Null)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<JsonValue, A::Error> {
        let mut items = Vec::new();
        while let Some(node) = seq.next_element::<Node>()? {
            items.push(node);
        }
        Ok(JsonValue::Items(items))
    }
}

/// A single message object, or an array of them.
enum OneOrMany {
    One(Node),
    Many(Vec<Node>),
}

impl<'de> Deserialize<'de> for OneOrMany {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = OneOrMany;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a TTLV object or an array of them")
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<OneOrMany, A::Error> {
                NodeVisitor.visit_map(map).map(OneOrMany::One)
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<OneOrMany, A::Error> {
                let mut items = Vec::new();
                while let Some(node) = seq.next_element::<Node>()? {
                    items.push(node);
                }
                Ok(OneOrMany::Many(items))
            }
        }
        d.deserialize_any(V)
    }
}
