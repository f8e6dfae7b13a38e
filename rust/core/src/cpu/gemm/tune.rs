//! Tuning harness (not a test): GFLOP/s of every kernel and a few block
//! sizes, next to the FMA peak. Run with
//! `cargo test --release -p dlcore-core --lib tune -- --ignored --nocapture`
//! and `TUNE="m,n,k threads"` to pick the shape.

use super::kernel::{self, GemmElem};
use super::*;
use std::time::Instant;

/// CPU time of every thread of this process, ns (/proc/self/task/*/schedstat):
/// robust to sharing the cores with other processes, unlike wall time.
fn cpu_ns() -> u64 {
    let Ok(dir) = std::fs::read_dir("/proc/self/task") else { return 0 };
    dir.flatten()
        .filter_map(|e| std::fs::read_to_string(e.path().join("schedstat")).ok())
        .filter_map(|s| s.split_whitespace().next()?.parse::<u64>().ok())
        .sum()
}

/// (GFLOP/s by wall time, GFLOP/s per busy core by CPU time), best of `reps`.
fn time<T: GemmElem>(cfg: &Config<T>, m: usize, n: usize, k: usize, reps: usize) -> (f64, f64) {
    let a: Vec<T> = (0..m * k).map(|i| T::from_f64((i % 7) as f64 * 0.1)).collect();
    let b: Vec<T> = (0..k * n).map(|i| T::from_f64((i % 5) as f64 * 0.1)).collect();
    let mut c = vec![T::zero(); m * n];
    let am = MatRef { data: &a, offset: 0, rs: k, cs: 1 };
    let bm = MatRef { data: &b, offset: 0, rs: n, cs: 1 };
    let (mut best, mut best_cpu) = (f64::INFINITY, f64::INFINITY);
    for _ in 0..reps {
        let (t, c0) = (Instant::now(), cpu_ns());
        gemm_with(cfg, m, n, k, T::one(), am, bm, T::zero(), &mut c);
        best = best.min(t.elapsed().as_secs_f64());
        best_cpu = best_cpu.min((cpu_ns() - c0) as f64 * 1e-9);
    }
    let f = 2.0 * (m * n * k) as f64 / 1e9;
    (f / best, f / best_cpu)
}

#[test]
#[ignore]
fn tune() {
    let spec = std::env::var("TUNE").unwrap_or_else(|_| "1024,1024,1024 1".into());
    let mut it = spec.split_whitespace();
    let dims: Vec<usize> = it
        .next()
        .unwrap()
        .split(',')
        .map(|x| x.parse().unwrap())
        .collect();
    let threads: usize = it.next().map_or(1, |x| x.parse().unwrap());
    let (m, n, k) = (dims[0], dims[1], dims[2]);
    let reps = ((4e9 / (2.0 * (m * n * k) as f64)) as usize).clamp(3, 2000);
    crate::cpu::set_num_threads(threads).unwrap();
    let only = std::env::var("TUNE_SIMD").unwrap_or_default();
    for simd in [Simd::Avx512, Simd::Avx2, Simd::Scalar] {
        if !kernel::supported(simd) || !(only.is_empty() || only.contains(simd.name())) {
            continue;
        }
        let (one, all, _) = if std::env::var("TUNE_NOPEAK").is_ok() {
            (0.0, 0.0, 0)
        } else {
            crate::cpu::peak::fma_peak(simd, 0.05, 3)
        };
        println!("{simd:?}: peak f32 {one:.1} GFLOP/s one thread, {all:.1} on {threads}");
        let kname = std::env::var("TUNE_KERNEL").unwrap_or_default();
        for kern in f32::candidates(simd)
            .into_iter()
            .filter(|k| kname.is_empty() || k.name == kname)
        {
            let base = Config::with_kernel(kern, threads);
            let kcs: Vec<usize> = std::env::var("TUNE_KC")
                .map_or(vec![0, 128, 192, 256, 384, 512], |v| {
                    v.split(',').map(|x| x.parse().unwrap()).collect()
                });
            for &kc in &kcs {
                let mut cfg = base;
                if kc > 0 {
                    cfg.blocking.kc = kc;
                    cfg.blocking.nc =
                        ((cache::sizes().l2 / 2 / (kc * 4)) / kern.nr).max(1) * kern.nr;
                }
                let (g, gc) = time(&cfg, m, n, k, reps);
                println!(
                    "  {:8} kc={:4} nc={:5}: {g:7.1} GFLOP/s, {gc:7.1} per busy core",
                    kern.name, cfg.blocking.kc, cfg.blocking.nc
                );
            }
        }
        for kern in f64::candidates(simd)
            .into_iter()
            .filter(|k| kname.is_empty() || k.name == kname)
        {
            let (g, _) = time(&Config::with_kernel(kern, threads), m, n, k, reps);
            println!("  {:8} (f64) : {g:7.1} GFLOP/s", kern.name);
        }
    }
}

/// Packing speed per layout: ns per element for a 784×256 B panel.
#[test]
#[ignore]
fn tune_pack() {
    let (k, n) = (784usize, 256usize);
    let row: Vec<f32> = (0..k * n).map(|i| i as f32).collect();
    for (name, rs, cs) in [("row-major B", n, 1), ("col-major B", 1, k)] {
        let b = MatRef {
            data: &row,
            offset: 0,
            rs,
            cs,
        };
        let mut dst = vec![0.0f32; 32 * 336];
        let mut best = f64::INFINITY;
        for _ in 0..50 {
            let t = Instant::now();
            for p0 in (0..k).step_by(336) {
                let kc = 336.min(k - p0);
                for j0 in (0..n).step_by(32) {
                    pack::pack_b(
                        &b,
                        n,
                        j0,
                        p0,
                        kc,
                        32,
                        &mut dst[..32 * kc],
                        f32::kernel(crate::cpu::simd::level()).transpose,
                    );
                }
            }
            best = best.min(t.elapsed().as_secs_f64());
            std::hint::black_box(&dst);
        }
        println!(
            "{name}: {:.3} ns/element, {:.1} us",
            best * 1e9 / (k * n) as f64,
            best * 1e6
        );
    }
}

/// Fork-join cost from a non-pool thread: install + par_iter of 2 spins.
#[test]
#[ignore]
fn tune_forkjoin() {
    use rayon::prelude::*;
    crate::cpu::set_num_threads(2).unwrap();
    let spin = |us: u64| {
        let t = Instant::now();
        while t.elapsed().as_micros() < us as u128 {
            std::hint::spin_loop();
        }
    };
    for us in [0u64, 20, 100] {
        for phases in [1, 2] {
            let n = 2000;
            let t = Instant::now();
            for _ in 0..n {
                crate::cpu::install(|| {
                    for _ in 0..phases {
                        (0..2).into_par_iter().for_each(|_| spin(us));
                    }
                });
            }
            let per = t.elapsed().as_secs_f64() / n as f64 * 1e6;
            println!("work {us:3} us x {phases} phases: {per:.1} us per call, overhead {:.1} us", per - (us * phases) as f64);
        }
    }
}
