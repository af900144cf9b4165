//! The item tree shared by the binary, XML and JSON encodings.

use std::borrow::Cow;
use std::fmt;

/// A TTLV tag: three bytes on the wire. KMIP standard tags are `0x42xxxx`, extensions `0x54xxxx`.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Tag(pub u32);

impl Tag {
    /// The largest value three bytes can carry.
    pub const MAX: u32 = 0x00FF_FFFF;
}

impl fmt::Debug for Tag {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Tag(0x{:06X})", self.0)
    }
}

impl fmt::Display for Tag {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "0x{:06X}", self.0)
    }
}

/// The item types of KMIP 2.1, section 9.1.1.2, with their wire codes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum ItemType {
    Structure = 0x01,
    Integer = 0x02,
    LongInteger = 0x03,
    BigInteger = 0x04,
    Enumeration = 0x05,
    Boolean = 0x06,
    TextString = 0x07,
    ByteString = 0x08,
    DateTime = 0x09,
    Interval = 0x0A,
    DateTimeExtended = 0x0B,
}

impl ItemType {
    /// Every item type, in wire-code order.
    pub const ALL: [ItemType; 11] = [
        ItemType::Structure,
        ItemType::Integer,
        ItemType::LongInteger,
        ItemType::BigInteger,
        ItemType::Enumeration,
        ItemType::Boolean,
        ItemType::TextString,
        ItemType::ByteString,
        ItemType::DateTime,
        ItemType::Interval,
        ItemType::DateTimeExtended,
    ];

    /// The type for a wire code, or `None` for a code the spec does not define.
    pub fn from_code(code: u8) -> Option<ItemType> {
        match code {
            0x01..=0x0B => Some(Self::ALL[code as usize - 1]),
            _ => None,
        }
    }

    /// The name used by the XML and JSON encodings (`"TextString"`, `"DateTime"`, ...).
    pub fn name(self) -> &'static str {
        match self {
            ItemType::Structure => "Structure",
            ItemType::Integer => "Integer",
            ItemType::LongInteger => "LongInteger",
            ItemType::BigInteger => "BigInteger",
            ItemType::Enumeration => "Enumeration",
            ItemType::Boolean => "Boolean",
            ItemType::TextString => "TextString",
            ItemType::ByteString => "ByteString",
            ItemType::DateTime => "DateTime",
            ItemType::Interval => "Interval",
            ItemType::DateTimeExtended => "DateTimeExtended",
        }
    }

    /// The inverse of [`ItemType::name`].
    pub fn from_name(name: &str) -> Option<ItemType> {
        Self::ALL.into_iter().find(|t| t.name() == name)
    }

    /// The value length this type must have on the wire, for the fixed-length types.
    pub fn fixed_length(self) -> Option<u32> {
        match self {
            ItemType::Integer | ItemType::Enumeration | ItemType::Interval => Some(4),
            ItemType::LongInteger
            | ItemType::Boolean
            | ItemType::DateTime
            | ItemType::DateTimeExtended => Some(8),
            _ => None,
        }
    }
}

/// A decoded value. Byte and text values borrow from the input where they can.
///
/// `BigInteger` holds the big-endian two's-complement bytes as they stand on the wire;
/// the encoder sign-extends to a multiple of eight bytes. `DateTime` is seconds since the
/// Unix epoch, `DateTimeExtended` microseconds, `Interval` seconds.
#[derive(Clone, PartialEq, Eq)]
pub enum Value<'a> {
    Structure(Vec<Item<'a>>),
    Integer(i32),
    LongInteger(i64),
    BigInteger(Cow<'a, [u8]>),
    Enumeration(u32),
    Boolean(bool),
    TextString(Cow<'a, str>),
    ByteString(Cow<'a, [u8]>),
    DateTime(i64),
    Interval(u32),
    DateTimeExtended(i64),
}

impl Value<'_> {
    /// The item type this value is encoded as.
    pub fn item_type(&self) -> ItemType {
        match self {
            Value::Structure(_) => ItemType::Structure,
            Value::Integer(_) => ItemType::Integer,
            Value::LongInteger(_) => ItemType::LongInteger,
            Value::BigInteger(_) => ItemType::BigInteger,
            Value::Enumeration(_) => ItemType::Enumeration,
            Value::Boolean(_) => ItemType::Boolean,
            Value::TextString(_) => ItemType::TextString,
            Value::ByteString(_) => ItemType::ByteString,
            Value::DateTime(_) => ItemType::DateTime,
            Value::Interval(_) => ItemType::Interval,
            Value::DateTimeExtended(_) => ItemType::DateTimeExtended,
        }
    }
}

/// Byte strings are not printed in full: key material travels in them, and a `Debug` line
/// must never carry a secret. Their length is shown instead.
impl fmt::Debug for Value<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Value::Structure(items) => f.debug_list().entries(items).finish(),
            Value::Integer(v) => write!(f, "Integer({v})"),
            Value::LongInteger(v) => write!(f, "LongInteger({v})"),
            Value::BigInteger(v) => write!(f, "BigInteger(<{} bytes>)", v.len()),
            Value::Enumeration(v) => write!(f, "Enumeration(0x{v:08X})"),
            Value::Boolean(v) => write!(f, "Boolean({v})"),
            Value::TextString(v) => write!(f, "TextString({v:?})"),
            Value::ByteString(v) => write!(f, "ByteString(<{} bytes>)", v.len()),
            Value::DateTime(v) => write!(f, "DateTime({v})"),
            Value::Interval(v) => write!(f, "Interval({v})"),
            Value::DateTimeExtended(v) => write!(f, "DateTimeExtended({v})"),
        }
    }
}

/// One TTLV item: a tag and its value (the type is the value's variant).
#[derive(Clone, PartialEq, Eq)]
pub struct Item<'a> {
    pub tag: Tag,
    pub value: Value<'a>,
}

impl fmt::Debug for Item<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}: {:?}", self.tag, self.value)
    }
}

impl<'a> Item<'a> {
    pub fn new(tag: impl Into<Tag>, value: Value<'a>) -> Self {
        Item {
            tag: tag.into(),
            value,
        }
    }

    pub fn structure(tag: impl Into<Tag>, items: Vec<Item<'a>>) -> Self {
        Item::new(tag, Value::Structure(items))
    }

    /// Overwrites with zeros the byte, big-integer and text values this item owns, at any
    /// depth (borrowed values belong to their buffer, which its owner clears): for items
    /// read from XML or JSON, whose values are copies that may hold key material.
    pub fn zeroize_owned(&mut self) {
        use zeroize::Zeroize;
        match &mut self.value {
            Value::Structure(items) => items.iter_mut().for_each(Item::zeroize_owned),
            Value::BigInteger(Cow::Owned(v)) | Value::ByteString(Cow::Owned(v)) => v.zeroize(),
            Value::TextString(Cow::Owned(v)) => v.zeroize(),
            _ => {}
        }
    }

    /// The children of a Structure, or an empty slice for any other type.
    pub fn children(&self) -> &[Item<'a>] {
        match &self.value {
            Value::Structure(items) => items,
            _ => &[],
        }
    }

    /// The first child with this tag.
    pub fn child(&self, tag: impl Into<Tag>) -> Option<&Item<'a>> {
        let tag = tag.into();
        self.children().iter().find(|i| i.tag == tag)
    }

    /// The number of items in this tree, this one included.
    pub fn count(&self) -> usize {
        1 + self.children().iter().map(Item::count).sum::<usize>()
    }
}

impl From<u32> for Tag {
    fn from(v: u32) -> Self {
        Tag(v)
    }
}
