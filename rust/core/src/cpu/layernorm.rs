//! Layer normalisation (Ba et al., 2016) on contiguous `(rows, n)` data:
//! every row is normalised over its last `n` elements.
//!
//! Forward is one fused pass per row: one read of the row for Σ(x−K) and
//! Σ(x−K)² (shifted by the row's first value so the variance does not cancel;
//! f64 accumulators), then one read+write `y = (x−μ)·rstd·γ + β`. Backward is
//! one pass per row too: Σ ĝ and Σ ĝ·x̂ (ĝ = g·γ), then
//! `dx = rstd·(ĝ − mean(ĝ) − x̂·mean(ĝ·x̂))`; dγ = Σ_rows g·x̂ and dβ = Σ_rows g
//! are accumulated per block of rows and summed at the end. Rows run in
//! parallel (rayon) in blocks. `*_ref` are the textbook two-pass scalar
//! versions the tests compare against.

use super::{simd, Float, PAR_MIN};
use rayon::prelude::*;

/// Rows per rayon task: enough elements that a task is worth scheduling.
fn block_rows(n: usize) -> usize {
    (4096 / n.max(1)).max(1)
}

/// Lanes of independent partial sums: a single f64 accumulator makes every
/// add wait for the previous one (4 cycles), which capped the forward at a
/// quarter of torch's speed; eight chains keep the adders busy and vectorise.
const LANES: usize = 8;

fn row_stats<T: Float>(x: &[T], eps: f64) -> (f64, f64) {
    let k = x.first().map_or(0.0, |v| v.to_f64());
    let (mut s, mut s2) = ([0.0f64; LANES], [0.0f64; LANES]);
    let chunks = x.chunks_exact(LANES);
    let tail = chunks.remainder();
    for c in chunks {
        for l in 0..LANES {
            let d = c[l].to_f64() - k;
            s[l] += d;
            s2[l] += d * d;
        }
    }
    let (mut s, mut s2) = (s.iter().sum::<f64>(), s2.iter().sum::<f64>());
    for v in tail {
        let d = v.to_f64() - k;
        s += d;
        s2 += d * d;
    }
    let n = x.len() as f64;
    let m = s / n;
    let var = (s2 / n - m * m).max(0.0);
    (k + m, 1.0 / (var + eps).sqrt())
}

/// Output, per-row mean and per-row reciprocal std (saved for backward).
pub struct LnOut<T> {
    pub y: Vec<T>,
    pub mean: Vec<f64>,
    pub rstd: Vec<f64>,
}

pub fn layer_norm<T: Float>(
    x: &[T],
    n: usize,
    w: Option<&[T]>,
    b: Option<&[T]>,
    eps: f64,
) -> LnOut<T> {
    let rows = if n == 0 { 0 } else { x.len() / n };
    let mut y = vec![T::zero(); x.len()];
    let mut mean = vec![0.0f64; rows];
    let mut rstd = vec![0.0f64; rows];
    if rows == 0 {
        return LnOut { y, mean, rstd };
    }
    let br = block_rows(n);
    let work = |((yb, xb), (mb, rb)): ((&mut [T], &[T]), (&mut [f64], &mut [f64]))| {
        for (((yr, xr), m), r) in yb
            .chunks_mut(n)
            .zip(xb.chunks(n))
            .zip(mb.iter_mut())
            .zip(rb.iter_mut())
        {
            let (mu, rs) = row_stats(xr, eps);
            *m = mu;
            *r = rs;
            let (mu, rs) = (T::from_f64(mu), T::from_f64(rs));
            match (w, b) {
                (Some(w), Some(b)) => {
                    for (((o, &v), &g), &bb) in yr.iter_mut().zip(xr).zip(w).zip(b) {
                        *o = (v - mu) * rs * g + bb;
                    }
                }
                (Some(w), None) => {
                    for ((o, &v), &g) in yr.iter_mut().zip(xr).zip(w) {
                        *o = (v - mu) * rs * g;
                    }
                }
                (None, Some(b)) => {
                    for ((o, &v), &bb) in yr.iter_mut().zip(xr).zip(b) {
                        *o = (v - mu) * rs + bb;
                    }
                }
                (None, None) => {
                    for (o, &v) in yr.iter_mut().zip(xr) {
                        *o = (v - mu) * rs;
                    }
                }
            }
        }
    };
    if x.len() >= PAR_MIN {
        super::install(|| {
            y.par_chunks_mut(br * n)
                .zip(x.par_chunks(br * n))
                .zip(mean.par_chunks_mut(br).zip(rstd.par_chunks_mut(br)))
                .for_each(work)
        });
    } else {
        y.chunks_mut(br * n)
            .zip(x.chunks(br * n))
            .zip(mean.chunks_mut(br).zip(rstd.chunks_mut(br)))
            .for_each(work);
    }
    LnOut { y, mean, rstd }
}

/// (dx, dγ, dβ); dγ/dβ are computed even when there is no γ/β (cheap, ignored).
pub fn layer_norm_backward<T: Float>(
    g: &[T],
    x: &[T],
    n: usize,
    w: Option<&[T]>,
    mean: &[f64],
    rstd: &[f64],
) -> (Vec<T>, Vec<T>, Vec<T>) {
    let mut gx = vec![T::zero(); x.len()];
    if n == 0 || x.is_empty() {
        return (gx, vec![T::zero(); n], vec![T::zero(); n]);
    }
    let br = block_rows(n);
    // One block of rows: writes dx and returns this block's partial (dγ, dβ).
    let work = |(((gxb, gb), xb), (mb, rb)): (((&mut [T], &[T]), &[T]), (&[f64], &[f64]))| {
        let (mut dw, mut db) = (vec![0.0f64; n], vec![0.0f64; n]);
        let mut xhat = vec![0.0f64; n];
        let mut gh = vec![0.0f64; n];
        for ((((gxr, gr), xr), &mu), &rs) in gxb
            .chunks_mut(n)
            .zip(gb.chunks(n))
            .zip(xb.chunks(n))
            .zip(mb)
            .zip(rb)
        {
            // element-wise first (vectorises), the two row sums after
            for j in 0..n {
                let xh = (xr[j].to_f64() - mu) * rs;
                let gv = gr[j].to_f64();
                dw[j] += gv * xh;
                db[j] += gv;
                xhat[j] = xh;
                gh[j] = gv;
            }
            if let Some(w) = w {
                // a separate pass: a branch on `w` inside the loop above kept it scalar
                for (h, &wv) in gh.iter_mut().zip(w) {
                    *h *= wv.to_f64();
                }
            }
            let (sg, sgx) = (simd::sum(&gh), simd::dot(&gh, &xhat));
            let (mg, mgx) = (sg / n as f64, sgx / n as f64);
            for j in 0..n {
                gxr[j] = T::from_f64(rs * (gh[j] - mg - xhat[j] * mgx));
            }
        }
        (dw, db)
    };
    let add = |(mut a, mut b): (Vec<f64>, Vec<f64>), (c, d): (Vec<f64>, Vec<f64>)| {
        a.iter_mut().zip(&c).for_each(|(p, q)| *p += q);
        b.iter_mut().zip(&d).for_each(|(p, q)| *p += q);
        (a, b)
    };
    let zero = || (vec![0.0f64; n], vec![0.0f64; n]);
    let (dw, db) = if x.len() >= PAR_MIN {
        super::install(|| {
            gx.par_chunks_mut(br * n)
                .zip(g.par_chunks(br * n))
                .zip(x.par_chunks(br * n))
                .zip(mean.par_chunks(br).zip(rstd.par_chunks(br)))
                .map(work)
                .reduce(zero, add)
        })
    } else {
        gx.chunks_mut(br * n)
            .zip(g.chunks(br * n))
            .zip(x.chunks(br * n))
            .zip(mean.chunks(br).zip(rstd.chunks(br)))
            .map(work)
            .fold(zero(), add)
    };
    let cv = |v: Vec<f64>| v.into_iter().map(T::from_f64).collect::<Vec<T>>();
    (gx, cv(dw), cv(db))
}

/// Textbook two-pass reference (f64): y and, for a given g, (dx, dγ, dβ).
pub fn layer_norm_ref(
    x: &[f64],
    n: usize,
    w: &[f64],
    b: &[f64],
    eps: f64,
    g: &[f64],
) -> (Vec<f64>, Vec<f64>, Vec<f64>, Vec<f64>) {
    let rows = x.len() / n;
    let (mut y, mut gx) = (vec![0.0; x.len()], vec![0.0; x.len()]);
    let (mut dw, mut db) = (vec![0.0; n], vec![0.0; n]);
    for r in 0..rows {
        let xr = &x[r * n..(r + 1) * n];
        let mu = xr.iter().sum::<f64>() / n as f64;
        let var = xr.iter().map(|v| (v - mu) * (v - mu)).sum::<f64>() / n as f64;
        let rs = 1.0 / (var + eps).sqrt();
        let xh: Vec<f64> = xr.iter().map(|v| (v - mu) * rs).collect();
        let gr = &g[r * n..(r + 1) * n];
        let gh: Vec<f64> = (0..n).map(|j| gr[j] * w[j]).collect();
        let mg = gh.iter().sum::<f64>() / n as f64;
        let mgx = (0..n).map(|j| gh[j] * xh[j]).sum::<f64>() / n as f64;
        for j in 0..n {
            y[r * n + j] = xh[j] * w[j] + b[j];
            gx[r * n + j] = rs * (gh[j] - mg - xh[j] * mgx);
            dw[j] += gr[j] * xh[j];
            db[j] += gr[j];
        }
    }
    (y, gx, dw, db)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fused_matches_reference() {
        for &(rows, n) in &[(1usize, 1usize), (3, 7), (5, 64), (700, 65)] {
            let x: Vec<f64> = (0..rows * n)
                .map(|i| ((i * 7919 % 113) as f64) / 17.0 - 3.0 + 100.0)
                .collect();
            let g: Vec<f64> = (0..rows * n)
                .map(|i| ((i * 31 % 29) as f64) / 7.0 - 2.0)
                .collect();
            let w: Vec<f64> = (0..n).map(|j| 0.5 + j as f64 / 10.0).collect();
            let b: Vec<f64> = (0..n).map(|j| j as f64 / 3.0 - 1.0).collect();
            let (y0, gx0, dw0, db0) = layer_norm_ref(&x, n, &w, &b, 1e-5, &g);
            let o = layer_norm(&x, n, Some(&w), Some(&b), 1e-5);
            let (gx, dw, db) = layer_norm_backward(&g, &x, n, Some(&w), &o.mean, &o.rstd);
            let close = |a: &[f64], b: &[f64]| {
                a.iter()
                    .zip(b)
                    .all(|(p, q)| (p - q).abs() < 1e-8 * (1.0 + q.abs()))
            };
            assert!(close(&o.y, &y0) && close(&gx, &gx0) && close(&dw, &dw0) && close(&db, &db0));
        }
    }
}
