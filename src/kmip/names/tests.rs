use super::*;
use crate::kmip::KmipVersion;
use crate::kmip::tables::{CryptographicUsageMask, ObjectType, State, ValidityIndicator};

fn attr(name: &str) -> NameContext<'_> {
    NameContext {
        attribute_name: Some(name),
    }
}

#[test]
fn tag_names_both_ways() {
    let n = KmipNames;
    assert_eq!(n.tag_name(Tag::UniqueIdentifier), Some("UniqueIdentifier"));
    assert_eq!(n.tag_by_name("TemplateAttribute"), Some(Tag(0x420091)));
    assert_eq!(
        n.tag_by_name("PrivateKeyTemplateAttribute"),
        Some(Tag(0x420065))
    );
    assert_eq!(n.tag_name(Tag(0x540001)), None);
    let info = tag_info(Tag::TemplateAttribute).unwrap();
    assert_eq!(info.spec_name, "Template-Attribute");
    assert!(info.exists_in(KmipVersion::V1_4) && !info.exists_in(KmipVersion::V2_0));
}

#[test]
fn enumerations_by_tag() {
    let n = KmipNames;
    let none = NameContext::default();
    assert_eq!(n.enum_name(Tag::ObjectType, none, 2), Some("SymmetricKey"));
    assert_eq!(n.enum_by_name(Tag::State, none, "PreActive"), Some(1));
    assert_eq!(
        n.enum_by_name(Tag::MaskGeneratorHashingAlgorithm, none, "SHA_256"),
        Some(6)
    );
    assert_eq!(
        n.enum_by_name(Tag::UniqueIdentifier, none, "IDPlaceholder"),
        Some(1)
    );
    // 2.x Attribute Reference: the values are tags.
    assert_eq!(
        n.enum_by_name(Tag::AttributeReference, none, "State"),
        Some(0x42008D)
    );
    assert_eq!(
        n.enum_name(Tag::AttributeReference, none, 0x42008D),
        Some("State")
    );
}

#[test]
fn attribute_value_follows_the_attribute_name() {
    let n = KmipNames;
    let v = Tag::AttributeValue;
    assert_eq!(
        n.enum_by_name(v, attr("Cryptographic   Algorithm"), "AES"),
        Some(3)
    );
    assert_eq!(n.enum_name(v, attr("State"), 1), Some("PreActive"));
    assert_eq!(n.enum_by_name(v, attr("x-State"), "PreActive"), None);
    assert_eq!(n.enum_by_name(v, NameContext::default(), "AES"), None);
    let bits = n.mask_bits(v, attr("Cryptographic Usage Mask")).unwrap();
    assert!(bits.contains(&("Encrypt", 4)));
    assert!(n.mask_bits(v, attr("Cryptographic Length")).is_none());
    assert!(
        n.mask_bits(Tag::CryptographicUsageMask, NameContext::default())
            .is_some()
    );
}

#[test]
fn attribute_names_and_tags() {
    assert_eq!(
        attribute_tag_for_name("Cryptographic Usage Mask"),
        Some(Tag::CryptographicUsageMask)
    );
    assert_eq!(
        attribute_tag_for_name(" Unique   Identifier "),
        Some(Tag::UniqueIdentifier)
    );
    assert_eq!(attribute_tag_for_name("x-Barcode"), None);
    assert_eq!(attribute_tag_for_name("y-Barcode"), None);
    assert_eq!(attribute_tag_for_name("No Such Attribute"), None);
    assert_eq!(attribute_name_for_tag(Tag::State), Some("State"));
    assert_eq!(
        attribute_name_for_tag(Tag::OperationPolicyName),
        Some("Operation Policy Name")
    );
}

#[test]
fn enum_types_keep_unknown_values_and_versions() {
    assert_eq!(ObjectType::from_u32(2), ObjectType::SymmetricKey);
    assert_eq!(
        ObjectType::from_u32(0x8000_0001),
        ObjectType::Unknown(0x8000_0001)
    );
    assert_eq!(ObjectType::Unknown(7).value(), 7);
    assert_eq!(format!("{:?}", ObjectType::SymmetricKey), "Symmetric Key");
    assert_eq!(
        format!("{:?}", ObjectType::Unknown(0x42)),
        "ObjectType(0x00000042)"
    );
    assert!(ObjectType::Template.exists_in(KmipVersion::V1_4));
    assert!(!ObjectType::Template.exists_in(KmipVersion::V2_0));
    assert!(!ObjectType::CertificateRequest.exists_in(KmipVersion::V1_4));
    assert!(ObjectType::Unknown(0x8000_0001).exists_in(KmipVersion::V1_0));
    assert_eq!(State::from_name("PreActive"), Some(State::PreActive));
    assert_eq!(State::PreActive.spec_name(), Some("Pre-Active"));
    assert_eq!(
        ValidityIndicator::from_name("Unknown"),
        Some(ValidityIndicator::UnknownValue)
    );
}

#[test]
fn masks() {
    let m = CryptographicUsageMask::Encrypt | CryptographicUsageMask::Decrypt;
    assert_eq!(m.bits(), 0xC);
    assert!(m.contains(CryptographicUsageMask::Encrypt));
    assert_eq!(format!("{m:?}"), "Encrypt | Decrypt");
    assert!(CryptographicUsageMask::Export.exists_in(KmipVersion::V1_4));
    assert!(!CryptographicUsageMask::Export.exists_in(KmipVersion::V2_1));
    assert_eq!(
        CryptographicUsageMask(0x8000_0000).unknown_bits(),
        0x8000_0000
    );
}
