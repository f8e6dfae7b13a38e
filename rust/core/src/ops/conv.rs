//! 2-D convolution and transposed convolution (NCHW), forward and backward,
//! as one GEMM per sample and group over im2col panels (a direct kernel for
//! depthwise). conv1d is conv2d with H = 1 (Python side).
//!
//! The three passes share one vocabulary: an "image" tensor (N, C, H, W),
//! a "grid" tensor (N, O, gh, gw) and filters (O, C/groups, kh, kw):
//!   grid  = conv(image)            (`grid_from_image`)
//!   image = convᵀ(grid)            (`image_from_grid`, the backward of conv
//!                                    and the forward of conv_transpose2d)
//!   dW    = grid ⋆ image           (`filter_grad`)

use super::shape;
use crate::autograd::{needs_grad, record};
use crate::cpu::conv::{channel_sums, col2im, col2im_pitch, im2col_pitch, depthwise_bwd_data, depthwise_bwd_filter, depthwise_fwd, filter_grad_dots, im2col, Dim};
use crate::cpu::float::Fma;
use crate::cpu::gemm::{gemm_threads, MatRef};
use crate::cpu::Float;
use crate::error::{Error, Result};
use crate::tensor::storage::uninit_vec;
use crate::tensor::{DType, Tensor};
use rayon::prelude::*;

/// Per-dimension settings as the user gives them (after 'same'/'valid').
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConvSpec {
    pub stride: [usize; 2],
    /// zeros before / after the input along H and W ('same' can be uneven)
    pub pad_begin: [usize; 2],
    pub pad_end: [usize; 2],
    pub dilation: [usize; 2],
    pub groups: usize,
}

/// Everything a kernel needs: channel counts per group and the two planes.
#[derive(Debug, Clone, Copy)]
struct Geo {
    n: usize,
    groups: usize,
    /// image channels per group
    cg: usize,
    /// grid channels (filters) per group
    og: usize,
    h: Dim,
    w: Dim,
}

impl Geo {
    fn k(&self) -> usize {
        self.cg * self.h.kernel * self.w.kernel
    }
    fn image_plane(&self) -> usize {
        self.h.image * self.w.image
    }
    fn grid_plane(&self) -> usize {
        self.h.grid * self.w.grid
    }
    /// 1×1, stride 1, no padding: the image itself is the im2col panel.
    fn pointwise(&self) -> bool {
        [self.h, self.w].iter().all(|d| d.kernel == 1 && d.stride == 1 && d.pad == 0 && d.image == d.grid)
    }
    fn depthwise(&self) -> bool {
        self.cg == 1 && self.og == 1
    }
}

fn mat<T>(data: &[T], rs: usize, cs: usize) -> MatRef<'_, T> {
    MatRef { data, offset: 0, rs, cs }
}

/// Threads each per-sample GEMM may use: with at least as many samples as
/// threads the batch is already split across the pool, so each GEMM runs on
/// its own worker (no nested fork-join, which costs more than it brings on
/// these small per-sample products); a smaller batch lets the GEMM split.
fn gemm_threads_for(n: usize) -> usize {
    let t = crate::cpu::num_threads();
    if n >= t { 1 } else { t }
}

/// Samples per GEMM in the forward and backward-data passes. A per-sample
/// product has N = gh·gw columns; when that is not a multiple of the
/// micro-kernel width the last B sliver is mostly padding (LeNet's 14×14 =
/// 196 columns = 6.125 slivers of 32: 12% of the multiply-adds wasted) and
/// every sample repacks the filters. S samples' panels side by side
/// (N = S·gh·gw) amortise both, for one copy of the S·og output rows. S is
/// capped so the panel block stays about L2-sized (≤ 1 MiB) and so that
/// every thread still gets a block.
fn samples_per_gemm<T>(geo: &Geo) -> usize {
    let (gp, k) = (geo.grid_plane(), geo.k());
    if gp % 32 == 0 || geo.pointwise() || geo.depthwise() || gp == 0 || k == 0 {
        return 1;
    }
    let by_cache = (1 << 20) / (k * gp * std::mem::size_of::<T>());
    let by_threads = geo.n / crate::cpu::num_threads().max(1);
    by_cache.min(by_threads).clamp(1, 8)
}

/// `grid_from_image` for S > 1 samples per GEMM (see `samples_per_gemm`):
/// per block of S samples and group, their im2col panels side by side
/// (K × S·gp, row pitch S·gp), one GEMM into an og × S·gp block, whose rows
/// are then copied (plus bias) to the S output planes.
fn grid_from_image_batched<T: Float + Fma>(image: &[T], filt: &[T], bias: Option<&[T]>, geo: Geo, s: usize) -> Vec<T> {
    let (ip, gp, k) = (geo.image_plane(), geo.grid_plane(), geo.k());
    let (o_total, c_total, og) = (geo.og * geo.groups, geo.cg * geo.groups, geo.og);
    // SAFETY: every block writes all S·o_total planes of its samples (the
    // copy loop below covers si < sn, g < groups, o < og).
    let mut grid = unsafe { uninit_vec::<T>(geo.n * o_total * gp) };
    let gt = gemm_threads_for(geo.n.div_ceil(s));
    crate::cpu::install(|| {
        // SAFETY (panel, block): im2col_pitch writes every panel row's
        // sn·gp columns and the beta = 0 GEMM every og × sn·gp entry before
        // either is read; nothing past those is read.
        let bufs = || unsafe { (uninit_vec::<T>(k * s * gp), uninit_vec::<T>(og * s * gp)) };
        grid.par_chunks_mut(s * o_total * gp).enumerate().for_each_init(bufs, |(panel, block), (b, out)| {
            let (n0, sn) = (b * s, out.len() / (o_total * gp));
            let wc = sn * gp;
            for g in 0..geo.groups {
                for si in 0..sn {
                    let img = &image[((n0 + si) * c_total + g * geo.cg) * ip..][..geo.cg * ip];
                    im2col_pitch(img, geo.cg, geo.h, geo.w, &mut panel[si * gp..], wc);
                }
                let wg = &filt[g * og * k..(g + 1) * og * k];
                gemm_threads(gt, og, wc, k, T::one(), mat(wg, k, 1), mat(panel, wc, 1), T::zero(), block);
                for si in 0..sn {
                    for o in 0..og {
                        let dst = &mut out[(si * o_total + g * og + o) * gp..][..gp];
                        let src = &block[o * wc + si * gp..][..gp];
                        match bias {
                            Some(bv) => {
                                let bo = bv[g * og + o];
                                dst.iter_mut().zip(src).for_each(|(d, &v)| *d = v + bo);
                            }
                            None => dst.copy_from_slice(src),
                        }
                    }
                }
            }
        })
    });
    grid
}

/// `image_from_grid` for S > 1 samples per GEMM: the S samples' gradient
/// rows gathered side by side (og × S·gp), one GEMM Wᵀ · dy into a K × S·gp
/// panel block, col2im of each sample's columns.
fn image_from_grid_batched<T: Float + Fma>(grid: &[T], filt: &[T], geo: Geo, s: usize) -> Vec<T> {
    let (ip, gp, k) = (geo.image_plane(), geo.grid_plane(), geo.k());
    let (o_total, c_total, og) = (geo.og * geo.groups, geo.cg * geo.groups, geo.og);
    // SAFETY: each block zeroes its chunk before col2im accumulates into it.
    let mut image = unsafe { uninit_vec::<T>(geo.n * c_total * ip) };
    let gt = gemm_threads_for(geo.n.div_ceil(s));
    crate::cpu::install(|| {
        // SAFETY (dy, panel): the copy loop writes og × sn·gp of `dy` and the
        // beta = 0 GEMM k × sn·gp of `panel` before they are read.
        let bufs = || unsafe { (uninit_vec::<T>(og * s * gp), uninit_vec::<T>(k * s * gp)) };
        image.par_chunks_mut(s * c_total * ip).enumerate().for_each_init(bufs, |(dy, panel), (b, img)| {
            img.fill(T::zero());
            let (n0, sn) = (b * s, img.len() / (c_total * ip));
            let wc = sn * gp;
            for g in 0..geo.groups {
                for si in 0..sn {
                    for o in 0..og {
                        let src = &grid[((n0 + si) * o_total + g * og + o) * gp..][..gp];
                        dy[o * wc + si * gp..][..gp].copy_from_slice(src);
                    }
                }
                let wg = &filt[g * og * k..(g + 1) * og * k];
                gemm_threads(gt, k, wc, og, T::one(), mat(wg, 1, k), mat(dy, wc, 1), T::zero(), panel);
                for si in 0..sn {
                    let dst = &mut img[(si * c_total + g * geo.cg) * ip..][..geo.cg * ip];
                    col2im_pitch(&mut panel[si * gp..], wc, geo.cg, geo.h, geo.w, dst);
                }
            }
        })
    });
    image
}

/// grid[n, g·og + o] = bias[o] + Σ W[g·og + o] · im2col(image[n, g])
fn grid_from_image<T: Float + Fma>(image: &[T], filt: &[T], bias: Option<&[T]>, geo: Geo) -> Vec<T> {
    let s = samples_per_gemm::<T>(&geo);
    if s > 1 {
        return grid_from_image_batched(image, filt, bias, geo, s);
    }
    let (ip, gp, k) = (geo.image_plane(), geo.grid_plane(), geo.k());
    let o_total = geo.og * geo.groups;
    // SAFETY: every sample's planes are written below: filled with the bias
    // (then GEMM with beta = 1), or GEMM with beta = 0, or depthwise_fwd
    // (which fills its plane first).
    let mut grid = unsafe { uninit_vec::<T>(geo.n * o_total * gp) };
    if gp == 0 {
        return grid;
    }
    let gt = gemm_threads_for(geo.n);
    let cols_len = if geo.pointwise() || geo.depthwise() { 0 } else { k * gp };
    crate::cpu::install(|| {
        // one im2col buffer per rayon job (reused across its samples)
        // SAFETY (cols): im2col writes the whole panel before the GEMM reads it.
        grid.par_chunks_mut(o_total * gp).enumerate().for_each_init(|| unsafe { uninit_vec::<T>(cols_len) }, |cols, (n, out)| {
            let img_n = &image[n * geo.cg * geo.groups * ip..(n + 1) * geo.cg * geo.groups * ip];
            if let Some(b) = bias {
                for (o, plane) in out.chunks_mut(gp).enumerate() {
                    plane.fill(b[o]);
                }
            }
            if geo.depthwise() {
                for (c, plane) in out.chunks_mut(gp).enumerate() {
                    let b = bias.map_or(T::zero(), |b| b[c]);
                    let kk = geo.h.kernel * geo.w.kernel;
                    depthwise_fwd(&img_n[c * ip..(c + 1) * ip], &filt[c * kk..(c + 1) * kk], b, geo.h, geo.w, plane);
                }
                return;
            }
            for g in 0..geo.groups {
                let img_g = &img_n[g * geo.cg * ip..(g + 1) * geo.cg * ip];
                let panel: &[T] = if geo.pointwise() {
                    img_g
                } else {
                    im2col(img_g, geo.cg, geo.h, geo.w, cols);
                    cols
                };
                let wg = &filt[g * geo.og * k..(g + 1) * geo.og * k];
                let c = &mut out[g * geo.og * gp..(g + 1) * geo.og * gp];
                let beta = if bias.is_some() { T::one() } else { T::zero() };
                gemm_threads(gt, geo.og, gp, k, T::one(), mat(wg, k, 1), mat(panel, gp, 1), beta, c);
            }
        })
    });
    grid
}

/// image[n, g] = col2im(Wᵀ[g] · grid[n, g]) — the adjoint of `grid_from_image` (no bias).
fn image_from_grid<T: Float + Fma>(grid: &[T], filt: &[T], geo: Geo) -> Vec<T> {
    let (ip, gp, k) = (geo.image_plane(), geo.grid_plane(), geo.k());
    let s = samples_per_gemm::<T>(&geo);
    if s > 1 && ip > 0 {
        return image_from_grid_batched(grid, filt, geo, s);
    }
    let c_total = geo.cg * geo.groups;
    if ip == 0 || gp == 0 {
        return vec![T::zero(); geo.n * c_total * ip];
    }
    // SAFETY: each sample's chunk is either zeroed below (col2im and the
    // depthwise kernel accumulate) or written by a beta = 0 GEMM (pointwise).
    let mut image = unsafe { uninit_vec::<T>(geo.n * c_total * ip) };
    let gt = gemm_threads_for(geo.n);
    let cols_len = if geo.pointwise() || geo.depthwise() { 0 } else { k * gp };
    crate::cpu::install(|| {
        // SAFETY (cols): the GEMM (beta = 0) writes the whole panel before col2im reads it.
        image.par_chunks_mut(c_total * ip).enumerate().for_each_init(|| unsafe { uninit_vec::<T>(cols_len) }, |cols, (n, img_n)| {
            let grid_n = &grid[n * geo.og * geo.groups * gp..(n + 1) * geo.og * geo.groups * gp];
            if !geo.pointwise() || geo.depthwise() {
                // zeroed here, per sample, while the chunk is about to be used
                img_n.fill(T::zero());
            }
            if geo.depthwise() {
                let kk = geo.h.kernel * geo.w.kernel;
                for (c, plane) in img_n.chunks_mut(ip).enumerate() {
                    depthwise_bwd_data(&filt[c * kk..(c + 1) * kk], &grid_n[c * gp..(c + 1) * gp], geo.h, geo.w, plane);
                }
                return;
            }
            for g in 0..geo.groups {
                let wg = &filt[g * geo.og * k..(g + 1) * geo.og * k];
                let dy = &grid_n[g * geo.og * gp..(g + 1) * geo.og * gp];
                let dst = &mut img_n[g * geo.cg * ip..(g + 1) * geo.cg * ip];
                // Wgᵀ (k × og) · dy (og × gp)
                if geo.pointwise() {
                    gemm_threads(gt, k, gp, geo.og, T::one(), mat(wg, 1, k), mat(dy, gp, 1), T::zero(), dst);
                } else {
                    gemm_threads(gt, k, gp, geo.og, T::one(), mat(wg, 1, k), mat(dy, gp, 1), T::zero(), cols);
                    col2im(cols, geo.cg, geo.h, geo.w, dst);
                }
            }
        })
    });
    image
}

/// Below this GEMM depth the filter gradient is plain dot products.
const SMALL_K: usize = 32;

/// dW[g·og + o] = Σ_n grid[n, g·og + o] · im2col(image[n, g])ᵀ
fn filter_grad<T: Float + Fma>(image: &[T], grid: &[T], geo: Geo) -> Vec<T> {
    let (ip, gp, k) = (geo.image_plane(), geo.grid_plane(), geo.k());
    let size = geo.groups * geo.og * k;
    let gt = gemm_threads_for(geo.n);
    let per_sample = |n: usize, acc: &mut Vec<T>, cols: &mut Vec<T>| {
        let img_n = &image[n * geo.cg * geo.groups * ip..(n + 1) * geo.cg * geo.groups * ip];
        let grid_n = &grid[n * geo.og * geo.groups * gp..(n + 1) * geo.og * geo.groups * gp];
        if geo.depthwise() {
            let kk = geo.h.kernel * geo.w.kernel;
            for c in 0..geo.groups {
                let (img, dy) = (&img_n[c * ip..(c + 1) * ip], &grid_n[c * gp..(c + 1) * gp]);
                depthwise_bwd_filter(img, dy, geo.h, geo.w, &mut acc[c * kk..(c + 1) * kk]);
            }
            return;
        }
        for g in 0..geo.groups {
            let img_g = &img_n[g * geo.cg * ip..(g + 1) * geo.cg * ip];
            let panel: &[T] = if geo.pointwise() {
                img_g
            } else {
                im2col(img_g, geo.cg, geo.h, geo.w, cols);
                cols
            };
            let dy = &grid_n[g * geo.og * gp..(g + 1) * geo.og * gp];
            let dst = &mut acc[g * geo.og * k..(g + 1) * geo.og * k];
            // dy (og × gp) · panelᵀ (gp × k); dot products when k is below
            // one GEMM tile width
            if k < SMALL_K {
                filter_grad_dots(dy, panel, geo.og, k, gp, dst);
                continue;
            }
            gemm_threads(gt, geo.og, k, gp, T::one(), mat(dy, gp, 1), mat(panel, 1, gp), T::one(), dst);
        }
    };
    let cols_len = if geo.pointwise() || geo.depthwise() { 0 } else { k * gp };
    crate::cpu::install(|| {
        (0..geo.n)
            .into_par_iter()
            .fold(
                // SAFETY (cols): im2col writes the whole panel before it is read.
                || (vec![T::zero(); size], unsafe { uninit_vec::<T>(cols_len) }),
                |(mut acc, mut cols), n| {
                    per_sample(n, &mut acc, &mut cols);
                    (acc, cols)
                },
            )
            .map(|(acc, _)| acc)
            .reduce(|| vec![T::zero(); size], |a, b| a.into_iter().zip(b).map(|(x, y)| x + y).collect())
    })
}

fn dim(op: &str, image: usize, kernel: usize, stride: usize, pb: usize, pe: usize, dilation: usize) -> Result<Dim> {
    if stride == 0 || dilation == 0 || kernel == 0 {
        return Err(Error::runtime(format!("{op}: stride, dilation and kernel size must be positive")));
    }
    let span = dilation * (kernel - 1) + 1;
    if image + pb + pe < span {
        return Err(Error::runtime(format!(
            "{op}: calculated padded input size per channel ({}) is smaller than the dilated kernel size ({span}); \
             kernel size can't be greater than actual input size",
            image + pb + pe
        )));
    }
    Ok(Dim { image, grid: (image + pb + pe - span) / stride + 1, kernel, stride, pad: pb, dilation })
}

fn check_common(op: &str, x: &Tensor, w: &Tensor, b: Option<&Tensor>) -> Result<()> {
    if x.ndim() != 4 || w.ndim() != 4 {
        return Err(Error::runtime(format!(
            "{op}: expected a 4-D input (N, C, H, W) and 4-D weight, got input {:?} and weight {:?}",
            x.shape, w.shape
        )));
    }
    if !x.dtype.is_float() || x.dtype != w.dtype || b.is_some_and(|b| b.dtype != x.dtype) {
        return Err(Error::runtime(format!(
            "{op}: input, weight and bias must have the same floating point dtype (got {} and {})",
            x.dtype.name(),
            w.dtype.name()
        )));
    }
    super::same_device(op, x, w)
}

fn contiguous_data(t: &Tensor) -> Result<Tensor> {
    shape::contiguous(&t.detach())
}

/// Runs `f::<T>` for the tensor's float dtype.
macro_rules! float_dispatch {
    ($dtype:expr, $op:expr, $T:ident => $body:expr) => {
        match $dtype {
            DType::F32 => {
                type $T = f32;
                $body
            }
            DType::F64 => {
                type $T = f64;
                $body
            }
            d => return Err(Error::type_(format!("{}: expected a floating point tensor, got {}", $op, d.name()))),
        }
    };
}

/// `conv2d(x, w, b)`: x (N, C, H, W), w (O, C/groups, kh, kw), b (O).
pub fn conv2d(x: &Tensor, w: &Tensor, b: Option<&Tensor>, spec: ConvSpec) -> Result<Tensor> {
    let op = "conv2d";
    check_common(op, x, w, b)?;
    let (n, c, hh, ww) = (x.shape[0], x.shape[1], x.shape[2], x.shape[3]);
    let (o, cg, kh, kw) = (w.shape[0], w.shape[1], w.shape[2], w.shape[3]);
    let g = spec.groups;
    if g == 0 || c % g != 0 || o % g != 0 || cg * g != c {
        return Err(Error::runtime(format!(
            "{op}: input of shape {:?} with groups={g} expects weight of shape [O, {}, kh, kw] with O divisible \
             by groups, got weight {:?} (channels must be divisible by groups)",
            x.shape,
            if g > 0 { c / g } else { 0 },
            w.shape
        )));
    }
    if let Some(b) = b {
        if b.shape != [o] {
            return Err(Error::runtime(format!("{op}: bias of shape {:?} should be [{o}] for weight {:?}", b.shape, w.shape)));
        }
    }
    let h = dim(op, hh, kh, spec.stride[0], spec.pad_begin[0], spec.pad_end[0], spec.dilation[0])?;
    let wd = dim(op, ww, kw, spec.stride[1], spec.pad_begin[1], spec.pad_end[1], spec.dilation[1])?;
    let geo = Geo { n, groups: g, cg, og: o / g, h, w: wd };
    let (xc, wc) = (contiguous_data(x)?, contiguous_data(w)?);
    let bc = b.map(contiguous_data).transpose()?;
    let out_shape = [n, o, h.grid, wd.grid];
    let out = float_dispatch!(x.dtype, op, T => {
        let bias = bc.as_ref().map(|t| t.data::<T>());
        let v = grid_from_image(&xc.data::<T>(), &wc.data::<T>(), bias.as_deref(), geo);
        Tensor::from_vec_unchecked(v, &out_shape)
    });
    record_conv(out, "Conv2d", x, w, b, (xc, wc), geo, false)
}

/// `conv_transpose2d(x, w, b)`: x (N, Cin, H, W), w (Cin, Cout/groups, kh, kw);
/// the output is the image whose convolution with `w` has the shape of x.
pub fn conv_transpose2d(x: &Tensor, w: &Tensor, b: Option<&Tensor>, spec: ConvSpec, output_padding: [usize; 2]) -> Result<Tensor> {
    let op = "conv_transpose2d";
    check_common(op, x, w, b)?;
    let (n, cin, hh, ww) = (x.shape[0], x.shape[1], x.shape[2], x.shape[3]);
    let (wc_in, cout_g, kh, kw) = (w.shape[0], w.shape[1], w.shape[2], w.shape[3]);
    let g = spec.groups;
    if g == 0 || cin % g != 0 || wc_in != cin {
        return Err(Error::runtime(format!(
            "{op}: input of shape {:?} with groups={g} expects weight of shape [{cin}, Cout/groups, kh, kw], got {:?}",
            x.shape, w.shape
        )));
    }
    let cout = cout_g * g;
    if let Some(b) = b {
        if b.shape != [cout] {
            return Err(Error::runtime(format!("{op}: bias of shape {:?} should be [{cout}]", b.shape)));
        }
    }
    let mut dims = [Dim { image: 0, grid: 0, kernel: 0, stride: 1, pad: 0, dilation: 1 }; 2];
    for (i, (&inp, &k)) in [hh, ww].iter().zip(&[kh, kw]).enumerate() {
        let (s, p, d, op_) = (spec.stride[i], spec.pad_begin[i], spec.dilation[i], output_padding[i]);
        if s == 0 || d == 0 {
            return Err(Error::runtime(format!("{op}: stride and dilation must be positive")));
        }
        if op_ >= s.max(d) {
            return Err(Error::runtime(format!(
                "{op}: output padding must be smaller than either stride or dilation, got output_padding={op_}, stride={s}, dilation={d}"
            )));
        }
        let full = (inp.max(1) - 1) * s + d * (k - 1) + op_ + 1;
        if full <= 2 * p || inp == 0 {
            return Err(Error::runtime(format!(
                "{op}: output size is non-positive for input {:?}, kernel {k}, stride {s}, padding {p}",
                x.shape
            )));
        }
        let image = full - 2 * p;
        dims[i] = Dim { image, grid: inp, kernel: k, stride: s, pad: p, dilation: d };
    }
    // the conv whose backward this is: image channels = cout, filters = cin
    let geo = Geo { n, groups: g, cg: cout_g, og: cin / g, h: dims[0], w: dims[1] };
    let (xc, wc) = (contiguous_data(x)?, contiguous_data(w)?);
    let out_shape = [n, cout, dims[0].image, dims[1].image];
    let out = float_dispatch!(x.dtype, op, T => {
        Tensor::from_vec_unchecked(image_from_grid(&xc.data::<T>(), &wc.data::<T>(), geo), &out_shape)
    });
    let out = match b {
        Some(bias) => super::add(&out, &shape::reshape(&bias.detach(), &[1, cout as i64, 1, 1])?)?,
        None => out,
    };
    record_conv(out.detach(), "ConvTranspose2d", x, w, b, (xc, wc), geo, true)
}

/// Records the backward of either convolution. For conv2d the input is the
/// image and the gradient the grid; for the transposed one the roles swap,
/// so the same three kernels serve both.
#[allow(clippy::too_many_arguments)]
fn record_conv(
    out: Tensor,
    name: &'static str,
    x: &Tensor,
    w: &Tensor,
    b: Option<&Tensor>,
    (xc, wc): (Tensor, Tensor),
    geo: Geo,
    transposed: bool,
) -> Result<Tensor> {
    let mut inputs = vec![x, w];
    if let Some(b) = b {
        inputs.push(b);
    }
    if !needs_grad(&inputs) {
        return Ok(out);
    }
    let (rx, rw) = (x.requires_grad(), w.requires_grad());
    let (bias_t, dt) = (b.cloned(), x.dtype);
    let (x_shape, w_shape) = (x.shape.clone(), w.shape.clone());
    let back = move |gout: &Tensor| -> Result<Vec<Option<Tensor>>> {
        let gy = contiguous_data(gout)?;
        let (dx, dw) = float_dispatch!(dt, name, T => {
            let (gyv, xv, wv) = (gy.data::<T>(), xc.data::<T>(), wc.data::<T>());
            let dx = rx.then(|| if transposed { grid_from_image(&gyv, &wv, None, geo) } else { image_from_grid(&gyv, &wv, geo) });
            let dw = rw.then(|| if transposed { filter_grad(&gyv, &xv, geo) } else { filter_grad(&xv, &gyv, geo) });
            (dx.map(|v| Tensor::from_vec_unchecked(v, &x_shape)), dw.map(|v| Tensor::from_vec_unchecked(v, &w_shape)))
        });
        let mut grads = vec![dx, dw];
        if let Some(b) = &bias_t {
            // the bias runs along dim 1 of the output (grid for conv, image for convᵀ)
            let (c, plane) = if transposed { (geo.cg * geo.groups, geo.image_plane()) } else { (geo.og * geo.groups, geo.grid_plane()) };
            grads.push(if b.requires_grad() {
                Some(float_dispatch!(dt, name, T => Tensor::from_vec_unchecked(channel_sums(&gy.data::<T>(), geo.n, c, plane), &[c])))
            } else {
                None
            });
        }
        Ok(grads)
    };
    let saved = inputs.clone();
    Ok(record(out, name, &inputs, &saved, Box::new(back)))
}
