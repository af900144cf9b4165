//! A development PKI: a private CA with one server and one client certificate, so that a
//! fresh install can speak mutual TLS before an operator brings real certificates.
//!
//! Layout of the directory (created `0700`; every key file `0600`):
//! `ca.pem`, `ca.key`, `server.pem`, `server.key`, `client.pem`, `client.key`.
//! All keys are ECDSA P-256 (the one key type every KMIP 1.x client and rustls's TLS 1.2
//! ECDHE-ECDSA-AES-GCM suites agree on). The CA is valid ten years, leaves one year, and
//! every serial number is 16 random bytes.
//!
//! Invariant: an existing file is never overwritten. Files are created with `create_new`,
//! so two processes racing on one directory cannot replace each other's keys.
//! This module is for development and tests only; it is no substitute for a real CA.

use std::fs::{self, OpenOptions};
use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use rcgen::{
    BasicConstraints, CertificateParams, CertificateRevocationListParams, DistinguishedName,
    DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyIdMethod, KeyPair, KeyUsagePurpose,
    PKCS_ECDSA_P256_SHA256, RevocationReason, RevokedCertParams, SanType, SerialNumber,
};
use time::{Duration, OffsetDateTime};
use x509_parser::prelude::{FromDer, ParsedExtension, X509Certificate};
use x509_parser::revocation_list::CertificateRevocationList;

/// Validity of the development CA.
const CA_VALIDITY: Duration = Duration::days(3650);
/// Validity of the server and client certificates.
const LEAF_VALIDITY: Duration = Duration::days(365);
/// How long a CRL written by [`revoke`] says it stays current (its next update). The
/// development CA writes a new one at every revocation; the server keeps using a list past
/// this date, with a warning.
const CRL_VALIDITY: Duration = Duration::days(365);
/// Backdating of `notBefore`, so that small clock skew between hosts does not reject a
/// freshly issued certificate.
const BACKDATE: Duration = Duration::hours(1);
/// The subject CN of the default client certificate.
pub const DEFAULT_CLIENT_CN: &str = "admin";

/// Why the development PKI could not be created or loaded.
#[derive(Debug, thiserror::Error)]
pub enum PkiError {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("certificate generation failed: {0}")]
    Rcgen(#[from] rcgen::Error),
    #[error("{0}: refusing to overwrite an existing file")]
    Exists(PathBuf),
    #[error("inconsistent PKI directory: {0}")]
    Inconsistent(String),
    #[error("{0:?} is not usable as a certificate name (letters, digits, '.', '-', '_')")]
    BadName(String),
    #[error("{path}: {reason}")]
    BadCertificate { path: PathBuf, reason: String },
}

/// The files of a development PKI directory.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DevPki {
    pub dir: PathBuf,
    pub ca_cert: PathBuf,
    pub ca_key: PathBuf,
    pub server_cert: PathBuf,
    pub server_key: PathBuf,
    pub client_cert: PathBuf,
    pub client_key: PathBuf,
    /// The CA's certificate revocation list, once `kmipd certs revoke` has written one.
    pub crl: PathBuf,
}

impl DevPki {
    /// The paths of a PKI in `dir`; nothing is read or written.
    pub fn paths(dir: &Path) -> DevPki {
        DevPki {
            dir: dir.to_path_buf(),
            ca_cert: dir.join("ca.pem"),
            ca_key: dir.join("ca.key"),
            server_cert: dir.join("server.pem"),
            server_key: dir.join("server.key"),
            client_cert: dir.join("client.pem"),
            client_key: dir.join("client.key"),
            crl: dir.join("ca.crl"),
        }
    }

    /// Creates a new CA, server and client certificate in `dir`. Fails if any of the six
    /// files already exists.
    pub fn create(dir: &Path) -> Result<DevPki, PkiError> {
        let pki = DevPki::paths(dir);
        prepare_dir(dir)?;
        for path in pki.all() {
            if path.exists() {
                return Err(PkiError::Exists(path.to_path_buf()));
            }
        }
        let (ca_params, ca_key) = new_ca(&pki)?;
        let issuer = Issuer::from_params(&ca_params, &ca_key);
        issue_server(&issuer, &pki.server_cert, &pki.server_key)?;
        issue_leaf(
            &issuer,
            DEFAULT_CLIENT_CN,
            &pki.client_cert,
            &pki.client_key,
        )?;
        Ok(pki)
    }

    /// Reuses whatever already exists in `dir` and creates only what is missing.
    ///
    /// A certificate and its key are reused or created together; a lone half of a pair, or
    /// leaf certificates without their CA, are an error rather than a silent re-issue.
    pub fn load_or_create(dir: &Path) -> Result<DevPki, PkiError> {
        let pki = DevPki::paths(dir);
        prepare_dir(dir)?;
        let ca = pair_state(&pki.ca_cert, &pki.ca_key)?;
        let server = pair_state(&pki.server_cert, &pki.server_key)?;
        let client = pair_state(&pki.client_cert, &pki.client_key)?;
        if !ca && (server || client) {
            return Err(PkiError::Inconsistent(format!(
                "{} is missing but certificates it would have signed exist",
                pki.ca_cert.display()
            )));
        }
        if !ca {
            return DevPki::create(dir);
        }
        if !server || !client {
            let ca_key = KeyPair::from_pem(&read(&pki.ca_key)?)?;
            let issuer = Issuer::from_ca_cert_pem(&read(&pki.ca_cert)?, &ca_key)?;
            if !server {
                issue_server(&issuer, &pki.server_cert, &pki.server_key)?;
            }
            if !client {
                issue_leaf(
                    &issuer,
                    DEFAULT_CLIENT_CN,
                    &pki.client_cert,
                    &pki.client_key,
                )?;
            }
        }
        Ok(pki)
    }

    fn all(&self) -> [&Path; 6] {
        [
            &self.ca_cert,
            &self.ca_key,
            &self.server_cert,
            &self.server_key,
            &self.client_cert,
            &self.client_key,
        ]
    }
}

/// Issues a client certificate with subject CN `cn`, signed by the development CA in
/// `pki_dir`, into `out_dir/CN.pem` and `out_dir/CN.key`. Returns both paths.
pub fn issue_client(
    pki_dir: &Path,
    cn: &str,
    out_dir: &Path,
) -> Result<(PathBuf, PathBuf), PkiError> {
    let valid = !cn.is_empty()
        && !cn.starts_with('.')
        && cn.len() <= 64
        && cn
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_'));
    if !valid {
        return Err(PkiError::BadName(cn.to_string()));
    }
    let pki = DevPki::paths(pki_dir);
    let ca_key = KeyPair::from_pem(&read(&pki.ca_key)?)?;
    let issuer = Issuer::from_ca_cert_pem(&read(&pki.ca_cert)?, &ca_key)?;
    if !out_dir.exists() {
        prepare_dir(out_dir)?;
    }
    let cert = out_dir.join(format!("{cn}.pem"));
    let key = out_dir.join(format!("{cn}.key"));
    for path in [&cert, &key] {
        if path.exists() {
            return Err(PkiError::Exists(path.clone()));
        }
    }
    issue_leaf(&issuer, cn, &cert, &key)?;
    Ok((cert, key))
}

/// What [`revoke`] did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Revoked {
    /// The certificate's serial number, hex.
    pub serial: String,
    /// Its subject.
    pub subject: String,
    /// False when the list already named it (nothing was written).
    pub added: bool,
    /// How many certificates the list names.
    pub listed: usize,
    pub crl: PathBuf,
}

/// Revokes a certificate issued by the development CA in `pki_dir`: its CRL (`ca.crl`, PEM)
/// is written anew with the certificate added, the entries it had kept, the next CRL
/// Number, and put in place atomically (a running server picks it up within a second).
/// Revoking a certificate already listed changes nothing. A certificate of another CA is
/// refused: this CA's list could not revoke it.
pub fn revoke(
    pki_dir: &Path,
    cert_path: &Path,
    reason: RevocationReason,
) -> Result<Revoked, PkiError> {
    let pki = DevPki::paths(pki_dir);
    let bad = |reason: String| PkiError::BadCertificate {
        path: cert_path.to_path_buf(),
        reason,
    };
    let ca_pem = read(&pki.ca_cert)?;
    let ca_key = KeyPair::from_pem(&read(&pki.ca_key)?)?;
    let issuer = Issuer::from_ca_cert_pem(&ca_pem, &ca_key)?;
    let ca_der = pem_der(&ca_pem, "CERTIFICATE").ok_or_else(|| {
        PkiError::Inconsistent(format!("{}: no certificate", pki.ca_cert.display()))
    })?;
    let (_, ca) = X509Certificate::from_der(&ca_der)
        .map_err(|e| PkiError::Inconsistent(format!("{}: {e}", pki.ca_cert.display())))?;
    let cert_der = pem_der(&read(cert_path)?, "CERTIFICATE")
        .ok_or_else(|| bad("no PEM certificate".into()))?;
    let (_, cert) = X509Certificate::from_der(&cert_der).map_err(|e| bad(e.to_string()))?;
    // Every development CA has the same name: its key identifier tells them apart.
    if cert.issuer().as_raw() != ca.subject().as_raw()
        || matches!(
            (authority_key_id(&cert), subject_key_id(&ca)),
            (Some(a), Some(s)) if a != s
        )
    {
        return Err(bad(format!(
            "issued by {}, not by the development CA {}",
            cert.issuer(),
            ca.subject()
        )));
    }
    let serial = cert.raw_serial().to_vec();
    // What the current list holds.
    let mut revoked = Vec::new();
    let mut number = 0u64;
    if pki.crl.exists() {
        let der = pem_der(&read(&pki.crl)?, "X509 CRL")
            .ok_or_else(|| PkiError::Inconsistent(format!("{}: no PEM CRL", pki.crl.display())))?;
        let (_, crl) = CertificateRevocationList::from_der(&der)
            .map_err(|e| PkiError::Inconsistent(format!("{}: {e}", pki.crl.display())))?;
        number = crl
            .crl_number()
            .and_then(|n| u64::try_from(n).ok())
            .unwrap_or(0);
        for entry in crl.iter_revoked_certificates() {
            revoked.push(RevokedCertParams {
                serial_number: SerialNumber::from_slice(entry.raw_serial()),
                revocation_time: entry.revocation_date.to_datetime(),
                reason_code: entry.reason_code().and_then(|(_, r)| reason_from_code(r.0)),
                invalidity_date: None,
            });
        }
    }
    let listed_before = revoked
        .iter()
        .any(|r| r.serial_number == SerialNumber::from_slice(&serial));
    let result = |added, listed| Revoked {
        serial: hex::encode(&serial),
        subject: cert.subject().to_string(),
        added,
        listed,
        crl: pki.crl.clone(),
    };
    if listed_before {
        return Ok(result(false, revoked.len()));
    }
    let now = OffsetDateTime::now_utc();
    revoked.push(RevokedCertParams {
        serial_number: SerialNumber::from_slice(&serial),
        revocation_time: now,
        reason_code: Some(reason),
        invalidity_date: None,
    });
    let params = CertificateRevocationListParams {
        this_update: now,
        next_update: now + CRL_VALIDITY,
        crl_number: SerialNumber::from_slice(&(number + 1).to_be_bytes()),
        issuing_distribution_point: None,
        revoked_certs: revoked,
        key_identifier_method: KeyIdMethod::Sha256,
    };
    let crl = params.signed_by(&issuer)?;
    let listed = params.revoked_certs.len();
    replace(&pki.crl, crl.pem()?.as_bytes(), 0o644)?;
    Ok(result(true, listed))
}

/// The DER of the first certificate (`label` "CERTIFICATE") or CRL ("X509 CRL") in `pem`.
fn pem_der(pem: &str, label: &str) -> Option<Vec<u8>> {
    let mut reader = pem.as_bytes();
    if label == "X509 CRL" {
        rustls_pemfile::crls(&mut reader)
            .next()?
            .ok()
            .map(|c| c.as_ref().to_vec())
    } else {
        rustls_pemfile::certs(&mut reader)
            .next()?
            .ok()
            .map(|c| c.as_ref().to_vec())
    }
}

fn authority_key_id<'a>(cert: &X509Certificate<'a>) -> Option<&'a [u8]> {
    cert.extensions()
        .iter()
        .find_map(|e| match e.parsed_extension() {
            ParsedExtension::AuthorityKeyIdentifier(aki) => {
                aki.key_identifier.as_ref().map(|k| k.0)
            }
            _ => None,
        })
}

fn subject_key_id<'a>(cert: &X509Certificate<'a>) -> Option<&'a [u8]> {
    cert.extensions()
        .iter()
        .find_map(|e| match e.parsed_extension() {
            ParsedExtension::SubjectKeyIdentifier(k) => Some(k.0),
            _ => None,
        })
}

fn reason_from_code(code: u8) -> Option<RevocationReason> {
    Some(match code {
        0 => RevocationReason::Unspecified,
        1 => RevocationReason::KeyCompromise,
        2 => RevocationReason::CaCompromise,
        3 => RevocationReason::AffiliationChanged,
        4 => RevocationReason::Superseded,
        5 => RevocationReason::CessationOfOperation,
        6 => RevocationReason::CertificateHold,
        8 => RevocationReason::RemoveFromCrl,
        9 => RevocationReason::PrivilegeWithdrawn,
        10 => RevocationReason::AaCompromise,
        _ => return None,
    })
}

/// Writes `path` whole or not at all: a new file beside it, synced, renamed over it, and the
/// directory synced.
fn replace(path: &Path, contents: &[u8], mode: u32) -> Result<(), PkiError> {
    let io = |source| PkiError::Io {
        path: path.to_path_buf(),
        source,
    };
    let partial = path.with_extension("partial");
    match fs::remove_file(&partial) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(io(e)),
    }
    write_new(&partial, contents, mode)?;
    fs::rename(&partial, path).map_err(io)?;
    if let Some(dir) = path.parent() {
        fs::File::open(dir).and_then(|d| d.sync_all()).map_err(io)?;
    }
    Ok(())
}

fn new_ca(pki: &DevPki) -> Result<(CertificateParams, KeyPair), PkiError> {
    let key = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256)?;
    let mut params = base_params("kmipd development CA", CA_VALIDITY);
    params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
    params.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    let cert = params.self_signed(&key)?;
    write_new(&pki.ca_key, key.serialize_pem().as_bytes(), 0o600)?;
    write_new(&pki.ca_cert, cert.pem().as_bytes(), 0o644)?;
    Ok((params, key))
}

fn issue_server(
    issuer: &Issuer<'_, &KeyPair>,
    cert_path: &Path,
    key_path: &Path,
) -> Result<(), PkiError> {
    let key = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256)?;
    let mut params = base_params("localhost", LEAF_VALIDITY);
    params.subject_alt_names = vec![
        SanType::DnsName("localhost".try_into()?),
        SanType::IpAddress([127, 0, 0, 1].into()),
        SanType::IpAddress(std::net::Ipv6Addr::LOCALHOST.into()),
    ];
    params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    params.use_authority_key_identifier_extension = true;
    let cert = params.signed_by(&key, issuer)?;
    write_new(key_path, key.serialize_pem().as_bytes(), 0o600)?;
    write_new(cert_path, cert.pem().as_bytes(), 0o644)?;
    Ok(())
}

fn issue_leaf(
    issuer: &Issuer<'_, &KeyPair>,
    cn: &str,
    cert_path: &Path,
    key_path: &Path,
) -> Result<(), PkiError> {
    let key = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256)?;
    let mut params = base_params(cn, LEAF_VALIDITY);
    params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
    params.use_authority_key_identifier_extension = true;
    let cert = params.signed_by(&key, issuer)?;
    write_new(key_path, key.serialize_pem().as_bytes(), 0o600)?;
    write_new(cert_path, cert.pem().as_bytes(), 0o644)?;
    Ok(())
}

fn base_params(cn: &str, validity: Duration) -> CertificateParams {
    let mut params = CertificateParams::default();
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CommonName, cn);
    params.distinguished_name = dn;
    let now = OffsetDateTime::now_utc();
    params.not_before = now - BACKDATE;
    params.not_after = now + validity;
    params.serial_number = Some(random_serial());
    params
}

/// A positive 128-bit serial with its top byte non-zero, so its DER length is fixed.
fn random_serial() -> SerialNumber {
    let mut bytes = [0u8; 16];
    rand::fill(&mut bytes[..]);
    bytes[0] = (bytes[0] & 0x7F) | 0x40;
    SerialNumber::from_slice(&bytes)
}

/// Creates `dir` (and parents) if needed and restricts it to its owner.
fn prepare_dir(dir: &Path) -> Result<(), PkiError> {
    let io = |source| PkiError::Io {
        path: dir.to_path_buf(),
        source,
    };
    fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .map_err(io)?;
    fs::set_permissions(dir, fs::Permissions::from_mode(0o700)).map_err(io)
}

/// Whether a certificate and its key both exist (true), neither (false), or only one (error).
fn pair_state(cert: &Path, key: &Path) -> Result<bool, PkiError> {
    match (cert.exists(), key.exists()) {
        (true, true) => Ok(true),
        (false, false) => Ok(false),
        (true, false) => Err(PkiError::Inconsistent(format!(
            "{} has no key",
            cert.display()
        ))),
        (false, true) => Err(PkiError::Inconsistent(format!(
            "{} has no certificate",
            key.display()
        ))),
    }
}

fn read(path: &Path) -> Result<String, PkiError> {
    fs::read_to_string(path).map_err(|source| PkiError::Io {
        path: path.to_path_buf(),
        source,
    })
}

fn write_new(path: &Path, contents: &[u8], mode: u32) -> Result<(), PkiError> {
    let io = |source: std::io::Error| {
        if source.kind() == std::io::ErrorKind::AlreadyExists {
            PkiError::Exists(path.to_path_buf())
        } else {
            PkiError::Io {
                path: path.to_path_buf(),
                source,
            }
        }
    };
    let mut file = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(mode)
        .open(path)
        .map_err(io)?;
    file.write_all(contents).map_err(io)?;
    file.sync_all().map_err(io)
}
