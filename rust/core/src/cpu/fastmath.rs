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
}
