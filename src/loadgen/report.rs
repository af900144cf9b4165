//! Counting what happened and saying it: per-operation tallies kept by each connection,
//! merged at the end into a [`Report`], printed as a table or as one JSON line.
//!
//! Definitions used everywhere: `count` is every request of the measured period that got an
//! answer or failed (errors included); `errors` are those whose Result Status was not
//! Success, or that failed on the connection; `ops_per_s` counts successes only, over the
//! measured wall-clock time; latencies are those of successful requests, from writing the
//! request to reading the whole response.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use serde::{Deserialize, Serialize};

use super::histogram::Histogram;
use super::mix::Op;

/// Tallies of one operation on one connection (or merged).
#[derive(Clone, Debug, Default)]
pub struct OpStats {
    pub count: u64,
    pub errors: u64,
    pub latency: Histogram,
    pub reasons: BTreeMap<String, u64>,
}

impl OpStats {
    pub fn success(&mut self, nanos: u64) {
        self.count += 1;
        self.latency.record(nanos);
    }

    pub fn failure(&mut self, label: String) {
        self.count += 1;
        self.errors += 1;
        *self.reasons.entry(label).or_default() += 1;
    }

    fn merge(&mut self, other: &OpStats) {
        self.count += other.count;
        self.errors += other.errors;
        self.latency.merge(&other.latency);
        for (k, v) in &other.reasons {
            *self.reasons.entry(k.clone()).or_default() += v;
        }
    }
}

/// Everything one connection counted.
#[derive(Clone, Debug, Default)]
pub struct Stats {
    pub ops: [OpStats; super::mix::OPS],
    pub connection_errors: u64,
    pub refill_creates: u64,
}

impl Stats {
    pub fn op(&mut self, op: Op) -> &mut OpStats {
        &mut self.ops[op.index()]
    }

    pub fn merge(&mut self, other: &Stats) {
        for (a, b) in self.ops.iter_mut().zip(&other.ops) {
            a.merge(b);
        }
        self.connection_errors += other.connection_errors;
        self.refill_creates += other.refill_creates;
    }
}

/// Latency percentiles, in microseconds.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Latency {
    pub p50_us: f64,
    pub p99_us: f64,
    pub p999_us: f64,
    pub mean_us: f64,
    pub max_us: f64,
}

impl Latency {
    fn of(h: &Histogram) -> Latency {
        let us = |nanos: u64| (nanos as f64 / 100.0).round() / 10.0;
        Latency {
            p50_us: us(h.quantile(0.5)),
            p99_us: us(h.quantile(0.99)),
            p999_us: us(h.quantile(0.999)),
            mean_us: us(h.mean()),
            max_us: us(h.max()),
        }
    }
}

/// The figures of one operation, or of all of them together.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct OpReport {
    pub count: u64,
    pub errors: u64,
    pub ops_per_s: f64,
    pub latency: Latency,
    /// Failures by Result Reason (spec name), or by what went wrong on the connection.
    pub result_reasons: BTreeMap<String, u64>,
}

impl OpReport {
    fn of(s: &OpStats, secs: f64) -> OpReport {
        let ok = s.count - s.errors;
        OpReport {
            count: s.count,
            errors: s.errors,
            ops_per_s: if secs > 0.0 {
                (ok as f64 / secs * 10.0).round() / 10.0
            } else {
                0.0
            },
            latency: Latency::of(&s.latency),
            result_reasons: s.reasons.clone(),
        }
    }
}

/// The result of a run: what `--json` prints, one line.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Report {
    pub addr: String,
    pub kmip_version: String,
    pub connections: usize,
    pub mix: String,
    pub objects: usize,
    pub warmup_s: f64,
    /// The measured period, warm-up excluded.
    pub duration_s: f64,
    /// One entry per operation of the mix.
    pub operations: BTreeMap<String, OpReport>,
    pub total: OpReport,
    /// Connections lost or refused during the measured period (each was re-opened).
    pub connection_errors: u64,
    /// Objects created, outside the timings, because the destroy pool ran dry (warm-up
    /// included).
    pub refill_creates: u64,
}

/// The header of a report; the figures come from [`Report::fill`].
pub struct RunInfo {
    pub addr: String,
    pub kmip_version: String,
    pub connections: usize,
    pub mix: String,
    pub objects: usize,
    pub warmup_s: f64,
}

impl Report {
    pub fn fill(info: RunInfo, stats: &Stats, ops: impl Iterator<Item = Op>, secs: f64) -> Report {
        let mut total = OpStats::default();
        let mut operations = BTreeMap::new();
        for op in ops {
            let s = &stats.ops[op.index()];
            total.merge(s);
            operations.insert(op.name().to_string(), OpReport::of(s, secs));
        }
        Report {
            addr: info.addr,
            kmip_version: info.kmip_version,
            connections: info.connections,
            mix: info.mix,
            objects: info.objects,
            warmup_s: info.warmup_s,
            duration_s: (secs * 1000.0).round() / 1000.0,
            operations,
            total: OpReport::of(&total, secs),
            connection_errors: stats.connection_errors,
            refill_creates: stats.refill_creates,
        }
    }

    pub fn json(&self) -> String {
        serde_json::to_string(self).expect("a report always serializes")
    }

    /// The human-readable table.
    pub fn table(&self) -> String {
        let mut t = String::new();
        let _ = writeln!(
            t,
            "{} connection(s) to {} (KMIP {}), mix {}, {:.1} s measured{}",
            self.connections,
            self.addr,
            self.kmip_version,
            self.mix,
            self.duration_s,
            if self.warmup_s > 0.0 {
                format!(" after {:.1} s warm-up", self.warmup_s)
            } else {
                String::new()
            }
        );
        let _ = writeln!(
            t,
            "{:<10} {:>10} {:>8} {:>11} {:>9} {:>9} {:>9} {:>9}",
            "operation", "count", "errors", "ops/s", "p50 ms", "p99 ms", "p999 ms", "max ms"
        );
        let rows = self
            .operations
            .iter()
            .map(|(k, v)| (k.as_str(), v))
            .chain(std::iter::once(("total", &self.total)));
        for (name, r) in rows {
            let ms = |us: f64| us / 1000.0;
            let _ = writeln!(
                t,
                "{:<10} {:>10} {:>8} {:>11.1} {:>9.3} {:>9.3} {:>9.3} {:>9.3}",
                name,
                r.count,
                r.errors,
                r.ops_per_s,
                ms(r.latency.p50_us),
                ms(r.latency.p99_us),
                ms(r.latency.p999_us),
                ms(r.latency.max_us)
            );
        }
        for (name, r) in &self.operations {
            for (reason, n) in &r.result_reasons {
                let _ = writeln!(t, "  {name} failed {n} time(s): {reason}");
            }
        }
        if self.connection_errors > 0 {
            let _ = writeln!(
                t,
                "{} connection error(s); each connection was re-opened",
                self.connection_errors
            );
        }
        if self.refill_creates > 0 {
            let _ = writeln!(
                t,
                "{} object(s) created outside the timings to refill the destroy pool",
                self.refill_creates
            );
        }
        t
    }
}
