//! `interpolate`: nearest and (bi)linear resampling of `(N, C, L)` and
//! `(N, C, H, W)` input. The Python layer resolves `size` / `scale_factor`
//! into output sizes (and the scales torch uses for coordinates); this op
//! validates and runs the kernels of `cpu/interp.rs` as a [`plane_map`].

use super::pool::{plane_map, PlaneMap};
use super::shape;
use crate::cpu::interp::Mode;
use crate::cpu::pooling::Geom;
use crate::error::{Error, Result};
use crate::tensor::Tensor;

/// `size`: output sizes of the spatial dims; `scales`: the scale factor the
/// user gave per dim (None when `size` was given), used for coordinates as torch.
pub fn interpolate(
    x: &Tensor,
    size: &[usize],
    mode: &str,
    align_corners: bool,
    scales: &[Option<f64>],
) -> Result<Tensor> {
    let spatial = x.ndim().saturating_sub(2);
    if !(spatial == 1 || spatial == 2) {
        return Err(Error::value(format!(
            "interpolate: expected a 3-D (N, C, L) or 4-D (N, C, H, W) input, got shape {:?}",
            x.shape
        )));
    }
    if size.len() != spatial || scales.len() != spatial {
        return Err(Error::value(format!(
            "interpolate: expected {spatial} output sizes for input of shape {:?}, got {size:?}",
            x.shape
        )));
    }
    let want = match (mode, spatial) {
        ("nearest", _) => Mode::Nearest,
        ("linear", 1) | ("bilinear", 2) => Mode::Linear { align_corners },
        ("linear" | "bilinear", _) => {
            return Err(Error::value(format!(
                "interpolate: mode '{mode}' expects a {}-D input, got shape {:?}",
                if mode == "linear" { 3 } else { 4 },
                x.shape
            )))
        }
        _ => {
            return Err(Error::value(format!(
                "interpolate: mode '{mode}' is not supported (nearest, linear, bilinear)"
            )))
        }
    };
    if !x.dtype.is_float() {
        return Err(Error::runtime(format!(
            "interpolate: expected a floating point input, got {}",
            x.dtype.name()
        )));
    }
    if size.contains(&0) || x.shape[2..].contains(&0) {
        return Err(Error::runtime(format!(
            "interpolate: input {:?} and output {size:?} sizes should be greater than 0",
            x.shape
        )));
    }
    if spatial == 1 {
        let x4 = shape::unsqueeze(x, -2)?;
        let g = Geom {
            ih: 1,
            iw: x.shape[2],
            oh: 1,
            ow: size[0],
        };
        let y = plane_map(&x4, PlaneMap::Resample(want, [None, scales[0]]), g, false)?;
        return shape::squeeze(&y, Some(&[-2]));
    }
    let g = Geom {
        ih: x.shape[2],
        iw: x.shape[3],
        oh: size[0],
        ow: size[1],
    };
    plane_map(
        x,
        PlaneMap::Resample(want, [scales[0], scales[1]]),
        g,
        false,
    )
}
