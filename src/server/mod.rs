//! The network front of kmipd: a tokio listener, rustls with mandatory client certificates,
//! one task per connection, limits, timeouts, graceful shutdown and counters.
//!
//! Layout:
//! - `pki`: a development CA with server and client certificates (rcgen);
//! - `tls`: the rustls server configuration, pinned client certificates, the [`Principal`];
//! - `admission`: who gets a connection slot while handshakes are unfinished (a cap per
//!   client address, and the oldest stalled handshake giving way when the server is full);
//! - `connection`: one connection: handshake, then framed requests answered in order;
//! - `http`: KMIP over HTTPS on the same port (TTLV, XML or JSON bodies), told apart from
//!   TTLV by a connection's first two bytes;
//! - `metrics`: connection-layer counters.
//!
//! Invariants:
//! - no request byte is read before the client certificate is verified, and no buffer is
//!   ever sized from a declared length before [`frame::check`](crate::ttlv::frame::check)
//!   (or, for HTTP, the `Content-Length` check) has held it against
//!   [`Limits::max_message_size`];
//! - every wait on a client is bounded: the handshake by [`Limits::handshake_timeout`],
//!   reads and writes by [`Limits::idle_timeout`];
//! - request handling is synchronous and never holds an async worker: under load it runs
//!   on the handler threads (`pool`); a lone request on a quiet server runs on the
//!   connection's thread after it has handed its worker core to another thread
//!   (`block_in_place`); on other runtimes, on the blocking pool. A request that writes
//!   stops where its write set is queued for the durable commit, and the connection awaits
//!   the commit asynchronously, so no handler thread sits blocked through an fsync (the
//!   lone request alone polls for its answer for up to 2 ms first: see
//!   `connection::settle_alone`);
//! - logs carry the peer address and principal, never message contents.
//!
//! This module may import anything; only it (and `main.rs`) touch sockets and the clock.

pub mod admin;
mod admission;
mod connection;
mod http;
mod kms;
mod metrics;
pub mod pki;
mod pool;
pub mod tls;

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::sync::{Semaphore, watch};
use tokio::task::JoinSet;
use tokio_rustls::TlsAcceptor;
use tracing::{debug, error, info, warn};

pub use kms::{KmsHandler, sweep_dates};
pub use metrics::{Metrics, MetricsSnapshot};
pub use pki::{DevPki, PkiError, Revoked, issue_client, revoke as revoke_client};
pub use tls::{IdentitySource, Principal, TlsError, TlsSettings};

/// Answers one request message. Called once per complete frame, in order per connection.
///
/// Synchronous on purpose: storage and HSM calls block. The server runs it where it holds up
/// no async worker (see the module invariants); the returned bytes are written back as they are (they should be one TTLV message).
pub trait Handler: Send + Sync + 'static {
    /// `request` is exactly one framed TTLV Structure (header included).
    fn handle(&self, principal: &Principal, request: &[u8]) -> Vec<u8>;

    /// [`Handler::handle`], but it may stop where the request waits for a durable commit:
    /// the server then awaits the [`PendingCommit`]'s wait without holding a thread, and
    /// calls [`Handler::finish`]. The default never stops.
    fn handle_staged(&self, principal: &Principal, request: &[u8]) -> Staged {
        Staged::Done(self.handle(principal, request))
    }

    /// The answer to a message that could not be read as one TTLV message at all (an XML or
    /// JSON body of KMIP over HTTPS that does not parse; `detail` says why): a KMIP response
    /// with Result Reason Invalid Message. The default hands [`Handler::handle`] an empty
    /// message, which a KMIP handler refuses the same way, without the detail.
    fn unreadable(&self, principal: &Principal, detail: &str) -> Vec<u8> {
        let _ = detail;
        self.handle(principal, &[])
    }

    /// The handler's part of the metrics (`GET /metrics`, Prometheus text format), or `None`
    /// if `principal` may not read metrics. May block (it reads the store). The default: no
    /// one may.
    fn metrics(&self, principal: &Principal) -> Option<String> {
        let _ = principal;
        None
    }

    /// The answer once a commit [`Handler::handle_staged`] waited for has resolved. With
    /// `Ok` it returns the response it already holds, without blocking; otherwise it may run
    /// the request again (a lost write race) and must be called off the async threads.
    fn finish(
        &self,
        pending: crate::ops::Batch,
        result: Result<Vec<u64>, crate::store::StoreError>,
    ) -> Staged {
        drop((pending, result));
        Staged::Done(Vec::new())
    }
}

pub use crate::ops::{PendingCommit, Staged};

/// Bounds on what one client, or all of them together, can make the server hold.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Largest request accepted, header included. Larger declared lengths close the
    /// connection before anything is allocated for them. Default 1 MiB: ample for KMIP
    /// (keys, certificates, batches), and with the connection cap it bounds receive
    /// buffers to at most `max_connections × max_message_size` (512 MiB by default).
    pub max_message_size: usize,
    /// Connections served at once, handshakes included. Default 512. A connection over the
    /// cap takes the slot of the oldest handshake if that has run over a second (a stalled
    /// client's; see `admission`), and is otherwise closed as soon as it is accepted.
    pub max_connections: usize,
    /// Connections from one client address (an IPv6 /64) that may be in their TLS handshake
    /// at once; more are closed as soon as they are accepted. Default 32. Established
    /// connections do not count.
    pub max_handshakes_per_address: usize,
    /// Connections one principal may hold at once; more are closed once their handshake
    /// has named the principal. Default `None`: no cap (a fleet may share one certificate).
    pub max_connections_per_principal: Option<usize>,
    /// Time allowed for the TLS handshake. Default 10 s.
    pub handshake_timeout: Duration,
    /// Time allowed between messages, for a message to arrive once its first byte has, and
    /// for a response to be taken by the client. Default 60 s.
    pub idle_timeout: Duration,
    /// After shutdown is signalled, how long in-flight requests may take to finish and have
    /// their responses written before their connections are dropped. Default 30 s.
    pub shutdown_grace: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_message_size: 1 << 20,
            max_connections: 512,
            max_handshakes_per_address: 32,
            max_connections_per_principal: None,
            handshake_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(60),
            shutdown_grace: Duration::from_secs(30),
        }
    }
}

/// Everything [`run`] needs besides the listener and the handler.
#[derive(Debug)]
pub struct Settings {
    /// Built by [`tls::server_config`]; replaced when the TLS files are reloaded.
    pub tls: tls::TlsCell,
    pub limits: Limits,
    /// Which certificate field names the [`Principal`].
    pub identity: IdentitySource,
    /// Counters, shared so that the caller can read them while the server runs.
    pub metrics: Arc<Metrics>,
    /// KMIP over HTTPS on the same port ([`http`]): the request path it is served at, or
    /// `None` to refuse HTTP (such a connection is closed as unframeable TTLV).
    pub http_path: Option<String>,
}

impl Settings {
    /// Default limits, CN identity and fresh counters.
    pub fn new(tls: Arc<rustls::ServerConfig>) -> Self {
        Settings {
            tls: tls::TlsCell::new(tls),
            limits: Limits::default(),
            identity: IdentitySource::default(),
            metrics: Arc::default(),
            http_path: Some("/kmip".into()),
        }
    }
}

/// Serves TLS connections from `listener` until `shutdown` completes.
///
/// Then the listener is closed at once (new connections are refused) and each connection
/// ends at its next quiet point: an idle one at once, one whose request is in the handler
/// (or still arriving) after that request's response is written. Further pipelined requests
/// are not read. After [`Limits::shutdown_grace`] the remaining connections are dropped
/// (a handler already running finishes first, and its answer is discarded).
/// Returns when every connection task has ended.
pub async fn run(
    listener: TcpListener,
    settings: Arc<Settings>,
    handler: Arc<dyn Handler>,
    shutdown: impl Future<Output = ()>,
) {
    let (stop_tx, stop_rx) = watch::channel(false);
    let threads = std::thread::available_parallelism().map_or(2, |n| n.get());
    let pool = match pool::HandlerPool::new(threads) {
        Ok(pool) => Some(Arc::new(pool)),
        Err(e) => {
            warn!(error = %e, "no handler threads; handlers run on the connections' threads");
            None
        }
    };
    let slots = Arc::new(Semaphore::new(settings.limits.max_connections));
    let admission = Arc::new(admission::Admission::new(
        settings.limits.max_handshakes_per_address,
    ));
    let per_principal = Arc::new(admission::PerPrincipal::new(
        settings.limits.max_connections_per_principal,
    ));
    let mut tasks = JoinSet::new();
    if let Ok(addr) = listener.local_addr() {
        info!(%addr, "listening");
    }
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            biased;
            () = &mut shutdown => break,
            Some(ended) = tasks.join_next(), if !tasks.is_empty() => log_task_end(ended),
            accepted = listener.accept() => {
                let (tcp, peer) = match accepted {
                    Ok(pair) => pair,
                    Err(e) => {
                        // Out of file descriptors and the like: back off instead of spinning.
                        warn!(error = %e, "accept failed");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        continue;
                    }
                };
                let now = std::time::Instant::now();
                let Ok(handshaking) = admission.begin(peer.ip(), now) else {
                    // At debug, like the eviction below: under a flood these come by the
                    // thousand, and the counters tell the operator.
                    Metrics::incr(&settings.metrics.handshakes_refused_per_address);
                    debug!(%peer, cap = settings.limits.max_handshakes_per_address,
                        "too many handshakes under way from this address; closing");
                    drop(tcp);
                    continue;
                };
                let slot = match slots.clone().try_acquire_owned() {
                    Ok(slot) => connection::Slot::Held(slot),
                    Err(_) if admission.evict_oldest(now) => {
                        Metrics::incr(&settings.metrics.handshakes_evicted);
                        debug!(%peer, "connection cap reached; the oldest handshake gives way");
                        connection::Slot::Freed(slots.clone())
                    }
                    Err(_) => {
                        Metrics::incr(&settings.metrics.connections_refused);
                        warn!(%peer, cap = settings.limits.max_connections,
                            "connection cap reached; closing");
                        drop((tcp, handshaking));
                        continue;
                    }
                };
                Metrics::incr(&settings.metrics.connections_accepted);
                let _ = tcp.set_nodelay(true);
                let (tls, tls_generation) = settings.tls.current();
                tasks.spawn(connection::serve(connection::Conn {
                    tcp,
                    peer,
                    acceptor: TlsAcceptor::from(tls),
                    tls_generation,
                    settings: settings.clone(),
                    handler: handler.clone(),
                    pool: pool.clone(),
                    stop: stop_rx.clone(),
                    slot,
                    handshaking,
                    per_principal: per_principal.clone(),
                }));
            }
        }
    }
    drop(listener);
    let _ = stop_tx.send(true);
    info!(connections = tasks.len(), "shutting down: listener closed");
    let drain = async {
        while let Some(ended) = tasks.join_next().await {
            log_task_end(ended);
        }
    };
    if tokio::time::timeout(settings.limits.shutdown_grace, drain)
        .await
        .is_err()
    {
        warn!(
            connections = tasks.len(),
            "shutdown grace period over; dropping connections"
        );
        tasks.abort_all();
        while tasks.join_next().await.is_some() {}
    }
    info!("server stopped");
}

fn log_task_end(ended: Result<(), tokio::task::JoinError>) {
    if let Err(e) = ended {
        if e.is_panic() {
            error!("connection task panicked");
        }
    }
}
