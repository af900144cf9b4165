//! [`KeyringSealer`]: the [`MaterialSealer`] of the redb store, over [`crypto::Keyring`].
//!
//! The store key records (`WrappedStoreKey`, wrapped by the master key) live in the
//! `store_keys` table of the same database as the objects they protect, so a backup carries
//! them; without the master key they are useless. On first open a store key is created and
//! its record committed durably before anything is sealed under it.
//!
//! [`crypto::Keyring`]: crate::crypto::Keyring

use std::sync::Arc;

use redb::{Database, ReadableTable};
use zeroize::Zeroizing;

use super::redb::schema::STORE_KEYS;
use super::redb::storage;
use super::{MaterialSealer, StoreError};
use crate::crypto::{Keyring, MasterKeyProvider, SealedMaterial, WrappedStoreKey};

/// Seals object material under the current store key of a [`Keyring`].
#[derive(Debug)]
pub struct KeyringSealer {
    keyring: Arc<Keyring>,
}

fn crypto(e: crate::crypto::CryptoError) -> StoreError {
    StoreError::Sealing(e.to_string())
}

/// Every store key record persisted in `db`, ascending by version.
pub fn read_store_keys(db: &Database) -> Result<Vec<WrappedStoreKey>, StoreError> {
    use redb::ReadableDatabase;
    let txn = db.begin_read().map_err(storage)?;
    let table = txn.open_table(STORE_KEYS).map_err(storage)?;
    let mut out = Vec::new();
    for entry in table.iter().map_err(storage)? {
        let (_, v) = entry.map_err(storage)?;
        out.push(WrappedStoreKey::from_bytes(v.value()).map_err(crypto)?);
    }
    Ok(out)
}

/// Writes store key records durably (insert or replace by version).
pub fn write_store_keys(db: &Database, records: &[WrappedStoreKey]) -> Result<(), StoreError> {
    let mut txn = db.begin_write().map_err(storage)?;
    txn.set_durability(redb::Durability::Immediate)
        .map_err(|e| StoreError::Storage(e.to_string()))?;
    {
        let mut table = txn.open_table(STORE_KEYS).map_err(storage)?;
        for r in records {
            table
                .insert(r.version, r.to_bytes().as_slice())
                .map_err(storage)?;
        }
    }
    txn.commit().map_err(storage)
}

impl KeyringSealer {
    /// Unwraps the store keys persisted in `db` with `provider`; on a new database, creates
    /// store key 1 and persists its record first.
    pub fn load_or_init(
        db: &Database,
        provider: &dyn MasterKeyProvider,
    ) -> Result<Self, StoreError> {
        let records = read_store_keys(db)?;
        let keyring = if records.is_empty() {
            let (keyring, record) = Keyring::create(provider).map_err(crypto)?;
            write_store_keys(db, &[record])?;
            keyring
        } else {
            Keyring::load(provider, &records).map_err(crypto)?
        };
        Ok(KeyringSealer {
            keyring: Arc::new(keyring),
        })
    }

    /// A sealer over an already loaded keyring.
    pub fn new(keyring: Arc<Keyring>) -> Self {
        KeyringSealer { keyring }
    }

    pub fn keyring(&self) -> &Arc<Keyring> {
        &self.keyring
    }

    /// Whether `sealed` is under an older store key than the current one.
    pub fn needs_reseal(&self, sealed: &[u8]) -> Result<bool, StoreError> {
        let s = SealedMaterial::from_bytes(sealed).map_err(crypto)?;
        Ok(self.keyring.needs_reseal(&s))
    }

    /// Opens and seals again under the current store key.
    pub fn reseal(&self, unique_identifier: &str, sealed: &[u8]) -> Result<Vec<u8>, StoreError> {
        let s = SealedMaterial::from_bytes(sealed).map_err(crypto)?;
        self.keyring
            .reseal(unique_identifier, &s)
            .map(|s| s.to_bytes())
            .map_err(crypto)
    }
}

impl MaterialSealer for KeyringSealer {
    fn seal(&self, unique_identifier: &str, plaintext: &[u8]) -> Result<Vec<u8>, StoreError> {
        self.keyring
            .seal(unique_identifier, plaintext)
            .map(|s| s.to_bytes())
            .map_err(crypto)
    }

    fn open(
        &self,
        unique_identifier: &str,
        sealed: &[u8],
    ) -> Result<Zeroizing<Vec<u8>>, StoreError> {
        let s = SealedMaterial::from_bytes(sealed).map_err(crypto)?;
        self.keyring.open(unique_identifier, &s).map_err(crypto)
    }
}
