//! KMIP semantics: what the tags, enumerations and masks of the specification mean, by
//! version.
//!
//! This room holds the tag, enumeration and mask tables (generated from the OASIS spec data,
//! see [`tables`]), [`KmipVersion`], and [`KmipNames`], through which the text encodings of
//! `ttlv/` learn names; the typed messages, attributes and managed objects, with the one
//! adapter between the 1.x and 2.x attribute encodings; and the one mapping to Result Reason.
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
//! - `names`: [`KmipNames`] and the 1.x attribute name ⇄ tag mapping;
//! - [`codec`]: the [`Ttlv`](codec::Ttlv) trait and `kmip_struct!`, which declares a structure
//!   once for reading and writing;
//! - [`attributes`]: typed attributes and the 1.x ⇄ 2.x attribute adapter;
//! - [`objects`]: managed objects, Key Block, key material (zeroized, never printed);
//! - [`payloads`], [`messages`]: request and response messages for every version;
//! - [`result`]: errors to Result Reason.

#[allow(non_camel_case_types)] // spec spellings: PKCS_11, PKCS_12...
pub mod attributes;
pub mod codec;
#[allow(non_camel_case_types)] // spec spellings: PKCS_11, PKCS_12...
pub mod messages;
mod names;
pub mod objects;
#[allow(non_camel_case_types)] // spec spellings: PKCS_11, PKCS_12...
pub mod payloads;
pub mod result;
pub mod tables;
mod version;

pub use objects::KeyBytes;

pub use names::{
    KmipNames, attribute_name_for_tag, attribute_tag_for_name, is_custom_attribute_name,
};
pub use tables::*;
pub use version::KmipVersion;

#[cfg(test)]
mod tests;
