//! Attributes as typed values (KMIP 2.1 section 4), and their two wire forms.
//!
//! The server works with one model, [`Attribute`], with KMIP 2.x semantics. On the wire:
//! - KMIP 2.x puts each attribute in an `Attributes` structure under its own tag; a vendor
//!   (custom) attribute is an `Attribute { Vendor Identification, Attribute Name, Attribute
//!   Value }`;
//! - KMIP 1.x wraps every attribute as `Attribute { Attribute Name, Attribute Index?, Attribute
//!   Value }` with the spec name as text (`"Cryptographic Algorithm"`), and custom attributes
//!   are named `x-Name` / `y-Name`.
//!
//! [`Attribute::read_v2`]/[`Attribute::write_v2`] and [`AttributeV1`] convert between the two,
//! so this is the single adapter between the encodings. A custom attribute `x-Barcode` in 1.x
//! is the vendor attribute (`x`, `Barcode`) in 2.x. Attributes that do not exist in the
//! protocol version of a response are never written: see [`Attribute::exists_in`].

use crate::kmip::codec::{
    ByteString, Cx, DateTime, Interval, ModelError, Ttlv, structure, wrong_type,
};
use crate::kmip::names::{attribute_name_for_tag, attribute_tag_for_name};
use crate::kmip::tables::tag_info;
use crate::kmip::*;
use crate::kmip_struct;
use crate::ttlv::{Item, ItemType, Tag, Value, Writer};

kmip_struct! {
    /// 2.1 §4.32 Name.
    pub struct Name {
        name_value: req String = NameValue,
        name_type: req NameType = NameType,
    }
}

kmip_struct! {
    /// 2.1 §4.31 Link.
    pub struct Link {
        link_type: req LinkType = LinkType,
        linked_object_identifier: req String = LinkedObjectIdentifier,
    }
}

kmip_struct! {
    /// 2.1 §4.2 Alternative Name.
    pub struct AlternativeName {
        alternative_name_value: req String = AlternativeNameValue,
        alternative_name_type: req AlternativeNameType = AlternativeNameType,
    }
}

kmip_struct! {
    /// 2.1 §4.4 Application Specific Information.
    pub struct ApplicationSpecificInformation {
        application_namespace: req String = ApplicationNamespace,
        application_data: opt String = ApplicationData,
    }
}

kmip_struct! {
    /// 2.1 §4.21 Digest.
    pub struct Digest {
        hashing_algorithm: req HashingAlgorithm = HashingAlgorithm,
        digest_value: opt ByteString = DigestValue,
        key_format_type: opt KeyFormatType = KeyFormatType,
    }
}

kmip_struct! {
    /// 2.1 §4.16 Cryptographic Parameters.
    pub struct CryptographicParameters {
        block_cipher_mode: opt BlockCipherMode = BlockCipherMode,
        padding_method: opt PaddingMethod = PaddingMethod,
        hashing_algorithm: opt HashingAlgorithm = HashingAlgorithm,
        key_role_type: opt KeyRoleType = KeyRoleType,
        digital_signature_algorithm: opt DigitalSignatureAlgorithm = DigitalSignatureAlgorithm,
        cryptographic_algorithm: opt CryptographicAlgorithm = CryptographicAlgorithm,
        random_iv: opt bool = RandomIV,
        iv_length: opt i32 = IVLength,
        tag_length: opt i32 = TagLength,
        fixed_field_length: opt i32 = FixedFieldLength,
        invocation_field_length: opt i32 = InvocationFieldLength,
        counter_length: opt i32 = CounterLength,
        initial_counter_value: opt i32 = InitialCounterValue,
        salt_length: opt i32 = SaltLength,
        mask_generator: opt MaskGenerator = MaskGenerator,
        mask_generator_hashing_algorithm: opt HashingAlgorithm = MaskGeneratorHashingAlgorithm,
        p_source: opt ByteString = PSource,
        trailer_field: opt i32 = TrailerField,
    }
}

impl CryptographicParameters {
    /// Cryptographic Parameters with no field set.
    pub fn none() -> Self {
        CryptographicParameters {
            block_cipher_mode: None,
            padding_method: None,
            hashing_algorithm: None,
            key_role_type: None,
            digital_signature_algorithm: None,
            cryptographic_algorithm: None,
            random_iv: None,
            iv_length: None,
            tag_length: None,
            fixed_field_length: None,
            invocation_field_length: None,
            counter_length: None,
            initial_counter_value: None,
            salt_length: None,
            mask_generator: None,
            mask_generator_hashing_algorithm: None,
            p_source: None,
            trailer_field: None,
        }
    }
}

kmip_struct! {
    /// 2.1 §4.14 Cryptographic Domain Parameters.
    pub struct CryptographicDomainParameters {
        qlength: opt i32 = Qlength,
        recommended_curve: opt RecommendedCurve = RecommendedCurve,
    }
}

kmip_struct! {
    /// 2.1 §4.46 Random Number Generator.
    pub struct RandomNumberGenerator {
        rng_algorithm: req RNGAlgorithm = RNGAlgorithm,
        cryptographic_algorithm: opt CryptographicAlgorithm = CryptographicAlgorithm,
        cryptographic_length: opt i32 = CryptographicLength,
        hashing_algorithm: opt HashingAlgorithm = HashingAlgorithm,
        drbg_algorithm: opt DRBGAlgorithm = DRBGAlgorithm,
        recommended_curve: opt RecommendedCurve = RecommendedCurve,
        fips186_variation: opt FIPS186Variation = FIPS186Variation,
        prediction_resistance: opt bool = PredictionResistance,
    }
}

impl RandomNumberGenerator {
    /// A generator described by its RNG Algorithm alone.
    pub fn algorithm(rng_algorithm: RNGAlgorithm) -> Self {
        RandomNumberGenerator {
            rng_algorithm,
            cryptographic_algorithm: None,
            cryptographic_length: None,
            hashing_algorithm: None,
            drbg_algorithm: None,
            recommended_curve: None,
            fips186_variation: None,
            prediction_resistance: None,
        }
    }
}

kmip_struct! {
    /// 2.1 §4.47 Revocation Reason.
    pub struct RevocationReason {
        revocation_reason_code: req RevocationReasonCode = RevocationReasonCode,
        revocation_message: opt String = RevocationMessage,
    }
}

kmip_struct! {
    /// 2.1 §4.59 Usage Limits.
    pub struct UsageLimits {
        usage_limits_total: req i64 = UsageLimitsTotal,
        usage_limits_count: opt i64 = UsageLimitsCount,
        usage_limits_unit: opt UsageLimitsUnit = UsageLimitsUnit,
    }
}

kmip_struct! {
    /// 2.1 §4.27 Key Value Location.
    pub struct KeyValueLocation {
        key_value_location_value: req String = KeyValueLocationValue,
        key_value_location_type: req KeyValueLocationType = KeyValueLocationType,
    }
}

kmip_struct! {
    /// 2.1 §4.61 X.509 Certificate Identifier.
    pub struct X509CertificateIdentifier {
        issuer_distinguished_name: req ByteString = IssuerDistinguishedName,
        certificate_serial_number: req ByteString = CertificateSerialNumber,
    }
}

kmip_struct! {
    /// 2.1 §4.62 X.509 Certificate Issuer.
    pub struct X509CertificateIssuer {
        issuer_distinguished_name: req ByteString = IssuerDistinguishedName,
        issuer_alternative_name: vec ByteString = IssuerAlternativeName,
    }
}

kmip_struct! {
    /// 2.1 §4.63 X.509 Certificate Subject.
    pub struct X509CertificateSubject {
        subject_distinguished_name: req ByteString = SubjectDistinguishedName,
        subject_alternative_name: vec ByteString = SubjectAlternativeName,
    }
}

kmip_struct! {
    /// 1.x §3.13 Certificate Identifier (deprecated in 1.1, removed in 2.0).
    pub struct CertificateIdentifier {
        issuer: req String = Issuer,
        serial_number: opt String = SerialNumber,
    }
}

kmip_struct! {
    /// 1.x §3.14 Certificate Subject (deprecated in 1.1, removed in 2.0).
    pub struct CertificateSubject {
        certificate_subject_distinguished_name: req String = CertificateSubjectDistinguishedName,
        certificate_subject_alternative_name: vec String = CertificateSubjectAlternativeName,
    }
}

kmip_struct! {
    /// 1.x §3.15 Certificate Issuer (deprecated in 1.1, removed in 2.0).
    pub struct CertificateIssuer {
        certificate_issuer_distinguished_name: req String = CertificateIssuerDistinguishedName,
        certificate_issuer_alternative_name: vec String = CertificateIssuerAlternativeName,
    }
}

/// A vendor or custom attribute. Its value keeps whatever item type the client sent.
#[derive(Clone, Debug, PartialEq)]
pub struct VendorAttribute {
    /// `x` and `y` are the client- and server-defined prefixes of KMIP 1.x custom attributes.
    pub vendor_identification: String,
    pub attribute_name: String,
    pub attribute_value: Value<'static>,
}

impl VendorAttribute {
    /// The KMIP 1.x name: `x-Barcode` for vendor `x`, name `Barcode`.
    pub fn name_v1(&self) -> String {
        if self.vendor_identification.is_empty() {
            self.attribute_name.clone()
        } else {
            format!("{}-{}", self.vendor_identification, self.attribute_name)
        }
    }

    /// Splits a KMIP 1.x custom attribute name into vendor and name.
    pub fn split_v1(name: &str) -> (String, String) {
        match name.split_once('-') {
            Some((vendor, rest)) if !vendor.is_empty() && !vendor.contains(' ') => {
                (vendor.to_string(), rest.to_string())
            }
            _ => (String::new(), name.to_string()),
        }
    }
}

/// Declares the attribute enum from one table: variant, value type, tag.
macro_rules! attributes {
    ($( $(#[$m:meta])* $variant:ident($ty:ty) = $tag:ident ),* $(,)?) => {
        /// One attribute value, typed (KMIP 2.1 section 4 and the 1.x attributes 2.x dropped).
        #[derive(Clone, Debug, PartialEq)]
        pub enum Attribute {
            $( $(#[$m])* $variant($ty), )*
            /// 2.1 §4.60 Vendor Attribute, and 1.x custom attributes (`x-...`, `y-...`).
            Vendor(VendorAttribute),
        }

        impl Attribute {
            /// The tag of this attribute in KMIP 2.x (`Attribute` for a vendor attribute).
            pub fn tag(&self) -> Tag {
                match self {
                    $( Attribute::$variant(_) => Tag::$tag, )*
                    Attribute::Vendor(_) => Tag::Attribute,
                }
            }

            /// Reads the value of the standard attribute `tag` from `item` (whose own tag may
            /// be `Attribute Value`, in 1.x). `None` when `tag` is not an attribute.
            pub fn read_value(tag: Tag, item: &Item<'_>, cx: &Cx) -> Option<Result<Attribute, ModelError>> {
                Some(match tag {
                    $( Tag::$tag => <$ty>::read(item, cx).map(Attribute::$variant), )*
                    _ => return None,
                })
            }

            /// Writes the value alone, tagged `tag`.
            pub fn write_value(&self, tag: Tag, w: &mut Writer, cx: &Cx) {
                match self {
                    $( Attribute::$variant(v) => v.write(tag, w, cx), )*
                    Attribute::Vendor(v) => w.item(&Item { tag, value: v.attribute_value.clone() }),
                }
            }
        }
    };
}

attributes! {
    ActivationDate(DateTime) = ActivationDate,
    AlternativeName(AlternativeName) = AlternativeName,
    AlwaysSensitive(bool) = AlwaysSensitive,
    ApplicationSpecificInformation(ApplicationSpecificInformation) = ApplicationSpecificInformation,
    ArchiveDate(DateTime) = ArchiveDate,
    AttributeIndex(i32) = AttributeIndex,
    CertificateIdentifier(CertificateIdentifier) = CertificateIdentifier,
    CertificateIssuer(CertificateIssuer) = CertificateIssuer,
    CertificateSubject(CertificateSubject) = CertificateSubject,
    CertificateLength(i32) = CertificateLength,
    CertificateType(CertificateType) = CertificateType,
    CertificateSubjectCN(String) = CertificateSubjectCN,
    CertificateSubjectO(String) = CertificateSubjectO,
    CertificateSubjectOU(String) = CertificateSubjectOU,
    CertificateSubjectEmail(String) = CertificateSubjectEmail,
    CertificateSubjectC(String) = CertificateSubjectC,
    CertificateSubjectST(String) = CertificateSubjectST,
    CertificateSubjectL(String) = CertificateSubjectL,
    CertificateSubjectUID(String) = CertificateSubjectUID,
    CertificateSubjectSerialNumber(String) = CertificateSubjectSerialNumber,
    CertificateSubjectTitle(String) = CertificateSubjectTitle,
    CertificateSubjectDC(String) = CertificateSubjectDC,
    CertificateSubjectDNQualifier(String) = CertificateSubjectDNQualifier,
    CertificateIssuerCN(String) = CertificateIssuerCN,
    CertificateIssuerO(String) = CertificateIssuerO,
    CertificateIssuerOU(String) = CertificateIssuerOU,
    CertificateIssuerEmail(String) = CertificateIssuerEmail,
    CertificateIssuerC(String) = CertificateIssuerC,
    CertificateIssuerST(String) = CertificateIssuerST,
    CertificateIssuerL(String) = CertificateIssuerL,
    CertificateIssuerUID(String) = CertificateIssuerUID,
    CertificateIssuerSerialNumber(String) = CertificateIssuerSerialNumber,
    CertificateIssuerTitle(String) = CertificateIssuerTitle,
    CertificateIssuerDC(String) = CertificateIssuerDC,
    CertificateIssuerDNQualifier(String) = CertificateIssuerDNQualifier,
    Comment(String) = Comment,
    CompromiseDate(DateTime) = CompromiseDate,
    CompromiseOccurrenceDate(DateTime) = CompromiseOccurrenceDate,
    ContactInformation(String) = ContactInformation,
    CryptographicAlgorithm(CryptographicAlgorithm) = CryptographicAlgorithm,
    CryptographicDomainParameters(CryptographicDomainParameters) = CryptographicDomainParameters,
    CryptographicLength(i32) = CryptographicLength,
    CryptographicParameters(CryptographicParameters) = CryptographicParameters,
    CryptographicUsageMask(CryptographicUsageMask) = CryptographicUsageMask,
    DeactivationDate(DateTime) = DeactivationDate,
    Description(String) = Description,
    DestroyDate(DateTime) = DestroyDate,
    Digest(Digest) = Digest,
    DigitalSignatureAlgorithm(DigitalSignatureAlgorithm) = DigitalSignatureAlgorithm,
    Extractable(bool) = Extractable,
    Fresh(bool) = Fresh,
    InitialDate(DateTime) = InitialDate,
    KeyFormatType(KeyFormatType) = KeyFormatType,
    KeyValueLocation(KeyValueLocation) = KeyValueLocation,
    KeyValuePresent(bool) = KeyValuePresent,
    LastChangeDate(DateTime) = LastChangeDate,
    LeaseTime(Interval) = LeaseTime,
    Link(Link) = Link,
    Name(Name) = Name,
    NeverExtractable(bool) = NeverExtractable,
    NISTKeyType(NISTKeyType) = NISTKeyType,
    ObjectGroup(String) = ObjectGroup,
    ObjectGroupMember(ObjectGroupMember) = ObjectGroupMember,
    ObjectType(ObjectType) = ObjectType,
    OpaqueDataType(OpaqueDataType) = OpaqueDataType,
    OperationPolicyName(String) = OperationPolicyName,
    OriginalCreationDate(DateTime) = OriginalCreationDate,
    PKCS_12FriendlyName(String) = PKCS_12FriendlyName,
    ProcessStartDate(DateTime) = ProcessStartDate,
    ProtectStopDate(DateTime) = ProtectStopDate,
    ProtectionLevel(ProtectionLevel) = ProtectionLevel,
    ProtectionPeriod(Interval) = ProtectionPeriod,
    ProtectionStorageMask(ProtectionStorageMask) = ProtectionStorageMask,
    QuantumSafe(bool) = QuantumSafe,
    RandomNumberGenerator(RandomNumberGenerator) = RandomNumberGenerator,
    RevocationReason(RevocationReason) = RevocationReason,
    RotateAutomatic(bool) = RotateAutomatic,
    RotateDate(DateTime) = RotateDate,
    RotateGeneration(i32) = RotateGeneration,
    RotateInterval(Interval) = RotateInterval,
    RotateLatest(bool) = RotateLatest,
    RotateName(String) = RotateName,
    RotateOffset(Interval) = RotateOffset,
    Sensitive(bool) = Sensitive,
    ShortUniqueIdentifier(ByteString) = ShortUniqueIdentifier,
    State(State) = State,
    UniqueIdentifier(String) = UniqueIdentifier,
    UsageLimits(UsageLimits) = UsageLimits,
    X509CertificateIdentifier(X509CertificateIdentifier) = X_509CertificateIdentifier,
    X509CertificateIssuer(X509CertificateIssuer) = X_509CertificateIssuer,
    X509CertificateSubject(X509CertificateSubject) = X_509CertificateSubject,
}

impl Attribute {
    /// The value of a Date-Time attribute (seconds since the epoch).
    pub fn as_date_time(&self) -> Option<i64> {
        match self {
            Attribute::ActivationDate(d)
            | Attribute::ArchiveDate(d)
            | Attribute::CompromiseDate(d)
            | Attribute::CompromiseOccurrenceDate(d)
            | Attribute::DeactivationDate(d)
            | Attribute::DestroyDate(d)
            | Attribute::InitialDate(d)
            | Attribute::LastChangeDate(d)
            | Attribute::OriginalCreationDate(d)
            | Attribute::ProcessStartDate(d)
            | Attribute::ProtectStopDate(d)
            | Attribute::RotateDate(d) => Some(d.0),
            _ => None,
        }
    }

    /// Whether the attribute exists in `version` (a 1.0 client never receives Fresh, a 2.x
    /// client never Operation Policy Name). Vendor attributes exist everywhere.
    pub fn exists_in(&self, version: KmipVersion) -> bool {
        match self {
            Attribute::Vendor(_) => true,
            // A Link whose Link Type the version lacks (Wrapping Key Link is 2.0's) is no Link
            // a client of that version can read: PyKMIP's 1.x decoder fails on the whole answer.
            Attribute::Link(l) => {
                attribute_exists_in(Tag::Link, version) && l.link_type.exists_in(version)
            }
            other => attribute_exists_in(other.tag(), version),
        }
    }

    /// The reference naming this attribute (for Get Attributes, Delete Attribute, ...).
    pub fn reference(&self) -> AttributeReference {
        match self {
            Attribute::Vendor(v) => AttributeReference::Vendor {
                vendor_identification: v.vendor_identification.clone(),
                attribute_name: v.attribute_name.clone(),
            },
            other => AttributeReference::Standard(other.tag()),
        }
    }

    /// Reads one attribute in its KMIP 2.x form: an item of an `Attributes` structure.
    pub fn read_v2(item: &Item<'_>, cx: &Cx) -> Result<Attribute, ModelError> {
        if item.tag == Tag::Attribute {
            return VendorAttribute::read(item, cx).map(Attribute::Vendor);
        }
        Attribute::read_value(item.tag, item, cx).unwrap_or(Err(ModelError::UnexpectedField {
            parent: Tag::Attributes,
            tag: item.tag,
        }))
    }

    /// Writes one attribute in its KMIP 2.x form.
    pub fn write_v2(&self, w: &mut Writer, cx: &Cx) {
        match self {
            Attribute::Vendor(v) => v.write(Tag::Attribute, w, cx),
            other => other.write_value(other.tag(), w, cx),
        }
    }
}

/// The 2.x vendor attribute structure: `Attribute { Vendor Identification, Attribute Name,
/// Attribute Value }`.
impl Ttlv for VendorAttribute {
    fn read(item: &Item<'_>, cx: &Cx) -> Result<Self, ModelError> {
        let mut vendor = None;
        let mut name = None;
        let mut value = None;
        for child in structure(item)? {
            match child.tag {
                Tag::VendorIdentification => vendor = Some(String::read(child, cx)?),
                Tag::AttributeName => name = Some(String::read(child, cx)?),
                Tag::AttributeValue => value = Some(child.value.clone().into_owned()),
                other => {
                    return Err(ModelError::UnexpectedField {
                        parent: item.tag,
                        tag: other,
                    });
                }
            }
        }
        let missing = |tag| ModelError::MissingField {
            parent: item.tag,
            tag,
        };
        Ok(VendorAttribute {
            vendor_identification: vendor.ok_or(missing(Tag::VendorIdentification))?,
            attribute_name: name.ok_or(missing(Tag::AttributeName))?,
            attribute_value: value.ok_or(missing(Tag::AttributeValue))?,
        })
    }

    fn write(&self, tag: Tag, w: &mut Writer, _: &Cx) {
        let open = w.begin(tag);
        w.text_string(Tag::VendorIdentification, &self.vendor_identification);
        w.text_string(Tag::AttributeName, &self.attribute_name);
        w.item(&Item {
            tag: Tag::AttributeValue,
            value: self.attribute_value.clone(),
        });
        w.end(open);
    }
}

/// A KMIP 1.x `Attribute { Attribute Name, Attribute Index?, Attribute Value }`.
#[derive(Clone, Debug, PartialEq)]
pub struct AttributeV1 {
    pub attribute: Attribute,
    pub index: Option<i32>,
}

impl From<Attribute> for AttributeV1 {
    fn from(attribute: Attribute) -> Self {
        AttributeV1 {
            attribute,
            index: None,
        }
    }
}

/// The parts of a 1.x `Attribute` structure, for the operations (Delete Attribute) where the
/// value may be absent.
#[derive(Clone, Debug, PartialEq)]
pub struct AttributeV1Parts<'i, 'a> {
    pub name: &'i str,
    pub index: Option<i32>,
    pub value: Option<&'i Item<'a>>,
}

/// Collapses runs of white space: some published 1.x vectors write attribute names with two
/// spaces between words.
fn collapse(name: &str) -> std::borrow::Cow<'_, str> {
    if name.contains("  ") || name.starts_with(' ') || name.ends_with(' ') {
        name.split_whitespace().collect::<Vec<_>>().join(" ").into()
    } else {
        name.into()
    }
}

impl AttributeV1 {
    pub fn parts<'i, 'a>(item: &'i Item<'a>) -> Result<AttributeV1Parts<'i, 'a>, ModelError> {
        let mut name = None;
        let mut index = None;
        let mut value = None;
        for child in structure(item)? {
            match child.tag {
                Tag::AttributeName => name = Some(crate::kmip::codec::text(child)?),
                Tag::AttributeIndex => index = Some(i32::read(child, &Cx::new(KmipVersion::V1_0))?),
                Tag::AttributeValue => value = Some(child),
                other => {
                    return Err(ModelError::UnexpectedField {
                        parent: item.tag,
                        tag: other,
                    });
                }
            }
        }
        Ok(AttributeV1Parts {
            name: name.ok_or(ModelError::MissingField {
                parent: item.tag,
                tag: Tag::AttributeName,
            })?,
            index,
            value,
        })
    }

    /// Reads the attribute named `name` with the value `value` (1.x encoding).
    pub fn value_from(name: &str, value: &Item<'_>, cx: &Cx) -> Result<Attribute, ModelError> {
        let name = collapse(name);
        match attribute_tag_for_name(&name) {
            Some(tag) => Attribute::read_value(tag, value, cx).unwrap_or_else(|| {
                Err(ModelError::InvalidValue {
                    tag: Tag::AttributeName,
                    reason: format!("{name} is not an attribute"),
                })
            }),
            None => {
                let (vendor_identification, attribute_name) = VendorAttribute::split_v1(&name);
                Ok(Attribute::Vendor(VendorAttribute {
                    vendor_identification,
                    attribute_name,
                    attribute_value: value.value.clone().into_owned(),
                }))
            }
        }
    }

    /// The 1.x name of an attribute.
    pub fn name_of(attribute: &Attribute) -> std::borrow::Cow<'static, str> {
        match attribute {
            Attribute::Vendor(v) => v.name_v1().into(),
            other => attribute_name_for_tag(other.tag()).unwrap_or("").into(),
        }
    }
}

impl Ttlv for AttributeV1 {
    fn read(item: &Item<'_>, cx: &Cx) -> Result<Self, ModelError> {
        let parts = AttributeV1::parts(item)?;
        let value = parts.value.ok_or(ModelError::MissingField {
            parent: item.tag,
            tag: Tag::AttributeValue,
        })?;
        Ok(AttributeV1 {
            attribute: AttributeV1::value_from(parts.name, value, cx)?,
            index: parts.index,
        })
    }

    fn write(&self, tag: Tag, w: &mut Writer, cx: &Cx) {
        let open = w.begin(tag);
        w.text_string(Tag::AttributeName, &AttributeV1::name_of(&self.attribute));
        if let Some(index) = self.index {
            w.integer(Tag::AttributeIndex, index);
        }
        self.attribute.write_value(Tag::AttributeValue, w, cx);
        w.end(open);
    }
}

/// The KMIP 2.x `Attributes` structure: a list of attributes under their own tags.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Attributes(pub Vec<Attribute>);

impl Ttlv for Attributes {
    fn read(item: &Item<'_>, cx: &Cx) -> Result<Self, ModelError> {
        structure(item)?
            .iter()
            .map(|child| Attribute::read_v2(child, cx))
            .collect::<Result<_, _>>()
            .map(Attributes)
    }

    fn write(&self, tag: Tag, w: &mut Writer, cx: &Cx) {
        let open = w.begin(tag);
        for attribute in &self.0 {
            attribute.write_v2(w, cx);
        }
        w.end(open);
    }
}

impl Ttlv for Attribute {
    /// An attribute standing alone in a 2.x payload (`New Attribute { <attribute> }`,
    /// `Current Attribute { <attribute> }`): a structure holding exactly one attribute.
    fn read(item: &Item<'_>, cx: &Cx) -> Result<Self, ModelError> {
        match structure(item)? {
            [one] => Attribute::read_v2(one, cx),
            _ => Err(ModelError::InvalidValue {
                tag: item.tag,
                reason: "must hold exactly one attribute".into(),
            }),
        }
    }

    fn write(&self, tag: Tag, w: &mut Writer, cx: &Cx) {
        let open = w.begin(tag);
        self.write_v2(w, cx);
        w.end(open);
    }
}

kmip_struct! {
    /// 1.x Template-Attribute (also Common/Private Key/Public Key Template-Attribute): names of
    /// templates (deprecated) and attributes.
    pub struct TemplateAttribute {
        name: vec Name = Name,
        attribute: vec AttributeV1 = Attribute,
    }
}

/// 2.x Attribute Reference: a standard attribute by tag (an Enumeration whose values are
/// tags), or a vendor attribute by vendor and name. In 1.x, an Attribute Name text.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum AttributeReference {
    Standard(Tag),
    Vendor {
        vendor_identification: String,
        attribute_name: String,
    },
}

impl Ttlv for AttributeReference {
    fn read(item: &Item<'_>, cx: &Cx) -> Result<Self, ModelError> {
        match &item.value {
            Value::Enumeration(tag) => Ok(AttributeReference::Standard(Tag(*tag))),
            Value::Structure(_) => {
                let v = AttributeReferenceVendor::read(item, cx)?;
                Ok(AttributeReference::Vendor {
                    vendor_identification: v.vendor_identification,
                    attribute_name: v.attribute_name,
                })
            }
            _ => Err(wrong_type(item, ItemType::Enumeration)),
        }
    }

    fn write(&self, tag: Tag, w: &mut Writer, _: &Cx) {
        match self {
            AttributeReference::Standard(t) => w.enumeration(tag, t.0),
            AttributeReference::Vendor {
                vendor_identification,
                attribute_name,
            } => {
                let open = w.begin(tag);
                w.text_string(Tag::VendorIdentification, vendor_identification);
                w.text_string(Tag::AttributeName, attribute_name);
                w.end(open);
            }
        }
    }
}

kmip_struct! {
    /// The structure form of a 2.x Attribute Reference.
    pub struct AttributeReferenceVendor {
        vendor_identification: req String = VendorIdentification,
        attribute_name: req String = AttributeName,
    }
}

impl AttributeReference {
    /// The reference named by a 1.x Attribute Name.
    pub fn from_v1_name(name: &str) -> AttributeReference {
        let name = collapse(name);
        match attribute_tag_for_name(&name) {
            Some(tag) => AttributeReference::Standard(tag),
            None => {
                let (vendor_identification, attribute_name) = VendorAttribute::split_v1(&name);
                AttributeReference::Vendor {
                    vendor_identification,
                    attribute_name,
                }
            }
        }
    }

    /// The 1.x Attribute Name of this reference.
    pub fn v1_name(&self) -> String {
        match self {
            AttributeReference::Standard(tag) => attribute_name_for_tag(*tag)
                .map(str::to_string)
                .unwrap_or_else(|| tag.to_string()),
            AttributeReference::Vendor {
                vendor_identification,
                attribute_name,
            } => {
                if vendor_identification.is_empty() {
                    attribute_name.clone()
                } else {
                    format!("{vendor_identification}-{attribute_name}")
                }
            }
        }
    }
}

/// Whether the attribute tagged `tag` exists in `version`: when its tag does, except Key
/// Format Type, a field of the Key Block since 1.0 but an attribute only since 2.0 (2.1
/// §4.26; 1.x has no attribute of that name).
pub fn attribute_exists_in(tag: Tag, version: KmipVersion) -> bool {
    if tag == Tag::KeyFormatType && version < KmipVersion::V2_0 {
        return false;
    }
    tag_info(tag).is_some_and(|info| info.exists_in(version))
}
