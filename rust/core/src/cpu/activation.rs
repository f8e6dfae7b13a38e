//! Element-wise activations, each declared once with its value and first two
//! derivatives (order 0, 1, 2). The forward is one map; the backward is one
//! fused `g · f'(x)` map; under `create_graph` the op layer composes
//! `g · f'(x)` from the order-1 op, whose own backward uses order 2 — so
//! double backward (gradient penalties) works for every activation here.
//! The reference math runs in f64 and rounds once to the tensor's dtype;
//! float32 values and first derivatives of the smooth ones take a
//! vectorised f32 path (`fast_f32`, on cpu/fastmath.rs) instead, tested
//! against the f64 reference.

use super::fastmath::{erfc_f32, exp_f32, expm1_f32, log1p_unit_f32, sigmoid_f32};
use super::simd::{level, Simd};
use super::Float;
use crate::tensor::storage::uninit_vec;
use crate::tensor::DType;

/// Surrogate derivative of the Heaviside step (its true derivative is 0
/// almost everywhere, so nothing would learn through it).
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Surrogate {
    /// `k·σ(kx)·(1−σ(kx))`: the derivative of a sigmoid of slope `k`
    /// (Neftci, Mostafa & Zenke, "Surrogate Gradient Learning in Spiking
    /// Neural Networks", 2019).
    Sigmoid(f64),
    /// 1 on |x| <= 1, else 0: the straight-through estimator with the
    /// hard-tanh window (Bengio, Léonard & Courville 2013; Courbariaux et al.,
    /// BinaryNet, 2016).
    StraightThrough,
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Act {
    LeakyRelu(f64),
    /// `scale·x` for x > 0, else `scale·alpha·(exp(input_scale·x) − 1)`:
    /// ELU (1, α, 1), SELU and CELU (α, 1/α) are all this.
    Elu {
        alpha: f64,
        scale: f64,
        input_scale: f64,
    },
    Gelu,
    GeluTanh,
    Silu,
    Softplus {
        beta: f64,
        threshold: f64,
    },
    Hardtanh {
        lo: f64,
        hi: f64,
    },
    LogSigmoid,
    Mish,
    Step(Surrogate),
}

#[inline]
fn sigmoid(x: f64) -> f64 {
    if x >= 0.0 {
        1.0 / (1.0 + (-x).exp())
    } else {
        let e = x.exp();
        e / (1.0 + e)
    }
}

const SQRT_2_PI_INV: f64 = 0.398_942_280_401_432_7; // 1/sqrt(2π)
const GELU_K: f64 = 0.797_884_560_802_865_4; // sqrt(2/π)
const GELU_C: f64 = 0.044715;

impl Act {
    pub fn name(self) -> &'static str {
        match self {
            Act::LeakyRelu(_) => "leaky_relu",
            Act::Elu { .. } => "elu",
            Act::Gelu | Act::GeluTanh => "gelu",
            Act::Silu => "silu",
            Act::Softplus { .. } => "softplus",
            Act::Hardtanh { .. } => "hardtanh",
            Act::LogSigmoid => "log_sigmoid",
            Act::Mish => "mish",
            Act::Step(_) => "step",
        }
    }

    /// f(x) (order 0), f'(x) (order 1) or f''(x) (order 2); f(NaN) is NaN.
    #[inline(always)]
    pub fn eval(self, x: f64, order: u8) -> f64 {
        // NaN propagates through every formula below (the comparisons are
        // written so); no early return, which would block vectorisation
        match (self, order) {
            (Act::LeakyRelu(a), 0) => {
                if x > 0.0 {
                    x
                } else {
                    a * x
                }
            }
            (Act::LeakyRelu(a), 1) => {
                if x > 0.0 {
                    1.0
                } else {
                    a
                }
            }
            (
                Act::Elu {
                    alpha,
                    scale,
                    input_scale: s,
                },
                o,
            ) => match (x > 0.0, o) {
                (true, 0) => scale * x,
                (true, 1) => scale,
                (true, _) => 0.0,
                (false, 0) => scale * alpha * (s * x).exp_m1(),
                (false, 1) => scale * alpha * s * (s * x).exp(),
                (false, _) => scale * alpha * s * s * (s * x).exp(),
            },
            (Act::Gelu, o) => {
                let pdf = SQRT_2_PI_INV * (-0.5 * x * x).exp();
                match o {
                    0 => 0.5 * x * (1.0 + libm::erf(x * std::f64::consts::FRAC_1_SQRT_2)),
                    1 => 0.5 * (1.0 + libm::erf(x * std::f64::consts::FRAC_1_SQRT_2)) + x * pdf,
                    _ => pdf * (2.0 - x * x),
                }
            }
            (Act::GeluTanh, o) => {
                let u = GELU_K * (x + GELU_C * x * x * x);
                let t = u.tanh();
                let du = GELU_K * (1.0 + 3.0 * GELU_C * x * x);
                match o {
                    0 => 0.5 * x * (1.0 + t),
                    1 => 0.5 * (1.0 + t) + 0.5 * x * (1.0 - t * t) * du,
                    _ => (1.0 - t * t) * (du - x * t * du * du + 3.0 * GELU_K * GELU_C * x * x),
                }
            }
            (Act::Silu, o) => {
                let s = sigmoid(x);
                match o {
                    0 => x * s,
                    1 => s * (1.0 + x * (1.0 - s)),
                    _ => s * (1.0 - s) * (2.0 + x * (1.0 - 2.0 * s)),
                }
            }
            (Act::Softplus { beta, threshold }, o) => {
                let bx = beta * x;
                if bx > threshold {
                    return if o == 0 {
                        x
                    } else if o == 1 {
                        1.0
                    } else {
                        0.0
                    };
                }
                let s = sigmoid(bx);
                match o {
                    0 => libm::log1p(bx.exp()) / beta,
                    1 => s,
                    _ => beta * s * (1.0 - s),
                }
            }
            (Act::Hardtanh { lo, hi }, 0) => {
                if x < lo {
                    lo
                } else if x > hi {
                    hi
                } else {
                    x
                }
            }
            (Act::Hardtanh { lo, hi }, 1) => {
                if x > lo && x < hi {
                    1.0
                } else {
                    0.0
                }
            }
            (Act::LogSigmoid, o) => {
                let s = sigmoid(x);
                match o {
                    0 => x.min(0.0) - libm::log1p((-x.abs()).exp()),
                    1 => sigmoid(-x),
                    _ => -s * (1.0 - s),
                }
            }
            (Act::Mish, o) => {
                // f = x·tanh(sp), sp = softplus(x), sp' = σ(x)
                let sp = if x > 20.0 { x } else { libm::log1p(x.exp()) };
                let (t, s) = (sp.tanh(), sigmoid(x));
                let dt = 1.0 - t * t; // tanh'(sp)
                match o {
                    0 => x * t,
                    1 => t + x * dt * s,
                    _ => 2.0 * dt * s + x * (-2.0 * t * dt * s * s + dt * s * (1.0 - s)),
                }
            }
            (Act::Step(_), 0) => {
                if x > 0.0 {
                    1.0
                } else if x <= 0.0 {
                    0.0
                } else {
                    x
                }
            }
            (Act::Step(Surrogate::Sigmoid(k)), o) => {
                let s = sigmoid(k * x);
                if o == 1 {
                    k * s * (1.0 - s)
                } else {
                    k * k * s * (1.0 - s) * (1.0 - 2.0 * s)
                }
            }
            (Act::Step(Surrogate::StraightThrough), 1) => {
                if x.abs() <= 1.0 {
                    1.0
                } else {
                    0.0
                }
            }
            // piecewise-linear activations: second derivative 0 (a.e.)
            _ => 0.0,
        }
    }
}

/// f32 kernel for the transcendental activations (order 0 and 1):
/// branch-free formulas over `exp_f32` that the compiler vectorises, written
/// to avoid cancellation (GELU through erfc, the tanh forms through sigmoid).
/// Returns false for what it does not cover (the caller then takes the f64
/// reference path). Max error vs the f64 reference is tested in
/// `fast_f32_matches_reference`. Compiled per instruction set like
/// `simd::multiversion!` (which needs a generic element type; this is f32 only).
pub fn fast_f32(act: Act, order: u8, src: &[f32], g: Option<&[f32]>, dst: &mut [f32]) -> bool {
    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx512f,avx2,fma")]
    unsafe fn avx512(act: Act, order: u8, src: &[f32], g: Option<&[f32]>, dst: &mut [f32]) -> bool {
        fast_body(act, order, src, g, dst)
    }
    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx2,fma")]
    unsafe fn avx2(act: Act, order: u8, src: &[f32], g: Option<&[f32]>, dst: &mut [f32]) -> bool {
        fast_body(act, order, src, g, dst)
    }
    match level() {
        // SAFETY: `level()` returns these only when the CPU has the features.
        #[cfg(target_arch = "x86_64")]
        Simd::Avx512 => unsafe { avx512(act, order, src, g, dst) },
        // SAFETY: as above, AVX2 and FMA were detected.
        #[cfg(target_arch = "x86_64")]
        Simd::Avx2 => unsafe { avx2(act, order, src, g, dst) },
        _ => fast_body(act, order, src, g, dst),
    }
}

#[inline(always)]
fn fast_body(act: Act, order: u8, src: &[f32], g: Option<&[f32]>, dst: &mut [f32]) -> bool {
    #[inline(always)]
    fn run(src: &[f32], g: Option<&[f32]>, dst: &mut [f32], f: impl Fn(f32) -> f32) -> bool {
        // plain `for` loops: `for_each` goes through `Zip::fold`, which is not
        // inlined into the target-feature copies and so stays SSE2-only
        match g {
            None => {
                for (d, &x) in dst.iter_mut().zip(src) {
                    *d = f(x);
                }
            }
            Some(g) => {
                for ((d, &x), &gv) in dst.iter_mut().zip(src).zip(g) {
                    *d = gv * f(x);
                }
            }
        }
        true
    }
    const RSQRT2: f32 = std::f32::consts::FRAC_1_SQRT_2;
    const PDF: f32 = SQRT_2_PI_INV as f32;
    const K: f32 = GELU_K as f32;
    const C: f32 = GELU_C as f32;
    match (act, order) {
        // x·Φ(x) = ½x·erfc(−x/√2): no cancellation on the negative side
        (Act::Gelu, 0) => run(src, g, dst, |x| 0.5 * x * erfc_f32(-x * RSQRT2)),
        (Act::Gelu, 1) => run(src, g, dst, |x| {
            0.5 * erfc_f32(-x * RSQRT2) + x * PDF * exp_f32(-0.5 * x * x)
        }),
        // ½x(1 + tanh u) = x·σ(2u); f' = σ + 2x·σ(1−σ)·u'
        (Act::GeluTanh, 0) => run(src, g, dst, |x| {
            x * sigmoid_f32(2.0 * K * (x + C * x * x * x))
        }),
        (Act::GeluTanh, 1) => run(src, g, dst, |x| {
            let s = sigmoid_f32(2.0 * K * (x + C * x * x * x));
            s + 2.0 * x * s * (1.0 - s) * K * (1.0 + 3.0 * C * x * x)
        }),
        (Act::Silu, 0) => run(src, g, dst, |x| x * sigmoid_f32(x)),
        (Act::Silu, 1) => run(src, g, dst, |x| {
            let s = sigmoid_f32(x);
            s * (1.0 + x * (1.0 - s))
        }),
        (
            Act::Elu {
                alpha,
                scale,
                input_scale,
            },
            o,
        ) => {
            let (sc, sa, s) = (scale as f32, (scale * alpha) as f32, input_scale as f32);
            if o == 0 {
                run(src, g, dst, |x| {
                    if x > 0.0 {
                        sc * x
                    } else {
                        sa * expm1_f32(s * x)
                    }
                })
            } else {
                run(src, g, dst, |x| {
                    if x > 0.0 {
                        sc
                    } else {
                        sa * s * exp_f32(s * x)
                    }
                })
            }
        }
        // softplus = max(bx, 0)/β + log1p(e^−|bx|)/β; beyond the threshold x itself
        (Act::Softplus { beta, threshold }, o) => {
            let (b, th) = (beta as f32, threshold as f32);
            if o == 0 {
                run(src, g, dst, |x| {
                    let bx = b * x;
                    let v = (bx.max(0.0) + log1p_unit_f32(exp_f32(-bx.abs()))) / b;
                    if bx > th {
                        x
                    } else {
                        v
                    }
                })
            } else {
                run(src, g, dst, |x| {
                    let bx = b * x;
                    if bx > th {
                        1.0
                    } else {
                        sigmoid_f32(bx)
                    }
                })
            }
        }
        // NaN: min(NaN, 0) is 0 but the log1p term carries the NaN
        (Act::LogSigmoid, 0) => run(src, g, dst, |x| x.min(0.0) - log1p_unit_f32(exp_f32(-x.abs()))),
        (Act::LogSigmoid, 1) => run(src, g, dst, |x| sigmoid_f32(-x)),
        // tanh(softplus x) = n/(n + 2) with n = e(e + 2), e = eˣ (exact identity;
        // x capped at 20 where it is 1 to f32 precision)
        (Act::Mish, o) => run(src, g, dst, move |x| {
            let e = exp_f32(x.min(20.0));
            let n = e * (e + 2.0);
            let d = n + 2.0;
            // t = 0 exactly where e underflows, so −∞·t is NaN as in torch
            let t = if x < -87.0 { 0.0 } else { n / d };
            if o == 0 {
                x * t
            } else {
                // 1 − t² = (4n + 4)/(n + 2)², no cancellation near t = 1
                t + x * ((4.0 * n + 4.0) / (d * d)) * sigmoid_f32(x)
            }
        }),
        (Act::Step(Surrogate::Sigmoid(k)), 1) => {
            let k = k as f32;
            run(src, g, dst, |x| {
                let s = sigmoid_f32(k * x);
                k * s * (1.0 - s)
            })
        }
        _ => false,
    }
}

/// `apply_slice`'s f32 fast path, if `T` is f32 and `fast_f32` covers `act`.
fn try_fast<T: Float>(act: Act, order: u8, src: &[T], g: Option<&[T]>, dst: &mut [T]) -> bool {
    if T::DTYPE != DType::F32 || order > 1 {
        return false;
    }
    // SAFETY: T::DTYPE == F32 means T is f32 (the only Element with that
    // dtype), so the slices are reinterpreted with identical layout and length.
    let cast = |v: &[T]| unsafe { std::slice::from_raw_parts(v.as_ptr() as *const f32, v.len()) };
    // SAFETY: as above; `dst` is borrowed mutably once, for this call only.
    let dst32 = unsafe { std::slice::from_raw_parts_mut(dst.as_mut_ptr() as *mut f32, dst.len()) };
    fast_f32(act, order, cast(src), g.map(cast), dst32)
}

/// `dst[i] = f(src[i])`, or with `g`: `dst[i] = g[i] · f(src[i])`, for
/// `f` = `act`'s derivative of `order`. The variant and order are matched
/// once per slice and rebuilt as constants, so after inlining `eval` the
/// inner loop is straight-line code for one activation (the compiler
/// vectorises the piecewise-linear ones) instead of a match per element.
pub fn apply_slice<T: Float>(act: Act, order: u8, src: &[T], g: Option<&[T]>, dst: &mut [T]) {
    #[inline(always)]
    fn run<T: Float>(src: &[T], g: Option<&[T]>, dst: &mut [T], f: impl Fn(f64) -> f64) {
        match g {
            None => {
                for (d, &x) in dst.iter_mut().zip(src) {
                    *d = T::from_f64(f(x.to_f64()));
                }
            }
            Some(g) => {
                for ((d, &x), &gv) in dst.iter_mut().zip(src).zip(g) {
                    *d = gv * T::from_f64(f(x.to_f64()));
                }
            }
        }
    }
    macro_rules! orders {
        ($a:expr) => {{
            let a = $a;
            match order {
                0 => run(src, g, dst, move |x| a.eval(x, 0)),
                1 => run(src, g, dst, move |x| a.eval(x, 1)),
                _ => run(src, g, dst, move |x| a.eval(x, 2)),
            }
        }};
    }
    // piecewise-linear ones in T itself (as torch): compare + select, vectorised
    #[inline(always)]
    fn run_t<T: Float>(src: &[T], g: Option<&[T]>, dst: &mut [T], f: impl Fn(T) -> T) {
        match g {
            None => dst.iter_mut().zip(src).for_each(|(d, &x)| *d = f(x)),
            Some(g) => dst
                .iter_mut()
                .zip(src)
                .zip(g)
                .for_each(|((d, &x), &gv)| *d = gv * f(x)),
        }
    }
    if try_fast(act, order, src, g, dst) {
        return;
    }
    let (zero, one) = (T::zero(), T::one());
    match (act, order) {
        (Act::LeakyRelu(a), 0) => {
            let a = T::from_f64(a);
            return run_t(src, g, dst, move |x| if x > zero { x } else { a * x });
        }
        (Act::LeakyRelu(a), 1) => {
            let a = T::from_f64(a);
            return run_t(src, g, dst, move |x| if x > zero { one } else { a });
        }
        (Act::Hardtanh { lo, hi }, 0) => {
            let (lo, hi) = (T::from_f64(lo), T::from_f64(hi));
            return run_t(src, g, dst, move |x| {
                if x < lo {
                    lo
                } else if x > hi {
                    hi
                } else {
                    x
                }
            });
        }
        (Act::Hardtanh { lo, hi }, 1) => {
            let (lo, hi) = (T::from_f64(lo), T::from_f64(hi));
            return run_t(
                src,
                g,
                dst,
                move |x| if x > lo && x < hi { one } else { zero },
            );
        }
        _ => {}
    }
    match act {
        Act::LeakyRelu(s) => orders!(Act::LeakyRelu(s)),
        Act::Elu {
            alpha,
            scale,
            input_scale,
        } => orders!(Act::Elu {
            alpha,
            scale,
            input_scale
        }),
        Act::Gelu => orders!(Act::Gelu),
        Act::GeluTanh => orders!(Act::GeluTanh),
        Act::Silu => orders!(Act::Silu),
        Act::Softplus { beta, threshold } => orders!(Act::Softplus { beta, threshold }),
        Act::Hardtanh { lo, hi } => orders!(Act::Hardtanh { lo, hi }),
        Act::LogSigmoid => orders!(Act::LogSigmoid),
        Act::Mish => orders!(Act::Mish),
        Act::Step(Surrogate::Sigmoid(k)) => orders!(Act::Step(Surrogate::Sigmoid(k))),
        Act::Step(Surrogate::StraightThrough) => orders!(Act::Step(Surrogate::StraightThrough)),
    }
}

/// [`apply_slice`] over the whole buffer, split across the pool when large.
pub fn apply<T: Float>(act: Act, order: u8, src: &[T], g: Option<&[T]>) -> Vec<T> {
    use rayon::prelude::*;
    const CHUNK: usize = 1 << 14;
    // SAFETY: apply_slice writes every element of the slice it is given, and
    // the chunks (or the whole buffer) cover it.
    let mut out = unsafe { uninit_vec::<T>(src.len()) };
    if src.len() >= super::PAR_MIN {
        super::install(|| {
            out.par_chunks_mut(CHUNK).enumerate().for_each(|(i, d)| {
                let r = i * CHUNK..i * CHUNK + d.len();
                apply_slice(act, order, &src[r.clone()], g.map(|g| &g[r]), d)
            })
        });
    } else {
        apply_slice(act, order, src, g, &mut out);
    }
    out
}

/// Plain reference: f(x) for every element (the op layer runs the same
/// `eval` through the parallel map; the tests check values at known points).
pub fn act_ref(act: Act, x: &[f64], order: u8) -> Vec<f64> {
    x.iter().map(|&v| act.eval(v, order)).collect()
}

/// PReLU `x > 0 ? x : w[c]·x` on contiguous data; `c` cycles every `inner`
/// elements over `w.len()` channels (one shared weight when `w.len() == 1`).
pub fn prelu<T: Float>(x: &[T], w: &[T], inner: usize) -> Vec<T> {
    let nc = w.len();
    x.iter()
        .enumerate()
        .map(|(i, &v)| {
            if v > T::zero() {
                v
            } else {
                w[if nc == 1 { 0 } else { (i / inner.max(1)) % nc }] * v
            }
        })
        .collect()
}

/// (gx, gw): `gx = x > 0 ? g : w[c]·g`, `gw[c] = Σ_{x <= 0} g·x` (f64 sums).
pub fn prelu_backward<T: Float>(g: &[T], x: &[T], w: &[T], inner: usize) -> (Vec<T>, Vec<T>) {
    let nc = w.len();
    let mut gw = vec![0.0f64; nc];
    let gx = g
        .iter()
        .zip(x)
        .enumerate()
        .map(|(i, (&gv, &xv))| {
            let c = if nc == 1 { 0 } else { (i / inner.max(1)) % nc };
            if xv > T::zero() {
                gv
            } else {
                gw[c] += (gv * xv).to_f64();
                w[c] * gv
            }
        })
        .collect();
    (gx, gw.into_iter().map(T::from_f64).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    const ALL: [Act; 12] = [
        Act::LeakyRelu(0.1),
        Act::Elu {
            alpha: 1.3,
            scale: 1.0,
            input_scale: 1.0,
        },
        Act::Gelu,
        Act::GeluTanh,
        Act::Silu,
        Act::Softplus {
            beta: 2.0,
            threshold: 20.0,
        },
        Act::Hardtanh { lo: -1.0, hi: 1.0 },
        Act::LogSigmoid,
        Act::Mish,
        Act::Step(Surrogate::Sigmoid(4.0)),
        Act::Step(Surrogate::StraightThrough),
        Act::Elu {
            alpha: 1.673_263_242_354_377_3,
            scale: 1.050_700_987_355_480_5,
            input_scale: 1.0,
        },
    ];

    #[test]
    fn derivatives_match_finite_differences() {
        let h = 1e-6;
        for act in ALL {
            for i in 0..41 {
                let x = -4.0 + 0.2 * i as f64 + 0.013; // avoid the kinks at 0, ±1
                if !matches!(act, Act::Step(_)) {
                    let fd = (act.eval(x + h, 0) - act.eval(x - h, 0)) / (2.0 * h);
                    assert!(
                        (fd - act.eval(x, 1)).abs() < 1e-5,
                        "{act:?} f' at {x}: {fd} vs {}",
                        act.eval(x, 1)
                    );
                }
                let fd2 = (act.eval(x + h, 1) - act.eval(x - h, 1)) / (2.0 * h);
                assert!(
                    (fd2 - act.eval(x, 2)).abs() < 1e-4,
                    "{act:?} f'' at {x}: {fd2} vs {}",
                    act.eval(x, 2)
                );
            }
        }
    }

    #[test]
    fn sliced_kernel_matches_reference() {
        let x: Vec<f64> = (0..40_000).map(|i| (i as f64 * 0.37).sin() * 4.0).collect();
        let g: Vec<f64> = (0..40_000).map(|i| (i as f64 * 0.11).cos()).collect();
        for act in ALL {
            for order in 0..3 {
                assert_eq!(apply(act, order, &x, None), act_ref(act, &x, order));
                let want: Vec<f64> = act_ref(act, &x, order)
                    .iter()
                    .zip(&g)
                    .map(|(a, b)| b * a)
                    .collect();
                assert_eq!(apply(act, order, &x, Some(&g)), want);
            }
        }
    }

    #[test]
    fn known_values() {
        assert!((Act::Gelu.eval(1.0, 0) - 0.841_344_746_068_542_9).abs() < 1e-15);
        assert_eq!(
            act_ref(Act::Step(Surrogate::StraightThrough), &[-2.0, 0.0, 3.0], 0),
            vec![0.0, 0.0, 1.0]
        );
        assert!(Act::Silu.eval(f64::NAN, 1).is_nan());
    }

    /// The f32 path against the f64 reference: |err| <= 2e-6·(1 + |ref|)
    /// (float32 rounding of the inputs' f64 values is exact here).
    #[test]
    fn fast_f32_matches_reference() {
        let mut x: Vec<f32> = (0..20_001).map(|i| -25.0 + 0.0025 * i as f32).collect();
        x.extend([-100.0, -87.5, 1e-4, -1e-4, 1e-30, 80.0, 100.0]);
        let xd: Vec<f64> = x.iter().map(|&v| v as f64).collect();
        for act in ALL {
            for order in 0..2 {
                let got = apply(act, order, &x, None);
                let want = act_ref(act, &xd, order);
                for ((&gv, &w), &xv) in got.iter().zip(&want).zip(&x) {
                    let err = (gv as f64 - w).abs();
                    assert!(
                        err <= 2e-6 * (1.0 + w.abs()),
                        "{act:?} order {order} at {xv}: {gv} vs {w}"
                    );
                }
            }
        }
        for act in [
            Act::Gelu,
            Act::GeluTanh,
            Act::Silu,
            Act::Mish,
            Act::Softplus {
                beta: 1.0,
                threshold: 20.0,
            },
            Act::LogSigmoid,
        ] {
            for order in 0..2 {
                assert!(
                    apply(act, order, &[f32::NAN], None)[0].is_nan(),
                    "{act:?} order {order}: NaN must propagate"
                );
            }
        }
        assert_eq!(
            apply(Act::Gelu, 0, &[f32::INFINITY], None),
            vec![f32::INFINITY]
        );
    }
}
