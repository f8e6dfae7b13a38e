//! AVX2+FMA vectors for the generic micro-kernel (8 f32 / 4 f64 lanes).
//!
//! 16 ymm registers: the classic 6×16 f32 tile uses 12 accumulators, 2 B
//! vectors and 1 broadcast A value (two FMA pipes × 4-5 cycles latency need
//! at least 10 independent accumulators to stay busy).

use super::kernel::{kernels, Vector};
use std::arch::x86_64::*;

impl Vector for __m256 {
    type E = f32;
    const LANES: usize = 8;
    #[inline(always)]
    unsafe fn zero() -> Self {
        _mm256_setzero_ps()
    }
    #[inline(always)]
    unsafe fn splat(x: f32) -> Self {
        _mm256_set1_ps(x)
    }
    #[inline(always)]
    unsafe fn load(p: *const f32) -> Self {
        // SAFETY: caller guarantees 8 readable elements at p.
        unsafe { _mm256_loadu_ps(p) }
    }
    #[inline(always)]
    unsafe fn store(p: *mut f32, v: Self) {
        // SAFETY: caller guarantees 8 writable elements at p.
        unsafe { _mm256_storeu_ps(p, v) }
    }
    #[inline(always)]
    unsafe fn fma(a: Self, b: Self, c: Self) -> Self {
        _mm256_fmadd_ps(a, b, c)
    }
    #[inline(always)]
    unsafe fn mul(a: Self, b: Self) -> Self {
        _mm256_mul_ps(a, b)
    }
    #[inline(always)]
    unsafe fn prefetch(p: *const f32) {
        _mm_prefetch::<_MM_HINT_T0>(p.cast())
    }
}

impl Vector for __m256d {
    type E = f64;
    const LANES: usize = 4;
    #[inline(always)]
    unsafe fn zero() -> Self {
        _mm256_setzero_pd()
    }
    #[inline(always)]
    unsafe fn splat(x: f64) -> Self {
        _mm256_set1_pd(x)
    }
    #[inline(always)]
    unsafe fn load(p: *const f64) -> Self {
        // SAFETY: caller guarantees 4 readable elements at p.
        unsafe { _mm256_loadu_pd(p) }
    }
    #[inline(always)]
    unsafe fn store(p: *mut f64, v: Self) {
        // SAFETY: caller guarantees 4 writable elements at p.
        unsafe { _mm256_storeu_pd(p, v) }
    }
    #[inline(always)]
    unsafe fn fma(a: Self, b: Self, c: Self) -> Self {
        _mm256_fmadd_pd(a, b, c)
    }
    #[inline(always)]
    unsafe fn mul(a: Self, b: Self) -> Self {
        _mm256_mul_pd(a, b)
    }
    #[inline(always)]
    unsafe fn prefetch(p: *const f64) {
        _mm_prefetch::<_MM_HINT_T0>(p.cast())
    }
}

kernels!("avx2,fma", __m256, f32: s6x16 = 6 x 2, s4x24 = 4 x 3);
kernels!("avx2,fma", __m256d, f64: d6x8 = 6 x 2, d4x12 = 4 x 3);

/// Transposes an 8×8 f32 block: `dst[p*w + q] = src[q*ls + p]`, p, q < 8
/// (packing a transposed operand: 8 lanes × 8 depth steps per call).
///
/// # Safety
/// `src + q*ls + 0..8` readable and `dst + p*w + 0..8` writable for p, q < 8;
/// the CPU has AVX2.
#[target_feature(enable = "avx2,fma")]
pub unsafe fn transpose8_f32(src: *const f32, ls: usize, dst: *mut f32, w: usize) {
    // SAFETY: the caller guarantees the 8 rows of 8 are readable.
    let r: [__m256; 8] = std::array::from_fn(|q| unsafe { _mm256_loadu_ps(src.add(q * ls)) });
    // pairwise interleave: rows (0,1), (2,3), (4,5), (6,7)
    let u0 = _mm256_unpacklo_ps(r[0], r[1]);
    let u1 = _mm256_unpackhi_ps(r[0], r[1]);
    let u2 = _mm256_unpacklo_ps(r[2], r[3]);
    let u3 = _mm256_unpackhi_ps(r[2], r[3]);
    let u4 = _mm256_unpacklo_ps(r[4], r[5]);
    let u5 = _mm256_unpackhi_ps(r[4], r[5]);
    let u6 = _mm256_unpacklo_ps(r[6], r[7]);
    let u7 = _mm256_unpackhi_ps(r[6], r[7]);
    // 4-wide columns within each 128-bit half
    let v0 = _mm256_shuffle_ps::<0x44>(u0, u2);
    let v1 = _mm256_shuffle_ps::<0xEE>(u0, u2);
    let v2 = _mm256_shuffle_ps::<0x44>(u1, u3);
    let v3 = _mm256_shuffle_ps::<0xEE>(u1, u3);
    let v4 = _mm256_shuffle_ps::<0x44>(u4, u6);
    let v5 = _mm256_shuffle_ps::<0xEE>(u4, u6);
    let v6 = _mm256_shuffle_ps::<0x44>(u5, u7);
    let v7 = _mm256_shuffle_ps::<0xEE>(u5, u7);
    // join halves: step p < 4 from the low halves, p >= 4 from the high ones
    let out = [
        _mm256_permute2f128_ps::<0x20>(v0, v4),
        _mm256_permute2f128_ps::<0x20>(v1, v5),
        _mm256_permute2f128_ps::<0x20>(v2, v6),
        _mm256_permute2f128_ps::<0x20>(v3, v7),
        _mm256_permute2f128_ps::<0x31>(v0, v4),
        _mm256_permute2f128_ps::<0x31>(v1, v5),
        _mm256_permute2f128_ps::<0x31>(v2, v6),
        _mm256_permute2f128_ps::<0x31>(v3, v7),
    ];
    for (p, o) in out.into_iter().enumerate() {
        // SAFETY: the caller guarantees the 8 destination rows of 8 are writable.
        unsafe { _mm256_storeu_ps(dst.add(p * w), o) };
    }
}

/// Transposes a 4×4 f64 block: `dst[p*w + q] = src[q*ls + p]`, p, q < 4.
///
/// # Safety
/// `src + q*ls + 0..4` readable and `dst + p*w + 0..4` writable for p, q < 4;
/// the CPU has AVX2.
#[target_feature(enable = "avx2,fma")]
pub unsafe fn transpose4_f64(src: *const f64, ls: usize, dst: *mut f64, w: usize) {
    // SAFETY: the caller guarantees the 4 rows of 4 are readable.
    let r: [__m256d; 4] = std::array::from_fn(|q| unsafe { _mm256_loadu_pd(src.add(q * ls)) });
    let t0 = _mm256_unpacklo_pd(r[0], r[1]);
    let t1 = _mm256_unpackhi_pd(r[0], r[1]);
    let t2 = _mm256_unpacklo_pd(r[2], r[3]);
    let t3 = _mm256_unpackhi_pd(r[2], r[3]);
    let out = [
        _mm256_permute2f128_pd::<0x20>(t0, t2),
        _mm256_permute2f128_pd::<0x20>(t1, t3),
        _mm256_permute2f128_pd::<0x31>(t0, t2),
        _mm256_permute2f128_pd::<0x31>(t1, t3),
    ];
    for (p, o) in out.into_iter().enumerate() {
        // SAFETY: the caller guarantees the 4 destination rows of 4 are writable.
        unsafe { _mm256_storeu_pd(dst.add(p * w), o) };
    }
}
