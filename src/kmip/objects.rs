//! Managed objects as they travel in Register and Get (KMIP 2.1 section 2.2), with the Key
//! Block (section 2.1.3) and its Key Value.
//!
//! Key material is held in [`KeyBytes`] and [`SecretBigInt`]: zeroized on drop, and never
//! printed by `Debug`.

use zeroize::Zeroizing;

use crate::kmip::attributes::{Attribute, AttributeV1, Attributes};
use crate::kmip::codec::{ByteString, Cx, ModelError, Ttlv, structure, wrong_type};
use crate::kmip::*;
use crate::kmip_struct;
use crate::ttlv::{Item, ItemType, Tag, Value, Writer};

/// Secret bytes (a Byte String of key material): zeroized on drop, redacted in `Debug`.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct KeyBytes(pub Zeroizing<Vec<u8>>);

impl KeyBytes {
    pub fn new(bytes: Vec<u8>) -> Self {
        KeyBytes(Zeroizing::new(bytes))
    }
    pub fn as_slice(&self) -> &[u8] {
        &self.0
    }
}

impl std::fmt::Debug for KeyBytes {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "KeyBytes(<{} bytes redacted>)", self.0.len())
    }
}

impl Ttlv for KeyBytes {
    fn read(item: &Item<'_>, _: &Cx) -> Result<Self, ModelError> {
        match &item.value {
            Value::ByteString(b) => Ok(KeyBytes::new(b.to_vec())),
            _ => Err(wrong_type(item, ItemType::ByteString)),
        }
    }
    fn write(&self, tag: Tag, w: &mut Writer, _: &Cx) {
        w.byte_string(tag, &self.0)
    }
}

/// A secret Big Integer (a private exponent, a prime): zeroized on drop, redacted in `Debug`.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct SecretBigInt(pub Zeroizing<Vec<u8>>);

impl std::fmt::Debug for SecretBigInt {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "SecretBigInt(<{} bytes redacted>)", self.0.len())
    }
}

impl Ttlv for SecretBigInt {
    fn read(item: &Item<'_>, _: &Cx) -> Result<Self, ModelError> {
        match &item.value {
            Value::BigInteger(b) => Ok(SecretBigInt(Zeroizing::new(b.to_vec()))),
            _ => Err(wrong_type(item, ItemType::BigInteger)),
        }
    }
    fn write(&self, tag: Tag, w: &mut Writer, _: &Cx) {
        w.big_integer(tag, &self.0)
    }
}

kmip_struct! {
    /// The structured Key Material of the Transparent key formats (2.1 §2.1.7), all in one
    /// declaration: each format uses a subset of the fields, and their spec orders agree.
    pub struct TransparentKeyMaterial {
        key: opt KeyBytes = Key,
        modulus: opt SecretBigInt = Modulus,
        private_exponent: opt SecretBigInt = PrivateExponent,
        public_exponent: opt SecretBigInt = PublicExponent,
        p: opt SecretBigInt = P,
        q: opt SecretBigInt = Q,
        g: opt SecretBigInt = G,
        j: opt SecretBigInt = J,
        x: opt SecretBigInt = X,
        y: opt SecretBigInt = Y,
        prime_exponent_p: opt SecretBigInt = PrimeExponentP,
        prime_exponent_q: opt SecretBigInt = PrimeExponentQ,
        crt_coefficient: opt SecretBigInt = CRTCoefficient,
        recommended_curve: opt RecommendedCurve = RecommendedCurve,
        d: opt SecretBigInt = D,
        q_string: opt KeyBytes = QString,
    }
}

/// Key Material: raw bytes, or a Transparent structure.
#[derive(Clone, Debug, PartialEq)]
pub enum KeyMaterial {
    Bytes(KeyBytes),
    Transparent(Box<TransparentKeyMaterial>),
}

impl Ttlv for KeyMaterial {
    fn read(item: &Item<'_>, cx: &Cx) -> Result<Self, ModelError> {
        match &item.value {
            Value::ByteString(_) => KeyBytes::read(item, cx).map(KeyMaterial::Bytes),
            Value::Structure(_) => TransparentKeyMaterial::read(item, cx)
                .map(|t| KeyMaterial::Transparent(Box::new(t))),
            _ => Err(wrong_type(item, ItemType::ByteString)),
        }
    }
    fn write(&self, tag: Tag, w: &mut Writer, cx: &Cx) {
        match self {
            KeyMaterial::Bytes(b) => b.write(tag, w, cx),
            KeyMaterial::Transparent(t) => t.write(tag, w, cx),
        }
    }
}

/// Key Value (2.1 §2.1.4): a structure of Key Material and attributes, or, when the key is
/// wrapped, the wrapped bytes.
#[derive(Clone, Debug, PartialEq)]
pub enum KeyValue {
    Plain {
        key_material: KeyMaterial,
        /// 1.x: `Attribute` structures; 2.x: one `Attributes` structure.
        attributes: Vec<Attribute>,
    },
    Wrapped(KeyBytes),
}

impl Ttlv for KeyValue {
    fn read(item: &Item<'_>, cx: &Cx) -> Result<Self, ModelError> {
        if let Value::ByteString(_) = &item.value {
            return KeyBytes::read(item, cx).map(KeyValue::Wrapped);
        }
        let mut key_material = None;
        let mut attributes = Vec::new();
        for child in structure(item)? {
            match child.tag {
                Tag::KeyMaterial if key_material.is_none() => {
                    key_material = Some(KeyMaterial::read(child, cx)?)
                }
                Tag::Attribute if cx.is_1x() => {
                    attributes.push(AttributeV1::read(child, cx)?.attribute)
                }
                Tag::Attributes if !cx.is_1x() => attributes.extend(Attributes::read(child, cx)?.0),
                other => {
                    return Err(ModelError::UnexpectedField {
                        parent: item.tag,
                        tag: other,
                    });
                }
            }
        }
        Ok(KeyValue::Plain {
            key_material: key_material.ok_or(ModelError::MissingField {
                parent: item.tag,
                tag: Tag::KeyMaterial,
            })?,
            attributes,
        })
    }

    fn write(&self, tag: Tag, w: &mut Writer, cx: &Cx) {
        match self {
            KeyValue::Wrapped(b) => b.write(tag, w, cx),
            KeyValue::Plain {
                key_material,
                attributes,
            } => {
                let open = w.begin(tag);
                key_material.write(Tag::KeyMaterial, w, cx);
                let shown = attributes.iter().filter(|a| a.exists_in(cx.version));
                if cx.is_1x() {
                    for a in shown {
                        AttributeV1::from(a.clone()).write(Tag::Attribute, w, cx);
                    }
                } else if !attributes.is_empty() {
                    let inner = w.begin(Tag::Attributes);
                    for a in shown {
                        a.write_v2(w, cx);
                    }
                    w.end(inner);
                }
                w.end(open);
            }
        }
    }
}

kmip_struct! {
    /// 2.1 §2.1.5 Encryption Key Information.
    pub struct EncryptionKeyInformation {
        unique_identifier: req String = UniqueIdentifier,
        cryptographic_parameters: opt crate::kmip::attributes::CryptographicParameters = CryptographicParameters,
    }
}

kmip_struct! {
    /// 2.1 §2.1.6 MAC/Signature Key Information.
    pub struct MACSignatureKeyInformation {
        unique_identifier: req String = UniqueIdentifier,
        cryptographic_parameters: opt crate::kmip::attributes::CryptographicParameters = CryptographicParameters,
    }
}

kmip_struct! {
    /// 2.1 §2.1.5 Key Wrapping Data.
    pub struct KeyWrappingData {
        wrapping_method: req WrappingMethod = WrappingMethod,
        encryption_key_information: opt EncryptionKeyInformation = EncryptionKeyInformation,
        mac_signature_key_information: opt MACSignatureKeyInformation = MACSignatureKeyInformation,
        mac_signature: opt ByteString = MACSignature,
        iv_counter_nonce: opt ByteString = IVCounterNonce,
        encoding_option: opt EncodingOption = EncodingOption,
    }
}

kmip_struct! {
    /// 2.1 §2.1.6 Key Wrapping Specification.
    pub struct KeyWrappingSpecification {
        wrapping_method: req WrappingMethod = WrappingMethod,
        encryption_key_information: opt EncryptionKeyInformation = EncryptionKeyInformation,
        mac_signature_key_information: opt MACSignatureKeyInformation = MACSignatureKeyInformation,
        attribute_name: vec String = AttributeName,
        encoding_option: opt EncodingOption = EncodingOption,
    }
}

kmip_struct! {
    /// 2.1 §2.1.3 Key Block.
    pub struct KeyBlock {
        key_format_type: req KeyFormatType = KeyFormatType,
        key_compression_type: opt KeyCompressionType = KeyCompressionType,
        key_value: opt KeyValue = KeyValue,
        cryptographic_algorithm: opt CryptographicAlgorithm = CryptographicAlgorithm,
        cryptographic_length: opt i32 = CryptographicLength,
        key_wrapping_data: opt KeyWrappingData = KeyWrappingData,
    }
}

kmip_struct! {
    /// 2.1 §2.2.1 Certificate.
    pub struct Certificate {
        certificate_type: req CertificateType = CertificateType,
        certificate_value: req ByteString = CertificateValue,
    }
}

kmip_struct! {
    /// 2.1 §2.2.2 Certificate Request.
    pub struct CertificateRequest {
        certificate_request_type: req CertificateRequestType = CertificateRequestType,
        certificate_request_value: req ByteString = CertificateRequestValue,
    }
}

kmip_struct! {
    /// 2.1 §2.2.3 Opaque Object.
    pub struct OpaqueObject {
        opaque_data_type: req OpaqueDataType = OpaqueDataType,
        opaque_data_value: req KeyBytes = OpaqueDataValue,
    }
}

kmip_struct! {
    /// 2.1 §2.2.4 PGP Key.
    pub struct PGPKey {
        pgp_key_version: req i32 = PGPKeyVersion,
        key_block: req KeyBlock = KeyBlock,
    }
}

kmip_struct! {
    /// 2.1 §2.2.5 Private Key.
    pub struct PrivateKey {
        key_block: req KeyBlock = KeyBlock,
    }
}

kmip_struct! {
    /// 2.1 §2.2.6 Public Key.
    pub struct PublicKey {
        key_block: req KeyBlock = KeyBlock,
    }
}

kmip_struct! {
    /// 2.1 §2.2.7 Secret Data.
    pub struct SecretData {
        secret_data_type: req SecretDataType = SecretDataType,
        key_block: req KeyBlock = KeyBlock,
    }
}

kmip_struct! {
    /// 2.1 §2.2.8 Split Key.
    pub struct SplitKey {
        split_key_parts: req i32 = SplitKeyParts,
        key_part_identifier: req i32 = KeyPartIdentifier,
        split_key_threshold: req i32 = SplitKeyThreshold,
        split_key_method: req SplitKeyMethod = SplitKeyMethod,
        prime_field_size: opt crate::kmip::codec::BigInteger = PrimeFieldSize,
        key_block: req KeyBlock = KeyBlock,
    }
}

kmip_struct! {
    /// 2.1 §2.2.9 Symmetric Key.
    pub struct SymmetricKey {
        key_block: req KeyBlock = KeyBlock,
    }
}

kmip_struct! {
    /// 1.x §2.2.6 Template (deprecated in 1.3, removed in 2.0).
    pub struct Template {
        attribute: vec AttributeV1 = Attribute,
    }
}

/// A managed object, as carried by Register, Get, Put and others. The variant is the tag.
#[derive(Clone, Debug, PartialEq)]
pub enum Object {
    Certificate(Certificate),
    CertificateRequest(CertificateRequest),
    OpaqueObject(OpaqueObject),
    PGPKey(PGPKey),
    PrivateKey(PrivateKey),
    PublicKey(PublicKey),
    SecretData(SecretData),
    SplitKey(SplitKey),
    SymmetricKey(SymmetricKey),
    Template(Template),
}

impl Object {
    /// The tags an object may stand under.
    pub fn is_object_tag(tag: Tag) -> bool {
        matches!(
            tag,
            Tag::Certificate
                | Tag::CertificateRequest
                | Tag::OpaqueObject
                | Tag::PGPKey
                | Tag::PrivateKey
                | Tag::PublicKey
                | Tag::SecretData
                | Tag::SplitKey
                | Tag::SymmetricKey
                | Tag::Template
        )
    }

    pub fn tag(&self) -> Tag {
        match self {
            Object::Certificate(_) => Tag::Certificate,
            Object::CertificateRequest(_) => Tag::CertificateRequest,
            Object::OpaqueObject(_) => Tag::OpaqueObject,
            Object::PGPKey(_) => Tag::PGPKey,
            Object::PrivateKey(_) => Tag::PrivateKey,
            Object::PublicKey(_) => Tag::PublicKey,
            Object::SecretData(_) => Tag::SecretData,
            Object::SplitKey(_) => Tag::SplitKey,
            Object::SymmetricKey(_) => Tag::SymmetricKey,
            Object::Template(_) => Tag::Template,
        }
    }

    /// The Object Type this object is.
    pub fn object_type(&self) -> ObjectType {
        match self {
            Object::Certificate(_) => ObjectType::Certificate,
            Object::CertificateRequest(_) => ObjectType::CertificateRequest,
            Object::OpaqueObject(_) => ObjectType::OpaqueObject,
            Object::PGPKey(_) => ObjectType::PGPKey,
            Object::PrivateKey(_) => ObjectType::PrivateKey,
            Object::PublicKey(_) => ObjectType::PublicKey,
            Object::SecretData(_) => ObjectType::SecretData,
            Object::SplitKey(_) => ObjectType::SplitKey,
            Object::SymmetricKey(_) => ObjectType::SymmetricKey,
            Object::Template(_) => ObjectType::Template,
        }
    }

    /// The Key Block, for the objects that have one, to change.
    pub fn key_block_mut(&mut self) -> Option<&mut KeyBlock> {
        match self {
            Object::PGPKey(o) => Some(&mut o.key_block),
            Object::PrivateKey(o) => Some(&mut o.key_block),
            Object::PublicKey(o) => Some(&mut o.key_block),
            Object::SecretData(o) => Some(&mut o.key_block),
            Object::SplitKey(o) => Some(&mut o.key_block),
            Object::SymmetricKey(o) => Some(&mut o.key_block),
            _ => None,
        }
    }

    /// The Key Block, for the objects that have one.
    pub fn key_block(&self) -> Option<&KeyBlock> {
        match self {
            Object::PGPKey(o) => Some(&o.key_block),
            Object::PrivateKey(o) => Some(&o.key_block),
            Object::PublicKey(o) => Some(&o.key_block),
            Object::SecretData(o) => Some(&o.key_block),
            Object::SplitKey(o) => Some(&o.key_block),
            Object::SymmetricKey(o) => Some(&o.key_block),
            _ => None,
        }
    }
}

impl Ttlv for Object {
    fn read(item: &Item<'_>, cx: &Cx) -> Result<Self, ModelError> {
        Ok(match item.tag {
            Tag::Certificate => Object::Certificate(Certificate::read(item, cx)?),
            Tag::CertificateRequest => {
                Object::CertificateRequest(CertificateRequest::read(item, cx)?)
            }
            Tag::OpaqueObject => Object::OpaqueObject(OpaqueObject::read(item, cx)?),
            Tag::PGPKey => Object::PGPKey(PGPKey::read(item, cx)?),
            Tag::PrivateKey => Object::PrivateKey(PrivateKey::read(item, cx)?),
            Tag::PublicKey => Object::PublicKey(PublicKey::read(item, cx)?),
            Tag::SecretData => Object::SecretData(SecretData::read(item, cx)?),
            Tag::SplitKey => Object::SplitKey(SplitKey::read(item, cx)?),
            Tag::SymmetricKey => Object::SymmetricKey(SymmetricKey::read(item, cx)?),
            Tag::Template => Object::Template(Template::read(item, cx)?),
            other => {
                return Err(ModelError::InvalidValue {
                    tag: other,
                    reason: "not a managed object".into(),
                });
            }
        })
    }

    /// Objects are written under their own tag; `tag` is ignored.
    fn write(&self, _: Tag, w: &mut Writer, cx: &Cx) {
        let tag = self.tag();
        match self {
            Object::Certificate(o) => o.write(tag, w, cx),
            Object::CertificateRequest(o) => o.write(tag, w, cx),
            Object::OpaqueObject(o) => o.write(tag, w, cx),
            Object::PGPKey(o) => o.write(tag, w, cx),
            Object::PrivateKey(o) => o.write(tag, w, cx),
            Object::PublicKey(o) => o.write(tag, w, cx),
            Object::SecretData(o) => o.write(tag, w, cx),
            Object::SplitKey(o) => o.write(tag, w, cx),
            Object::SymmetricKey(o) => o.write(tag, w, cx),
            Object::Template(o) => o.write(tag, w, cx),
        }
    }
}
