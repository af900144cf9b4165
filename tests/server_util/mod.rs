//! Shared fixtures of the server tests: a development PKI in a tempdir, a server on
//! 127.0.0.1:0 with a test handler, and a rustls client.
#![allow(dead_code)]

use std::borrow::Cow;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use kmipd::server::{self, DevPki, Handler, Limits, Metrics, Principal, Settings, TlsSettings};
use kmipd::ttlv::{self, Item, Value};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use tokio_rustls::TlsConnector;
use tokio_rustls::client::TlsStream;

/// Generous bound on any single client-side wait, so a broken server fails a test instead
/// of hanging it, while a loaded machine has plenty of slack.
pub const PATIENCE: Duration = Duration::from_secs(20);

pub const REQUEST_MESSAGE: u32 = 0x42_0078;
pub const RESPONSE_MESSAGE: u32 = 0x42_007B;
pub const BATCH_COUNT: u32 = 0x42_000D;
pub const USERNAME: u32 = 0x42_0099;
pub const DATA: u32 = 0x42_00C2;

/// A request message carrying the number `n`.
pub fn request(n: i32) -> Vec<u8> {
    ttlv::encode(&Item::structure(
        REQUEST_MESSAGE,
        vec![Item::new(BATCH_COUNT, Value::Integer(n))],
    ))
}

/// What [`Echo`] answers: the principal's name and the request bytes.
pub fn expected(principal: &str, request: &[u8]) -> Vec<u8> {
    ttlv::encode(&Item::structure(
        RESPONSE_MESSAGE,
        vec![
            Item::new(USERNAME, Value::TextString(Cow::Borrowed(principal))),
            Item::new(DATA, Value::ByteString(Cow::Borrowed(request))),
        ],
    ))
}

/// Answers every request with [`expected`], after sleeping `delay`.
pub struct Echo {
    pub delay: Duration,
}

impl Handler for Echo {
    fn handle(&self, principal: &Principal, request: &[u8]) -> Vec<u8> {
        if !self.delay.is_zero() {
            std::thread::sleep(self.delay);
        }
        expected(&principal.name, request)
    }
}

pub fn new_pki() -> (tempfile::TempDir, DevPki) {
    let dir = tempfile::tempdir().unwrap();
    let pki = DevPki::create(&dir.path().join("pki")).unwrap();
    (dir, pki)
}

pub fn tls_settings(pki: &DevPki) -> TlsSettings {
    TlsSettings::from_pem_files(&pki.server_cert, &pki.server_key, &pki.ca_cert).unwrap()
}

pub fn settings(tls: TlsSettings, limits: Limits) -> Settings {
    let mut settings = Settings::new(server::tls::server_config(tls).unwrap());
    settings.limits = limits;
    settings
}

/// Limits small enough for tests, large enough for a loaded machine.
pub fn test_limits() -> Limits {
    Limits {
        max_message_size: 4096,
        max_connections: 64,
        max_handshakes_per_address: 32,
        max_connections_per_principal: None,
        handshake_timeout: Duration::from_secs(2),
        idle_timeout: Duration::from_secs(2),
        shutdown_grace: Duration::from_secs(10),
    }
}

pub struct TestServer {
    pub addr: SocketAddr,
    pub metrics: Arc<Metrics>,
    /// The running server's settings (its TLS configuration can be replaced).
    pub settings: Arc<Settings>,
    stop: Option<oneshot::Sender<()>>,
    task: JoinHandle<()>,
}

impl TestServer {
    pub async fn start(settings: Settings, handler: impl Handler) -> TestServer {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let metrics = settings.metrics.clone();
        let settings = Arc::new(settings);
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(server::run(
            listener,
            settings.clone(),
            Arc::new(handler),
            async move {
                let _ = stopped.await;
            },
        ));
        TestServer {
            addr,
            metrics,
            settings,
            stop: Some(stop),
            task,
        }
    }

    /// A server with `pki`'s TLS and `limits` that echoes every request at once ([`Echo`]).
    pub async fn echo(pki: &DevPki, limits: Limits) -> TestServer {
        let echo = Echo {
            delay: Duration::ZERO,
        };
        TestServer::start(settings(tls_settings(pki), limits), echo).await
    }

    /// Signals shutdown without waiting for the server to finish.
    pub fn signal_shutdown(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }

    /// Signals shutdown and waits for `run` to return.
    pub async fn shutdown(mut self) {
        self.signal_shutdown();
        tokio::time::timeout(PATIENCE, self.task)
            .await
            .expect("server did not stop")
            .unwrap();
    }

    /// Waits until `cond` holds for the counters (or fails the test after [`PATIENCE`]).
    pub async fn wait_for(&self, what: &str, cond: impl Fn(&server::MetricsSnapshot) -> bool) {
        let deadline = tokio::time::Instant::now() + PATIENCE;
        loop {
            let snapshot = self.metrics.snapshot();
            if cond(&snapshot) {
                return;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "timed out waiting for {what}: {snapshot:?}"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

pub fn ca_roots(ca_pem: &Path) -> rustls::RootCertStore {
    let mut roots = rustls::RootCertStore::empty();
    for cert in server::tls::load_certs(ca_pem).unwrap() {
        roots.add(cert).unwrap();
    }
    roots
}

fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::aws_lc_rs::default_provider())
}

/// A client trusting the development CA and presenting `cert`/`key`.
pub fn client_config(ca_pem: &Path, cert: &Path, key: &Path) -> Arc<rustls::ClientConfig> {
    let chain = server::tls::load_certs(cert).unwrap();
    let key = server::tls::load_key(key).unwrap();
    client_config_with(
        ca_pem,
        Some((chain, key)),
        provider(),
        rustls::DEFAULT_VERSIONS,
    )
}

pub fn client_config_with(
    ca_pem: &Path,
    identity: Option<(Vec<CertificateDer<'static>>, PrivateKeyDer<'static>)>,
    provider: Arc<rustls::crypto::CryptoProvider>,
    versions: &[&'static rustls::SupportedProtocolVersion],
) -> Arc<rustls::ClientConfig> {
    let builder = rustls::ClientConfig::builder_with_provider(provider)
        .with_protocol_versions(versions)
        .unwrap()
        .with_root_certificates(ca_roots(ca_pem));
    let config = match identity {
        Some((chain, key)) => builder.with_client_auth_cert(chain, key).unwrap(),
        None => builder.with_no_client_auth(),
    };
    Arc::new(config)
}

/// The development client (CN `admin`) of the PKI `kmipd serve` made in `data_dir/certs`.
pub fn dev_admin_client(data_dir: &Path) -> Arc<rustls::ClientConfig> {
    let certs = data_dir.join("certs");
    client_config(
        &certs.join("ca.pem"),
        &certs.join("client.pem"),
        &certs.join("client.key"),
    )
}

pub fn admin_client(pki: &DevPki) -> Arc<rustls::ClientConfig> {
    client_config(&pki.ca_cert, &pki.client_cert, &pki.client_key)
}

pub async fn connect(
    addr: SocketAddr,
    config: Arc<rustls::ClientConfig>,
) -> std::io::Result<TlsStream<TcpStream>> {
    let tcp = TcpStream::connect(addr).await?;
    let name = ServerName::try_from("localhost").unwrap();
    tokio::time::timeout(PATIENCE, TlsConnector::from(config).connect(name, tcp))
        .await
        .map_err(|_| std::io::Error::other("client handshake hung"))?
}

/// Reads one TTLV message (header, then the declared length).
pub async fn read_message<S: AsyncReadExt + Unpin>(stream: &mut S) -> std::io::Result<Vec<u8>> {
    let mut message = vec![0u8; 8];
    stream.read_exact(&mut message).await?;
    let len = u32::from_be_bytes(message[4..8].try_into().unwrap()) as usize;
    assert!(len < 1 << 20, "response too long for a test");
    message.resize(8 + len, 0);
    stream.read_exact(&mut message[8..]).await?;
    Ok(message)
}

/// Sends one request and reads one response, within [`PATIENCE`].
pub async fn roundtrip<S: AsyncReadExt + AsyncWriteExt + Unpin>(
    stream: &mut S,
    request: &[u8],
) -> std::io::Result<Vec<u8>> {
    tokio::time::timeout(PATIENCE, async {
        stream.write_all(request).await?;
        stream.flush().await?;
        read_message(stream).await
    })
    .await
    .map_err(|_| std::io::Error::other("no response in time"))?
}

/// Connects and makes one request: `Ok` only if the server answered.
pub async fn try_request(
    addr: SocketAddr,
    config: Arc<rustls::ClientConfig>,
    request: &[u8],
) -> std::io::Result<Vec<u8>> {
    let mut stream = connect(addr, config).await?;
    roundtrip(&mut stream, request).await
}

/// Waits until the server ends the connection (EOF or error); fails after [`PATIENCE`].
pub async fn expect_closed<S: AsyncReadExt + Unpin>(stream: &mut S) {
    let mut scratch = [0u8; 1024];
    let closed = tokio::time::timeout(PATIENCE, async {
        loop {
            match stream.read(&mut scratch).await {
                Ok(0) | Err(_) => return,
                Ok(_) => {}
            }
        }
    })
    .await;
    assert!(closed.is_ok(), "server kept the connection open");
}
