//! Unit tests of the binary codec: known encodings from the spec, the negative corpus (each
//! rule of KMIP 2.1 section 9.1 broken once), and proptest round trips of arbitrary trees.

use std::borrow::Cow;

use proptest::prelude::*;

use super::frame::{self, Frame};
use super::*;

fn hex(s: &str) -> Vec<u8> {
    let s: String = s.split_whitespace().collect();
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).expect("test hex"))
        .collect()
}

fn kind(bytes: &[u8]) -> DecodeErrorKind {
    decode(bytes).expect_err("must be rejected").kind
}

/// The examples of KMIP 2.1 section 9.1.2 ("Examples"), byte for byte.
#[test]
fn spec_examples_decode_and_encode() {
    let cases: Vec<(&str, Value<'static>)> = vec![
        (
            "42 00 20 | 02 | 00 00 00 04 | 00 00 00 08 00 00 00 00",
            Value::Integer(8),
        ),
        (
            "42 00 20 | 03 | 00 00 00 08 | 01 B6 9B 4B A5 74 92 00",
            Value::LongInteger(123_456_789_000_000_000),
        ),
        (
            "42 00 20 | 04 | 00 00 00 10 | 00 00 00 00 03 FD 35 EB 6B C2 DF 46 18 08 00 00",
            Value::BigInteger(Cow::Owned(hex(
                "00 00 00 00 03 FD 35 EB 6B C2 DF 46 18 08 00 00",
            ))),
        ),
        (
            "42 00 20 | 05 | 00 00 00 04 | 00 00 00 FF 00 00 00 00",
            Value::Enumeration(255),
        ),
        (
            "42 00 20 | 06 | 00 00 00 08 | 00 00 00 00 00 00 00 01",
            Value::Boolean(true),
        ),
        (
            "42 00 20 | 07 | 00 00 00 0B | 48 65 6C 6C 6F 20 57 6F 72 6C 64 00 00 00 00 00",
            Value::TextString("Hello World".into()),
        ),
        (
            "42 00 20 | 08 | 00 00 00 03 | 01 02 03 00 00 00 00 00",
            Value::ByteString(Cow::Owned(vec![1, 2, 3])),
        ),
        (
            "42 00 20 | 09 | 00 00 00 08 | 00 00 00 00 47 DA 67 F8",
            Value::DateTime(0x47DA_67F8),
        ),
        (
            "42 00 20 | 0A | 00 00 00 04 | 00 0D 2F 00 00 00 00 00",
            Value::Interval(864_000),
        ),
    ];
    for (wire, value) in cases {
        let bytes = hex(&wire.replace('|', ""));
        let item = Item::new(0x420020, value);
        assert_eq!(decode(&bytes).expect(wire), item, "{wire}");
        assert_eq!(encode(&item), bytes, "{wire}");
    }
    let structure = hex(
        "42 00 20 | 01 | 00 00 00 20 | 42 00 04 | 05 | 00 00 00 04 | 00 00 00 FE 00 00 00 00 | \
         42 00 05 | 02 | 00 00 00 04 | 00 00 00 FF 00 00 00 00"
            .replace('|', "")
            .as_str(),
    );
    let item = Item::structure(
        0x420020,
        vec![
            Item::new(0x420004, Value::Enumeration(254)),
            Item::new(0x420005, Value::Integer(255)),
        ],
    );
    assert_eq!(decode(&structure).unwrap(), item);
    assert_eq!(encode(&item), structure);
}

#[test]
fn byte_and_text_values_borrow_from_the_input() {
    let item = Item::structure(
        0x420001,
        vec![
            Item::new(0x420002, Value::ByteString(Cow::Owned(vec![7; 32]))),
            Item::new(0x420003, Value::TextString("name".into())),
        ],
    );
    let bytes = encode(&item);
    let decoded = decode(&bytes).unwrap();
    for child in decoded.children() {
        match &child.value {
            Value::ByteString(Cow::Borrowed(b)) => {
                assert!(bytes.as_ptr_range().contains(&b.as_ptr()));
            }
            Value::TextString(Cow::Borrowed(s)) => {
                assert!(bytes.as_ptr_range().contains(&s.as_ptr()));
            }
            other => panic!("not borrowed: {other:?}"),
        }
    }
}

#[test]
fn big_integer_is_sign_extended_to_a_multiple_of_eight() {
    let positive = Item::new(0x420001, Value::BigInteger(Cow::Owned(vec![0x01, 0x00])));
    assert_eq!(
        encode(&positive),
        hex("420001 04 00000008 0000000000000100")
    );
    let negative = Item::new(0x420001, Value::BigInteger(Cow::Owned(vec![0x80, 0x00])));
    assert_eq!(
        encode(&negative),
        hex("420001 04 00000008 FFFFFFFFFFFF8000")
    );
    let zero = Item::new(0x420001, Value::BigInteger(Cow::Owned(vec![])));
    assert_eq!(encode(&zero), hex("420001 04 00000008 0000000000000000"));
}

// ---- The negative corpus: one broken rule each, each with its own error. ----

#[test]
fn truncated_items_are_truncated() {
    let good = encode(&Item::new(
        0x420001,
        Value::TextString("Hello World".into()),
    ));
    for cut in [0, 3, 7, 8, 12, good.len() - 1] {
        assert!(
            matches!(kind(&good[..cut]), DecodeErrorKind::Truncated { .. }),
            "cut at {cut}"
        );
    }
}

#[test]
fn wrong_length_for_each_fixed_type() {
    for (code, right) in [
        (0x02u8, 4u32),
        (0x03, 8),
        (0x05, 4),
        (0x06, 8),
        (0x09, 8),
        (0x0A, 4),
        (0x0B, 8),
    ] {
        for wrong in [0u32, 1, right - 1, right + 1, 16] {
            let mut bytes = vec![0x42, 0x00, 0x01, code];
            bytes.extend_from_slice(&wrong.to_be_bytes());
            bytes.extend_from_slice(&[0; 24]);
            let item_type = ItemType::from_code(code).unwrap();
            assert_eq!(
                decode(&bytes).unwrap_err(),
                DecodeError::new(
                    4,
                    DecodeErrorKind::WrongLength {
                        item_type,
                        expected: right,
                        actual: wrong
                    }
                ),
                "{item_type:?} with length {wrong}"
            );
        }
    }
    for wrong in [0u32, 7, 9] {
        let mut bytes = hex("420001 04");
        bytes.extend_from_slice(&wrong.to_be_bytes());
        bytes.extend_from_slice(&[0; 16]);
        assert_eq!(kind(&bytes), DecodeErrorKind::BigIntegerLength(wrong));
    }
}

#[test]
fn unknown_item_type() {
    assert_eq!(
        kind(&hex("420001 0C 00000004 0000000000000000")),
        DecodeErrorKind::UnknownType(0x0C)
    );
    assert_eq!(
        kind(&hex("420001 00 00000004 0000000000000000")),
        DecodeErrorKind::UnknownType(0)
    );
}

#[test]
fn non_zero_padding() {
    let err = decode(&hex("420001 02 00000004 00000008 00000001")).unwrap_err();
    assert_eq!(err, DecodeError::new(12, DecodeErrorKind::NonZeroPadding));
    assert_eq!(
        kind(&hex("420001 07 00000001 41 00000000000001")),
        DecodeErrorKind::NonZeroPadding
    );
}

#[test]
fn find_child_steps_over_siblings() {
    let item = Item::structure(
        0x420125,
        vec![
            Item::new(0x420094, Value::TextString("uid-1".into())),
            Item::structure(
                0x420053,
                vec![Item::new(0x420055, Value::TextString("n".into()))],
            ),
            Item::new(0x420006, Value::ByteString(vec![1, 2, 3].into())),
            Item::new(0x4200A8, Value::Boolean(true)),
            Item::new(0x4200A8, Value::Boolean(false)),
        ],
    );
    let bytes = encode(&item);
    assert_eq!(
        find_child(&bytes, Tag(0x4200A8)),
        Some(Item::new(0x4200A8, Value::Boolean(true)))
    );
    assert_eq!(
        find_child(&bytes, Tag(0x420053)).map(|i| i.tag),
        Some(Tag(0x420053))
    );
    assert_eq!(find_child(&bytes, Tag(0x420001)), None);
    // Not a whole Structure: nothing is found rather than something misread.
    assert_eq!(find_child(&bytes[..bytes.len() - 8], Tag(0x4200A8)), None);
    let text = encode(&Item::new(0x420094, Value::TextString("x".into())));
    assert_eq!(find_child(&text, Tag(0x420094)), None);
    let mut cut = bytes.clone();
    cut[8 + 4..8 + 8].copy_from_slice(&0xFFFF_FFF0u32.to_be_bytes()); // first child too long
    assert_eq!(find_child(&cut, Tag(0x4200A8)), None);
}

#[test]
fn bad_boolean() {
    assert_eq!(
        kind(&hex("420001 06 00000008 0000000000000002")),
        DecodeErrorKind::BadBoolean(2)
    );
    assert_eq!(
        kind(&hex("420001 06 00000008 0100000000000000")),
        DecodeErrorKind::BadBoolean(1 << 56)
    );
}

#[test]
fn invalid_utf8() {
    let err = decode(&hex("420001 07 00000003 41 C3 28 0000000000")).unwrap_err();
    assert_eq!(err, DecodeError::new(9, DecodeErrorKind::InvalidUtf8));
}

#[test]
fn structure_length_mismatch() {
    // Declares 16 bytes, but its child is a 12-byte Text String (8 + 16 bytes): the child
    // overruns its parent although the input holds enough bytes.
    let bytes = hex("420001 01 00000010 420002 07 0000000C 414141414141414141414141 00000000");
    assert_eq!(
        kind(&bytes),
        DecodeErrorKind::StructureLength { declared: 16 }
    );
    // Declares 20 but the child fills only 16: the remaining 4 are not a whole item.
    let bytes = hex("420001 01 00000014 420002 02 00000004 00000001 00000000 00000000 00000000");
    assert!(matches!(
        kind(&bytes),
        DecodeErrorKind::StructureLength { declared: 20 }
    ));
    // Trailing bytes after a complete top-level item.
    let bytes = hex("420002 02 00000004 00000001 00000000 00");
    assert_eq!(kind(&bytes), DecodeErrorKind::TrailingBytes(1));
}

#[test]
fn nesting_beyond_the_limit() {
    let mut item = Item::new(0x420002, Value::Integer(1));
    for _ in 0..40 {
        item = Item::structure(0x420001, vec![item]);
    }
    let bytes = encode(&item);
    assert_eq!(kind(&bytes), DecodeErrorKind::TooDeep(32));
    let limits = DecodeLimits {
        max_depth: 64,
        ..DecodeLimits::default()
    };
    assert_eq!(decode_with(&bytes, limits).unwrap(), item);
}

#[test]
fn too_many_items() {
    let item = Item::structure(
        0x420001,
        (0..100)
            .map(|i| Item::new(0x420002, Value::Integer(i)))
            .collect(),
    );
    let bytes = encode(&item);
    let limits = DecodeLimits {
        max_items: 50,
        ..DecodeLimits::default()
    };
    assert_eq!(
        decode_with(&bytes, limits).unwrap_err().kind,
        DecodeErrorKind::TooManyItems(50)
    );
}

#[test]
fn a_declared_length_of_4_gib_allocates_nothing() {
    // Nothing is sized from the declared length: the decoder compares it with the bytes it
    // has and fails at once, and framing refuses it against the configured maximum.
    for code in [0x01u8, 0x04, 0x07, 0x08] {
        let mut bytes = vec![0x42, 0x00, 0x01, code, 0xFF, 0xFF, 0xFF, 0xF8];
        bytes.extend_from_slice(&[0; 64]);
        assert!(
            matches!(kind(&bytes), DecodeErrorKind::Truncated { .. }),
            "type {code}"
        );
        if code == 0x01 {
            assert!(matches!(
                frame::check(&bytes, 1 << 20),
                Err(DecodeError {
                    offset: 4,
                    kind: DecodeErrorKind::TooLarge { .. }
                })
            ));
        }
    }
}

#[test]
fn framing_tells_incomplete_from_malformed() {
    let msg = encode(&Item::structure(
        0x420078,
        vec![Item::new(0x420002, Value::Integer(1))],
    ));
    assert_eq!(
        frame::check(&msg[..5], 1024),
        Ok(Frame::Incomplete { total: None })
    );
    assert_eq!(
        frame::check(&msg[..10], 1024),
        Ok(Frame::Incomplete {
            total: Some(msg.len())
        })
    );
    let mut two = msg.clone();
    two.extend_from_slice(&msg);
    assert_eq!(frame::check(&two, 1024), Ok(Frame::Complete(msg.len())));
    assert!(matches!(
        frame::check(&hex("420078 02 00000004"), 1024),
        Err(DecodeError {
            kind: DecodeErrorKind::NotAStructure(ItemType::Integer),
            ..
        })
    ));
    assert!(matches!(
        frame::check(&hex("420078 0D 00000004"), 1024),
        Err(DecodeError {
            kind: DecodeErrorKind::UnknownType(0x0D),
            ..
        })
    ));
    assert!(matches!(
        frame::check(&hex("160301 01 00000008"), 1024),
        Err(DecodeError {
            kind: DecodeErrorKind::BadTag(_),
            ..
        })
    ));
    assert!(matches!(
        frame::check(&msg, msg.len() - 1),
        Err(DecodeError {
            kind: DecodeErrorKind::TooLarge { .. },
            ..
        })
    ));
}

#[test]
fn debug_never_prints_byte_strings() {
    let secret = Item::new(0x420043, Value::ByteString(Cow::Owned(vec![0xAB; 32])));
    let shown = format!("{secret:?}");
    assert!(
        !shown.to_lowercase().contains("ab, ") && !shown.contains("171"),
        "{shown}"
    );
    assert!(shown.contains("32 bytes"));
}

// ---- Property tests ----

fn arb_leaf() -> impl Strategy<Value = Value<'static>> {
    prop_oneof![
        any::<i32>().prop_map(Value::Integer),
        any::<i64>().prop_map(Value::LongInteger),
        // Big Integers are generated already sign-extended, as the decoder yields them.
        proptest::collection::vec(any::<u8>(), 1..4).prop_map(|b| {
            let mut item = Vec::new();
            encode_into(&Item::new(1, Value::BigInteger(Cow::Owned(b))), &mut item);
            Value::BigInteger(Cow::Owned(item[8..].to_vec()))
        }),
        any::<u32>().prop_map(Value::Enumeration),
        any::<bool>().prop_map(Value::Boolean),
        ".{0,40}".prop_map(|s| Value::TextString(Cow::Owned(s))),
        proptest::collection::vec(any::<u8>(), 0..40)
            .prop_map(|b| Value::ByteString(Cow::Owned(b))),
        any::<i64>().prop_map(Value::DateTime),
        any::<u32>().prop_map(Value::Interval),
        any::<i64>().prop_map(Value::DateTimeExtended),
    ]
}

fn arb_item() -> impl Strategy<Value = OwnedItem> {
    let leaf = (0x420000u32..0x420200, arb_leaf()).prop_map(|(t, v)| Item::new(t, v));
    leaf.prop_recursive(6, 200, 8, |inner| {
        (
            0x420000u32..0x420200,
            proptest::collection::vec(inner, 0..8),
        )
            .prop_map(|(t, items)| Item::structure(t, items))
    })
}

proptest! {
    #[test]
    fn round_trip_arbitrary_trees(item in arb_item()) {
        let bytes = encode(&item);
        prop_assert_eq!(bytes.len() % 8, 0);
        let decoded = decode(&bytes).expect("own encoding decodes");
        prop_assert_eq!(&decoded, &item);
        prop_assert_eq!(encode(&decoded), bytes);
    }

    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..256)) {
        let _ = decode(&bytes);
        let _ = frame::check(&bytes, 1 << 16);
    }

    #[test]
    fn mutated_encodings_never_panic(item in arb_item(), at in any::<prop::sample::Index>(), byte in any::<u8>()) {
        let mut bytes = encode(&item);
        let i = at.index(bytes.len());
        bytes[i] = byte;
        if let Ok(decoded) = decode(&bytes) {
            prop_assert_eq!(encode(&decoded), bytes);
        }
    }
}

/// bug001: a Text String holding U+0000 did not survive XML.
///
/// Symptom: the `text` fuzz target panicked: XML written by `to_xml` for a message whose
/// Result Message held a NUL character was refused by `from_xml` ("0x0 character is not
/// permitted in XML"). Cause: the writer escapes control characters as `&#N;`, and the
/// reader used quick-xml's XML 1.0 unescaping, which rejects `&#0;`. Fix: attribute values
/// are unescaped by `xml::unescape_attribute`, which accepts a reference to any Unicode
/// scalar value, so everything the writer produces reads back.
#[test]
fn bug001_nul_in_text_string_round_trips() {
    for text in [
        "a\0b",
        "\0",
        "tab\there",
        "\u{1}\u{1f}\u{7f}",
        "quote\"amp&lt<",
    ] {
        let item = Item::structure(
            0x42007B,
            vec![Item::new(0x420080, Value::TextString(text.into()))],
        );
        let xml = xml::to_xml(&item, &NoNames);
        let back = xml::from_xml(&xml, &NoNames).unwrap_or_else(|e| panic!("{text:?}: {e}\n{xml}"));
        assert_eq!(back, item, "{xml}");
        let json = json::to_json(&item, &NoNames);
        assert_eq!(json::from_json(&json, &NoNames).unwrap(), item, "{json}");
    }
    // Unknown or unterminated references are still errors.
    for bad in ["&bogus;", "&#xZZ;", "&#1114112;", "&amp"] {
        let xml = format!("<TTLV tag=\"0x420080\" type=\"TextString\" value=\"{bad}\"/>");
        assert!(xml::from_xml(&xml, &NoNames).is_err(), "{bad}");
    }
}
