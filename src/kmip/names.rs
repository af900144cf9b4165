//! [`KmipNames`]: the KMIP tables seen through the `ttlv::Names` trait, so the XML and JSON
//! encodings can write and read tag, enumeration and mask names without knowing KMIP.
//!
//! Also the bridge between 1.x attribute names and 2.x tags: in KMIP 1.x an attribute is
//! `Attribute{Attribute Name: "Cryptographic Usage Mask", Attribute Index, Attribute Value}`,
//! in 2.x it is the item `CryptographicUsageMask` itself. The attribute name is the tag's spec
//! name, so both directions go through the tag table.

use super::tables::{self, EnumKind, MaskKind, enum_for_tag, mask_for_tag, tag_info};
use crate::ttlv::{NameContext, Names, Tag};

/// The KMIP names of tags, enumeration values and mask bits.
#[derive(Clone, Copy, Debug, Default)]
pub struct KmipNames;

/// Collapses runs of white space to one space and trims the ends: the vectors under `v1.0/`
/// write some attribute names with doubled spaces ("Cryptographic   Algorithm").
fn collapse_whitespace(name: &str) -> String {
    name.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// Whether a 1.x attribute name is a custom attribute (`x-` client, `y-` server) that no tag
/// stands for.
pub fn is_custom_attribute_name(name: &str) -> bool {
    let name = name.trim_start();
    name.starts_with("x-") || name.starts_with("y-")
}

/// The 2.x tag for a 1.x attribute name (`"Cryptographic Usage Mask"` → `Tag(0x42002C)`),
/// comparing with white space collapsed. Custom attributes (`x-…`, `y-…`) and unknown names
/// give `None`.
pub fn attribute_tag_for_name(name: &str) -> Option<Tag> {
    if is_custom_attribute_name(name) {
        return None;
    }
    tables::tag_by_spec_name(&collapse_whitespace(name))
}

/// The 1.x attribute name for a tag: its spec name (`Tag::CryptographicUsageMask` →
/// `"Cryptographic Usage Mask"`). The caller knows whether the tag is an attribute.
pub fn attribute_name_for_tag(tag: Tag) -> Option<&'static str> {
    tag_info(tag).map(|info| info.spec_name)
}

impl KmipNames {
    /// The tag whose enumeration or mask gives a value's meaning: the item's own tag, or for
    /// a 1.x `Attribute Value` the tag named by the sibling `Attribute Name`.
    fn meaning_tag(tag: Tag, ctx: NameContext<'_>) -> Option<Tag> {
        if tag == Tag::AttributeValue {
            attribute_tag_for_name(ctx.attribute_name?)
        } else {
            Some(tag)
        }
    }

    /// The enumeration of an Enumeration item `tag` in `ctx`.
    pub fn enum_kind(tag: Tag, ctx: NameContext<'_>) -> Option<EnumKind> {
        enum_for_tag(Self::meaning_tag(tag, ctx)?)
    }

    /// The mask of an Integer item `tag` in `ctx`, if it is a mask.
    pub fn mask_kind(tag: Tag, ctx: NameContext<'_>) -> Option<MaskKind> {
        mask_for_tag(Self::meaning_tag(tag, ctx)?)
    }
}

impl Names for KmipNames {
    fn tag_name(&self, tag: Tag) -> Option<&str> {
        tag_info(tag).map(|info| info.name)
    }

    fn tag_by_name(&self, name: &str) -> Option<Tag> {
        tables::tag_by_name(name)
    }

    fn enum_name(&self, tag: Tag, ctx: NameContext<'_>, value: u32) -> Option<&str> {
        Self::enum_kind(tag, ctx)?.name_of(value)
    }

    fn enum_by_name(&self, tag: Tag, ctx: NameContext<'_>, name: &str) -> Option<u32> {
        Self::enum_kind(tag, ctx)?.value_of(name)
    }

    fn mask_bits(&self, tag: Tag, ctx: NameContext<'_>) -> Option<&[(&str, u32)]> {
        Some(Self::mask_kind(tag, ctx)?.bits())
    }
}

#[cfg(test)]
mod tests;
