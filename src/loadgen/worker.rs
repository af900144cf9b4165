//! The connections of a run: setting up the objects the mix needs, then one task per
//! connection sending one request at a time until told to stop.
//!
//! Objects:
//! - the working set (`--objects N`), created before the run with names `bench-<run>-<i>`,
//!   is what Get reads and Locate looks for (by one of those names); it is never destroyed;
//! - the destroy pool holds Pre-Active objects that may be destroyed: created before the run
//!   (`--destroy-pool`), and fed by the run's own Creates and Registers. Each object is taken
//!   out of the pool once, so it is destroyed once. When the pool runs dry, the connection
//!   that needs one creates a batch of [`REFILL_BATCH`] outside the timings (the time spent
//!   still passes on the wall clock, so destroy ops/s is then a little lower; the report
//!   counts these creates).

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::sync::Barrier;

use super::client::{Conn, Target};
use super::mix::{Mix, Op, Rng};
use super::report::Stats;
use super::requests::{Outcome, Requests, outcomes};

/// Creates per message when setting up or refilling.
pub const REFILL_BATCH: usize = 32;
/// More pooled objects than this are not kept (the rest stay on the server).
const POOL_CAP: usize = 1 << 20;
/// Connection error messages printed before the rest are only counted.
const PRINTED_CONNECTION_ERRORS: u64 = 5;

/// What all connections share.
pub struct Shared {
    pub target: Target,
    pub requests: Requests,
    pub mix: Mix,
    pub run_id: String,
    pub working_set: Vec<String>,
    pub pool: Mutex<Vec<String>>,
    /// Requests started while this holds are counted.
    pub measuring: AtomicBool,
    /// Set when the measured period is over; requests finishing after it are not counted.
    pub stop: AtomicBool,
    /// Requests left to send, with `--requests`.
    pub tickets: Option<AtomicU64>,
    /// For the progress line: answered requests and errors since counting began.
    pub done: AtomicU64,
    pub failed: AtomicU64,
    pub connection_errors_seen: AtomicU64,
    pub quiet: bool,
}

impl Shared {
    pub fn name(&self, i: usize) -> String {
        format!("bench-{}-{}", self.run_id, i)
    }

    fn note_connection_error(&self, message: &str) {
        let n = self.connection_errors_seen.fetch_add(1, Ordering::Relaxed) + 1;
        if self.quiet {
            return;
        }
        if n <= PRINTED_CONNECTION_ERRORS {
            eprintln!("\nconnection error: {message}; reconnecting");
        } else if n == PRINTED_CONNECTION_ERRORS + 1 {
            eprintln!("\nfurther connection errors are only counted");
        }
    }

    fn take_ticket(&self) -> bool {
        match &self.tickets {
            None => true,
            Some(t) => t
                .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| n.checked_sub(1))
                .is_ok(),
        }
    }
}

/// Sends one message on `conn` and reads its batch items; any failure is a string.
async fn exchange(
    conn: &mut Conn,
    request: &[u8],
    timeout: Duration,
) -> Result<Vec<Outcome>, String> {
    let bytes = conn.call(request, timeout).await?;
    outcomes(&bytes)
}

/// Why objects could not be created.
#[derive(Debug)]
pub enum CreateError {
    /// The connection failed; it must be re-opened.
    Connection(String),
    /// The server answered with a failure.
    Refused { reason: String, message: String },
}

impl std::fmt::Display for CreateError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            CreateError::Connection(e) => f.write_str(e),
            CreateError::Refused { reason, message } => {
                write!(f, "Create failed: {reason}")?;
                if !message.is_empty() {
                    write!(f, ": {message}")?;
                }
                Ok(())
            }
        }
    }
}

/// Creates `names.len()` objects in batches over `conn`; returns their identifiers.
pub async fn create_objects(
    conn: &mut Conn,
    requests: &Requests,
    names: &[Option<String>],
    timeout: Duration,
) -> Result<Vec<String>, CreateError> {
    let mut uids = Vec::with_capacity(names.len());
    for chunk in names.chunks(REFILL_BATCH) {
        let request = requests.create_batch(chunk);
        let items = exchange(conn, &request, timeout)
            .await
            .map_err(CreateError::Connection)?;
        let answers = items.len();
        for o in items {
            match (o.success, o.uids.first()) {
                (true, Some(uid)) => uids.push(uid.clone()),
                _ => {
                    return Err(CreateError::Refused {
                        reason: o.failure_label(),
                        message: o.message.unwrap_or_default(),
                    });
                }
            }
        }
        if answers != chunk.len() {
            return Err(CreateError::Refused {
                reason: format!("{answers} answers to a batch of {}", chunk.len()),
                message: String::new(),
            });
        }
    }
    Ok(uids)
}

/// Activates `uids` in batches (set-up for Encrypt, which needs Active keys).
pub async fn activate_objects(
    conn: &mut Conn,
    requests: &Requests,
    uids: &[String],
    timeout: Duration,
) -> Result<(), CreateError> {
    for chunk in uids.chunks(REFILL_BATCH) {
        let items = exchange(conn, &requests.activate_batch(chunk), timeout)
            .await
            .map_err(CreateError::Connection)?;
        if let Some(o) = items.iter().find(|o| !o.success) {
            return Err(CreateError::Refused {
                reason: o.failure_label(),
                message: o.message.clone().unwrap_or_default(),
            });
        }
        if items.len() != chunk.len() {
            return Err(CreateError::Refused {
                reason: format!("{} answers to a batch of {}", items.len(), chunk.len()),
                message: String::new(),
            });
        }
    }
    Ok(())
}

/// The connection task: connect, wait for the start, then send requests until stopped.
pub async fn run_connection(shared: Arc<Shared>, start: Arc<Barrier>, seed: u64) -> Stats {
    let mut stats = Stats::default();
    let mut rng = Rng::new(seed);
    let mut conn = Conn::connect(&shared.target).await.ok();
    start.wait().await;
    let mut backoff = Duration::from_millis(50);
    while !shared.stop.load(Ordering::Relaxed) {
        let Some(c) = conn.as_mut() else {
            match Conn::connect(&shared.target).await {
                Ok(c) => {
                    conn = Some(c);
                    backoff = Duration::from_millis(50);
                }
                Err(e) => {
                    if shared.measuring.load(Ordering::Relaxed) {
                        stats.connection_errors += 1;
                    }
                    shared.note_connection_error(&e);
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(Duration::from_secs(2));
                }
            }
            continue;
        };
        let measured = shared.measuring.load(Ordering::Relaxed);
        if measured && !shared.take_ticket() {
            break;
        }
        let op = shared.mix.pick(&mut rng);
        let request = match prepare(op, &shared, c, &mut rng, &mut stats).await {
            Ok(r) => r,
            Err(CreateError::Connection(e)) => {
                conn = None;
                count_failure(&shared, &mut stats, measured, op, "connection error".into());
                if measured {
                    stats.connection_errors += 1;
                }
                shared.note_connection_error(&e);
                continue;
            }
            Err(refused) => {
                let label = format!("refilling the destroy pool: {refused}");
                count_failure(&shared, &mut stats, measured, op, label);
                continue;
            }
        };
        let began = Instant::now();
        let result = exchange(c, &request, shared.target.timeout).await;
        let nanos = began.elapsed().as_nanos() as u64;
        let counted = measured && !shared.stop.load(Ordering::Relaxed);
        match result {
            Ok(items) => {
                let o = items.into_iter().next().unwrap_or_default();
                match judge(op, &o) {
                    Ok(()) => {
                        if counted {
                            stats.op(op).success(nanos);
                        }
                        shared.done.fetch_add(1, Ordering::Relaxed);
                        if matches!(op, Op::Create | Op::Register) && shared.mix.has(Op::Destroy) {
                            give_back(&shared, o.uids);
                        }
                    }
                    Err(label) => count_failure(&shared, &mut stats, counted, op, label),
                }
            }
            Err(e) => {
                conn = None;
                count_failure(&shared, &mut stats, counted, op, "connection error".into());
                if counted {
                    stats.connection_errors += 1;
                }
                shared.note_connection_error(&e);
            }
        }
    }
    stats
}

fn count_failure(shared: &Shared, stats: &mut Stats, counted: bool, op: Op, label: String) {
    shared.done.fetch_add(1, Ordering::Relaxed);
    shared.failed.fetch_add(1, Ordering::Relaxed);
    if counted {
        stats.op(op).failure(label);
    }
}

/// Whether a response is what the operation should have got.
fn judge(op: Op, o: &Outcome) -> Result<(), String> {
    if !o.success {
        return Err(o.failure_label());
    }
    match op {
        Op::Create | Op::Register if o.uids.is_empty() => Err("no Unique Identifier".into()),
        Op::Get if !o.has_object => Err("Get returned no object".into()),
        Op::Locate if o.uids.is_empty() => Err("Locate found nothing".into()),
        Op::Encrypt if !o.has_data => Err("Encrypt returned no Data".into()),
        _ => Ok(()),
    }
}

fn give_back(shared: &Shared, uids: Vec<String>) {
    let mut pool = shared.pool.lock().expect("pool lock");
    if pool.len() < POOL_CAP {
        pool.extend(uids);
    }
}

/// Builds the request for `op`. For Destroy, takes an object from the pool, refilling the
/// pool over `conn`, untimed, if it is empty. An object taken is never offered again, even
/// if its Destroy fails on the connection (its fate is then unknown).
async fn prepare(
    op: Op,
    shared: &Shared,
    conn: &mut Conn,
    rng: &mut Rng,
    stats: &mut Stats,
) -> Result<Vec<u8>, CreateError> {
    let r = &shared.requests;
    Ok(match op {
        Op::Create => r.create(None),
        Op::Get => {
            let i = rng.below(shared.working_set.len() as u64) as usize;
            r.get(&shared.working_set[i])
        }
        Op::Locate => {
            let i = rng.below(shared.working_set.len() as u64) as usize;
            r.locate(&shared.name(i))
        }
        Op::Register => {
            let mut key = vec![0u8; 32];
            rng.fill(&mut key);
            r.register(key)
        }
        Op::Encrypt => {
            // 32 bytes: a data key, as the database clients that use Encrypt send.
            let i = rng.below(shared.working_set.len() as u64) as usize;
            let mut data = vec![0u8; 32];
            rng.fill(&mut data);
            r.encrypt(&shared.working_set[i], data)
        }
        Op::Destroy => {
            let taken = shared.pool.lock().expect("pool lock").pop();
            let uid = match taken {
                Some(uid) => uid,
                None => {
                    let names = vec![None; REFILL_BATCH];
                    let mut uids = create_objects(conn, r, &names, shared.target.timeout).await?;
                    stats.refill_creates += uids.len() as u64;
                    let uid = uids.pop().expect("a batch of creates");
                    give_back(shared, uids);
                    uid
                }
            };
            r.destroy(&uid)
        }
    })
}
