//! TEMPORARY until the tables branch lands.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum KmipVersion { V1_0, V1_1, V1_2, V1_3, V1_4, V2_0, V2_1 }
impl std::fmt::Display for KmipVersion {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result { write!(f, "{self:?}") }
}
