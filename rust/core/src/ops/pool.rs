//! 2-d pooling ops on `(N, C, H, W)` or `(C, H, W)` input: validation with
//! torch's rules and messages, then the kernels in `cpu/pool.rs`.
//!
//! Every backward here is itself a recorded op, so double backward works:
//! max pooling's backward is a per-plane scatter-add by the saved indices,
//! whose adjoint is the matching gather; avg / adaptive-avg pooling (and
//! interpolation, in ops/interp.rs) are linear maps whose backward is their
//! adjoint and vice versa ([`plane_map`]).

use crate::autograd::{needs_grad, record};
use crate::cpu::interp::{self, Mode};
use crate::cpu::pooling::{self as pool, AvgMode, Geom, Window};
use crate::error::{Error, Result};
use crate::tensor::{numel, DType, Tensor};

/// Arguments of max_pool2d / avg_pool2d, per spatial dim (H, W).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Pool2d {
    pub kernel: [usize; 2],
    pub stride: [usize; 2],
    pub padding: [usize; 2],
    pub dilation: [usize; 2],
    pub ceil_mode: bool,
}

/// torch's `pooling_output_shape`: floor (or ceil) of the window count; with
/// ceil_mode the last window must still start inside the input or left padding.
pub fn pool_out_size(n: usize, k: usize, s: usize, p: usize, d: usize, ceil: bool) -> i64 {
    let (n, k, s, p, d) = (n as i64, k as i64, s as i64, p as i64, d as i64);
    let num = n + 2 * p - d * (k - 1) - 1 + if ceil { s - 1 } else { 0 };
    let mut out = num.div_euclid(s) + 1;
    if ceil && (out - 1) * s >= n + p {
        out -= 1;
    }
    out
}

/// (batch dims, H, W) of a 3-d or 4-d float input, or an error naming `op`.
fn spatial(op: &str, x: &Tensor) -> Result<(Vec<usize>, usize, usize)> {
    if !(x.ndim() == 3 || x.ndim() == 4) || x.shape[x.ndim() - 3..].contains(&0) {
        return Err(Error::runtime(format!(
            "{op}: Expected 3D or 4D (batch mode) tensor with optional 0 dim batch size for input, but got shape {:?}",
            x.shape
        )));
    }
    if !x.dtype.is_float() {
        return Err(Error::runtime(format!(
            "{op}: expected a floating point input, got {}",
            x.dtype.name()
        )));
    }
    let nd = x.ndim();
    Ok((x.shape[..nd - 2].to_vec(), x.shape[nd - 2], x.shape[nd - 1]))
}

fn check_window(op: &str, x: &Tensor, c: &Pool2d) -> Result<(Vec<usize>, Geom, Window)> {
    let (lead, ih, iw) = spatial(op, x)?;
    if c.kernel.contains(&0) {
        return Err(Error::runtime(format!(
            "{op}: kernel_size should be greater than zero, but got {:?}",
            c.kernel
        )));
    }
    if c.stride.contains(&0) {
        return Err(Error::runtime(format!(
            "{op}: stride should be greater than zero, but got {:?}",
            c.stride
        )));
    }
    if c.dilation.contains(&0) {
        return Err(Error::runtime(format!(
            "{op}: dilation should be greater than zero, but got {:?}",
            c.dilation
        )));
    }
    if c.padding[0] > c.kernel[0] / 2 || c.padding[1] > c.kernel[1] / 2 {
        return Err(Error::runtime(format!(
            "{op}: pad should be at most half of effective kernel size, but got padding={:?} and kernel_size={:?}",
            c.padding, c.kernel
        )));
    }
    let oh = pool_out_size(
        ih,
        c.kernel[0],
        c.stride[0],
        c.padding[0],
        c.dilation[0],
        c.ceil_mode,
    );
    let ow = pool_out_size(
        iw,
        c.kernel[1],
        c.stride[1],
        c.padding[1],
        c.dilation[1],
        c.ceil_mode,
    );
    if oh < 1 || ow < 1 {
        return Err(Error::runtime(format!(
            "{op}: Given input size {:?}, calculated output size ({oh}x{ow}) is too small (kernel_size={:?}, stride={:?}, padding={:?}, dilation={:?})",
            x.shape, c.kernel, c.stride, c.padding, c.dilation
        )));
    }
    let g = Geom {
        ih,
        iw,
        oh: oh as usize,
        ow: ow as usize,
    };
    Ok((
        lead,
        g,
        Window {
            k: c.kernel,
            s: c.stride,
            p: c.padding,
            d: c.dilation,
        },
    ))
}

fn with_plane(lead: &[usize], h: usize, w: usize) -> Vec<usize> {
    [lead, &[h, w]].concat()
}

/// Values and int64 indices (flat within each H×W plane, as torch).
pub fn max_pool2d(x: &Tensor, c: &Pool2d) -> Result<(Tensor, Tensor)> {
    let (lead, g, w) = check_window("max_pool2d", x, c)?;
    let planes = numel(&lead);
    let out_shape = with_plane(&lead, g.oh, g.ow);
    let (out, idx) = crate::with_float!(x.dtype, "max_pool2d", T => {
        let (o, i) = pool::max_pool2d(&x.data::<T>(), planes, g, w);
        (Tensor::from_vec_unchecked(o, &out_shape), Tensor::from_vec_unchecked(i, &out_shape))
    });
    Ok((indexed_backward(x, out, &idx, "MaxPool2D")?, idx))
}

pub fn adaptive_max_pool2d(x: &Tensor, out_hw: [usize; 2]) -> Result<(Tensor, Tensor)> {
    let (lead, ih, iw) = spatial("adaptive_max_pool2d", x)?;
    let g = Geom {
        ih,
        iw,
        oh: out_hw[0],
        ow: out_hw[1],
    };
    let planes = numel(&lead);
    let out_shape = with_plane(&lead, g.oh, g.ow);
    let (out, idx) = crate::with_float!(x.dtype, "adaptive_max_pool2d", T => {
        let (o, i) = pool::adaptive_max_pool2d(&x.data::<T>(), planes, g);
        (Tensor::from_vec_unchecked(o, &out_shape), Tensor::from_vec_unchecked(i, &out_shape))
    });
    Ok((indexed_backward(x, out, &idx, "AdaptiveMaxPool2D")?, idx))
}

/// Records "gradient of x = scatter-add of g at idx" on `out`.
fn indexed_backward(x: &Tensor, out: Tensor, idx: &Tensor, name: &str) -> Result<Tensor> {
    if !needs_grad(&[x]) {
        return Ok(out);
    }
    let (in_shape, idx) = (x.shape.clone(), idx.clone());
    let back = move |g: &Tensor| -> Result<Vec<Option<Tensor>>> {
        Ok(vec![Some(scatter_planes(g, &idx, &in_shape, true)?)])
    };
    Ok(record(out, name, &[x], &[], Box::new(back)))
}

fn plane_len(shape: &[usize]) -> usize {
    numel(&shape[shape.len().saturating_sub(2)..])
}

/// `out[p][idx[p][j]] (+)= src[p][j]` per H×W plane; `out_shape` is the
/// full output shape. Differentiable in `src` (the adjoint is [`gather_planes`]).
pub fn scatter_planes(
    src: &Tensor,
    idx: &Tensor,
    out_shape: &[usize],
    accumulate: bool,
) -> Result<Tensor> {
    let planes = numel(&src.shape[..src.ndim() - 2]);
    let (pin, pout) = (plane_len(&src.shape), plane_len(out_shape));
    let ids = idx.data::<i64>();
    let out = crate::with_float!(src.dtype, "max_pool2d_backward", T => Tensor::from_vec_unchecked(
        pool::scatter_planes(&src.data::<T>(), &ids, planes, pin, pout, accumulate), out_shape));
    if !needs_grad(&[src]) {
        return Ok(out);
    }
    let idx = idx.clone();
    let back = move |g: &Tensor| -> Result<Vec<Option<Tensor>>> {
        Ok(vec![Some(gather_planes(g, &idx)?)])
    };
    Ok(record(out, "ScatterPlanes", &[src], &[], Box::new(back)))
}

/// `out[p][j] = src[p][idx[p][j]]`, out shaped like `idx`.
pub fn gather_planes(src: &Tensor, idx: &Tensor) -> Result<Tensor> {
    let planes = numel(&src.shape[..src.ndim() - 2]);
    let (ps, pi) = (plane_len(&src.shape), plane_len(&idx.shape));
    let ids = idx.data::<i64>();
    let out = crate::with_float!(src.dtype, "max_unpool2d_backward", T => Tensor::from_vec_unchecked(
        pool::gather_planes(&src.data::<T>(), &ids, planes, ps, pi), &idx.shape));
    if !needs_grad(&[src]) {
        return Ok(out);
    }
    let (idx, shape) = (idx.clone(), src.shape.clone());
    let back = move |g: &Tensor| -> Result<Vec<Option<Tensor>>> {
        Ok(vec![Some(scatter_planes(g, &idx, &shape, true)?)])
    };
    Ok(record(out, "GatherPlanes", &[src], &[], Box::new(back)))
}

/// Inverse of max_pool2d: zeros of `(…, H, W)` with `x` written at `indices`.
pub fn max_unpool2d(x: &Tensor, indices: &Tensor, out_hw: [usize; 2]) -> Result<Tensor> {
    let (lead, _, _) = spatial("max_unpool2d", x)?;
    if indices.dtype != DType::I64 {
        return Err(Error::runtime(format!(
            "max_unpool2d: elements in indices should be type int64 but got: {}",
            indices.dtype.name()
        )));
    }
    if indices.shape != x.shape {
        return Err(Error::runtime(format!(
            "max_unpool2d: Expected shape of indices to be same as that of the input tensor ({:?}) but got indices tensor with shape: {:?}",
            x.shape, indices.shape
        )));
    }
    let size = (out_hw[0] * out_hw[1]) as i64;
    if let Some(&bad) = indices.data::<i64>().iter().find(|&&i| i < 0 || i >= size) {
        return Err(Error::runtime(format!(
            "max_unpool2d: Found an invalid max index: {bad} (output volumes are of size {}x{})",
            out_hw[0], out_hw[1]
        )));
    }
    scatter_planes(x, indices, &with_plane(&lead, out_hw[0], out_hw[1]), false)
}

/// A linear map from `(…, ih, iw)` planes to `(…, oh, ow)` planes with a
/// kernel for it and for its adjoint.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum PlaneMap {
    Avg(Window, AvgMode),
    AdaptiveAvg,
    Resample(Mode, [Option<f64>; 2]),
}

impl PlaneMap {
    fn name(self, adjoint: bool) -> &'static str {
        match (self, adjoint) {
            (PlaneMap::Avg(..), false) => "AvgPool2D",
            (PlaneMap::Avg(..), true) => "AvgPool2DBackward",
            (PlaneMap::AdaptiveAvg, false) => "AdaptiveAvgPool2D",
            (PlaneMap::AdaptiveAvg, true) => "AdaptiveAvgPool2DBackward",
            (PlaneMap::Resample(..), false) => "Upsample",
            (PlaneMap::Resample(..), true) => "UpsampleBackward",
        }
    }
}

/// Applies `m` (or its adjoint) to the last two dims of `x`; the backward is
/// the other one, so gradients of any order flow.
pub fn plane_map(x: &Tensor, m: PlaneMap, g: Geom, adjoint: bool) -> Result<Tensor> {
    let nd = x.ndim();
    let (to_h, to_w) = if adjoint { (g.ih, g.iw) } else { (g.oh, g.ow) };
    let lead = &x.shape[..nd - 2];
    let planes = numel(lead);
    let out_shape = with_plane(lead, to_h, to_w);
    let out = crate::with_float!(x.dtype, m.name(adjoint), T => {
        let xd = x.data::<T>();
        let v = match (m, adjoint) {
            (PlaneMap::Avg(w, a), false) => pool::avg_pool2d(&xd, planes, g, w, a),
            (PlaneMap::Avg(w, a), true) => pool::avg_pool2d_backward(&xd, planes, g, w, a),
            (PlaneMap::AdaptiveAvg, false) => pool::adaptive_avg_pool2d(&xd, planes, g),
            (PlaneMap::AdaptiveAvg, true) => pool::adaptive_avg_pool2d_backward(&xd, planes, g),
            (PlaneMap::Resample(mode, s), false) => interp::resample(&xd, planes, g, mode, s),
            (PlaneMap::Resample(mode, s), true) => interp::resample_backward(&xd, planes, g, mode, s),
        };
        Tensor::from_vec_unchecked(v, &out_shape)
    });
    if !needs_grad(&[x]) {
        return Ok(out);
    }
    let back = move |gr: &Tensor| -> Result<Vec<Option<Tensor>>> {
        Ok(vec![Some(plane_map(gr, m, g, !adjoint)?)])
    };
    Ok(record(out, m.name(adjoint), &[x], &[], Box::new(back)))
}

pub fn avg_pool2d(
    x: &Tensor,
    c: &Pool2d,
    count_include_pad: bool,
    divisor_override: Option<i64>,
) -> Result<Tensor> {
    let (_, g, w) = check_window("avg_pool2d", x, c)?;
    let divisor_override = match divisor_override {
        Some(d) if d <= 0 => {
            return Err(Error::runtime(format!(
                "avg_pool2d: divisor must be not zero, got {d}"
            )))
        }
        d => d.map(|d| d as usize),
    };
    plane_map(
        x,
        PlaneMap::Avg(
            w,
            AvgMode {
                count_include_pad,
                divisor_override,
            },
        ),
        g,
        false,
    )
}

pub fn adaptive_avg_pool2d(x: &Tensor, out_hw: [usize; 2]) -> Result<Tensor> {
    let (_, ih, iw) = spatial("adaptive_avg_pool2d", x)?;
    plane_map(
        x,
        PlaneMap::AdaptiveAvg,
        Geom {
            ih,
            iw,
            oh: out_hw[0],
            ow: out_hw[1],
        },
        false,
    )
}
