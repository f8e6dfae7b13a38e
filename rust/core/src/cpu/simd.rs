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
/// this the compiler would only use SSE2).
macro_rules! multiversion {
    ($(#[$doc:meta])* pub fn $name:ident<$T:ident>($($arg:ident: $ty:ty),*) -> $ret:ty $body:block) => {
        $(#[$doc])*
        pub fn $name<$T: crate::cpu::Float>($($arg: $ty),*) -> $ret {
            #[inline(always)]
            fn body<$T: crate::cpu::Float>($($arg: $ty),*) -> $ret $body
            #[cfg(target_arch = "x86_64")]
            #[target_feature(enable = "avx512f,avx2,fma")]
            unsafe fn avx512<$T: crate::cpu::Float>($($arg: $ty),*) -> $ret { body($($arg),*) }
            #[cfg(target_arch = "x86_64")]
            #[target_feature(enable = "avx2,fma")]
            unsafe fn avx2<$T: crate::cpu::Float>($($arg: $ty),*) -> $ret { body($($arg),*) }
            match level() {
                // SAFETY: `level()` returns these only when the CPU has the features.
                #[cfg(target_arch = "x86_64")]
                Simd::Avx512 => unsafe { avx512($($arg),*) },
                // SAFETY: as above, AVX2 and FMA were detected.
                #[cfg(target_arch = "x86_64")]
                Simd::Avx2 => unsafe { avx2($($arg),*) },
                _ => body($($arg),*),
            }
        }
    };
}

multiversion! {
    /// y += a·x over equal-length slices.
    pub fn axpy<T>(y: &mut [T], a: T, x: &[T]) -> () {
        for (yv, &xv) in y.iter_mut().zip(x) {
            *yv = *yv + a * xv;
        }
    }
}

multiversion! {
    /// Σ x·y in 8 independent partial sums (so it vectorises).
    pub fn dot<T>(x: &[T], y: &[T]) -> T {
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
    pub fn sum<T>(x: &[T]) -> T {
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
    pub fn add_scalar<T>(y: &mut [T], a: T) -> () {
        for v in y.iter_mut() {
            *v = *v + a;
        }
    }
}
