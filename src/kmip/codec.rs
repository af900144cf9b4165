//! How typed KMIP values are read from a TTLV item tree and written with a [`Writer`].
//!
//! Every typed value implements [`Ttlv`]. Structures are declared once with
//! [`kmip_struct!`](crate::kmip_struct), which lists each field's tag, its cardinality
//! (`req`, `opt`, `vec`) and its type; the macro generates the reader and the writer, so the
//! two cannot disagree.
//!
//! Reading accepts a structure's fields in any order (real clients put Attribute Index after
//! Attribute Value, and so on), rejects a tag the structure does not have, a second copy of a
//! single field, a missing required field and a wrong item type, each with its path. Writing
//! puts fields in the order the spec lists them, which is the order of the declaration.

use std::borrow::Cow;

use crate::kmip::KmipVersion;
use crate::ttlv::{Item, ItemType, Tag, Value, Writer};

/// What went wrong reading a typed value; [`ModelError::result_reason`] maps it to the wire.
/// The message (a Result Message a client reads) names tags as the spec does, with their
/// value: "Request Payload (0x420079): unexpected field Template-Attribute (0x420091)".
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ModelError {
    #[error("{}: missing required field {}", Named(*parent), Named(*tag))]
    MissingField { parent: Tag, tag: Tag },
    #[error("{}: unexpected field {}", Named(*parent), Named(*tag))]
    UnexpectedField { parent: Tag, tag: Tag },
    #[error("{}: field {} appears more than once", Named(*parent), Named(*tag))]
    DuplicateField { parent: Tag, tag: Tag },
    #[error("{}: expected {expected:?}, found {actual:?}", Named(*tag))]
    WrongType {
        tag: Tag,
        expected: ItemType,
        actual: ItemType,
    },
    #[error("{}: invalid value: {reason}", Named(*tag))]
    InvalidValue { tag: Tag, reason: String },
    #[error("{} does not exist in KMIP {version}", Named(*tag))]
    NotInVersion { tag: Tag, version: KmipVersion },
    #[error("protocol version {major}.{minor} is not supported")]
    UnsupportedVersion { major: i32, minor: i32 },
}

/// A tag as error messages print it: its spec name and value, or the value alone for a tag
/// no version defines (an extension or a typo).
pub struct Named(pub Tag);

impl std::fmt::Display for Named {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match crate::kmip::tables::tag_info(self.0) {
            Some(info) => write!(f, "{} ({})", info.spec_name, self.0),
            None => write!(f, "{}", self.0),
        }
    }
}

/// The reading context: the protocol version of the message being read.
#[derive(Clone, Copy, Debug)]
pub struct Cx {
    pub version: KmipVersion,
}

impl Cx {
    pub fn new(version: KmipVersion) -> Self {
        Cx { version }
    }

    pub fn is_1x(&self) -> bool {
        self.version < KmipVersion::V2_0
    }
}

/// A typed KMIP value with a TTLV form.
pub trait Ttlv: Sized {
    /// Reads the value from `item`, whose tag the caller has already matched.
    fn read(item: &Item<'_>, cx: &Cx) -> Result<Self, ModelError>;
    /// Writes the value as one item tagged `tag`.
    fn write(&self, tag: Tag, w: &mut Writer, cx: &Cx);
}

pub(crate) fn wrong_type(item: &Item<'_>, expected: ItemType) -> ModelError {
    ModelError::WrongType {
        tag: item.tag,
        expected,
        actual: item.value.item_type(),
    }
}

/// The children of a Structure item, or a wrong-type error.
pub fn structure<'i, 'a>(item: &'i Item<'a>) -> Result<&'i [Item<'a>], ModelError> {
    match &item.value {
        Value::Structure(items) => Ok(items),
        _ => Err(wrong_type(item, ItemType::Structure)),
    }
}

macro_rules! scalar {
    ($ty:ty, $variant:ident, $write:ident, |$v:ident| $to:expr, |$w:ident| $from:expr) => {
        impl Ttlv for $ty {
            fn read(item: &Item<'_>, _: &Cx) -> Result<Self, ModelError> {
                match &item.value {
                    Value::$variant($v) => Ok($to),
                    _ => Err(wrong_type(item, ItemType::$variant)),
                }
            }
            fn write(&self, tag: Tag, w: &mut Writer, _: &Cx) {
                let $w = self;
                w.$write(tag, $from);
            }
        }
    };
}

scalar!(i32, Integer, integer, |v| *v, |s| *s);
scalar!(i64, LongInteger, long_integer, |v| *v, |s| *s);
scalar!(bool, Boolean, boolean, |v| *v, |s| *s);

impl Ttlv for String {
    fn read(item: &Item<'_>, _: &Cx) -> Result<Self, ModelError> {
        text(item).map(str::to_string)
    }
    fn write(&self, tag: Tag, w: &mut Writer, _: &Cx) {
        w.text_string(tag, self);
    }
}

/// A Byte String that is not secret (digests, identifiers, nonces). Key material uses
/// [`KeyBytes`](crate::kmip::KeyBytes) instead, which zeroizes and never prints.
#[derive(Clone, Default, PartialEq, Eq, Hash)]
pub struct ByteString(pub Vec<u8>);

impl std::fmt::Debug for ByteString {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "ByteString({} bytes)", self.0.len())
    }
}

scalar!(
    ByteString,
    ByteString,
    byte_string,
    |v| ByteString(v.to_vec()),
    |s| &s.0
);

/// A Date-Time: seconds since the Unix epoch.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct DateTime(pub i64);
scalar!(DateTime, DateTime, date_time, |v| DateTime(*v), |s| s.0);

/// A Date-Time Extended: microseconds since the Unix epoch.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct DateTimeExtended(pub i64);
scalar!(
    DateTimeExtended,
    DateTimeExtended,
    date_time_extended,
    |v| DateTimeExtended(*v),
    |s| s.0
);

/// An Interval: seconds.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Interval(pub u32);
scalar!(Interval, Interval, interval, |v| Interval(*v), |s| s.0);

/// A Big Integer: big-endian two's-complement bytes as read from the wire.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct BigInteger(pub Vec<u8>);

impl std::fmt::Debug for BigInteger {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "BigInteger({} bytes)", self.0.len())
    }
}
scalar!(
    BigInteger,
    BigInteger,
    big_integer,
    |v| BigInteger(v.to_vec()),
    |s| &s.0
);

/// Any item tree, kept as it came: for values whose shape the caller decides later
/// (a custom attribute's value, a Message Extension's content).
impl Ttlv for Item<'static> {
    fn read(item: &Item<'_>, _: &Cx) -> Result<Self, ModelError> {
        Ok(item.clone().into_owned())
    }
    fn write(&self, tag: Tag, w: &mut Writer, _: &Cx) {
        if self.tag == tag {
            w.item(self);
        } else {
            w.item(&Item {
                tag,
                value: self.value.clone(),
            });
        }
    }
}

impl<T: Ttlv> Ttlv for Box<T> {
    fn read(item: &Item<'_>, cx: &Cx) -> Result<Self, ModelError> {
        T::read(item, cx).map(Box::new)
    }
    fn write(&self, tag: Tag, w: &mut Writer, cx: &Cx) {
        (**self).write(tag, w, cx)
    }
}

/// Collects a field while a structure is read; one kind per cardinality.
pub trait Slot: Default {
    type Out;
    fn accept(&mut self, parent: Tag, item: &Item<'_>, cx: &Cx) -> Result<(), ModelError>;
    fn finish(self, parent: Tag, tag: Tag) -> Result<Self::Out, ModelError>;
}

/// Writes a field of any cardinality.
pub trait WriteField {
    fn write_field(&self, tag: Tag, w: &mut Writer, cx: &Cx);
}

pub struct Req<T>(Option<T>);
pub struct Opt<T>(Option<T>);
pub struct Many<T>(Vec<T>);

impl<T> Default for Req<T> {
    fn default() -> Self {
        Req(None)
    }
}
impl<T> Default for Opt<T> {
    fn default() -> Self {
        Opt(None)
    }
}
impl<T> Default for Many<T> {
    fn default() -> Self {
        Many(Vec::new())
    }
}

impl<T: Ttlv> Slot for Req<T> {
    type Out = T;
    fn accept(&mut self, parent: Tag, item: &Item<'_>, cx: &Cx) -> Result<(), ModelError> {
        if self.0.is_some() {
            return Err(ModelError::DuplicateField {
                parent,
                tag: item.tag,
            });
        }
        self.0 = Some(T::read(item, cx)?);
        Ok(())
    }
    fn finish(self, parent: Tag, tag: Tag) -> Result<T, ModelError> {
        self.0.ok_or(ModelError::MissingField { parent, tag })
    }
}

impl<T: Ttlv> Slot for Opt<T> {
    type Out = Option<T>;
    fn accept(&mut self, parent: Tag, item: &Item<'_>, cx: &Cx) -> Result<(), ModelError> {
        if self.0.is_some() {
            return Err(ModelError::DuplicateField {
                parent,
                tag: item.tag,
            });
        }
        self.0 = Some(T::read(item, cx)?);
        Ok(())
    }
    fn finish(self, _: Tag, _: Tag) -> Result<Option<T>, ModelError> {
        Ok(self.0)
    }
}

impl<T: Ttlv> Slot for Many<T> {
    type Out = Vec<T>;
    fn accept(&mut self, _: Tag, item: &Item<'_>, cx: &Cx) -> Result<(), ModelError> {
        self.0.push(T::read(item, cx)?);
        Ok(())
    }
    fn finish(self, _: Tag, _: Tag) -> Result<Vec<T>, ModelError> {
        Ok(self.0)
    }
}

impl<T: Ttlv> WriteField for T {
    fn write_field(&self, tag: Tag, w: &mut Writer, cx: &Cx) {
        self.write(tag, w, cx)
    }
}

impl<T: Ttlv> WriteField for Option<T> {
    fn write_field(&self, tag: Tag, w: &mut Writer, cx: &Cx) {
        if let Some(v) = self {
            v.write(tag, w, cx)
        }
    }
}

impl<T: Ttlv> WriteField for Vec<T> {
    fn write_field(&self, tag: Tag, w: &mut Writer, cx: &Cx) {
        for v in self {
            v.write(tag, w, cx)
        }
    }
}

/// Declares a KMIP structure: fields with their cardinality (`req`, `opt`, `vec`, or `obj` for
/// an optional managed object under any object tag), type and tag (a name of a [`Tag`]
/// constant), in the spec's order.
///
/// ```ignore
/// kmip_struct! {
///     /// KMIP 2.1 section 2.1.2 Name.
///     pub struct Name {
///         name_value: req String = NameValue,
///         name_type: req NameType = NameType,
///     }
/// }
/// ```
#[macro_export]
macro_rules! kmip_struct {
    (@ty req $t:ty) => { $t };
    (@ty opt $t:ty) => { Option<$t> };
    (@ty vec $t:ty) => { Vec<$t> };
    (@ty obj $t:ty) => { Option<$t> };
    (@slot req $t:ty) => { $crate::kmip::codec::Req<$t> };
    (@slot opt $t:ty) => { $crate::kmip::codec::Opt<$t> };
    (@slot vec $t:ty) => { $crate::kmip::codec::Many<$t> };
    (@slot obj $t:ty) => { $crate::kmip::codec::Opt<$t> };
    (@is obj $tag:ident $t:expr) => { $crate::kmip::objects::Object::is_object_tag($t) };
    (@is $card:ident $tag:ident $t:expr) => { $t == $crate::ttlv::Tag::$tag };
    (
        $(#[$meta:meta])*
        pub struct $name:ident {
            $( $(#[$fmeta:meta])* $field:ident : $card:ident $ty:ty = $tag:ident ),* $(,)?
        }
    ) => {
        $(#[$meta])*
        #[derive(Clone, Debug, PartialEq)]
        pub struct $name {
            $( $(#[$fmeta])* pub $field: $crate::kmip_struct!(@ty $card $ty), )*
        }

        impl $crate::kmip::codec::Ttlv for $name {
            #[allow(unused_variables)]
            fn read(
                item: &$crate::ttlv::Item<'_>,
                cx: &$crate::kmip::codec::Cx,
            ) -> Result<Self, $crate::kmip::codec::ModelError> {
                #[allow(unused_imports)]
                use $crate::kmip::codec::Slot as _;
                let parent = item.tag;
                $( let mut $field = <$crate::kmip_struct!(@slot $card $ty)>::default(); )*
                for child in $crate::kmip::codec::structure(item)? {
                    let t = child.tag;
                    $(
                        if $crate::kmip_struct!(@is $card $tag t) {
                            $field.accept(parent, child, cx)?;
                            continue;
                        }
                    )*
                    return Err($crate::kmip::codec::ModelError::UnexpectedField { parent, tag: t });
                }
                Ok($name {
                    $( $field: $field.finish(parent, $crate::ttlv::Tag::$tag)?, )*
                })
            }

            #[allow(unused_variables)]
            fn write(
                &self,
                tag: $crate::ttlv::Tag,
                w: &mut $crate::ttlv::Writer,
                cx: &$crate::kmip::codec::Cx,
            ) {
                #[allow(unused_imports)]
                use $crate::kmip::codec::WriteField as _;
                let open = w.begin(tag);
                $( self.$field.write_field($crate::ttlv::Tag::$tag, w, cx); )*
                w.end(open);
            }
        }
    };
}

/// Reads a value of type `T` from a whole encoded message or item.
pub fn from_item<T: Ttlv>(item: &Item<'_>, cx: &Cx) -> Result<T, ModelError> {
    T::read(item, cx)
}

/// Encodes a typed value as one item.
pub fn to_bytes<T: Ttlv>(value: &T, tag: Tag, cx: &Cx) -> Vec<u8> {
    let mut w = Writer::with_capacity(256);
    value.write(tag, &mut w, cx);
    w.into_inner()
}

/// Borrowed text, for callers that want to avoid a copy.
///
/// A Text String holding a NUL character is refused (Invalid Field): in practice it is a
/// length that counts the padding (IBM Db2 sent "abc" with length 8), never a real name or
/// identifier, and read as is it would be an identifier that matches nothing, or a name
/// that C clients would read only up to the NUL. TTLV itself carries it (`ttlv` decodes
/// and converts it faithfully, for tools); the KMIP model does not take it.
pub fn text<'i>(item: &'i Item<'_>) -> Result<&'i str, ModelError> {
    let s = match &item.value {
        Value::TextString(Cow::Borrowed(s)) => s,
        Value::TextString(Cow::Owned(s)) => s.as_str(),
        _ => return Err(wrong_type(item, ItemType::TextString)),
    };
    if s.contains('\0') {
        return Err(ModelError::InvalidValue {
            tag: item.tag,
            reason: "a Text String holds a NUL character (does its length count its padding?)"
                .into(),
        });
    }
    Ok(s)
}
