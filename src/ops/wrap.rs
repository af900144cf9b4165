//! Wrapped keys: keys that leave wrapped (Get) and keys that arrive wrapped (Register).
//!
//! On Get, a Key Wrapping Specification (2.1 §7.18) asks the server to return the object's
//! Key Value encrypted under another key it holds, described by Key Wrapping Data in the
//! returned Key Block (§3.3). What kmipd does:
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
//!
//! The other way, **Register of a wrapped key** (a Key Block with Key Wrapping Data, §6.1.43):
//! kmipd unwraps it with the key named (Unwrap Mode Processed, as Query says), under the same
//! rules turned round (a key that may unwrap: Active, Deactivated or Compromised, not before
//! its Process Start Date, with Unwrap Key in its usage mask), links that key to the new
//! object (Wrapping Key Link) and keeps it unwrapped like any other, its Key Wrapping Data
//! beside it: Get with Key Wrap Type As Registered wraps it again the same way, which gives
//! the registered bytes back (AES key wrap is deterministic).

use zeroize::Zeroizing;

use super::keyuse::{Purpose, UsableKey, usable_key};
use super::{OpCtx, OpError};
use crate::kmip::attributes::{AttributeReference, CryptographicParameters};
use crate::kmip::codec::to_bytes;
use crate::kmip::objects::*;
use crate::kmip::*;
use crate::ttlv::Tag;

/// The Block Cipher Mode used when neither the request nor the wrapping key names one.
const DEFAULT_MODE: BlockCipherMode = BlockCipherMode::NISTKeyWrap;

/// How a Get asks for the key: in the clear, wrapped as its Key Wrapping Specification says,
/// or as it was registered (Key Wrap Type As Registered).
pub(super) enum Wanted<'a> {
    Clear,
    Wrapped(&'a KeyWrappingSpecification),
    AsRegistered,
}

/// Reads a Get request's Key Wrap Type and Key Wrapping Specification. kmipd keeps every key
/// unwrapped (a key registered wrapped is unwrapped at Register, Unwrap Mode Processed), so
/// Not Wrapped, or no Key Wrap Type, means the key in the clear; As Registered means wrapped
/// again as it came if it came wrapped (deterministic: the same bytes), else in the clear.
/// Either beside a Key Wrapping Specification contradicts it.
pub(super) fn requested(
    request: &crate::kmip::payloads::GetRequest,
) -> Result<Wanted<'_>, OpError> {
    match (request.key_wrap_type, &request.key_wrapping_specification) {
        (None, Some(spec)) => Ok(Wanted::Wrapped(spec)),
        (None | Some(KeyWrapType::NotWrapped), None) => Ok(Wanted::Clear),
        (Some(KeyWrapType::AsRegistered), None) => Ok(Wanted::AsRegistered),
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

/// Takes the Key Wrapping Data a stored key came with at Register (kept beside its unwrapped
/// value for As Registered; never sent as such): the specification that wraps it the same way.
pub(super) fn take_registered(object: &mut Object) -> Option<KeyWrappingSpecification> {
    let data = object.key_block_mut()?.key_wrapping_data.take()?;
    Some(KeyWrappingSpecification {
        wrapping_method: data.wrapping_method,
        encryption_key_information: data.encryption_key_information,
        mac_signature_key_information: data.mac_signature_key_information,
        attribute_name: Vec::new(),
        encoding_option: data.encoding_option,
    })
}

/// The Encoding Option a Key Wrapping Specification or Key Wrapping Data gives: TTLV Encoding
/// when none (2.1 §3.3, §7.18).
fn encoding(option: Option<EncodingOption>) -> Result<EncodingOption, OpError> {
    match option {
        None | Some(EncodingOption::TTLVEncoding) => Ok(EncodingOption::TTLVEncoding),
        Some(EncodingOption::NoEncoding) => Ok(EncodingOption::NoEncoding),
        Some(other) => Err(OpError::new(
            ResultReason::EncodingOptionError,
            format!("Encoding Option {other:?} is not supported"),
        )),
    }
}

/// No Encoding carries Key Material bytes; a Transparent format's material is a structure.
fn bytes_only(encoding: EncodingOption, format: KeyFormatType) -> Result<(), OpError> {
    // Every Transparent format (2.1 §2.1.7) is a structure; the others are Byte Strings.
    let structured = format
        .spec_name()
        .is_some_and(|n| n.starts_with("Transparent"));
    if encoding == EncodingOption::NoEncoding && structured {
        return Err(OpError::new(
            ResultReason::EncodingOptionError,
            format!(
                "No Encoding wraps Key Material bytes; {format:?} material is a structure (use \
                 Raw, or TTLV Encoding)"
            ),
        ));
    }
    Ok(())
}

/// Checks the wrapping fields kmipd does not offer: Encrypt only, no MAC/signature key.
fn encrypt_only(
    method: WrappingMethod,
    mac_key: Option<&MACSignatureKeyInformation>,
) -> Result<(), OpError> {
    if method != WrappingMethod::Encrypt {
        return Err(OpError::new(
            ResultReason::FeatureNotSupported,
            format!("Wrapping Method {method:?} is not supported; kmipd wraps with Encrypt"),
        ));
    }
    if mac_key.is_some() {
        return Err(OpError::new(
            ResultReason::FeatureNotSupported,
            "MAC/Signature Key Information is not supported; kmipd wraps with Encrypt only",
        ));
    }
    Ok(())
}

fn key_information(
    info: Option<&EncryptionKeyInformation>,
) -> Result<&EncryptionKeyInformation, OpError> {
    info.ok_or_else(|| {
        OpError::new(
            ResultReason::InvalidField,
            "wrapping needs Encryption Key Information (or MAC/Signature Key Information)",
        )
    })
}

/// 2.1 §6.1.43 Register of a wrapped key, Unwrap Mode Processed: a Key Block that carries Key
/// Wrapping Data is unwrapped with the wrapping key it names (which must be the client's,
/// allowed to unwrap now, with Unwrap Key in its usage mask) and kept unwrapped like any key,
/// so every operation can use it; Get returns it in the clear (if not Sensitive), wrapped as
/// asked, or As Registered wrapped again the same way. Returns the object with its Key Value in
/// the clear, or `None` for an object that came unwrapped. The caller links the wrapping key
/// (Wrapping Key Link, a SHALL of §6.1.43) and keeps the Key Wrapping Data.
pub(super) fn unwrap_registered(
    object: &Object,
    ctx: &mut OpCtx<'_, '_>,
) -> Result<Option<Unwrapped>, OpError> {
    let Some(data) = object.key_block().and_then(|b| b.key_wrapping_data.clone()) else {
        return Ok(None);
    };
    encrypt_only(
        data.wrapping_method,
        data.mac_signature_key_information.as_ref(),
    )?;
    if data.mac_signature.is_some() || data.iv_counter_nonce.is_some() {
        return Err(OpError::new(
            ResultReason::BadCryptographicParameters,
            "AES key wrap takes no IV/Counter/Nonce and no MAC/Signature",
        ));
    }
    let info = key_information(data.encryption_key_information.as_ref())?;
    let encoding = encoding(data.encoding_option)?;
    let mut plain = object.clone();
    let block = plain.key_block_mut().expect("checked above");
    bytes_only(encoding, block.key_format_type)?;
    block.key_wrapping_data = None;
    let wrapped = match block.key_value.take() {
        Some(KeyValue::Wrapped(wrapped)) => wrapped,
        // PyKMIP's layout, read as it means it: with No Encoding, the wrapped bytes as the
        // Key Material of a Key Value structure (2.1 §3.2 wants the Key Value itself to be
        // the Byte String; docs/clients.md).
        Some(KeyValue::Plain {
            key_material: KeyMaterial::Bytes(wrapped),
            attributes,
        }) if encoding == EncodingOption::NoEncoding && attributes.is_empty() => wrapped,
        _ => {
            return Err(OpError::new(
                ResultReason::InvalidField,
                "the Key Block has Key Wrapping Data but no wrapped Key Value (a Byte String)",
            ));
        }
    };
    let key = wrapping_key(&info.unique_identifier, Purpose::Unwrap, ctx)?;
    let parameters = parameters(info.cryptographic_parameters.as_ref(), &key.parameters)?;
    let mode = parameters.block_cipher_mode.unwrap_or(DEFAULT_MODE);
    let clear = aes_unwrap(&key.bytes, mode, wrapped.as_slice())?;
    block.key_value = Some(match encoding {
        EncodingOption::NoEncoding => KeyValue::Plain {
            key_material: KeyMaterial::Bytes(KeyBytes(clear)),
            attributes: Vec::new(),
        },
        _ => {
            use crate::kmip::codec::Ttlv as _;
            let not_a_key_value = || {
                OpError::new(
                    ResultReason::InvalidField,
                    "the unwrapped bytes are not a TTLV-encoded Key Value structure",
                )
            };
            let item = crate::ttlv::decode(&clear).map_err(|_| not_a_key_value())?;
            match (item.tag, KeyValue::read(&item, &ctx.cx)) {
                (Tag::KeyValue, Ok(value @ KeyValue::Plain { .. })) => value,
                _ => return Err(not_a_key_value()),
            }
        }
    });
    let wrapped_by = info.unique_identifier.clone();
    Ok(Some(Unwrapped {
        object: plain,
        data,
        wrapped_by,
    }))
}

/// A registered object, unwrapped.
pub(super) struct Unwrapped {
    /// The object with its Key Value in the clear and no Key Wrapping Data.
    pub object: Object,
    /// How it came wrapped.
    pub data: KeyWrappingData,
    /// The Unique Identifier of the key that wrapped it.
    pub wrapped_by: String,
}

/// Returns `object` (of `uid`, in the format Get chose) with its Key Value wrapped as `spec`
/// asks, and the Key Wrapping Data that says how.
pub(super) fn wrap(
    mut object: Object,
    uid: &str,
    spec: &KeyWrappingSpecification,
    ctx: &mut OpCtx<'_, '_>,
) -> Result<Object, OpError> {
    encrypt_only(
        spec.wrapping_method,
        spec.mac_signature_key_information.as_ref(),
    )?;
    let info = key_information(spec.encryption_key_information.as_ref())?;
    if info.unique_identifier == uid {
        // 2.1 §4.55: a Sensitive key leaves "wrapped by another key".
        return Err(OpError::new(
            ResultReason::InvalidField,
            "a key cannot be wrapped under itself",
        ));
    }
    let encoding = encoding(spec.encoding_option)?;
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
    let object_type = object.object_type();
    let block = object.key_block_mut().ok_or_else(|| {
        OpError::new(
            ResultReason::InvalidObjectType,
            format!("a {object_type:?} has no Key Block to wrap"),
        )
    })?;
    let key = wrapping_key(&info.unique_identifier, Purpose::Wrap, ctx)?;
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
    key.allocate(plaintext.len(), ctx)?;
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

/// The wrapping key, loaded and checked by [`super::keyuse::usable_key`], with the reasons
/// the spec has for a wrapping key: Wrapping Object Not Found, Wrapping Object Destroyed.
fn wrapping_key(
    uid: &str,
    purpose: Purpose,
    ctx: &mut OpCtx<'_, '_>,
) -> Result<UsableKey, OpError> {
    usable_key(uid, purpose, ctx).map_err(|e| match e.reason {
        ResultReason::ObjectNotFound => OpError::new(
            ResultReason::WrappingObjectNotFound,
            format!("no wrapping key {uid}"),
        ),
        ResultReason::ObjectDestroyed => OpError::new(
            ResultReason::WrappingObjectDestroyed,
            format!("wrapping key {uid} has been destroyed"),
        ),
        _ => e,
    })
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
        ..CryptographicParameters::none()
    }
}

/// Runs `$body` with `$k` bound to the AES Key Wrap (RFC 3394) or, if `$padded`, AES Key Wrap
/// with Padding (RFC 5649) instance for `$kek`, whose length picks AES-128, -192 or -256.
macro_rules! with_kek {
    ($kek:expr, $padded:expr, |$k:ident| $body:expr) => {{
        use aes_kw::{KeyInit as _, KwAes128, KwAes192, KwAes256, KwpAes128, KwpAes192, KwpAes256};
        let kek: &[u8] = $kek;
        let bad_kek = || {
            OpError::new(
                ResultReason::BadCryptographicParameters,
                format!("an AES wrapping key of {} bits cannot wrap", kek.len() * 8),
            )
        };
        match (kek.len(), $padded) {
            (16, false) => {
                let $k = KwAes128::new_from_slice(kek).map_err(|_| bad_kek())?;
                $body
            }
            (24, false) => {
                let $k = KwAes192::new_from_slice(kek).map_err(|_| bad_kek())?;
                $body
            }
            (32, false) => {
                let $k = KwAes256::new_from_slice(kek).map_err(|_| bad_kek())?;
                $body
            }
            (16, true) => {
                let $k = KwpAes128::new_from_slice(kek).map_err(|_| bad_kek())?;
                $body
            }
            (24, true) => {
                let $k = KwpAes192::new_from_slice(kek).map_err(|_| bad_kek())?;
                $body
            }
            (32, true) => {
                let $k = KwpAes256::new_from_slice(kek).map_err(|_| bad_kek())?;
                $body
            }
            _ => return Err(bad_kek()),
        }
    }};
}

/// AES Key Wrap (RFC 3394) or AES Key Wrap with Padding (RFC 5649) of `plaintext` under `kek`.
pub(crate) fn aes_wrap(
    kek: &[u8],
    mode: BlockCipherMode,
    plaintext: &[u8],
) -> Result<Vec<u8>, OpError> {
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
    let n = with_kek!(kek, padded, |k| k
        .wrap_key(plaintext, &mut out)
        .map_err(|_| OpError::new(ResultReason::CryptographicFailure, "key wrap failed"))?
        .len());
    out.truncate(n);
    Ok(out)
}

/// The inverse of [`aes_wrap`]: Cryptographic Failure if `wrapped` does not unwrap under `kek`
/// (its integrity check fails: another key, or damaged bytes).
pub(crate) fn aes_unwrap(
    kek: &[u8],
    mode: BlockCipherMode,
    wrapped: &[u8],
) -> Result<Zeroizing<Vec<u8>>, OpError> {
    let padded = mode == BlockCipherMode::AESKeyWrapPadding;
    let failed = || {
        OpError::new(
            ResultReason::CryptographicFailure,
            "the wrapped key does not unwrap under the wrapping key (another key, another \
             mode, or damaged bytes)",
        )
    };
    if wrapped.len() < 16 || wrapped.len() % 8 != 0 {
        return Err(failed());
    }
    let mut out = Zeroizing::new(vec![0u8; wrapped.len() - 8]);
    let n = with_kek!(kek, padded, |k| k
        .unwrap_key(wrapped, &mut out)
        .map_err(|_| failed())?
        .len());
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
