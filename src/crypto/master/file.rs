//! The development master key provider: AES-256 keys in files in the data directory.
//!
//! # On disk
//!
//! One file per version, `master-key.<version>` (decimal, starting at 1), each exactly
//! 32 raw key bytes, mode 0600. The highest version present is current. A new version is
//! written to `master-key.<version>.tmp` (created 0600 with `O_EXCL`), synced, then
//! hard-linked to its final name, which fails if the name exists, so two rotations cannot
//! overwrite each other and a crash never leaves a truncated key under a final name.
//!
//! A key file that group or others may read is refused, as is anything that is not a
//! regular 32-byte file. This provider keeps the master key next to the data it protects:
//! it is for development and small single-host setups; production uses PKCS#11.

use std::collections::BTreeMap;
use std::fmt;
use std::fs::{self, File, OpenOptions};
use std::io::{Read, Write};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::RwLock;

use zeroize::Zeroizing;

use super::{MasterKeyProvider, WrappedKey, kwp_unwrap, kwp_wrap};
use crate::crypto::error::{CryptoError, Result};
use crate::crypto::material::fill_random;

const PREFIX: &str = "master-key.";
const KEY_LEN: usize = 32;

/// Master keys read from `master-key.<n>` files in one directory.
pub struct FileMasterKey {
    dir: PathBuf,
    keys: RwLock<BTreeMap<u32, Zeroizing<[u8; KEY_LEN]>>>,
}

impl fmt::Debug for FileMasterKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let versions: Vec<u32> = self.read_keys().keys().copied().collect();
        f.debug_struct("FileMasterKey")
            .field("dir", &self.dir)
            .field("versions", &versions)
            .finish_non_exhaustive()
    }
}

impl FileMasterKey {
    /// Loads every `master-key.<n>` in `dir`, creating `master-key.1` (and `dir`, mode 0700)
    /// when there is none. Warns that this provider is meant for development.
    pub fn open_or_create(dir: impl AsRef<Path>) -> Result<Self> {
        let dir = dir.as_ref().to_path_buf();
        if !dir.exists() {
            fs::DirBuilder::new()
                .recursive(true)
                .mode(0o700)
                .create(&dir)
                .map_err(|source| CryptoError::Io {
                    context: format!("creating data directory {}", dir.display()),
                    source,
                })?;
        }
        let mut keys = BTreeMap::new();
        for version in list_versions(&dir)? {
            keys.insert(version, read_key(&key_path(&dir, version))?);
        }
        let created = keys.is_empty();
        if created {
            keys.insert(1, create_key(&dir, 1)?);
        }
        let provider = FileMasterKey {
            dir,
            keys: RwLock::new(keys),
        };
        tracing::warn!(
            provider = %provider.describe(),
            created,
            "the master key is a file next to the data it protects: meant for development; \
             use [master_key.pkcs11] in production"
        );
        Ok(provider)
    }

    /// The directory holding the key files.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The path of the file holding `version`.
    pub fn key_path(&self, version: u32) -> PathBuf {
        key_path(&self.dir, version)
    }

    fn read_keys(&self) -> std::sync::RwLockReadGuard<'_, BTreeMap<u32, Zeroizing<[u8; KEY_LEN]>>> {
        // A panic while holding the lock cannot leave the map half-updated (inserts are
        // single calls), so a poisoned lock is still consistent.
        self.keys.read().unwrap_or_else(|e| e.into_inner())
    }

    fn unknown(&self, version: u32) -> CryptoError {
        CryptoError::UnknownMasterVersion {
            version,
            provider: self.describe(),
        }
    }
}

impl MasterKeyProvider for FileMasterKey {
    fn describe(&self) -> String {
        format!(
            "file master key in {} (version {})",
            self.dir.display(),
            self.current_version()
        )
    }

    fn current_version(&self) -> u32 {
        self.read_keys().keys().next_back().copied().unwrap_or(0)
    }

    fn wrap(&self, version: Option<u32>, key: &[u8]) -> Result<WrappedKey> {
        let keys = self.read_keys();
        let version = version.unwrap_or_else(|| keys.keys().next_back().copied().unwrap_or(0));
        match keys.get(&version) {
            Some(kek) => kwp_wrap(kek, version, key),
            None => {
                // `unknown` calls `describe`, which takes the lock again.
                drop(keys);
                Err(self.unknown(version))
            }
        }
    }

    fn unwrap(&self, wrapped: &WrappedKey) -> Result<Zeroizing<Vec<u8>>> {
        let keys = self.read_keys();
        match keys.get(&wrapped.master_version) {
            Some(kek) => kwp_unwrap(kek, wrapped),
            None => {
                drop(keys);
                Err(self.unknown(wrapped.master_version))
            }
        }
    }

    fn rotate(&self) -> Result<u32> {
        let mut keys = self.keys.write().unwrap_or_else(|e| e.into_inner());
        // Another process may have rotated: take the highest version on disk into account.
        let on_disk = list_versions(&self.dir)?.into_iter().max().unwrap_or(0);
        let in_memory = keys.keys().next_back().copied().unwrap_or(0);
        let next = on_disk.max(in_memory) + 1;
        let key = create_key(&self.dir, next)?;
        keys.insert(next, key);
        Ok(next)
    }
}

fn key_path(dir: &Path, version: u32) -> PathBuf {
    dir.join(format!("{PREFIX}{version}"))
}

fn io_err(context: String) -> impl FnOnce(std::io::Error) -> CryptoError {
    move |source| CryptoError::Io { context, source }
}

/// Versions present as `master-key.<n>`; other names (including `.tmp` leftovers) are ignored.
fn list_versions(dir: &Path) -> Result<Vec<u32>> {
    let mut versions = Vec::new();
    let entries = fs::read_dir(dir).map_err(io_err(format!("listing {}", dir.display())))?;
    for entry in entries {
        let entry = entry.map_err(io_err(format!("listing {}", dir.display())))?;
        let name = entry.file_name();
        let Some(rest) = name.to_str().and_then(|n| n.strip_prefix(PREFIX)) else {
            continue;
        };
        if let Ok(v) = rest.parse::<u32>()
            && v > 0
            && rest == v.to_string()
        {
            versions.push(v);
        }
    }
    versions.sort_unstable();
    Ok(versions)
}

fn read_key(path: &Path) -> Result<Zeroizing<[u8; KEY_LEN]>> {
    let mut file = File::open(path).map_err(io_err(format!("opening {}", path.display())))?;
    let meta = file
        .metadata()
        .map_err(io_err(format!("reading metadata of {}", path.display())))?;
    if !meta.is_file() {
        return Err(CryptoError::BadKeyFile {
            path: path.to_path_buf(),
            detail: "not a regular file".into(),
        });
    }
    let mode = meta.permissions().mode() & 0o7777;
    if mode & 0o077 != 0 {
        return Err(CryptoError::InsecurePermissions {
            path: path.to_path_buf(),
            mode,
        });
    }
    if meta.len() != KEY_LEN as u64 {
        return Err(CryptoError::BadKeyFile {
            path: path.to_path_buf(),
            detail: format!("it has {} bytes", meta.len()),
        });
    }
    let mut key = Zeroizing::new([0u8; KEY_LEN]);
    file.read_exact(&mut key[..])
        .map_err(io_err(format!("reading {}", path.display())))?;
    Ok(key)
}

fn create_key(dir: &Path, version: u32) -> Result<Zeroizing<[u8; KEY_LEN]>> {
    let mut key = Zeroizing::new([0u8; KEY_LEN]);
    fill_random(&mut key[..])?;
    let final_path = key_path(dir, version);
    let tmp_path = dir.join(format!("{PREFIX}{version}.tmp"));
    // A leftover from a crash before the link holds a key nothing was wrapped with.
    match fs::remove_file(&tmp_path) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(io_err(format!("removing {}", tmp_path.display()))(e)),
    }
    let mut file = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&tmp_path)
        .map_err(io_err(format!("creating {}", tmp_path.display())))?;
    file.write_all(&key[..])
        .and_then(|()| file.sync_all())
        .map_err(io_err(format!("writing {}", tmp_path.display())))?;
    drop(file);
    let linked = fs::hard_link(&tmp_path, &final_path);
    let _ = fs::remove_file(&tmp_path);
    linked.map_err(io_err(format!("creating {}", final_path.display())))?;
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(io_err(format!("syncing directory {}", dir.display())))?;
    Ok(key)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_ignore_other_names() {
        let dir = tempfile::tempdir().expect("tempdir");
        for name in [
            "master-key.1",
            "master-key.3",
            "master-key.2.tmp",
            "master-key.01",
            "x",
        ] {
            fs::write(dir.path().join(name), b"").expect("write");
        }
        assert_eq!(list_versions(dir.path()).expect("list"), vec![1, 3]);
    }
}
