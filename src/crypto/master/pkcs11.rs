//! The production master key provider: an AES-256 key inside a PKCS#11 token.
//!
//! # Keys in the token
//!
//! Master key version `n` is the token object labelled `<key_label>-v<n>` (e.g.
//! `kmipd-master-v1`): class `CKO_SECRET_KEY`, type `CKK_AES`, 32 bytes, created by
//! [`Pkcs11MasterKey::init`] (`kmipd init --hsm`) or [`rotate`](MasterKeyProvider::rotate)
//! with `CKA_TOKEN`, `CKA_PRIVATE`, `CKA_SENSITIVE`, `CKA_WRAP`, `CKA_UNWRAP` true and
//! `CKA_EXTRACTABLE`, `CKA_ENCRYPT`, `CKA_DECRYPT` false. The highest version is current.
//! Starting never creates keys: a missing key is an error that says to run `init`.
//!
//! # Wrapping: what the token supports, and what we use
//!
//! SoftHSM2 2.6 accepts `CKM_AES_KEY_WRAP_PAD` (RFC 5649) in `C_WrapKey` and
//! `C_UnwrapKey`; `C_EncryptInit` returns `CKR_MECHANISM_INVALID` for it (decrypt was
//! not probed) (`tests/crypto_pkcs11.rs`, `softhsm_kwp_mechanism_support`, prints what the
//! module says; `token_kwp_matches_aes_kw` checks the bytes equal `aes-kw`'s). So:
//!
//! - wrap: import the store key as a short-lived *session* object (`CKK_GENERIC_SECRET`,
//!   extractable, not sensitive), `C_WrapKey` it under the master key, destroy it;
//! - unwrap: `C_UnwrapKey` into a session object with the same attributes, read its
//!   `CKA_VALUE` into zeroizing memory, destroy it.
//!
//! The store key bytes must be in our memory anyway (they seal every object), so the
//! session object exposes nothing new; the master key itself never leaves the token. The
//! output is plain RFC 5649, byte-compatible with the file provider's.
//!
//! # Threads and sessions
//!
//! A `cryptoki` session may not be shared between threads, so the provider keeps a pool
//! of logged-in read/write sessions behind a mutex: a call takes one out (or opens one),
//! uses it, and puts it back. Login is per application and token in PKCS#11, so every
//! pooled session is logged in once the first one is; a session found logged out (token
//! reset) is logged in again with the PIN, which is kept in a zeroizing secret.
//!
//! SoftHSM2 rescans its token directory in `C_GetSlotList`, and that rescan races with
//! object writes in other sessions of the process: under parallel tests a token briefly
//! vanished from the slot list and live sessions became `CKR_SESSION_HANDLE_INVALID`. The
//! slot inventory is taken only while connecting, so connecting holds a process-wide
//! write lock (`INVENTORY`) and every other token call holds it for reading: uncontended
//! after start, and harmless for modules without the race.
//!
//! # Key lengths
//!
//! SoftHSM2 2.6 unwraps a `CKM_AES_KEY_WRAP_PAD` blob into a `CKK_GENERIC_SECRET` whose
//! value keeps the RFC 5649 padding (a 1-byte key comes back as 8 bytes). Store keys are
//! 32 bytes, so this provider accepts only keys whose length is a multiple of 8, where
//! there is no padding to lose, and refuses the rest when wrapping.

use std::collections::BTreeMap;
use std::fmt;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Mutex, MutexGuard, RwLock, RwLockReadGuard};

use cryptoki::context::{CInitializeArgs, CInitializeFlags, Pkcs11};
use cryptoki::error::{Error as CkError, RvError};
use cryptoki::mechanism::Mechanism;
use cryptoki::object::{Attribute, AttributeType, KeyType, ObjectClass, ObjectHandle};
use cryptoki::session::{Session, SessionState, UserType};
use cryptoki::slot::Slot;
use cryptoki::types::AuthPin;
use zeroize::Zeroizing;

use super::{MasterKeyProvider, WrappedKey};
use crate::crypto::error::{CryptoError, Result};

/// Connecting (slot inventory) excludes every other token call in the process; see the
/// module doc.
static INVENTORY: RwLock<()> = RwLock::new(());

fn token_call() -> RwLockReadGuard<'static, ()> {
    INVENTORY.read().unwrap_or_else(|e| e.into_inner())
}

/// Which token holds the master key.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TokenSelector {
    /// The token with this label (`CK_TOKEN_INFO.label`, trailing spaces ignored).
    Label(String),
    /// The token in this slot id.
    Slot(u64),
}

/// Where the user PIN comes from. The PIN is never in the configuration file itself.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PinSource {
    /// An environment variable name, e.g. `KMIPD_HSM_PIN`.
    Env(String),
    /// A file whose content (one trailing newline ignored) is the PIN.
    File(PathBuf),
}

impl fmt::Display for PinSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PinSource::Env(name) => write!(f, "${name}"),
            PinSource::File(path) => write!(f, "file {}", path.display()),
        }
    }
}

impl PinSource {
    fn read(&self) -> Result<AuthPin> {
        let err = |detail: String| CryptoError::Pkcs11Pin {
            source_name: self.to_string(),
            detail,
        };
        let mut pin = Zeroizing::new(match self {
            PinSource::Env(name) => {
                std::env::var(name).map_err(|e| err(format!("environment variable {name}: {e}")))?
            }
            PinSource::File(path) => {
                std::fs::read_to_string(path).map_err(|e| err(e.to_string()))?
            }
        });
        if pin.ends_with('\n') {
            pin.pop();
            if pin.ends_with('\r') {
                pin.pop();
            }
        }
        if pin.is_empty() {
            return Err(err("the PIN is empty".into()));
        }
        Ok(AuthPin::new(pin.as_str().into()))
    }
}

/// `[master_key.pkcs11]` settings.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Pkcs11Config {
    /// Path of the PKCS#11 module (`.so`).
    pub module: PathBuf,
    /// The token to use.
    pub token: TokenSelector,
    /// Where the user PIN comes from.
    pub pin: PinSource,
    /// Label prefix of the master key objects; version `n` is `<key_label>-v<n>`.
    pub key_label: String,
}

impl Pkcs11Config {
    /// The token object label of master key `version`.
    pub fn versioned_label(&self, version: u32) -> String {
        format!("{}-v{version}", self.key_label)
    }

    fn parse_label(&self, label: &str) -> Option<u32> {
        let rest = label.strip_prefix(&self.key_label)?.strip_prefix("-v")?;
        let v: u32 = rest.parse().ok()?;
        (v > 0 && rest == v.to_string()).then_some(v)
    }
}

/// A master key held by a PKCS#11 token.
pub struct Pkcs11MasterKey {
    config: Pkcs11Config,
    ctx: Pkcs11,
    slot: Slot,
    token_label: String,
    pin: AuthPin,
    sessions: Mutex<Vec<Session>>,
    handles: Mutex<BTreeMap<u32, ObjectHandle>>,
    current: AtomicU32,
}

impl fmt::Debug for Pkcs11MasterKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Pkcs11MasterKey")
            .field("module", &self.config.module)
            .field("token", &self.token_label)
            .field("slot", &self.slot.id())
            .field("key_label", &self.config.key_label)
            .field("current", &self.current_version())
            .finish_non_exhaustive()
    }
}

impl Drop for Pkcs11MasterKey {
    fn drop(&mut self) {
        // Closing sessions is a token call like any other.
        let _call = token_call();
        lock(&self.sessions).clear();
    }
}

impl Pkcs11MasterKey {
    /// Connects to the token and finds the master keys. Fails, naming what to fix, when
    /// the module, the token, the PIN or the key is wrong or missing.
    pub fn open(config: Pkcs11Config) -> Result<Self> {
        let provider = Self::connect(config)?;
        let versions = provider.scan()?;
        let Some((&current, _)) = versions.iter().next_back() else {
            return Err(provider.key_not_found(1));
        };
        provider.current.store(current, Ordering::Release);
        *lock(&provider.handles) = versions;
        Ok(provider)
    }

    /// Creates master key version 1 in the token (`kmipd init --hsm`). Refuses when any
    /// version already exists, so an existing hierarchy is never orphaned.
    pub fn init(config: Pkcs11Config) -> Result<Self> {
        let provider = Self::connect(config)?;
        let versions = provider.scan()?;
        if let Some((&v, _)) = versions.iter().next_back() {
            return Err(CryptoError::Pkcs11KeyExists {
                label: provider.config.versioned_label(v),
                token: provider.token_label.clone(),
            });
        }
        let handle = provider.generate(1)?;
        lock(&provider.handles).insert(1, handle);
        provider.current.store(1, Ordering::Release);
        tracing::info!(provider = %provider.describe(), "created master key version 1");
        Ok(provider)
    }

    /// The token's label.
    pub fn token_label(&self) -> &str {
        &self.token_label
    }

    /// The token object handle of master key `version`, for inspection (tests, `kmipd
    /// status`); the key's value cannot be read through it.
    pub fn key_handle(&self, version: u32) -> Result<ObjectHandle> {
        self.handle(version)
    }

    /// Runs `f` with a pooled session (for inspection: attribute reads).
    pub fn with_session<T>(&self, f: impl FnOnce(&Session) -> Result<T>) -> Result<T> {
        let session = self.take_session()?;
        let out = {
            let _call = token_call();
            f(&session)
        };
        lock(&self.sessions).push(session);
        out
    }

    fn connect(config: Pkcs11Config) -> Result<Self> {
        if !config.module.is_file() {
            return Err(CryptoError::Pkcs11ModuleNotFound {
                path: config.module.clone(),
            });
        }
        let load_err = |e: CkError| CryptoError::Pkcs11ModuleLoad {
            path: config.module.clone(),
            detail: ck_detail(&e),
        };
        let inventory = INVENTORY.write().unwrap_or_else(|e| e.into_inner());
        let ctx = Pkcs11::new(&config.module).map_err(load_err)?;
        match ctx.initialize(CInitializeArgs::new(CInitializeFlags::OS_LOCKING_OK)) {
            // Another provider in this process already initialised the same module.
            Ok(()) | Err(CkError::Pkcs11(RvError::CryptokiAlreadyInitialized, _)) => {}
            Err(e) => return Err(load_err(e)),
        }
        let (slot, token_label) = find_token(&ctx, &config)?;
        drop(inventory);
        let pin = config.pin.read()?;
        let provider = Pkcs11MasterKey {
            ctx,
            slot,
            token_label,
            pin,
            sessions: Mutex::new(Vec::new()),
            handles: Mutex::new(BTreeMap::new()),
            current: AtomicU32::new(0),
            config,
        };
        // Open and log in one session now, so a wrong PIN fails at start.
        let session = provider.take_session()?;
        lock(&provider.sessions).push(session);
        Ok(provider)
    }

    fn take_session(&self) -> Result<Session> {
        let _call = token_call();
        let pooled = lock(&self.sessions).pop();
        let session = match pooled {
            Some(s) => s,
            None => self
                .ctx
                .open_rw_session(self.slot)
                .map_err(|e| self.ck_err("C_OpenSession", &e))?,
        };
        let state = session
            .get_session_info()
            .map_err(|e| self.ck_err("C_GetSessionInfo", &e))?
            .session_state();
        if matches!(state, SessionState::RoPublic | SessionState::RwPublic) {
            match session.login(UserType::User, Some(&self.pin)) {
                Ok(()) | Err(CkError::Pkcs11(RvError::UserAlreadyLoggedIn, _)) => {}
                Err(CkError::Pkcs11(rv, _)) => {
                    return Err(CryptoError::Pkcs11Login {
                        token: self.token_label.clone(),
                        rv: rv_name(rv),
                        pin_source: self.config.pin.to_string(),
                    });
                }
                Err(e) => return Err(self.ck_err("C_Login", &e)),
            }
        }
        Ok(session)
    }

    /// Runs `f` on a pooled session; the session goes back to the pool unless the token
    /// said it is no longer valid. The outer error is about getting a session (login), the
    /// inner one is `f`'s.
    fn session_do<T>(
        &self,
        f: impl FnOnce(&Session) -> Result<T, CkError>,
    ) -> Result<Result<T, CkError>> {
        self.session_do_with(false, f)
    }

    /// Runs `f` on a pooled session; with `exclusive`, no other token call of the process runs
    /// meanwhile. Creating a token object is done that way: SoftHSM2 rewrites the token's
    /// object store, and a concurrent call from another thread made `C_GenerateKey` fail
    /// with CKR_GENERAL_ERROR under parallel tests.
    fn session_do_with<T>(
        &self,
        exclusive: bool,
        f: impl FnOnce(&Session) -> Result<T, CkError>,
    ) -> Result<Result<T, CkError>> {
        let session = self.take_session()?;
        let out = if exclusive {
            let _all = INVENTORY.write().unwrap_or_else(|e| e.into_inner());
            f(&session)
        } else {
            let _call = token_call();
            f(&session)
        };
        let broken = matches!(
            out,
            Err(CkError::Pkcs11(
                RvError::SessionHandleInvalid | RvError::SessionClosed | RvError::DeviceRemoved,
                _
            ))
        );
        if broken {
            let _call = token_call();
            drop(session);
        } else {
            lock(&self.sessions).push(session);
        }
        Ok(out)
    }

    /// Every `<key_label>-v<n>` AES secret key in the token, by version.
    fn scan(&self) -> Result<BTreeMap<u32, ObjectHandle>> {
        let template = [
            Attribute::Class(ObjectClass::SECRET_KEY),
            Attribute::KeyType(KeyType::AES),
            Attribute::Token(true),
        ];
        let (found, duplicate) = self
            .session_do(|s| {
                let mut out = BTreeMap::new();
                let mut duplicate = None;
                for handle in s.find_objects(&template)? {
                    let attrs = s.get_attributes(handle, &[AttributeType::Label])?;
                    for attr in attrs {
                        if let Attribute::Label(bytes) = attr
                            && let Ok(label) = std::str::from_utf8(&bytes)
                            && let Some(v) = self.config.parse_label(label)
                            && out.insert(v, handle).is_some()
                        {
                            duplicate = Some(v);
                        }
                    }
                }
                Ok((out, duplicate))
            })?
            .map_err(|e| self.ck_err("searching for master keys", &e))?;
        // Two `init --hsm` racing, or a key copied in by hand: refuse to guess which key
        // wraps the store keys.
        if let Some(v) = duplicate {
            return Err(CryptoError::Pkcs11KeyDuplicate {
                label: self.config.versioned_label(v),
                token: self.token_label.clone(),
            });
        }
        Ok(found)
    }

    fn handle(&self, version: u32) -> Result<ObjectHandle> {
        if let Some(h) = lock(&self.handles).get(&version) {
            return Ok(*h);
        }
        // Another node may have rotated since we started: look again.
        let found = self.scan()?;
        let handle = found.get(&version).copied();
        *lock(&self.handles) = found;
        handle.ok_or_else(|| self.key_not_found(version))
    }

    fn generate(&self, version: u32) -> Result<ObjectHandle> {
        let label = self.config.versioned_label(version);
        let template = [
            Attribute::Class(ObjectClass::SECRET_KEY),
            Attribute::KeyType(KeyType::AES),
            Attribute::ValueLen(32.into()),
            Attribute::Label(label.into_bytes()),
            Attribute::Token(true),
            Attribute::Private(true),
            Attribute::Sensitive(true),
            Attribute::Extractable(false),
            Attribute::Wrap(true),
            Attribute::Unwrap(true),
            Attribute::Encrypt(false),
            Attribute::Decrypt(false),
        ];
        self.session_do_with(true, |s| s.generate_key(&Mechanism::AesKeyGen, &template))?
            .map_err(|e| self.ck_err("C_GenerateKey", &e))
    }

    fn key_not_found(&self, version: u32) -> CryptoError {
        CryptoError::Pkcs11KeyNotFound {
            label: self.config.versioned_label(version),
            token: self.token_label.clone(),
        }
    }

    fn ck_err(&self, operation: &'static str, e: &CkError) -> CryptoError {
        CryptoError::Pkcs11 {
            operation,
            token: self.token_label.clone(),
            detail: ck_detail(e),
        }
    }
}

/// Template of the short-lived session object that carries a store key through the token.
fn carrier_template() -> [Attribute; 6] {
    [
        Attribute::Class(ObjectClass::SECRET_KEY),
        Attribute::KeyType(KeyType::GENERIC_SECRET),
        Attribute::Token(false),
        Attribute::Private(true),
        Attribute::Sensitive(false),
        Attribute::Extractable(true),
    ]
}

impl MasterKeyProvider for Pkcs11MasterKey {
    fn describe(&self) -> String {
        format!(
            "PKCS#11 master key '{}' (version {}) in token '{}' via {}",
            self.config.key_label,
            self.current_version(),
            self.token_label,
            self.config.module.display()
        )
    }

    fn current_version(&self) -> u32 {
        self.current.load(Ordering::Acquire)
    }

    fn wrap(&self, version: Option<u32>, key: &[u8]) -> Result<WrappedKey> {
        let version = version.unwrap_or_else(|| self.current_version());
        if key.is_empty() || key.len() % 8 != 0 {
            return Err(CryptoError::WrapFailed {
                version,
                detail: format!(
                    "the PKCS#11 provider wraps keys of a multiple of 8 bytes, not {}",
                    key.len()
                ),
            });
        }
        let master = self.handle(version)?;
        let mut template = carrier_template().to_vec();
        template.push(Attribute::Value(key.to_vec()));
        let out = self.session_do(|s| {
            let carrier = s.create_object(&template)?;
            let wrapped = s.wrap_key(&Mechanism::AesKeyWrapPad, master, carrier);
            let destroyed = s.destroy_object(carrier);
            let wrapped = wrapped?;
            destroyed?;
            Ok(wrapped)
        });
        let out = match out {
            Ok(inner) => inner,
            Err(e) => {
                wipe_values(&mut template);
                return Err(e);
            }
        };
        wipe_values(&mut template);
        let bytes = out.map_err(|e| CryptoError::WrapFailed {
            version,
            detail: format!("token '{}': {}", self.token_label, ck_detail(&e)),
        })?;
        Ok(WrappedKey {
            master_version: version,
            bytes,
        })
    }

    fn unwrap(&self, wrapped: &WrappedKey) -> Result<Zeroizing<Vec<u8>>> {
        let version = wrapped.master_version;
        let master = self.handle(version)?;
        let template = carrier_template();
        let out = self.session_do(|s| {
            let carrier =
                s.unwrap_key(&Mechanism::AesKeyWrapPad, master, &wrapped.bytes, &template)?;
            let value = s.get_attributes(carrier, &[AttributeType::Value]);
            let destroyed = s.destroy_object(carrier);
            let mut key = None;
            for attr in value? {
                if let Attribute::Value(v) = attr {
                    key = Some(Zeroizing::new(v));
                }
            }
            destroyed?;
            Ok(key)
        })?;
        match out {
            Ok(Some(key)) => Ok(key),
            Ok(None) => Err(CryptoError::Pkcs11 {
                operation: "reading an unwrapped key",
                token: self.token_label.clone(),
                detail: "CKA_VALUE missing".into(),
            }),
            // Tokens report a failed RFC 5649 integrity check in several ways; SoftHSM2 2.6
            // says CKR_GENERAL_ERROR (seen for every tampered byte and for a foreign key).
            Err(CkError::Pkcs11(
                RvError::WrappedKeyInvalid
                | RvError::WrappedKeyLenRange
                | RvError::EncryptedDataInvalid
                | RvError::EncryptedDataLenRange
                | RvError::DataInvalid
                | RvError::DataLenRange
                | RvError::GeneralError,
                _,
            )) => Err(CryptoError::UnwrapFailed { version }),
            Err(e) => Err(self.ck_err("C_UnwrapKey", &e)),
        }
    }

    fn rotate(&self) -> Result<u32> {
        let found = self.scan()?;
        let next = found
            .keys()
            .next_back()
            .copied()
            .unwrap_or(0)
            .max(self.current_version())
            + 1;
        let handle = self.generate(next)?;
        {
            let mut handles = lock(&self.handles);
            *handles = found;
            handles.insert(next, handle);
        }
        self.current.fetch_max(next, Ordering::AcqRel);
        tracing::info!(provider = %self.describe(), "created master key version {next}");
        Ok(next)
    }
}

/// Wipes the copies of key bytes held by an attribute template.
fn wipe_values(template: &mut [Attribute]) {
    for attr in template {
        if let Attribute::Value(v) = attr {
            zeroize::Zeroize::zeroize(v);
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // The guarded values (a session pool, a handle cache) are valid after any panic.
    m.lock().unwrap_or_else(|e| e.into_inner())
}

fn find_token(ctx: &Pkcs11, config: &Pkcs11Config) -> Result<(Slot, String)> {
    let load_err = |e: CkError| CryptoError::Pkcs11ModuleLoad {
        path: config.module.clone(),
        detail: ck_detail(&e),
    };
    let slots = ctx.get_slots_with_token().map_err(load_err)?;
    let mut present = Vec::new();
    for slot in slots {
        let info = ctx.get_token_info(slot).map_err(load_err)?;
        let label = info.label().trim_end().to_string();
        let hit = match &config.token {
            TokenSelector::Label(want) => *want == label,
            TokenSelector::Slot(id) => *id == slot.id(),
        };
        if hit {
            return Ok((slot, label));
        }
        present.push(format!("'{label}' (slot {})", slot.id()));
    }
    Err(CryptoError::Pkcs11TokenNotFound {
        wanted: match &config.token {
            TokenSelector::Label(l) => format!("labelled '{l}'"),
            TokenSelector::Slot(id) => format!("in slot {id}"),
        },
        module: config.module.clone(),
        present: if present.is_empty() {
            "none".into()
        } else {
            present.join(", ")
        },
    })
}

/// `CKR_*` name of a return value, from cryptoki's variant name (`PinIncorrect` →
/// `CKR_PIN_INCORRECT`).
pub(crate) fn rv_name(rv: RvError) -> String {
    let camel = format!("{rv:?}");
    let mut out = String::from("CKR");
    for c in camel.chars() {
        if c.is_ascii_uppercase() {
            out.push('_');
        }
        out.push(c.to_ascii_uppercase());
    }
    out
}

fn ck_detail(e: &CkError) -> String {
    match e {
        CkError::Pkcs11(rv, function) => format!("{function}: {}", rv_name(*rv)),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rv_names() {
        assert_eq!(rv_name(RvError::PinIncorrect), "CKR_PIN_INCORRECT");
        assert_eq!(rv_name(RvError::SlotIdInvalid), "CKR_SLOT_ID_INVALID");
    }

    #[test]
    fn labels_parse_only_exact_versions() {
        let c = Pkcs11Config {
            module: "/x".into(),
            token: TokenSelector::Label("t".into()),
            pin: PinSource::Env("P".into()),
            key_label: "kmipd-master".into(),
        };
        assert_eq!(c.versioned_label(3), "kmipd-master-v3");
        assert_eq!(c.parse_label("kmipd-master-v12"), Some(12));
        for bad in [
            "kmipd-master-v0",
            "kmipd-master-v01",
            "kmipd-master",
            "kmipd-masterx-v1",
            "kmipd-master-v1x",
        ] {
            assert_eq!(c.parse_label(bad), None, "{bad}");
        }
    }

    #[test]
    fn pin_source_names() {
        assert_eq!(
            PinSource::Env("KMIPD_HSM_PIN".into()).to_string(),
            "$KMIPD_HSM_PIN"
        );
        assert_eq!(
            PinSource::File("/etc/pin".into()).to_string(),
            "file /etc/pin"
        );
    }
}
