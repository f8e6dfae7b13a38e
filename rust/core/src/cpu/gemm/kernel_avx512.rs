//! AVX-512F vectors for the generic micro-kernel (16 f32 / 8 f64 lanes).
//!
//! Tile shapes: 32 zmm registers hold MR·NV accumulators, NV loaded B
//! vectors and one broadcast A value (LLVM folds the broadcast into the FMA's
//! memory operand), so MR·NV ≤ 28 is the budget. On Zen 4 one 512-bit FMA
//! issues per cycle with 4 cycles latency, so 24+ accumulators hide the
//! latency several times over.

use super::kernel::{kernels, Vector};
use std::arch::x86_64::*;

impl Vector for __m512 {
    type E = f32;
    const LANES: usize = 16;
    #[inline(always)]
    unsafe fn zero() -> Self {
        _mm512_setzero_ps()
    }
    #[inline(always)]
    unsafe fn splat(x: f32) -> Self {
        _mm512_set1_ps(x)
    }
    #[inline(always)]
    unsafe fn load(p: *const f32) -> Self {
        // SAFETY: caller guarantees 16 readable elements at p.
        unsafe { _mm512_loadu_ps(p) }
    }
    #[inline(always)]
    unsafe fn store(p: *mut f32, v: Self) {
        // SAFETY: caller guarantees 16 writable elements at p.
        unsafe { _mm512_storeu_ps(p, v) }
    }
    #[inline(always)]
    unsafe fn fma(a: Self, b: Self, c: Self) -> Self {
        _mm512_fmadd_ps(a, b, c)
    }
    #[inline(always)]
    unsafe fn mul(a: Self, b: Self) -> Self {
        _mm512_mul_ps(a, b)
    }
    #[inline(always)]
    unsafe fn prefetch(p: *const f32) {
        _mm_prefetch::<_MM_HINT_T0>(p.cast())
    }
}

impl Vector for __m512d {
    type E = f64;
    const LANES: usize = 8;
    #[inline(always)]
    unsafe fn zero() -> Self {
        _mm512_setzero_pd()
    }
    #[inline(always)]
    unsafe fn splat(x: f64) -> Self {
        _mm512_set1_pd(x)
    }
    #[inline(always)]
    unsafe fn load(p: *const f64) -> Self {
        // SAFETY: caller guarantees 8 readable elements at p.
        unsafe { _mm512_loadu_pd(p) }
    }
    #[inline(always)]
    unsafe fn store(p: *mut f64, v: Self) {
        // SAFETY: caller guarantees 8 writable elements at p.
        unsafe { _mm512_storeu_pd(p, v) }
    }
    #[inline(always)]
    unsafe fn fma(a: Self, b: Self, c: Self) -> Self {
        _mm512_fmadd_pd(a, b, c)
    }
    #[inline(always)]
    unsafe fn mul(a: Self, b: Self) -> Self {
        _mm512_mul_pd(a, b)
    }
    #[inline(always)]
    unsafe fn prefetch(p: *const f64) {
        _mm_prefetch::<_MM_HINT_T0>(p.cast())
    }
}

kernels!("avx512f,avx2,fma", __m512, f32: s12x32 = 12 x 2, s8x48 = 8 x 3, s14x32 = 14 x 2, s6x64 = 6 x 4, s8x32 = 8 x 2);
kernels!("avx512f,avx2,fma", __m512d, f64: d12x16 = 12 x 2, d8x24 = 8 x 3, d14x16 = 14 x 2);
