//! KMIP protocol versions, as carried in the `Protocol Version` of every message header.

use std::fmt;

/// A published KMIP protocol version. The order is publication order, so `since <= v` and
/// `v < until` express "exists in version `v`".
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum KmipVersion {
    V1_0,
    V1_1,
    V1_2,
    V1_3,
    V1_4,
    V2_0,
    V2_1,
}

impl KmipVersion {
    /// Every version, oldest first.
    pub const ALL: [KmipVersion; 7] = [
        KmipVersion::V1_0,
        KmipVersion::V1_1,
        KmipVersion::V1_2,
        KmipVersion::V1_3,
        KmipVersion::V1_4,
        KmipVersion::V2_0,
        KmipVersion::V2_1,
    ];

    /// The newest version this crate knows.
    pub const LATEST: KmipVersion = KmipVersion::V2_1;

    /// The version for a `Protocol Version Major`/`Minor` pair, or `None` if unpublished.
    pub fn from_major_minor(major: i32, minor: i32) -> Option<Self> {
        Some(match (major, minor) {
            (1, 0) => KmipVersion::V1_0,
            (1, 1) => KmipVersion::V1_1,
            (1, 2) => KmipVersion::V1_2,
            (1, 3) => KmipVersion::V1_3,
            (1, 4) => KmipVersion::V1_4,
            (2, 0) => KmipVersion::V2_0,
            (2, 1) => KmipVersion::V2_1,
            _ => return None,
        })
    }

    pub fn major(self) -> i32 {
        if self.is_1x() { 1 } else { 2 }
    }

    pub fn minor(self) -> i32 {
        match self {
            KmipVersion::V1_0 | KmipVersion::V2_0 => 0,
            KmipVersion::V1_1 | KmipVersion::V2_1 => 1,
            KmipVersion::V1_2 => 2,
            KmipVersion::V1_3 => 3,
            KmipVersion::V1_4 => 4,
        }
    }

    /// KMIP 1.x: attributes travel as `Attribute{Name, Index, Value}` and Template-Attribute.
    pub fn is_1x(self) -> bool {
        self <= KmipVersion::V1_4
    }

    /// Whether something introduced in `since` and removed in `until` exists in `self`.
    pub fn within(self, since: KmipVersion, until: Option<KmipVersion>) -> bool {
        since <= self && until.is_none_or(|u| self < u)
    }
}

impl fmt::Display for KmipVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}", self.major(), self.minor())
    }
}

#[cfg(test)]
mod tests {
    use super::KmipVersion;

    #[test]
    fn round_trips_major_minor() {
        for v in KmipVersion::ALL {
            assert_eq!(KmipVersion::from_major_minor(v.major(), v.minor()), Some(v));
        }
        assert_eq!(KmipVersion::V1_4.to_string(), "1.4");
        assert_eq!(KmipVersion::from_major_minor(1, 5), None);
        assert!(KmipVersion::V1_4.is_1x() && !KmipVersion::V2_0.is_1x());
    }
}
