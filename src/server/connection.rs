//! One client connection: the TLS handshake, the principal, then a loop of framed requests
//! answered strictly in order: TTLV messages, or HTTP requests carrying them ([`http`]),
//! as the first bytes say.
//!
//! The receive buffer only grows while a message is incomplete, and only up to the length
//! its header declared after [`frame::check`] has held it against the limit. Every read and
//! write is bounded by a deadline; on any error the task ends and the socket is dropped, so
//! a vanished client costs nothing more than its task.

use std::net::SocketAddr;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::time::Duration;

use bytes::BytesMut;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::runtime::{Handle, RuntimeFlavor};
use tokio::sync::oneshot::error::TryRecvError;
use tokio::sync::{OwnedSemaphorePermit, Semaphore, watch};
use tokio::time::{Instant, timeout, timeout_at};
use tokio_rustls::TlsAcceptor;
use tokio_rustls::server::TlsStream;
use tracing::{debug, info, warn};

use super::admission::{Handshaking, PerPrincipal};
use super::http::{self, Head, Protocol};
use super::pool::HandlerPool;
use super::tls::{Principal, principal_from_cert};
use super::{Handler, Metrics, PendingCommit, Settings, Staged};
use crate::store::StoreError;
use crate::ttlv::Format;
use crate::ttlv::frame::{self, Frame};
use zeroize::{Zeroize, Zeroizing};

/// Most bytes reserved for one read; a large message is received in several.
const READ_CHUNK: usize = 16 * 1024;
/// Longest a close takes: sending close_notify, then reading and discarding what the
/// client still sends until it closes too ([`close`]); after it the socket is just dropped.
const CLOSE_TIMEOUT: Duration = Duration::from_secs(2);
/// Longest wait for the slot an evicted handshake gives back ([`Slot::Freed`]).
const FREED_SLOT_WAIT: Duration = Duration::from_secs(1);

/// A connection's place under the connection cap.
pub(super) enum Slot {
    /// Taken when the connection was accepted.
    Held(OwnedSemaphorePermit),
    /// The server was full: the oldest handshake was told to give its slot up, and this
    /// connection takes the next free one (waiting at most [`FREED_SLOT_WAIT`]).
    Freed(Arc<Semaphore>),
}

/// What the accept loop hands to a connection task.
pub(super) struct Conn {
    pub tcp: TcpStream,
    pub peer: SocketAddr,
    pub acceptor: TlsAcceptor,
    /// The TLS reload the acceptor's configuration belongs to.
    pub tls_generation: u64,
    pub settings: Arc<Settings>,
    pub handler: Arc<dyn Handler>,
    /// Handler threads for busy times (see [`Session::off_async`]).
    pub pool: Option<Arc<HandlerPool>>,
    pub stop: watch::Receiver<bool>,
    pub slot: Slot,
    /// Counts this connection's handshake against its address until the handshake ends.
    pub handshaking: Handshaking,
    /// The connections each principal holds.
    pub per_principal: Arc<PerPrincipal>,
}

/// Holds the connection's slot under the cap and its place in the active count.
struct Active {
    metrics: Arc<Metrics>,
    _slot: OwnedSemaphorePermit,
}

impl Drop for Active {
    fn drop(&mut self) {
        Metrics::decr(&self.metrics.connections_active);
    }
}

pub(super) async fn serve(conn: Conn) {
    let Conn {
        tcp,
        peer,
        acceptor,
        tls_generation,
        settings,
        handler,
        pool,
        mut stop,
        slot,
        mut handshaking,
        per_principal,
    } = conn;
    let metrics = settings.metrics.clone();
    let slot = match slot {
        Slot::Held(slot) => slot,
        Slot::Freed(slots) => match timeout(FREED_SLOT_WAIT, slots.acquire_owned()).await {
            Ok(Ok(slot)) => slot,
            _ => {
                // The evicted handshake finished first and kept its slot.
                Metrics::incr(&metrics.connections_refused);
                warn!(%peer, "connection cap reached and no slot came free; closing");
                return;
            }
        },
    };
    Metrics::incr(&metrics.connections_active);
    let _active = Active {
        metrics: metrics.clone(),
        _slot: slot,
    };

    let handshake = timeout(settings.limits.handshake_timeout, acceptor.accept(tcp));
    let stream = tokio::select! {
        result = handshake => match result {
            Ok(Ok(stream)) => stream,
            Ok(Err(e)) => {
                Metrics::incr(&metrics.handshake_failures);
                info!(%peer, error = %e, "TLS handshake failed");
                return;
            }
            Err(_) => {
                Metrics::incr(&metrics.handshake_failures);
                info!(%peer, "TLS handshake timed out");
                return;
            }
        },
        () = handshaking.evicted() => {
            Metrics::incr(&metrics.handshake_failures);
            debug!(%peer, "TLS handshake unfinished while the server is full; its slot went to a new connection");
            return;
        }
        () = stopped(&mut stop) => return,
    };
    drop(handshaking);

    let (_, tls) = stream.get_ref();
    let identity = match tls.peer_certificates().and_then(|chain| chain.first()) {
        Some(cert) => principal_from_cert(cert, settings.identity).map_err(|e| e.to_string()),
        None => Err("no client certificate".to_string()),
    };
    let principal = match identity {
        Ok(principal) => Arc::new(principal),
        Err(reason) => {
            Metrics::incr(&metrics.handshake_failures);
            warn!(%peer, %reason, "client certificate names no principal; closing");
            close(stream).await;
            return;
        }
    };
    let Ok(_principal_slot) = per_principal.enter(&principal.name) else {
        Metrics::incr(&metrics.connections_refused_per_principal);
        warn!(%peer, principal = ?principal.name,
            cap = ?settings.limits.max_connections_per_principal,
            "this principal holds the most connections it may; closing");
        close(stream).await;
        return;
    };
    info!(
        %peer,
        principal = ?principal.name,
        version = ?tls.protocol_version(),
        suite = ?tls.negotiated_cipher_suite().map(|s| s.suite()),
        kind = ?tls.handshake_kind(),
        "client connected"
    );

    let session = Session {
        stream,
        peer,
        principal,
        settings,
        handler,
        pool,
        stop,
        multi_thread: Handle::current().runtime_flavor() == RuntimeFlavor::MultiThread,
        trusted_in: tls_generation,
    };
    session.run().await;
}

struct Session {
    stream: TlsStream<TcpStream>,
    peer: SocketAddr,
    principal: Arc<Principal>,
    settings: Arc<Settings>,
    handler: Arc<dyn Handler>,
    pool: Option<Arc<HandlerPool>>,
    stop: watch::Receiver<bool>,
    /// Whether the runtime is multi-threaded (see [`Session::off_async`]).
    multi_thread: bool,
    /// The TLS reload ([`super::tls::TlsCell`]) this client was last checked against.
    trusted_in: u64,
}

impl Session {
    /// Runs `f` (handler work) without holding up the async worker threads; `None` if it
    /// panicked. `f` is told whether it runs alone (see the second case).
    ///
    /// - When another handler is running or a handler thread is awake, `f` joins the queue
    ///   of the handler threads ([`HandlerPool`]): a busy or spinning thread takes it with
    ///   no wake-up of its own, and this task awaits the answer.
    /// - When it is the only one and the handler threads sleep (a quiet server, one
    ///   client), `f` runs here, alone, after [`block_in_place`] has handed this thread's
    ///   worker core (run queue, I/O and timer duties) to another thread, so every other
    ///   task keeps running: no wake-up sits on the request's path, where the pool would
    ///   need two (a handler thread, then this task).
    /// - Other runtimes (current-thread, as in tests) have no core to hand over:
    ///   `spawn_blocking`.
    ///
    /// [`block_in_place`]: tokio::task::block_in_place
    async fn off_async<R: Send + 'static>(
        &self,
        f: impl FnOnce(bool) -> R + Send + 'static,
    ) -> Option<R> {
        if !self.multi_thread {
            return tokio::task::spawn_blocking(move || f(false)).await.ok();
        }
        let in_place = |f: Box<dyn FnOnce() -> R + Send>| {
            std::panic::catch_unwind(AssertUnwindSafe(|| tokio::task::block_in_place(f))).ok()
        };
        match &self.pool {
            None => in_place(Box::new(move || f(false))),
            Some(pool) => match pool.enter() {
                Some(_alone) => in_place(Box::new(move || f(true))),
                None => pool.run(move || f(false)).await.ok(),
            },
        }
    }

    /// The response to one request; `None` if the handler panicked. `request` is one
    /// message in `format`: TTLV, or XML or JSON from an HTTP body (converted here, off the
    /// async threads; one that does not convert gets the handler's Invalid Message answer).
    /// The request's bytes are overwritten with zeros once read. A request that writes
    /// comes back from the handler with its write set queued for the durable commit: the
    /// commit is awaited here, asynchronously, so no thread is held through the fsync;
    /// except that a handler running alone on a quiet server polls for its commit's answer
    /// for a while first ([`settle_alone`]).
    async fn call_handler(&self, mut request: BytesMut, format: Format) -> Option<Vec<u8>> {
        let (handler, who) = (self.handler.clone(), self.principal.clone());
        let mut staged = self
            .off_async(move |alone| {
                let staged = match format {
                    Format::Ttlv | Format::Hex => handler.handle_staged(&who, &request),
                    Format::Xml | Format::Json => match http::text_to_ttlv(&request, format) {
                        Ok(ttlv) => handler.handle_staged(&who, &Zeroizing::new(ttlv)),
                        Err(detail) => Staged::Done(handler.unreadable(&who, &detail)),
                    },
                };
                request[..].zeroize();
                if alone {
                    settle_alone(handler.as_ref(), staged)
                } else {
                    staged
                }
            })
            .await?;
        loop {
            match staged {
                Staged::Done(bytes) => return Some(bytes),
                Staged::Commit(pending) => {
                    let PendingCommit { wait, batch } = *pending;
                    let result = wait.await.unwrap_or_else(|_| {
                        Err(StoreError::Storage("the committer stopped".into()))
                    });
                    staged = if result.is_ok() {
                        // Hands back the response it holds: nothing blocks.
                        self.handler.finish(batch, result)
                    } else {
                        let handler = self.handler.clone();
                        self.off_async(move |_| handler.finish(batch, result))
                            .await?
                    };
                }
            }
        }
    }

    /// Whether the client's certificate is still accepted after a TLS reload (checked once
    /// per reload, before the next request is handled).
    fn still_trusted(&mut self) -> bool {
        if self.settings.tls.generation() == self.trusted_in {
            return true;
        }
        self.trusted_in = self.settings.tls.generation();
        let chain = self.stream.get_ref().1.peer_certificates().unwrap_or(&[]);
        match self.settings.tls.still_trusted(chain) {
            Ok(()) => true,
            Err(e) => {
                Metrics::incr(&self.settings.metrics.clients_no_longer_trusted);
                warn!(peer = %self.peer, principal = ?self.principal.name, error = %e,
                    "client certificate no longer accepted after a TLS reload; closing");
                false
            }
        }
    }

    /// Reads more of the client's bytes into `buf`, reserving room for `wanted` (bounded by
    /// [`READ_CHUNK`]). Between messages (`buf` empty) it waits until `deadline` or the
    /// server's stop; within a message, until `deadline` only. `deadline` restarts with the
    /// first byte of a message. `Err` ends the connection (logged here) and says how.
    async fn fill(
        &mut self,
        buf: &mut BytesMut,
        wanted: usize,
        deadline: &mut Instant,
    ) -> Result<(), End> {
        let (peer, principal) = (self.peer, &self.principal.name);
        buf.reserve(wanted.clamp(frame::HEADER_LEN, READ_CHUNK));
        let was_empty = buf.is_empty();
        let read = tokio::select! {
            read = timeout_at(*deadline, self.stream.read_buf(buf)) => read,
            () = stopped(&mut self.stop), if was_empty => {
                debug!(%peer, ?principal, "idle at shutdown; closing");
                return Err(End::Close);
            }
        };
        match read {
            Ok(Ok(0)) if was_empty => {
                debug!(%peer, ?principal, "client closed the connection");
                Err(End::Drop)
            }
            Ok(Ok(0)) => {
                info!(%peer, ?principal, received = buf.len(), "client closed mid-message");
                Err(End::Drop)
            }
            Ok(Ok(_)) => {
                if was_empty {
                    *deadline = Instant::now() + self.settings.limits.idle_timeout;
                }
                Ok(())
            }
            Ok(Err(e)) => {
                debug!(%peer, ?principal, error = %e, "read failed; closing");
                Err(End::Drop)
            }
            Err(_) => {
                Metrics::incr(&self.settings.metrics.idle_timeouts);
                info!(%peer, ?principal, mid_message = !was_empty, "idle timeout; closing");
                Err(End::Close)
            }
        }
    }

    /// Receives the first `len` bytes of a request that is not read (a refused request's
    /// body, say) and drops them, overwritten.
    async fn skip(
        &mut self,
        buf: &mut BytesMut,
        len: usize,
        deadline: &mut Instant,
    ) -> Result<(), End> {
        while buf.len() < len {
            let wanted = len - buf.len();
            self.fill(buf, wanted, deadline).await?;
        }
        buf.split_to(len)[..].zeroize();
        Ok(())
    }

    /// Writes `bytes` within the idle timeout; `Err` ends the connection (logged here).
    async fn send(&mut self, bytes: &[u8]) -> Result<(), End> {
        let write = async {
            self.stream.write_all(bytes).await?;
            self.stream.flush().await
        };
        match timeout(self.settings.limits.idle_timeout, write).await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(e)) => {
                debug!(peer = %self.peer, principal = ?self.principal.name, error = %e,
                    "client gone while answering");
                Err(End::Drop)
            }
            Err(_) => {
                Metrics::incr(&self.settings.metrics.idle_timeouts);
                info!(peer = %self.peer, principal = ?self.principal.name,
                    "client does not take its response; closing");
                Err(End::Drop)
            }
        }
    }

    /// Ends the connection as `end` says.
    async fn end(self, end: End) {
        if end == End::Close {
            close(self.stream).await;
        }
    }

    /// Whether the server is stopping; if so, the connection ends after the answer just
    /// written.
    fn stopping(&self) -> bool {
        if *self.stop.borrow() {
            debug!(peer = %self.peer, principal = ?self.principal.name,
                "answered during shutdown; closing");
            return true;
        }
        false
    }

    /// Reads the first bytes, then serves the connection as TTLV or HTTP ([`http::sniff`]).
    async fn run(mut self) {
        let mut buf = BytesMut::new();
        // Between messages: since the last response. Within one: since its first byte.
        let mut deadline = Instant::now() + self.settings.limits.idle_timeout;
        let protocol = loop {
            if let Some(protocol) = http::sniff(&buf) {
                break protocol;
            }
            if let Err(end) = self.fill(&mut buf, READ_CHUNK, &mut deadline).await {
                return self.end(end).await;
            }
        };
        let end = match (protocol, self.settings.http_path.clone()) {
            (Protocol::Http, Some(path)) => self.run_http(buf, deadline, &path).await,
            (Protocol::Http, None) => {
                Metrics::incr(&self.settings.metrics.framing_errors);
                warn!(peer = %self.peer, principal = ?self.principal.name,
                    "an HTTP request, and HTTP is off; closing");
                End::Close
            }
            (Protocol::Ttlv, _) => self.run_ttlv(buf, deadline).await,
        };
        self.end(end).await;
    }

    /// TTLV messages, framed by their own length, until the connection ends.
    async fn run_ttlv(&mut self, mut buf: BytesMut, mut deadline: Instant) -> End {
        let limits = self.settings.limits;
        let metrics = self.settings.metrics.clone();
        loop {
            match frame::check(&buf, limits.max_message_size) {
                Ok(Frame::Complete(len)) => {
                    if !self.still_trusted() {
                        return End::Close;
                    }
                    let request = buf.split_to(len);
                    Metrics::incr(&metrics.requests);
                    let Some(response) = self.call_handler(request, Format::Ttlv).await else {
                        warn!(peer = %self.peer, principal = ?self.principal.name,
                            "request handler failed; closing");
                        return End::Drop;
                    };
                    let response = Zeroizing::new(response);
                    if let Err(end) = self.send(&response).await {
                        return end;
                    }
                    if self.stopping() {
                        return End::Close;
                    }
                    deadline = Instant::now() + limits.idle_timeout;
                }
                Ok(Frame::Incomplete { total }) => {
                    let wanted = total.map_or(READ_CHUNK, |t| t.saturating_sub(buf.len()));
                    if let Err(end) = self.fill(&mut buf, wanted, &mut deadline).await {
                        return end;
                    }
                }
                Err(e) => {
                    Metrics::incr(&metrics.framing_errors);
                    warn!(peer = %self.peer, principal = ?self.principal.name, error = %e,
                        "input cannot be framed; closing");
                    return End::Close;
                }
            }
        }
    }

    /// HTTP/1.x requests ([`http`]) until the connection ends: each `POST` of one KMIP
    /// message to `path` is answered with the KMIP response in the same encoding; anything
    /// else gets an HTTP status, and the connection goes on only when the request's length
    /// is known and the client keeps it alive.
    async fn run_http(&mut self, mut buf: BytesMut, mut deadline: Instant, path: &str) -> End {
        let limits = self.settings.limits;
        let metrics = self.settings.metrics.clone();
        loop {
            match http::parse_head(&buf, path, limits.max_message_size) {
                Head::Partial => {
                    if let Err(end) = self.fill(&mut buf, READ_CHUNK, &mut deadline).await {
                        return end;
                    }
                }
                Head::Refused(refusal) => {
                    Metrics::incr(&metrics.http_refusals);
                    info!(peer = %self.peer, principal = ?self.principal.name,
                        status = ?refusal.status, detail = refusal.detail, "HTTP request refused");
                    if let Some(skip) = refusal.skip {
                        if let Err(end) = self.skip(&mut buf, skip, &mut deadline).await {
                            return end;
                        }
                    }
                    if let Err(end) = self.send(&http::refusal(&refusal)).await {
                        return end;
                    }
                    if refusal.skip.is_none() {
                        Metrics::incr(&metrics.framing_errors);
                        return End::Close;
                    }
                    if self.stopping() {
                        return End::Close;
                    }
                    deadline = Instant::now() + limits.idle_timeout;
                }
                Head::Metrics(read) => {
                    if let Err(end) = self.skip(&mut buf, read.len, &mut deadline).await {
                        return end;
                    }
                    let (handler, who) = (self.handler.clone(), self.principal.clone());
                    let own = self
                        .off_async(move |_| handler.metrics(&who))
                        .await
                        .flatten();
                    let answer = match own {
                        Some(own) => {
                            debug!(peer = %self.peer, principal = ?self.principal.name,
                                "metrics read");
                            let text = metrics.snapshot().prometheus() + &own;
                            let content_type = http::METRICS_CONTENT_TYPE;
                            http::response(
                                http::Status::Ok,
                                content_type,
                                text.as_bytes(),
                                read.keep_alive,
                            )
                        }
                        None => {
                            Metrics::incr(&metrics.http_refusals);
                            info!(peer = %self.peer, principal = ?self.principal.name,
                                "metrics read refused: not an administrator or metrics reader");
                            http::refusal(&http::Refusal {
                                status: http::Status::Forbidden,
                                detail: "metrics are for administrators and metrics readers",
                                allow: "GET",
                                skip: read.keep_alive.then_some(read.len),
                            })
                        }
                    };
                    if let Err(end) = self.send(&answer).await {
                        return end;
                    }
                    if !read.keep_alive || self.stopping() {
                        return End::Close;
                    }
                    deadline = Instant::now() + limits.idle_timeout;
                }
                Head::Exchange(exchange) => {
                    let total = exchange.head_len + exchange.body_len;
                    if exchange.expect_continue && buf.len() < total {
                        if let Err(end) = self.send(http::CONTINUE).await {
                            return end;
                        }
                    }
                    while buf.len() < total {
                        let wanted = total - buf.len();
                        if let Err(end) = self.fill(&mut buf, wanted, &mut deadline).await {
                            return end;
                        }
                    }
                    if !self.still_trusted() {
                        return End::Close;
                    }
                    let mut request = buf.split_to(total);
                    let body = request.split_off(exchange.head_len);
                    Metrics::incr(&metrics.requests);
                    Metrics::incr(&metrics.http_requests);
                    let format = exchange.format;
                    let Some(response) = self.call_handler(body, format).await else {
                        warn!(peer = %self.peer, principal = ?self.principal.name,
                            "request handler failed; closing");
                        return End::Drop;
                    };
                    let response = match format {
                        Format::Ttlv | Format::Hex => Some(Zeroizing::new(response)),
                        Format::Xml | Format::Json => {
                            let response = Zeroizing::new(response);
                            self.off_async(move |_| http::ttlv_to_text(&response, format))
                                .await
                                .flatten()
                                .map(Zeroizing::new)
                        }
                    };
                    let Some(response) = response else {
                        warn!(peer = %self.peer, principal = ?self.principal.name,
                            "response could not be encoded; closing");
                        return End::Drop;
                    };
                    let answer = Zeroizing::new(http::response(
                        http::Status::Ok,
                        http::content_type(format),
                        &response,
                        exchange.keep_alive,
                    ));
                    if let Err(end) = self.send(&answer).await {
                        return end;
                    }
                    if !exchange.keep_alive || self.stopping() {
                        return End::Close;
                    }
                    deadline = Instant::now() + limits.idle_timeout;
                }
            }
        }
    }
}

/// How a connection ends.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum End {
    /// With a TLS close_notify (bounded by [`CLOSE_TIMEOUT`]).
    Close,
    /// By dropping the socket: the client is gone or broken.
    Drop,
}

/// How long a handler running alone polls for its commit's answer ([`settle_alone`]).
const ALONE_COMMIT_POLL: Duration = Duration::from_millis(2);

/// For a handler that ran alone on a quiet server (its thread handed its async core away,
/// no other handler is running, the handler threads sleep): waits for the commit of its
/// write set by polling the answer, yielding the CPU between looks, for up to
/// [`ALONE_COMMIT_POLL`], and finishes the request here; after that, or if there was no
/// commit, hands back what it has for the task to await.
///
/// Why poll: the answer comes from the committer thread after the fsync (0.2–0.4 ms here).
/// Awaited asynchronously, it has to wake a sleeping async worker (an eventfd write, an
/// inter-processor interrupt and a host wake-up of the idle vCPU on a virtual machine);
/// seen by a thread that is still running, it costs nothing. Create on one connection:
/// +19% (A/B in `docs/benchmarks.md`). The CPU this burns is CPU a quiet server has spare:
/// a request arriving meanwhile finds this handler counted as running and goes to the
/// handler threads, and `yield_now` gives way to anything runnable.
fn settle_alone(handler: &dyn super::Handler, mut staged: Staged) -> Staged {
    let until = std::time::Instant::now() + ALONE_COMMIT_POLL;
    loop {
        let Staged::Commit(pending) = staged else {
            return staged;
        };
        let PendingCommit { mut wait, batch } = *pending;
        let result = loop {
            match wait.try_recv() {
                Ok(result) => break result,
                Err(TryRecvError::Closed) => {
                    break Err(StoreError::Storage("the committer stopped".into()));
                }
                Err(TryRecvError::Empty) if std::time::Instant::now() < until => {
                    std::thread::yield_now();
                }
                Err(TryRecvError::Empty) => {
                    return Staged::Commit(Box::new(PendingCommit { wait, batch }));
                }
            }
        };
        // Off the async threads already: a rerun after a lost race may run here.
        staged = handler.finish(batch, result);
    }
}

/// Resolves once shutdown has been signalled (or the server is gone).
async fn stopped(stop: &mut watch::Receiver<bool>) {
    let _ = stop.wait_for(|stopping| *stopping).await;
}

/// Closes politely, within [`CLOSE_TIMEOUT`]: sends close_notify and shuts down the sending
/// side, then reads and discards whatever the client still sends until it closes its side
/// too (a lingering close).
///
/// Why drain: a socket closed with unread bytes, or receiving bytes after its close, makes
/// the kernel answer with a reset, and a client that is still sending (the rest of an
/// oversized message or HTTP body, requests pipelined behind the last one answered at
/// shutdown) then gets "connection reset" on its next write or read, usually before it has
/// read the answer that says why the connection ends. The discarded bytes are TLS records,
/// never decrypted.
async fn close(mut stream: TlsStream<TcpStream>) {
    let _ = timeout(CLOSE_TIMEOUT, async {
        if stream.shutdown().await.is_err() {
            return;
        }
        let (mut tcp, _) = stream.into_inner();
        let mut sink = vec![0u8; READ_CHUNK];
        while let Ok(1..) = tcp.read(&mut sink).await {}
    })
    .await;
}
