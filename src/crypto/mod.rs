//! Key custody: the key hierarchy that keeps managed key material encrypted at rest.
//!
//! # The hierarchy
//!
//! ```text
//! master key      (PKCS#11 token, non-extractable; or a 0600 key file for development)
//!   │  AES key wrap with padding (RFC 5649), per master key version
//!   ▼
//! store keys      (random AES-256, versioned; persisted only as `WrappedStoreKey` records,
//!   │              unwrapped once at start into zeroizing memory: the `Keyring`)
//!   │  AES-256-GCM, random 96-bit nonce, AAD binds the object's Unique Identifier
//!   ▼
//! object material (persisted only as `SealedMaterial`)
//! ```
//!
//! Rotating the master key re-wraps the store keys ([`Keyring::rewrap_all`]); rotating a
//! store key ([`Keyring::rotate_store_key`] then [`Keyring::activate`]) lets the object
//! store re-seal objects online ([`Keyring::reseal`]).
//!
//! # Invariants
//!
//! - Key bytes are never on disk in clear, except the development master key file, which
//!   is refused unless it is readable by its owner only.
//! - Key bytes live in `Zeroizing` buffers; no `Debug`, `Display` or log line prints them
//!   (`describe()` and error messages name files, tokens and labels, never bytes).
//! - Sealed material is bound to its object: the Unique Identifier is authenticated data,
//!   so a blob copied to another object fails to open.
//! - Every wire/record parser checks lengths and rejects trailing bytes.
//!
//! # Imports
//!
//! This module is synchronous and storage-agnostic: it must not import tokio, rustls or
//! redb, nor any KMIP wire type. The object store persists the byte records defined here.
//!
//! # Layout
//! - [`master`]: the [`MasterKeyProvider`] trait and its providers (file, PKCS#11).
//! - [`keyring`]: versioned store keys and sealing of object material.
//! - [`material`]: [`KeyMaterial`] and the CSPRNG.
//! - [`error`]: the one error type, [`CryptoError`].

pub mod error;
pub mod keyring;
pub mod master;
pub mod material;

pub use error::CryptoError;
pub use keyring::{Keyring, SealedMaterial, StagedStoreKey, WrappedStoreKey};
pub use master::file::FileMasterKey;
pub use master::pkcs11::{PinSource, Pkcs11Config, Pkcs11MasterKey, TokenSelector};
pub use master::{MasterKeyProvider, WrappedKey};
pub use material::{KeyMaterial, fill_random, random_bytes};
