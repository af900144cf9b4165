//! The TOML configuration file (`kmipd serve --config FILE`). Unknown keys are errors, so a
//! misspelt setting is never silently ignored.
//!
//! Every setting has a default that makes `kmipd serve --data-dir DIR` work with no file:
//! the redb store, the `file` master key and a development PKI, all inside the data directory.
//! Paths that are relative are taken relative to the data directory.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

/// The whole configuration.
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// Where the server listens. Default `127.0.0.1:5696` (KMIP's port, loopback only).
    pub listen: SocketAddr,
    /// Where the store, the master key file and the development certificates live.
    pub data_dir: PathBuf,
    pub tls: TlsConfig,
    pub limits: LimitsConfig,
    pub master_key: MasterKeyConfig,
    pub policy: PolicyConfig,
    /// Answer the Interop operation: only for an OASIS interoperability test run (2.1
    /// §6.1.26: it "SHALL NOT be available in a production server"). Default false.
    pub interop: bool,
    pub lifecycle: LifecycleConfig,
    pub http: HttpConfig,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            listen: SocketAddr::from(([127, 0, 0, 1], 5696)),
            data_dir: PathBuf::from("kmipd-data"),
            tls: TlsConfig::default(),
            limits: LimitsConfig::default(),
            master_key: MasterKeyConfig::default(),
            policy: PolicyConfig::default(),
            interop: false,
            lifecycle: LifecycleConfig::default(),
            http: HttpConfig::default(),
        }
    }
}

/// What the server does of its own accord as time passes.
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct LifecycleConfig {
    /// How often the states that reached dates bring about (an Activation Date come, a
    /// Deactivation Date passed) are stored, so that Locate by State sees them (operations on
    /// an object see them at once), and keys whose automatic rotation is due are re-keyed.
    /// At least 1. Default 1.
    pub date_sweep_secs: u64,
}

impl Default for LifecycleConfig {
    fn default() -> Self {
        LifecycleConfig { date_sweep_secs: 1 }
    }
}

/// KMIP over HTTPS on the KMIP port (KMIP Additional Message Encodings §2): the same TLS,
/// client certificates and operations, with TTLV, XML or JSON bodies.
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct HttpConfig {
    /// Serve HTTP requests beside TTLV ones. Default true. When false, a connection that
    /// begins with an HTTP request is closed as unframeable TTLV.
    pub enabled: bool,
    /// The request path (§2.3: `/kmip` SHOULD be supported). Default `/kmip`.
    pub path: String,
}

impl Default for HttpConfig {
    fn default() -> Self {
        HttpConfig {
            enabled: true,
            path: "/kmip".into(),
        }
    }
}

impl HttpConfig {
    /// The path the server answers KMIP on, or `None` when HTTP is off.
    pub fn served_path(&self) -> Option<String> {
        self.enabled.then(|| self.path.clone())
    }
}

/// TLS: the server's certificate and the clients it trusts. When `cert`, `key` and
/// `client_ca` are all absent, a development PKI is created in `DATA_DIR/certs/`.
#[derive(Clone, Debug, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct TlsConfig {
    /// The server certificate chain (PEM).
    pub cert: Option<PathBuf>,
    /// The server private key (PEM).
    pub key: Option<PathBuf>,
    /// CA certificates whose client certificates are accepted (PEM bundles).
    pub client_ca: Vec<PathBuf>,
    /// Certificate revocation lists (PEM or DER) of the client CAs. With any set, a client
    /// certificate is refused when its CA's list names it, or when its CA has no list here.
    /// With the development PKI, `DATA_DIR/certs/ca.crl` (written by `kmipd certs revoke`)
    /// is used when it exists. The server rereads these files when they change.
    pub client_crls: Vec<PathBuf>,
    /// Client certificates (PEM) trusted as they are, by fingerprint: for clients such as
    /// vCenter that present a self-signed certificate.
    pub pinned_client_certs: Vec<PathBuf>,
    /// Which certificate field names the client: `cn` (default), `san-dns`, `san-email`,
    /// `san-uri`.
    pub identity: Identity,
}

#[derive(Clone, Copy, Debug, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "kebab-case")]
pub enum Identity {
    #[default]
    Cn,
    SanDns,
    SanEmail,
    SanUri,
}

/// Bounds on what clients can make the server hold.
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct LimitsConfig {
    pub max_message_size: usize,
    pub max_connections: usize,
    pub max_handshakes_per_address: usize,
    /// No cap when absent.
    pub max_connections_per_principal: Option<usize>,
    pub handshake_timeout_secs: u64,
    pub idle_timeout_secs: u64,
    pub shutdown_grace_secs: u64,
    pub max_batch_items: usize,
    pub max_locate_items: usize,
}

impl Default for LimitsConfig {
    fn default() -> Self {
        let server = crate::server::Limits::default();
        let ops = crate::ops::OpsConfig::default();
        LimitsConfig {
            max_message_size: server.max_message_size,
            max_connections: server.max_connections,
            max_handshakes_per_address: server.max_handshakes_per_address,
            max_connections_per_principal: server.max_connections_per_principal,
            handshake_timeout_secs: server.handshake_timeout.as_secs(),
            idle_timeout_secs: server.idle_timeout.as_secs(),
            shutdown_grace_secs: server.shutdown_grace.as_secs(),
            max_batch_items: ops.max_batch_items,
            max_locate_items: ops.max_locate_items,
        }
    }
}

impl LimitsConfig {
    pub fn server_limits(&self) -> crate::server::Limits {
        crate::server::Limits {
            max_message_size: self.max_message_size,
            max_connections: self.max_connections,
            max_handshakes_per_address: self.max_handshakes_per_address,
            max_connections_per_principal: self.max_connections_per_principal,
            handshake_timeout: Duration::from_secs(self.handshake_timeout_secs),
            idle_timeout: Duration::from_secs(self.idle_timeout_secs),
            shutdown_grace: Duration::from_secs(self.shutdown_grace_secs),
        }
    }
}

/// Which master key protects the store keys.
#[derive(Clone, Debug, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct MasterKeyConfig {
    /// `file` (default: a key file in the data directory, for development) or `pkcs11`.
    pub provider: Provider,
    pub pkcs11: Option<Pkcs11Config>,
}

#[derive(Clone, Copy, Debug, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum Provider {
    #[default]
    File,
    Pkcs11,
}

/// An HSM through its PKCS#11 module.
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Pkcs11Config {
    /// The module, e.g. `/usr/lib/softhsm/libsofthsm2.so`.
    pub module: PathBuf,
    /// The token, by label...
    pub token_label: Option<String>,
    /// ...or by slot id.
    pub slot: Option<u64>,
    /// The user PIN, from this environment variable...
    pub pin_env: Option<String>,
    /// ...or this file.
    pub pin_file: Option<PathBuf>,
    /// The label of the master key (versions are suffixed `-v1`, `-v2`, ...).
    #[serde(default = "default_key_label")]
    pub key_label: String,
}

fn default_key_label() -> String {
    "kmipd-master".into()
}

/// Access control.
#[derive(Clone, Debug, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct PolicyConfig {
    /// Principals that may see and manage every object.
    pub administrators: Vec<String>,
    /// Principals that may read the server's metrics (`GET /metrics` over HTTPS) and
    /// nothing more; administrators may too.
    pub metrics_readers: Vec<String>,
}

impl Config {
    /// Parses a configuration; unknown keys and wrong types are errors naming the key.
    pub fn parse(text: &str) -> Result<Config, String> {
        let config: Config = toml::from_str(text).map_err(|e| e.to_string())?;
        let limits = &config.limits;
        if limits.max_connections == 0
            || limits.max_handshakes_per_address == 0
            || limits.max_connections_per_principal == Some(0)
        {
            return Err(
                "limits.max_connections, limits.max_handshakes_per_address and \
                 limits.max_connections_per_principal must be at least 1"
                    .into(),
            );
        }
        if config.lifecycle.date_sweep_secs == 0 {
            return Err("lifecycle.date_sweep_secs must be at least 1".into());
        }
        let path = &config.http.path;
        if path == "/metrics" {
            return Err("http.path cannot be /metrics, where the server's metrics are read".into());
        }
        if !path.starts_with('/') || path.bytes().any(|b| !b.is_ascii_graphic()) {
            return Err(format!(
                "http.path must begin with / and hold no spaces or control characters: {path:?}"
            ));
        }
        Ok(config)
    }

    pub fn load(path: &Path) -> Result<Config, String> {
        let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
        Config::parse(&text).map_err(|e| format!("{}: {e}", path.display()))
    }

    /// A path from the configuration, relative ones taken from the data directory.
    pub fn resolve(&self, path: &Path) -> PathBuf {
        if path.is_absolute() {
            path.to_path_buf()
        } else {
            self.data_dir.join(path)
        }
    }

    pub fn pkcs11(&self) -> Result<crate::crypto::Pkcs11Config, String> {
        let p = self
            .master_key
            .pkcs11
            .as_ref()
            .ok_or("master_key.provider is pkcs11 but [master_key.pkcs11] is missing")?;
        let token = match (&p.token_label, p.slot) {
            (Some(label), None) => crate::crypto::TokenSelector::Label(label.clone()),
            (None, Some(slot)) => crate::crypto::TokenSelector::Slot(slot),
            _ => return Err("[master_key.pkcs11]: set exactly one of token_label and slot".into()),
        };
        let pin = match (&p.pin_env, &p.pin_file) {
            (Some(var), None) => crate::crypto::PinSource::Env(var.clone()),
            (None, Some(file)) => crate::crypto::PinSource::File(self.resolve(file)),
            _ => return Err("[master_key.pkcs11]: set exactly one of pin_env and pin_file".into()),
        };
        Ok(crate::crypto::Pkcs11Config {
            module: p.module.clone(),
            token,
            pin,
            key_label: p.key_label.clone(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_example_file_is_the_defaults() {
        let example = Config::parse(include_str!("../docs/kmipd.example.toml")).unwrap();
        assert_eq!(example, Config::default());
    }

    #[test]
    fn empty_file_gives_the_embedded_defaults() {
        assert_eq!(Config::parse("").unwrap(), Config::default());
        assert_eq!(Config::default().listen.port(), 5696);
    }

    #[test]
    fn unknown_keys_are_errors() {
        let err = Config::parse("lisen = \"127.0.0.1:1\"").unwrap_err();
        assert!(err.contains("lisen"), "{err}");
        let err = Config::parse("[limits]\nmax_conections = 3").unwrap_err();
        assert!(err.contains("max_conections"), "{err}");
    }

    #[test]
    fn sample_configs_in_docs_parse() {
        let docs = Path::new(env!("CARGO_MANIFEST_DIR")).join("docs");
        let mut seen = 0;
        for entry in std::fs::read_dir(&docs).expect("docs/ exists") {
            let path = entry.unwrap().path();
            if path.extension().is_some_and(|e| e == "toml") {
                Config::load(&path).unwrap_or_else(|e| panic!("{e}"));
                seen += 1;
            }
        }
        assert!(seen > 0, "no sample configuration under docs/");
    }

    #[test]
    fn the_date_sweep_runs_at_least_every_second() {
        let c = Config::parse("[http]\nenabled = false\npath = \"/v1/kmip\"\n").unwrap();
        assert_eq!(c.http.served_path(), None);
        let c = Config::parse("[http]\npath = \"/v1/kmip\"\n").unwrap();
        assert_eq!(c.http.served_path().as_deref(), Some("/v1/kmip"));
        assert_eq!(
            Config::default().http.served_path().as_deref(),
            Some("/kmip")
        );
        for bad in ["kmip", "/k mip", "", "/metrics"] {
            let err = Config::parse(&format!("[http]\npath = {bad:?}\n")).unwrap_err();
            assert!(err.contains("http.path"), "{err}");
        }
        let err = Config::parse("[http]\nport = 80\n").unwrap_err();
        assert!(err.contains("port"), "{err}");
        let c = Config::parse("[lifecycle]\ndate_sweep_secs = 30\n").unwrap();
        assert_eq!(c.lifecycle.date_sweep_secs, 30);
        let err = Config::parse("[lifecycle]\ndate_sweep_secs = 0\n").unwrap_err();
        assert!(err.contains("date_sweep_secs"), "{err}");
    }

    #[test]
    fn connection_limits_are_at_least_one() {
        let c = Config::parse("[limits]\nmax_handshakes_per_address = 4\n").unwrap();
        assert_eq!(c.limits.server_limits().max_handshakes_per_address, 4);
        assert_eq!(c.limits.server_limits().max_connections_per_principal, None);
        let c = Config::parse("[limits]\nmax_connections_per_principal = 16\n").unwrap();
        assert_eq!(
            c.limits.server_limits().max_connections_per_principal,
            Some(16)
        );
        for bad in [
            "max_connections = 0",
            "max_handshakes_per_address = 0",
            "max_connections_per_principal = 0",
        ] {
            let err = Config::parse(&format!("[limits]\n{bad}\n")).unwrap_err();
            assert!(err.contains("must be at least 1"), "{err}");
        }
    }

    #[test]
    fn pkcs11_settings_are_checked() {
        let c = Config::parse(
            "[master_key]\nprovider = \"pkcs11\"\n[master_key.pkcs11]\nmodule = \"/m.so\"\ntoken_label = \"t\"\npin_env = \"PIN\"\n",
        )
        .unwrap();
        let p = c.pkcs11().unwrap();
        assert_eq!(p.key_label, "kmipd-master");
        let c = Config::parse(
            "[master_key]\nprovider = \"pkcs11\"\n[master_key.pkcs11]\nmodule = \"/m.so\"\n",
        )
        .unwrap();
        assert!(c.pkcs11().unwrap_err().contains("token_label"));
    }
}
