//! The one error type of `crypto/`. Messages are written for the operator who must fix
//! something: they name the file, token, label or setting, and never carry key bytes.

use std::path::PathBuf;

/// Everything that can go wrong in key custody.
#[derive(Debug, thiserror::Error)]
pub enum CryptoError {
    /// The operating system's random number generator failed.
    #[error("the system random number generator failed: {0}")]
    Rng(String),

    /// Reading or writing a master key file failed.
    #[error("{context}: {source}")]
    Io {
        /// What we were doing, with the path.
        context: String,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },

    /// A master key file may be read by group or others.
    #[error(
        "master key file {} has mode {mode:04o}: it must be readable by its owner only (chmod 600)",
        path.display()
    )]
    InsecurePermissions {
        /// The offending file.
        path: PathBuf,
        /// Its permission bits.
        mode: u32,
    },

    /// A master key file exists but does not hold a key.
    #[error("master key file {} is not a 32-byte key: {detail}", path.display())]
    BadKeyFile {
        /// The offending file.
        path: PathBuf,
        /// What is wrong with it.
        detail: String,
    },

    /// A record names a master key version the provider does not have.
    #[error("master key version {version} is not available from {provider}")]
    UnknownMasterVersion {
        /// The requested version.
        version: u32,
        /// `describe()` of the provider.
        provider: String,
    },

    /// Unwrapping under the master key failed: wrong master key, or tampered record.
    #[error(
        "unwrapping with master key version {version} failed: wrong master key or a tampered record"
    )]
    UnwrapFailed {
        /// The master key version used.
        version: u32,
    },

    /// Wrapping failed (input too long for RFC 5649, or the token refused).
    #[error("wrapping with master key version {version} failed: {detail}")]
    WrapFailed {
        /// The master key version used.
        version: u32,
        /// Why.
        detail: String,
    },

    /// A store key record names a store key version the keyring does not hold.
    #[error("store key version {0} is not in the keyring")]
    UnknownStoreKeyVersion(u32),

    /// Sealed material did not authenticate: tampered, moved to another object, or wrong key.
    #[error(
        "sealed material for object '{uid}' failed authentication (tampered, moved from another object, or wrong store key)"
    )]
    OpenFailed {
        /// The object's Unique Identifier (not secret).
        uid: String,
    },

    /// A persisted record could not be parsed.
    #[error("malformed {what}: {detail}")]
    Malformed {
        /// Which record type.
        what: &'static str,
        /// What is wrong.
        detail: String,
    },

    /// A store key rotation raced with another one.
    #[error(
        "store key version {staged} cannot be activated: the keyring is already at version {current}"
    )]
    StaleRotation {
        /// The staged version.
        staged: u32,
        /// The keyring's current version.
        current: u32,
    },

    /// The PKCS#11 module file does not exist.
    #[error("PKCS#11 module {} not found: set [master_key.pkcs11] module", path.display())]
    Pkcs11ModuleNotFound {
        /// The configured module path.
        path: PathBuf,
    },

    /// The PKCS#11 module exists but could not be loaded or initialised.
    #[error("PKCS#11 module {} could not be loaded: {detail}", path.display())]
    Pkcs11ModuleLoad {
        /// The configured module path.
        path: PathBuf,
        /// The loader's or the module's error.
        detail: String,
    },

    /// No token matches the configured label or slot.
    #[error("no PKCS#11 token {wanted} in module {}; tokens present: {present}; set [master_key.pkcs11] token_label or slot", module.display())]
    Pkcs11TokenNotFound {
        /// `label 'x'` or `in slot n`.
        wanted: String,
        /// The module searched.
        module: PathBuf,
        /// The labels of the tokens that are present.
        present: String,
    },

    /// The PIN could not be read.
    #[error("cannot read the PKCS#11 PIN from {source_name}: {detail}")]
    Pkcs11Pin {
        /// `$VAR` or `file /x`.
        source_name: String,
        /// Why.
        detail: String,
    },

    /// C_Login failed.
    #[error("login to token '{token}' failed: {rv}; check the PIN in {pin_source}")]
    Pkcs11Login {
        /// The token label.
        token: String,
        /// The PKCS#11 return value name, e.g. `CKR_PIN_INCORRECT`.
        rv: String,
        /// `$VAR` or `file /x`.
        pin_source: String,
    },

    /// The master key object is not in the token.
    #[error("no AES key labelled '{label}' in token '{token}': run `kmipd init --hsm`")]
    Pkcs11KeyNotFound {
        /// The key label, with its version suffix.
        label: String,
        /// The token label.
        token: String,
    },

    /// `init` found master keys already present.
    #[error(
        "token '{token}' already holds master key '{label}': refusing to create another; `kmipd serve` and `kmipd init` (without --hsm) use the existing key, `kmipd master-key rotate` adds a new version"
    )]
    Pkcs11KeyExists {
        /// The existing key label.
        label: String,
        /// The token label.
        token: String,
    },

    /// Two master key objects carry the same label: which one wraps the store keys is
    /// ambiguous, so the provider refuses to choose.
    #[error(
        "token '{token}' holds more than one AES key labelled '{label}': keep the one that wraps the store keys (the older one) and remove the other, then start again"
    )]
    Pkcs11KeyDuplicate {
        /// The duplicated key label.
        label: String,
        /// The token label.
        token: String,
    },

    /// Any other PKCS#11 failure.
    #[error("PKCS#11 {operation} on token '{token}' failed: {detail}")]
    Pkcs11 {
        /// What we were doing.
        operation: &'static str,
        /// The token label.
        token: String,
        /// The return value name and library message.
        detail: String,
    },
}

/// Shorthand for results in `crypto/`.
pub type Result<T, E = CryptoError> = std::result::Result<T, E>;
