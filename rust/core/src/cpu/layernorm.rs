//! Layer normalisation (Ba et al., 2016) on contiguous `(rows, n)` data:
//! every row is normalised over its last `n` elements.
//!
//! Forward, per row: Σx for the mean, then Σ(x−μ)² for the variance (two
//! passes over a row that is L1-resident after the first, so the variance
//! never cancels, even for rows far from zero), then one read+write
//! `y = (x−μ)·rstd·γ + β`. Backward, per row: one pass for Σĝ and Σĝ·x̂
//! (ĝ = g·γ) that also adds g·x̂ and g into the block's dγ/dβ partials, then
//! `dx = rstd·(ĝ − mean(ĝ) − x̂·mean(ĝ·x̂))`.
//!
//! Accumulation is in the element type, in `LANES` independent partial sums:
//! one accumulator makes every add wait for the last (4 cycles) and keeps the
//! loop scalar; 32 lanes are two AVX-512 registers of f32. The rounding error
//! of an f32 row sum split over 32 lanes grows like √(n/32)·2⁻²⁴ — far inside
//! torch's own tolerance (torch also accumulates f32 rows in f32). The row
//! kernels are compiled per ISA (`simd::multiversion!`); blocks of rows run
//! in parallel. `layer_norm_ref` is the textbook f64 version the tests use.

use super::{simd, Float, PAR_MIN};
use rayon::prelude::*;
use std::mem::MaybeUninit;

use crate::tensor::storage::{assume_init_vec, uninit_buf};

/// Rows per forward task: enough elements that a task is worth scheduling.
fn block_rows(n: usize) -> usize {
    (4096 / n.max(1)).max(1)
}

/// Independent partial sums per row reduction (see the module comment):
/// two AVX-512 registers of f32, so two adds are in flight.
const LANES: usize = 32;

/// Most dγ/dβ partials the backward keeps: its blocks grow with the row
/// count so the partials (2·n each) and their final sum stay small, and the
/// block boundaries — hence the summation order — do not depend on threads.
const MAX_BLOCKS: usize = 64;

/// Σ of the lanes, pairwise. `black_box` keeps LLVM from folding this tree
/// back into the accumulation loop: without it the SLP vectoriser rebuilt
/// the loop from 2-wide pieces (xmm) instead of full registers.
#[inline(always)]
fn fold<T: Float>(a: [T; LANES]) -> T {
    let mut a = std::hint::black_box(a);
    let mut w = LANES / 2;
    while w > 0 {
        for l in 0..w {
            a[l] = a[l] + a[l + w];
        }
        w /= 2;
    }
    a[0]
}

/// (mean, 1/√(var+eps)) of one row, two passes.
#[inline(always)]
fn row_stats<T: Float>(x: &[T], eps: T) -> (T, T) {
    let nf = T::from_f64(x.len() as f64);
    // `as_chunks` (fixed-size arrays, no bounds checks) is what lets LLVM
    // turn the lane loops into full-width vector adds
    let (chunks, tail) = x.as_chunks::<LANES>();
    let mut acc = [T::zero(); LANES];
    for c in chunks {
        for l in 0..LANES {
            acc[l] = acc[l] + c[l];
        }
    }
    let mu = tail.iter().fold(fold(acc), |s, &v| s + v) / nf;
    let mut acc = [T::zero(); LANES];
    for c in chunks {
        for l in 0..LANES {
            let d = c[l] - mu;
            acc[l] = acc[l] + d * d;
        }
    }
    let var = tail.iter().fold(fold(acc), |s, &v| s + (v - mu) * (v - mu)) / nf;
    (mu, T::one() / (var + eps).sqrt())
}

simd::multiversion! {
    /// Normalises a block of whole rows of `x` into `y` (γ = `w`, β = `b`,
    /// both of length `n`) and stores each row's mean and rstd.
    fn forward_rows<T: Float>(
        x: &[T],
        y: &mut [MaybeUninit<T>],
        w: &[T],
        b: &[T],
        eps: T,
        mean: &mut [MaybeUninit<T>],
        rstd: &mut [MaybeUninit<T>],
    ) {
        let n = w.len();
        for (((xr, yr), m), r) in x.chunks_exact(n).zip(y.chunks_exact_mut(n)).zip(mean).zip(rstd) {
            let (mu, rs) = row_stats(xr, eps);
            m.write(mu);
            r.write(rs);
            for (((o, &v), &g), &bb) in yr.iter_mut().zip(xr).zip(w).zip(b) {
                o.write((v - mu) * rs * g + bb);
            }
        }
    }
}

/// Output, per-row mean and per-row reciprocal std (saved for backward).
pub struct LnOut<T> {
    pub y: Vec<T>,
    pub mean: Vec<T>,
    pub rstd: Vec<T>,
}

pub fn layer_norm<T: Float>(
    x: &[T],
    n: usize,
    w: Option<&[T]>,
    b: Option<&[T]>,
    eps: f64,
) -> LnOut<T> {
    let rows = if n == 0 { 0 } else { x.len() / n };
    // γ = 1 / β = 0 when absent: one kernel instead of four branches
    let ones;
    let w = match w {
        Some(w) => w,
        None => {
            ones = vec![T::one(); n];
            &ones
        }
    };
    let zeros;
    let b = match b {
        Some(b) => b,
        None => {
            zeros = vec![T::zero(); n];
            &zeros
        }
    };
    let (mut y, mut mean, mut rstd) = (uninit_buf::<T>(x.len()), uninit_buf::<T>(rows), uninit_buf::<T>(rows));
    if rows > 0 {
        let eps = T::from_f64(eps);
        let br = block_rows(n);
        let work = |((yb, xb), (mb, rb)): (
            (&mut [MaybeUninit<T>], &[T]),
            (&mut [MaybeUninit<T>], &mut [MaybeUninit<T>]),
        )| { forward_rows(xb, yb, w, b, eps, mb, rb) };
        if x.len() >= PAR_MIN {
            super::install(|| {
                y.par_chunks_mut(br * n)
                    .zip(x.par_chunks(br * n))
                    .zip(mean.par_chunks_mut(br).zip(rstd.par_chunks_mut(br)))
                    .for_each(work)
            });
        } else {
            work(((&mut y[..], x), (&mut mean[..], &mut rstd[..])));
        }
    }
    // SAFETY: forward_rows wrote every element of y (rows·n = x.len()), mean and rstd.
    unsafe {
        LnOut {
            y: assume_init_vec(y),
            mean: assume_init_vec(mean),
            rstd: assume_init_vec(rstd),
        }
    }
}

simd::multiversion! {
    /// dx for a block of whole rows; adds this block's g·x̂ and g into `dw`/`db`.
    fn backward_rows<T: Float>(
        g: &[T],
        x: &[T],
        w: &[T],
        mean: &[T],
        rstd: &[T],
        dx: &mut [MaybeUninit<T>],
        dw: &mut [T],
        db: &mut [T],
    ) {
        let n = w.len();
        let nf = T::from_f64(n as f64);
        let split = n - n % LANES;
        for ((((gr, xr), dxr), &mu), &rs) in g.chunks_exact(n).zip(x.chunks_exact(n)).zip(dx.chunks_exact_mut(n)).zip(mean).zip(rstd) {
            let (mut sg, mut sgx) = ([T::zero(); LANES], [T::zero(); LANES]);
            let chunks = gr[..split]
                .as_chunks::<LANES>()
                .0
                .iter()
                .zip(xr[..split].as_chunks::<LANES>().0)
                .zip(w[..split].as_chunks::<LANES>().0)
                .zip(dw[..split].as_chunks_mut::<LANES>().0.iter_mut().zip(db[..split].as_chunks_mut::<LANES>().0));
            for (((gc, xc), wc), (dwc, dbc)) in chunks {
                for l in 0..LANES {
                    let xh = (xc[l] - mu) * rs;
                    let gh = gc[l] * wc[l];
                    sg[l] = sg[l] + gh;
                    sgx[l] = sgx[l] + gh * xh;
                    dwc[l] = dwc[l] + gc[l] * xh;
                    dbc[l] = dbc[l] + gc[l];
                }
            }
            let (mut sg, mut sgx) = (fold(sg), fold(sgx));
            for j in split..n {
                let xh = (xr[j] - mu) * rs;
                let gh = gr[j] * w[j];
                sg = sg + gh;
                sgx = sgx + gh * xh;
                dw[j] = dw[j] + gr[j] * xh;
                db[j] = db[j] + gr[j];
            }
            let (mg, mgx) = (sg / nf, sgx / nf);
            for (((o, &gv), &xv), &wv) in dxr.iter_mut().zip(gr).zip(xr).zip(w) {
                let xh = (xv - mu) * rs;
                o.write(rs * (gv * wv - mg - xh * mgx));
            }
        }
    }
}

simd::multiversion! {
    /// acc += v, element-wise (sums the dγ/dβ partials).
    fn add_into<T: Float>(acc: &mut [T], v: &[T]) {
        for (a, &b) in acc.iter_mut().zip(v) {
            *a = *a + b;
        }
    }
}

/// (dx, dγ, dβ) from the forward's per-row `mean`/`rstd`; dγ/dβ are computed
/// even when there is no γ/β (cheap, ignored).
pub fn layer_norm_backward<T: Float>(
    g: &[T],
    x: &[T],
    n: usize,
    w: Option<&[T]>,
    mean: &[T],
    rstd: &[T],
) -> (Vec<T>, Vec<T>, Vec<T>) {
    if n == 0 || x.is_empty() {
        return (
            vec![T::zero(); x.len()],
            vec![T::zero(); n],
            vec![T::zero(); n],
        );
    }
    let ones;
    let w = match w {
        Some(w) => w,
        None => {
            ones = vec![T::one(); n];
            &ones
        }
    };
    let rows = x.len() / n;
    let br = block_rows(n).max(rows.div_ceil(MAX_BLOCKS));
    let blocks = rows.div_ceil(br);
    // partials[k] = [dγ of block k | dβ of block k]
    let mut partials = vec![T::zero(); blocks * 2 * n];
    let mut dx = uninit_buf::<T>(x.len());
    let work = |(((dxb, gb), xb), ((mb, rb), pb)): (
        ((&mut [MaybeUninit<T>], &[T]), &[T]),
        ((&[T], &[T]), &mut [T]),
    )| {
        let (dw, db) = pb.split_at_mut(n);
        backward_rows(gb, xb, w, mb, rb, dxb, dw, db);
    };
    if x.len() >= PAR_MIN {
        super::install(|| {
            dx.par_chunks_mut(br * n)
                .zip(g.par_chunks(br * n))
                .zip(x.par_chunks(br * n))
                .zip(
                    mean.par_chunks(br)
                        .zip(rstd.par_chunks(br))
                        .zip(partials.par_chunks_mut(2 * n)),
                )
                .for_each(work)
        });
    } else {
        dx.chunks_mut(br * n)
            .zip(g.chunks(br * n))
            .zip(x.chunks(br * n))
            .zip(
                mean.chunks(br)
                    .zip(rstd.chunks(br))
                    .zip(partials.chunks_mut(2 * n)),
            )
            .for_each(work);
    }
    // the partials in block order: the same sum for any thread count
    let (first, rest) = partials.split_at_mut(2 * n);
    for p in rest.chunks_exact(2 * n) {
        add_into(first, p);
    }
    // SAFETY: backward_rows wrote every element of dx (rows·n = x.len()).
    let dx = unsafe { assume_init_vec(dx) };
    (dx, first[..n].to_vec(), first[n..].to_vec())
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

    fn data(rows: usize, n: usize) -> (Vec<f64>, Vec<f64>, Vec<f64>, Vec<f64>) {
        let x = (0..rows * n)
            .map(|i| ((i * 7919 % 113) as f64) / 17.0 - 3.0 + 100.0)
            .collect();
        let g = (0..rows * n)
            .map(|i| ((i * 31 % 29) as f64) / 7.0 - 2.0)
            .collect();
        let w = (0..n).map(|j| 0.5 + j as f64 / 10.0).collect();
        let b = (0..n).map(|j| j as f64 / 3.0 - 1.0).collect();
        (x, g, w, b)
    }

    const SHAPES: &[(usize, usize)] = &[(1, 1), (3, 7), (5, 64), (700, 65), (300, 256), (4100, 17)];

    #[test]
    fn f64_matches_reference() {
        for &(rows, n) in SHAPES {
            let (x, g, w, b) = data(rows, n);
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

    /// f32 accumulation (32 lanes) against the f64 reference, rows offset by
    /// 100 (large mean, small variance: the case a one-pass Σx² would lose).
    #[test]
    fn f32_matches_reference() {
        for &(rows, n) in SHAPES {
            let (x, g, w, b) = data(rows, n);
            let (y0, gx0, dw0, db0) = layer_norm_ref(&x, n, &w, &b, 1e-5, &g);
            let f = |v: &[f64]| v.iter().map(|&a| a as f32).collect::<Vec<f32>>();
            let (xf, gf, wf, bf) = (f(&x), f(&g), f(&w), f(&b));
            for affine in [true, false] {
                let (wo, bo) = if affine {
                    (Some(&wf[..]), Some(&bf[..]))
                } else {
                    (None, None)
                };
                let o = layer_norm(&xf, n, wo, bo, 1e-5);
                let (gx, dw, db) = layer_norm_backward(&gf, &xf, n, wo, &o.mean, &o.rstd);
                // the reference with γ = 1, β = 0 when not affine
                let (y0, gx0) = if affine {
                    (y0.clone(), gx0.clone())
                } else {
                    let (y1, gx1, _, _) =
                        layer_norm_ref(&x, n, &vec![1.0; n], &vec![0.0; n], 1e-5, &g);
                    (y1, gx1)
                };
                let close = |a: &[f32], b: &[f64], tol: f64| {
                    let scale = b.iter().fold(1.0f64, |m, v| m.max(v.abs()));
                    a.iter()
                        .zip(b)
                        .all(|(p, q)| (*p as f64 - q).abs() < tol * scale)
                };
                assert!(close(&o.y, &y0, 1e-5), "y rows={rows} n={n}");
                assert!(close(&gx, &gx0, 1e-4), "dx rows={rows} n={n}");
                assert!(
                    close(&dw, &dw0, 1e-4) && close(&db, &db0, 1e-5),
                    "dw/db rows={rows} n={n}"
                );
            }
        }
    }
}
