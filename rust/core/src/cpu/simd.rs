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
