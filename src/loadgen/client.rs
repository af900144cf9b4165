//! One client connection: TCP, then TLS with a client certificate, then framed request and
//! response messages, one at a time: TTLV straight over TLS, or each message POSTed as the
//! body of an HTTP/1.1 request (KMIP over HTTPS, `--http PATH`). Every wait is bounded by
//! the caller's timeout, so a silent or misconfigured server gives an error, never a hang.

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
    /// KMIP over HTTPS: the path requests are POSTed to; `None` for TTLV over TLS.
    pub http_path: Option<String>,
    /// Connections being opened at once (TCP and TLS handshake) are at most this many
    /// ([`CONNECTS_AT_ONCE`]), so that many connections open as a steady stream rather than
    /// as one burst, which a server may hold against one address (kmipd's
    /// `max_handshakes_per_address`).
    pub connecting: Arc<tokio::sync::Semaphore>,
}

/// Handshakes the load generator runs at once ([`Target::connecting`]).
pub const CONNECTS_AT_ONCE: usize = 8;

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
    /// The request line and fixed header fields of KMIP over HTTPS, up to the length.
    http_head: Option<String>,
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
        let _turn = target
            .connecting
            .acquire()
            .await
            .map_err(|_| "the run is over".to_string())?;
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
        let http_head = target.http_path.as_ref().map(|path| {
            format!(
                "POST {path} HTTP/1.1\r\nHost: {}\r\nContent-Type: application/octet-stream\r\n\
                 Cache-Control: no-cache\r\nContent-Length: ",
                target.addr
            )
        });
        Ok(Conn {
            stream,
            buf: Vec::with_capacity(4096),
            http_head,
        })
    }

    /// Sends one request message and returns the response message's bytes.
    pub async fn call(&mut self, request: &[u8], timeout: Duration) -> Result<Vec<u8>, String> {
        let Some(head) = &self.http_head else {
            bounded(timeout, "sending", async {
                self.stream.write_all(request).await?;
                self.stream.flush().await
            })
            .await?;
            return bounded(timeout, "reading the response", self.read_message()).await;
        };
        let mut message = Vec::with_capacity(head.len() + 16 + request.len());
        message.extend_from_slice(head.as_bytes());
        message.extend_from_slice(format!("{}\r\n\r\n", request.len()).as_bytes());
        message.extend_from_slice(request);
        bounded(timeout, "sending", async {
            self.stream.write_all(&message).await?;
            self.stream.flush().await
        })
        .await?;
        bounded(timeout, "reading the response", self.read_http_body()).await
    }

    /// Reads one HTTP answer; the body of a `200`, else an error naming the status.
    async fn read_http_body(&mut self) -> std::io::Result<Vec<u8>> {
        let invalid = |what: String| std::io::Error::new(std::io::ErrorKind::InvalidData, what);
        loop {
            let mut fields = [httparse::EMPTY_HEADER; 32];
            let mut answer = httparse::Response::new(&mut fields);
            let parsed = answer
                .parse(&self.buf)
                .map_err(|e| invalid(format!("unreadable HTTP answer: {e}")))?;
            if let httparse::Status::Complete(head) = parsed {
                let status = answer.code.unwrap_or(0);
                let len = answer
                    .headers
                    .iter()
                    .find(|h| h.name.eq_ignore_ascii_case("content-length"))
                    .and_then(|h| {
                        std::str::from_utf8(h.value)
                            .ok()?
                            .trim()
                            .parse::<usize>()
                            .ok()
                    })
                    .ok_or_else(|| invalid("HTTP answer without a Content-Length".into()))?;
                if len > MAX_RESPONSE {
                    return Err(invalid(format!("HTTP answer of {len} bytes")));
                }
                while self.buf.len() < head + len {
                    self.read_more(head + len).await?;
                }
                let rest = self.buf.split_off(head + len);
                let body = self.buf.split_off(head);
                self.buf = rest;
                if status != 200 {
                    return Err(invalid(format!(
                        "HTTP {status}: {}",
                        String::from_utf8_lossy(&body).trim()
                    )));
                }
                return Ok(body);
            }
            if self.buf.len() > 64 * 1024 {
                return Err(invalid("HTTP answer head over 64 KiB".into()));
            }
            self.read_more(self.buf.len() + 4096).await?;
        }
    }

    /// Reads more bytes into the buffer, reserving room for `total`.
    async fn read_more(&mut self, total: usize) -> std::io::Result<()> {
        self.buf
            .reserve(total.saturating_sub(self.buf.len()).max(4096));
        let n = self.stream.read_buf(&mut self.buf).await?;
        if n == 0 {
            return Err(std::io::Error::new(
                std::io::ErrorKind::UnexpectedEof,
                "the server closed the connection",
            ));
        }
        Ok(())
    }

    async fn read_message(&mut self) -> std::io::Result<Vec<u8>> {
        loop {
            match frame::check(&self.buf, MAX_RESPONSE) {
                Ok(Frame::Complete(n)) => {
                    let rest = self.buf.split_off(n);
                    return Ok(std::mem::replace(&mut self.buf, rest));
                }
                Ok(Frame::Incomplete { total }) => {
                    self.read_more(total.unwrap_or(frame::HEADER_LEN)).await?;
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
