//! Handler threads: a small fixed set of threads that run request handlers taken from one
//! queue, so that under load a request is handed over without a thread switch of its own.
//!
//! Handler threads never wait for an fsync (writes are awaited asynchronously, see
//! [`super::Staged`]), so their work is CPU work: one thread per core is enough. A busy
//! thread takes the next job as soon as it finishes one; a thread that finds the queue
//! empty keeps looking for [`SPIN`] (yielding the CPU to anything runnable between looks)
//! before it sleeps, and a sleeping thread is woken only when a job arrives and no thread
//! is awake to take it. Waking a sleeping thread is the expensive part on a virtual machine
//! (an inter-processor interrupt and a host wake-up: about 60 µs per round trip here,
//! `docs/benchmarks.md`), and under load the next request nearly always comes within the
//! spin.
//!
//! The connection uses the pool when another handler is running or a pool thread is awake
//! ([`HandlerPool::enter`]); a lone request on a quiet server runs on the connection's own
//! thread after it has handed its worker core away (`block_in_place`), which costs less
//! than waking a pool thread. Either way no handler runs on an async worker thread.

use std::collections::VecDeque;
use std::panic::AssertUnwindSafe;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex};

/// How long a pool thread that found nothing to do keeps looking before it sleeps.
pub(super) const SPIN: std::time::Duration = std::time::Duration::from_micros(50);

type Job = Box<dyn FnOnce() + Send + 'static>;

pub(super) struct HandlerPool {
    shared: Arc<Shared>,
}

struct Shared {
    state: Mutex<State>,
    wake: Condvar,
    /// Handlers queued or running, in the pool or not (see [`HandlerPool::enter`]).
    load: AtomicUsize,
    /// Jobs in the queue (a mirror of `state.jobs.len()` for spinning threads).
    queued: AtomicUsize,
    /// Pool threads not asleep (running a job or spinning for the next one).
    awake: AtomicUsize,
    /// Pool threads spinning for the next job.
    spinning: AtomicUsize,
}

/// A handler counted as running (see [`HandlerPool::enter`]) until dropped.
pub(super) struct Running<'p>(&'p HandlerPool);

impl Drop for Running<'_> {
    fn drop(&mut self) {
        self.0.shared.load.fetch_sub(1, Ordering::Relaxed);
    }
}

#[derive(Default)]
struct State {
    jobs: VecDeque<Job>,
    sleeping: usize,
    shutdown: bool,
}

impl HandlerPool {
    /// Starts `threads` handler threads (at least one).
    pub fn new(threads: usize) -> std::io::Result<Self> {
        let shared = Arc::new(Shared {
            state: Mutex::new(State::default()),
            wake: Condvar::new(),
            load: AtomicUsize::new(0),
            queued: AtomicUsize::new(0),
            awake: AtomicUsize::new(threads.max(1)),
            spinning: AtomicUsize::new(0),
        });
        for i in 0..threads.max(1) {
            let shared = shared.clone();
            std::thread::Builder::new()
                .name(format!("kmipd-handler-{i}"))
                .spawn(move || work(&shared))?;
        }
        Ok(HandlerPool { shared })
    }

    /// Counts a handler the caller runs on its own thread, and says whether it is alone:
    /// `Some` (run it yourself, holding the guard) when no other handler is queued or
    /// running and every pool thread is asleep, `None` (give it to [`HandlerPool::run`],
    /// where an awake thread takes it without being woken) otherwise.
    pub fn enter(&self) -> Option<Running<'_>> {
        if self.shared.awake.load(Ordering::Relaxed) > 0 {
            return None;
        }
        self.shared
            .load
            .compare_exchange(0, 1, Ordering::Relaxed, Ordering::Relaxed)
            .ok()
            .map(|_| Running(self))
    }

    /// Queues `f`; the receiver gets its result, or is dropped if it panicked or the pool
    /// has stopped.
    pub fn run<R: Send + 'static>(
        &self,
        f: impl FnOnce() -> R + Send + 'static,
    ) -> tokio::sync::oneshot::Receiver<R> {
        let (tx, rx) = tokio::sync::oneshot::channel();
        let job: Job = Box::new(move || {
            if let Ok(r) = std::panic::catch_unwind(AssertUnwindSafe(f)) {
                drop(tx.send(r));
            }
        });
        let mut state = self.shared.state.lock().unwrap_or_else(|e| e.into_inner());
        if state.shutdown {
            return rx; // dropped sender: the caller sees a failure
        }
        self.shared.load.fetch_add(1, Ordering::Relaxed);
        state.jobs.push_back(job);
        self.shared.queued.fetch_add(1, Ordering::Relaxed);
        // A spinning thread takes the job (it checks the queue under the lock after it stops
        // spinning, so the job cannot be missed); otherwise a sleeping one is woken.
        let wake = state.sleeping > 0 && self.shared.spinning.load(Ordering::Relaxed) == 0;
        drop(state);
        if wake {
            self.shared.wake.notify_one();
        }
        rx
    }
}

impl Drop for HandlerPool {
    /// The threads finish the queued jobs, then end.
    fn drop(&mut self) {
        let mut state = self.shared.state.lock().unwrap_or_else(|e| e.into_inner());
        state.shutdown = true;
        drop(state);
        self.shared.wake.notify_all();
    }
}

fn work(shared: &Shared) {
    let mut state = shared.state.lock().unwrap_or_else(|e| e.into_inner());
    loop {
        if let Some(job) = state.jobs.pop_front() {
            shared.queued.fetch_sub(1, Ordering::Relaxed);
            drop(state);
            job();
            shared.load.fetch_sub(1, Ordering::Relaxed);
            state = shared.state.lock().unwrap_or_else(|e| e.into_inner());
            continue;
        }
        if state.shutdown {
            return;
        }
        shared.spinning.fetch_add(1, Ordering::Relaxed);
        drop(state);
        let until = std::time::Instant::now() + SPIN;
        while shared.queued.load(Ordering::Relaxed) == 0 && std::time::Instant::now() < until {
            std::thread::yield_now();
        }
        shared.spinning.fetch_sub(1, Ordering::Relaxed);
        state = shared.state.lock().unwrap_or_else(|e| e.into_inner());
        if !state.jobs.is_empty() || state.shutdown {
            continue;
        }
        state.sleeping += 1;
        shared.awake.fetch_sub(1, Ordering::Relaxed);
        state = shared.wake.wait(state).unwrap_or_else(|e| e.into_inner());
        shared.awake.fetch_add(1, Ordering::Relaxed);
        state.sleeping -= 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn runs_jobs_survives_panics_and_drains_on_drop() {
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .expect("runtime");
        let pool = HandlerPool::new(2).expect("pool");
        let answers: Vec<_> = (0..100u32).map(|i| pool.run(move || i * 2)).collect();
        let panicked = pool.run(|| -> u32 { panic!("a handler bug") });
        rt.block_on(async {
            for (i, rx) in answers.into_iter().enumerate() {
                assert_eq!(rx.await.expect("answer"), i as u32 * 2);
            }
            assert!(panicked.await.is_err(), "a panic drops the answer");
        });
        // A job's count drops just after its answer is sent: idle again shortly.
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while pool.enter().is_none() {
            assert!(std::time::Instant::now() < deadline, "never idle again");
            std::thread::yield_now();
        }
        let late = pool.run(|| 7u32);
        drop(pool);
        assert_eq!(rt.block_on(late).expect("queued before drop"), 7);
    }

    #[test]
    fn jobs_arriving_while_threads_spin_or_sleep_all_run() {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()
            .expect("runtime");
        let pool = HandlerPool::new(2).expect("pool");
        rt.block_on(async {
            // Gaps shorter than, near and longer than the spin: each job finds the threads
            // busy, spinning or asleep, and none is lost.
            for (i, gap_us) in [0u64, 10, 40, 60, 200, 2000]
                .iter()
                .cycle()
                .take(60)
                .enumerate()
            {
                let rx = pool.run(move || i);
                let answer = tokio::time::timeout(std::time::Duration::from_secs(10), rx)
                    .await
                    .expect("answered in time")
                    .expect("answer");
                assert_eq!(answer, i);
                std::thread::sleep(std::time::Duration::from_micros(*gap_us));
            }
        });
        // Once idle past the spin, every thread sleeps and a lone handler may run in place.
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while pool.enter().is_none() {
            assert!(
                std::time::Instant::now() < deadline,
                "threads never went to sleep"
            );
            std::thread::sleep(SPIN);
        }
        assert_eq!(pool.shared.awake.load(Ordering::Relaxed), 0);
    }
}
