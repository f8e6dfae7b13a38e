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
}

kernels!("avx2,fma", __m256, f32: s6x16 = 6 x 2, s4x24 = 4 x 3);
kernels!("avx2,fma", __m256d, f64: d6x8 = 6 x 2, d4x12 = 4 x 3);
