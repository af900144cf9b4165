//! The development PKI and the TLS policy, tested over real TLS on 127.0.0.1:0:
//! who gets in (CA-issued, pinned, unknown, certificate-less clients), which protocol
//! versions and suites are served, and session resumption.

mod server_util;

use std::os::unix::fs::PermissionsExt;
use std::sync::Arc;
use std::time::Duration;

use kmipd::server::tls::{self, IdentitySource};
use kmipd::server::{DevPki, PkiError, issue_client, revoke_client};
use rcgen::{CertificateParams, DnType, KeyPair, PKCS_ECDSA_P256_SHA256};
use rustls::HandshakeKind;
use rustls::crypto::aws_lc_rs::{self, cipher_suite};
use server_util::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use x509_parser::prelude::*;

fn mode(path: &std::path::Path) -> u32 {
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

#[test]
fn dev_pki_files_modes_and_contents() {
    let (_tmp, pki) = new_pki();
    assert_eq!(mode(&pki.dir), 0o700);
    for key in [&pki.ca_key, &pki.server_key, &pki.client_key] {
        assert_eq!(mode(key), 0o600, "{}", key.display());
    }

    let server = &tls::load_certs(&pki.server_cert).unwrap()[0];
    let (_, cert) = X509Certificate::from_der(server).unwrap();
    let san = cert.subject_alternative_name().unwrap().unwrap();
    let names: Vec<String> = san
        .value
        .general_names
        .iter()
        .map(|n| match n {
            GeneralName::DNSName(d) => d.to_string(),
            GeneralName::IPAddress(ip) => format!("ip{ip:?}"),
            other => format!("{other:?}"),
        })
        .collect();
    assert!(names.contains(&"localhost".to_string()), "{names:?}");
    assert!(
        names.contains(&format!("ip{:?}", &[127u8, 0, 0, 1][..])),
        "{names:?}"
    );
    assert!(names.contains(&format!(
        "ip{:?}",
        &std::net::Ipv6Addr::LOCALHOST.octets()[..]
    )));
    let eku = cert.extended_key_usage().unwrap().unwrap().value;
    assert!(eku.server_auth && !eku.client_auth);
    assert_eq!(
        cert.public_key().algorithm.algorithm,
        x509_parser::oid_registry::OID_KEY_TYPE_EC_PUBLIC_KEY
    );

    let client = &tls::load_certs(&pki.client_cert).unwrap()[0];
    let (_, cert) = X509Certificate::from_der(client).unwrap();
    let eku = cert.extended_key_usage().unwrap().unwrap().value;
    assert!(eku.client_auth && !eku.server_auth);
    let principal = tls::principal_from_cert(client, IdentitySource::CommonName).unwrap();
    assert_eq!(principal.name, "admin");
    assert_eq!(principal.cert_sha256, tls::fingerprint(client));

    let ca = &tls::load_certs(&pki.ca_cert).unwrap()[0];
    let (_, ca) = X509Certificate::from_der(ca).unwrap();
    assert!(ca.is_ca());
    let days = (ca.validity().not_after.timestamp() - ca.validity().not_before.timestamp()) / 86400;
    assert!((3600..=3700).contains(&days), "CA validity {days} days");
}

#[test]
fn dev_pki_is_never_overwritten() {
    let (_tmp, pki) = new_pki();
    let read = |p: &std::path::Path| std::fs::read(p).unwrap();
    let before: Vec<Vec<u8>> = [&pki.ca_key, &pki.server_key, &pki.client_cert]
        .into_iter()
        .map(|p| read(p))
        .collect();

    assert!(matches!(DevPki::create(&pki.dir), Err(PkiError::Exists(_))));
    assert_eq!(DevPki::load_or_create(&pki.dir).unwrap(), pki);
    // A missing client pair is re-issued by the existing CA; nothing else changes.
    std::fs::remove_file(&pki.client_cert).unwrap();
    std::fs::remove_file(&pki.client_key).unwrap();
    DevPki::load_or_create(&pki.dir).unwrap();
    assert_eq!(read(&pki.ca_key), before[0]);
    assert_eq!(read(&pki.server_key), before[1]);
    assert_ne!(read(&pki.client_cert), before[2]);
    // Half a pair is an error, not a silent re-issue.
    std::fs::remove_file(&pki.server_key).unwrap();
    assert!(matches!(
        DevPki::load_or_create(&pki.dir),
        Err(PkiError::Inconsistent(_))
    ));

    let out = pki.dir.parent().unwrap().join("issued");
    assert!(matches!(
        issue_client(&pki.dir, "../evil", &out),
        Err(PkiError::BadName(_))
    ));
    issue_client(&pki.dir, "vault-1", &out).unwrap();
    assert!(matches!(
        issue_client(&pki.dir, "vault-1", &out),
        Err(PkiError::Exists(_))
    ));
}

#[tokio::test]
async fn requests_are_answered_in_order() {
    let (_tmp, pki) = new_pki();
    let server = TestServer::echo(&pki, test_limits()).await;
    let mut stream = connect(server.addr, admin_client(&pki)).await.unwrap();
    assert_eq!(
        roundtrip(&mut stream, &request(1)).await.unwrap(),
        expected("admin", &request(1))
    );

    // Ten requests in one write, answered one by one in the order sent.
    let pipelined: Vec<u8> = (0..10).flat_map(request).collect();
    stream.write_all(&pipelined).await.unwrap();
    for n in 0..10 {
        let answer = tokio::time::timeout(PATIENCE, read_message(&mut stream))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(answer, expected("admin", &request(n)));
    }
    // A request split over many small writes is reassembled.
    let message = request(42);
    for chunk in message.chunks(3) {
        stream.write_all(chunk).await.unwrap();
        stream.flush().await.unwrap();
    }
    let answer = tokio::time::timeout(PATIENCE, read_message(&mut stream))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(answer, expected("admin", &message));
    assert_eq!(server.metrics.snapshot().requests, 12);

    // A client issued later by the same CA is known by its own CN.
    let out = pki.dir.parent().unwrap().join("issued");
    let (cert, key) = issue_client(&pki.dir, "vault-1", &out).unwrap();
    let answer = try_request(
        server.addr,
        client_config(&pki.ca_cert, &cert, &key),
        &request(7),
    )
    .await
    .unwrap();
    assert_eq!(answer, expected("vault-1", &request(7)));
    server.shutdown().await;
}

#[tokio::test]
async fn clients_without_a_trusted_certificate_are_refused() {
    let (_tmp, pki) = new_pki();
    let (_tmp2, stranger) = new_pki();
    let server = TestServer::echo(&pki, test_limits()).await;

    let anonymous = client_config_with(
        &pki.ca_cert,
        None,
        Arc::new(aws_lc_rs::default_provider()),
        rustls::DEFAULT_VERSIONS,
    );
    assert!(
        try_request(server.addr, anonymous, &request(1))
            .await
            .is_err()
    );

    let unknown_ca = client_config(&pki.ca_cert, &stranger.client_cert, &stranger.client_key);
    assert!(
        try_request(server.addr, unknown_ca, &request(2))
            .await
            .is_err()
    );

    server
        .wait_for("two handshake failures", |m| m.handshake_failures == 2)
        .await;
    assert_eq!(server.metrics.snapshot().requests, 0);
    // The legitimate client is unaffected.
    assert!(
        try_request(server.addr, admin_client(&pki), &request(3))
            .await
            .is_ok()
    );
    server.shutdown().await;
}

/// A self-signed client certificate (as vCenter presents) written to `dir`.
fn self_signed(dir: &std::path::Path, cn: &str) -> (std::path::PathBuf, std::path::PathBuf) {
    let key = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256).unwrap();
    let mut params = CertificateParams::default();
    params.distinguished_name.push(DnType::CommonName, cn);
    let cert = params.self_signed(&key).unwrap();
    let (cert_path, key_path) = (
        dir.join(format!("{cn}-self.pem")),
        dir.join(format!("{cn}-self.key")),
    );
    std::fs::write(&cert_path, cert.pem()).unwrap();
    std::fs::write(&key_path, key.serialize_pem()).unwrap();
    (cert_path, key_path)
}

#[tokio::test]
async fn pinned_self_signed_client_is_accepted_only_when_pinned() {
    let (tmp, pki) = new_pki();
    let (vc_cert, vc_key) = self_signed(tmp.path(), "vcenter");
    let (other_cert, other_key) = self_signed(tmp.path(), "impostor");
    let vcenter = client_config(&pki.ca_cert, &vc_cert, &vc_key);
    let pin = tls::fingerprint(&tls::load_certs(&vc_cert).unwrap()[0]);

    let unpinned = TestServer::echo(&pki, test_limits()).await;
    assert!(
        try_request(unpinned.addr, vcenter.clone(), &request(1))
            .await
            .is_err()
    );
    unpinned.shutdown().await;

    let mut with_pin = tls_settings(&pki);
    with_pin.pinned_clients = vec![pin];
    let pinned = TestServer::start(
        settings(with_pin, test_limits()),
        Echo {
            delay: Duration::ZERO,
        },
    )
    .await;
    let answer = try_request(pinned.addr, vcenter.clone(), &request(2))
        .await
        .unwrap();
    assert_eq!(answer, expected("vcenter", &request(2)));
    // CA-issued clients still pass through path validation; other self-signed ones do not.
    assert!(
        try_request(pinned.addr, admin_client(&pki), &request(3))
            .await
            .is_ok()
    );
    let impostor = client_config(&pki.ca_cert, &other_cert, &other_key);
    assert!(
        try_request(pinned.addr, impostor.clone(), &request(4))
            .await
            .is_err()
    );
    pinned.shutdown().await;

    // Only pins, no client CA: the pinned client alone gets in.
    let mut pins_only = tls_settings(&pki);
    pins_only.client_cas.clear();
    pins_only.pinned_clients = vec![pin];
    let server = TestServer::start(
        settings(pins_only, test_limits()),
        Echo {
            delay: Duration::ZERO,
        },
    )
    .await;
    assert!(try_request(server.addr, vcenter, &request(5)).await.is_ok());
    assert!(
        try_request(server.addr, admin_client(&pki), &request(6))
            .await
            .is_err()
    );
    assert!(
        try_request(server.addr, impostor, &request(7))
            .await
            .is_err()
    );
    server.shutdown().await;

    let mut nobody = tls_settings(&pki);
    nobody.client_cas.clear();
    assert!(matches!(
        tls::server_config(nobody),
        Err(tls::TlsError::NoClientTrust)
    ));
}

fn tls12_client(
    pki: &kmipd::server::DevPki,
    suite: rustls::SupportedCipherSuite,
) -> Arc<rustls::ClientConfig> {
    let mut provider = aws_lc_rs::default_provider();
    provider.cipher_suites = vec![suite];
    let identity = (
        tls::load_certs(&pki.client_cert).unwrap(),
        tls::load_key(&pki.client_key).unwrap(),
    );
    client_config_with(
        &pki.ca_cert,
        Some(identity),
        Arc::new(provider),
        &[&rustls::version::TLS12],
    )
}

#[tokio::test]
async fn tls12_serves_ecdhe_aes_gcm_only() {
    let (_tmp, pki) = new_pki();
    let server = TestServer::echo(&pki, test_limits()).await;

    let gcm = tls12_client(&pki, cipher_suite::TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256);
    let mut stream = connect(server.addr, gcm).await.unwrap();
    let (_, conn) = stream.get_ref();
    assert_eq!(
        conn.protocol_version(),
        Some(rustls::ProtocolVersion::TLSv1_2)
    );
    assert_eq!(
        conn.negotiated_cipher_suite().map(|s| s.suite()),
        Some(rustls::CipherSuite::TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256)
    );
    assert_eq!(
        roundtrip(&mut stream, &request(1)).await.unwrap(),
        expected("admin", &request(1))
    );

    let chacha = tls12_client(
        &pki,
        cipher_suite::TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256,
    );
    assert!(try_request(server.addr, chacha, &request(2)).await.is_err());

    // rustls cannot offer CBC, so the CBC-only client speaks raw bytes. The GCM hello is the
    // control that shows the hand-made ClientHello is otherwise acceptable.
    assert_eq!(
        raw_hello_reply(server.addr, &[0xC02B]).await,
        Some(0x16),
        "GCM hello must get a ServerHello"
    );
    let cbc = [
        0xC023, 0xC024, 0xC009, 0xC00A, 0xC027, 0xC013, 0x003C, 0x002F, 0x0035,
    ];
    assert_eq!(
        raw_hello_reply(server.addr, &cbc).await,
        Some(0x15),
        "CBC-only hello must get an alert"
    );
    server.shutdown().await;
}

/// Sends a TLS 1.2 ClientHello offering `suites`; returns the content type of the first
/// record the server answers with (0x16 handshake, 0x15 alert), or `None` on a bare close.
async fn raw_hello_reply(addr: std::net::SocketAddr, suites: &[u16]) -> Option<u8> {
    let mut body = vec![0x03, 0x03];
    body.extend([0x5A; 32]);
    body.push(0);
    body.extend(((suites.len() * 2) as u16).to_be_bytes());
    suites.iter().for_each(|s| body.extend(s.to_be_bytes()));
    body.extend([1, 0]);
    let extensions: &[u8] = &[
        0x00, 0x0a, 0x00, 0x06, 0x00, 0x04, 0x00, 0x17, 0x00, 0x1d, // supported_groups
        0x00, 0x0b, 0x00, 0x02, 0x01, 0x00, // ec_point_formats
        0x00, 0x0d, 0x00, 0x08, 0x00, 0x06, 0x04, 0x03, 0x08, 0x04, 0x04,
        0x01, // signature_algorithms
    ];
    body.extend((extensions.len() as u16).to_be_bytes());
    body.extend(extensions);
    let mut handshake = vec![0x01];
    handshake.extend(&(body.len() as u32).to_be_bytes()[1..]);
    handshake.extend(body);
    let mut record = vec![0x16, 0x03, 0x01];
    record.extend((handshake.len() as u16).to_be_bytes());
    record.extend(handshake);

    let mut tcp = TcpStream::connect(addr).await.unwrap();
    tcp.write_all(&record).await.unwrap();
    let mut first = [0u8; 1];
    match tokio::time::timeout(PATIENCE, tcp.read(&mut first))
        .await
        .unwrap()
    {
        Ok(1) => Some(first[0]),
        _ => None,
    }
}

#[tokio::test]
async fn sessions_resume_with_tls13_and_tls12() {
    let (_tmp, pki) = new_pki();
    let server = TestServer::echo(&pki, test_limits()).await;
    let tls12 = tls12_client(&pki, cipher_suite::TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384);
    for (label, client) in [("TLS 1.3", admin_client(&pki)), ("TLS 1.2", tls12)] {
        for (attempt, kind) in [(1, HandshakeKind::Full), (2, HandshakeKind::Resumed)] {
            let mut stream = connect(server.addr, client.clone()).await.unwrap();
            // The round trip also takes in the TLS 1.3 tickets sent after the handshake.
            let answer = roundtrip(&mut stream, &request(attempt)).await.unwrap();
            assert_eq!(answer, expected("admin", &request(attempt)), "{label}");
            assert_eq!(
                stream.get_ref().1.handshake_kind(),
                Some(kind),
                "{label} connection {attempt}"
            );
            stream.shutdown().await.unwrap();
        }
    }
    server.shutdown().await;
}

/// The development PKI's TLS settings, with its CA's revocation list.
fn with_crl(pki: &DevPki) -> tls::TlsSettings {
    let mut s = tls_settings(pki);
    s.client_crls = tls::load_crls(&pki.crl).unwrap();
    s
}

/// A revoked client certificate is refused at the handshake; revoking one whose holder has
/// resumable sessions (TLS 1.3 tickets and TLS 1.2 session IDs), then reloading the TLS
/// configuration, refuses it too: the reload's new ticket key and session cache leave it
/// nothing to resume, and a connection she holds open is closed at its next request. Other
/// clients are unaffected throughout.
#[tokio::test]
async fn revoked_clients_are_refused_and_do_not_resume_after_a_reload() {
    use rcgen::RevocationReason;
    let (tmp, pki) = new_pki();
    let out = tmp.path().join("clients");
    let (bob_cert, bob_key) = issue_client(&pki.dir, "bob", &out).unwrap();
    let (carol_cert, carol_key) = issue_client(&pki.dir, "carol", &out).unwrap();
    let r = revoke_client(&pki.dir, &bob_cert, RevocationReason::KeyCompromise).unwrap();
    assert!(r.added && r.listed == 1, "{r:?}");
    assert!(r.subject.contains("bob"), "{r:?}");
    let again = revoke_client(&pki.dir, &bob_cert, RevocationReason::KeyCompromise).unwrap();
    assert!(
        !again.added && again.listed == 1,
        "revoking twice lists once: {again:?}"
    );
    assert_eq!(mode(&pki.crl), 0o644);

    let server = TestServer::start(
        settings(with_crl(&pki), test_limits()),
        Echo {
            delay: Duration::ZERO,
        },
    )
    .await;
    let bob = client_config(&pki.ca_cert, &bob_cert, &bob_key);
    assert!(try_request(server.addr, bob, &request(1)).await.is_err());
    server
        .wait_for("bob's handshake failure", |m| m.handshake_failures == 1)
        .await;

    let carol13 = client_config(&pki.ca_cert, &carol_cert, &carol_key);
    let carol12 = client_config_with(
        &pki.ca_cert,
        Some((
            tls::load_certs(&carol_cert).unwrap(),
            tls::load_key(&carol_key).unwrap(),
        )),
        Arc::new(aws_lc_rs::default_provider()),
        &[&rustls::version::TLS12],
    );
    for (label, client) in [("TLS 1.3", &carol13), ("TLS 1.2", &carol12)] {
        for (attempt, kind) in [(2, HandshakeKind::Full), (3, HandshakeKind::Resumed)] {
            let mut stream = connect(server.addr, client.clone()).await.unwrap();
            let answer = roundtrip(&mut stream, &request(attempt)).await.unwrap();
            assert_eq!(answer, expected("carol", &request(attempt)), "{label}");
            assert_eq!(stream.get_ref().1.handshake_kind(), Some(kind), "{label}");
            stream.shutdown().await.unwrap();
        }
    }

    // A connection carol holds open across her revocation.
    let mut held = connect(server.addr, carol13.clone()).await.unwrap();
    roundtrip(&mut held, &request(10)).await.unwrap();
    let mut admin_held = connect(server.addr, admin_client(&pki)).await.unwrap();
    roundtrip(&mut admin_held, &request(11)).await.unwrap();

    let r = revoke_client(&pki.dir, &carol_cert, RevocationReason::Superseded).unwrap();
    assert!(r.added && r.listed == 2, "{r:?}");
    server
        .settings
        .tls
        .reload(tls::server_tls(with_crl(&pki)).unwrap());
    for (label, client) in [("TLS 1.3", carol13), ("TLS 1.2", carol12)] {
        assert!(
            try_request(server.addr, client, &request(4)).await.is_err(),
            "{label}: revoked carol got in after the reload"
        );
    }
    // Her open connection is closed at its next request; the administrator's is served.
    assert!(roundtrip(&mut held, &request(12)).await.is_err());
    assert_eq!(server.metrics.snapshot().clients_no_longer_trusted, 1);
    assert_eq!(
        roundtrip(&mut admin_held, &request(13)).await.unwrap(),
        expected("admin", &request(13))
    );
    server
        .wait_for("carol's two handshake failures", |m| {
            m.handshake_failures == 3
        })
        .await;
    assert!(
        try_request(server.addr, admin_client(&pki), &request(5))
            .await
            .is_ok()
    );
    server.shutdown().await;
}

/// With revocation lists configured, a client whose CA has none among them is refused:
/// its status cannot be known, and the server fails closed.
#[tokio::test]
async fn a_client_ca_without_a_revocation_list_is_refused_once_lists_are_used() {
    use rcgen::RevocationReason;
    let (_tmp, pki) = new_pki();
    let (_tmp2, other) = new_pki();
    revoke_client(
        &other.dir,
        &other.client_cert,
        RevocationReason::Unspecified,
    )
    .unwrap();
    let mut s = tls_settings(&pki);
    s.client_crls = tls::load_crls(&other.crl).unwrap();
    let server = TestServer::start(
        settings(s, test_limits()),
        Echo {
            delay: Duration::ZERO,
        },
    )
    .await;
    assert!(
        try_request(server.addr, admin_client(&pki), &request(1))
            .await
            .is_err()
    );
    server
        .wait_for("the handshake failure", |m| m.handshake_failures == 1)
        .await;
    assert_eq!(server.metrics.snapshot().requests, 0);
    server.shutdown().await;
}

/// A CRL file must hold a CRL: PEM or DER are read, anything else is an error naming it.
#[test]
fn crl_files_are_read_as_pem_or_der_and_checked() {
    use rcgen::RevocationReason;
    let (tmp, pki) = new_pki();
    revoke_client(&pki.dir, &pki.client_cert, RevocationReason::Unspecified).unwrap();
    let pem = tls::load_crls(&pki.crl).unwrap();
    assert_eq!(pem.len(), 1);
    let der = tmp.path().join("ca.crl.der");
    std::fs::write(&der, pem[0].as_ref()).unwrap();
    assert_eq!(tls::load_crls(&der).unwrap(), pem);
    let junk = tmp.path().join("junk.crl");
    std::fs::write(&junk, b"not a CRL").unwrap();
    let e = tls::load_crls(&junk).unwrap_err();
    assert!(e.to_string().contains("junk.crl"), "{e}");
    let cert_not_crl = tmp.path().join("cert.crl");
    std::fs::write(&cert_not_crl, std::fs::read(&pki.ca_cert).unwrap()).unwrap();
    assert!(tls::load_crls(&cert_not_crl).is_err());
    // A certificate of another CA cannot be revoked by this one.
    let (_tmp2, other) = new_pki();
    let e = revoke_client(&pki.dir, &other.client_cert, RevocationReason::Unspecified).unwrap_err();
    assert!(e.to_string().contains("not by the development CA"), "{e}");
}

#[test]
fn principal_from_a_configured_san() {
    let key = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256).unwrap();
    let mut params = CertificateParams::new(vec!["db1.example.com".to_string()]).unwrap();
    params.distinguished_name.push(DnType::CommonName, "db1");
    params.subject_alt_names.push(rcgen::SanType::Rfc822Name(
        "ops@example.com".try_into().unwrap(),
    ));
    params.subject_alt_names.push(rcgen::SanType::URI(
        "spiffe://example.com/db1".try_into().unwrap(),
    ));
    let cert = params.self_signed(&key).unwrap();
    let der = cert.der();
    let name = |source| tls::principal_from_cert(der, source).map(|p| p.name);
    assert_eq!(name(IdentitySource::CommonName).unwrap(), "db1");
    assert_eq!(name(IdentitySource::SanDns).unwrap(), "db1.example.com");
    assert_eq!(name(IdentitySource::SanEmail).unwrap(), "ops@example.com");
    assert_eq!(
        name(IdentitySource::SanUri).unwrap(),
        "spiffe://example.com/db1"
    );

    let bare = CertificateParams::default().self_signed(&key).unwrap();
    assert_eq!(
        tls::principal_from_cert(bare.der(), IdentitySource::SanEmail),
        Err(tls::IdentityError::Missing(IdentitySource::SanEmail))
    );
}
