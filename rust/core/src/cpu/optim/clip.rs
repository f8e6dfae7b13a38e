//! Gradient clipping kernels: vector p-norms of slices (accumulated in f64,
//! in independent lanes so the loop vectorises) and in-place scaling/clamping.

use crate::cpu::Float;

/// The order of a vector norm, as `torch.linalg.vector_norm`'s `ord`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum NormOrd {
    Inf,
    NegInf,
    /// Number of non-zero entries.
    Zero,
    /// (Σ|x|^p)^(1/p) for p > 0 (or any non-zero p, as torch).
    P(f64),
}

impl NormOrd {
    pub fn from_f64(p: f64) -> NormOrd {
        if p == f64::INFINITY {
            NormOrd::Inf
        } else if p == f64::NEG_INFINITY {
            NormOrd::NegInf
        } else if p == 0.0 {
            NormOrd::Zero
        } else {
            NormOrd::P(p)
        }
    }

    /// The partial of a chunk: Σ|x|^p, max|x|, min|x| or the non-zero count.
    pub fn partial<T: Float>(self, x: &[T]) -> f64 {
        match self {
            NormOrd::P(2.0) => lanes(x, |v| v * v),
            NormOrd::P(1.0) => lanes(x, |v| v.abs()),
            NormOrd::P(p) => lanes(x, |v| v.abs().powf(p)),
            NormOrd::Zero => lanes(x, |v| if v != 0.0 { 1.0 } else { 0.0 }),
            NormOrd::Inf => x.iter().fold(0.0f64, |a, &v| nan_max(a, v.to_f64().abs())),
            NormOrd::NegInf => x
                .iter()
                .fold(f64::INFINITY, |a, &v| nan_min(a, v.to_f64().abs())),
        }
    }

    /// Combines the partials of two pieces.
    pub fn combine(self, a: f64, b: f64) -> f64 {
        match self {
            NormOrd::Inf => nan_max(a, b),
            NormOrd::NegInf => nan_min(a, b),
            _ => a + b,
        }
    }

    /// The identity of `combine`.
    pub fn empty(self) -> f64 {
        match self {
            NormOrd::NegInf => f64::INFINITY,
            _ => 0.0,
        }
    }

    /// The norm from the combined partial.
    pub fn finish(self, s: f64) -> f64 {
        match self {
            NormOrd::P(2.0) => s.sqrt(),
            NormOrd::P(1.0) => s,
            NormOrd::P(p) => s.powf(1.0 / p),
            _ => s,
        }
    }
}

fn nan_max(a: f64, b: f64) -> f64 {
    if a.is_nan() || a >= b {
        a
    } else {
        b
    }
}

fn nan_min(a: f64, b: f64) -> f64 {
    if a.is_nan() || a <= b {
        a
    } else {
        b
    }
}

/// Σ f(x) in f64 with eight independent accumulators (so it vectorises and
/// rounds the same way on every SIMD path).
#[inline(always)]
fn lanes<T: Float>(x: &[T], f: impl Fn(f64) -> f64) -> f64 {
    let mut acc = [0.0f64; 8];
    let mut it = x.chunks_exact(8);
    for c in &mut it {
        for k in 0..8 {
            acc[k] += f(c[k].to_f64());
        }
    }
    for (k, &v) in it.remainder().iter().enumerate() {
        acc[k] += f(v.to_f64());
    }
    acc.iter().sum()
}

/// x *= c
pub fn scale<T: Float>(x: &mut [T], c: T) {
    for v in x {
        *v = *v * c;
    }
}

/// x = clamp(x, -c, c); NaN stays NaN (as torch.clamp).
pub fn clamp<T: Float>(x: &mut [T], c: T) {
    for v in x {
        *v = if *v < -c {
            -c
        } else if *v > c {
            c
        } else {
            *v
        };
    }
}
