//! Shape tests for the XML and JSON encodings, `show` and `convert`, with a handful of
//! names. The golden tests against the OASIS vectors and the real KMIP tables live in
//! `kmip-spec-tests/ttlv_text.rs`.

use std::borrow::Cow;

use super::*;

/// A few tags, one enumeration, one mask and the 1.x attribute context.
struct Few;

const TAGS: &[(&str, u32)] = &[
    ("RequestMessage", 0x42_0078),
    ("BatchCount", 0x42_000D),
    ("ObjectType", 0x42_0057),
    ("CryptographicUsageMask", 0x42_002C),
    ("Attribute", 0x42_0008),
    ("AttributeName", 0x42_000A),
    ("AttributeValue", 0x42_000B),
    ("ActivationDate", 0x42_0001),
    ("UniqueIdentifier", 0x42_0094),
    ("KeyMaterial", 0x42_0043),
];
const OBJECT_TYPES: &[(&str, u32)] = &[("Certificate", 1), ("SymmetricKey", 2)];
const USAGE: &[(&str, u32)] = &[
    ("Sign", 1),
    ("Verify", 2),
    ("Encrypt", 4),
    ("Decrypt", 8),
    ("CertificateSign", 0x1000),
];

impl Names for Few {
    fn tag_name(&self, tag: Tag) -> Option<&str> {
        TAGS.iter().find(|t| t.1 == tag.0).map(|t| t.0)
    }
    fn tag_by_name(&self, name: &str) -> Option<Tag> {
        TAGS.iter().find(|t| t.0 == name).map(|t| Tag(t.1))
    }
    fn enum_name(&self, tag: Tag, ctx: NameContext<'_>, value: u32) -> Option<&str> {
        let object_type = tag.0 == 0x42_0057 || ctx.attribute_name == Some("Object Type");
        object_type
            .then(|| OBJECT_TYPES.iter().find(|e| e.1 == value).map(|e| e.0))
            .flatten()
    }
    fn enum_by_name(&self, tag: Tag, ctx: NameContext<'_>, name: &str) -> Option<u32> {
        let object_type = tag.0 == 0x42_0057 || ctx.attribute_name == Some("Object Type");
        object_type
            .then(|| OBJECT_TYPES.iter().find(|e| e.0 == name).map(|e| e.1))
            .flatten()
    }
    fn mask_bits(&self, tag: Tag, ctx: NameContext<'_>) -> Option<&[(&str, u32)]> {
        (tag.0 == 0x42_002C || ctx.attribute_name == Some("Cryptographic Usage Mask"))
            .then_some(USAGE)
    }
}

fn item(tag: u32, value: Value<'static>) -> OwnedItem {
    Item::new(tag, value)
}

/// One item of every type, known and unknown tags, the 1.x attribute context.
fn sample() -> OwnedItem {
    Item::structure(
        0x42_0078,
        vec![
            item(0x42_000D, Value::Integer(-1)),
            item(0x54_0001, Value::LongInteger(-2)),
            item(0x54_0002, Value::BigInteger(Cow::Owned(vec![0xFF, 0x01]))),
            item(0x42_0057, Value::Enumeration(2)),
            item(0x42_0057, Value::Enumeration(0x8000_0001)),
            item(0x54_0003, Value::Boolean(true)),
            item(
                0x42_0094,
                Value::TextString(Cow::Borrowed("a \"quoted\" <tag> & tab\tnew\nline é")),
            ),
            item(
                0x42_0043,
                Value::ByteString(Cow::Borrowed(&[0x00, 0xAB, 0xFF])),
            ),
            item(0x42_0001, Value::DateTime(0x5396_bc24)),
            item(0x54_0004, Value::Interval(3600)),
            item(0x54_0005, Value::DateTimeExtended(1_402_387_492_123_456)),
            item(0x42_002C, Value::Integer(0x100c)),
            item(0x42_002C, Value::Integer(0x10004)),
            item(0x42_002C, Value::Integer(0x10000)),
            Item::structure(0x54_0006, vec![]),
            Item::structure(
                0x42_0008,
                vec![
                    item(0x42_000A, Value::TextString(Cow::Borrowed("Object   Type"))),
                    item(0x42_000B, Value::Enumeration(1)),
                ],
            ),
            Item::structure(
                0x42_0008,
                vec![
                    item(0x42_000B, Value::Integer(12)),
                    item(
                        0x42_000A,
                        Value::TextString(Cow::Borrowed("Cryptographic Usage Mask")),
                    ),
                ],
            ),
        ],
    )
}

/// The sample as the binary encoder sees it: the Big Integer sign-extended.
fn binary_equal(a: &Item<'_>, b: &Item<'_>) -> bool {
    encode(a) == encode(b)
}

#[test]
fn xml_round_trip_of_every_type() {
    let s = sample();
    let text = to_xml(&s, &Few);
    assert!(
        text.contains(r#"<BatchCount type="Integer" value="-1"/>"#),
        "{text}"
    );
    assert!(
        text.contains(r#"<TTLV tag="0x540001" type="LongInteger" value="-2"/>"#),
        "{text}"
    );
    assert!(
        text.contains(r#"<TTLV tag="0x540002" type="BigInteger" value="ffffffffffffff01"/>"#),
        "{text}"
    );
    assert!(
        text.contains(r#"<ObjectType type="Enumeration" value="SymmetricKey"/>"#),
        "{text}"
    );
    assert!(
        text.contains(r#"<ObjectType type="Enumeration" value="0x80000001"/>"#),
        "{text}"
    );
    assert!(
        text.contains(r#"value="a &quot;quoted&quot; &lt;tag&gt; &amp; tab&#9;new&#10;line é""#),
        "{text}"
    );
    assert!(
        text.contains(r#"<KeyMaterial type="ByteString" value="00abff"/>"#),
        "{text}"
    );
    assert!(
        text.contains(r#"<ActivationDate type="DateTime" value="2014-06-10T08:04:52+00:00"/>"#),
        "{text}"
    );
    assert!(
        text.contains(r#"type="DateTimeExtended" value="2014-06-10T08:04:52.123456+00:00"/>"#),
        "{text}"
    );
    assert!(
        text.contains(r#"value="Encrypt Decrypt CertificateSign"/>"#),
        "{text}"
    );
    assert!(text.contains(r#"value="Encrypt 0x00010000"/>"#), "{text}");
    assert!(
        text.contains(r#"<CryptographicUsageMask type="Integer" value="65536"/>"#),
        "{text}"
    );
    assert!(text.contains(r#"<TTLV tag="0x540006"/>"#), "{text}");
    assert!(
        text.contains(r#"<AttributeValue type="Enumeration" value="Certificate"/>"#),
        "{text}"
    );
    assert!(
        text.contains(r#"<AttributeValue type="Integer" value="Encrypt Decrypt"/>"#),
        "{text}"
    );
    let back = from_xml(&text, &Few).unwrap();
    assert!(binary_equal(&back, &s), "{back:?}");
}

#[test]
fn json_round_trip_of_every_type() {
    let s = sample();
    let text = to_json(&s, &Few);
    assert!(
        text.contains(r#"{"tag":"BatchCount", "type":"Integer", "value":"0xffffffff"}"#),
        "{text}"
    );
    assert!(
        text.contains(r#"{"tag":"0x540001", "type":"LongInteger", "value":"0xfffffffffffffffe"}"#),
        "{text}"
    );
    assert!(text.contains(r#""value":"0xffffffffffffff01""#), "{text}");
    assert!(
        text.contains(r#""value":"Encrypt|Decrypt|CertificateSign""#),
        "{text}"
    );
    assert!(text.contains(r#""type":"Boolean", "value":true"#), "{text}");
    assert!(
        text.contains(r#""value":"2014-06-10T08:04:52+00:00""#),
        "{text}"
    );
    let back = from_json(&text, &Few).unwrap();
    assert!(binary_equal(&back, &s), "{back:?}");
    let v: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert_eq!(v["value"][0]["tag"], "BatchCount");
}

#[test]
fn spec_examples_are_read() {
    // Section 6.1.6 and 4.1.6, with the names we have.
    let xml = [
        (
            r#"<TTLV tag="0x420001" name="ActivationDate" type="DateTime" value="2001-01-01T10:00:00+10:00"/>"#,
            Value::DateTime(978_307_200),
        ),
        (
            r#"<TTLV tag="0x420001" type="DateTime" value="2001-01-01T10:00:00+10:00"/>"#,
            Value::DateTime(978_307_200),
        ),
        (
            r#"<ActivationDate xmlns="urn:oasis:tc:kmip:xmlns" type="DateTime" value="2001-01-01T00:00:00Z"/>"#,
            Value::DateTime(978_307_200),
        ),
        (
            r#"<TTLV tag="0x54FFFF" name="SomeExtension" type="TextString" value="x"/>"#,
            Value::TextString("x".into()),
        ),
        (
            r#"<x540001 type="LongInteger" value="-2"/>"#,
            Value::LongInteger(-2),
        ),
        (
            r#"<CryptographicUsageMask type="Integer" value="0x0000100c"/>"#,
            Value::Integer(0x100c),
        ),
        (
            r#"<CryptographicUsageMask type="Integer" value="Encrypt Decrypt CertificateSign"/>"#,
            Value::Integer(0x100c),
        ),
        (
            r#"<CryptographicUsageMask type="Integer" value="CertificateSign 0x00000004 0x0000008"/>"#,
            Value::Integer(0x100c),
        ),
        (
            r#"<CryptographicUsageMask type="Integer" value="CertificateSign   0x0000000c"/>"#,
            Value::Integer(0x100c),
        ),
        (
            r#"<ObjectType type="Enumeration" value="0x00000002"/>"#,
            Value::Enumeration(2),
        ),
        (
            r#"<TTLV tag="ObjectType" type="Enumeration" value="SymmetricKey"/>"#,
            Value::Enumeration(2),
        ),
        (
            r#"<BatchCount type="Integer" value="10"/>"#,
            Value::Integer(10),
        ),
        (
            r#"<TTLV tag="0x540002" type="BigInteger" value="0000000000000000"/>"#,
            Value::BigInteger(Cow::Owned(vec![0; 8])),
        ),
        (
            r#"<TTLV tag="0x540003" type="Boolean" value="1"/>"#,
            Value::Boolean(true),
        ),
        (
            r#"<TTLV tag="0x540004" type="Interval" value="27"/>"#,
            Value::Interval(27),
        ),
        (
            r#"<KeyMaterial type="ByteString" value="C50F77"/>"#,
            Value::ByteString(Cow::Owned(vec![0xC5, 0x0F, 0x77])),
        ),
        (
            r#"<RequestMessage type="Structure"></RequestMessage>"#,
            Value::Structure(vec![]),
        ),
    ];
    for (text, value) in xml {
        let got = from_xml(text, &Few).unwrap_or_else(|e| panic!("{text}: {e}"));
        assert_eq!(got.value, value, "{text}");
    }
    let json = [
        (
            r#"{"tag": "0x420001", "type":"DateTime", "value":"2001-01-01T10:00:00+10:00"}"#,
            Value::DateTime(978_307_200),
        ),
        (
            r#"{"tag": "ActivationDate", "type":"DateTime", "value":"0x000000003a505520"}"#,
            Value::DateTime(0x3a50_5520),
        ),
        (
            r#"{"tag": "0x54FFFF", "name":"SomeExtension", "type":"Integer", "value":"0x00000001"}"#,
            Value::Integer(1),
        ),
        (
            r#"{"tag": "BatchCount", "type":"Integer", "value":10}"#,
            Value::Integer(10),
        ),
        (
            r#"{"tag": "CryptographicUsageMask", "type":"Integer", "value": "CertificateSign|0x00000004|0x0000008"}"#,
            Value::Integer(0x100c),
        ),
        (
            r#"{"tag": "0x540001", "type":"LongInteger", "value":-2}"#,
            Value::LongInteger(-2),
        ),
        (
            r#"{"tag": "0x540001", "type":"LongInteger", "value":"0x1000000000000000"}"#,
            Value::LongInteger(1 << 60),
        ),
        (
            r#"{"tag": "0x540002", "type":"BigInteger", "value":0}"#,
            Value::BigInteger(Cow::Owned(vec![0; 8])),
        ),
        (
            r#"{"tag": "0x540002", "type":"BigInteger", "value":"0x0000000000000000"}"#,
            Value::BigInteger(Cow::Owned(vec![0; 8])),
        ),
        (
            r#"{"tag": "0x420057", "type":"Enumeration", "value":2}"#,
            Value::Enumeration(2),
        ),
        (
            r#"{"tag": "ObjectType", "type":"Enumeration", "value":"SymmetricKey"}"#,
            Value::Enumeration(2),
        ),
        (
            r#"{"tag": "0x540003", "type":"Boolean", "value":"0x0000000000000001"}"#,
            Value::Boolean(true),
        ),
        (
            r#"{"tag": "0x540004", "type":"Interval", "value":"0x0000001b"}"#,
            Value::Interval(27),
        ),
        (
            r#"{"tag": "RequestMessage", "type":"Structure", "value":null}"#,
            Value::Structure(vec![]),
        ),
        (
            r#"{"tag": "RequestMessage", "value":[{"tag":"BatchCount", "type":"Integer", "value":1}]}"#,
            Value::Structure(vec![item(0x42_000D, Value::Integer(1))]),
        ),
    ];
    for (text, value) in json {
        let got = from_json(text, &Few).unwrap_or_else(|e| panic!("{text}: {e}"));
        assert_eq!(got.value, value, "{text}");
    }
}

/// Each bad input must fail with a message naming the fault, and the place.
#[test]
fn xml_errors_name_place_and_fault() {
    let cases = [
        (
            "<RequestMessage>\n  <Bogus type=\"Integer\" value=\"1\"/>\n</RequestMessage>",
            "line 2, column 3",
            "unknown tag name <Bogus>",
        ),
        (
            "<RequestMessage>\n <ObjectType type=\"Enumeration\" value=\"Key\"/></RequestMessage>",
            "line 2, column 2 (RequestMessage/ObjectType)",
            "unknown enumeration name \"Key\"",
        ),
        (
            "<KeyMaterial type=\"ByteString\" value=\"$KEY_MATERIAL_0\"/>",
            "line 1, column 1 (KeyMaterial)",
            "bad hex",
        ),
        (
            "<ActivationDate type=\"DateTime\" value=\"$NOW\"/>",
            "(ActivationDate)",
            "not an ISO-8601",
        ),
        (
            "<BatchCount type=\"Int\" value=\"1\"/>",
            "line 1",
            "unknown type \"Int\"",
        ),
        (
            "<BatchCount type=\"Integer\" value=\"1\" extra=\"x\"/>",
            "line 1",
            "unknown attribute extra",
        ),
        (
            "<BatchCount type=\"Integer\"/>",
            "BatchCount",
            "needs a value",
        ),
        (
            "<BatchCount type=\"Integer\" value=\"0x1\"/>",
            "BatchCount",
            "not an Integer",
        ),
        (
            "<BatchCount type=\"Integer\" value=\"Encrypt\"/>",
            "BatchCount",
            "not an Integer",
        ),
        (
            "<CryptographicUsageMask type=\"Integer\" value=\"Encrypt Fly\"/>",
            "CryptographicUsageMask",
            "unknown mask name \"Fly\"",
        ),
        (
            "<BatchCount type=\"Integer\" value=\"1\"><BatchCount type=\"Integer\" value=\"1\"/></BatchCount>",
            "line 1",
            "cannot hold items",
        ),
        (
            "<RequestMessage value=\"1\"/>",
            "line 1",
            "no value attribute",
        ),
        (
            "<RequestMessage>text</RequestMessage>",
            "line 1",
            "text content",
        ),
        ("<RequestMessage>", "line 1", "unclosed"),
        ("<RequestMessage></BatchCount>", "line 1", "malformed XML"),
        (
            "<RequestMessage/><RequestMessage/>",
            "line 1, column 18",
            "more than one root",
        ),
        (
            "<TTLV type=\"Integer\" value=\"1\"/>",
            "line 1",
            "needs a tag",
        ),
        (
            "<TTLV tag=\"0x4200\" type=\"Integer\" value=\"1\"/>",
            "line 1",
            "unknown tag \"0x4200\"",
        ),
        (
            "<TTLV tag=\"0x42000D\" name=\"ObjectType\" type=\"Integer\" value=\"1\"/>",
            "line 1",
            "is tag 0x420057",
        ),
        (
            "<TTLV tag=\"0x540002\" type=\"BigInteger\" value=\"0001\"/>",
            "0x540002",
            "multiple of 8",
        ),
        (
            "<TTLV tag=\"0x540003\" type=\"Boolean\" value=\"yes\"/>",
            "0x540003",
            "not a Boolean",
        ),
        (
            "<TTLV tag=\"0x540004\" type=\"Interval\" value=\"-1\"/>",
            "0x540004",
            "not an Interval",
        ),
        (
            "<RequestMessage xmlns=\"urn:other\"/>",
            "line 1",
            "unknown attribute xmlns",
        ),
        ("", "line 1", "no element"),
    ];
    for (text, context, message) in cases {
        let e = from_xml(text, &Few).expect_err(text);
        assert!(
            e.context.contains(context),
            "{text}: context {:?}",
            e.context
        );
        assert!(
            e.message.contains(message),
            "{text}: message {:?}",
            e.message
        );
    }
    let deep = "<RequestMessage>".repeat(100) + &"</RequestMessage>".repeat(100);
    assert!(
        from_xml(&deep, &Few)
            .unwrap_err()
            .message
            .contains("deeper")
    );
}

#[test]
fn json_errors_name_place_and_fault() {
    let cases = [
        (
            r#"{"tag":"Bogus", "type":"Integer", "value":1}"#,
            "Bogus",
            "unknown tag \"Bogus\"",
        ),
        (
            r#"{"tag":"RequestMessage", "value":[{"tag":"ObjectType", "type":"Enumeration", "value":"Key"}]}"#,
            "RequestMessage/ObjectType",
            "unknown enumeration name",
        ),
        (
            r#"{"tag":"BatchCount", "type":"Integer", "value":1, "value":2}"#,
            "line 1",
            "duplicate key",
        ),
        (
            r#"{"tag":"BatchCount", "type":"Integer", "valu":1}"#,
            "line 1",
            "unknown field `valu`",
        ),
        (
            r#"{"tag":"BatchCount", "type":"Integer", "value":1.5}"#,
            "line 1",
            "not an integer",
        ),
        (
            r#"{"tag":"BatchCount", "type":"Integer", "value":"10"}"#,
            "BatchCount",
            "not an Integer",
        ),
        (
            r#"{"tag":"BatchCount", "type":"Integer", "value":4294967296}"#,
            "BatchCount",
            "out of range",
        ),
        (
            r#"{"tag":"BatchCount", "type":"Integer", "value":true}"#,
            "BatchCount",
            "JSON boolean",
        ),
        (
            r#"{"tag":"BatchCount", "type":"Integer"}"#,
            "BatchCount",
            "needs a value",
        ),
        (
            r#"{"tag":"RequestMessage", "value":"x"}"#,
            "RequestMessage",
            "array of items",
        ),
        (
            r#"{"tag":"KeyMaterial", "type":"ByteString", "value":"0x00"}"#,
            "KeyMaterial",
            "bad hex",
        ),
        (
            r#"{"tag":"0x540002", "type":"BigInteger", "value":"00"}"#,
            "0x540002",
            "not a Big Integer",
        ),
        (r#"{"tag":"RequestMessage", "value":[]"#, "line 1", "EOF"),
        (
            r#"{"type":"Integer", "value":1}"#,
            "line 1",
            "missing field `tag`",
        ),
    ];
    for (text, context, message) in cases {
        let e = from_json(text, &Few).expect_err(text);
        assert!(
            e.context.contains(context),
            "{text}: context {:?}",
            e.context
        );
        assert!(
            e.message.contains(message),
            "{text}: message {:?}",
            e.message
        );
    }
}

#[test]
fn messages_in_a_container() {
    let text = "<?xml version=\"1.0\"?>\n<KMIP>\n<!-- a comment -->\n<RequestMessage>\n<BatchCount type=\"Integer\" value=\"1\"/>\n</RequestMessage>\n<!-- another -->\n<RequestMessage/>\n</KMIP>\n";
    let got = messages_from_xml(text, &Few).unwrap();
    assert_eq!(got.len(), 2);
    assert_eq!(got[0].children().len(), 1);
    assert_eq!(messages_from_xml("<KmipTestCase/>", &Few).unwrap().len(), 0);
    let e = messages_from_xml("<Other><RequestMessage/></Other>", &Few).unwrap_err();
    assert!(e.message.contains("root element must be"), "{e}");
    let e = messages_from_xml(
        "<KMIP>\n<RequestMessage>\n<Nope/></RequestMessage></KMIP>",
        &Few,
    )
    .unwrap_err();
    assert_eq!(e.context, "line 3, column 1 (RequestMessage)");
}

#[test]
fn show_names_values_and_prints_bytes_in_full() {
    let s = show(&sample(), &Few);
    assert!(
        s.starts_with("RequestMessage (Structure, 17 items)\n"),
        "{s}"
    );
    assert!(s.contains("  BatchCount (Integer): -1\n"), "{s}");
    assert!(
        s.contains("  ObjectType (Enumeration): SymmetricKey (0x00000002)\n"),
        "{s}"
    );
    assert!(
        s.contains("  ObjectType (Enumeration): 0x80000001 (no name known)\n"),
        "{s}"
    );
    assert!(
        s.contains("  KeyMaterial (ByteString): 00abff (3 bytes)\n"),
        "{s}"
    );
    assert!(
        s.contains("  ActivationDate (DateTime): 2014-06-10T08:04:52+00:00 (1402387492)\n"),
        "{s}"
    );
    assert!(
        s.contains(
            "  CryptographicUsageMask (Integer): Encrypt | Decrypt | CertificateSign (0x0000100c)\n"
        ),
        "{s}"
    );
    assert!(s.contains("  Tag 0x540001 (LongInteger): -2\n"), "{s}");
    assert!(
        s.contains("    AttributeValue (Enumeration): Certificate (0x00000001)\n"),
        "{s}"
    );
}

#[test]
fn convert_between_all_forms() {
    let s = sample();
    let bin = encode(&s);
    let two = [bin.clone(), bin.clone()].concat();
    for to in [Format::Ttlv, Format::Hex, Format::Xml, Format::Json] {
        let one = convert(&bin, Format::Ttlv, to, &Few).unwrap();
        assert_eq!(
            convert(&one, to, Format::Ttlv, &Few).unwrap(),
            bin,
            "{to:?}"
        );
        let many = convert(&two, Format::Ttlv, to, &Few).unwrap();
        assert_eq!(
            convert(&many, to, Format::Ttlv, &Few).unwrap(),
            two,
            "{to:?}"
        );
    }
    let hex = convert(&two, Format::Ttlv, Format::Hex, &Few).unwrap();
    assert_eq!(String::from_utf8(hex).unwrap().lines().count(), 2);
    let e = convert(&bin[..bin.len() - 1], Format::Ttlv, Format::Xml, &Few).unwrap_err();
    assert!(
        matches!(e, ConvertError::Decode(DecodeError { offset: 0, .. })),
        "{e}"
    );
    let mut bad = two.clone();
    bad[bin.len() + 11] = 0x0C; // the second message's first child gets an unknown type
    let e = convert(&bad, Format::Ttlv, Format::Json, &Few).unwrap_err();
    assert!(
        matches!(e, ConvertError::Decode(DecodeError { offset, .. }) if offset == bin.len() + 11),
        "{e}"
    );
    let e = convert(b"42 00 7x", Format::Hex, Format::Xml, &Few).unwrap_err();
    assert_eq!(e.to_string(), "offset 7: 'x' is not a hex digit");
    assert!(matches!(
        convert(&[0xFF], Format::Xml, Format::Ttlv, &Few),
        Err(ConvertError::NotUtf8(0))
    ));
}

#[test]
fn no_names_means_hex_everywhere() {
    let s = sample();
    let xml = to_xml(&s, &NoNames);
    assert!(xml.starts_with("<TTLV tag=\"0x420078\">\n"), "{xml}");
    assert!(
        xml.contains(r#"<TTLV tag="0x420057" type="Enumeration" value="0x00000002"/>"#),
        "{xml}"
    );
    assert!(binary_equal(&from_xml(&xml, &NoNames).unwrap(), &s));
    let json = to_json(&s, &NoNames);
    assert!(binary_equal(&from_json(&json, &NoNames).unwrap(), &s));
}

#[test]
fn control_characters_round_trip() {
    let s = item(0x42_0094, Value::TextString(Cow::Borrowed("\r\n\t\u{1}x")));
    let back = from_xml(&to_xml(&s, &Few), &Few).unwrap();
    assert_eq!(back, s);
    let back = from_json(&to_json(&s, &Few), &Few).unwrap();
    assert_eq!(back, s);
}
