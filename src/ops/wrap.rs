//! Key wrapping on Get: a Key Wrapping Specification (2.1 §7.18) asks the server to return the
//! object's Key Value encrypted under another key it holds, described by Key Wrapping Data in
//! the returned Key Block (§3.3).
//!
//! What kmipd does:
//! - Wrapping Method **Encrypt** with an **AES** key: Block Cipher Mode **NIST Key Wrap**
//!   (AES Key Wrap, RFC 3394 / SP 800-38F KW) or **AES Key Wrap Padding** (RFC 5649 / KWP),
//!   NIST Key Wrap when neither the request nor the wrapping key's Cryptographic Parameters
//!   name one. MAC/sign methods and other modes: Feature Not Supported / Bad Cryptographic
//!   Parameters.
//! - **Encoding Option**: TTLV Encoding (the default, §3.3: "If not present, the wrapped Key
//!   Value structure SHALL be TTLV encoded") wraps the TTLV of the whole Key Value structure,
//!   with the attributes the specification names inside it; No Encoding wraps the Key
//!   Material's bytes alone, and refuses attribute names or structured (Transparent) material
//!   with Encoding Option Error (1.4 §11.1: "Encoding Option not permitted when Key Wrapping
//!   Specification contains attribute names").
//! - The wrapping key must be the client's to use (the one access rule), exist (Wrapping
//!   Object Not Found), hold key material (Wrapping Object Destroyed), be **Active** (2.1 §4.57:
//!   a Deactivated or Compromised object "SHALL NOT be used for applying cryptographic
//!   protection (e.g., ... wrapping ...)"; Wrong Key Lifecycle State), not be past its Protect
//!   Stop Date (§4.44), and have **Wrap Key** in its Cryptographic Usage Mask (Incompatible
//!   Cryptographic Usage Mask).
//! - Cryptographic Parameters in the request "SHALL" match one instance of the wrapping key's
//!   Cryptographic Parameters attribute (§7.18): every field the request gives must equal that
//!   instance's, whose other fields then apply. A wrapping key without the attribute accepts
//!   the request's parameters, where the spec wants an error: PyKMIP's client cannot give a key
//!   that attribute at Create, and its server requires the request to name the mode, so
//!   keeping the letter would leave PyKMIP users no way to wrap (docs/clients.md).
//!
//! The object being returned keeps its other checks (Get's): a non-Extractable object is never
//! returned, wrapped or not; a Sensitive one only wrapped (§4.55).

use zeroize::Zeroizing;

use super::{OpCtx, OpError};
use crate::kmip::attributes::{Attribute, AttributeReference, CryptographicParameters};
use crate::kmip::codec::to_bytes;
use crate::kmip::objects::*;
use crate::kmip::*;
use crate::ttlv::Tag;

/// The Block Cipher Mode used when neither the request nor the wrapping key names one.
const DEFAULT_MODE: BlockCipherMode = BlockCipherMode::NISTKeyWrap;

/// Checks a Get request's Key Wrap Type against its Key Wrapping Specification and returns the
/// specification, if the key is to be wrapped. kmipd keeps every object unwrapped (Register
/// of a wrapped key is refused), so Not Wrapped and As Registered both mean the plain key;
/// either beside a Key Wrapping Specification contradicts it.
pub(super) fn requested(
    request: &crate::kmip::payloads::GetRequest,
) -> Result<Option<&KeyWrappingSpecification>, OpError> {
    match (request.key_wrap_type, &request.key_wrapping_specification) {
        (None, spec) => Ok(spec.as_ref()),
        (Some(KeyWrapType::NotWrapped | KeyWrapType::AsRegistered), None) => Ok(None),
        (Some(t @ (KeyWrapType::NotWrapped | KeyWrapType::AsRegistered)), Some(_)) => {
            Err(OpError::new(
                ResultReason::InvalidField,
                format!("Key Wrap Type {t:?} contradicts the Key Wrapping Specification"),
            ))
        }
        (Some(t), _) => Err(OpError::new(
            ResultReason::KeyWrapTypeNotSupported,
            format!("Key Wrap Type {t:?} is not supported"),
        )),
    }
}

/// The wrapping key as the wrap needs it.
struct WrappingKey {
    bytes: Zeroizing<Vec<u8>>,
    /// Its Cryptographic Parameters attribute instances.
    parameters: Vec<CryptographicParameters>,
}

/// Returns `object` (of `uid`, in the format Get chose) with its Key Value wrapped as `spec`
/// asks, and the Key Wrapping Data that says how.
pub(super) fn wrap(
    mut object: Object,
    uid: &str,
    spec: &KeyWrappingSpecification,
    ctx: &mut OpCtx<'_, '_>,
) -> Result<Object, OpError> {
    if spec.wrapping_method != WrappingMethod::Encrypt {
        return Err(OpError::new(
            ResultReason::FeatureNotSupported,
            format!(
                "Wrapping Method {:?} is not supported; kmipd wraps with Encrypt",
                spec.wrapping_method
            ),
        ));
    }
    if spec.mac_signature_key_information.is_some() {
        return Err(OpError::new(
            ResultReason::FeatureNotSupported,
            "MAC/Signature Key Information is not supported; kmipd wraps with Encrypt only",
        ));
    }
    let info = spec.encryption_key_information.as_ref().ok_or_else(|| {
        OpError::new(
            ResultReason::InvalidField,
            "a Key Wrapping Specification needs Encryption Key Information (or MAC/Signature \
             Key Information)",
        )
    })?;
    let encoding = match spec.encoding_option {
        None | Some(EncodingOption::TTLVEncoding) => EncodingOption::TTLVEncoding,
        Some(EncodingOption::NoEncoding) => EncodingOption::NoEncoding,
        Some(other) => {
            return Err(OpError::new(
                ResultReason::EncodingOptionError,
                format!("Encoding Option {other:?} is not supported"),
            ));
        }
    };
    // The attributes to wrap with the key material, before the wrapping key is touched.
    let attributes = if spec.attribute_name.is_empty() {
        Vec::new()
    } else {
        if encoding == EncodingOption::NoEncoding {
            return Err(OpError::new(
                ResultReason::EncodingOptionError,
                "No Encoding wraps the key material alone: it cannot carry the attributes named",
            ));
        }
        let full = ctx.object(uid, Operation::Get)?;
        let wanted: Vec<AttributeReference> = spec
            .attribute_name
            .iter()
            .map(|n| AttributeReference::from_v1_name(n))
            .collect();
        super::attributes::named(super::attributes::visible(&full), &wanted)
    };
    let block = match &mut object {
        Object::SymmetricKey(k) => &mut k.key_block,
        Object::SecretData(s) => &mut s.key_block,
        other => {
            return Err(OpError::new(
                ResultReason::InvalidObjectType,
                format!("a {:?} has no Key Block to wrap", other.object_type()),
            ));
        }
    };
    let key = wrapping_key(&info.unique_identifier, ctx)?;
    let parameters = parameters(info.cryptographic_parameters.as_ref(), &key.parameters)?;
    let mode = parameters.block_cipher_mode.unwrap_or(DEFAULT_MODE);
    let Some(KeyValue::Plain { key_material, .. }) = block.key_value.take() else {
        return Err(OpError::new(
            ResultReason::KeyValueNotPresent,
            "the object has no key value to wrap",
        ));
    };
    let plaintext = match (encoding, &key_material) {
        (EncodingOption::NoEncoding, KeyMaterial::Bytes(b)) => Zeroizing::new(b.0.to_vec()),
        (EncodingOption::NoEncoding, KeyMaterial::Transparent(_)) => {
            return Err(OpError::new(
                ResultReason::EncodingOptionError,
                "No Encoding wraps Key Material bytes; a Transparent key is a structure (ask \
                 for Raw, or TTLV Encoding)",
            ));
        }
        _ => {
            let value = KeyValue::Plain {
                key_material,
                attributes,
            };
            Zeroizing::new(to_bytes(&value, Tag::KeyValue, &ctx.cx))
        }
    };
    let wrapped = aes_wrap(&key.bytes, mode, &plaintext)?;
    block.key_value = Some(KeyValue::Wrapped(KeyBytes(Zeroizing::new(wrapped))));
    block.key_wrapping_data = Some(KeyWrappingData {
        wrapping_method: WrappingMethod::Encrypt,
        encryption_key_information: Some(EncryptionKeyInformation {
            unique_identifier: info.unique_identifier.clone(),
            // What the client asked for, as the OASIS test cases answer; when it asked for
            // nothing, the mode used, so the receiver need not guess.
            cryptographic_parameters: Some(
                info.cryptographic_parameters
                    .clone()
                    .unwrap_or_else(|| mode_only(mode)),
            ),
        }),
        mac_signature_key_information: None,
        mac_signature: None,
        iv_counter_nonce: None,
        encoding_option: spec.encoding_option,
    });
    Ok(object)
}

/// Loads the wrapping key and checks it may wrap now.
fn wrapping_key(uid: &str, ctx: &mut OpCtx<'_, '_>) -> Result<WrappingKey, OpError> {
    let managed = ctx
        .object(uid, Operation::Get)
        .map_err(|e| match e.reason {
            ResultReason::ObjectNotFound => OpError::new(
                ResultReason::WrappingObjectNotFound,
                format!("no wrapping key {uid}"),
            ),
            _ => e,
        })?;
    let Some(object) = &managed.object else {
        return Err(OpError::new(
            ResultReason::WrappingObjectDestroyed,
            format!("wrapping key {uid} has been destroyed"),
        ));
    };
    let state = managed.state();
    if state != State::Active {
        return Err(OpError::new(
            ResultReason::WrongKeyLifecycleState,
            format!("wrapping key {uid} is {state:?}: only an Active key may wrap"),
        ));
    }
    let protect_stop = managed.attributes.iter().find_map(|a| match a {
        Attribute::ProtectStopDate(d) => Some(d.0),
        _ => None,
    });
    if protect_stop.is_some_and(|stop| ctx.now > stop) {
        return Err(OpError::new(
            ResultReason::WrongKeyLifecycleState,
            format!("wrapping key {uid} is past its Protect Stop Date"),
        ));
    }
    let Object::SymmetricKey(k) = object else {
        return Err(OpError::new(
            ResultReason::InvalidObjectType,
            format!(
                "wrapping key {uid} is a {:?}; kmipd wraps with symmetric keys",
                managed.object_type
            ),
        ));
    };
    if k.key_block.cryptographic_algorithm != Some(CryptographicAlgorithm::AES) {
        return Err(OpError::new(
            ResultReason::FeatureNotSupported,
            format!("wrapping key {uid} is not an AES key; kmipd wraps with AES"),
        ));
    }
    let mask = managed.attributes.iter().find_map(|a| match a {
        Attribute::CryptographicUsageMask(m) => Some(*m),
        _ => None,
    });
    if !mask.is_some_and(|m| m.contains(CryptographicUsageMask::WrapKey)) {
        return Err(OpError::new(
            ResultReason::IncompatibleCryptographicUsageMask,
            format!("wrapping key {uid} does not have Wrap Key in its Cryptographic Usage Mask"),
        ));
    }
    let bytes = match &k.key_block.key_value {
        Some(KeyValue::Plain { key_material, .. }) => match key_material {
            KeyMaterial::Bytes(b) => Some(b),
            KeyMaterial::Transparent(t) => t.key.as_ref(),
        },
        _ => None,
    }
    .map(|b| b.0.clone())
    .ok_or_else(|| {
        OpError::new(
            ResultReason::KeyValueNotPresent,
            format!("wrapping key {uid} has no key value"),
        )
    })?;
    let parameters = managed
        .attributes
        .iter()
        .filter_map(|a| match a {
            Attribute::CryptographicParameters(p) => Some(p.clone()),
            _ => None,
        })
        .collect();
    Ok(WrappingKey { bytes, parameters })
}

/// The Cryptographic Parameters the wrap uses: the request's, which must agree with one
/// instance of the key's attribute in every field they give (that instance fills the rest), or
/// the key's first instance, or none; then checked to be a wrap kmipd does.
fn parameters(
    asked: Option<&CryptographicParameters>,
    of_key: &[CryptographicParameters],
) -> Result<CryptographicParameters, OpError> {
    let chosen = match (asked, of_key.first()) {
        (None, first) => first.cloned().unwrap_or_else(|| mode_only(DEFAULT_MODE)),
        (Some(asked), None) => asked.clone(),
        (Some(asked), Some(_)) => of_key
            .iter()
            .find(|p| agrees(asked, p))
            .cloned()
            .ok_or_else(|| {
                OpError::new(
                    ResultReason::BadCryptographicParameters,
                    "the Cryptographic Parameters asked for match none of the wrapping key's",
                )
            })?,
    };
    match chosen.block_cipher_mode {
        None | Some(BlockCipherMode::NISTKeyWrap | BlockCipherMode::AESKeyWrapPadding) => {}
        Some(other) => {
            return Err(OpError::new(
                ResultReason::BadCryptographicParameters,
                format!(
                    "Block Cipher Mode {other:?} is not a key wrap kmipd does (NIST Key Wrap, \
                     AES Key Wrap Padding)"
                ),
            ));
        }
    }
    if chosen
        .cryptographic_algorithm
        .is_some_and(|a| a != CryptographicAlgorithm::AES)
    {
        return Err(OpError::new(
            ResultReason::BadCryptographicParameters,
            "kmipd wraps with AES",
        ));
    }
    Ok(chosen)
}

/// Every field `asked` gives equals `instance`'s.
fn agrees(asked: &CryptographicParameters, instance: &CryptographicParameters) -> bool {
    fn same<T: PartialEq>(a: &Option<T>, b: &Option<T>) -> bool {
        a.is_none() || a == b
    }
    let (a, b) = (asked, instance);
    same(&a.block_cipher_mode, &b.block_cipher_mode)
        && same(&a.padding_method, &b.padding_method)
        && same(&a.hashing_algorithm, &b.hashing_algorithm)
        && same(&a.key_role_type, &b.key_role_type)
        && same(
            &a.digital_signature_algorithm,
            &b.digital_signature_algorithm,
        )
        && same(&a.cryptographic_algorithm, &b.cryptographic_algorithm)
        && same(&a.random_iv, &b.random_iv)
        && same(&a.iv_length, &b.iv_length)
        && same(&a.tag_length, &b.tag_length)
        && same(&a.fixed_field_length, &b.fixed_field_length)
        && same(&a.invocation_field_length, &b.invocation_field_length)
        && same(&a.counter_length, &b.counter_length)
        && same(&a.initial_counter_value, &b.initial_counter_value)
        && same(&a.salt_length, &b.salt_length)
        && same(&a.mask_generator, &b.mask_generator)
        && same(
            &a.mask_generator_hashing_algorithm,
            &b.mask_generator_hashing_algorithm,
        )
        && same(&a.p_source, &b.p_source)
        && same(&a.trailer_field, &b.trailer_field)
}

pub(super) fn mode_only(mode: BlockCipherMode) -> CryptographicParameters {
    CryptographicParameters {
        block_cipher_mode: Some(mode),
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

/// AES Key Wrap (RFC 3394) or AES Key Wrap with Padding (RFC 5649) of `plaintext` under `kek`.
pub(crate) fn aes_wrap(
    kek: &[u8],
    mode: BlockCipherMode,
    plaintext: &[u8],
) -> Result<Vec<u8>, OpError> {
    use aes_kw::{KeyInit, KwAes128, KwAes192, KwAes256, KwpAes128, KwpAes192, KwpAes256};
    let padded = mode == BlockCipherMode::AESKeyWrapPadding;
    if !padded && (plaintext.len() < 16 || plaintext.len() % 8 != 0) {
        return Err(OpError::new(
            ResultReason::BadCryptographicParameters,
            format!(
                "NIST Key Wrap takes a multiple of 8 bytes, at least 16, not {}; AES Key Wrap \
                 Padding takes any length",
                plaintext.len()
            ),
        ));
    }
    // RFC 3394 adds 8 bytes; RFC 5649 pads to a multiple of 8 and adds 8.
    let mut out = vec![0u8; plaintext.len().div_ceil(8) * 8 + 8];
    let bad_kek = || {
        OpError::new(
            ResultReason::BadCryptographicParameters,
            format!("an AES wrapping key of {} bits cannot wrap", kek.len() * 8),
        )
    };
    let failed = |_| OpError::new(ResultReason::CryptographicFailure, "key wrap failed");
    let n = match (kek.len(), padded) {
        (16, false) => KwAes128::new_from_slice(kek)
            .map_err(|_| bad_kek())?
            .wrap_key(plaintext, &mut out)
            .map_err(failed)?
            .len(),
        (24, false) => KwAes192::new_from_slice(kek)
            .map_err(|_| bad_kek())?
            .wrap_key(plaintext, &mut out)
            .map_err(failed)?
            .len(),
        (32, false) => KwAes256::new_from_slice(kek)
            .map_err(|_| bad_kek())?
            .wrap_key(plaintext, &mut out)
            .map_err(failed)?
            .len(),
        (16, true) => KwpAes128::new_from_slice(kek)
            .map_err(|_| bad_kek())?
            .wrap_key(plaintext, &mut out)
            .map_err(failed)?
            .len(),
        (24, true) => KwpAes192::new_from_slice(kek)
            .map_err(|_| bad_kek())?
            .wrap_key(plaintext, &mut out)
            .map_err(failed)?
            .len(),
        (32, true) => KwpAes256::new_from_slice(kek)
            .map_err(|_| bad_kek())?
            .wrap_key(plaintext, &mut out)
            .map_err(failed)?
            .len(),
        _ => return Err(bad_kek()),
    };
    out.truncate(n);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hex(s: &str) -> Vec<u8> {
        ::hex::decode(s).expect("hex")
    }

    /// RFC 3394 §4.6 (256-bit KEK, 256-bit key data) and RFC 5649 §6 (192-bit KEK, 20 and 7
    /// octets): the wraps are the published ones.
    #[test]
    fn wraps_are_the_published_test_vectors() {
        let kek = hex("000102030405060708090A0B0C0D0E0F101112131415161718191A1B1C1D1E1F");
        let key = hex("00112233445566778899AABBCCDDEEFF000102030405060708090A0B0C0D0E0F");
        assert_eq!(
            aes_wrap(&kek, BlockCipherMode::NISTKeyWrap, &key).unwrap(),
            hex("28C9F404C4B810F4CBCCB35CFB87F8263F5786E2D80ED326CBC7F0E71A99F43BFB988B9B7A02DD21")
        );
        let kek = hex("5840df6e29b02af1ab493b705bf16ea1ae8338f4dcc176a8");
        assert_eq!(
            aes_wrap(
                &kek,
                BlockCipherMode::AESKeyWrapPadding,
                &hex("c37b7e6492584340bed12207808941155068f738")
            )
            .unwrap(),
            hex("138bdeaa9b8fa7fc61f97742e72248ee5ae6ae5360d1ae6a5f54f373fa543b6a")
        );
        assert_eq!(
            aes_wrap(
                &kek,
                BlockCipherMode::AESKeyWrapPadding,
                &hex("466f7250617369")
            )
            .unwrap(),
            hex("afbeb0f07dfbf5419200f2ccb50bb24f")
        );
    }

    #[test]
    fn nist_key_wrap_refuses_what_it_cannot_wrap() {
        let kek = [7u8; 16];
        for len in [0, 8, 20] {
            let e = aes_wrap(&kek, BlockCipherMode::NISTKeyWrap, &vec![1; len]).unwrap_err();
            assert_eq!(e.reason, ResultReason::BadCryptographicParameters, "{len}");
        }
        let e = aes_wrap(&[7u8; 20], BlockCipherMode::NISTKeyWrap, &[1; 16]).unwrap_err();
        assert_eq!(e.reason, ResultReason::BadCryptographicParameters);
    }

    #[test]
    fn parameters_asked_for_must_agree_with_one_of_the_key() {
        let kw = mode_only(BlockCipherMode::NISTKeyWrap);
        let kwp = mode_only(BlockCipherMode::AESKeyWrapPadding);
        // The request's, the key having none.
        assert_eq!(parameters(Some(&kwp), &[]).unwrap(), kwp);
        // The key's, the request giving none; none at all is the default.
        assert_eq!(parameters(None, std::slice::from_ref(&kwp)).unwrap(), kwp);
        assert_eq!(parameters(None, &[]).unwrap(), kw);
        // One of several instances.
        assert_eq!(
            parameters(Some(&kwp), &[kw.clone(), kwp.clone()]).unwrap(),
            kwp
        );
        // A field the key's instance lacks, or a different value: no match.
        let with_algorithm = CryptographicParameters {
            cryptographic_algorithm: Some(CryptographicAlgorithm::AES),
            ..kw.clone()
        };
        assert_eq!(
            parameters(Some(&with_algorithm), std::slice::from_ref(&kw))
                .unwrap_err()
                .reason,
            ResultReason::BadCryptographicParameters
        );
        assert_eq!(
            parameters(Some(&kwp), std::slice::from_ref(&kw))
                .unwrap_err()
                .reason,
            ResultReason::BadCryptographicParameters
        );
        // A request giving fewer fields takes the instance's others.
        assert_eq!(
            parameters(Some(&kw), std::slice::from_ref(&with_algorithm)).unwrap(),
            with_algorithm
        );
        // A mode that is not a key wrap.
        let gcm = mode_only(BlockCipherMode::GCM);
        assert_eq!(
            parameters(Some(&gcm), &[]).unwrap_err().reason,
            ResultReason::BadCryptographicParameters
        );
    }
}
