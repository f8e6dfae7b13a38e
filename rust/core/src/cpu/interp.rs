//! Nearest and (bi)linear resampling of contiguous `(planes, H, W)` data,
//! forward and its adjoint (the backward), following torch's CPU index and
//! weight rules exactly (so results match bit-for-bit up to rounding).
//!
//! Both are separable: a per-axis table of source indices and weights is
//! built once, then every plane is one pass over the output.

use super::pooling::Geom;
use super::{Float, PAR_MIN};
use rayon::prelude::*;

#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Mode {
    Nearest,
    Linear { align_corners: bool },
}

/// One output position along an axis: two source indices and their weights
/// (nearest: `i1 == i0`, `w0 = 1`, `w1 = 0`).
#[derive(Debug, Clone, Copy)]
struct Tap<T> {
    i0: usize,
    i1: usize,
    w0: T,
    w1: T,
}

/// torch's `nearest_idx` (coordinates in f32 for every dtype, as torch).
fn nearest_table<T: Float>(n_in: usize, n_out: usize, scale: Option<f64>) -> Vec<Tap<T>> {
    let s = match scale {
        Some(s) if s > 0.0 => (1.0 / s) as f32,
        _ => n_in as f32 / n_out as f32,
    };
    (0..n_out)
        .map(|o| {
            let i = if n_out == n_in {
                o
            } else if n_out == 2 * n_in {
                o >> 1
            } else {
                ((o as f32 * s).floor() as usize).min(n_in - 1)
            };
            Tap {
                i0: i,
                i1: i,
                w0: T::one(),
                w1: T::zero(),
            }
        })
        .collect()
}

/// torch's `area_pixel_compute_scale` + `area_pixel_compute_source_index`
/// in the tensor's own precision.
fn linear_table<T: Float>(
    n_in: usize,
    n_out: usize,
    align_corners: bool,
    scale: Option<f64>,
) -> Vec<Tap<T>> {
    let t = |v: usize| T::from_f64(v as f64);
    let sc = if align_corners {
        if n_out > 1 {
            t(n_in - 1) / t(n_out - 1)
        } else {
            T::zero()
        }
    } else {
        match scale {
            Some(s) if s > 0.0 => T::from_f64(1.0 / s),
            _ => t(n_in) / t(n_out),
        }
    };
    let half = T::from_f64(0.5);
    (0..n_out)
        .map(|o| {
            let real = if align_corners {
                sc * t(o)
            } else {
                let r = sc * (t(o) + half) - half;
                if r < T::zero() {
                    T::zero()
                } else {
                    r
                }
            };
            let i0 = (real.to_f64() as usize).min(n_in - 1);
            let i1 = if i0 < n_in - 1 { i0 + 1 } else { i0 };
            let w1 = real - t(i0);
            Tap {
                i0,
                i1,
                w0: T::one() - w1,
                w1,
            }
        })
        .collect()
}

fn tables<T: Float>(g: &Geom, mode: Mode, scales: [Option<f64>; 2]) -> (Vec<Tap<T>>, Vec<Tap<T>>) {
    match mode {
        Mode::Nearest => (
            nearest_table(g.ih, g.oh, scales[0]),
            nearest_table(g.iw, g.ow, scales[1]),
        ),
        Mode::Linear { align_corners } => (
            linear_table(g.ih, g.oh, align_corners, scales[0]),
            linear_table(g.iw, g.ow, align_corners, scales[1]),
        ),
    }
}

fn planes_map<T: Float>(
    src: &[T],
    sl: usize,
    dst: &mut [T],
    dl: usize,
    f: impl Fn(&[T], &mut [T]) + Sync + Send,
) {
    if sl == 0 || dl == 0 {
        return;
    }
    if dst.len().max(src.len()) >= PAR_MIN && dst.len() > dl {
        super::install(|| {
            dst.par_chunks_mut(dl)
                .zip(src.par_chunks(sl))
                .for_each(|(o, i)| f(i, o))
        });
    } else {
        dst.chunks_mut(dl)
            .zip(src.chunks(sl))
            .for_each(|(o, i)| f(i, o));
    }
}

pub fn resample<T: Float>(
    x: &[T],
    planes: usize,
    g: Geom,
    mode: Mode,
    scales: [Option<f64>; 2],
) -> Vec<T> {
    let (th, tw) = tables::<T>(&g, mode, scales);
    let mut out = vec![T::zero(); planes * g.oh * g.ow];
    planes_map(x, g.ih * g.iw, &mut out, g.oh * g.ow, |xp, yp| {
        for (oh, h) in th.iter().enumerate() {
            let (r0, r1) = (
                &xp[h.i0 * g.iw..(h.i0 + 1) * g.iw],
                &xp[h.i1 * g.iw..(h.i1 + 1) * g.iw],
            );
            let yrow = &mut yp[oh * g.ow..(oh + 1) * g.ow];
            if mode == Mode::Nearest {
                // a copy, so inf/NaN pass through unchanged (0·inf would be NaN)
                for (yv, w) in yrow.iter_mut().zip(&tw) {
                    *yv = r0[w.i0];
                }
                continue;
            }
            for (yv, w) in yrow.iter_mut().zip(&tw) {
                *yv = h.w0 * (w.w0 * r0[w.i0] + w.w1 * r0[w.i1])
                    + h.w1 * (w.w0 * r1[w.i0] + w.w1 * r1[w.i1]);
            }
        }
    });
    out
}

/// The adjoint of [`resample`]: scatters each output gradient back onto the
/// (up to four) input positions it was read from, with the same weights.
pub fn resample_backward<T: Float>(
    gy: &[T],
    planes: usize,
    g: Geom,
    mode: Mode,
    scales: [Option<f64>; 2],
) -> Vec<T> {
    let (th, tw) = tables::<T>(&g, mode, scales);
    let mut gx = vec![T::zero(); planes * g.ih * g.iw];
    planes_map(gy, g.oh * g.ow, &mut gx, g.ih * g.iw, |gp, xp| {
        for (oh, h) in th.iter().enumerate() {
            for (&gv, w) in gp[oh * g.ow..(oh + 1) * g.ow].iter().zip(&tw) {
                for (row, hw) in [(h.i0, h.w0), (h.i1, h.w1)] {
                    let r = &mut xp[row * g.iw..(row + 1) * g.iw];
                    r[w.i0] = r[w.i0] + hw * w.w0 * gv;
                    r[w.i1] = r[w.i1] + hw * w.w1 * gv;
                }
            }
        }
    });
    gx
}

#[cfg(test)]
mod tests {
    use super::*;

    /// <A x, y> == <x, A^T y>: the backward is the exact adjoint.
    #[test]
    fn backward_is_adjoint() {
        for mode in [
            Mode::Nearest,
            Mode::Linear {
                align_corners: false,
            },
            Mode::Linear {
                align_corners: true,
            },
        ] {
            for &(ih, iw, oh, ow) in &[(3, 4, 7, 9), (5, 5, 2, 3), (1, 4, 1, 8), (4, 3, 8, 6)] {
                let g = Geom { ih, iw, oh, ow };
                let x: Vec<f64> = (0..ih * iw).map(|i| (i as f64 * 0.37).sin()).collect();
                let y: Vec<f64> = (0..oh * ow).map(|i| (i as f64 * 0.91).cos()).collect();
                let ax = resample(&x, 1, g, mode, [None, None]);
                let aty = resample_backward(&y, 1, g, mode, [None, None]);
                let l: f64 = ax.iter().zip(&y).map(|(a, b)| a * b).sum();
                let r: f64 = x.iter().zip(&aty).map(|(a, b)| a * b).sum();
                assert!((l - r).abs() < 1e-12, "{mode:?} {g:?}");
            }
        }
    }

    #[test]
    fn align_corners_keeps_corners() {
        let g = Geom {
            ih: 2,
            iw: 2,
            oh: 3,
            ow: 3,
        };
        let y = resample(
            &[0.0f64, 1.0, 2.0, 3.0],
            1,
            g,
            Mode::Linear {
                align_corners: true,
            },
            [None, None],
        );
        assert_eq!(y, vec![0.0, 0.5, 1.0, 1.0, 1.5, 2.0, 2.0, 2.5, 3.0]);
    }
}
