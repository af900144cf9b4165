//! `kmipd bench`: a load generator for any KMIP server over mutually authenticated TLS.
//!
//! It speaks only standard KMIP (binary TTLV, one request at a time per connection), so it
//! measures PyKMIP's server or a commercial one exactly as it measures kmipd. A run is:
//! 1. a probe: one connection and a Discover Versions, so that a wrong address, CA or client
//!    certificate is a clear error before anything else happens;
//! 2. set-up, untimed: the working set for Get, Locate and Encrypt (`--objects`; activated
//!    when the mix has Encrypt, which takes AES-CBC with PKCS5 padding and a server-drawn IV
//!    over 32 bytes) and the destroy pool (see [`worker`] for how objects are used and
//!    refilled);
//! 3. every connection opened (at most [`client::CONNECTS_AT_ONCE`] handshakes at a time,
//!    as a steady client fleet would, not one burst from one address), then all start
//!    together; an optional warm-up whose requests are not counted; the measured period
//!    (`--duration`, or `--requests` in total). The connections are shared out among
//!    `--threads` threads, each running its share on a single-threaded runtime of its own
//!    (as `wrk` does), so the load generator's threads never steal work from or wake one
//!    another;
//! 4. the report: per operation count, errors, ops/s and p50/p99/p999 latency, as a table or
//!    one JSON line (`--json`). A live progress line goes to stderr meanwhile.
//!
//! Failed KMIP results are errors tallied by Result Reason; a connection that fails is
//! reported and re-opened while the other connections carry on. Ctrl-C ends the measured
//! period early and still prints the report.
//!
//! This room may use tokio, rustls and the clock (it is a client, wired in by `main`); it
//! uses the typed model of [`crate::kmip`] to build requests and nothing of `ops` or
//! `store`. The server-side code appears only in its tests.
//!
//! Layout: `client` (TLS connection and framing), `requests` (request building, response
//! reading), `worker` (set-up and the connection loop), `mix` (operation weights, PRNG),
//! `histogram`, `report`.

pub mod client;
mod histogram;
mod mix;
mod report;
mod requests;
mod worker;

use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use tokio::sync::Barrier;
use tokio_rustls::TlsConnector;

pub use histogram::Histogram;
pub use mix::{Mix, Op};
pub use report::{Latency, OpReport, Report};
pub use requests::{Outcome, Requests, outcomes};

use crate::kmip::KmipVersion;
use client::{Conn, Target};
use report::{RunInfo, Stats};
use worker::{Shared, activate_objects, create_objects};

/// The options of `kmipd bench`.
#[derive(clap::Args, Debug, Clone)]
pub struct BenchArgs {
    /// The server, HOST:PORT.
    #[arg(long, default_value = "127.0.0.1:5696")]
    pub addr: String,
    /// PEM file of the CA that issued the server's certificate.
    #[arg(long)]
    pub ca: PathBuf,
    /// PEM file of the client certificate (chain) presented to the server.
    #[arg(long)]
    pub cert: PathBuf,
    /// PEM file of the client certificate's private key.
    #[arg(long)]
    pub key: PathBuf,
    /// The name the server certificate must carry (and SNI); default: the host of --addr.
    #[arg(long)]
    pub server_name: Option<String>,
    /// Send each request as KMIP over HTTPS (KMIP Additional Message Encodings §2): POSTed
    /// to this path (e.g. `/kmip`) as `application/octet-stream` on kept-alive connections.
    /// Default: TTLV straight over TLS.
    #[arg(long, value_name = "PATH")]
    pub http: Option<String>,
    /// KMIP protocol version of the requests (1.0 to 2.1). 1.x requests carry
    /// Template-Attribute, 2.x requests Attributes.
    #[arg(long, default_value = "1.2", value_parser = parse_version)]
    pub kmip_version: KmipVersion,
    /// Concurrent connections, each with one request in flight.
    #[arg(long, default_value_t = 1)]
    pub connections: usize,
    /// Seconds of measurement (after the warm-up).
    #[arg(long, default_value_t = 10.0)]
    pub duration: f64,
    /// Stop after this many measured requests in total instead of after --duration.
    #[arg(long)]
    pub requests: Option<u64>,
    /// Operations and their weights: create, get, locate, destroy, register, encrypt
    /// (e.g. `create=1,get=10,locate=1,destroy=1,register=1,encrypt=5`).
    #[arg(long, default_value = "get=1", value_parser = Mix::parse)]
    pub mix: Mix,
    /// Objects created before the run, named `bench-<run>-<i>`, that Get reads and Locate
    /// looks up by name.
    #[arg(long, default_value_t = 100)]
    pub objects: usize,
    /// Objects created before the run for Destroy to consume; default: --objects.
    #[arg(long)]
    pub destroy_pool: Option<usize>,
    /// Seconds of load before measuring starts (not counted).
    #[arg(long, default_value_t = 0.0)]
    pub warmup: f64,
    /// Seconds allowed for connecting, the handshake, and each request.
    #[arg(long, default_value_t = 30.0)]
    pub timeout: f64,
    /// Threads that run the connections, each a single-threaded runtime with its share of
    /// them; 0: one per core. On a machine shared with the server, 1 leaves the server more
    /// of the CPU.
    #[arg(long, default_value_t = 0)]
    pub threads: usize,
    /// Print one JSON line (and no progress) instead of the table.
    #[arg(long)]
    pub json: bool,
}

fn parse_version(text: &str) -> Result<KmipVersion, String> {
    KmipVersion::ALL
        .into_iter()
        .find(|v| v.to_string() == text.trim())
        .ok_or_else(|| format!("{text:?}: one of 1.0, 1.1, 1.2, 1.3, 1.4, 2.0, 2.1"))
}

/// Runs `kmipd bench`: prints the report to stdout. Blocks; builds its own tokio runtime.
pub fn run(args: &BenchArgs) -> Result<(), String> {
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    run_with(args, &mut out).map(|_| ())
}

/// As [`run`], writing the report to `out` and returning it.
pub fn run_with(args: &BenchArgs, out: &mut dyn Write) -> Result<Report, String> {
    check(args)?;
    let mut builder = tokio::runtime::Builder::new_multi_thread();
    if args.threads > 0 {
        builder.worker_threads(args.threads);
    }
    let runtime = builder
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start the runtime: {e}"))?;
    let report = runtime.block_on(bench(args))?;
    let text = if args.json {
        report.json() + "\n"
    } else {
        report.table()
    };
    out.write_all(text.as_bytes())
        .and_then(|()| out.flush())
        .map_err(|e| format!("writing the report: {e}"))?;
    Ok(report)
}

fn check(args: &BenchArgs) -> Result<(), String> {
    let positive = |v: f64| v.is_finite() && v > 0.0;
    if args.connections == 0 || args.connections > 10_000 {
        return Err("--connections must be between 1 and 10000".into());
    }
    if !positive(args.duration) || !positive(args.timeout) {
        return Err("--duration and --timeout must be positive".into());
    }
    if !(args.warmup.is_finite() && args.warmup >= 0.0) {
        return Err("--warmup must be zero or positive".into());
    }
    if args.requests == Some(0) {
        return Err("--requests must be positive".into());
    }
    if needs_working_set(&args.mix) && args.objects == 0 {
        return Err(
            "get, locate and encrypt need a working set: --objects must be positive".into(),
        );
    }
    Ok(())
}

/// Get, Locate and Encrypt use the named objects created at set-up.
fn needs_working_set(mix: &Mix) -> bool {
    mix.has(Op::Get) || mix.has(Op::Locate) || mix.has(Op::Encrypt)
}

fn note(args: &BenchArgs, text: &str) {
    if !args.json {
        eprintln!("{text}");
    }
}

async fn bench(args: &BenchArgs) -> Result<Report, String> {
    let config = client::tls_config(&args.ca, &args.cert, &args.key)?;
    let target = Target {
        addr: args.addr.clone(),
        server_name: client::server_name(&args.addr, args.server_name.as_deref())?,
        connector: TlsConnector::from(config),
        timeout: Duration::from_secs_f64(args.timeout),
        http_path: args.http.clone(),
        connecting: Arc::new(tokio::sync::Semaphore::new(client::CONNECTS_AT_ONCE)),
    };
    let requests = Requests::new(args.kmip_version);
    probe(args, &target, &requests).await?;

    let run_id = format!(
        "{:08x}",
        SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .map(|d| d.as_nanos() as u32)
            .unwrap_or(0)
    );
    let name = |i: usize| format!("bench-{run_id}-{i}");
    let working_names: Vec<Option<String>> = if needs_working_set(&args.mix) {
        (0..args.objects).map(|i| Some(name(i))).collect()
    } else {
        Vec::new()
    };
    let pool_size = if args.mix.has(Op::Destroy) {
        args.destroy_pool.unwrap_or(args.objects)
    } else {
        0
    };
    if !working_names.is_empty() || pool_size > 0 {
        note(
            args,
            &format!(
                "setting up: {} named object(s) for get/locate, {pool_size} for destroy (run {run_id})",
                working_names.len()
            ),
        );
    }
    let setup_conns = args.connections.clamp(1, 4);
    let working_set = setup(&target, &requests, working_names, setup_conns).await?;
    if args.mix.has(Op::Encrypt) {
        // Encrypt needs Active keys: the working set is activated (Get and Locate serve
        // Active keys as well as Pre-Active ones).
        let mut conn = Conn::connect(&target).await?;
        activate_objects(&mut conn, &requests, &working_set, target.timeout)
            .await
            .map_err(|e| format!("activating the working set: {e}"))?;
    }
    let pool = setup(&target, &requests, vec![None; pool_size], setup_conns).await?;

    let shared = Arc::new(Shared {
        target,
        requests,
        mix: args.mix.clone(),
        run_id,
        working_set,
        pool: Mutex::new(pool),
        measuring: AtomicBool::new(false),
        stop: AtomicBool::new(false),
        tickets: args.requests.map(AtomicU64::new),
        done: AtomicU64::new(0),
        failed: AtomicU64::new(0),
        connection_errors_seen: AtomicU64::new(0),
        quiet: args.json,
    });
    let start = Arc::new(Barrier::new(args.connections + 1));
    let seed = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(1);
    // Every shard's runtime first: a failure there stops the run before anything waits at
    // the start line.
    let runtimes = (0..shard_count(args.threads, args.connections))
        .map(|_| {
            tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
        })
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| format!("cannot start a load generator runtime: {e}"))?;
    let shards = runtimes.len();
    let mut tasks = tokio::task::JoinSet::new();
    for (shard, runtime) in runtimes.into_iter().enumerate() {
        let seeds: Vec<u64> = (shard..args.connections)
            .step_by(shards)
            .map(|i| seed ^ (i as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15))
            .collect();
        let (tx, rx) = tokio::sync::oneshot::channel();
        let (shard_shared, shard_start) = (shared.clone(), start.clone());
        let spawned = std::thread::Builder::new()
            .name(format!("kmipd-bench-{shard}"))
            .spawn(move || {
                let stats = run_shard(&runtime, shard_shared, shard_start, seeds);
                drop(tx.send(stats));
            });
        if let Err(e) = spawned {
            // The shards already running wait at the start line for the connections of this
            // one and the next: stand in for those, so that they pass it, see the stop and end.
            shared.stop.store(true, Ordering::Relaxed);
            let started: usize = (0..shard)
                .map(|j| (j..args.connections).step_by(shards).count())
                .sum();
            let missing = args.connections - started;
            for _ in 0..missing {
                let start = start.clone();
                tokio::spawn(async move { start.wait().await });
            }
            start.wait().await;
            return Err(format!("cannot start a load generator thread: {e}"));
        }
        tasks.spawn(async move {
            rx.await
                .unwrap_or_else(|_| Err("a load generator thread stopped".into()))
        });
    }
    start.wait().await;

    let mut progress = Progress::new(args);
    if args.warmup > 0.0 {
        let warm_until = Instant::now() + Duration::from_secs_f64(args.warmup);
        while Instant::now() < warm_until {
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
    shared.done.store(0, Ordering::Relaxed);
    shared.failed.store(0, Ordering::Relaxed);
    shared.measuring.store(true, Ordering::Relaxed);
    let began = Instant::now();
    let stop_at = args
        .requests
        .is_none()
        .then(|| began + Duration::from_secs_f64(args.duration));
    let mut ended = None;
    let mut stats = Stats::default();
    let mut tick = tokio::time::interval(Duration::from_millis(250));
    let mut interrupted = std::pin::pin!(tokio::signal::ctrl_c());
    loop {
        tokio::select! {
            joined = tasks.join_next() => match joined {
                Some(Ok(Ok(s))) => {
                    stats.merge(&s);
                    if tasks.is_empty() {
                        ended.get_or_insert_with(Instant::now);
                        break;
                    }
                }
                Some(Ok(Err(e))) => {
                    shared.stop.store(true, Ordering::Relaxed);
                    return Err(e);
                }
                Some(Err(e)) => {
                    shared.stop.store(true, Ordering::Relaxed);
                    return Err(format!("a load generator thread failed: {e}"));
                }
                None => break,
            },
            _ = tick.tick() => {
                let now = Instant::now();
                progress.show(&shared, now - began);
                if stop_at.is_some_and(|t| now >= t) && ended.is_none() {
                    ended = Some(now);
                    shared.stop.store(true, Ordering::Relaxed);
                }
            }
            _ = &mut interrupted, if ended.is_none() => {
                note(args, "\ninterrupted: stopping");
                ended = Some(Instant::now());
                shared.stop.store(true, Ordering::Relaxed);
            }
        }
    }
    progress.finish();
    let secs = (ended.unwrap_or_else(Instant::now) - began).as_secs_f64();
    let info = RunInfo {
        addr: args.addr.clone(),
        kmip_version: args.kmip_version.to_string(),
        connections: args.connections,
        mix: args.mix.to_string(),
        objects: args.objects,
        warmup_s: args.warmup,
    };
    Ok(Report::fill(info, &stats, args.mix.ops(), secs))
}

/// How many threads run the connections: `threads`, or one per core when 0, and never more
/// than there are connections.
fn shard_count(threads: usize, connections: usize) -> usize {
    let threads = match threads {
        0 => std::thread::available_parallelism().map_or(1, |n| n.get()),
        n => n,
    };
    threads.clamp(1, connections.max(1))
}

/// Runs one thread's share of the connections on a single-threaded runtime of its own
/// (a shard, as `wrk` runs its connections): a connection's socket, timers and task stay on
/// one thread, so the load generator's threads never steal work from or wake one another,
/// and what the load generator costs per request is its requests' own work. Returns the
/// shard's counts once every connection has ended.
fn run_shard(
    runtime: &tokio::runtime::Runtime,
    shared: Arc<Shared>,
    start: Arc<Barrier>,
    seeds: Vec<u64>,
) -> Result<Stats, String> {
    runtime.block_on(async move {
        let mut connections = tokio::task::JoinSet::new();
        for seed in seeds {
            connections.spawn(worker::run_connection(shared.clone(), start.clone(), seed));
        }
        let mut stats = Stats::default();
        while let Some(joined) = connections.join_next().await {
            match joined {
                Ok(s) => stats.merge(&s),
                Err(e) => {
                    shared.stop.store(true, Ordering::Relaxed);
                    return Err(format!("a connection task failed: {e}"));
                }
            }
        }
        Ok(stats)
    })
}

/// One connection and a Discover Versions: success, or Operation Not Supported (a 1.0
/// server's answer), will do; any other failure means the server does not take requests of
/// this version, which is said at once rather than as errors of every request.
async fn probe(args: &BenchArgs, target: &Target, requests: &Requests) -> Result<(), String> {
    let mut conn = Conn::connect(target).await?;
    let bytes = conn
        .call(&requests.discover_versions(), target.timeout)
        .await
        .map_err(|e| format!("{}: the first request failed: {e}", target.addr))?;
    let items = outcomes(&bytes).map_err(|e| format!("{}: {e}", target.addr))?;
    match items.first() {
        Some(o) if !o.success && o.reason.as_deref() != Some("OperationNotSupported") => {
            Err(format!(
                "{}: the server refused a KMIP {} Discover Versions with {}{}; \
                 it may not speak KMIP {} (see --kmip-version)",
                target.addr,
                args.kmip_version,
                o.failure_label(),
                o.message
                    .as_ref()
                    .map(|m| format!(" ({m})"))
                    .unwrap_or_default(),
                args.kmip_version,
            ))
        }
        _ => Ok(()),
    }
}

/// Creates objects with the given names (or unnamed) over up to `conns` connections.
async fn setup(
    target: &Target,
    requests: &Requests,
    names: Vec<Option<String>>,
    conns: usize,
) -> Result<Vec<String>, String> {
    if names.is_empty() {
        return Ok(Vec::new());
    }
    let per = names.len().div_ceil(conns);
    let mut tasks = tokio::task::JoinSet::new();
    for (i, chunk) in names.chunks(per).enumerate() {
        let chunk = chunk.to_vec();
        let target = target.clone();
        let requests = *requests;
        tasks.spawn(async move {
            let mut conn = Conn::connect(&target).await?;
            let uids = create_objects(&mut conn, &requests, &chunk, target.timeout)
                .await
                .map_err(|e| format!("setting up objects: {e}"))?;
            Ok::<_, String>((i, uids))
        });
    }
    let mut parts = Vec::new();
    while let Some(joined) = tasks.join_next().await {
        parts.push(joined.map_err(|e| format!("set-up task failed: {e}"))??);
    }
    parts.sort_by_key(|(i, _)| *i);
    Ok(parts.into_iter().flat_map(|(_, uids)| uids).collect())
}

/// The live progress line on stderr: rewritten in place about once a second on a terminal,
/// a plain line every five seconds otherwise, nothing with `--json`.
struct Progress {
    enabled: bool,
    tty: bool,
    last: Option<Instant>,
    shown: bool,
}

impl Progress {
    fn new(args: &BenchArgs) -> Progress {
        Progress {
            enabled: !args.json,
            tty: std::io::stderr().is_terminal(),
            last: None,
            shown: false,
        }
    }

    fn show(&mut self, shared: &Shared, elapsed: Duration) {
        if !self.enabled {
            return;
        }
        let every = if self.tty { 1.0 } else { 5.0 };
        let now = Instant::now();
        if self
            .last
            .is_some_and(|l| (now - l).as_secs_f64() < every - 0.05)
            || elapsed.as_secs_f64() < every - 0.05
        {
            return;
        }
        self.last = Some(now);
        let done = shared.done.load(Ordering::Relaxed);
        let failed = shared.failed.load(Ordering::Relaxed);
        let secs = elapsed.as_secs_f64();
        let line = format!(
            "{secs:6.1} s  {done:>10} requests  {:>10.0} ops/s  {failed} error(s)",
            (done - failed.min(done)) as f64 / secs
        );
        if self.tty {
            eprint!("\r\x1b[2K{line}");
            self.shown = true;
        } else {
            eprintln!("{line}");
        }
    }

    fn finish(&mut self) {
        if self.shown {
            eprintln!();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::shard_count;

    #[test]
    fn shards_are_as_many_as_asked_but_never_more_than_connections() {
        assert_eq!(shard_count(3, 7), 3);
        assert_eq!(shard_count(4, 2), 2);
        assert_eq!(shard_count(1, 64), 1);
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        assert_eq!(shard_count(0, 10_000), cores);
        assert_eq!(shard_count(0, 1), 1);
    }
}
