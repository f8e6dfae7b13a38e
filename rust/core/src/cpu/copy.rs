//! Strided gather: the elements of any view, in row-major order, into a
//! contiguous buffer. Every `.contiguous()`, every transpose feeding a kernel
//! and every reduction over a non-last dim goes through here, so it must run
//! near memory speed, not one index computation per element.
//!
//! Plan: coalesce dims that are contiguous with each other, then copy the
//! output as rows of the innermost dim — `copy_from_slice` when that dim has
//! stride 1, a strided loop otherwise — walking the outer index with carries
//! (amortised over a row) and splitting rows across threads. When the
//! innermost dim is strided but the next one has stride 1 (a transpose), rows
//! are copied in tiles so each source cache line is read once per tile.

use super::PAR_MIN;
use crate::tensor::layout::step_outer;
use rayon::prelude::*;

/// Merge adjacent dims whose strides make them one run, drop size-1 dims.
/// Returns (shape, strides) with at least one dim.
fn coalesce(shape: &[usize], strides: &[usize]) -> (Vec<usize>, Vec<usize>) {
    let mut sh: Vec<usize> = Vec::with_capacity(shape.len());
    let mut st: Vec<usize> = Vec::with_capacity(shape.len());
    for (&n, &s) in shape.iter().zip(strides) {
        if n == 1 {
            continue;
        }
        if let (Some(ln), Some(ls)) = (sh.last_mut(), st.last_mut()) {
            if *ls == s * n {
                // previous dim steps exactly over this one: one dim of ln*n
                *ln *= n;
                *ls = s;
                continue;
            }
        }
        sh.push(n);
        st.push(s);
    }
    if sh.is_empty() {
        sh.push(1);
        st.push(1);
    }
    (sh, st)
}

/// Row-major multi-index of `flat` over `dims`, and its offset from `base`.
fn unravel(dims: &[usize], strides: &[usize], base: usize, mut flat: usize) -> (Vec<usize>, usize) {
    let mut idx = vec![0usize; dims.len()];
    let mut off = base;
    for d in (0..dims.len()).rev() {
        idx[d] = flat % dims[d];
        off += idx[d] * strides[d];
        flat /= dims[d];
    }
    (idx, off)
}

/// Copies rows `first..first + out.len() / inner` of the view into `out`.
fn copy_rows<T: Copy>(src: &[T], shape: &[usize], strides: &[usize], base: usize, first: usize, out: &mut [T]) {
    let nd = shape.len();
    let (inner, istride) = (shape[nd - 1], strides[nd - 1]);
    let (mut idx, mut off) = unravel(&shape[..nd - 1], &strides[..nd - 1], base, first);
    for dst in out.chunks_exact_mut(inner) {
        if istride == 1 {
            dst.copy_from_slice(&src[off..off + inner]);
        } else {
            for (j, v) in dst.iter_mut().enumerate() {
                *v = src[off + j * istride];
            }
        }
        step_outer(&mut idx, &mut off, &shape[..nd - 1], &strides[..nd - 1]);
    }
}

/// The transpose case: dims (.., R, C) with strides (.., 1, sc), sc > 1.
/// Output row r is src[r + c*sc] for c in 0..C. Tiles of TR rows × TC
/// columns: each source run of TR rows is read contiguously and scattered
/// down a column of the tile, whose TR output lines stay in L1.
fn copy_transposed<T: Copy>(src: &[T], rows: usize, cols: usize, sc: usize, base: usize, out: &mut [T]) {
    // TR = 8: output rows are often 4 KiB-multiples apart, so their lines
    // share one L1 set; eight fit its eight ways (16 measured 1.7x slower)
    const TR: usize = 8;
    const TC: usize = 64;
    assert!(out.len() >= rows * cols && (rows == 0 || cols == 0 || base + rows - 1 + (cols - 1) * sc < src.len()));
    for r0 in (0..rows).step_by(TR) {
        let tr = TR.min(rows - r0);
        for c0 in (0..cols).step_by(TC) {
            for c in c0..(c0 + TC).min(cols) {
                let run = &src[base + r0 + c * sc..base + r0 + c * sc + tr];
                for (i, &v) in run.iter().enumerate() {
                    // SAFETY: r0 + i < rows and c < cols, and out holds rows * cols (asserted above)
                    unsafe { *out.get_unchecked_mut((r0 + i) * cols + c) = v };
                }
            }
        }
    }
}

/// Gathers the view (`shape`, `strides`, `base` into `src`) into `out`
/// (length = number of elements), row-major. Callers guarantee the view is
/// in bounds of `src` (a `Tensor` invariant).
pub fn gather<T: Copy + Send + Sync>(src: &[T], shape: &[usize], strides: &[usize], base: usize, out: &mut [T]) {
    let n = out.len();
    if n == 0 {
        return;
    }
    let (sh, st) = coalesce(shape, strides);
    let nd = sh.len();
    let inner = sh[nd - 1];
    let rows = n / inner;
    let par = n >= PAR_MIN && super::num_threads() > 1;
    // (…, R, C) with the row dim unit-stride: tile it, batch by batch
    if nd >= 2 && st[nd - 2] == 1 && st[nd - 1] > 1 && sh[nd - 2] >= 8 {
        let (r, c, sc) = (sh[nd - 2], inner, st[nd - 1]);
        let plane = r * c;
        let outer = &sh[..nd - 2];
        let outer_st = &st[..nd - 2];
        let one = |(b, dst): (usize, &mut [T])| {
            let off = unravel(outer, outer_st, base, b).1;
            copy_transposed(src, r, c, sc, off, dst);
        };
        if par && n / plane > 1 {
            super::install(|| out.par_chunks_mut(plane).enumerate().for_each(one));
        } else if par {
            // one plane: split its rows
            let per = r.div_ceil(super::num_threads() * 4).max(16);
            super::install(|| {
                out.par_chunks_mut(per * c).enumerate().for_each(|(i, dst)| {
                    let r0 = i * per;
                    copy_transposed(src, dst.len() / c, c, sc, base + r0, dst)
                })
            });
        } else {
            out.chunks_mut(plane).enumerate().for_each(one);
        }
        return;
    }
    if par && rows > 1 {
        // ~4 chunks per thread, whole rows each
        let per = rows.div_ceil(super::num_threads() * 4).max(1);
        super::install(|| {
            out.par_chunks_mut(per * inner)
                .enumerate()
                .for_each(|(i, dst)| copy_rows(src, &sh, &st, base, i * per, dst))
        });
    } else {
        copy_rows(src, &sh, &st, base, 0, out);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The obvious per-element walk, the reference.
    fn reference(src: &[f32], shape: &[usize], strides: &[usize], base: usize) -> Vec<f32> {
        let mut out = Vec::new();
        crate::tensor::for_each_offset(shape, strides, base, |o| out.push(src[o]));
        out
    }

    fn check(shape: &[usize], strides: &[usize], base: usize) {
        let span = base + shape.iter().zip(strides).map(|(&n, &s)| (n.max(1) - 1) * s).sum::<usize>() + 1;
        let src: Vec<f32> = (0..span).map(|i| i as f32).collect();
        let n: usize = shape.iter().product();
        let mut out = vec![-1.0f32; n];
        gather(&src, shape, strides, base, &mut out);
        assert_eq!(out, reference(&src, shape, strides, base), "shape {shape:?} strides {strides:?}");
    }

    #[test]
    fn matches_the_per_element_walk() {
        check(&[5], &[3], 2);
        check(&[3, 4], &[4, 1], 0);
        check(&[4, 3], &[1, 4], 1); // transpose, rows < 8: row path
        check(&[300, 200], &[1, 300], 0); // big transpose, tiled
        check(&[2, 37, 19], &[37 * 19, 1, 37], 5); // batched transpose
        check(&[3, 1, 5, 1], &[5, 99, 1, 7], 0); // size-1 dims with odd strides
        check(&[64, 513], &[1030, 2], 3); // strided rows (narrow + step)
        check(&[2, 3, 64, 64], &[64 * 64 * 3, 64, 64 * 3, 1], 0); // permuted heads
        check(&[0, 4], &[4, 1], 0);
        check(&[40, 1000], &[0, 1], 0); // broadcast rows
        check(&[1000, 40], &[1, 0], 0); // broadcast columns
    }
}
