//! The global random generator behind rand/randn/randint/init and dropout.
//! `manual_seed` makes every draw after it deterministic.
//!
//! The state is (seed, steps taken): PCG can jump ahead, so restoring a
//! saved state is a re-seed plus one `advance`, and checkpoints can store
//! two integers instead of the generator's internals.

use rand::{RngCore, SeedableRng};
use rand_pcg::Pcg64Mcg;
use std::sync::Mutex;

/// PCG that counts its steps. Every call advances the inner generator by
/// exactly one step per 64 bits, so the count is the jump needed to return here.
pub struct CountingRng {
    seed: u64,
    steps: u128,
    inner: Pcg64Mcg,
}

impl CountingRng {
    fn new(seed: u64) -> Self {
        CountingRng { seed, steps: 0, inner: Pcg64Mcg::seed_from_u64(seed) }
    }
}

impl RngCore for CountingRng {
    fn next_u32(&mut self) -> u32 {
        self.next_u64() as u32
    }
    fn next_u64(&mut self) -> u64 {
        self.steps += 1;
        self.inner.next_u64()
    }
    fn fill_bytes(&mut self, dst: &mut [u8]) {
        for chunk in dst.chunks_mut(8) {
            let v = self.next_u64().to_le_bytes();
            chunk.copy_from_slice(&v[..chunk.len()]);
        }
    }
}

static RNG: Mutex<Option<CountingRng>> = Mutex::new(None);

pub fn manual_seed(seed: u64) {
    *RNG.lock().unwrap_or_else(|e| e.into_inner()) = Some(CountingRng::new(seed));
}

/// Runs `f` with the generator (seeded from the OS clock if never seeded).
pub fn with_rng<R>(f: impl FnOnce(&mut CountingRng) -> R) -> R {
    let mut guard = RNG.lock().unwrap_or_else(|e| e.into_inner());
    let rng = guard.get_or_insert_with(|| {
        let t = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(0x5eed);
        CountingRng::new(t)
    });
    f(rng)
}

/// (seed, steps) of the global generator.
pub fn get_state() -> (u64, u128) {
    with_rng(|r| (r.seed, r.steps))
}

/// Restores a state from `get_state`.
pub fn set_state(seed: u64, steps: u128) {
    let mut r = CountingRng::new(seed);
    r.inner.advance(steps);
    r.steps = steps;
    *RNG.lock().unwrap_or_else(|e| e.into_inner()) = Some(r);
}
