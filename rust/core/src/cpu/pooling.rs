//! Pooling kernels on contiguous `(planes, H, W)` data (planes = N·C), one
//! rayon task per plane.
//!
//! Fast kernels walk output *rows*: for each kernel tap (ki, kj) they sweep
//! the run of output columns whose input column is inside the image, so the
//! innermost loop is branch-free (compare + select, or add) over contiguous
//! output memory and, at stride 1, contiguous input memory: the shape the
//! compiler vectorises. Each output still sees its taps in (ki, kj) order,
//! which keeps torch's tie-break (first max wins, a later NaN wins).
//! The `*_ref` functions are the plain per-output loops they are tested against.

use super::{Float, PAR_MIN};
use crate::tensor::storage::uninit_vec;
use rayon::prelude::*;

/// Pooling window along both spatial dims: kernel, stride, padding, dilation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Window {
    pub k: [usize; 2],
    pub s: [usize; 2],
    pub p: [usize; 2],
    pub d: [usize; 2],
}

/// Input and output spatial sizes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Geom {
    pub ih: usize,
    pub iw: usize,
    pub oh: usize,
    pub ow: usize,
}

impl Geom {
    fn in_plane(&self) -> usize {
        self.ih * self.iw
    }
    fn out_plane(&self) -> usize {
        self.oh * self.ow
    }
}

/// Elements (input + output) one rayon task should cover at least: a task per
/// plane of a 14×14 map (196 elements) costs more in scheduling than in work.
const TASK_MIN: usize = 1 << 13;

/// Runs `f(plane_in, plane_out)` for every plane, in parallel when the work
/// is large, several small planes per task.
fn per_plane<A: Sync, B: Send>(
    src: &[A],
    src_len: usize,
    dst: &mut [B],
    dst_len: usize,
    f: impl Fn(&[A], &mut [B]) + Sync + Send,
) {
    if src_len == 0 || dst_len == 0 {
        return;
    }
    if src.len().max(dst.len()) >= PAR_MIN && dst.len() > dst_len {
        let per_task = (TASK_MIN / (src_len + dst_len)).max(1);
        super::install(|| {
            dst.par_chunks_mut(dst_len * per_task)
                .zip(src.par_chunks(src_len * per_task))
                .for_each(|(o, i)| {
                    o.chunks_mut(dst_len)
                        .zip(i.chunks(src_len))
                        .for_each(|(o, i)| f(i, o))
                })
        });
    } else {
        dst.chunks_mut(dst_len)
            .zip(src.chunks(src_len))
            .for_each(|(o, i)| f(i, o));
    }
}

/// The output columns `o` with `0 <= o*s + off < n`, as a range of `o` within `0..count`.
#[inline]
fn valid_cols(off: isize, s: usize, n: usize, count: usize) -> (usize, usize) {
    let s = s as isize;
    let lo = if off < 0 { ((-off) + s - 1) / s } else { 0 };
    let last = n as isize - 1 - off; // o*s <= last
    let hi = if last < 0 { 0 } else { last / s + 1 };
    let (lo, hi) = (lo as usize, (hi as usize).min(count));
    (lo, hi.max(lo))
}

/// First in-image position of a window starting at `start` with dilation `d`
/// (torch: `while (ih0 < 0) ih0 += dilation`), clamped into the image.
#[inline]
fn first_valid(start: isize, d: usize, n: usize) -> usize {
    let d = d as isize;
    let p = if start < 0 {
        start + ((-start) + d - 1) / d * d
    } else {
        start
    };
    (p.max(0) as usize).min(n.saturating_sub(1))
}

// ----------------------------------------------------------------- max pool

/// Max pooling: values and flat in-plane indices (`ih * W + iw`, as torch).
pub fn max_pool2d<T: Float>(x: &[T], planes: usize, g: Geom, w: Window) -> (Vec<T>, Vec<i64>) {
    let op = g.out_plane();
    let ip = g.in_plane();
    if op == 0 || ip == 0 {
        return (vec![T::NEG_INF; planes * op], vec![0; planes * op]);
    }
    // SAFETY: `work` covers every plane; the k2s2 and direct kernels write
    // every value and index of their plane, and `max_plane` gets its values
    // pre-filled below and writes every index itself.
    let (mut out, mut idx) = unsafe { (uninit_vec::<T>(planes * op), uninit_vec::<i64>(planes * op)) };
    // 2×2 stride 2 with every window inside the image (LeNet, VGG): a
    // straight-line kernel instead of four strided sweeps over the row
    let k2s2 = w.k == [2, 2] && w.s == [2, 2] && w.p == [0, 0] && w.d == [1, 1] && 2 * g.oh <= g.ih && 2 * g.ow <= g.iw;
    // strided windows (3×3/2 in ResNet stems): scan each window in registers
    let direct = w.d == [1, 1] && w.s[1] > 1;
    // several planes per task: one task per 14×14 plane costs more than its work
    let work = |xs: &[T], ys: &mut [T], is: &mut [i64]| {
        for ((xp, yp), ipl) in xs.chunks(ip).zip(ys.chunks_mut(op)).zip(is.chunks_mut(op)) {
            if k2s2 {
                max_plane_k2s2(xp, yp, ipl, &g)
            } else if direct {
                max_plane_direct(xp, yp, ipl, &g, &w)
            } else {
                yp.fill(T::NEG_INF);
                max_plane(xp, yp, ipl, &g, &w)
            }
        }
    };
    if planes * (op + ip) >= PAR_MIN && planes > 1 {
        let per_task = (TASK_MIN / (ip + op)).max(1);
        super::install(|| {
            x.par_chunks(ip * per_task)
                .zip(out.par_chunks_mut(op * per_task))
                .zip(idx.par_chunks_mut(op * per_task))
                .for_each(|((xs, ys), is)| work(xs, ys, is))
        });
    } else {
        work(x, &mut out, &mut idx);
    }
    (out, idx)
}

/// One plane of 2×2 stride-2 max pooling, windows all inside: the four taps
/// in torch's order, a later tap winning when greater or NaN.
fn max_plane_k2s2<T: Float>(x: &[T], y: &mut [T], id: &mut [i64], g: &Geom) {
    let wd = g.iw;
    for oh in 0..g.oh {
        let r0 = &x[2 * oh * wd..(2 * oh + 1) * wd];
        let r1 = &x[(2 * oh + 1) * wd..(2 * oh + 2) * wd];
        let base = (2 * oh * wd) as i64;
        let yrow = &mut y[oh * g.ow..(oh + 1) * g.ow];
        let irow = &mut id[oh * g.ow..(oh + 1) * g.ow];
        for (ow, ((yv, iv), (a, b))) in yrow.iter_mut().zip(irow.iter_mut()).zip(r0.chunks_exact(2).zip(r1.chunks_exact(2))).enumerate() {
            let i0 = base + 2 * ow as i64;
            let (mut best, mut bi) = (a[0], i0);
            for (v, off) in [(a[1], 1), (b[0], wd as i64), (b[1], wd as i64 + 1)] {
                let take = v > best || v.is_nan();
                best = if take { v } else { best };
                bi = if take { i0 + off } else { bi };
            }
            *yv = best;
            *iv = bi;
        }
    }
}

/// One plane of max pooling with dilation 1, each output's window scanned in
/// registers in torch's (ki, kj) order. At stride > 1 this beats `max_plane`,
/// whose per-tap sweeps re-read and re-write the value and index rows k² times
/// through strided iterators.
fn max_plane_direct<T: Float>(x: &[T], y: &mut [T], id: &mut [i64], g: &Geom, w: &Window) {
    let (ih, iw) = (g.ih as isize, g.iw as isize);
    for oh in 0..g.oh {
        let h0 = (oh * w.s[0]) as isize - w.p[0] as isize;
        let (hs, he) = (h0.max(0), (h0 + w.k[0] as isize).min(ih));
        let hf = first_valid(h0, 1, g.ih) * g.iw;
        for ow in 0..g.ow {
            let w0 = (ow * w.s[1]) as isize - w.p[1] as isize;
            let (ws, we) = (w0.max(0) as usize, (w0 + w.k[1] as isize).min(iw).max(0) as usize);
            let (mut best, mut bi) = (T::NEG_INF, (hf + first_valid(w0, 1, g.iw)) as i64);
            for r in hs..he {
                let base = r as usize * g.iw;
                for (c, &v) in x[base + ws..base + we.max(ws)].iter().enumerate() {
                    let take = v > best || v.is_nan();
                    best = if take { v } else { best };
                    bi = if take { (base + ws + c) as i64 } else { bi };
                }
            }
            y[oh * g.ow + ow] = best;
            id[oh * g.ow + ow] = bi;
        }
    }
}

fn max_plane<T: Float>(x: &[T], y: &mut [T], id: &mut [i64], g: &Geom, w: &Window) {
    let (wd, ow) = (g.iw, g.ow);
    let wfirst: Vec<usize> = (0..ow)
        .map(|o| first_valid((o * w.s[1]) as isize - w.p[1] as isize, w.d[1], wd))
        .collect();
    for oh in 0..g.oh {
        let h0 = (oh * w.s[0]) as isize - w.p[0] as isize;
        let hf = first_valid(h0, w.d[0], g.ih);
        let yrow = &mut y[oh * ow..(oh + 1) * ow];
        let irow = &mut id[oh * ow..(oh + 1) * ow];
        for (i, &wf) in irow.iter_mut().zip(&wfirst) {
            *i = (hf * wd + wf) as i64;
        }
        for ki in 0..w.k[0] {
            let ih = h0 + (ki * w.d[0]) as isize;
            if ih < 0 || ih >= g.ih as isize {
                continue;
            }
            let ih = ih as usize;
            let xrow = &x[ih * wd..(ih + 1) * wd];
            for kj in 0..w.k[1] {
                let off = (kj * w.d[1]) as isize - w.p[1] as isize;
                let (lo, hi) = valid_cols(off, w.s[1], wd, ow);
                if lo >= hi {
                    continue;
                }
                let start = (lo * w.s[1]) as isize + off; // >= 0 and < wd by valid_cols
                let base = (ih * wd) as i64 + start as i64;
                let src = xrow[start as usize..].iter().step_by(w.s[1]);
                for (k, ((yv, iv), &v)) in yrow[lo..hi]
                    .iter_mut()
                    .zip(irow[lo..hi].iter_mut())
                    .zip(src)
                    .enumerate()
                {
                    let take = v > *yv || v.is_nan();
                    *yv = if take { v } else { *yv };
                    *iv = if take {
                        base + (k * w.s[1]) as i64
                    } else {
                        *iv
                    };
                }
            }
        }
    }
}

/// Scalar reference for [`max_pool2d`]: torch's loop, one output at a time.
pub fn max_pool2d_ref<T: Float>(x: &[T], planes: usize, g: Geom, w: Window) -> (Vec<T>, Vec<i64>) {
    let mut out = Vec::with_capacity(planes * g.out_plane());
    let mut idx = Vec::with_capacity(planes * g.out_plane());
    for p in 0..planes {
        let xp = &x[p * g.in_plane()..];
        for oh in 0..g.oh {
            for ow in 0..g.ow {
                let h0 = (oh * w.s[0]) as isize - w.p[0] as isize;
                let w0 = (ow * w.s[1]) as isize - w.p[1] as isize;
                let (mut best, mut bi) = (
                    T::NEG_INF,
                    (first_valid(h0, w.d[0], g.ih) * g.iw + first_valid(w0, w.d[1], g.iw)) as i64,
                );
                for ki in 0..w.k[0] {
                    for kj in 0..w.k[1] {
                        let (ih, iw) = (h0 + (ki * w.d[0]) as isize, w0 + (kj * w.d[1]) as isize);
                        if ih < 0 || iw < 0 || ih >= g.ih as isize || iw >= g.iw as isize {
                            continue;
                        }
                        let j = ih as usize * g.iw + iw as usize;
                        if xp[j] > best || xp[j].is_nan() {
                            best = xp[j];
                            bi = j as i64;
                        }
                    }
                }
                out.push(best);
                idx.push(bi);
            }
        }
    }
    (out, idx)
}

/// Per-plane scatter: `out[p][idx[p][j]] (+)= src[p][j]`, out planes of
/// `plane_out` elements. Max-pool backward (accumulate) and max_unpool
/// (assign). Indices outside the plane are skipped (the op validated them).
pub fn scatter_planes<T: Float>(
    src: &[T],
    idx: &[i64],
    planes: usize,
    plane_in: usize,
    plane_out: usize,
    accumulate: bool,
) -> Vec<T> {
    if plane_in == 0 || plane_out == 0 {
        return vec![T::zero(); planes * plane_out];
    }
    // SAFETY: per_plane hands every out plane to the closure, which zeroes
    // it before scattering: the zero-fill happens per plane, in cache, right
    // before the scatter, instead of as a separate pass over the whole
    // (cold) buffer.
    let mut out = unsafe { uninit_vec::<T>(planes * plane_out) };
    let pairs: Vec<(&[T], &[i64])> = src.chunks(plane_in).zip(idx.chunks(plane_in)).collect();
    per_plane(&pairs, 1, &mut out, plane_out, |pr, o| {
        o.fill(T::zero());
        let (s, ix) = pr[0];
        for (&v, &j) in s.iter().zip(ix) {
            if let Some(slot) = o.get_mut(j as usize) {
                *slot = if accumulate { *slot + v } else { v };
            }
        }
    });
    out
}

/// Per-plane gather: `out[p][j] = src[p][idx[p][j]]` (0 for an index outside
/// the plane). The adjoint of [`scatter_planes`].
pub fn gather_planes<T: Float>(
    src: &[T],
    idx: &[i64],
    planes: usize,
    plane_src: usize,
    plane_idx: usize,
) -> Vec<T> {
    if plane_src == 0 || plane_idx == 0 {
        return vec![T::zero(); planes * plane_idx];
    }
    // SAFETY: per_plane hands every out plane to the closure, which writes
    // each of its elements (0 for an index outside the source plane).
    let mut out = unsafe { uninit_vec::<T>(planes * plane_idx) };
    let pairs: Vec<(&[T], &[i64])> = src
        .chunks(plane_src)
        .zip(idx.chunks(plane_idx.max(1)))
        .collect();
    per_plane(&pairs, 1, &mut out, plane_idx, |pr, o| {
        let (s, ix) = pr[0];
        for (ov, &j) in o.iter_mut().zip(ix) {
            *ov = s.get(j as usize).copied().unwrap_or(T::zero());
        }
    });
    out
}

// ----------------------------------------------------------------- avg pool

/// How avg_pool2d divides each window sum.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AvgMode {
    pub count_include_pad: bool,
    pub divisor_override: Option<usize>,
}

/// The window of output `o` along one dim, torch's rule: (start, end clamped
/// to the image, size counted with padding).
#[inline]
fn avg_span(o: usize, k: usize, s: usize, p: usize, n: usize) -> (usize, usize, usize) {
    let a = (o * s) as isize - p as isize;
    let b = (a + k as isize).min((n + p) as isize);
    let pool = (b - a) as usize;
    (a.max(0) as usize, (b.min(n as isize)).max(0) as usize, pool)
}

/// 1/divisor for every output of a plane (0 where the window misses the image).
fn avg_inv_divisors<T: Float>(g: &Geom, w: &Window, m: AvgMode) -> Vec<T> {
    let hs: Vec<_> = (0..g.oh)
        .map(|o| avg_span(o, w.k[0], w.s[0], w.p[0], g.ih))
        .collect();
    let ws: Vec<_> = (0..g.ow)
        .map(|o| avg_span(o, w.k[1], w.s[1], w.p[1], g.iw))
        .collect();
    let mut inv = Vec::with_capacity(g.out_plane());
    for &(h0, h1, hp) in &hs {
        for &(w0, w1, wp) in &ws {
            let valid = h1.saturating_sub(h0) * w1.saturating_sub(w0);
            let div = match m.divisor_override {
                Some(d) => d,
                None if m.count_include_pad => hp * wp,
                None => valid,
            };
            inv.push(if valid == 0 || div == 0 {
                T::zero()
            } else {
                T::one() / T::from_f64(div as f64)
            });
        }
    }
    inv
}

pub fn avg_pool2d<T: Float>(x: &[T], planes: usize, g: Geom, w: Window, m: AvgMode) -> Vec<T> {
    let inv = avg_inv_divisors::<T>(&g, &w, m);
    let mut out = vec![T::zero(); planes * g.out_plane()];
    per_plane(x, g.in_plane(), &mut out, g.out_plane(), |xp, yp| {
        for oh in 0..g.oh {
            let (h0, h1, _) = avg_span(oh, w.k[0], w.s[0], w.p[0], g.ih);
            let yrow = &mut yp[oh * g.ow..(oh + 1) * g.ow];
            for ih in h0..h1 {
                let xrow = &xp[ih * g.iw..(ih + 1) * g.iw];
                for kj in 0..w.k[1] {
                    let off = kj as isize - w.p[1] as isize;
                    let (lo, hi) = valid_cols(off, w.s[1], g.iw, g.ow);
                    if lo >= hi {
                        continue;
                    }
                    let start = ((lo * w.s[1]) as isize + off) as usize;
                    for (yv, &v) in yrow[lo..hi]
                        .iter_mut()
                        .zip(xrow[start..].iter().step_by(w.s[1]))
                    {
                        *yv = *yv + v;
                    }
                }
            }
            for (yv, &s) in yrow.iter_mut().zip(&inv[oh * g.ow..]) {
                *yv = *yv * s;
            }
        }
    });
    out
}

/// Scalar reference for [`avg_pool2d`] (and the reading of torch's rule it encodes).
pub fn avg_pool2d_ref<T: Float>(x: &[T], planes: usize, g: Geom, w: Window, m: AvgMode) -> Vec<T> {
    let mut out = Vec::with_capacity(planes * g.out_plane());
    for p in 0..planes {
        let xp = &x[p * g.in_plane()..];
        for oh in 0..g.oh {
            for ow in 0..g.ow {
                let (h0, h1, hp) = avg_span(oh, w.k[0], w.s[0], w.p[0], g.ih);
                let (w0, w1, wp) = avg_span(ow, w.k[1], w.s[1], w.p[1], g.iw);
                let valid = h1.saturating_sub(h0) * w1.saturating_sub(w0);
                if valid == 0 {
                    out.push(T::zero());
                    continue;
                }
                let div =
                    m.divisor_override
                        .unwrap_or(if m.count_include_pad { hp * wp } else { valid });
                let mut s = 0.0;
                for ih in h0..h1 {
                    for iw in w0..w1 {
                        s += xp[ih * g.iw + iw].to_f64();
                    }
                }
                out.push(T::from_f64(s / div as f64));
            }
        }
    }
    out
}

/// Gradient of avg_pool2d: each output's gradient spread evenly (÷ divisor) over its window.
pub fn avg_pool2d_backward<T: Float>(
    gy: &[T],
    planes: usize,
    g: Geom,
    w: Window,
    m: AvgMode,
) -> Vec<T> {
    let inv = avg_inv_divisors::<T>(&g, &w, m);
    let mut gx = vec![T::zero(); planes * g.in_plane()];
    per_plane(gy, g.out_plane(), &mut gx, g.in_plane(), |gp, xp| {
        for oh in 0..g.oh {
            let (h0, h1, _) = avg_span(oh, w.k[0], w.s[0], w.p[0], g.ih);
            let scaled: Vec<T> = gp[oh * g.ow..(oh + 1) * g.ow]
                .iter()
                .zip(&inv[oh * g.ow..])
                .map(|(&a, &b)| a * b)
                .collect();
            for ih in h0..h1 {
                let xrow = &mut xp[ih * g.iw..(ih + 1) * g.iw];
                for kj in 0..w.k[1] {
                    let off = kj as isize - w.p[1] as isize;
                    let (lo, hi) = valid_cols(off, w.s[1], g.iw, g.ow);
                    if lo >= hi {
                        continue;
                    }
                    let start = ((lo * w.s[1]) as isize + off) as usize;
                    for (xv, &v) in xrow[start..]
                        .iter_mut()
                        .step_by(w.s[1])
                        .zip(&scaled[lo..hi])
                    {
                        *xv = *xv + v;
                    }
                }
            }
        }
    });
    gx
}

pub mod adaptive;
pub use adaptive::*;

#[cfg(test)]
mod tests {
    use super::*;

    fn data(n: usize, seed: u64) -> Vec<f32> {
        // small integers: many ties, so the tie-break is exercised too
        let mut s = seed;
        (0..n)
            .map(|_| {
                s = s
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                ((s >> 33) % 7) as f32 - 3.0
            })
            .collect()
    }

    fn out_size(n: usize, k: usize, s: usize, p: usize, d: usize) -> usize {
        (n + 2 * p - d * (k - 1) - 1) / s + 1
    }

    #[test]
    fn fast_kernels_match_reference() {
        // wide maps too: long interior runs in the strided kernels
        for &(ih, iw) in &[(1, 1), (5, 7), (8, 8), (9, 4), (6, 41), (7, 37)] {
            for k in 1..=3 {
                for s in 1..=3 {
                    for p in 0..=k / 2 {
                        for d in 1..=2 {
                            if ih + 2 * p < d * (k - 1) + 1 || iw + 2 * p < d * (k - 1) + 1 {
                                continue;
                            }
                            let g = Geom {
                                ih,
                                iw,
                                oh: out_size(ih, k, s, p, d),
                                ow: out_size(iw, k, s, p, d),
                            };
                            let w = Window {
                                k: [k, k],
                                s: [s, s],
                                p: [p, p],
                                d: [d, d],
                            };
                            let x = data(3 * ih * iw, (ih * 31 + k * 7 + s) as u64);
                            assert_eq!(
                                max_pool2d(&x, 3, g, w),
                                max_pool2d_ref(&x, 3, g, w),
                                "max {g:?} {w:?}"
                            );
                            if d == 1 {
                                for m in [
                                    AvgMode {
                                        count_include_pad: true,
                                        divisor_override: None,
                                    },
                                    AvgMode {
                                        count_include_pad: false,
                                        divisor_override: None,
                                    },
                                    AvgMode {
                                        count_include_pad: false,
                                        divisor_override: Some(3),
                                    },
                                ] {
                                    let (a, b) = (
                                        avg_pool2d(&x, 3, g, w, m),
                                        avg_pool2d_ref(&x, 3, g, w, m),
                                    );
                                    for (u, v) in a.iter().zip(&b) {
                                        assert!(
                                            (u - v).abs() < 1e-5,
                                            "avg {g:?} {w:?} {m:?}: {u} vs {v}"
                                        );
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
    }

    #[test]
    fn nan_wins_and_scatter_gather_are_adjoint() {
        let x = [1.0f32, f32::NAN, 3.0, 2.0];
        let g = Geom {
            ih: 2,
            iw: 2,
            oh: 1,
            ow: 1,
        };
        let w = Window {
            k: [2, 2],
            s: [2, 2],
            p: [0, 0],
            d: [1, 1],
        };
        let (y, i) = max_pool2d(&x, 1, g, w);
        assert!(y[0].is_nan() && i[0] == 1);
        let src = [1.0f32, 2.0];
        let idx = [3i64, 3];
        assert_eq!(
            scatter_planes(&src, &idx, 1, 2, 4, true),
            vec![0.0, 0.0, 0.0, 3.0]
        );
        assert_eq!(
            gather_planes(&[0.0f32, 0.0, 0.0, 5.0], &idx, 1, 4, 2),
            vec![5.0, 5.0]
        );
    }
}
