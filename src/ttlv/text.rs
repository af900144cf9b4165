//! What the XML and JSON encodings share: the textual forms of values (KMIP Additional
//! Message Encodings v1.0, sections 4.1 and 6.1), the name context of a KMIP 1.x
//! `Attribute Value`, and the second parsing phase that turns a tree of tags and raw value
//! text into [`Item`]s.
//!
//! Parsing runs in two phases. The first (in `xml` or `json`) checks the syntax and builds
//! [`RawNode`]s: tag and type resolved, values still as written. The second (here) reads the
//! values, once a Structure's children are all known, so that an `Attribute Value` can be
//! named after its sibling `Attribute Name` wherever that sibling stands.
//!
//! Nothing here knows a KMIP tag number: the two tags the context rule needs are looked up
//! by name through [`Names`].

use std::borrow::Cow;

use super::{Item, ItemType, NameContext, Names, OwnedItem, Tag, TextError, Value};

/// Which encoding a raw value came from: each allows its own value forms.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Dialect {
    Xml,
    Json,
}

/// A parsed element or object whose value has not been interpreted yet.
pub(crate) struct RawNode<'t> {
    pub tag: Tag,
    /// The tag as written, for error paths.
    pub label: String,
    pub item_type: ItemType,
    pub value: RawValue<'t>,
    /// Line and column (1-based) of the element, when the parser knows them.
    pub at: Option<(usize, usize)>,
}

/// A value as written. XML only produces `Absent`, `Text` and `Items`.
pub(crate) enum RawValue<'t> {
    Absent,
    Null,
    Bool(bool),
    Number(i128),
    Text(Cow<'t, str>),
    Items(Vec<RawNode<'t>>),
}

/// Tags whose meaning depends on a sibling, looked up once per conversion.
pub(crate) struct Namer<'n> {
    pub names: &'n dyn Names,
    attribute_name: Option<Tag>,
    attribute_value: Option<Tag>,
}

impl<'n> Namer<'n> {
    pub fn new(names: &'n dyn Names) -> Self {
        Namer {
            names,
            attribute_name: names.tag_by_name("AttributeName"),
            attribute_value: names.tag_by_name("AttributeValue"),
        }
    }

    /// The `Attribute Name` among `siblings`, white space collapsed (the v1.0 test cases
    /// write "Cryptographic   Algorithm"), for naming an `Attribute Value` beside it.
    pub fn attribute_name<'s>(
        &self,
        siblings: impl Iterator<Item = (Tag, Option<&'s str>)>,
    ) -> Option<String> {
        let wanted = self.attribute_name?;
        siblings
            .filter(|(tag, _)| *tag == wanted)
            .find_map(|(_, text)| text)
            .map(|text| text.split_whitespace().collect::<Vec<_>>().join(" "))
    }

    /// The context for an item with `tag` whose siblings name `attribute_name`.
    pub fn context<'s>(&self, tag: Tag, attribute_name: &'s Option<String>) -> NameContext<'s> {
        NameContext {
            attribute_name: if Some(tag) == self.attribute_value {
                attribute_name.as_deref()
            } else {
                None
            },
        }
    }

    /// The attribute name for the children of a Structure being written.
    pub fn attribute_name_of(&self, items: &[Item<'_>]) -> Option<String> {
        self.attribute_name(items.iter().map(|i| {
            (
                i.tag,
                match &i.value {
                    Value::TextString(s) => Some(s.as_ref()),
                    _ => None,
                },
            )
        }))
    }

    /// A tag's name, or `None` when the tables do not know it.
    pub fn tag_name(&self, tag: Tag) -> Option<&'n str> {
        self.names.tag_name(tag)
    }
}

// ---------------------------------------------------------------------------------------
// Writing values
// ---------------------------------------------------------------------------------------

/// `0x` and six upper-case digits, the hex form of a tag.
pub(crate) fn tag_hex(tag: Tag) -> String {
    format!("0x{:06X}", tag.0)
}

/// An enumeration's name, or its value as `0x` and eight digits.
pub(crate) fn enum_text(names: &dyn Names, tag: Tag, ctx: NameContext<'_>, v: u32) -> String {
    match names.enum_name(tag, ctx, v) {
        Some(name) => name.to_owned(),
        None => format!("0x{v:08x}"),
    }
}

/// A mask as its bit names joined by `sep`, any bits without a name appended as one `0x`
/// component; `None` when no bit has a name (the caller writes a plain number).
pub(crate) fn mask_text(bits: &[(&str, u32)], v: i32, sep: &str) -> Option<String> {
    let mut rest = v as u32;
    let mut parts = Vec::new();
    for &(name, bit) in bits {
        if bit != 0 && rest & bit == bit {
            parts.push(name.to_owned());
            rest &= !bit;
        }
    }
    if parts.is_empty() {
        return None;
    }
    if rest != 0 {
        parts.push(format!("0x{rest:08x}"));
    }
    Some(parts.join(sep))
}

/// Big Integer bytes sign-extended to a non-zero multiple of eight, as the encoder writes
/// them, so that text and binary agree byte for byte.
pub(crate) fn big_integer_bytes(b: &[u8]) -> Vec<u8> {
    let fill = if b.first().is_some_and(|&f| f & 0x80 != 0) {
        0xFF
    } else {
        0x00
    };
    let extra = if b.is_empty() {
        8
    } else {
        (8 - b.len() % 8) % 8
    };
    let mut out = vec![fill; extra];
    out.extend_from_slice(b);
    out
}

/// ISO-8601 as the test vectors write it (`2014-06-10T08:03:34+00:00`), with six fraction
/// digits when `micros` is given; `None` outside the years the calendar covers.
pub(crate) fn iso_datetime(secs: i64, micros: Option<u32>) -> Option<String> {
    let t = time::OffsetDateTime::from_unix_timestamp(secs).ok()?;
    let year = t.year();
    let sign = if year < 0 { "-" } else { "" };
    let frac = micros.map(|m| format!(".{m:06}")).unwrap_or_default();
    Some(format!(
        "{sign}{:04}-{:02}-{:02}T{:02}:{:02}:{:02}{frac}+00:00",
        year.unsigned_abs(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second()
    ))
}

/// A Date-Time as ISO-8601, or as `0x` and sixteen digits outside the calendar's range.
pub(crate) fn datetime_text(secs: i64) -> String {
    iso_datetime(secs, None).unwrap_or_else(|| format!("0x{secs:016x}"))
}

/// A Date-Time Extended (microseconds) as ISO-8601 with six fraction digits, or hex.
pub(crate) fn datetime_extended_text(micros: i64) -> String {
    let secs = micros.div_euclid(1_000_000);
    let frac = micros.rem_euclid(1_000_000) as u32;
    iso_datetime(secs, Some(frac)).unwrap_or_else(|| format!("0x{micros:016x}"))
}

// ---------------------------------------------------------------------------------------
// Reading values
// ---------------------------------------------------------------------------------------

/// `0x` followed by exactly `digits` hex digits (the spec requires all leading zeros).
pub(crate) fn fixed_hex(s: &str, digits: usize) -> Option<u64> {
    let h = s.strip_prefix("0x")?;
    if h.len() != digits || !h.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    u64::from_str_radix(h, 16).ok()
}

/// A tag written as `0x` and six hex digits.
pub(crate) fn parse_tag_hex(s: &str) -> Option<Tag> {
    fixed_hex(s, 6).map(|v| Tag(v as u32))
}

/// Hex digits without a prefix (xsd:hexBinary), any case, even count.
pub(crate) fn hex_bytes(s: &str) -> Result<Vec<u8>, String> {
    if let Some(bad) = s.bytes().position(|b| !b.is_ascii_hexdigit()) {
        return Err(format!(
            "bad hex: {:?} at character {bad} is not a hex digit",
            s[bad..].chars().next().unwrap_or('?')
        ));
    }
    if s.len() % 2 != 0 {
        return Err(format!("bad hex: odd number of digits ({})", s.len()));
    }
    hex::decode(s).map_err(|e| format!("bad hex: {e}"))
}

/// xsd:dateTime, `'-'? yyyy '-' mm '-' dd 'T' hh ':' mm ':' ss ('.' s+)? (zone)?`, into
/// Unix seconds and microseconds. No zone means UTC. Fraction digits past six are truncated.
pub(crate) fn parse_iso(s: &str) -> Result<(i64, u32), String> {
    let bad = || format!("{s:?} is not an ISO-8601 date-time (yyyy-mm-ddThh:mm:ss[.f][Z|+hh:mm])");
    let (neg, rest) = match s.strip_prefix('-') {
        Some(r) => (true, r),
        None => (false, s),
    };
    let ydigits = rest.bytes().take_while(u8::is_ascii_digit).count();
    if !(4..=6).contains(&ydigits) {
        return Err(bad());
    }
    let year: i32 = rest[..ydigits].parse().map_err(|_| bad())?;
    let year = if neg { -year } else { year };
    let b = &rest.as_bytes()[ydigits..];
    let two = |i: usize| -> Option<u8> {
        let d = b.get(i..i + 2)?;
        if d.iter().all(u8::is_ascii_digit) {
            Some((d[0] - b'0') * 10 + (d[1] - b'0'))
        } else {
            None
        }
    };
    let sep = |i: usize, c: u8| b.get(i) == Some(&c);
    if !(sep(0, b'-') && sep(3, b'-') && sep(6, b'T') && sep(9, b':') && sep(12, b':')) {
        return Err(bad());
    }
    let (mo, d, h, mi, se) = match (two(1), two(4), two(7), two(10), two(13)) {
        (Some(a), Some(b), Some(c), Some(d), Some(e)) => (a, b, c, d, e),
        _ => return Err(bad()),
    };
    let mut i = 15;
    let mut micros = 0u32;
    if sep(i, b'.') {
        let n = b[i + 1..].iter().take_while(|c| c.is_ascii_digit()).count();
        if n == 0 {
            return Err(bad());
        }
        for k in 0..6 {
            let digit = if k < n {
                u32::from(b[i + 1 + k] - b'0')
            } else {
                0
            };
            micros = micros * 10 + digit;
        }
        i += 1 + n;
    }
    let offset: i64 = match &b[i..] {
        [] | [b'Z'] => 0,
        [sign @ (b'+' | b'-'), _, _, b':', _, _] => {
            let (oh, om) = match (two(i + 1), two(i + 4)) {
                (Some(oh), Some(om)) if om < 60 && (oh < 14 || (oh == 14 && om == 0)) => (oh, om),
                _ => return Err(bad()),
            };
            let o = i64::from(oh) * 3600 + i64::from(om) * 60;
            if *sign == b'-' { -o } else { o }
        }
        _ => return Err(bad()),
    };
    let month = time::Month::try_from(mo).map_err(|_| bad())?;
    let date =
        time::Date::from_calendar_date(year, month, d).map_err(|e| format!("{}: {e}", bad()))?;
    let tod = time::Time::from_hms(h, mi, se).map_err(|e| format!("{}: {e}", bad()))?;
    let local = time::PrimitiveDateTime::new(date, tod)
        .assume_utc()
        .unix_timestamp();
    Ok((local - offset, micros))
}

fn decimal<T: std::str::FromStr>(s: &str) -> Option<T> {
    // xsd numbers allow a leading '+'; Rust's parsers do too. Nothing else is trimmed.
    if s.is_empty() || s.trim() != s {
        return None;
    }
    s.parse().ok()
}

// ---------------------------------------------------------------------------------------
// The second phase
// ---------------------------------------------------------------------------------------

/// Converts raw nodes into items, keeping the path of tags for error messages.
pub(crate) struct Builder<'n> {
    namer: Namer<'n>,
    dialect: Dialect,
    path: Vec<String>,
}

impl<'n> Builder<'n> {
    pub fn new(names: &'n dyn Names, dialect: Dialect) -> Self {
        Builder {
            namer: Namer::new(names),
            dialect,
            path: Vec::new(),
        }
    }

    pub fn build(&mut self, node: RawNode<'_>) -> Result<OwnedItem, TextError> {
        self.node(node, None)
    }

    fn context_text(&self, at: Option<(usize, usize)>) -> String {
        let path = self.path.join("/");
        match at {
            Some((line, col)) => format!("line {line}, column {col} ({path})"),
            None => path,
        }
    }

    fn node(
        &mut self,
        node: RawNode<'_>,
        attribute_name: Option<&str>,
    ) -> Result<OwnedItem, TextError> {
        self.path.push(node.label);
        let at = node.at;
        let tag = node.tag;
        let value = match node.value {
            RawValue::Items(children) if node.item_type == ItemType::Structure => {
                let attr = self.namer.attribute_name(children.iter().map(|c| {
                    (
                        c.tag,
                        match (&c.value, c.item_type) {
                            (RawValue::Text(t), ItemType::TextString) => Some(t.as_ref()),
                            _ => None,
                        },
                    )
                }));
                let mut items = Vec::with_capacity(children.len());
                for child in children {
                    let item = self.node(child, attr.as_deref())?;
                    items.push(item);
                }
                Ok(Value::Structure(items))
            }
            RawValue::Absent | RawValue::Null if node.item_type == ItemType::Structure => {
                Ok(Value::Structure(Vec::new()))
            }
            raw => {
                let attr = attribute_name.map(str::to_owned);
                let ctx = self.namer.context(tag, &attr);
                self.value(tag, node.item_type, ctx, raw)
            }
        };
        let value = value.map_err(|message| TextError::new(self.context_text(at), message))?;
        self.path.pop();
        Ok(Item { tag, value })
    }

    fn value(
        &self,
        tag: Tag,
        ty: ItemType,
        ctx: NameContext<'_>,
        raw: RawValue<'_>,
    ) -> Result<Value<'static>, String> {
        let json = self.dialect == Dialect::Json;
        let names = self.namer.names;
        let tname = |tag: Tag| {
            names
                .tag_name(tag)
                .map(str::to_owned)
                .unwrap_or_else(|| tag_hex(tag))
        };
        let text = match raw {
            RawValue::Text(t) => t,
            RawValue::Absent => return Err(format!("a {} needs a value", ty.name())),
            RawValue::Items(_) => return Err(format!("a {} cannot hold items", ty.name())),
            RawValue::Null => return Err(format!("a {} cannot be null", ty.name())),
            RawValue::Bool(b) => {
                return match ty {
                    ItemType::Boolean => Ok(Value::Boolean(b)),
                    _ => Err(format!("a {} cannot be a JSON boolean", ty.name())),
                };
            }
            RawValue::Number(n) => {
                let range = || format!("{n} is out of range for a {}", ty.name());
                return match ty {
                    ItemType::Integer => i32::try_from(n).map(Value::Integer).map_err(|_| range()),
                    ItemType::LongInteger => i64::try_from(n)
                        .map(Value::LongInteger)
                        .map_err(|_| range()),
                    ItemType::Enumeration => u32::try_from(n)
                        .map(Value::Enumeration)
                        .map_err(|_| range()),
                    ItemType::Interval => {
                        u32::try_from(n).map(Value::Interval).map_err(|_| range())
                    }
                    ItemType::BigInteger => i64::try_from(n)
                        .map(|v| Value::BigInteger(Cow::Owned(v.to_be_bytes().to_vec())))
                        .map_err(|_| range()),
                    _ => Err(format!("a {} cannot be a JSON number", ty.name())),
                };
            }
        };
        let s = text.as_ref();
        Ok(match ty {
            ItemType::Structure => return Err("a Structure holds items, not a value".into()),
            ItemType::Integer => {
                if let Some(v) = (!json).then(|| decimal::<i32>(s)).flatten() {
                    Value::Integer(v)
                } else if let Some(v) = fixed_hex(s, 8) {
                    Value::Integer(v as u32 as i32)
                } else if let Some(bits) = names.mask_bits(tag, ctx) {
                    Value::Integer(self.mask(s, bits, &tname(tag))?)
                } else if json {
                    return Err(format!(
                        "{s:?} is not an Integer (a number or 0x and 8 hex digits)"
                    ));
                } else {
                    return Err(format!(
                        "{s:?} is not an Integer (decimal, or 0x and 8 hex digits)"
                    ));
                }
            }
            ItemType::LongInteger => match (!json)
                .then(|| decimal::<i64>(s))
                .flatten()
                .or_else(|| fixed_hex(s, 16).map(|v| v as i64))
            {
                Some(v) => Value::LongInteger(v),
                None => {
                    return Err(format!(
                        "{s:?} is not a Long Integer (decimal, or 0x and 16 hex digits)"
                    ));
                }
            },
            ItemType::BigInteger => {
                let digits = if json {
                    s.strip_prefix("0x").ok_or_else(|| {
                        format!("{s:?} is not a Big Integer (0x and hex digits, or a number)")
                    })?
                } else {
                    s
                };
                let bytes = hex_bytes(digits)?;
                if bytes.is_empty() || bytes.len() % 8 != 0 {
                    return Err(format!(
                        "a Big Integer must be a non-zero multiple of 8 bytes, sign-extended; {} bytes given",
                        bytes.len()
                    ));
                }
                Value::BigInteger(Cow::Owned(bytes))
            }
            ItemType::Enumeration => {
                if let Some(v) = fixed_hex(s, 8) {
                    Value::Enumeration(v as u32)
                } else if let Some(v) = names.enum_by_name(tag, ctx, s) {
                    Value::Enumeration(v)
                } else {
                    let of = match ctx.attribute_name {
                        Some(a) => format!("attribute {a:?}"),
                        None => tname(tag),
                    };
                    return Err(format!(
                        "unknown enumeration name {s:?} for {of} (a name, or 0x and 8 hex digits)"
                    ));
                }
            }
            ItemType::Boolean => match (self.dialect, s) {
                (Dialect::Xml, "true" | "1") => Value::Boolean(true),
                (Dialect::Xml, "false" | "0") => Value::Boolean(false),
                (Dialect::Json, _) if fixed_hex(s, 16) == Some(1) => Value::Boolean(true),
                (Dialect::Json, _) if fixed_hex(s, 16) == Some(0) => Value::Boolean(false),
                _ => return Err(format!("{s:?} is not a Boolean")),
            },
            ItemType::TextString => Value::TextString(Cow::Owned(text.into_owned())),
            ItemType::ByteString => Value::ByteString(Cow::Owned(hex_bytes(s)?)),
            ItemType::DateTime => match fixed_hex(s, 16) {
                Some(v) => Value::DateTime(v as i64),
                None => Value::DateTime(parse_iso(s)?.0),
            },
            ItemType::DateTimeExtended => match fixed_hex(s, 16) {
                Some(v) => Value::DateTimeExtended(v as i64),
                None => {
                    let (secs, micros) = parse_iso(s)?;
                    let v = secs
                        .checked_mul(1_000_000)
                        .and_then(|v| v.checked_add(i64::from(micros)))
                        .ok_or_else(|| format!("{s:?} is out of range for a Date Time Extended"))?;
                    Value::DateTimeExtended(v)
                }
            },
            ItemType::Interval => match (!json)
                .then(|| decimal::<u32>(s))
                .flatten()
                .or_else(|| fixed_hex(s, 8).map(|v| v as u32))
            {
                Some(v) => Value::Interval(v),
                None => {
                    return Err(format!(
                        "{s:?} is not an Interval (unsigned decimal, or 0x and 8 hex digits)"
                    ));
                }
            },
        })
    }

    /// Mask components: bit names or `0x` hex of up to eight digits (the spec's own example
    /// writes `0x0000008`), separated by white space in XML and by `|` in JSON.
    fn mask(&self, s: &str, bits: &[(&str, u32)], of: &str) -> Result<i32, String> {
        let parts: Vec<&str> = match self.dialect {
            Dialect::Xml => s.split_whitespace().collect(),
            Dialect::Json => s.split('|').collect(),
        };
        if parts.is_empty() {
            return Err(format!("empty mask for {of}"));
        }
        let mut v = 0u32;
        for part in parts {
            if let Some(h) = part.strip_prefix("0x") {
                if h.is_empty() || h.len() > 8 || !h.bytes().all(|b| b.is_ascii_hexdigit()) {
                    return Err(format!(
                        "bad mask component {part:?} for {of}: 0x and 1 to 8 hex digits"
                    ));
                }
                v |= u32::from_str_radix(h, 16).map_err(|e| e.to_string())?;
            } else if let Some(&(_, bit)) = bits.iter().find(|(name, _)| *name == part) {
                v |= bit;
            } else {
                return Err(format!("unknown mask name {part:?} for {of}"));
            }
        }
        Ok(v as i32)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn iso_forms() {
        assert_eq!(parse_iso("1970-01-01T00:00:00Z"), Ok((0, 0)));
        assert_eq!(parse_iso("1970-01-01T00:00:00"), Ok((0, 0)));
        assert_eq!(parse_iso("2001-01-01T10:00:00+10:00"), Ok((978_307_200, 0)));
        assert_eq!(parse_iso("2014-06-10T08:04:52+00:00"), Ok((0x5396_bc24, 0)));
        assert_eq!(
            parse_iso("1970-01-01T00:00:01.1234567-01:30"),
            Ok((5401, 123_456))
        );
        for bad in [
            "$NOW",
            "$NOW-3600",
            "2001-13-01T00:00:00Z",
            "2001-02-30T00:00:00Z",
            "2001-01-01",
            "2001-01-01T00:00:00+15:00",
            "2001-01-01T00:00:00.Z",
            "2001-01-01T00:00:00 ",
        ] {
            assert!(parse_iso(bad).is_err(), "{bad}");
        }
        assert_eq!(
            iso_datetime(0x5396_bc24, None).as_deref(),
            Some("2014-06-10T08:04:52+00:00")
        );
        assert_eq!(
            datetime_extended_text(-1),
            "1969-12-31T23:59:59.999999+00:00"
        );
        assert_eq!(datetime_text(i64::MAX), "0x7fffffffffffffff");
    }

    #[test]
    fn masks_and_big_integers() {
        let bits = [("Encrypt", 4), ("Decrypt", 8), ("CertificateSign", 0x1000)];
        assert_eq!(
            mask_text(&bits, 0x100c, " ").as_deref(),
            Some("Encrypt Decrypt CertificateSign")
        );
        assert_eq!(
            mask_text(&bits, 0x10004 | 8, "|").as_deref(),
            Some("Encrypt|Decrypt|0x00010000")
        );
        assert_eq!(mask_text(&bits, 0x10000, "|"), None);
        assert_eq!(
            big_integer_bytes(&[0x80]),
            [0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x80]
        );
        assert_eq!(big_integer_bytes(&[]), [0; 8]);
        assert_eq!(fixed_hex("0x0000000A", 8), Some(10));
        assert_eq!(fixed_hex("0x000000A", 8), None);
        assert_eq!(fixed_hex("0X0000000A", 8), None);
        assert!(hex_bytes("abc").is_err());
        assert!(hex_bytes("zz").is_err());
    }
}
