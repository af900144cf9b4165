//! Encrypt and Decrypt (2.1 §6.1.17, §6.1.11; KMIP 1.2 and later): data encrypted or
//! decrypted by the server with an AES key it holds, so the key never leaves it.
//!
//! What kmipd does:
//! - **AES** keys (128, 192, 256 bits) that the purpose may use now (`keyuse`: Encrypt needs
//!   an Active key with Encrypt in its usage mask, Decrypt an Active, Deactivated or
//!   Compromised one with Decrypt).
//! - Block Cipher Modes **CBC** and **ECB**, with Padding Method **PKCS5** (PKCS#7 padding to
//!   the 16-byte block) or none (the data a whole number of blocks), and **GCM** with a 96-bit
//!   IV (the length SP 800-38D §8.2 recommends; others are refused) and a tag of 12 to 16
//!   bytes (Tag Length, 16 by default), with Authenticated Encryption Additional Data. Other
//!   modes: Bad Cryptographic Parameters.
//! - The Cryptographic Parameters are the request's when they name a Block Cipher Mode, else
//!   the key's Cryptographic Parameters attribute (its first instance) with the request's
//!   fields over it; with neither naming a mode, the operation fails (§6.1.17: "SHALL return
//!   with a Result Status of Operation Failed").
//! - The IV/Counter/Nonce: the request's, or with Random IV True a fresh one from the
//!   operating system's generator, returned in the response (§6.1.17); CBC and GCM without
//!   either: Invalid Message (as the OASIS test cases expect).
//! - Single-part only: a request with Init Indicator True, Final Indicator False or a
//!   Correlation Value (multi-part, streaming) gets Feature Not Supported, as Query's Streaming
//!   Capability False says.
//! - A key with Usage Limits pays for each Encrypt from its count (`keyuse`): the bytes
//!   encrypted, or one use; the count left is stored before the answer.
//! - A decryption that fails its check (a GCM tag, a PKCS5 padding) is Cryptographic Failure;
//!   nothing of the plaintext is returned.
//!
//! The plaintext travels in `KeyBytes` (zeroized when dropped, never printed by `Debug`).

use aes_gcm::aead::consts::{U12, U13, U14, U15, U16};
use aes_gcm::aead::{Aead, Payload};
use aes_gcm::aes::{Aes128, Aes192, Aes256};
use aes_gcm::{AesGcm, KeyInit};
use cbc::cipher::block_padding::{NoPadding, Pkcs7};
use cbc::cipher::{BlockModeDecrypt, BlockModeEncrypt, KeyIvInit};
use zeroize::Zeroizing;

use super::keyuse::{Purpose, UsableKey, usable_key};
use super::{OpCtx, OpError};
use crate::kmip::attributes::CryptographicParameters;
use crate::kmip::codec::ByteString;
use crate::kmip::payloads::{DecryptRequest, DecryptResponse, EncryptRequest, EncryptResponse};
use crate::kmip::*;

/// The AES block, and the CBC IV.
const BLOCK: usize = 16;
/// The GCM IV kmipd takes (SP 800-38D §8.2: 96 bits).
const GCM_IV: usize = 12;

/// A cipher as the parameters choose it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Method {
    Ecb { pkcs5: bool },
    Cbc { pkcs5: bool },
    Gcm { tag: usize },
}

impl Method {
    /// The IV length the method takes, if it takes one.
    fn iv_len(self) -> Option<usize> {
        match self {
            Method::Ecb { .. } => None,
            Method::Cbc { .. } => Some(BLOCK),
            Method::Gcm { .. } => Some(GCM_IV),
        }
    }

    fn of(p: &CryptographicParameters) -> Result<Method, OpError> {
        let bad = |why: String| OpError::new(ResultReason::BadCryptographicParameters, why);
        if p.cryptographic_algorithm
            .is_some_and(|a| a != CryptographicAlgorithm::AES)
        {
            return Err(bad(format!(
                "Cryptographic Algorithm {:?} in the parameters; the key is AES",
                p.cryptographic_algorithm
            )));
        }
        let pkcs5 = match p.padding_method {
            None | Some(PaddingMethod::None) => false,
            Some(PaddingMethod::PKCS5) => true,
            Some(other) => {
                return Err(bad(format!(
                    "Padding Method {other:?}; kmipd pads with PKCS5 or not at all"
                )));
            }
        };
        match p.block_cipher_mode {
            Some(BlockCipherMode::ECB) => Ok(Method::Ecb { pkcs5 }),
            Some(BlockCipherMode::CBC) => Ok(Method::Cbc { pkcs5 }),
            Some(BlockCipherMode::GCM) => {
                if pkcs5 {
                    return Err(bad("GCM takes no padding".into()));
                }
                // The OASIS test cases answer a Tag Length out of range with General
                // Failure; Bad Cryptographic Parameters is the reason the spec lists for it.
                match p.tag_length.unwrap_or(16) {
                    t @ 12..=16 => Ok(Method::Gcm { tag: t as usize }),
                    t => Err(bad(format!(
                        "a GCM Tag Length of {t} bytes; 12 to 16 are allowed"
                    ))),
                }
            }
            None => Err(bad(
                "no Block Cipher Mode: name one in the request, or give the key a \
                 Cryptographic Parameters attribute"
                    .into(),
            )),
            Some(other) => Err(bad(format!(
                "Block Cipher Mode {other:?}; kmipd encrypts with CBC, ECB or GCM"
            ))),
        }
    }
}

/// The Cryptographic Parameters to use: the request's, if they name a Block Cipher Mode (a
/// whole choice: nothing of the key's other mode carries over), else the request's fields
/// over the key's (its first instance; a request asking only for Random IV, say).
fn merged(
    asked: Option<&CryptographicParameters>,
    of_key: &[CryptographicParameters],
) -> CryptographicParameters {
    let base = of_key.first().cloned();
    let Some(a) = asked else {
        return base.unwrap_or_else(CryptographicParameters::none);
    };
    let Some(b) = base.filter(|_| a.block_cipher_mode.is_none()) else {
        return a.clone();
    };
    CryptographicParameters {
        block_cipher_mode: a.block_cipher_mode.or(b.block_cipher_mode),
        padding_method: a.padding_method.or(b.padding_method),
        hashing_algorithm: a.hashing_algorithm.or(b.hashing_algorithm),
        key_role_type: a.key_role_type.or(b.key_role_type),
        digital_signature_algorithm: a
            .digital_signature_algorithm
            .or(b.digital_signature_algorithm),
        cryptographic_algorithm: a.cryptographic_algorithm.or(b.cryptographic_algorithm),
        random_iv: a.random_iv.or(b.random_iv),
        iv_length: a.iv_length.or(b.iv_length),
        tag_length: a.tag_length.or(b.tag_length),
        fixed_field_length: a.fixed_field_length.or(b.fixed_field_length),
        invocation_field_length: a.invocation_field_length.or(b.invocation_field_length),
        counter_length: a.counter_length.or(b.counter_length),
        initial_counter_value: a.initial_counter_value.or(b.initial_counter_value),
        salt_length: a.salt_length.or(b.salt_length),
        mask_generator: a.mask_generator.or(b.mask_generator),
        mask_generator_hashing_algorithm: a
            .mask_generator_hashing_algorithm
            .or(b.mask_generator_hashing_algorithm),
        p_source: a.p_source.clone().or(b.p_source),
        trailer_field: a.trailer_field.or(b.trailer_field),
    }
}

/// Refuses multi-part (streaming) requests.
fn single_part(
    init: Option<bool>,
    last: Option<bool>,
    correlation: Option<&ByteString>,
) -> Result<(), OpError> {
    if init == Some(true) || last == Some(false) || correlation.is_some() {
        return Err(OpError::new(
            ResultReason::FeatureNotSupported,
            "multi-part (streaming) cryptographic operations are not supported (Query: \
             Streaming Capability False); send the data in one request",
        ));
    }
    Ok(())
}

/// A mode that needs an IV, and neither an IV nor Random IV: Invalid Message, the reason the
/// OASIS test cases expect in every version (CS-BC-M-11 to 13; 2.x also has Missing
/// Initialization Vector, and lists both for Decrypt).
fn missing_iv() -> OpError {
    OpError::new(
        ResultReason::InvalidMessage,
        "this Block Cipher Mode needs an IV/Counter/Nonce: send one, or ask for Random IV",
    )
}

/// Checks an IV's length for `method` (ECB takes none).
fn check_iv(method: Method, iv: &[u8]) -> Result<(), OpError> {
    match method.iv_len() {
        None => Err(OpError::new(
            ResultReason::BadCryptographicParameters,
            "ECB takes no IV/Counter/Nonce",
        )),
        Some(n) if iv.len() != n => Err(OpError::new(
            ResultReason::BadCryptographicParameters,
            format!(
                "an IV/Counter/Nonce of {} bytes; {method:?} takes {n}",
                iv.len()
            ),
        )),
        Some(_) => Ok(()),
    }
}

/// What Encrypt and Decrypt share: the key (the ID Placeholder when none is named), checked
/// for the purpose, the parameters and the cipher they choose.
struct Prepared {
    uid: String,
    key: UsableKey,
    parameters: CryptographicParameters,
    method: Method,
}

/// The common start of Encrypt and Decrypt: a single-part request with Data, its key, its
/// cipher.
fn prepare(
    purpose: Purpose,
    uid: &Option<String>,
    asked: Option<&CryptographicParameters>,
    stream: (Option<bool>, Option<bool>, Option<&ByteString>),
    has_data: bool,
    ctx: &mut OpCtx<'_, '_>,
) -> Result<Prepared, OpError> {
    single_part(stream.0, stream.1, stream.2)?;
    let uid = ctx.uid(uid)?;
    if !has_data {
        return Err(OpError::new(
            ResultReason::InvalidField,
            format!("{purpose:?} needs Data"),
        ));
    }
    let key = usable_key(&uid, purpose, ctx)?;
    let parameters = merged(asked, &key.parameters);
    let method = Method::of(&parameters)?;
    Ok(Prepared {
        uid,
        key,
        parameters,
        method,
    })
}

/// 2.1 §6.1.17 Encrypt.
pub fn encrypt(
    request: &EncryptRequest,
    ctx: &mut OpCtx<'_, '_>,
) -> Result<EncryptResponse, OpError> {
    let Prepared {
        uid,
        key,
        parameters,
        method,
    } = prepare(
        Purpose::Encrypt,
        &request.unique_identifier,
        request.cryptographic_parameters.as_ref(),
        (
            request.init_indicator,
            request.final_indicator,
            request.correlation_value.as_ref(),
        ),
        request.data.is_some(),
        ctx,
    )?;
    let data = request.data.as_ref().map_or(&[][..], KeyBytes::as_slice);
    let (iv, generated) = match (&request.iv_counter_nonce, parameters.random_iv) {
        (Some(_), Some(true)) => {
            return Err(OpError::new(
                ResultReason::InvalidField,
                "Random IV True asks the server for the IV, and the request gives one",
            ));
        }
        (Some(iv), _) => (iv.0.clone(), false),
        (None, Some(true)) => match method.iv_len() {
            Some(n) => (
                crate::crypto::random_bytes(n)
                    .map_err(|_| OpError::new(ResultReason::CryptographicFailure, "no randomness"))?
                    .to_vec(),
                true,
            ),
            None => (Vec::new(), false),
        },
        (None, _) if method.iv_len().is_some() => return Err(missing_iv()),
        (None, _) => (Vec::new(), false),
    };
    if method.iv_len().is_some() || !iv.is_empty() {
        check_iv(method, &iv)?;
    }
    let aad = request
        .authenticated_encryption_additional_data
        .as_ref()
        .map(|a| a.0.as_slice());
    let (out, tag) = seal(&key.bytes, method, &iv, data, aad)?;
    key.allocate(data.len(), ctx)?;
    Ok(EncryptResponse {
        unique_identifier: uid,
        data: Some(ByteString(out)),
        iv_counter_nonce: generated.then_some(ByteString(iv)),
        correlation_value: None,
        authenticated_encryption_tag: tag.map(ByteString),
    })
}

/// 2.1 §6.1.11 Decrypt.
pub fn decrypt(
    request: &DecryptRequest,
    ctx: &mut OpCtx<'_, '_>,
) -> Result<DecryptResponse, OpError> {
    let Prepared {
        uid, key, method, ..
    } = prepare(
        Purpose::Decrypt,
        &request.unique_identifier,
        request.cryptographic_parameters.as_ref(),
        (
            request.init_indicator,
            request.final_indicator,
            request.correlation_value.as_ref(),
        ),
        request.data.is_some(),
        ctx,
    )?;
    let data = request.data.as_ref().map_or(&[][..], |d| d.0.as_slice());
    let iv = match (&request.iv_counter_nonce, method.iv_len()) {
        (Some(iv), _) => {
            check_iv(method, &iv.0)?;
            iv.0.as_slice()
        }
        (None, Some(_)) => return Err(missing_iv()),
        (None, None) => &[],
    };
    let aad = request
        .authenticated_encryption_additional_data
        .as_ref()
        .map(|a| a.0.as_slice());
    let tag = request
        .authenticated_encryption_tag
        .as_ref()
        .map(|t| t.0.as_slice());
    let clear = open(&key.bytes, method, iv, data, aad, tag)?;
    Ok(DecryptResponse {
        unique_identifier: uid,
        data: Some(KeyBytes(clear)),
        correlation_value: None,
    })
}

/// Runs `$body` with `$C` the AES of `$key`'s length.
macro_rules! with_aes {
    ($key:expr, |$C:ident| $body:expr) => {{
        let key: &[u8] = $key;
        match key.len() {
            16 => {
                type $C = Aes128;
                $body
            }
            24 => {
                type $C = Aes192;
                $body
            }
            32 => {
                type $C = Aes256;
                $body
            }
            n => {
                return Err(OpError::new(
                    ResultReason::CryptographicFailure,
                    format!("an AES key of {} bits", n * 8),
                ));
            }
        }
    }};
}

/// Runs `$body` with `$T` the typenum of GCM tag length `$tag` (12 to 16, checked before).
macro_rules! with_tag {
    ($tag:expr, |$T:ident| $body:expr) => {{
        match $tag {
            12 => {
                type $T = U12;
                $body
            }
            13 => {
                type $T = U13;
                $body
            }
            14 => {
                type $T = U14;
                $body
            }
            15 => {
                type $T = U15;
                $body
            }
            _ => {
                type $T = U16;
                $body
            }
        }
    }};
}

fn unaligned(len: usize) -> OpError {
    OpError::new(
        ResultReason::BadCryptographicParameters,
        format!("{len} bytes without padding: the data must be a whole number of 16-byte blocks"),
    )
}

fn init_failed() -> OpError {
    OpError::new(ResultReason::CryptographicFailure, "cipher set-up failed")
}

/// Encrypts `data`: the ciphertext, and for GCM the tag apart.
fn seal(
    key: &[u8],
    method: Method,
    iv: &[u8],
    data: &[u8],
    aad: Option<&[u8]>,
) -> Result<(Vec<u8>, Option<Vec<u8>>), OpError> {
    if aad.is_some() && !matches!(method, Method::Gcm { .. }) {
        return Err(OpError::new(
            ResultReason::InvalidField,
            "Authenticated Encryption Additional Data is for GCM",
        ));
    }
    let pkcs5 = match method {
        Method::Ecb { pkcs5 } | Method::Cbc { pkcs5 } => pkcs5,
        Method::Gcm { .. } => false,
    };
    if !pkcs5 && !matches!(method, Method::Gcm { .. }) && data.len() % BLOCK != 0 {
        return Err(unaligned(data.len()));
    }
    Ok(match method {
        Method::Ecb { pkcs5 } => with_aes!(key, |C| {
            let e = ecb::Encryptor::<C>::new_from_slice(key).map_err(|_| init_failed())?;
            let out = if pkcs5 {
                e.encrypt_padded_vec::<Pkcs7>(data)
            } else {
                e.encrypt_padded_vec::<NoPadding>(data)
            };
            (out, None)
        }),
        Method::Cbc { pkcs5 } => with_aes!(key, |C| {
            let e = cbc::Encryptor::<C>::new_from_slices(key, iv).map_err(|_| init_failed())?;
            let out = if pkcs5 {
                e.encrypt_padded_vec::<Pkcs7>(data)
            } else {
                e.encrypt_padded_vec::<NoPadding>(data)
            };
            (out, None)
        }),
        Method::Gcm { tag } => with_aes!(key, |C| with_tag!(tag, |T| {
            let gcm = AesGcm::<C, U12, T>::new_from_slice(key).map_err(|_| init_failed())?;
            let nonce = iv.try_into().map_err(|_| init_failed())?;
            let mut out = gcm
                .encrypt(
                    nonce,
                    Payload {
                        msg: data,
                        aad: aad.unwrap_or_default(),
                    },
                )
                .map_err(|_| {
                    OpError::new(ResultReason::CryptographicFailure, "GCM encryption failed")
                })?;
            let tag = out.split_off(out.len() - tag);
            (out, Some(tag))
        })),
    })
}

/// Decrypts `data`, checking the GCM tag or the PKCS5 padding.
fn open(
    key: &[u8],
    method: Method,
    iv: &[u8],
    data: &[u8],
    aad: Option<&[u8]>,
    tag: Option<&[u8]>,
) -> Result<Zeroizing<Vec<u8>>, OpError> {
    let failed = || {
        OpError::new(
            ResultReason::CryptographicFailure,
            "the data does not decrypt under this key with these parameters",
        )
    };
    if !matches!(method, Method::Gcm { .. }) {
        if aad.is_some() || tag.is_some() {
            return Err(OpError::new(
                ResultReason::InvalidField,
                "Authenticated Encryption Additional Data and Tag are for GCM",
            ));
        }
        if data.len() % BLOCK != 0 {
            return Err(failed());
        }
    }
    let clear = match method {
        Method::Ecb { pkcs5 } => with_aes!(key, |C| {
            let d = ecb::Decryptor::<C>::new_from_slice(key).map_err(|_| init_failed())?;
            if pkcs5 {
                d.decrypt_padded_vec::<Pkcs7>(data)
            } else {
                d.decrypt_padded_vec::<NoPadding>(data)
            }
            .map_err(|_| failed())?
        }),
        Method::Cbc { pkcs5 } => with_aes!(key, |C| {
            let d = cbc::Decryptor::<C>::new_from_slices(key, iv).map_err(|_| init_failed())?;
            if pkcs5 {
                d.decrypt_padded_vec::<Pkcs7>(data)
            } else {
                d.decrypt_padded_vec::<NoPadding>(data)
            }
            .map_err(|_| failed())?
        }),
        Method::Gcm { tag: tag_len } => {
            let tag = tag.ok_or_else(|| {
                OpError::new(
                    ResultReason::InvalidField,
                    "GCM decryption needs the Authenticated Encryption Tag",
                )
            })?;
            if tag.len() != tag_len {
                return Err(OpError::new(
                    ResultReason::BadCryptographicParameters,
                    format!(
                        "an Authenticated Encryption Tag of {} bytes, where Tag Length is {tag_len}",
                        tag.len()
                    ),
                ));
            }
            let mut sealed = Vec::with_capacity(data.len() + tag.len());
            sealed.extend_from_slice(data);
            sealed.extend_from_slice(tag);
            with_aes!(key, |C| with_tag!(tag_len, |T| {
                let gcm = AesGcm::<C, U12, T>::new_from_slice(key).map_err(|_| init_failed())?;
                let nonce = iv.try_into().map_err(|_| init_failed())?;
                gcm.decrypt(
                    nonce,
                    Payload {
                        msg: &sealed,
                        aad: aad.unwrap_or_default(),
                    },
                )
                .map_err(|_| failed())?
            }))
        }
    };
    Ok(Zeroizing::new(clear))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hex(s: &str) -> Vec<u8> {
        ::hex::decode(s).expect("hex")
    }

    /// SP 800-38A F.1.5 (ECB-AES256) and F.2.5 (CBC-AES256), first two blocks; the GCM test
    /// case 2 of the original GCM paper (AES-128, zero key, zero IV, one zero block), the one
    /// the OASIS test case CS-BC-M-GCM-1 uses; PKCS5 adds a whole block to aligned data.
    #[test]
    fn ciphers_give_the_published_answers() {
        let key = hex("603deb1015ca71be2b73aef0857d77811f352c073b6108d72d9810a30914dff4");
        let plain = hex("6bc1bee22e409f96e93d7e117393172aae2d8a571e03ac9c9eb76fac45af8e51");
        let (ecb, _) = seal(&key, Method::Ecb { pkcs5: false }, &[], &plain, None).unwrap();
        assert_eq!(
            ecb,
            hex("f3eed1bdb5d2a03c064b5a7e3db181f8591ccb10d410ed26dc5ba74a31362870")
        );
        let iv = hex("000102030405060708090a0b0c0d0e0f");
        let (cbc, _) = seal(&key, Method::Cbc { pkcs5: false }, &iv, &plain, None).unwrap();
        assert_eq!(
            cbc,
            hex("f58c4c04d6e5f1ba779eabfb5f7bfbd69cfc4e967edb808d679f777bc6702c7d")
        );
        let (padded, _) = seal(&key, Method::Cbc { pkcs5: true }, &iv, &plain, None).unwrap();
        assert_eq!(padded.len(), 48);
        assert_eq!(&padded[..32], cbc.as_slice());
        let clear = open(&key, Method::Cbc { pkcs5: true }, &iv, &padded, None, None).unwrap();
        assert_eq!(*clear, plain);

        let (ct, tag) = seal(&[0; 16], Method::Gcm { tag: 16 }, &[0; 12], &[0; 16], None).unwrap();
        assert_eq!(ct, hex("0388dace60b6a392f328c2b971b2fe78"));
        assert_eq!(tag.unwrap(), hex("ab6e47d42cec13bdf53a67b21257bddf"));
    }

    #[test]
    fn decryption_checks_fail_as_cryptographic_failures() {
        let key = [7u8; 32];
        let iv = [1u8; 12];
        let (ct, tag) = seal(&key, Method::Gcm { tag: 16 }, &iv, b"secret", Some(b"hdr")).unwrap();
        let tag = tag.unwrap();
        let gcm = Method::Gcm { tag: 16 };
        assert_eq!(
            *open(&key, gcm, &iv, &ct, Some(b"hdr"), Some(&tag)).unwrap(),
            b"secret"
        );
        let mut bad_tag = tag.clone();
        bad_tag[0] ^= 1;
        for (aad, t) in [
            (Some(&b"hdr"[..]), &bad_tag),
            (Some(&b"HDR"[..]), &tag),
            (None, &tag),
        ] {
            assert_eq!(
                open(&key, gcm, &iv, &ct, aad, Some(t)).unwrap_err().reason,
                ResultReason::CryptographicFailure
            );
        }
        // A shortened tag under Tag Length 16; a tag of 12 bytes made and checked.
        assert_eq!(
            open(&key, gcm, &iv, &ct, Some(b"hdr"), Some(&tag[..12]))
                .unwrap_err()
                .reason,
            ResultReason::BadCryptographicParameters
        );
        let (ct12, tag12) = seal(&key, Method::Gcm { tag: 12 }, &iv, b"x", None).unwrap();
        assert_eq!(tag12.as_ref().unwrap().len(), 12);
        assert_eq!(
            *open(
                &key,
                Method::Gcm { tag: 12 },
                &iv,
                &ct12,
                None,
                tag12.as_deref()
            )
            .unwrap(),
            b"x"
        );
        // A PKCS5 padding that is not one.
        let cbc = Method::Cbc { pkcs5: true };
        let (mut ct, _) = seal(&key, cbc, &[0; 16], b"0123456789", None).unwrap();
        let last = ct.len() - 1;
        ct[last] ^= 0x55;
        assert_eq!(
            open(&key, cbc, &[0; 16], &ct, None, None)
                .unwrap_err()
                .reason,
            ResultReason::CryptographicFailure
        );
        // Unpadded data that is not whole blocks.
        assert_eq!(
            seal(&key, Method::Ecb { pkcs5: false }, &[], &[0; 15], None)
                .unwrap_err()
                .reason,
            ResultReason::BadCryptographicParameters
        );
    }

    #[test]
    fn parameters_come_from_the_key_with_the_request_over_them() {
        let key_params = CryptographicParameters {
            padding_method: Some(PaddingMethod::PKCS5),
            block_cipher_mode: Some(BlockCipherMode::CBC),
            ..CryptographicParameters::none()
        };
        let asked = CryptographicParameters {
            random_iv: Some(true),
            ..CryptographicParameters::none()
        };
        let m = merged(Some(&asked), std::slice::from_ref(&key_params));
        assert_eq!(m.block_cipher_mode, Some(BlockCipherMode::CBC));
        assert_eq!(m.padding_method, Some(PaddingMethod::PKCS5));
        assert_eq!(m.random_iv, Some(true));
        assert_eq!(Method::of(&m).unwrap(), Method::Cbc { pkcs5: true });
        assert_eq!(
            Method::of(&merged(None, &[])).unwrap_err().reason,
            ResultReason::BadCryptographicParameters
        );
        for (mode, tag) in [
            (BlockCipherMode::CTR, None),
            (BlockCipherMode::GCM, Some(11)),
        ] {
            let p = CryptographicParameters {
                tag_length: tag,
                block_cipher_mode: Some(mode),
                ..CryptographicParameters::none()
            };
            assert_eq!(
                Method::of(&p).unwrap_err().reason,
                ResultReason::BadCryptographicParameters,
                "{mode:?} {tag:?}"
            );
        }
    }
}
