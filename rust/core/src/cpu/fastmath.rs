//! Branch-free transcendental functions the compiler can vectorise, for the
//! hot loops where libm's scalar calls dominate (attention scores, RNN gates).

use super::float::Fma;
use super::Float;

/// exp for f32: Cody–Waite reduction x = n·ln2 + r, then a degree-6
/// polynomial for e^r, scaled by 2ⁿ built in the exponent bits. Relative
/// error < 2e-7 on [-87, 88]; inputs are clamped there (so tiny results flush
/// to ~1e-38 rather than 0, huge ones saturate); NaN propagates.
#[inline(always)]
pub fn exp_f32(x: f32) -> f32 {
    const MAGIC: f32 = 12_582_912.0; // 1.5·2²³: adding it rounds to an integer
    let x = x.clamp(-87.0, 88.0);
    let t = x * std::f32::consts::LOG2_E + MAGIC;
    let n = t - MAGIC;
    let r = x - n * 0.693_145_75 - n * 1.428_606_8e-6; // ln2 split hi + lo
    let p = 1.0
        + r * (1.0 + r * (0.5 + r * (1.0 / 6.0 + r * (1.0 / 24.0 + r * (1.0 / 120.0 + r * (1.0 / 720.0))))));
    // n in [-126, 127]: 2ⁿ is the float with biased exponent n + 127
    let ni = (t.to_bits() as i32) - 0x4B40_0000;
    p * f32::from_bits(((ni + 127) as u32) << 23)
}

/// Element types with a fast exp: the polynomial for f32, libm for f64
/// (whose callers are rare and want full precision).
pub trait ExpFast: Float + Fma {
    fn exp_fast(self) -> Self;
}

impl ExpFast for f64 {
    #[inline(always)]
    fn exp_fast(self) -> f64 {
        self.exp()
    }
}

impl ExpFast for f32 {
    #[inline(always)]
    fn exp_fast(self) -> f32 {
        exp_f32(self)
    }
}

/// e^x − 1 for f32 without the cancellation of `exp(x) − 1` near 0: a
/// degree-8 Taylor polynomial on |x| < 0.5, `exp_f32(x) − 1` outside (the
/// subtraction there costs under 2 bits). Both are computed and one
/// selected, so the loop stays branch-free. Relative error < 6e-7 (tested).
#[inline(always)]
pub fn expm1_f32(x: f32) -> f32 {
    let p = x
        * (1.0
            + x * (0.5
                + x * (1.0 / 6.0
                    + x * (1.0 / 24.0
                        + x * (1.0 / 120.0
                            + x * (1.0 / 720.0 + x * (1.0 / 5040.0 + x * (1.0 / 40320.0))))))));
    let e = exp_f32(x) - 1.0;
    if x.abs() < 0.5 {
        p
    } else {
        e
    }
}

/// ln(1 + y) for y in [0, 1] (the range `log1p(exp(−|x|))` needs in
/// softplus and log-sigmoid): 2·atanh(w) with w = y/(2 + y) ≤ 1/3, as its
/// odd series to w¹⁵ — relative error < 1e-7 and exact behaviour near 0.
#[inline(always)]
pub fn log1p_unit_f32(y: f32) -> f32 {
    let w = y / (2.0 + y);
    let w2 = w * w;
    let s = 1.0
        + w2 * (1.0 / 3.0
            + w2 * (1.0 / 5.0
                + w2 * (1.0 / 7.0
                    + w2 * (1.0 / 9.0
                        + w2 * (1.0 / 11.0 + w2 * (1.0 / 13.0 + w2 * (1.0 / 15.0)))))));
    2.0 * w * s
}

/// 1/(1 + e^−x) for f32, branch-free; NaN propagates. Exactly 0 below −87
/// (where e^−x leaves f32's range and exp_f32 clamps), so `x·σ(x)` at −∞ is
/// NaN as in torch rather than −∞.
#[inline(always)]
pub fn sigmoid_f32(x: f32) -> f32 {
    let s = 1.0 / (1.0 + exp_f32(-x));
    if x < -87.0 {
        0.0
    } else {
        s
    }
}

/// erfc for f32 (Numerical Recipes' `erfcc`, Chebyshev fit):
/// t = 1/(1 + |z|/2), erfc|z| = t·exp(−z² + P(t)), erfc(−z) = 2 − erfc(z).
/// Relative error < 1.2e-7 for the fit; in f32 the rounding of −z² adds
/// about z²·6e-8, so the max relative error is < 2e-6 on [0, 3] and < 1e-5 to
/// z = 9 (where erfc is 1e-37), absolute < 5e-7 everywhere (tested).
/// Relative accuracy in the tail is what GELU's negative side needs.
#[inline(always)]
pub fn erfc_f32(z: f32) -> f32 {
    let a = z.abs();
    let t = 1.0 / (1.0 + 0.5 * a);
    let p = -1.265_512_2
        + t * (1.000_023_7
            + t * (0.374_091_96
                + t * (0.096_784_18
                    + t * (-0.186_288_06
                        + t * (0.278_868_07
                            + t * (-1.135_203_98
                                + t * (1.488_515_87 + t * (-0.822_152_23 + t * 0.170_872_77))))))));
    let r = t * exp_f32(p - a * a);
    if z >= 0.0 {
        r
    } else {
        2.0 - r
    }
}

/// erf for f32 as 1 − erfc (absolute error < 5e-7; tested).
#[inline(always)]
pub fn erf_f32(z: f32) -> f32 {
    1.0 - erfc_f32(z)
}

#[cfg(test)]
mod tests {
    #[test]
    fn exp_f32_is_accurate_and_propagates_nan() {
        let mut worst = 0.0f64;
        let mut x = -87.0f32;
        while x < 88.0 {
            let (got, want) = (super::exp_f32(x) as f64, (x as f64).exp());
            worst = worst.max(((got - want) / want).abs());
            x += 0.0137;
        }
        assert!(worst < 3e-7, "worst relative error {worst}");
        assert!(super::exp_f32(f32::NAN).is_nan());
        assert_eq!(super::exp_f32(0.0), 1.0);
    }

    #[test]
    fn erf_erfc_expm1_log1p_are_accurate() {
        let (mut e_abs, mut c_rel, mut m_rel, mut l_rel) = (0.0f64, [0.0f64; 2], 0.0f64, 0.0f64);
        let mut z = -9.0f32;
        while z < 9.0 {
            let zd = z as f64;
            e_abs = e_abs.max((super::erf_f32(z) as f64 - libm::erf(zd)).abs());
            if z >= 0.0 {
                let want = libm::erfc(zd);
                let i = (z > 3.0) as usize;
                c_rel[i] = c_rel[i].max(((super::erfc_f32(z) as f64 - want) / want).abs());
            }
            if z.abs() < 20.0 {
                let want = zd.exp_m1();
                m_rel =
                    m_rel.max(((super::expm1_f32(z) as f64 - want) / want.abs().max(1e-30)).abs());
            }
            z += 0.00137;
        }
        let mut y = 1e-8f32;
        while y <= 1.0 {
            let want = libm::log1p(y as f64);
            l_rel = l_rel.max(((super::log1p_unit_f32(y) as f64 - want) / want).abs());
            y *= 1.001;
        }
        assert!(e_abs < 5e-7, "erf max abs error {e_abs}");
        assert!(c_rel[0] < 2e-6 && c_rel[1] < 1e-5, "erfc max rel error {c_rel:?}");
        assert!(m_rel < 6e-7, "expm1 max rel error {m_rel}");
        assert!(l_rel < 3e-7, "log1p max rel error {l_rel}");
        assert!(super::erf_f32(f32::NAN).is_nan() && super::expm1_f32(f32::NAN).is_nan());
        assert_eq!(super::erfc_f32(f32::INFINITY), 0.0);
        assert_eq!(super::erfc_f32(f32::NEG_INFINITY), 2.0);
        assert_eq!(super::sigmoid_f32(f32::INFINITY), 1.0);
        assert_eq!(super::sigmoid_f32(-100.0), 0.0);
        assert!(super::sigmoid_f32(f32::NAN).is_nan());
    }
}
