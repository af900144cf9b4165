//! Master key providers: the root of the key hierarchy.
//!
//! A provider wraps and unwraps store keys with AES key wrap with padding (RFC 5649,
//! NIST SP 800-38F KWP) under a versioned master key. Versions only grow; old versions
//! stay available so that records wrapped before a rotation can still be unwrapped until
//! [`Keyring::rewrap_all`](super::Keyring::rewrap_all) has re-wrapped them.
//!
//! Both providers produce the same RFC 5649 bytes for the same key, so a record's format
//! does not depend on where the master key lives.

pub mod file;
pub mod pkcs11;

use std::fmt;

use aes_kw::{KeyInit, KwpAes256};
use zeroize::Zeroizing;

use super::error::{CryptoError, Result};

/// A key wrapped under one master key version.
#[derive(Clone, PartialEq, Eq)]
pub struct WrappedKey {
    /// The master key version that wrapped `bytes`.
    pub master_version: u32,
    /// RFC 5649 output: 8 bytes of integrity block, then the padded key, encrypted.
    pub bytes: Vec<u8>,
}

impl fmt::Debug for WrappedKey {
    // Wrapped bytes are not secret, but they are noise in logs.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WrappedKey")
            .field("master_version", &self.master_version)
            .field("len", &self.bytes.len())
            .finish()
    }
}

/// The root of the key hierarchy. Implementations are shared between threads.
pub trait MasterKeyProvider: Send + Sync + fmt::Debug {
    /// A one-line description for logs: kind, location, label. Never secret.
    fn describe(&self) -> String;

    /// The version new wraps use.
    fn current_version(&self) -> u32;

    /// Wraps `key` under `version` (the current one when `None`).
    fn wrap(&self, version: Option<u32>, key: &[u8]) -> Result<WrappedKey>;

    /// Unwraps under the version named in `wrapped`.
    fn unwrap(&self, wrapped: &WrappedKey) -> Result<Zeroizing<Vec<u8>>>;

    /// Creates master key version `current_version() + 1`, makes it current, returns it.
    fn rotate(&self) -> Result<u32>;
}

/// RFC 5649 wrap in software, for providers that hold the key bytes.
pub(crate) fn kwp_wrap(kek: &[u8; 32], version: u32, key: &[u8]) -> Result<WrappedKey> {
    let kwp = KwpAes256::new(kek.into());
    let mut out = vec![0u8; key.len().div_ceil(8) * 8 + 8];
    let len = kwp
        .wrap_key(key, &mut out)
        .map_err(|e| CryptoError::WrapFailed {
            version,
            detail: e.to_string(),
        })?
        .len();
    out.truncate(len);
    Ok(WrappedKey {
        master_version: version,
        bytes: out,
    })
}

/// RFC 5649 unwrap in software, for providers that hold the key bytes.
pub(crate) fn kwp_unwrap(kek: &[u8; 32], wrapped: &WrappedKey) -> Result<Zeroizing<Vec<u8>>> {
    let version = wrapped.master_version;
    if wrapped.bytes.len() < 16 || wrapped.bytes.len() % 8 != 0 {
        return Err(CryptoError::UnwrapFailed { version });
    }
    let kwp = KwpAes256::new(kek.into());
    let mut out = Zeroizing::new(vec![0u8; wrapped.bytes.len() - 8]);
    let len = kwp
        .unwrap_key(&wrapped.bytes, &mut out)
        .map_err(|_| CryptoError::UnwrapFailed { version })?
        .len();
    out.truncate(len);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The RFC 5649 examples use a 192-bit KEK and the `aes-kw` crate carries them; here we
    /// check our buffer sizing for lengths around the semiblock size, and the integrity check.
    #[test]
    fn kwp_round_trip_and_integrity() {
        let kek = [7u8; 32];
        for len in [1usize, 7, 8, 9, 32, 64] {
            let key: Vec<u8> = (0..len as u8).collect();
            let w = kwp_wrap(&kek, 3, &key).expect("wrap");
            assert_eq!(w.master_version, 3);
            assert_eq!(w.bytes.len(), len.div_ceil(8) * 8 + 8);
            assert_eq!(&*kwp_unwrap(&kek, &w).expect("unwrap"), &key);
            let mut bad = w.clone();
            bad.bytes[0] ^= 1;
            assert!(matches!(
                kwp_unwrap(&kek, &bad),
                Err(CryptoError::UnwrapFailed { version: 3 })
            ));
        }
        let w = kwp_wrap(&kek, 1, &[1; 32]).expect("wrap");
        assert!(kwp_unwrap(&[8u8; 32], &w).is_err());
    }
}
