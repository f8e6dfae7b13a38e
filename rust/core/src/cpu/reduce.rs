//! Row reductions: the input is `rows` contiguous runs of `len` elements
//! (ops/ moves the reduced dims last first), each run reduced to one value.
//! Softmax family kernels live here too: they are row reductions plus a map.

use super::{Float, PAR_MIN};
use rayon::prelude::*;

pub fn reduce_rows<T: Copy + Sync, U: Send>(
    data: &[T],
    rows: usize,
    len: usize,
    f: impl Fn(&[T]) -> U + Sync + Send,
) -> Vec<U> {
    if len == 0 {
        return (0..rows).map(|_| f(&[])).collect();
    }
    let data = &data[..rows * len];
    if rows * len >= PAR_MIN && rows > 1 {
        super::install(|| data.par_chunks_exact(len).map(&f).collect())
    } else {
        data.chunks_exact(len).map(f).collect()
    }
}

/// Sum in f64 (8 independent partial sums so it vectorises and rounds less).
pub fn sum_f64<T: Float>(row: &[T]) -> f64 {
    let mut acc = [0.0f64; 8];
    let chunks = row.chunks_exact(8);
    let tail = chunks.remainder();
    for c in chunks {
        for (a, &v) in acc.iter_mut().zip(c) {
            *a += v.to_f64();
        }
    }
    acc.iter().sum::<f64>() + tail.iter().map(|v| v.to_f64()).sum::<f64>()
}

/// (value, index) of the max (or min) of a row; NaN wins, as in torch;
/// ties keep the first index.
pub fn arg_extreme<T: crate::tensor::Element>(row: &[T], max: bool) -> (T, usize) {
    let mut best = 0;
    for (i, &v) in row.iter().enumerate().skip(1) {
        let b = row[best];
        let is_nan = |x: T| x.to_f64().is_nan();
        if is_nan(b) {
            break;
        }
        if is_nan(v) || (max && v > b) || (!max && v < b) {
            best = i;
        }
    }
    (row[best], best)
}

/// Softmax (or log-softmax) of each contiguous row of `len`, numerically
/// stable: one pass for the max, one for the sum of exponentials, one to write.
pub fn softmax_rows<T: Float>(data: &[T], rows: usize, len: usize, log: bool) -> Vec<T> {
    let mut out = vec![T::zero(); rows * len];
    if len == 0 {
        return out;
    }
    let body = |(x, y): (&[T], &mut [T])| {
        let m = x.iter().fold(T::NEG_INF, |a, &b| if b > a || b.is_nan() { b } else { a });
        let m = if m == T::NEG_INF { T::zero() } else { m };
        let s: f64 = x.iter().map(|&v| (v - m).exp().to_f64()).sum();
        if log {
            let ls = T::from_f64(s.ln());
            for (o, &v) in y.iter_mut().zip(x) {
                *o = v - m - ls;
            }
        } else {
            let inv = T::from_f64(1.0 / s);
            for (o, &v) in y.iter_mut().zip(x) {
                *o = (v - m).exp() * inv;
            }
        }
    };
    if rows * len >= PAR_MIN && rows > 1 {
        super::install(|| data.par_chunks_exact(len).zip(out.par_chunks_exact_mut(len)).for_each(body));
    } else {
        data.chunks_exact(len).zip(out.chunks_exact_mut(len)).for_each(body);
    }
    out
}

/// Column sums of a contiguous (n, cols) block: `out[j] = Σ_i x[i, j]`, in
/// f64 like `sum_f64`. The bias gradient of every linear/conv layer is this
/// shape (sum over the leading batch dims); walking rows keeps the reads
/// sequential and the adds vectorised instead of transposing first.
pub fn sum_leading<T: Float>(data: &[T], n: usize, cols: usize) -> Vec<T> {
    fn block<T: Float>(rows: &[T], cols: usize) -> Vec<f64> {
        let mut acc = vec![0.0f64; cols];
        for row in rows.chunks_exact(cols) {
            for (a, &v) in acc.iter_mut().zip(row) {
                *a += v.to_f64();
            }
        }
        acc
    }
    if cols == 0 {
        return Vec::new();
    }
    let data = &data[..n * cols];
    let threads = super::num_threads();
    let acc = if n * cols >= PAR_MIN && threads > 1 && n > 1 {
        let per = n.div_ceil(threads).max(1);
        let parts: Vec<Vec<f64>> = super::install(|| data.par_chunks(per * cols).map(|c| block(c, cols)).collect());
        parts.into_iter().reduce(|mut a, b| {
            a.iter_mut().zip(&b).for_each(|(x, y)| *x += y);
            a
        })
        .unwrap_or_else(|| vec![0.0; cols])
    } else {
        block(data, cols)
    };
    acc.into_iter().map(T::from_f64).collect()
}
