//! FMA peak probe: the f32 multiply-add throughput this machine actually
//! delivers, per instruction set, on one core and on every pool thread at
//! once. GEMM figures are reported as a percentage of it.
//!
//! The loop keeps 12 independent accumulator chains (`acc = acc·x + y`): more
//! than latency × issue width on current cores (4 cycles × 2 pipes = 8), and
//! few enough to fit the 16 AVX2 registers with the two operands, so the FMA
//! units, not a dependency chain, limit it. The scalar path measures the
//! separate multiply and add the portable GEMM kernel uses.

use super::gemm::kernel::Vector;
#[cfg(target_arch = "x86_64")]
use super::gemm::kernel_scalar::Lanes;
use super::simd::Simd;
use std::hint::black_box;
use std::time::Instant;

const CHAINS: usize = 12;

/// `iters` rounds of CHAINS vector FMAs; returns a value that depends on all of them.
///
/// # Safety
/// The CPU supports what `V`'s methods use.
#[inline(always)]
unsafe fn fma_loop<V: Vector<E = f32>, const N: usize>(iters: usize) -> f32 {
    let x = black_box(V::splat(0.999_999_9));
    let y = black_box(V::splat(1e-7));
    let mut acc = [V::splat(1.0); N];
    for _ in 0..iters {
        for a in acc.iter_mut() {
            *a = V::fma(*a, x, y);
        }
    }
    let mut out = [0.0f32; 16];
    let mut sum = 0.0;
    for a in acc {
        // SAFETY: `out` holds 16 floats, at least LANES of any vector type.
        V::store(out.as_mut_ptr(), a);
        sum += out[0];
    }
    sum
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx2,fma")]
unsafe fn loop_avx512(iters: usize) -> f32 {
    // SAFETY: this function is only called when the CPU has AVX-512F.
    unsafe { fma_loop::<std::arch::x86_64::__m512, CHAINS>(iters) }
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn loop_avx2(iters: usize) -> f32 {
    // SAFETY: this function is only called when the CPU has AVX2 and FMA.
    unsafe { fma_loop::<std::arch::x86_64::__m256, CHAINS>(iters) }
}

fn loop_scalar(iters: usize) -> f32 {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: Lanes needs no target features. 6 chains of 8 lanes fill 12 of
    // the 16 SSE registers (a multiply and an add per lane, as the scalar kernel does).
    return unsafe { fma_loop::<Lanes<f32, 8>, 6>(iters) };
    #[cfg(not(target_arch = "x86_64"))]
    {
        let mut acc = [1.0f32; CHAINS];
        let (x, y) = (black_box(0.999_999_9f32), black_box(1e-7f32));
        for _ in 0..iters {
            for a in acc.iter_mut() {
                *a = *a * x + y;
            }
        }
        acc.iter().sum()
    }
}

/// Lanes per vector and the loop for `simd` (clamped to what the CPU has).
fn probe(simd: Simd) -> (usize, usize, fn(usize) -> f32) {
    let simd = if super::gemm::kernel::supported(simd) {
        simd
    } else {
        super::simd::level()
    };
    match simd {
        #[cfg(target_arch = "x86_64")]
        // SAFETY: `supported` (or `level`) checked the CPU has AVX-512F.
        Simd::Avx512 => (CHAINS, 16, |n| unsafe { loop_avx512(n) }),
        #[cfg(target_arch = "x86_64")]
        // SAFETY: `supported` (or `level`) checked the CPU has AVX2 and FMA.
        Simd::Avx2 => (CHAINS, 8, |n| unsafe { loop_avx2(n) }),
        _ => (
            if cfg!(target_arch = "x86_64") {
                6
            } else {
                CHAINS
            },
            if cfg!(target_arch = "x86_64") { 8 } else { 1 },
            loop_scalar,
        ),
    }
}

/// Peak f32 GFLOP/s (one FMA = 2 flops) for `simd`: (one thread, every
/// thread of dlcore's pool at once, that thread count). Best of `reps`
/// runs of about `seconds` each, so a busy neighbour lowers it less.
pub fn fma_peak(simd: Simd, seconds: f64, reps: usize) -> (f64, f64, usize) {
    let (chains, lanes, f) = probe(simd);
    let flops_per_iter = (chains * lanes * 2) as f64;
    // calibrate: iterations for about `seconds`
    let mut iters = 1 << 14;
    loop {
        let t = Instant::now();
        black_box(f(black_box(iters)));
        let dt = t.elapsed().as_secs_f64();
        if dt > seconds / 4.0 || iters >= 1 << 32 {
            iters = ((iters as f64) * seconds / dt.max(1e-9)).max(1.0) as usize;
            break;
        }
        iters *= 4;
    }
    let best = |run: &dyn Fn() -> f64| {
        (0..reps.max(1))
            .map(|_| run())
            .fold(f64::INFINITY, f64::min)
    };
    let one = best(&|| {
        let t = Instant::now();
        black_box(f(black_box(iters)));
        t.elapsed().as_secs_f64()
    });
    let threads = super::num_threads();
    let all = best(&|| {
        super::install(|| {
            let t = Instant::now();
            rayon::broadcast(|_| black_box(f(black_box(iters))));
            t.elapsed().as_secs_f64()
        })
    });
    let flops = flops_per_iter * iters as f64;
    (
        flops / one / 1e9,
        flops * threads as f64 / all / 1e9,
        threads,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn probe_reports_positive_rates() {
        for simd in [Simd::Scalar, Simd::Avx2, Simd::Avx512] {
            let (one, all, threads) = fma_peak(simd, 0.002, 1);
            assert!(
                one > 0.0 && all > 0.0 && threads >= 1,
                "{simd:?}: {one} {all}"
            );
        }
    }
}
