//! The GEMM thread team: persistent workers that spin briefly between jobs,
//! with the calling thread doing a share of every job itself.
//!
//! Why not rayon for GEMM: after the pool goes idle, rayon's workers sleep,
//! and the second one wakes tens of µs after a job is posted. A 512³ GEMM on
//! two threads is ~3 ms and runs two parallel phases (pack, compute) per
//! superblock, and training shapes are far smaller, so late wake-ups cost
//! 10–50 % of two-thread throughput. Here the caller posts a job and starts
//! on it at once; tasks come from an atomic counter, so a worker that
//! arrives late just takes fewer tasks, and one that never arrives (parked,
//! descheduled, or lost to `fork`) costs nothing but its share of speed-up.
//! Workers spin for [`SPIN`] after a job (the next GEMM phase usually
//! follows within µs), then park, so an idle team costs no CPU.
//!
//! On by default; `DLCORE_GEMM_TEAM=0` or `_core.gemm_team(False)` falls
//! back to rayon (see [`enabled`] for the measurements).
//!
//! Only one caller uses the team at a time ([`Par::new`] takes it with
//! `try_lock`). Others — a second Python thread, or a GEMM called from
//! inside a rayon task (per-sample conv, attention tiles) — get rayon, as
//! before: no deadlock, and no team threads on top of a busy rayon pool.
//!
//! Job protocol (one `AtomicU64`, `state`): generation (high 32 bits), a
//! CLOSED bit, and the number of workers inside the job (low 31 bits). A
//! worker enters by CAS only while the generation is the one it woke for
//! and the job is not closed; the caller, once the task counter runs out,
//! sets CLOSED and waits only for the workers already inside. So the job,
//! which lives on the caller's stack, is never touched after the caller
//! returns, and the caller never waits for a worker that has not started.

use rayon::prelude::*;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, AtomicPtr, AtomicU64, AtomicUsize, Ordering::*};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};
use std::thread::{self, Thread};
use std::time::{Duration, Instant};

/// How long an idle worker spins before it parks. Long enough to bridge the
/// gap between two phases or two GEMMs of a layer (µs), short enough that a
/// spinning worker does not hold a core the elementwise ops between layers
/// (on rayon) need for long.
pub const SPIN: Duration = Duration::from_micros(100);

fn spin() -> Duration {
    static S: OnceLock<Duration> = OnceLock::new();
    *S.get_or_init(|| {
        std::env::var("DLCORE_GEMM_SPIN_US")
            .ok()
            .and_then(|v| v.parse().ok())
            .map_or(SPIN, Duration::from_micros)
    })
}

/// How long the caller spins for workers still inside a finished job
/// before it parks.
const CLOSE_SPIN: Duration = Duration::from_micros(20);

const CLOSED: u64 = 1 << 31;
const COUNT: u64 = CLOSED - 1;

fn generation(s: u64) -> u64 {
    s >> 32
}

/// One posted job: run `call(data, i)` for i in 0..n, claimed through `next`.
struct Job {
    data: *const (),
    call: unsafe fn(*const (), usize),
    n: usize,
    next: AtomicUsize,
    /// Workers with index < this take part (the team may be larger).
    workers: usize,
    panicked: AtomicBool,
    /// Woken by the last worker to leave a closed job.
    caller: Thread,
}

impl Job {
    /// Claims and runs tasks until none are left. A panicking task is
    /// recorded (the caller re-raises it) instead of killing the thread.
    fn work(&self) {
        loop {
            let i = self.next.fetch_add(1, Relaxed);
            if i >= self.n {
                return;
            }
            // SAFETY: `data` points to the closure `call` was instantiated
            // for, alive until the caller's `run` returns (see `Shared`).
            let r = catch_unwind(AssertUnwindSafe(|| unsafe { (self.call)(self.data, i) }));
            if r.is_err() {
                self.panicked.store(true, Relaxed);
            }
        }
    }
}

/// # Safety
/// `data` must point to a live `F`.
unsafe fn trampoline<F: Fn(usize) + Sync>(data: *const (), i: usize) {
    // SAFETY: the caller's contract.
    unsafe { (*data.cast::<F>())(i) }
}

#[cfg(test)]
pub static WORKER_JOBS: AtomicUsize = AtomicUsize::new(0);
#[cfg(test)]
pub static POSTED: AtomicUsize = AtomicUsize::new(0);

struct Shared {
    state: AtomicU64,
    job: AtomicPtr<Job>,
}

struct Slot {
    sleeping: AtomicBool,
    thread: Thread,
}

/// The workers and the job slot they watch (behind `team()`'s lock).
pub struct Team {
    shared: Arc<Shared>,
    slots: Vec<Arc<Slot>>,
}

fn team() -> &'static Mutex<Team> {
    static TEAM: OnceLock<Mutex<Team>> = OnceLock::new();
    TEAM.get_or_init(|| {
        Mutex::new(Team {
            shared: Arc::new(Shared {
                state: AtomicU64::new(0),
                job: AtomicPtr::new(std::ptr::null_mut()),
            }),
            slots: Vec::new(),
        })
    })
}

fn worker(shared: Arc<Shared>, index: usize, slot: Arc<Slot>, mut seen: u64) {
    loop {
        let s = wait_for_job(&shared, &slot, seen);
        seen = generation(s);
        if !enter(&shared, seen) {
            continue;
        }
        // SAFETY: inside the job (count > 0), so the caller has not returned
        // and the pointer it published before this generation is live.
        let job = unsafe { &*shared.job.load(Acquire) };
        if index < job.workers {
            #[cfg(test)]
            WORKER_JOBS.fetch_add(1, Relaxed);
            job.work();
        }
        // taken before leaving: once we are out the job may be gone
        let caller = job.caller.clone();
        let prev = shared.state.fetch_sub(1, AcqRel);
        if prev & CLOSED != 0 && prev & COUNT == 1 {
            caller.unpark(); // the caller may be parked waiting for us
        }
    }
}

/// Spins, then parks, until the generation differs from `seen`.
fn wait_for_job(shared: &Shared, slot: &Slot, seen: u64) -> u64 {
    let start = Instant::now();
    let mut spins = 0u32;
    loop {
        let s = shared.state.load(Acquire);
        if generation(s) != seen {
            return s;
        }
        spins = spins.wrapping_add(1);
        if spins.is_multiple_of(256) && start.elapsed() > spin() {
            break;
        }
        std::hint::spin_loop();
    }
    loop {
        // Announce the nap, then re-check: the poster stores the state and
        // then reads `sleeping` (both SeqCst), so either we see its job or
        // it sees our flag and unparks us.
        slot.sleeping.store(true, SeqCst);
        let s = shared.state.load(SeqCst);
        if generation(s) != seen {
            slot.sleeping.store(false, Relaxed);
            return s;
        }
        thread::park();
    }
}

/// Joins job `gen` unless it is closed or already replaced.
fn enter(shared: &Shared, gen: u64) -> bool {
    let mut s = shared.state.load(Acquire);
    loop {
        if generation(s) != gen || s & CLOSED != 0 {
            return false;
        }
        match shared.state.compare_exchange_weak(s, s + 1, AcqRel, Acquire) {
            Ok(_) => return true,
            Err(x) => s = x,
        }
    }
}

/// 0: not read yet, 1: on, 2: off (DLCORE_GEMM_TEAM=0 turns it off, or `set_enabled`).
static ENABLED: std::sync::atomic::AtomicU8 = std::sync::atomic::AtomicU8::new(0);

/// Whether GEMM uses the team (else rayon, as before the team existed).
///
/// On by default. Quiet 2-vCPU Zen 4 (load ~1.5), 2 threads, interleaved
/// in one process: 512³ 194 vs rayon 149 GFLOP/s, 64×256×784 146 vs 92,
/// large shapes equal; MLP 784-256-10 step 0.66 vs 0.98 ms; conv and LeNet
/// steps equal (their GEMMs run per sample, off the team). Under heavy
/// load (8-10 on 2 vCPUs) the team lost to rayon — the spinning caller is
/// the thread the scheduler preempts — hence the switch.
pub fn enabled() -> bool {
    match ENABLED.load(Relaxed) {
        0 => {
            let off = std::env::var("DLCORE_GEMM_TEAM").is_ok_and(|v| v.trim() == "0");
            ENABLED.store(if off { 2 } else { 1 }, Relaxed);
            !off
        }
        x => x == 1,
    }
}

/// Switches the team on or off (benchmarks compare both in one process).
pub fn set_enabled(on: bool) {
    ENABLED.store(if on { 1 } else { 2 }, Relaxed);
}

/// How one GEMM call runs its parallel phases.
pub enum Par {
    /// Everything on the calling thread.
    Serial,
    /// rayon's pool with this many threads (nested or contended calls).
    Rayon,
    /// The team: the caller plus `workers` team threads.
    Team {
        guard: MutexGuard<'static, Team>,
        workers: usize,
    },
}

impl Par {
    /// The best way to run `threads` threads from this call site.
    pub fn new(threads: usize) -> Par {
        if threads <= 1 {
            return Par::Serial;
        }
        if !enabled() || rayon::current_thread_index().is_some() {
            return Par::Rayon;
        }
        let mut guard = match team().try_lock() {
            Ok(g) => g,
            Err(std::sync::TryLockError::Poisoned(e)) => e.into_inner(),
            Err(std::sync::TryLockError::WouldBlock) => return Par::Rayon,
        };
        let workers = threads - 1;
        while guard.slots.len() < workers {
            if spawn(&mut guard).is_err() {
                break; // no more threads: run with those we have
            }
        }
        let workers = workers.min(guard.slots.len());
        if workers == 0 {
            return Par::Serial;
        }
        Par::Team { guard, workers }
    }

    /// Runs `f(i)` for every i in 0..n, returning when all are done.
    pub fn run<F: Fn(usize) + Sync>(&self, n: usize, f: F) {
        match self {
            _ if n <= 1 => (0..n).for_each(f),
            Par::Serial => (0..n).for_each(f),
            Par::Rayon => crate::cpu::install(|| (0..n).into_par_iter().for_each(&f)),
            Par::Team { guard, workers } => run_team(guard, *workers, n, &f),
        }
    }
}

/// Runs `a` and `b` at the same time (the caller takes `a`, a team thread
/// `b` if one is free in time; else the caller runs both). Rayon's join
/// where the team is not available (nested or contended calls).
pub fn join<A: FnOnce() + Send, B: FnOnce() + Send>(a: A, b: B) {
    let par = Par::new(2);
    if let Par::Rayon = par {
        crate::cpu::install(|| rayon::join(a, b));
        return;
    }
    // each closure runs once: the task counter hands out every index once
    let (a, b) = (Mutex::new(Some(a)), Mutex::new(Some(b)));
    par.run(2, |i| {
        if i == 0 {
            if let Some(f) = a.lock().unwrap_or_else(|e| e.into_inner()).take() {
                f()
            }
        } else if let Some(f) = b.lock().unwrap_or_else(|e| e.into_inner()).take() {
            f()
        }
    });
}

fn spawn(team: &mut Team) -> std::io::Result<()> {
    let index = team.slots.len();
    let shared = team.shared.clone();
    // spawned under the lock, so no job is posted before this generation
    let seen = generation(shared.state.load(Acquire));
    let (tx, rx) = std::sync::mpsc::channel::<Arc<Slot>>();
    let handle = thread::Builder::new()
        .name(format!("dlcore-gemm-{index}"))
        .spawn(move || {
            if let Ok(slot) = rx.recv() {
                worker(shared, index, slot, seen)
            }
        })?;
    let slot = Arc::new(Slot {
        sleeping: AtomicBool::new(false),
        thread: handle.thread().clone(),
    });
    // the worker blocks until it has its slot; a failed send only means it exited
    let _ = tx.send(slot.clone());
    team.slots.push(slot);
    Ok(())
}

/// Closes the job and waits for the workers inside it, also when the
/// caller's own share unwinds (the job lives in the caller's frame).
struct Close<'a>(&'a Shared);

impl Drop for Close<'_> {
    fn drop(&mut self) {
        let s = &self.0.state;
        s.fetch_or(CLOSED, AcqRel);
        // Usually the worker is finishing a task of a few µs: spin. If it
        // was descheduled, park (the last worker out unparks us) so this
        // core is free for it instead of burning the time slice it needs.
        let start = Instant::now();
        let mut spins = 0u32;
        while s.load(Acquire) & COUNT != 0 {
            spins = spins.wrapping_add(1);
            if spins.is_multiple_of(64) && start.elapsed() > CLOSE_SPIN {
                thread::park_timeout(Duration::from_micros(200));
            } else {
                std::hint::spin_loop();
            }
        }
    }
}

fn run_team<F: Fn(usize) + Sync>(team: &Team, workers: usize, n: usize, f: &F) {
    let job = Job {
        data: (f as *const F).cast(),
        call: trampoline::<F>,
        n,
        next: AtomicUsize::new(0),
        workers: workers.min(n - 1),
        panicked: AtomicBool::new(false),
        caller: thread::current(),
    };
    let sh = &*team.shared;
    #[cfg(test)]
    POSTED.fetch_add(1, Relaxed);
    // Only the lock holder posts, and the previous job is closed with no
    // worker inside, so nobody reads `job` while it changes.
    sh.job.store((&job as *const Job).cast_mut(), Release);
    let gen = generation(sh.state.load(Relaxed)).wrapping_add(1) & 0xffff_ffff;
    sh.state.store(gen << 32, SeqCst);
    for slot in &team.slots[..job.workers] {
        if slot.sleeping.swap(false, SeqCst) {
            slot.thread.unpark();
        }
    }
    {
        let _close = Close(sh);
        job.work();
    }
    if job.panicked.load(Relaxed) {
        panic!("gemm: a task panicked on a team thread");
    }
}

/// Number of team threads started so far (tests).
pub fn team_size() -> usize {
    team().lock().unwrap_or_else(|e| e.into_inner()).slots.len()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicU32;

    /// Every index runs exactly once, whatever way `Par` picked.
    fn covers(par: &Par, n: usize) {
        set_enabled(true); // opt-in outside tests (see `enabled`)
        let hits: Vec<AtomicU32> = (0..n).map(|_| AtomicU32::new(0)).collect();
        par.run(n, |i| {
            hits[i].fetch_add(1, Relaxed);
        });
        assert!(hits.iter().all(|h| h.load(Relaxed) == 1), "n={n}");
    }

    #[test]
    fn every_task_runs_once_for_any_width() {
        set_enabled(true);
        for threads in [1, 2, 3, 5, 2, 1, 4] {
            let par = Par::new(threads);
            for n in [0, 1, 2, 3, 7, 64, 1000] {
                covers(&par, n);
            }
        }
    }

    #[test]
    fn concurrent_and_nested_callers() {
        set_enabled(true);
        // many OS threads at once: one gets the team, the others rayon
        std::thread::scope(|s| {
            for t in 0..8 {
                s.spawn(move || {
                    for r in 0..200 {
                        covers(&Par::new(2 + (t + r) % 3), 1 + (r * 7) % 50);
                    }
                });
            }
        });
        // from inside rayon tasks: never the team, and no deadlock
        crate::cpu::install(|| {
            (0..64).into_par_iter().for_each(|i| {
                let par = Par::new(2);
                assert!(!matches!(par, Par::Team { .. }));
                covers(&par, i + 2);
            })
        });
    }

    #[test]
    fn parked_workers_wake_up() {
        set_enabled(true);
        let par = Par::new(2);
        covers(&par, 16);
        std::thread::sleep(SPIN * 20); // long enough for the worker to park
        covers(&par, 16);
    }

    #[test]
    fn a_panicking_task_is_reraised_and_the_team_survives() {
        set_enabled(true);
        for _ in 0..20 {
            let r = std::panic::catch_unwind(|| {
                Par::new(2).run(64, |i| {
                    if i == 63 || i == 0 {
                        panic!("task {i}");
                    }
                })
            });
            assert!(r.is_err());
        }
        covers(&Par::new(2), 100);
    }
}

#[cfg(test)]
mod timing {
    use crate::cpu::gemm::{gemm_threads, MatRef};
    use std::time::Instant;

    /// cargo test --release -p dlcore-core team_vs_rayon -- --ignored --nocapture
    #[test]
    #[ignore]
    fn team_vs_rayon() {
        crate::cpu::set_num_threads(2).unwrap();
        for &(m, k, n) in &[(256, 256, 256), (512, 512, 512), (64, 784, 256), (256, 1024, 1024), (4096, 256, 256)] {
            let a = vec![1.0f32; m * k];
            let b = vec![1.0f32; k * n];
            let mut c = vec![0.0f32; m * n];
            let mut best = [f64::INFINITY; 3];
            for _ in 0..30 {
                for (i, mode) in [(0, 1usize), (1, 2), (2, 3)] {
                    super::set_enabled(mode == 2);
                    let th = if mode == 1 { 1 } else { 2 };
                    let t = Instant::now();
                    for _ in 0..5 {
                        gemm_threads(th, m, n, k, 1.0, MatRef { data: &a, offset: 0, rs: k, cs: 1 }, MatRef { data: &b, offset: 0, rs: n, cs: 1 }, 0.0, &mut c);
                    }
                    best[i] = best[i].min(t.elapsed().as_secs_f64() / 5.0);
                }
            }
            let f = 2.0 * (m * n * k) as f64 / 1e9;
            println!("posted {} joined {}", super::POSTED.load(std::sync::atomic::Ordering::Relaxed), super::WORKER_JOBS.load(std::sync::atomic::Ordering::Relaxed));
            println!("{m}x{k}x{n}: 1 thread {:.1} GF/s, team {:.1}, rayon {:.1}", f / best[0], f / best[1], f / best[2]);
        }
        super::set_enabled(true);
    }
}
