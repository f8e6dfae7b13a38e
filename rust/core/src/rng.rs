//! The global random generator behind rand/randn/randint/init and dropout.
//! `manual_seed` makes every draw after it deterministic.

use rand::SeedableRng;
use rand_pcg::Pcg64Mcg;
use std::sync::Mutex;

static RNG: Mutex<Option<Pcg64Mcg>> = Mutex::new(None);

pub fn manual_seed(seed: u64) {
    *RNG.lock().unwrap_or_else(|e| e.into_inner()) = Some(Pcg64Mcg::seed_from_u64(seed));
}

/// Runs `f` with the generator (seeded from the OS clock if never seeded).
pub fn with_rng<R>(f: impl FnOnce(&mut Pcg64Mcg) -> R) -> R {
    let mut guard = RNG.lock().unwrap_or_else(|e| e.into_inner());
    let rng = guard.get_or_insert_with(|| {
        let t = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(0x5eed);
        Pcg64Mcg::seed_from_u64(t)
    });
    f(rng)
}
