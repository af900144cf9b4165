//! KMIP semantics: what the tags, enumerations and masks of the specification mean, by
//! version.
//!
//! This room holds the tag, enumeration and mask tables (generated from the OASIS spec data,
//! see [`tables`]), [`KmipVersion`], and [`KmipNames`], through which the text encodings of
//! `ttlv/` learn names. Typed messages, attributes, managed objects and the 1.x ⇄ 2.x adapter
//! will live here too.
//!
//! Invariants:
//! - every tag, enumeration value and mask bit comes from the spec tables, with the version
//!   that introduced it and the version that removed it; nothing here is typed in by hand;
//! - an unknown tag or enumeration value is representable (`Tag(u32)`, `Enum::Unknown(u32)`)
//!   so it survives decoding and is rejected later with the right Result Reason.
//!
//! It must not import tokio, redb, cryptoki, rustls or the clock: it is pure data and logic.
//!
//! Layout:
//! - `version`: [`KmipVersion`];
//! - [`tables`]: `Tag::…` constants, [`TagInfo`] and tag lookups, one `kmip_enum!` per
//!   enumeration, one `kmip_mask!` per mask, [`enum_for_tag`], [`mask_for_tag`];
//! - `names`: [`KmipNames`] and the 1.x attribute name ⇄ tag mapping.

mod names;
pub mod tables;
mod version;

pub use names::{
    KmipNames, attribute_name_for_tag, attribute_tag_for_name, is_custom_attribute_name,
};
pub use tables::{
    EnumKind, MaskKind, TagInfo, all_tags, enum_for_tag, mask_for_tag, tag_by_name,
    tag_by_spec_name, tag_info,
};
pub use version::KmipVersion;
