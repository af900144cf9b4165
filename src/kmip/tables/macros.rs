//! The two macros every generated table is written in: [`kmip_enum!`] for enumerations and
//! [`kmip_mask!`] for bit masks. One declaration per spec table, one line per value, so a
//! grep for a spec name lands on the line that defines it.
//!
//! A value line reads `Variant = 0x0000_0001, "Spec Name", V1_0;` with an optional `, V2_0`
//! for the first version that no longer has the value. The variant is the XML/JSON name of the
//! value (KMIP Additional Message Encodings 6.1.3); where that name is not a usable Rust
//! identifier the line reads `Variant as "XmlName" = ...` and the string is the wire name.
//! Old names of a value (a 1.x spelling later renamed) are listed after the values as
//! `aliases { "OldName" => 0x..., }` and are accepted by `from_name` only.

/// Declares a KMIP enumeration: a Rust enum with one variant per spec value plus
/// `Unknown(u32)`, so that a value no table knows survives decoding and can be rejected with
/// the right Result Reason by the caller.
macro_rules! kmip_enum {
    (@xml $var:ident) => { stringify!($var) };
    (@xml $var:ident $xml:literal) => { $xml };
    (@until) => { None };
    (@until $until:ident) => { Some(KmipVersion::$until) };
    (
        $(#[$meta:meta])*
        pub enum $name:ident = $spec:literal {
            $( $var:ident $(as $xml:literal)? = $val:literal, $sname:literal, $since:ident $(, $until:ident)? ; )*
        }
        $( aliases { $( $alias:literal => $aval:literal ),* $(,)? } )?
    ) => {
        $(#[$meta])*
        #[allow(non_camel_case_types)]
        #[derive(Clone, Copy, PartialEq, Eq, Hash)]
        pub enum $name {
            $( $var, )*
            /// A value no KMIP version defines here (an extension, or garbage).
            Unknown(u32),
        }

        impl $name {
            /// The spec's name of this enumeration.
            pub const SPEC_NAME: &'static str = $spec;

            /// Every defined value, in value order.
            pub const ALL: &'static [$name] = &[ $( $name::$var, )* ];

            /// The XML/JSON name and value of every defined value, in value order.
            pub const NAMES: &'static [(&'static str, u32)] = &[ $( (kmip_enum!(@xml $var $($xml)?), $val), )* ];

            pub fn from_u32(value: u32) -> Self {
                match value {
                    $( $val => $name::$var, )*
                    other => $name::Unknown(other),
                }
            }

            pub fn value(self) -> u32 {
                match self {
                    $( $name::$var => $val, )*
                    $name::Unknown(v) => v,
                }
            }

            /// The CamelCase name used by the XML and JSON encodings.
            pub fn name(self) -> Option<&'static str> {
                match self {
                    $( $name::$var => Some(kmip_enum!(@xml $var $($xml)?)), )*
                    $name::Unknown(_) => None,
                }
            }

            /// The value for an XML/JSON name (current spelling or a listed older one).
            pub fn from_name(name: &str) -> Option<Self> {
                match name {
                    $( kmip_enum!(@xml $var $($xml)?) => Some($name::$var), )*
                    $( $( $alias => Some($name::from_u32($aval)), )* )?
                    _ => None,
                }
            }

            /// The name as the spec's table prints it ("Pre-Active", "SHA-256").
            pub fn spec_name(self) -> Option<&'static str> {
                match self {
                    $( $name::$var => Some($sname), )*
                    $name::Unknown(_) => None,
                }
            }

            /// The first version that defines this value.
            pub fn since(self) -> Option<KmipVersion> {
                match self {
                    $( $name::$var => Some(KmipVersion::$since), )*
                    $name::Unknown(_) => None,
                }
            }

            /// The first version that no longer defines this value, if any.
            pub fn until(self) -> Option<KmipVersion> {
                match self {
                    $( $name::$var => kmip_enum!(@until $($until)?), )*
                    $name::Unknown(_) => None,
                }
            }

            /// Whether `version` defines this value. Extensions (`0x8xxxxxxx`) exist everywhere.
            pub fn exists_in(self, version: KmipVersion) -> bool {
                match self.since() {
                    Some(since) => version.within(since, self.until()),
                    None => self.value() & 0xF000_0000 == 0x8000_0000,
                }
            }
        }

        impl From<u32> for $name {
            fn from(value: u32) -> Self {
                $name::from_u32(value)
            }
        }

        impl From<$name> for u32 {
            fn from(value: $name) -> u32 {
                value.value()
            }
        }

        impl std::fmt::Debug for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                match self.spec_name() {
                    Some(name) => f.write_str(name),
                    None => write!(f, "{}(0x{:08X})", stringify!($name), self.value()),
                }
            }
        }
    };
}

/// Declares a KMIP bit mask: a `u32` newtype with one associated constant per bit and a
/// `BITS` table of XML names (masks are written as space-separated names in XML and JSON).
macro_rules! kmip_mask {
    (
        $(#[$meta:meta])*
        pub struct $name:ident = $spec:literal {
            $( $bit:ident = $val:literal, $sname:literal, $since:ident $(, $until:ident)? ; )*
        }
    ) => {
        $(#[$meta])*
        #[derive(Clone, Copy, PartialEq, Eq, Hash, Default)]
        pub struct $name(pub u32);

        #[allow(non_upper_case_globals)]
        impl $name {
            $( #[doc = $sname] pub const $bit: $name = $name($val); )*

            /// The spec's name of this mask.
            pub const SPEC_NAME: &'static str = $spec;

            /// XML/JSON name and value of every defined bit, in bit order.
            pub const BITS: &'static [(&'static str, u32)] = &[ $( (stringify!($bit), $val), )* ];

            /// Spec name, first version and first version without it, of every defined bit.
            pub const BIT_VERSIONS: &'static [(u32, &'static str, KmipVersion, Option<KmipVersion>)] =
                &[ $( ($val, $sname, KmipVersion::$since, kmip_enum!(@until $($until)?)), )* ];

            pub fn bits(self) -> u32 {
                self.0
            }

            pub fn contains(self, other: $name) -> bool {
                self.0 & other.0 == other.0
            }

            /// The bits no version defines.
            pub fn unknown_bits(self) -> u32 {
                self.0 & !Self::BITS.iter().fold(0, |acc, (_, bit)| acc | bit)
            }

            /// Whether every bit set is defined in `version`.
            pub fn exists_in(self, version: KmipVersion) -> bool {
                self.unknown_bits() == 0
                    && Self::BIT_VERSIONS.iter().all(|&(bit, _, since, until)| {
                        self.0 & bit == 0 || version.within(since, until)
                    })
            }
        }

        impl std::ops::BitOr for $name {
            type Output = $name;
            fn bitor(self, rhs: $name) -> $name {
                $name(self.0 | rhs.0)
            }
        }

        impl std::fmt::Debug for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                let mut first = true;
                for (name, bit) in Self::BITS {
                    if self.0 & bit != 0 {
                        f.write_str(if first { "" } else { " | " })?;
                        f.write_str(name)?;
                        first = false;
                    }
                }
                let rest = self.unknown_bits();
                if rest != 0 || first {
                    write!(f, "{}0x{:08X}", if first { "" } else { " | " }, rest)?;
                }
                Ok(())
            }
        }
    };
}
