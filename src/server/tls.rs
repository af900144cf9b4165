//! The rustls server configuration and the client identity.
//!
//! Policy kept here, in one place:
//! - mutual TLS is mandatory: a client without a certificate the server trusts never gets
//!   past the handshake;
//! - protocols TLS 1.3 and TLS 1.2; TLS 1.2 only with ECDHE and AES-GCM (the suites KMIP 1.x
//!   profiles and rustls both allow); the crypto provider is aws-lc-rs, chosen explicitly so
//!   that the process-wide default provider does not matter;
//! - session resumption both ways: a stateful session cache (TLS 1.2 session IDs) and
//!   stateless tickets (TLS 1.2 tickets and TLS 1.3), since some clients (Veeam) reconnect
//!   for every few requests;
//! - self-signed client certificates (vCenter) are trusted only when pinned by the SHA-256
//!   of their DER encoding. A pinned certificate skips path validation, never the
//!   handshake signature check, which is always done with the provider's algorithms. Its
//!   validity dates are not checked either: the pin is the trust decision, and removing the
//!   pin from its file (which the server rereads, starting new sessions) is the revocation.
//! - certificate revocation lists (CRLs) of the client CAs, when configured: a client
//!   certificate a CRL lists is refused at the handshake. Only the end-entity certificate is
//!   checked (intermediates are the CAs' own business), and a client certificate whose
//!   issuer has no CRL among those configured is refused too (fail closed: with CRLs on,
//!   give one for every CA that issues client certificates). A CRL past its next update is
//!   still used (a stale list is better than none); the server warns when it loads one.
//!   The server reloads its TLS files when they change ([`TlsCell`]), and a reload starts a
//!   new session cache and ticket key, so a revoked client cannot resume a session it had.
//!
//! The [`Principal`] is derived from the verified end-entity certificate: its subject CN by
//! default, or the first SAN of a configured type.

use std::fmt;
use std::fs::File;
use std::io::BufReader;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::client::danger::HandshakeSignatureValid;
use rustls::crypto::{CryptoProvider, aws_lc_rs};
use rustls::pki_types::{CertificateDer, CertificateRevocationListDer, PrivateKeyDer, UnixTime};
use rustls::server::danger::{ClientCertVerified, ClientCertVerifier};
use rustls::server::{ServerSessionMemoryCache, WebPkiClientVerifier};
use rustls::{
    CertificateError, CipherSuite, DigitallySignedStruct, DistinguishedName, RootCertStore,
    SignatureScheme,
};
use sha2::{Digest, Sha256};
use x509_parser::extensions::GeneralName;
use x509_parser::prelude::{FromDer, X509Certificate};

/// Why a TLS configuration could not be built.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{0}: no certificate found")]
    NoCertificate(PathBuf),
    #[error("{0}: no private key found")]
    NoKey(PathBuf),
    #[error("{0}: no certificate revocation list found")]
    NoCrl(PathBuf),
    #[error("{path}: not a certificate revocation list: {reason}")]
    BadCrl { path: PathBuf, reason: String },
    #[error("no client CA and no pinned client certificate: no client could connect")]
    NoClientTrust,
    #[error("client CA certificates rejected: {0}")]
    ClientVerifier(#[from] rustls::server::VerifierBuilderError),
    #[error("TLS configuration rejected: {0}")]
    Rustls(#[from] rustls::Error),
}

/// What the server needs to build its TLS configuration.
pub struct TlsSettings {
    /// The server certificate first, then any intermediates.
    pub cert_chain: Vec<CertificateDer<'static>>,
    /// The server's private key (an ECDSA P-256 key is the recommended default).
    pub key: PrivateKeyDer<'static>,
    /// CAs whose client certificates are accepted after full path validation.
    pub client_cas: Vec<CertificateDer<'static>>,
    /// SHA-256 fingerprints (of the DER encoding) of client certificates trusted as they are.
    pub pinned_clients: Vec<[u8; 32]>,
    /// Revocation lists of the client CAs; none: no revocation checking.
    pub client_crls: Vec<CertificateRevocationListDer<'static>>,
    /// Entries in the stateful TLS session cache.
    pub session_cache_size: usize,
}

impl TlsSettings {
    /// Reads the server chain, its key and the client CA bundle from PEM files.
    pub fn from_pem_files(cert: &Path, key: &Path, client_ca: &Path) -> Result<Self, TlsError> {
        Ok(TlsSettings {
            cert_chain: load_certs(cert)?,
            key: load_key(key)?,
            client_cas: load_certs(client_ca)?,
            pinned_clients: Vec::new(),
            client_crls: Vec::new(),
            session_cache_size: DEFAULT_SESSION_CACHE,
        })
    }
}

impl fmt::Debug for TlsSettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TlsSettings")
            .field("cert_chain", &self.cert_chain.len())
            .field("key", &"<redacted>")
            .field("client_cas", &self.client_cas.len())
            .field("pinned_clients", &self.pinned_clients.len())
            .field("client_crls", &self.client_crls.len())
            .field("session_cache_size", &self.session_cache_size)
            .finish()
    }
}

/// Default number of entries in the stateful session cache.
pub const DEFAULT_SESSION_CACHE: usize = 1024;

/// Reads every certificate of a PEM file.
pub fn load_certs(path: &Path) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let mut reader = open(path)?;
    let certs = rustls_pemfile::certs(&mut reader)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|source| io_error(path, source))?;
    if certs.is_empty() {
        return Err(TlsError::NoCertificate(path.to_path_buf()));
    }
    Ok(certs)
}

/// Reads the first private key (PKCS#8, SEC1 or PKCS#1) of a PEM file.
pub fn load_key(path: &Path) -> Result<PrivateKeyDer<'static>, TlsError> {
    let mut reader = open(path)?;
    rustls_pemfile::private_key(&mut reader)
        .map_err(|source| io_error(path, source))?
        .ok_or_else(|| TlsError::NoKey(path.to_path_buf()))
}

/// Reads every CRL of a file: PEM (`-----BEGIN X509 CRL-----` blocks) or one DER CRL. Each
/// must parse as a CRL; one past its next update is loaded with a warning.
pub fn load_crls(path: &Path) -> Result<Vec<CertificateRevocationListDer<'static>>, TlsError> {
    let bytes = std::fs::read(path).map_err(|source| io_error(path, source))?;
    let mut crls = rustls_pemfile::crls(&mut &bytes[..])
        .collect::<Result<Vec<_>, _>>()
        .map_err(|source| io_error(path, source))?;
    // No PEM block: a DER CRL is one ASN.1 SEQUENCE.
    if crls.is_empty() && bytes.first() == Some(&0x30) {
        crls.push(CertificateRevocationListDer::from(bytes));
    }
    if crls.is_empty() {
        return Err(TlsError::NoCrl(path.to_path_buf()));
    }
    for crl in &crls {
        let (_, parsed) =
            x509_parser::revocation_list::CertificateRevocationList::from_der(crl.as_ref())
                .map_err(|e| TlsError::BadCrl {
                    path: path.to_path_buf(),
                    reason: e.to_string(),
                })?;
        if let Some(next) = parsed.next_update()
            && next.timestamp() < UnixTime::now().as_secs() as i64
        {
            tracing::warn!(
                path = %path.display(),
                issuer = %parsed.issuer(),
                next_update = %next,
                "a client CRL is past its next update; it is used until a newer one is installed"
            );
        }
    }
    Ok(crls)
}

/// The SHA-256 of a certificate's DER encoding: the form in which clients are pinned.
pub fn fingerprint(cert_der: &[u8]) -> [u8; 32] {
    Sha256::digest(cert_der).into()
}

/// The crypto provider of the server: aws-lc-rs, with TLS 1.2 suites cut down to
/// ECDHE + AES-GCM. TLS 1.3 suites are kept as rustls ships them.
pub fn provider() -> Arc<CryptoProvider> {
    const TLS12_ALLOWED: [CipherSuite; 4] = [
        CipherSuite::TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
        CipherSuite::TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
        CipherSuite::TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
        CipherSuite::TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
    ];
    let mut provider = aws_lc_rs::default_provider();
    provider.cipher_suites.retain(|suite| match suite {
        rustls::SupportedCipherSuite::Tls13(_) => true,
        rustls::SupportedCipherSuite::Tls12(_) => TLS12_ALLOWED.contains(&suite.suite()),
    });
    Arc::new(provider)
}

/// The TLS configuration that new connections are accepted with. Replaced whole when the
/// server reloads its TLS files ([`TlsCell::reload`]): since the new one has its own
/// session cache and ticket key, no session from before the reload resumes (a client
/// revoked meanwhile must do a full handshake, and is refused). Connections already up see
/// the reload at their next request: their client's certificate is checked again with the
/// new configuration's verifier ([`TlsCell::still_trusted`]), and a client it refuses is
/// disconnected.
#[derive(Debug)]
pub struct TlsCell {
    current: std::sync::RwLock<ServerTls>,
    /// Bumped by every reload; a connection compares it with the one it last checked.
    generation: std::sync::atomic::AtomicU64,
}

/// A server configuration and the client certificate verifier inside it.
#[derive(Clone, Debug)]
pub struct ServerTls {
    pub config: Arc<rustls::ServerConfig>,
    /// `None` for a configuration built elsewhere (tests): connections are then never
    /// checked again.
    pub verifier: Option<Arc<dyn ClientCertVerifier>>,
}

impl TlsCell {
    pub fn new(config: Arc<rustls::ServerConfig>) -> Self {
        TlsCell {
            current: std::sync::RwLock::new(ServerTls {
                config,
                verifier: None,
            }),
            generation: std::sync::atomic::AtomicU64::new(0),
        }
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, ServerTls> {
        self.current.read().unwrap_or_else(|p| p.into_inner())
    }

    /// The configuration for a connection accepted now, and the generation to remember
    /// with it (see [`TlsCell::generation`]).
    pub fn current(&self) -> (Arc<rustls::ServerConfig>, u64) {
        let tls = self.read();
        (tls.config.clone(), self.generation())
    }

    /// Which reload is in force (0 before the first).
    pub fn generation(&self) -> u64 {
        self.generation.load(std::sync::atomic::Ordering::Acquire)
    }

    /// Puts `tls` in force for new connections, and for the next request of those up.
    pub fn reload(&self, tls: ServerTls) {
        // Bumped under the lock: a reader that sees the old configuration sees the old
        // generation, and is checked again later.
        let mut current = self.current.write().unwrap_or_else(|p| p.into_inner());
        *current = tls;
        self.generation
            .fetch_add(1, std::sync::atomic::Ordering::AcqRel);
    }

    /// Whether the configuration in force still accepts a client that presented `chain`
    /// (end entity first) at its handshake: `Err` with the verifier's reason if not (its
    /// certificate revoked, its CA or pin removed, expired meanwhile).
    pub fn still_trusted(&self, chain: &[CertificateDer<'_>]) -> Result<(), rustls::Error> {
        let Some(verifier) = self.read().verifier.clone() else {
            return Ok(());
        };
        let Some((end_entity, intermediates)) = chain.split_first() else {
            return Err(rustls::Error::NoCertificatesPresented);
        };
        verifier
            .verify_client_cert(end_entity, intermediates, UnixTime::now())
            .map(|_| ())
    }
}

/// Builds the rustls server configuration described in the module documentation.
pub fn server_config(settings: TlsSettings) -> Result<Arc<rustls::ServerConfig>, TlsError> {
    server_tls(settings).map(|t| t.config)
}

/// [`server_config`], with its client certificate verifier (for [`TlsCell::reload`]).
pub fn server_tls(settings: TlsSettings) -> Result<ServerTls, TlsError> {
    let provider = provider();
    let verifier = client_verifier(&settings, provider.clone())?;
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])?
        .with_client_cert_verifier(verifier.clone())
        .with_single_cert(settings.cert_chain, settings.key)?;
    config.session_storage = ServerSessionMemoryCache::new(settings.session_cache_size.max(1));
    config.ticketer = aws_lc_rs::Ticketer::new()?;
    Ok(ServerTls {
        config: Arc::new(config),
        verifier: Some(verifier),
    })
}

fn client_verifier(
    settings: &TlsSettings,
    provider: Arc<CryptoProvider>,
) -> Result<Arc<dyn ClientCertVerifier>, TlsError> {
    let webpki = if settings.client_cas.is_empty() {
        None
    } else {
        let mut roots = RootCertStore::empty();
        for ca in &settings.client_cas {
            roots.add(ca.clone())?;
        }
        let mut builder =
            WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider.clone());
        if !settings.client_crls.is_empty() {
            builder = builder
                .with_crls(settings.client_crls.iter().cloned())
                .only_check_end_entity_revocation();
        }
        Some(builder.build()?)
    };
    match (webpki, settings.pinned_clients.is_empty()) {
        (None, true) => Err(TlsError::NoClientTrust),
        (Some(webpki), true) => Ok(webpki),
        (webpki, false) => Ok(Arc::new(PinningVerifier {
            webpki,
            pinned: settings.pinned_clients.clone(),
            provider,
        })),
    }
}

/// Accepts a pinned end-entity certificate as it is; anything else goes to the webpki
/// verifier (or is rejected when no CA is configured).
#[derive(Debug)]
struct PinningVerifier {
    webpki: Option<Arc<dyn ClientCertVerifier>>,
    pinned: Vec<[u8; 32]>,
    provider: Arc<CryptoProvider>,
}

impl ClientCertVerifier for PinningVerifier {
    fn offer_client_auth(&self) -> bool {
        true
    }

    fn client_auth_mandatory(&self) -> bool {
        true
    }

    fn root_hint_subjects(&self) -> &[DistinguishedName] {
        match &self.webpki {
            Some(webpki) => webpki.root_hint_subjects(),
            None => &[],
        }
    }

    fn verify_client_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        now: UnixTime,
    ) -> Result<ClientCertVerified, rustls::Error> {
        let print = fingerprint(end_entity);
        if self.pinned.contains(&print) {
            return Ok(ClientCertVerified::assertion());
        }
        match &self.webpki {
            Some(webpki) => webpki.verify_client_cert(end_entity, intermediates, now),
            None => Err(rustls::Error::InvalidCertificate(
                CertificateError::UnknownIssuer,
            )),
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}

/// The authenticated client of a connection: defined with the access policy, which is
/// where identities mean something.
pub use crate::policy::Principal;

/// Which field of the client certificate names the principal.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum IdentitySource {
    /// The first Common Name of the subject.
    #[default]
    CommonName,
    /// The first DNS name in the Subject Alternative Names.
    SanDns,
    /// The first e-mail address (rfc822Name) in the Subject Alternative Names.
    SanEmail,
    /// The first URI in the Subject Alternative Names.
    SanUri,
}

/// Why no principal could be derived from a (verified) client certificate.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum IdentityError {
    #[error("client certificate cannot be parsed")]
    Unparsable,
    #[error("client certificate has no {0:?} identity")]
    Missing(IdentitySource),
}

/// Derives the principal from a client's end-entity certificate.
pub fn principal_from_cert(
    cert: &CertificateDer<'_>,
    source: IdentitySource,
) -> Result<Principal, IdentityError> {
    let (_, parsed) = X509Certificate::from_der(cert).map_err(|_| IdentityError::Unparsable)?;
    let name = match source {
        IdentitySource::CommonName => parsed
            .subject()
            .iter_common_name()
            .next()
            .and_then(|cn| cn.as_str().ok())
            .map(str::to_owned),
        san => parsed
            .subject_alternative_name()
            .map_err(|_| IdentityError::Unparsable)?
            .and_then(|ext| {
                ext.value
                    .general_names
                    .iter()
                    .find_map(|name| match (san, name) {
                        (IdentitySource::SanDns, GeneralName::DNSName(s))
                        | (IdentitySource::SanEmail, GeneralName::RFC822Name(s))
                        | (IdentitySource::SanUri, GeneralName::URI(s)) => Some((*s).to_owned()),
                        _ => None,
                    })
            }),
    };
    match name {
        Some(name) if !name.is_empty() => Ok(Principal {
            name,
            cert_sha256: fingerprint(cert),
        }),
        _ => Err(IdentityError::Missing(source)),
    }
}

fn open(path: &Path) -> Result<BufReader<File>, TlsError> {
    File::open(path)
        .map(BufReader::new)
        .map_err(|source| io_error(path, source))
}

fn io_error(path: &Path, source: std::io::Error) -> TlsError {
    TlsError::Io {
        path: path.to_path_buf(),
        source,
    }
}
