//! A STREAM-style memory bandwidth probe (McCalpin's copy and triad), so the
//! benchmarks can say what fraction of this machine's bandwidth a
//! memory-bound kernel (an optimizer step) reaches.
//!
//! Bytes are counted the STREAM way: copy moves 16 B per f64 element (read a,
//! write c), triad 24 B (read b and c, write a); the write-allocate read of
//! the destination line is not counted, so those two understate the bus
//! traffic by a third. `update` (x += s·y, 24 B: read x and y, write x) has no
//! hidden traffic and is the pattern of an in-place optimizer step, so it is
//! the fair ceiling for one. Arrays are several times the size of any L3 so
//! the figures are DRAM bandwidth.

use rayon::prelude::*;
use std::time::Instant;

const CHUNK: usize = 1 << 16;

#[derive(Clone, Copy, Debug)]
pub struct MemBandwidth {
    /// Best copy bandwidth, GB/s (1e9 bytes per second).
    pub copy_gbs: f64,
    /// Best triad bandwidth, GB/s.
    pub triad_gbs: f64,
    /// Best in-place update (x += s·y) bandwidth, GB/s.
    pub update_gbs: f64,
    /// Bytes per array.
    pub array_bytes: usize,
    pub threads: usize,
}

/// Measures copy and triad bandwidth with arrays of `array_mib` MiB each,
/// best of `repeats`, on dlcore's thread pool.
pub fn measure(array_mib: usize, repeats: usize) -> MemBandwidth {
    super::install(|| {
        let n = (array_mib.max(1) << 20) / 8;
        // first touch from the pool, so pages are spread as the kernels use them
        let mut a = vec![0.0f64; n];
        let mut b = vec![0.0f64; n];
        let mut c = vec![0.0f64; n];
        a.par_chunks_mut(CHUNK).for_each(|x| x.fill(1.0));
        b.par_chunks_mut(CHUNK).for_each(|x| x.fill(2.0));
        c.par_chunks_mut(CHUNK).for_each(|x| x.fill(0.5));
        let time = |f: &mut dyn FnMut()| {
            let mut best = f64::INFINITY;
            for _ in 0..repeats.max(1) {
                let t0 = Instant::now();
                f();
                best = best.min(t0.elapsed().as_secs_f64());
            }
            best
        };
        let t_copy = time(&mut || {
            c.par_chunks_mut(CHUNK)
                .zip(a.par_chunks(CHUNK))
                .for_each(|(c, a)| c.copy_from_slice(a));
        });
        let s = 3.0f64;
        let t_triad = time(&mut || {
            a.par_chunks_mut(CHUNK)
                .zip(b.par_chunks(CHUNK))
                .zip(c.par_chunks(CHUNK))
                .for_each(|((a, b), c)| {
                    for ((x, &y), &z) in a.iter_mut().zip(b).zip(c) {
                        *x = y + s * z;
                    }
                });
        });
        let t_update = time(&mut || {
            a.par_chunks_mut(CHUNK)
                .zip(b.par_chunks(CHUNK))
                .for_each(|(a, b)| {
                    for (x, &y) in a.iter_mut().zip(b) {
                        *x += s * y;
                    }
                });
        });
        // keep the stores observable
        std::hint::black_box(&a);
        std::hint::black_box(&c);
        let bytes = (n * 8) as f64;
        MemBandwidth {
            copy_gbs: 2.0 * bytes / t_copy / 1e9,
            triad_gbs: 3.0 * bytes / t_triad / 1e9,
            update_gbs: 3.0 * bytes / t_update / 1e9,
            array_bytes: n * 8,
            threads: rayon::current_num_threads(),
        }
    })
}
