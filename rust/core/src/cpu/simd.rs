//! Which instruction set the kernels use, chosen once at run time.
//! `DLCORE_SIMD=avx512|avx2|scalar` forces a path (to test them all).

use std::sync::OnceLock;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Simd {
    Scalar,
    Avx2,
    Avx512,
}

impl Simd {
    pub fn name(self) -> &'static str {
        match self {
            Simd::Scalar => "scalar",
            Simd::Avx2 => "avx2",
            Simd::Avx512 => "avx512",
        }
    }
}

fn detect() -> Simd {
    #[cfg(target_arch = "x86_64")]
    {
        if is_x86_feature_detected!("avx512f") && is_x86_feature_detected!("fma") {
            return Simd::Avx512;
        }
        if is_x86_feature_detected!("avx2") && is_x86_feature_detected!("fma") {
            return Simd::Avx2;
        }
    }
    Simd::Scalar
}

/// The path in use: the best the CPU has, lowered (never raised) by DLCORE_SIMD.
pub fn level() -> Simd {
    static LEVEL: OnceLock<Simd> = OnceLock::new();
    *LEVEL.get_or_init(|| {
        let best = detect();
        let forced = match std::env::var("DLCORE_SIMD").ok().as_deref() {
            Some("scalar") => Simd::Scalar,
            Some("avx2") => Simd::Avx2,
            Some("avx512") => Simd::Avx512,
            _ => best,
        };
        forced.min(best)
    })
}

/// Vector kernels compiled once per instruction set from one generic body
/// and picked by `level()` (the wheel targets baseline x86-64, so without
/// this the compiler would only use SSE2). The element type's bound is a
/// parameter, so attention (`AttnFloat`) and the RNN gates (`Gate`) share
/// it: `multiversion! { pub fn name<T: Bound>(args) -> Ret { body } }`.
macro_rules! multiversion {
    ($(#[$doc:meta])* $vis:vis fn $name:ident<$T:ident: $bound:path>($($arg:ident: $ty:ty),* $(,)?) $(-> $ret:ty)? $body:block) => {
        $(#[$doc])*
        #[allow(clippy::too_many_arguments)]
        $vis fn $name<$T: $bound>($($arg: $ty),*) $(-> $ret)? {
            #[inline(always)]
            #[allow(clippy::too_many_arguments)]
            fn body<$T: $bound>($($arg: $ty),*) $(-> $ret)? $body
            #[cfg(target_arch = "x86_64")]
            #[target_feature(enable = "avx512f,avx2,fma")]
            #[allow(clippy::too_many_arguments)]
            unsafe fn avx512<$T: $bound>($($arg: $ty),*) $(-> $ret)? { body($($arg),*) }
            #[cfg(target_arch = "x86_64")]
            #[target_feature(enable = "avx2,fma")]
            #[allow(clippy::too_many_arguments)]
            unsafe fn avx2<$T: $bound>($($arg: $ty),*) $(-> $ret)? { body($($arg),*) }
            match $crate::cpu::simd::level() {
                // SAFETY: `level()` returns these only when the CPU has the features.
                #[cfg(target_arch = "x86_64")]
                $crate::cpu::simd::Simd::Avx512 => unsafe { avx512($($arg),*) },
                // SAFETY: as above, AVX2 and FMA were detected.
                #[cfg(target_arch = "x86_64")]
                $crate::cpu::simd::Simd::Avx2 => unsafe { avx2($($arg),*) },
                _ => body($($arg),*),
            }
        }
    };
}
pub(crate) use multiversion;

multiversion! {
    /// y += a·x over equal-length slices.
    pub fn axpy<T: crate::cpu::Float>(y: &mut [T], a: T, x: &[T]) {
        for (yv, &xv) in y.iter_mut().zip(x) {
            *yv = *yv + a * xv;
        }
    }
}

multiversion! {
    /// Σ x·y in 8 independent partial sums (so it vectorises).
    pub fn dot<T: crate::cpu::Float>(x: &[T], y: &[T]) -> T {
        let mut acc = [T::zero(); 8];
        let (xc, yc) = (x.chunks_exact(8), y.chunks_exact(8));
        let (xt, yt) = (xc.remainder(), yc.remainder());
        for (a, b) in xc.zip(yc) {
            for k in 0..8 {
                acc[k] = acc[k] + a[k] * b[k];
            }
        }
        let mut s = acc.iter().fold(T::zero(), |p, &q| p + q);
        for (a, b) in xt.iter().zip(yt) {
            s = s + *a * *b;
        }
        s
    }
}

multiversion! {
    /// Σ x in 8 independent partial sums (so it vectorises).
    pub fn sum<T: crate::cpu::Float>(x: &[T]) -> T {
        let mut acc = [T::zero(); 8];
        let chunks = x.chunks_exact(8);
        let tail = chunks.remainder();
        for c in chunks {
            for k in 0..8 {
                acc[k] = acc[k] + c[k];
            }
        }
        tail.iter().fold(acc.iter().fold(T::zero(), |p, &q| p + q), |p, &q| p + q)
    }
}

multiversion! {
    /// y += a for every element.
    pub fn add_scalar<T: crate::cpu::Float>(y: &mut [T], a: T) {
        for v in y.iter_mut() {
            *v = *v + a;
        }
    }
}
