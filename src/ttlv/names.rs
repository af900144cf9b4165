//! How the text encodings learn names: tag names, enumeration names and mask names come from
//! the KMIP tables in `kmip/`, handed in through [`Names`] so that `ttlv/` stays free of KMIP
//! semantics.

use super::Tag;

/// Where a value stands, for the names that depend on context.
///
/// An Enumeration or Integer mask is named after its own tag, except inside a KMIP 1.x
/// `Attribute` structure, where the `Attribute Value`'s meaning comes from the sibling
/// `Attribute Name` (`attribute_name`), and except for tags whose enumeration values are
/// themselves tags (KMIP 2.x `Attribute Reference`), which the implementation knows.
#[derive(Clone, Copy, Debug, Default)]
pub struct NameContext<'a> {
    /// The text of the sibling `Attribute Name`, when the value is an `Attribute Value`.
    pub attribute_name: Option<&'a str>,
}

/// Names of tags, enumeration values and mask bits, in the CamelCase spelling of the XML
/// and JSON encodings (`"UniqueIdentifier"`, `"SymmetricKey"`, `"Encrypt"`).
pub trait Names {
    fn tag_name(&self, tag: Tag) -> Option<&str>;
    fn tag_by_name(&self, name: &str) -> Option<Tag>;
    /// The name of an enumeration value for the item `tag` in `ctx`.
    fn enum_name(&self, tag: Tag, ctx: NameContext<'_>, value: u32) -> Option<&str>;
    fn enum_by_name(&self, tag: Tag, ctx: NameContext<'_>, name: &str) -> Option<u32>;
    /// The bit names of an Integer that is a mask (Cryptographic Usage Mask, ...), or `None`
    /// when the item is a plain Integer.
    fn mask_bits(&self, tag: Tag, ctx: NameContext<'_>) -> Option<&[(&str, u32)]>;
}

/// No names at all: tags and values are written in hex.
pub struct NoNames;

impl Names for NoNames {
    fn tag_name(&self, _: Tag) -> Option<&str> {
        None
    }
    fn tag_by_name(&self, _: &str) -> Option<Tag> {
        None
    }
    fn enum_name(&self, _: Tag, _: NameContext<'_>, _: u32) -> Option<&str> {
        None
    }
    fn enum_by_name(&self, _: Tag, _: NameContext<'_>, _: &str) -> Option<u32> {
        None
    }
    fn mask_bits(&self, _: Tag, _: NameContext<'_>) -> Option<&[(&str, u32)]> {
        None
    }
}
