//! The portable micro-kernel: the same generic tile over plain arrays, with
//! separate multiply and add (no FMA instruction is assumed). On x86_64 the
//! baseline SSE2 lets LLVM vectorise the 8-wide lane loops; elsewhere it is
//! straight scalar code. It is the fallback and the path `DLCORE_SIMD=scalar`
//! forces.

use super::kernel::{kernels, Vector};

/// `L` lanes of plain `f32`/`f64`.
#[derive(Clone, Copy)]
pub struct Lanes<T, const L: usize>([T; L]);

macro_rules! lanes_impl {
    ($t:ty) => {
        impl Vector for Lanes<$t, 8> {
            type E = $t;
            const LANES: usize = 8;
            #[inline(always)]
            unsafe fn zero() -> Self {
                Lanes([0.0; 8])
            }
            #[inline(always)]
            unsafe fn splat(x: $t) -> Self {
                Lanes([x; 8])
            }
            #[inline(always)]
            unsafe fn load(p: *const $t) -> Self {
                // SAFETY: caller guarantees 8 readable elements at p.
                Lanes(unsafe { p.cast::<[$t; 8]>().read_unaligned() })
            }
            #[inline(always)]
            unsafe fn store(p: *mut $t, v: Self) {
                // SAFETY: caller guarantees 8 writable elements at p.
                unsafe { p.cast::<[$t; 8]>().write_unaligned(v.0) }
            }
            #[inline(always)]
            unsafe fn fma(a: Self, b: Self, c: Self) -> Self {
                Lanes(std::array::from_fn(|i| a.0[i] * b.0[i] + c.0[i]))
            }
            #[inline(always)]
            unsafe fn mul(a: Self, b: Self) -> Self {
                Lanes(std::array::from_fn(|i| a.0[i] * b.0[i]))
            }
        }
    };
}
lanes_impl!(f32);
lanes_impl!(f64);

kernels!(baseline, Lanes<f32, 8>, f32: s4x16 = 4 x 2);
kernels!(baseline, Lanes<f64, 8>, f64: d4x8 = 4 x 1);
