//! Fused cross-entropy: log-softmax and negative log-likelihood in one pass
//! per row, so the (N, C) log-probabilities are never written to memory.

use super::Float;

/// Per-row losses (0 for ignored rows) and the count of rows not ignored.
/// Targets were range-checked by the op.
pub fn cross_entropy_fwd<T: Float>(logits: &[T], c: usize, target: &[i64], ignore: i64) -> (Vec<T>, usize) {
    let mut count = 0;
    let losses = logits
        .chunks_exact(c.max(1))
        .zip(target)
        .map(|(row, &t)| {
            if t == ignore {
                return T::zero();
            }
            count += 1;
            let m = row.iter().fold(T::NEG_INF, |a, &b| if b > a { b } else { a });
            let s: f64 = row.iter().map(|&v| (v - m).exp().to_f64()).sum();
            T::from_f64(s.ln()) + m - row[t as usize]
        })
        .collect();
    (losses, count)
}

/// d loss / d logits = (softmax(row) − onehot(target)) · scale[row].
pub fn cross_entropy_bwd<T: Float>(logits: &[T], c: usize, target: &[i64], ignore: i64, scale: &[T]) -> Vec<T> {
    let mut out = vec![T::zero(); logits.len()];
    for (((row, o), &t), &s) in logits.chunks_exact(c.max(1)).zip(out.chunks_exact_mut(c.max(1))).zip(target).zip(scale) {
        if t == ignore {
            continue;
        }
        let m = row.iter().fold(T::NEG_INF, |a, &b| if b > a { b } else { a });
        let sum: f64 = row.iter().map(|&v| (v - m).exp().to_f64()).sum();
        let inv = T::from_f64(1.0 / sum);
        for (ov, &v) in o.iter_mut().zip(row) {
            *ov = (v - m).exp() * inv * s;
        }
        o[t as usize] = o[t as usize] - s;
    }
    out
}

/// Element-wise regression losses on equal-length `input`/`target`, fused:
/// the forward reads both once and (for mean/sum) never writes the
/// element-wise losses; the backward writes d loss/d input in one pass.
/// Composing `(x − y)²` from tensor ops wrote three full-size temporaries
/// forward and five backward (5.7× torch's time at (16, 128, 256)).
pub mod pointwise {
    use crate::cpu::{install, simd, Float, PAR_MIN};
    use rayon::prelude::*;

    /// Elements per task; also the unit whose f32 lane sums are added in f64,
    /// so the error of a mean over millions of elements stays at f32 rounding.
    const CHUNK: usize = 1 << 14;
    const LANES: usize = 32;

    /// Σ (x − y)² in `LANES` partial sums (vectorises; see layernorm.rs).
    #[inline(always)]
    fn sq_sum<T: Float>(x: &[T], y: &[T]) -> T {
        let (xc, xt) = x.as_chunks::<LANES>();
        let (yc, yt) = y[..x.len()].as_chunks::<LANES>();
        let mut acc = [T::zero(); LANES];
        for (a, b) in xc.iter().zip(yc) {
            for l in 0..LANES {
                let d = a[l] - b[l];
                acc[l] = acc[l] + d * d;
            }
        }
        // black_box: keeps LLVM from rebuilding the loop from the final
        // reduction tree with 2-wide vectors (layernorm.rs has the details)
        let acc = std::hint::black_box(acc);
        let s = xt.iter().zip(yt).fold(T::zero(), |s, (&a, &b)| s + (a - b) * (a - b));
        acc.iter().fold(s, |p, &q| p + q)
    }

    simd::multiversion! {
        fn sq_sum_chunk<T: Float>(x: &[T], y: &[T]) -> f64 {
            sq_sum(x, y).to_f64()
        }
    }

    simd::multiversion! {
        /// out = (x − y)², element-wise.
        fn sq_into<T: Float>(x: &[T], y: &[T], out: &mut [T]) {
            for ((o, &a), &b) in out.iter_mut().zip(x).zip(y) {
                let d = a - b;
                *o = d * d;
            }
        }
    }

    simd::multiversion! {
        /// out = s·(x − y), element-wise (`s` = 2·upstream gradient / n).
        fn scaled_diff<T: Float>(x: &[T], y: &[T], s: T, out: &mut [T]) {
            for ((o, &a), &b) in out.iter_mut().zip(x).zip(y) {
                *o = s * (a - b);
            }
        }
    }

    simd::multiversion! {
        /// out = 2·g·(x − y), element-wise (reduction "none").
        fn scaled_diff_by<T: Float>(x: &[T], y: &[T], g: &[T], out: &mut [T]) {
            let two = T::from_f64(2.0);
            for (((o, &a), &b), &gv) in out.iter_mut().zip(x).zip(y).zip(g) {
                *o = two * gv * (a - b);
            }
        }
    }

    /// Σ (x − y)², chunk sums added in f64 in chunk order (the same result
    /// for any thread count).
    pub fn mse_sum<T: Float>(x: &[T], y: &[T]) -> f64 {
        if x.len() >= PAR_MIN {
            let parts: Vec<f64> = install(|| {
                x.par_chunks(CHUNK)
                    .zip(y.par_chunks(CHUNK))
                    .map(|(a, b)| sq_sum_chunk(a, b))
                    .collect()
            });
            parts.iter().sum()
        } else {
            x.chunks(CHUNK).zip(y.chunks(CHUNK)).map(|(a, b)| sq_sum_chunk(a, b)).sum()
        }
    }

    /// (x − y)² element-wise (reduction "none").
    pub fn mse_none<T: Float>(x: &[T], y: &[T]) -> Vec<T> {
        let mut out = vec![T::zero(); x.len()];
        par_zip(&mut out, x, y, None, |o, a, b, _| sq_into(a, b, o));
        out
    }

    /// d/dx of Σ (x − y)²·s: 2·s·(x − y) with `s` the upstream gradient
    /// (÷ n for "mean"); `g` = the element-wise upstream gradient for "none".
    pub fn mse_backward<T: Float>(x: &[T], y: &[T], s: T, g: Option<&[T]>) -> Vec<T> {
        let mut out = vec![T::zero(); x.len()];
        let two_s = T::from_f64(2.0) * s;
        par_zip(&mut out, x, y, g, |o, a, b, g| match g {
            Some(g) => scaled_diff_by(a, b, g, o),
            None => scaled_diff(a, b, two_s, o),
        });
        out
    }

    /// Runs `f` on matching chunks of out, x, y (and g), in parallel when large.
    fn par_zip<T: Float>(
        out: &mut [T],
        x: &[T],
        y: &[T],
        g: Option<&[T]>,
        f: impl Fn(&mut [T], &[T], &[T], Option<&[T]>) + Sync,
    ) {
        let gc = |i: usize| g.map(|g| &g[i * CHUNK..((i + 1) * CHUNK).min(g.len())]);
        if x.len() >= PAR_MIN {
            install(|| {
                out.par_chunks_mut(CHUNK)
                    .zip(x.par_chunks(CHUNK).zip(y.par_chunks(CHUNK)))
                    .enumerate()
                    .for_each(|(i, (o, (a, b)))| f(o, a, b, gc(i)))
            });
        } else {
            f(out, x, y, g);
        }
    }

    #[cfg(test)]
    mod tests {
        use super::*;

        /// Against plain f64 loops, on sizes around the lane width, the
        /// chunk size and the parallel threshold.
        #[test]
        fn mse_matches_reference() {
            for &n in &[0usize, 1, 31, 33, 1000, CHUNK + 7, PAR_MIN + 5] {
                let x: Vec<f32> = (0..n).map(|i| ((i * 7919 % 113) as f32) / 17.0 - 3.0).collect();
                let y: Vec<f32> = (0..n).map(|i| ((i * 31 % 29) as f32) / 7.0 - 2.0).collect();
                let g: Vec<f32> = (0..n).map(|i| (i % 5) as f32 - 2.0).collect();
                let d = |i: usize| x[i] as f64 - y[i] as f64;
                let want: f64 = (0..n).map(|i| d(i) * d(i)).sum();
                assert!((mse_sum(&x, &y) - want).abs() <= 1e-6 * want.max(1.0), "sum n={n}");
                let none = mse_none(&x, &y);
                assert!((0..n).all(|i| (none[i] as f64 - d(i) * d(i)).abs() <= 1e-5 * (1.0 + d(i) * d(i))));
                let gs = mse_backward(&x, &y, 0.5f32, None);
                assert!((0..n).all(|i| (gs[i] as f64 - d(i)).abs() <= 1e-6 * (1.0 + d(i).abs())));
                let gn = mse_backward(&x, &y, 1.0f32, Some(&g));
                assert!((0..n).all(|i| (gn[i] as f64 - 2.0 * g[i] as f64 * d(i)).abs() <= 1e-5 * (1.0 + d(i).abs())));
            }
        }
    }
}
