//! One client connection: TCP, then TLS with a client certificate, then framed request and
//! response messages, one at a time. Every wait is bounded by the caller's timeout, so a
//! silent or misconfigured server gives an error, never a hang.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use rustls::pki_types::ServerName;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;
use tokio_rustls::client::TlsStream;

use crate::server::tls::{load_certs, load_key};
use crate::ttlv::frame::{self, Frame};

/// Largest response accepted: ample for keys, certificates and Locate lists.
const MAX_RESPONSE: usize = 16 << 20;

/// Where and how to connect.
#[derive(Clone)]
pub struct Target {
    pub addr: String,
    pub server_name: ServerName<'static>,
    pub connector: TlsConnector,
    pub timeout: Duration,
}

/// Builds the rustls client configuration: the given CA as the only root, the client
/// certificate and key, TLS 1.3 and 1.2 with rustls's (aws-lc-rs) default suites, which
/// include the ECDHE-ECDSA/RSA-AES-GCM suites that KMIP 1.x profiles require.
pub fn tls_config(ca: &Path, cert: &Path, key: &Path) -> Result<Arc<rustls::ClientConfig>, String> {
    let mut roots = rustls::RootCertStore::empty();
    for c in load_certs(ca).map_err(|e| format!("--ca: {e}"))? {
        roots
            .add(c)
            .map_err(|e| format!("--ca {}: {e}", ca.display()))?;
    }
    let chain = load_certs(cert).map_err(|e| format!("--cert: {e}"))?;
    let key = load_key(key).map_err(|e| format!("--key: {e}"))?;
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])
        .map_err(|e| format!("TLS configuration: {e}"))?
        .with_root_certificates(roots)
        .with_client_auth_cert(chain, key)
        .map_err(|e| format!("--cert/--key: {e}"))?;
    Ok(Arc::new(config))
}

/// The server name to verify: `--server-name`, else the host part of `--addr`.
pub fn server_name(addr: &str, explicit: Option<&str>) -> Result<ServerName<'static>, String> {
    let host = match explicit {
        Some(name) => name.to_string(),
        None => {
            let host = match addr.rsplit_once(':') {
                Some((host, _)) => host,
                None => addr,
            };
            let host = host.trim_start_matches('[').trim_end_matches(']');
            if host.is_empty() { "localhost" } else { host }.to_string()
        }
    };
    ServerName::try_from(host.clone()).map_err(|_| format!("{host:?} is not a valid server name"))
}

/// A live connection.
pub struct Conn {
    stream: TlsStream<TcpStream>,
    buf: Vec<u8>,
}

/// Adds a hint to the TLS errors a misconfiguration causes.
fn explain(e: &std::io::Error) -> String {
    let text = e.to_string();
    let hint = if text.contains("UnknownIssuer") || text.contains("BadSignature") {
        " (is --ca the CA that issued the server's certificate?)"
    } else if text.contains("NotValidForName") || text.contains("not valid for name") {
        " (the server's certificate does not name this host: see --server-name)"
    } else if text.contains("alert") {
        " (the server refused the handshake: is the client certificate (--cert/--key) from a CA it trusts?)"
    } else {
        ""
    };
    format!("{text}{hint}")
}

async fn bounded<T>(
    timeout: Duration,
    what: &str,
    f: impl Future<Output = std::io::Result<T>>,
) -> Result<T, String> {
    match tokio::time::timeout(timeout, f).await {
        Ok(Ok(v)) => Ok(v),
        Ok(Err(e)) => Err(format!("{what}: {}", explain(&e))),
        Err(_) => Err(format!("{what}: no answer within {timeout:?}")),
    }
}

impl Conn {
    pub async fn connect(target: &Target) -> Result<Conn, String> {
        let tcp = bounded(
            target.timeout,
            &format!("connecting to {}", target.addr),
            TcpStream::connect(&target.addr),
        )
        .await?;
        let _ = tcp.set_nodelay(true);
        let stream = bounded(
            target.timeout,
            &format!("TLS handshake with {}", target.addr),
            target.connector.connect(target.server_name.clone(), tcp),
        )
        .await?;
        Ok(Conn {
            stream,
            buf: Vec::with_capacity(4096),
        })
    }

    /// Sends one request message and returns the response message's bytes.
    pub async fn call(&mut self, request: &[u8], timeout: Duration) -> Result<Vec<u8>, String> {
        bounded(timeout, "sending", async {
            self.stream.write_all(request).await?;
            self.stream.flush().await
        })
        .await?;
        bounded(timeout, "reading the response", self.read_message()).await
    }

    async fn read_message(&mut self) -> std::io::Result<Vec<u8>> {
        loop {
            match frame::check(&self.buf, MAX_RESPONSE) {
                Ok(Frame::Complete(n)) => {
                    let rest = self.buf.split_off(n);
                    return Ok(std::mem::replace(&mut self.buf, rest));
                }
                Ok(Frame::Incomplete { total }) => {
                    let want = total.unwrap_or(frame::HEADER_LEN).max(4096);
                    self.buf.reserve(want.saturating_sub(self.buf.len()));
                    let n = self.stream.read_buf(&mut self.buf).await?;
                    if n == 0 {
                        return Err(std::io::Error::new(
                            std::io::ErrorKind::UnexpectedEof,
                            "the server closed the connection",
                        ));
                    }
                }
                Err(e) => {
                    return Err(std::io::Error::new(
                        std::io::ErrorKind::InvalidData,
                        format!("unframeable response: {e}"),
                    ));
                }
            }
        }
    }
}
