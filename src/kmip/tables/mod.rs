//! The KMIP tag, enumeration and mask tables, generated from the spec data.
//!
//! `tags.rs`, `enums.rs` and `masks.rs` are written by the `tables` integration test
//! (`kmip-spec-tests/tables.rs`) from the OASIS spec files and committed; that test fails when
//! they differ from what the spec data gives (`KMIPD_BLESS=1` rewrites them). Do not edit them
//! by hand: change the generator instead.
//!
//! # Which versions have what (`since`, `until`)
//! `since` is the first version that defines a tag or value, `until` the first version that no
//! longer does (KMIP 2.0 turned the 1.x-only tags into "(Reserved)"). Sources, by version:
//! - **1.0**: the tag table (9.1.3.1) and enumeration/mask tables (9.1.3.2, 9.1.3.3) of
//!   `kmip-spec-1.0-os.txt`. Exact.
//! - **1.4**: `kmip-1.4-tags.csv` (section 9.1.3 of the 1.4 spec). Exact.
//! - **2.0**: the Tag Enumeration (11.54), enumeration (11.x) and mask (12.x) tables of
//!   `kmip-spec-v2.0-os.txt`. Exact.
//! - **2.1**: `kmip-2.1-tags.csv`, `kmip-spec-enumerations-v2.1-os_enumerations.csv` and the
//!   mask tables (12.x) of `kmip-spec-v2.1-os.txt`. Exact.
//! - **1.1, 1.2, 1.3** (no spec text here): tags and enumeration values are numbered
//!   sequentially, so a version is a range of values. The generator holds the last value of
//!   each of these versions:
//!   - tags: 1.2 ends at `0x4200D3` (Attestation Capable Indicator; the 1.2 spec's tag table,
//!     read from a public extraction of it: exact); 1.1 ends at `0x4200B7` (X.509 Certificate
//!     Subject; the 1.1 additions are the certificate-attribute and Extension tags, confirmed by
//!     libkmip's "KMIP 1.1"/"KMIP 1.2" groupings: high confidence); 1.3 ends at `0x4200F7`
//!     (Capability Information; libkmip groups `0x4200F8` Key Wrap Type under "KMIP 1.4":
//!     high confidence, but approximate).
//!   - enumeration values: the last value of each category in 1.2 (the 1.2 spec's tables,
//!     exact) and 1.3 (the 1.3 spec's tables, exact where the category is listed), and in 1.1
//!     for Operation, Query Function, Result Reason and Credential Type (approximate). A value
//!     newer than 1.0 that none of these place is given the version of its category's tag if
//!     that is newer than 1.0, else 1.4 (conservative: it may really be older).
//!   - mask bits: a bit in the 1.4 table but not the 1.0 one is marked 1.4 (conservative).
//! - The PKCS#11 Function and Return Code enumerations are defined by reference to PKCS#11 3.0
//!   (KMIP 2.0 11.38, 11.39); the generator holds those two lists.
//! - Known defects of the 2.1 data are corrected by the generator's `ERRATA` list (MGF1
//!   misspelt "MFG1"; "GF(2^16)" rendered "GF (216)"); the misspelling stays an accepted alias.

#[macro_use]
mod macros;
mod enums;
mod masks;
mod tags;

pub use enums::*;
pub use masks::*;

use crate::kmip::KmipVersion;
use crate::ttlv::Tag;

/// One row of the tag table.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TagInfo {
    pub tag: Tag,
    /// The XML/JSON name (`"UniqueIdentifier"`), also the name of the `Tag` constant.
    pub name: &'static str,
    /// The name as the spec's table prints it (`"Unique Identifier"`).
    pub spec_name: &'static str,
    /// The first version that defines the tag.
    pub since: KmipVersion,
    /// The first version that no longer defines it (marks it "(Reserved)").
    pub until: Option<KmipVersion>,
}

impl TagInfo {
    pub fn exists_in(&self, version: KmipVersion) -> bool {
        version.within(self.since, self.until)
    }
}

/// Every standard tag any version defines, sorted by value.
pub fn all_tags() -> &'static [TagInfo] {
    tags::TAGS
}

/// The table row of a standard tag.
pub fn tag_info(tag: Tag) -> Option<&'static TagInfo> {
    tags::TAGS
        .binary_search_by_key(&tag, |info| info.tag)
        .ok()
        .map(|i| &tags::TAGS[i])
}

/// The tag for an XML/JSON name (`"UniqueIdentifier"`, or an older spelling).
pub fn tag_by_name(name: &str) -> Option<Tag> {
    lookup(tags::BY_NAME, name)
}

/// The tag for a spec name (`"Unique Identifier"`, `"Template-Attribute"`), compared exactly.
pub fn tag_by_spec_name(spec_name: &str) -> Option<Tag> {
    lookup(tags::BY_SPEC_NAME, spec_name)
}

fn lookup(table: &[(&str, u32)], name: &str) -> Option<Tag> {
    table
        .binary_search_by(|(n, _)| n.cmp(&name))
        .ok()
        .map(|i| Tag(table[i].1))
}
