//! Adaptive pooling: windows `[floor(o·n/out), ceil((o+1)·n/out))` per dim
//! (torch's rule), one plane per rayon task. Plain loops: the windows vary
//! in size, and these layers run once per network on small maps.

use super::{per_plane, Geom};
use crate::cpu::simd::{add_scalar, sum};
use crate::cpu::{Float, PAR_MIN};
use crate::tensor::storage::uninit_vec;
use rayon::prelude::*;

/// torch's adaptive window along one dim: [floor(o·n/out), ceil((o+1)·n/out)).
#[inline]
pub fn adaptive_span(o: usize, n: usize, out: usize) -> (usize, usize) {
    (o * n / out, ((o + 1) * n).div_ceil(out))
}

pub fn adaptive_avg_pool2d<T: Float>(x: &[T], planes: usize, g: Geom) -> Vec<T> {
    if g.in_plane() == 0 || g.out_plane() == 0 {
        return vec![T::zero(); planes * g.out_plane()];
    }
    // SAFETY: both branches write every output element of every plane.
    let mut out = unsafe { uninit_vec::<T>(planes * g.out_plane()) };
    if g.oh == 1 && g.ow == 1 {
        // global average pooling (ResNet heads): one vectorised sum per plane
        let n = T::from_f64(g.in_plane() as f64);
        per_plane(x, g.in_plane(), &mut out, 1, |xp, yp| yp[0] = sum(xp) / n);
        return out;
    }
    per_plane(x, g.in_plane(), &mut out, g.out_plane(), |xp, yp| {
        for oh in 0..g.oh {
            let (h0, h1) = adaptive_span(oh, g.ih, g.oh);
            for ow in 0..g.ow {
                let (w0, w1) = adaptive_span(ow, g.iw, g.ow);
                let mut s = T::zero();
                for ih in h0..h1 {
                    s = s + sum(&xp[ih * g.iw + w0..ih * g.iw + w1]);
                }
                yp[oh * g.ow + ow] = s / T::from_f64(((h1 - h0) * (w1 - w0)) as f64);
            }
        }
    });
    out
}

pub fn adaptive_avg_pool2d_backward<T: Float>(gy: &[T], planes: usize, g: Geom) -> Vec<T> {
    if g.oh == 1 && g.ow == 1 && g.in_plane() > 0 {
        // SAFETY: every plane is filled whole.
        let mut gx = unsafe { uninit_vec::<T>(planes * g.in_plane()) };
        let inv = T::one() / T::from_f64(g.in_plane() as f64);
        per_plane(gy, 1, &mut gx, g.in_plane(), |gp, xp| xp.fill(gp[0] * inv));
        return gx;
    }
    let mut gx = vec![T::zero(); planes * g.in_plane()];
    per_plane(gy, g.out_plane(), &mut gx, g.in_plane(), |gp, xp| {
        for oh in 0..g.oh {
            let (h0, h1) = adaptive_span(oh, g.ih, g.oh);
            for ow in 0..g.ow {
                let (w0, w1) = adaptive_span(ow, g.iw, g.ow);
                let v = gp[oh * g.ow + ow] / T::from_f64(((h1 - h0) * (w1 - w0)) as f64);
                for ih in h0..h1 {
                    add_scalar(&mut xp[ih * g.iw + w0..ih * g.iw + w1], v);
                }
            }
        }
    });
    gx
}

pub fn adaptive_max_pool2d<T: Float>(x: &[T], planes: usize, g: Geom) -> (Vec<T>, Vec<i64>) {
    let op = g.out_plane();
    let mut out = vec![T::zero(); planes * op];
    let mut idx = vec![0i64; planes * op];
    if op == 0 || g.in_plane() == 0 {
        return (out, idx);
    }
    let mut pairs: Vec<(&mut [T], &mut [i64])> =
        out.chunks_mut(op).zip(idx.chunks_mut(op)).collect();
    let work = |(xp, (yp, ip)): (&[T], &mut (&mut [T], &mut [i64]))| {
        for oh in 0..g.oh {
            let (h0, h1) = adaptive_span(oh, g.ih, g.oh);
            for ow in 0..g.ow {
                let (w0, w1) = adaptive_span(ow, g.iw, g.ow);
                let (mut best, mut bi) = (T::NEG_INF, h0 * g.iw + w0);
                for ih in h0..h1 {
                    for iw in w0..w1 {
                        let v = xp[ih * g.iw + iw];
                        if v > best || v.is_nan() {
                            best = v;
                            bi = ih * g.iw + iw;
                        }
                    }
                }
                yp[oh * g.ow + ow] = best;
                ip[oh * g.ow + ow] = bi as i64;
            }
        }
    };
    if planes * (op + g.in_plane()) >= PAR_MIN && planes > 1 {
        crate::cpu::install(|| {
            x.par_chunks(g.in_plane())
                .zip(pairs.par_iter_mut())
                .for_each(work)
        });
    } else {
        x.chunks(g.in_plane()).zip(pairs.iter_mut()).for_each(work);
    }
    (out, idx)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The 1×1 (global average) path against a plain mean, both directions,
    /// on enough planes to take the parallel path.
    #[test]
    fn global_average_matches_plain_mean() {
        let (planes, ih, iw) = (300, 14, 13);
        let x: Vec<f64> = (0..planes * ih * iw).map(|i| ((i * 37 % 101) as f64) - 50.0).collect();
        let g = Geom { ih, iw, oh: 1, ow: 1 };
        let y = adaptive_avg_pool2d(&x, planes, g);
        for (p, &v) in y.iter().enumerate() {
            let want: f64 = x[p * ih * iw..(p + 1) * ih * iw].iter().sum::<f64>() / (ih * iw) as f64;
            assert!((v - want).abs() < 1e-12, "plane {p}: {v} vs {want}");
        }
        let gy: Vec<f64> = (0..planes).map(|p| p as f64).collect();
        let gx = adaptive_avg_pool2d_backward(&gy, planes, g);
        for (i, &v) in gx.iter().enumerate() {
            let want = (i / (ih * iw)) as f64 / (ih * iw) as f64;
            assert!((v - want).abs() <= 1e-15 * want.abs(), "{i}: {v} vs {want}");
        }
    }
}
