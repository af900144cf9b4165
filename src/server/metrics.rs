//! Counters of the connection layer, kept as relaxed atomics: they are statistics, not
//! synchronisation, and a snapshot may mix values from slightly different instants.

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

/// Live counters, shared by the accept loop and every connection task.
#[derive(Debug, Default)]
pub struct Metrics {
    pub(crate) connections_accepted: AtomicU64,
    pub(crate) connections_refused: AtomicU64,
    pub(crate) connections_active: AtomicU64,
    pub(crate) handshake_failures: AtomicU64,
    pub(crate) requests: AtomicU64,
    pub(crate) framing_errors: AtomicU64,
    pub(crate) idle_timeouts: AtomicU64,
    pub(crate) clients_no_longer_trusted: AtomicU64,
    pub(crate) http_requests: AtomicU64,
    pub(crate) http_refusals: AtomicU64,
}

/// A copy of the counters at one moment.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct MetricsSnapshot {
    /// TCP connections taken under the connection cap (handshake not yet done).
    pub connections_accepted: u64,
    /// TCP connections closed at once because the cap was reached.
    pub connections_refused: u64,
    /// Connections currently holding a slot (handshaking or established).
    pub connections_active: u64,
    /// Handshakes that failed or timed out, and clients without a usable identity.
    pub handshake_failures: u64,
    /// Complete request messages handed to the handler.
    pub requests: u64,
    /// Connections closed because their byte stream could not be framed.
    pub framing_errors: u64,
    /// Connections closed because a client sent (or read) nothing within the idle timeout.
    pub idle_timeouts: u64,
    /// Connections closed because a TLS reload no longer accepts their client's certificate
    /// (revoked, or its CA or pin removed).
    pub clients_no_longer_trusted: u64,
    /// Requests (also counted in `requests`) that came as the body of an HTTP `POST`.
    pub http_requests: u64,
    /// HTTP requests answered with a status other than 200 (not a KMIP exchange).
    pub http_refusals: u64,
}

impl Metrics {
    /// Reads every counter.
    pub fn snapshot(&self) -> MetricsSnapshot {
        MetricsSnapshot {
            connections_accepted: self.connections_accepted.load(Relaxed),
            connections_refused: self.connections_refused.load(Relaxed),
            connections_active: self.connections_active.load(Relaxed),
            handshake_failures: self.handshake_failures.load(Relaxed),
            requests: self.requests.load(Relaxed),
            framing_errors: self.framing_errors.load(Relaxed),
            idle_timeouts: self.idle_timeouts.load(Relaxed),
            clients_no_longer_trusted: self.clients_no_longer_trusted.load(Relaxed),
            http_requests: self.http_requests.load(Relaxed),
            http_refusals: self.http_refusals.load(Relaxed),
        }
    }

    pub(crate) fn incr(counter: &AtomicU64) {
        counter.fetch_add(1, Relaxed);
    }

    pub(crate) fn decr(counter: &AtomicU64) {
        counter.fetch_sub(1, Relaxed);
    }
}
