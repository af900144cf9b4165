//! Counters of the connection layer, kept as relaxed atomics: they are statistics, not
//! synchronisation, and a snapshot may mix values from slightly different instants.
//!
//! Operators read them, with the store's counters, at `GET /metrics` over HTTPS on the KMIP
//! port, in the Prometheus text format (version 0.0.4), if their certificate's principal is
//! an administrator or a metrics reader (`[policy] metrics_readers`).

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

/// Live counters, shared by the accept loop and every connection task.
#[derive(Debug, Default)]
pub struct Metrics {
    pub(crate) connections_accepted: AtomicU64,
    pub(crate) connections_refused: AtomicU64,
    pub(crate) handshakes_refused_per_address: AtomicU64,
    pub(crate) handshakes_evicted: AtomicU64,
    pub(crate) connections_refused_per_principal: AtomicU64,
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
    /// TCP connections closed at once because their address had the most handshakes under
    /// way it may have (`max_handshakes_per_address`).
    pub handshakes_refused_per_address: u64,
    /// Handshakes ended, with the server full, to give their slot to a new connection
    /// (each had run over a second).
    pub handshakes_evicted: u64,
    /// Authenticated connections closed because their principal held the most connections
    /// it may (`max_connections_per_principal`).
    pub connections_refused_per_principal: u64,
    /// Connections currently holding a slot (handshaking or established).
    pub connections_active: u64,
    /// Handshakes that failed, timed out or were evicted, and clients without a usable
    /// identity.
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

impl MetricsSnapshot {
    /// The counters in the Prometheus text format.
    pub fn prometheus(&self) -> String {
        let mut out = String::new();
        for (name, kind, help, value) in [
            (
                "connections_accepted_total",
                "counter",
                "TCP connections taken under the connection cap.",
                self.connections_accepted,
            ),
            (
                "connections_refused_total",
                "counter",
                "TCP connections closed at once because the cap was reached.",
                self.connections_refused,
            ),
            (
                "handshakes_refused_per_address_total",
                "counter",
                "TCP connections closed at once because their address had the most handshakes under way it may have.",
                self.handshakes_refused_per_address,
            ),
            (
                "handshakes_evicted_total",
                "counter",
                "Stalled TLS handshakes ended, the server being full, to give their slot to a new connection.",
                self.handshakes_evicted,
            ),
            (
                "connections_refused_per_principal_total",
                "counter",
                "Authenticated connections closed because their principal held the most connections it may.",
                self.connections_refused_per_principal,
            ),
            (
                "connections_active",
                "gauge",
                "Connections holding a slot (handshaking or established).",
                self.connections_active,
            ),
            (
                "handshake_failures_total",
                "counter",
                "TLS handshakes that failed, timed out or were evicted, and clients without a usable identity.",
                self.handshake_failures,
            ),
            (
                "requests_total",
                "counter",
                "KMIP request messages handed to the handler (TTLV and HTTP).",
                self.requests,
            ),
            (
                "http_requests_total",
                "counter",
                "KMIP request messages that came as the body of an HTTP POST.",
                self.http_requests,
            ),
            (
                "http_refusals_total",
                "counter",
                "HTTP requests answered with a status other than 200.",
                self.http_refusals,
            ),
            (
                "framing_errors_total",
                "counter",
                "Connections closed because their bytes could not be framed.",
                self.framing_errors,
            ),
            (
                "idle_timeouts_total",
                "counter",
                "Connections closed by the idle timeout.",
                self.idle_timeouts,
            ),
            (
                "clients_no_longer_trusted_total",
                "counter",
                "Connections closed because a TLS reload no longer accepts their certificate.",
                self.clients_no_longer_trusted,
            ),
        ] {
            metric(&mut out, name, kind, help, value);
        }
        out
    }
}

/// The store's counters and object count in the Prometheus text format.
pub fn store_prometheus(
    stats: Option<crate::store::redb::StoreStats>,
    objects: Option<u64>,
) -> String {
    let mut out = String::new();
    if let Some(objects) = objects {
        metric(
            &mut out,
            "objects",
            "gauge",
            "Managed objects in the store, destroyed ones included.",
            objects,
        );
    }
    if let Some(s) = stats {
        for (name, kind, help, value) in [
            (
                "store_commits_total",
                "counter",
                "Batches the committer made durable.",
                s.commits,
            ),
            (
                "store_write_sets_total",
                "counter",
                "Write sets committed.",
                s.committed_sets,
            ),
            (
                "store_locate_rows_examined_total",
                "counter",
                "Index and table rows Locate examined.",
                s.locate_rows_examined,
            ),
            (
                "store_replayed_records",
                "gauge",
                "Write-ahead log records replayed when the store was opened.",
                s.replayed_records,
            ),
            (
                "store_visibility_waits_total",
                "counter",
                "Reads that waited for a batch answered before its commit.",
                s.visibility_waits,
            ),
        ] {
            metric(&mut out, name, kind, help, value);
        }
    }
    out
}

/// One metric, `kmipd_` prefixed, with its help and type lines.
fn metric(out: &mut String, name: &str, kind: &str, help: &str, value: u64) {
    use std::fmt::Write as _;
    let _ = writeln!(
        out,
        "# HELP kmipd_{name} {help}\n# TYPE kmipd_{name} {kind}\nkmipd_{name} {value}"
    );
}

impl Metrics {
    /// Reads every counter.
    pub fn snapshot(&self) -> MetricsSnapshot {
        MetricsSnapshot {
            connections_accepted: self.connections_accepted.load(Relaxed),
            connections_refused: self.connections_refused.load(Relaxed),
            handshakes_refused_per_address: self.handshakes_refused_per_address.load(Relaxed),
            handshakes_evicted: self.handshakes_evicted.load(Relaxed),
            connections_refused_per_principal: self.connections_refused_per_principal.load(Relaxed),
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
