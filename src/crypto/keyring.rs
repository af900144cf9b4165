//! Store keys and the sealing of object material.
//!
//! A store key is 32 random bytes from the OS generator. It exists on disk only as a
//! [`WrappedStoreKey`] record (wrapped by the master key); the object store keeps those
//! records and hands them back at start, when [`Keyring::load`] unwraps them into zeroizing
//! memory. Unwrapped store keys are immutable, so caching them on every node is safe.
//!
//! Object material is sealed with AES-256-GCM under the current store key, with a fresh
//! random 96-bit nonce per seal and the object's Unique Identifier in the authenticated
//! data, so a blob copied onto another object fails to open. Random nonces keep the
//! collision risk negligible below 2^32 seals per store key; rotate store keys well before.
//!
//! # Record layouts (all integers big-endian, no trailing bytes accepted)
//!
//! `WrappedStoreKey`, layout 1:
//!
//! | offset | size | field |
//! |---|---|---|
//! | 0 | 1 | layout = 0x01 |
//! | 1 | 4 | store key version (≥ 1) |
//! | 5 | 4 | master key version (≥ 1) |
//! | 9 | rest | RFC 5649 output: 16..=1024 bytes, a multiple of 8 (40 for a 32-byte key) |
//!
//! `SealedMaterial`, layout 1:
//!
//! | offset | size | field |
//! |---|---|---|
//! | 0 | 1 | layout = 0x01 |
//! | 1 | 4 | store key version (≥ 1) |
//! | 5 | 12 | GCM nonce |
//! | 17 | rest | ciphertext followed by the 16-byte GCM tag (rest ≥ 16) |
//!
//! The GCM authenticated data is bytes 0..5 of that layout (layout and store key version)
//! followed by the UTF-8 Unique Identifier: the header is authenticated too, and since
//! the UID is the only variable-length part and comes last, the encoding is unambiguous.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::{RwLock, RwLockReadGuard};

use aes_gcm::aead::{Aead, Payload};
use aes_gcm::{Aes256Gcm, KeyInit, Nonce};
use zeroize::Zeroizing;

use super::error::{CryptoError, Result};
use super::master::{MasterKeyProvider, WrappedKey};
use super::material::{fill_random, random_bytes};

const STORE_KEY_LEN: usize = 32;
const NONCE_LEN: usize = 12;
const TAG_LEN: usize = 16;
const WRAPPED_LAYOUT: u8 = 1;
const SEALED_LAYOUT: u8 = 1;
const MAX_WRAPPED_LEN: usize = 1024;
const SEALED_HEADER_LEN: usize = 1 + 4 + NONCE_LEN;

/// A store key as persisted: wrapped under one master key version.
#[derive(Clone, PartialEq, Eq)]
pub struct WrappedStoreKey {
    /// The store key version (≥ 1).
    pub version: u32,
    /// The master key version that wrapped it.
    pub master_version: u32,
    /// RFC 5649 output.
    pub wrapped: Vec<u8>,
}

impl fmt::Debug for WrappedStoreKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WrappedStoreKey")
            .field("version", &self.version)
            .field("master_version", &self.master_version)
            .field("wrapped_len", &self.wrapped.len())
            .finish()
    }
}

impl WrappedStoreKey {
    /// Layout 1 (see the module doc).
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(9 + self.wrapped.len());
        out.push(WRAPPED_LAYOUT);
        out.extend_from_slice(&self.version.to_be_bytes());
        out.extend_from_slice(&self.master_version.to_be_bytes());
        out.extend_from_slice(&self.wrapped);
        out
    }

    /// Parses layout 1, rejecting unknown layouts, zero versions and wrapped lengths that
    /// RFC 5649 cannot produce.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self> {
        let bad = |detail: String| CryptoError::Malformed {
            what: "wrapped store key record",
            detail,
        };
        let mut r = Reader::new(bytes);
        let layout = r.u8().ok_or_else(|| bad("empty".into()))?;
        if layout != WRAPPED_LAYOUT {
            return Err(bad(format!("unknown layout {layout}")));
        }
        let version = r.u32().ok_or_else(|| bad("truncated header".into()))?;
        let master_version = r.u32().ok_or_else(|| bad("truncated header".into()))?;
        if version == 0 || master_version == 0 {
            return Err(bad("version 0".into()));
        }
        let len = r.remaining();
        if !(16..=MAX_WRAPPED_LEN).contains(&len) || len % 8 != 0 {
            return Err(bad(format!(
                "wrapped key length {len} is not an RFC 5649 length up to {MAX_WRAPPED_LEN}"
            )));
        }
        let wrapped = r.take(len).unwrap_or_default();
        Ok(WrappedStoreKey {
            version,
            master_version,
            wrapped: wrapped.to_vec(),
        })
    }

    fn as_wrapped_key(&self) -> WrappedKey {
        WrappedKey {
            master_version: self.master_version,
            bytes: self.wrapped.clone(),
        }
    }
}

/// Object material encrypted under a store key and bound to its object's UID.
#[derive(Clone, PartialEq, Eq)]
pub struct SealedMaterial {
    /// The store key version that sealed it.
    pub store_key_version: u32,
    /// The GCM nonce, random per seal.
    pub nonce: [u8; NONCE_LEN],
    /// Ciphertext followed by the 16-byte tag.
    pub ciphertext: Vec<u8>,
}

impl fmt::Debug for SealedMaterial {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SealedMaterial")
            .field("store_key_version", &self.store_key_version)
            .field("ciphertext_len", &self.ciphertext.len())
            .finish_non_exhaustive()
    }
}

impl SealedMaterial {
    /// Layout 1 (see the module doc).
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(SEALED_HEADER_LEN + self.ciphertext.len());
        out.push(SEALED_LAYOUT);
        out.extend_from_slice(&self.store_key_version.to_be_bytes());
        out.extend_from_slice(&self.nonce);
        out.extend_from_slice(&self.ciphertext);
        out
    }

    /// Parses layout 1, rejecting unknown layouts, version 0 and a missing tag.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self> {
        let bad = |detail: String| CryptoError::Malformed {
            what: "sealed material",
            detail,
        };
        let mut r = Reader::new(bytes);
        let layout = r.u8().ok_or_else(|| bad("empty".into()))?;
        if layout != SEALED_LAYOUT {
            return Err(bad(format!("unknown layout {layout}")));
        }
        let store_key_version = r.u32().ok_or_else(|| bad("truncated header".into()))?;
        if store_key_version == 0 {
            return Err(bad("store key version 0".into()));
        }
        let nonce = r
            .take(NONCE_LEN)
            .ok_or_else(|| bad("truncated nonce".into()))?;
        let ciphertext = r.take(r.remaining()).unwrap_or_default();
        if ciphertext.len() < TAG_LEN {
            return Err(bad(format!(
                "{} ciphertext bytes, shorter than the {TAG_LEN}-byte tag",
                ciphertext.len()
            )));
        }
        let mut n = [0u8; NONCE_LEN];
        n.copy_from_slice(nonce);
        Ok(SealedMaterial {
            store_key_version,
            nonce: n,
            ciphertext: ciphertext.to_vec(),
        })
    }

    fn aad(store_key_version: u32, uid: &str) -> Vec<u8> {
        let mut aad = Vec::with_capacity(5 + uid.len());
        aad.push(SEALED_LAYOUT);
        aad.extend_from_slice(&store_key_version.to_be_bytes());
        aad.extend_from_slice(uid.as_bytes());
        aad
    }
}

/// A bounded reader over a record: every read checks the remaining length.
struct Reader<'a> {
    rest: &'a [u8],
}

impl<'a> Reader<'a> {
    fn new(rest: &'a [u8]) -> Self {
        Reader { rest }
    }
    fn remaining(&self) -> usize {
        self.rest.len()
    }
    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        if self.rest.len() < n {
            return None;
        }
        let (head, tail) = self.rest.split_at(n);
        self.rest = tail;
        Some(head)
    }
    fn u8(&mut self) -> Option<u8> {
        self.take(1).map(|b| b[0])
    }
    fn u32(&mut self) -> Option<u32> {
        self.take(4)
            .map(|b| u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
    }
}

/// One unwrapped store key and its cipher (both wiped on drop).
struct StoreKey {
    key: Zeroizing<[u8; STORE_KEY_LEN]>,
    cipher: Aes256Gcm,
}

impl StoreKey {
    fn from_bytes(version: u32, bytes: &[u8]) -> Result<Self> {
        if bytes.len() != STORE_KEY_LEN {
            return Err(CryptoError::Malformed {
                what: "wrapped store key record",
                detail: format!(
                    "store key version {version} unwraps to {} bytes, expected {STORE_KEY_LEN}",
                    bytes.len()
                ),
            });
        }
        let mut key = Zeroizing::new([0u8; STORE_KEY_LEN]);
        key.copy_from_slice(bytes);
        let cipher = Aes256Gcm::new((&*key).into());
        Ok(StoreKey { key, cipher })
    }

    fn generate() -> Result<Self> {
        let bytes = random_bytes(STORE_KEY_LEN)?;
        // Version only feeds the error message, which cannot happen for our own length.
        Self::from_bytes(0, &bytes)
    }
}

/// A new store key, wrapped but not yet used: persist [`record`](Self::record), then
/// [`Keyring::activate`] it. Nothing is sealed under a key whose record is not durable.
pub struct StagedStoreKey {
    record: WrappedStoreKey,
    key: StoreKey,
}

impl StagedStoreKey {
    /// The record to persist before activation.
    pub fn record(&self) -> &WrappedStoreKey {
        &self.record
    }
}

impl fmt::Debug for StagedStoreKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StagedStoreKey")
            .field("record", &self.record)
            .finish_non_exhaustive()
    }
}

struct Inner {
    keys: BTreeMap<u32, StoreKey>,
    current: u32,
}

/// The unwrapped store keys, shared by all request threads.
pub struct Keyring {
    inner: RwLock<Inner>,
}

impl fmt::Debug for Keyring {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let inner = self.read();
        f.debug_struct("Keyring")
            .field("current", &inner.current)
            .field("versions", &inner.keys.keys().collect::<Vec<_>>())
            .finish_non_exhaustive()
    }
}

impl Keyring {
    /// First start: generates store key version 1 and wraps it under the provider's current
    /// master key. Persist the returned record before sealing anything.
    pub fn create(provider: &dyn MasterKeyProvider) -> Result<(Self, WrappedStoreKey)> {
        let key = StoreKey::generate()?;
        let wrapped = provider.wrap(None, &key.key[..])?;
        let record = WrappedStoreKey {
            version: 1,
            master_version: wrapped.master_version,
            wrapped: wrapped.bytes,
        };
        let keyring = Keyring {
            inner: RwLock::new(Inner {
                keys: BTreeMap::from([(1, key)]),
                current: 1,
            }),
        };
        Ok((keyring, record))
    }

    /// Later starts: unwraps every persisted record. The highest version is current.
    pub fn load(provider: &dyn MasterKeyProvider, records: &[WrappedStoreKey]) -> Result<Self> {
        let mut keys = BTreeMap::new();
        for record in records {
            if record.version == 0 {
                return Err(CryptoError::Malformed {
                    what: "wrapped store key record",
                    detail: "version 0".into(),
                });
            }
            let bytes = provider.unwrap(&record.as_wrapped_key())?;
            let key = StoreKey::from_bytes(record.version, &bytes)?;
            if keys.insert(record.version, key).is_some() {
                return Err(CryptoError::Malformed {
                    what: "wrapped store key record",
                    detail: format!("store key version {} appears twice", record.version),
                });
            }
        }
        let current = keys
            .keys()
            .next_back()
            .copied()
            .ok_or(CryptoError::Malformed {
                what: "keyring",
                detail: "no store key records".into(),
            })?;
        Ok(Keyring {
            inner: RwLock::new(Inner { keys, current }),
        })
    }

    fn read(&self) -> RwLockReadGuard<'_, Inner> {
        // Writers change the map and `current` only after every fallible step, so a
        // poisoned lock still guards a consistent keyring.
        self.inner.read().unwrap_or_else(|e| e.into_inner())
    }

    /// The store key version new seals use.
    pub fn current_version(&self) -> u32 {
        self.read().current
    }

    /// Every store key version held, ascending.
    pub fn versions(&self) -> Vec<u32> {
        self.read().keys.keys().copied().collect()
    }

    /// Generates the next store key version and wraps it under the provider's current master
    /// key. It is not used until [`activate`](Self::activate).
    pub fn rotate_store_key(&self, provider: &dyn MasterKeyProvider) -> Result<StagedStoreKey> {
        let version = self
            .read()
            .keys
            .keys()
            .next_back()
            .copied()
            .unwrap_or(0)
            .checked_add(1)
            .ok_or(CryptoError::Malformed {
                what: "keyring",
                detail: "store key versions exhausted".into(),
            })?;
        let key = StoreKey::generate()?;
        let wrapped = provider.wrap(None, &key.key[..])?;
        Ok(StagedStoreKey {
            record: WrappedStoreKey {
                version,
                master_version: wrapped.master_version,
                wrapped: wrapped.bytes,
            },
            key,
        })
    }

    /// Makes a staged key current, once its record is durable. Fails if another rotation
    /// got there first (stage again).
    pub fn activate(&self, staged: StagedStoreKey) -> Result<u32> {
        let mut inner = self.inner.write().unwrap_or_else(|e| e.into_inner());
        let version = staged.record.version;
        let highest = inner.keys.keys().next_back().copied().unwrap_or(0);
        if version != highest + 1 {
            return Err(CryptoError::StaleRotation {
                staged: version,
                current: inner.current,
            });
        }
        inner.keys.insert(version, staged.key);
        inner.current = version;
        Ok(version)
    }

    /// Forgets an old store key once no object is sealed under it any more. The current
    /// version cannot be retired.
    pub fn retire(&self, version: u32) -> Result<()> {
        let mut inner = self.inner.write().unwrap_or_else(|e| e.into_inner());
        if version == inner.current {
            return Err(CryptoError::StaleRotation {
                staged: version,
                current: inner.current,
            });
        }
        inner
            .keys
            .remove(&version)
            .map(drop)
            .ok_or(CryptoError::UnknownStoreKeyVersion(version))
    }

    /// Re-wraps every store key under `provider`'s current master key (after a master key
    /// rotation, or to move from one provider to another). Persist all returned records
    /// before retiring the old master key version.
    pub fn rewrap_all(&self, provider: &dyn MasterKeyProvider) -> Result<Vec<WrappedStoreKey>> {
        let inner = self.read();
        let master_version = provider.current_version();
        inner
            .keys
            .iter()
            .map(|(&version, key)| {
                let wrapped = provider.wrap(Some(master_version), &key.key[..])?;
                Ok(WrappedStoreKey {
                    version,
                    master_version: wrapped.master_version,
                    wrapped: wrapped.bytes,
                })
            })
            .collect()
    }

    /// Seals `plaintext` for the object `uid` under the current store key.
    pub fn seal(&self, uid: &str, plaintext: &[u8]) -> Result<SealedMaterial> {
        let inner = self.read();
        let version = inner.current;
        let key = inner
            .keys
            .get(&version)
            .ok_or(CryptoError::UnknownStoreKeyVersion(version))?;
        let mut nonce = [0u8; NONCE_LEN];
        fill_random(&mut nonce)?;
        let aad = SealedMaterial::aad(version, uid);
        let ciphertext = key
            .cipher
            .encrypt(
                &Nonce::from(nonce),
                Payload {
                    msg: plaintext,
                    aad: &aad,
                },
            )
            .map_err(|_| CryptoError::Malformed {
                what: "object material",
                detail: "too long for AES-GCM".into(),
            })?;
        Ok(SealedMaterial {
            store_key_version: version,
            nonce,
            ciphertext,
        })
    }

    /// Opens material sealed for the object `uid`.
    pub fn open(&self, uid: &str, sealed: &SealedMaterial) -> Result<Zeroizing<Vec<u8>>> {
        let inner = self.read();
        let key = inner.keys.get(&sealed.store_key_version).ok_or(
            CryptoError::UnknownStoreKeyVersion(sealed.store_key_version),
        )?;
        let aad = SealedMaterial::aad(sealed.store_key_version, uid);
        key.cipher
            .decrypt(
                &Nonce::from(sealed.nonce),
                Payload {
                    msg: &sealed.ciphertext,
                    aad: &aad,
                },
            )
            .map(Zeroizing::new)
            .map_err(|_| CryptoError::OpenFailed { uid: uid.into() })
    }

    /// Whether `sealed` is under an older store key than the current one.
    pub fn needs_reseal(&self, sealed: &SealedMaterial) -> bool {
        sealed.store_key_version != self.current_version()
    }

    /// Opens `sealed` and seals it again under the current store key (store key rotation).
    pub fn reseal(&self, uid: &str, sealed: &SealedMaterial) -> Result<SealedMaterial> {
        let plaintext = self.open(uid, sealed)?;
        self.seal(uid, &plaintext)
    }
}

#[cfg(test)]
mod tests;
