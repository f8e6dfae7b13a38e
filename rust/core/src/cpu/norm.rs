//! Batch normalisation on contiguous `(N, C, L)` data (L = H·W, or 1 for
//! `(N, C)` input).
//!
//! Forward: one read of x for the per-channel sums (shifted by the channel's
//! first value so Σ(x−K)² does not cancel; f64 accumulators), then one fused
//! read+write `y = x·scale[c] + shift[c]` (optionally ReLU'd). Backward: one
//! read of (g, x) for Σg and Σg·(x−mean), then one fused pass
//! `gx = g·a[c] + x·b[c] + k[c]` — the closed form of the BN gradient. Stats
//! run in parallel over channels, the element passes over (n, c) planes.
//! `*_ref` are the textbook two-pass versions the tests compare against.

use super::{Float, PAR_MIN};
use crate::tensor::storage::uninit_vec;
use rayon::prelude::*;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BnShape {
    pub n: usize,
    pub c: usize,
    pub l: usize,
}

impl BnShape {
    pub fn count(&self) -> usize {
        self.n * self.l
    }
    fn len(&self) -> usize {
        self.n * self.c * self.l
    }
    /// The `l` elements of sample `n`, channel `c`.
    #[inline]
    fn row<'a, T>(&self, x: &'a [T], n: usize, c: usize) -> &'a [T] {
        let o = (n * self.c + c) * self.l;
        &x[o..o + self.l]
    }
}

/// Runs `f(c)` for every channel, in parallel when the tensor is large.
fn per_channel<R: Send>(s: BnShape, f: impl Fn(usize) -> R + Sync + Send) -> Vec<R> {
    if s.len() >= PAR_MIN && s.c > 1 {
        super::install(|| (0..s.c).into_par_iter().map(&f).collect())
    } else {
        (0..s.c).map(f).collect()
    }
}

/// Fills `out[n, c, :]` via `f(c, a[n, c, :], b[n, c, :], out[n, c, :])`,
/// parallel over planes (or whole samples when L is tiny, as in BatchNorm1d).
/// `f` gets a whole row so its inner loop has per-channel constants hoisted.
fn map_rows<T: Float>(
    a: &[T],
    b: &[T],
    s: BnShape,
    f: impl Fn(usize, &[T], &[T], &mut [T]) + Sync + Send,
) -> Vec<T> {
    // SAFETY: the chunks cover the buffer, each row goes to `f`, and every
    // caller's `f` writes its whole output row.
    let mut out = unsafe { uninit_vec::<T>(s.len()) };
    if s.len() == 0 {
        return out;
    }
    let (chunk, per) = if s.l >= 64 {
        (s.l, 1)
    } else {
        (s.c * s.l, s.c)
    };
    let body = |(i, o): (usize, &mut [T])| {
        for (j, orow) in o.chunks_mut(s.l).enumerate() {
            let c = if per == 1 { i % s.c } else { j };
            let base = i * chunk + j * s.l;
            f(c, &a[base..base + s.l], &b[base..base + s.l], orow);
        }
    };
    if s.len() >= PAR_MIN {
        super::install(|| out.par_chunks_mut(chunk).enumerate().for_each(body));
    } else {
        out.chunks_mut(chunk).enumerate().for_each(body);
    }
    out
}

/// Σ over a row in f64 of `f(v)` with 4 independent accumulators.
#[inline]
fn sum_map<T: Float>(row: &[T], f: impl Fn(f64) -> f64) -> f64 {
    let mut acc = [0.0f64; 4];
    let chunks = row.chunks_exact(4);
    let tail = chunks.remainder();
    for ch in chunks {
        for (a, &v) in acc.iter_mut().zip(ch) {
            *a += f(v.to_f64());
        }
    }
    acc.iter().sum::<f64>() + tail.iter().map(|v| f(v.to_f64())).sum::<f64>()
}

/// Per-channel mean and biased variance, one pass over x.
pub fn channel_stats<T: Float>(x: &[T], s: BnShape) -> (Vec<f64>, Vec<f64>) {
    let m = s.count() as f64;
    let r = per_channel(s, |c| {
        if s.count() == 0 {
            return (f64::NAN, f64::NAN);
        }
        let k = x[c * s.l].to_f64();
        let (mut s1, mut s2) = (0.0, 0.0);
        for n in 0..s.n {
            let row = s.row(x, n, c);
            s1 += sum_map(row, |v| v - k);
            s2 += sum_map(row, |v| (v - k) * (v - k));
        }
        let mean = s1 / m;
        (k + mean, (s2 / m - mean * mean).max(0.0))
    });
    r.into_iter().unzip()
}

/// Forward result: y and the per-channel mean and 1/sqrt(var + eps) used.
pub struct BnOut<T> {
    pub y: Vec<T>,
    pub mean: Vec<f64>,
    pub invstd: Vec<f64>,
    /// Biased batch variance (training only; the op derives the running update).
    pub var: Vec<f64>,
}

/// Per-channel (scale, shift) with y = x·scale + shift.
fn affine<T: Float>(
    mean: &[f64],
    invstd: &[f64],
    w: Option<&[T]>,
    b: Option<&[T]>,
) -> (Vec<T>, Vec<T>) {
    (0..mean.len())
        .map(|c| {
            let wc = w.map_or(1.0, |w| w[c].to_f64());
            let bc = b.map_or(0.0, |b| b[c].to_f64());
            let scale = wc * invstd[c];
            (T::from_f64(scale), T::from_f64(bc - mean[c] * scale))
        })
        .unzip()
}

/// Batch norm forward. `running`: Some((mean, var)) normalises with those
/// (eval mode); None uses the batch statistics (training).
pub fn batch_norm<T: Float>(
    x: &[T],
    s: BnShape,
    w: Option<&[T]>,
    b: Option<&[T]>,
    running: Option<(&[f64], &[f64])>,
    eps: f64,
    relu: bool,
) -> BnOut<T> {
    let (mean, var) = match running {
        Some((m, v)) => (m.to_vec(), v.to_vec()),
        None => channel_stats(x, s),
    };
    let invstd: Vec<f64> = var.iter().map(|&v| 1.0 / (v + eps).sqrt()).collect();
    let (scale, shift) = affine(&mean, &invstd, w, b);
    let y = map_rows(x, x, s, |c, xr, _, o| {
        let (sc, sh) = (scale[c], shift[c]);
        if relu {
            for (ov, &v) in o.iter_mut().zip(xr) {
                let y = v * sc + sh;
                *ov = if y > T::zero() || y.is_nan() {
                    y
                } else {
                    T::zero()
                };
            }
        } else {
            for (ov, &v) in o.iter_mut().zip(xr) {
                *ov = v * sc + sh;
            }
        }
    });
    BnOut {
        y,
        mean,
        invstd,
        var: if running.is_some() { Vec::new() } else { var },
    }
}

/// Gradients (gx, gweight, gbias). `training`: the statistics came from the
/// batch, so gx carries the terms through mean and var. `relu` (eval only):
/// the forward applied ReLU, recomputed here from x to mask g.
#[allow(clippy::too_many_arguments)]
pub fn batch_norm_backward<T: Float>(
    g: &[T],
    x: &[T],
    s: BnShape,
    w: Option<&[T]>,
    b: Option<&[T]>,
    mean: &[f64],
    invstd: &[f64],
    training: bool,
    relu: bool,
) -> (Vec<T>, Vec<T>, Vec<T>) {
    let (scale, shift) = affine(mean, invstd, w, b);
    let alive = |c: usize, xv: T| !relu || xv * scale[c] + shift[c] > T::zero();
    // Σg and Σg·(x − mean) per channel, one pass
    let sums = per_channel(s, |c| {
        let (mut sg, mut sgx) = (0.0, 0.0);
        for n in 0..s.n {
            for (&gv, &xv) in s.row(g, n, c).iter().zip(s.row(x, n, c)) {
                if alive(c, xv) {
                    let gf = gv.to_f64();
                    sg += gf;
                    sgx += gf * (xv.to_f64() - mean[c]);
                }
            }
        }
        (sg, sgx)
    });
    let m = s.count() as f64;
    let mut gw = Vec::with_capacity(s.c);
    let mut gb = Vec::with_capacity(s.c);
    let mut ka = Vec::with_capacity(s.c);
    let mut kb = Vec::with_capacity(s.c);
    let mut kc = Vec::with_capacity(s.c);
    for c in 0..s.c {
        let (sg, sgx) = sums[c];
        let wc = w.map_or(1.0, |w| w[c].to_f64());
        gw.push(T::from_f64(sgx * invstd[c]));
        gb.push(T::from_f64(sg));
        let a = wc * invstd[c];
        // gx = a·(g − Σg/M − (x−mean)·invstd²·Σg(x−mean)/M)
        let bb = if training {
            -a * invstd[c] * invstd[c] * sgx / m
        } else {
            0.0
        };
        let k = if training {
            -a * sg / m - mean[c] * bb
        } else {
            0.0
        };
        ka.push(T::from_f64(a));
        kb.push(T::from_f64(bb));
        kc.push(T::from_f64(k));
    }
    let gx = map_rows(g, x, s, |c, gr, xr, o| {
        let (a, b, k, sc, sh) = (ka[c], kb[c], kc[c], scale[c], shift[c]);
        for ((ov, &gv), &xv) in o.iter_mut().zip(gr).zip(xr) {
            let gv = if relu && !(xv * sc + sh > T::zero()) {
                T::zero()
            } else {
                gv
            };
            *ov = gv * a + (xv * b + k);
        }
    });
    (gx, gw, gb)
}

/// Two-pass textbook reference for [`batch_norm`] in training mode (f64).
pub fn batch_norm_ref(x: &[f64], s: BnShape, eps: f64) -> (Vec<f64>, Vec<f64>, Vec<f64>) {
    let m = s.count() as f64;
    let mut mean = vec![0.0; s.c];
    let mut var = vec![0.0; s.c];
    for c in 0..s.c {
        mean[c] = (0..s.n).flat_map(|n| s.row(x, n, c).iter()).sum::<f64>() / m;
        var[c] = (0..s.n)
            .flat_map(|n| s.row(x, n, c).iter())
            .map(|v| (v - mean[c]).powi(2))
            .sum::<f64>()
            / m;
    }
    let y = x.iter().enumerate().map(|(i, v)| {
        let c = (i / s.l.max(1)) % s.c;
        (v - mean[c]) / (var[c] + eps).sqrt()
    });
    (y.collect(), mean, var)
}

/// Reference gradient of `sum(y · g)` for [`batch_norm_ref`] (no affine), the
/// three-term form of Ioffe & Szegedy (2015), Alg. 1 backward.
pub fn batch_norm_backward_ref(g: &[f64], x: &[f64], s: BnShape, eps: f64) -> Vec<f64> {
    let (xhat, _, var) = batch_norm_ref(x, s, eps);
    let m = s.count() as f64;
    let ch = |i: usize| (i / s.l.max(1)) % s.c;
    let mut mg = vec![0.0; s.c];
    let mut mgx = vec![0.0; s.c];
    for i in 0..x.len() {
        mg[ch(i)] += g[i] / m;
        mgx[ch(i)] += g[i] * xhat[i] / m;
    }
    (0..x.len())
        .map(|i| (g[i] - mg[ch(i)] - xhat[i] * mgx[ch(i)]) / (var[ch(i)] + eps).sqrt())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn data(n: usize, seed: u64) -> Vec<f64> {
        let mut s = seed;
        (0..n)
            .map(|_| {
                s = s
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                ((s >> 11) as f64 / (1u64 << 53) as f64) * 4.0 + 100.0
            })
            .collect()
    }

    #[test]
    fn fused_matches_reference() {
        for &(n, c, l) in &[(2, 3, 5), (1, 4, 70), (8, 5, 1), (3, 2, 129)] {
            let s = BnShape { n, c, l };
            let x = data(n * c * l, (n * 7 + l) as u64);
            let g = data(n * c * l, 99);
            let out = batch_norm(&x, s, None, None, None, 1e-5, false);
            let (y, mean, var) = batch_norm_ref(&x, s, 1e-5);
            for (a, b) in out.y.iter().zip(&y) {
                assert!((a - b).abs() < 1e-9, "y {a} {b}");
            }
            for c in 0..c {
                assert!((out.mean[c] - mean[c]).abs() < 1e-9 && (out.var[c] - var[c]).abs() < 1e-9);
            }
            let (gx, _, gb) =
                batch_norm_backward(&g, &x, s, None, None, &out.mean, &out.invstd, true, false);
            let want = batch_norm_backward_ref(&g, &x, s, 1e-5);
            for (a, b) in gx.iter().zip(&want) {
                assert!((a - b).abs() < 1e-7, "gx {a} {b}");
            }
            assert!((gb.iter().sum::<f64>() - g.iter().sum::<f64>()).abs() < 1e-6);
        }
    }
}
