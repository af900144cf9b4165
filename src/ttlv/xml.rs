//! The XML encoding of TTLV (KMIP Additional Message Encodings v1.0, section 6).
//!
//! Each item is an element named after its tag (`<BatchCount type="Integer" value="1"/>`),
//! or, for a tag the [`Names`] do not know, the general form
//! `<TTLV tag="0x540001" type="Integer" value="1"/>`. Structures have no `type` and hold
//! their items as child elements. [`to_xml`] writes the style of the OASIS test cases:
//! two-space indentation, enumerations and masks by name, Date-Time as
//! `2014-06-10T08:03:34+00:00`, byte strings in lower-case hex.
//!
//! Reading is strict: an unknown element, attribute, type, tag name or enumeration name is
//! an error that names the line, column and path of tags. Test-case placeholders such as
//! `$NOW` or `$KEY_MATERIAL_0` are not data and are rejected like any bad value.
//!
//! Accepted beyond what [`to_xml`] writes, as section 6 allows: `type="Structure"`; the
//! `TTLV` form for any tag (its `tag` attribute a name or `0x` hex, its optional `name`
//! checked against the tables when they know it); an element named `x` and six hex digits
//! (the form of the spec's own example in 6.1.6.5); `xmlns="urn:oasis:tc:kmip:xmlns"`;
//! hex (`0x` and all digits) for Integer, Long Integer, Interval, Enumeration and
//! Date-Time; `1`/`0` for Booleans; an offset or no zone on a Date-Time (no zone is UTC;
//! fractional seconds are truncated, as 4.1.6.11 says). Not accepted: namespace prefixes,
//! CDATA, DOCTYPE, processing instructions, and text between elements.
//!
//! Date-Time Extended (KMIP 2.0) is not in the 2015 document: it is written as an xsd
//! date-time with six fraction digits and read with up to six (more are truncated).

use std::borrow::Cow;
use std::fmt::Write as _;

use quick_xml::events::{BytesStart, Event};

use super::text::{self, Builder, Dialect, Namer, RawNode, RawValue};
use super::{Item, ItemType, Names, OwnedItem, Tag, TextError, Value};

/// The namespace section 6.1.6 names, accepted as a default namespace declaration.
pub const NAMESPACE: &str = "urn:oasis:tc:kmip:xmlns";

/// Root elements that hold a sequence of messages: `KMIP` in the KMIP 1.4 and 2.1 test
/// cases, `KmipTestCase` in the 1.0–1.2 ones.
pub const CONTAINERS: [&str; 2] = ["KMIP", "KmipTestCase"];

/// Deepest nesting read. Deeper trees could not be decoded in binary with the default
/// limits anyway, and a bound keeps recursion and drop shallow on hostile input.
const MAX_DEPTH: usize = 64;

/// Writes `item` as indented XML, one element per line, ending with a newline.
pub fn to_xml(item: &Item<'_>, names: &dyn Names) -> String {
    let mut out = String::new();
    let namer = Namer::new(names);
    write_item(&mut out, &namer, item, None, 0);
    out
}

/// Writes several messages inside a `<KMIP>` root, the layout of the test-case files.
pub fn messages_to_xml(items: &[Item<'_>], names: &dyn Names) -> String {
    let mut out = String::from("<KMIP>\n");
    let namer = Namer::new(names);
    for item in items {
        write_item(&mut out, &namer, item, None, 1);
    }
    out.push_str("</KMIP>\n");
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
    let (open, close) = match namer.tag_name(item.tag) {
        Some(name) => (name.to_owned(), name.to_owned()),
        None => (
            format!("TTLV tag=\"{}\"", text::tag_hex(item.tag)),
            "TTLV".to_owned(),
        ),
    };
    let attr_name = attr.cloned();
    let ctx = namer.context(item.tag, &attr_name);
    let value = match &item.value {
        Value::Structure(items) => {
            if items.is_empty() {
                let _ = writeln!(out, "{indent}<{open}/>");
            } else {
                let _ = writeln!(out, "{indent}<{open}>");
                let child_attr = namer.attribute_name_of(items);
                for child in items {
                    write_item(out, namer, child, child_attr.as_ref(), depth + 1);
                }
                let _ = writeln!(out, "{indent}</{close}>");
            }
            return;
        }
        Value::Integer(v) => names
            .mask_bits(item.tag, ctx)
            .and_then(|bits| text::mask_text(bits, *v, " "))
            .unwrap_or_else(|| v.to_string()),
        Value::LongInteger(v) => v.to_string(),
        Value::BigInteger(b) => hex::encode(text::big_integer_bytes(b)),
        Value::Enumeration(v) => text::enum_text(names, item.tag, ctx, *v),
        Value::Boolean(v) => v.to_string(),
        Value::TextString(s) => escape(s).into_owned(),
        Value::ByteString(b) => hex::encode(b),
        Value::DateTime(v) => text::datetime_text(*v),
        Value::Interval(v) => v.to_string(),
        Value::DateTimeExtended(v) => text::datetime_extended_text(*v),
    };
    let _ = writeln!(
        out,
        "{indent}<{open} type=\"{}\" value=\"{value}\"/>",
        item.value.item_type().name()
    );
}

/// Escapes an attribute value. White space other than the space is written as a character
/// reference, since XML normalises a literal tab or newline in an attribute to a space.
fn escape(s: &str) -> Cow<'_, str> {
    if !s
        .chars()
        .any(|c| matches!(c, '&' | '<' | '>' | '"' | '\'') || c.is_control())
    {
        return Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            c if c.is_control() => {
                let _ = write!(out, "&#{};", c as u32);
            }
            c => out.push(c),
        }
    }
    Cow::Owned(out)
}

/// Unescapes an attribute value and normalises its white space as XML 1.0 does (section 3.3.3:
/// a literal tab, line feed or carriage return becomes a space).
///
/// Character references are accepted for every Unicode scalar value, U+0000 included, which
/// strict XML 1.0 forbids: a Text String may hold any character, the writer escapes control
/// characters as `&#N;`, and what this module writes it must read back (found by the `text`
/// fuzz target, regression test `bug001_nul_in_text_string_round_trips`).
fn unescape_attribute(raw: &str) -> Result<Cow<'_, str>, String> {
    if !raw.contains(['&', '\t', '\n', '\r']) {
        return Ok(Cow::Borrowed(raw));
    }
    let mut out = String::with_capacity(raw.len());
    let mut rest = raw;
    while let Some(i) = rest.find(['&', '\t', '\n', '\r']) {
        out.push_str(&rest[..i]);
        if rest.as_bytes()[i] != b'&' {
            out.push(' ');
            rest = &rest[i + 1..];
            continue;
        }
        let end = rest[i..]
            .find(';')
            .map(|e| i + e)
            .ok_or_else(|| format!("unterminated reference in {raw:?}"))?;
        let name = &rest[i + 1..end];
        let c = match name {
            "amp" => '&',
            "lt" => '<',
            "gt" => '>',
            "quot" => '"',
            "apos" => '\'',
            _ => {
                let code = if let Some(hex) = name.strip_prefix("#x") {
                    u32::from_str_radix(hex, 16).ok()
                } else if let Some(dec) = name.strip_prefix('#') {
                    dec.parse::<u32>().ok()
                } else {
                    None
                };
                code.and_then(char::from_u32)
                    .ok_or_else(|| format!("unknown reference &{name};"))?
            }
        };
        out.push(c);
        rest = &rest[end + 1..];
    }
    out.push_str(rest);
    Ok(Cow::Owned(out))
}

/// Reads one element (one message or any single item).
pub fn from_xml(text: &str, names: &dyn Names) -> Result<OwnedItem, TextError> {
    let mut roots = Parser::new(text, names).parse(false)?;
    match roots.pop() {
        Some(root) => Builder::new(names, Dialect::Xml).build(root),
        None => Err(TextError::new("line 1, column 1", "no element")),
    }
}

/// Reads the messages of a `<KMIP>` (or `<KmipTestCase>`) root in order, comments skipped.
pub fn messages_from_xml(text: &str, names: &dyn Names) -> Result<Vec<OwnedItem>, TextError> {
    let roots = Parser::new(text, names).parse(true)?;
    let mut builder = Builder::new(names, Dialect::Xml);
    roots.into_iter().map(|r| builder.build(r)).collect()
}

/// Whether `text`'s root element is one of [`CONTAINERS`], i.e. holds several messages.
pub fn is_container(text: &str) -> bool {
    let mut reader = quick_xml::Reader::from_str(text);
    loop {
        match reader.read_event() {
            Ok(Event::Start(e) | Event::Empty(e)) => {
                return CONTAINERS.iter().any(|c| e.name().as_ref() == *c);
            }
            Ok(Event::Eof) | Err(_) => return false,
            Ok(_) => {}
        }
    }
}

/// The first phase: syntax, tags and types, values kept as written.
struct Parser<'t, 'n> {
    text: &'t str,
    names: &'n dyn Names,
}

impl<'t, 'n> Parser<'t, 'n> {
    fn new(text: &'t str, names: &'n dyn Names) -> Self {
        Parser { text, names }
    }

    fn line_col(&self, offset: usize) -> (usize, usize) {
        let before = &self.text.as_bytes()[..offset.min(self.text.len())];
        let line = before.iter().filter(|&&b| b == b'\n').count() + 1;
        let start = before
            .iter()
            .rposition(|&b| b == b'\n')
            .map_or(0, |p| p + 1);
        let col = String::from_utf8_lossy(&before[start..]).chars().count() + 1;
        (line, col)
    }

    fn err(&self, offset: usize, path: &[RawNode<'t>], message: impl Into<String>) -> TextError {
        let (line, col) = self.line_col(offset);
        let path: Vec<&str> = path.iter().map(|n| n.label.as_str()).collect();
        let context = if path.is_empty() {
            format!("line {line}, column {col}")
        } else {
            format!("line {line}, column {col} ({})", path.join("/"))
        };
        TextError::new(context, message)
    }

    /// Parses the document. With `container`, the root must be one of [`CONTAINERS`] and
    /// its children are returned; otherwise the root element itself.
    fn parse(&self, container: bool) -> Result<Vec<RawNode<'t>>, TextError> {
        let mut reader = quick_xml::Reader::from_str(self.text);
        reader.config_mut().check_end_names = true;
        // Open elements; index 0 is the container's stand-in when `container`.
        let mut stack: Vec<RawNode<'t>> = Vec::new();
        let mut done: Vec<RawNode<'t>> = Vec::new();
        let mut seen_root = false;
        let mut in_container = false;
        loop {
            let at = reader.buffer_position() as usize;
            let event = reader.read_event().map_err(|e| {
                self.err(
                    reader.error_position() as usize,
                    &stack,
                    format!("malformed XML: {e}"),
                )
            })?;
            let is_start = matches!(event, Event::Start(_));
            match event {
                Event::Decl(_) if !seen_root => {}
                Event::Comment(_) => {}
                Event::Text(t) => {
                    if !t.bytes().all(|b| b.is_ascii_whitespace()) {
                        return Err(self.err(
                            at,
                            &stack,
                            "text content is not allowed; values go in the value attribute",
                        ));
                    }
                }
                Event::Start(e) | Event::Empty(e) if container && !seen_root => {
                    let name = e.name();
                    if !CONTAINERS.iter().any(|c| name.as_ref() == *c) {
                        return Err(self.err(
                            at,
                            &stack,
                            format!(
                                "the root element must be <KMIP> or <KmipTestCase>, not <{}>",
                                name.as_ref()
                            ),
                        ));
                    }
                    for a in e.attributes() {
                        let a = a.map_err(|err| {
                            self.err(at, &stack, format!("malformed attribute: {err}"))
                        })?;
                        self.check_xmlns(a.key.as_ref(), &a.value, at, &stack)?;
                    }
                    seen_root = true;
                    in_container = is_start;
                }
                Event::Start(e) | Event::Empty(e) => {
                    if seen_root && stack.is_empty() && !in_container {
                        return Err(self.err(at, &stack, "more than one root element"));
                    }
                    seen_root = true;
                    if stack.len() >= MAX_DEPTH {
                        return Err(self.err(
                            at,
                            &stack,
                            format!("nesting deeper than {MAX_DEPTH} elements"),
                        ));
                    }
                    let node = self.element(&e, at, &stack)?;
                    if is_start {
                        stack.push(node);
                    } else {
                        self.attach(node, at, &mut stack, &mut done)?;
                    }
                }
                Event::End(_) => match stack.pop() {
                    Some(node) => self.attach(node, at, &mut stack, &mut done)?,
                    // The container's own end tag.
                    None => in_container = false,
                },
                Event::Eof => break,
                Event::CData(_) => return Err(self.err(at, &stack, "CDATA is not allowed")),
                Event::DocType(_) => return Err(self.err(at, &stack, "DOCTYPE is not allowed")),
                Event::PI(_) => {
                    return Err(self.err(at, &stack, "processing instructions are not allowed"));
                }
                Event::GeneralRef(_) => {
                    return Err(self.err(at, &stack, "text content is not allowed"));
                }
                Event::Decl(_) => {
                    return Err(self.err(at, &stack, "an XML declaration must come first"));
                }
            }
        }
        if !stack.is_empty() || in_container {
            return Err(self.err(
                self.text.len(),
                &stack,
                "unexpected end of input: unclosed element",
            ));
        }
        if !seen_root {
            return Err(self.err(self.text.len(), &stack, "no element"));
        }
        Ok(done)
    }

    /// Adds a finished node to its parent, or to the finished roots.
    fn attach(
        &self,
        node: RawNode<'t>,
        at: usize,
        stack: &mut [RawNode<'t>],
        done: &mut Vec<RawNode<'t>>,
    ) -> Result<(), TextError> {
        let Some(parent) = stack.last_mut() else {
            done.push(node);
            return Ok(());
        };
        if parent.item_type != ItemType::Structure {
            let message = format!("a {} cannot hold items", parent.item_type.name());
            return Err(self.err(at, stack, message));
        }
        match &mut parent.value {
            RawValue::Items(items) => items.push(node),
            other => *other = RawValue::Items(vec![node]),
        }
        Ok(())
    }

    fn check_xmlns(
        &self,
        key: &str,
        value: &str,
        at: usize,
        stack: &[RawNode<'t>],
    ) -> Result<(), TextError> {
        if key == "xmlns" && value == NAMESPACE {
            Ok(())
        } else {
            Err(self.err(at, stack, format!("unknown attribute {key}")))
        }
    }

    /// Reads an element's name and attributes into a node with no children yet.
    fn element(
        &self,
        e: &BytesStart<'t>,
        at: usize,
        stack: &[RawNode<'t>],
    ) -> Result<RawNode<'t>, TextError> {
        let name = e.name().as_ref().to_owned();
        let mut tag_attr: Option<String> = None;
        let mut name_attr: Option<String> = None;
        let mut type_attr: Option<String> = None;
        let mut value: RawValue<'t> = RawValue::Absent;
        for a in e.attributes() {
            let a = a.map_err(|err| {
                self.err(at, stack, format!("<{name}>: malformed attribute: {err}"))
            })?;
            let v = unescape_attribute(&a.value).map_err(|err| {
                self.err(at, stack, format!("<{name}>: bad attribute value: {err}"))
            })?;
            let slot = match a.key.as_ref() {
                "tag" if name == "TTLV" => &mut tag_attr,
                "name" if name == "TTLV" => &mut name_attr,
                "type" => &mut type_attr,
                "value" => {
                    value = RawValue::Text(Cow::Owned(v.into_owned()));
                    continue;
                }
                key => {
                    self.check_xmlns(key, &a.value, at, stack).map_err(|err| {
                        TextError::new(err.context, format!("<{name}>: {}", err.message))
                    })?;
                    continue;
                }
            };
            *slot = Some(v.into_owned());
        }
        let (tag, label) = if name == "TTLV" {
            let t = tag_attr.ok_or_else(|| self.err(at, stack, "<TTLV> needs a tag attribute"))?;
            let tag = self.tag(&t).ok_or_else(|| {
                self.err(
                    at,
                    stack,
                    format!("unknown tag {t:?} (a name, or 0x and 6 hex digits)"),
                )
            })?;
            if let Some(n) = &name_attr {
                if let Some(known) = self.names.tag_by_name(n) {
                    if known != tag {
                        return Err(self.err(
                            at,
                            stack,
                            format!("<TTLV> name {n:?} is tag {known}, not {tag}"),
                        ));
                    }
                }
            }
            (tag, name_attr.unwrap_or(t))
        } else {
            let tag = self
                .tag_by_element(&name)
                .ok_or_else(|| self.err(at, stack, format!("unknown tag name <{name}>")))?;
            (tag, name)
        };
        let item_type = match type_attr.as_deref() {
            None => ItemType::Structure,
            Some(t) => ItemType::from_name(t)
                .ok_or_else(|| self.err(at, stack, format!("<{label}>: unknown type {t:?}")))?,
        };
        if item_type == ItemType::Structure && !matches!(value, RawValue::Absent) {
            return Err(self.err(
                at,
                stack,
                format!("<{label}>: a Structure has no value attribute"),
            ));
        }
        Ok(RawNode {
            tag,
            label,
            item_type,
            value,
            at: Some(self.line_col(at)),
        })
    }

    fn tag(&self, s: &str) -> Option<Tag> {
        text::parse_tag_hex(s).or_else(|| self.names.tag_by_name(s))
    }

    fn tag_by_element(&self, name: &str) -> Option<Tag> {
        self.names.tag_by_name(name).or_else(|| {
            let hex = name.strip_prefix('x')?;
            text::parse_tag_hex(&format!("0x{hex}"))
        })
    }
}
