//! Secret byte containers and the CSPRNG.
//!
//! All key generation in kmipd draws from the operating system's generator
//! (`getrandom`, via `rand::rngs::SysRng`): no user-space generator state to fork,
//! snapshot or seed badly.

use std::fmt;

use rand::TryRng;
use rand::rngs::SysRng;
use zeroize::Zeroizing;

use super::error::{CryptoError, Result};

/// Secret key bytes, wiped on drop, never printed.
///
/// `Debug` shows the length only, so a `{:?}` of any structure holding key material is safe
/// to log. No `PartialEq`: comparing secrets should be a deliberate, constant-time act.
#[derive(Clone)]
pub struct KeyMaterial(Zeroizing<Vec<u8>>);

impl KeyMaterial {
    /// Takes ownership of bytes already in a zeroizing buffer.
    pub fn new(bytes: Zeroizing<Vec<u8>>) -> Self {
        KeyMaterial(bytes)
    }

    /// Copies `bytes` into a new zeroizing buffer (the caller wipes its own copy).
    pub fn from_slice(bytes: &[u8]) -> Self {
        KeyMaterial(Zeroizing::new(bytes.to_vec()))
    }

    /// `len` fresh random bytes from the OS generator.
    pub fn generate(len: usize) -> Result<Self> {
        random_bytes(len).map(KeyMaterial)
    }

    /// The secret bytes.
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }

    /// The number of bytes.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether there are no bytes.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Gives back the zeroizing buffer.
    pub fn into_zeroizing(self) -> Zeroizing<Vec<u8>> {
        self.0
    }
}

impl fmt::Debug for KeyMaterial {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "KeyMaterial({} bytes, redacted)", self.0.len())
    }
}

impl From<Zeroizing<Vec<u8>>> for KeyMaterial {
    fn from(bytes: Zeroizing<Vec<u8>>) -> Self {
        KeyMaterial(bytes)
    }
}

/// `len` random bytes from the OS generator, in a zeroizing buffer.
pub fn random_bytes(len: usize) -> Result<Zeroizing<Vec<u8>>> {
    let mut out = Zeroizing::new(vec![0u8; len]);
    fill_random(&mut out)?;
    Ok(out)
}

/// Fills `buf` from the OS generator.
pub fn fill_random(buf: &mut [u8]) -> Result<()> {
    SysRng
        .try_fill_bytes(buf)
        .map_err(|e| CryptoError::Rng(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_is_redacted() {
        let k = KeyMaterial::from_slice(&[0xAB; 16]);
        let shown = format!("{k:?}");
        assert_eq!(shown, "KeyMaterial(16 bytes, redacted)");
        assert!(!shown.to_lowercase().contains("ab"));
    }

    #[test]
    fn random_bytes_differ() {
        let a = random_bytes(32).expect("rng");
        let b = random_bytes(32).expect("rng");
        assert_eq!(a.len(), 32);
        assert_ne!(*a, *b);
    }
}
