//! Convolution building blocks: im2col / col2im (which turn a convolution
//! into one GEMM per sample and group) and a direct depthwise kernel (one
//! input channel per filter, where a GEMM of depth kh·kw would waste it).
//!
//! Geometry is always stated from the convolution's point of view: the
//! "image" plane is the larger side (conv input, or transposed-conv output),
//! the "grid" plane is where the kernel is placed (conv output).

use super::simd::{axpy, dot, sum};
use super::Float;

/// One spatial dimension of a convolution.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Dim {
    /// image size (conv input)
    pub image: usize,
    /// grid size (conv output)
    pub grid: usize,
    pub kernel: usize,
    pub stride: usize,
    /// zeros before the image (after-padding only shows in `grid`)
    pub pad: usize,
    pub dilation: usize,
}

impl Dim {
    /// Image coordinate read by grid position `o` and kernel tap `k`, if inside.
    #[inline(always)]
    fn src(&self, o: usize, k: usize) -> Option<usize> {
        let i = (o * self.stride + k * self.dilation) as isize - self.pad as isize;
        (i >= 0 && (i as usize) < self.image).then_some(i as usize)
    }
    /// Grid positions whose tap `k` lands inside the image: [lo, hi).
    fn valid_range(&self, k: usize) -> (usize, usize) {
        let off = k * self.dilation;
        // o*stride + off >= pad  and  o*stride + off < pad + image
        let lo = if off >= self.pad { 0 } else { (self.pad - off).div_ceil(self.stride) };
        let hi = if self.pad + self.image > off { (self.pad + self.image - off).div_ceil(self.stride) } else { 0 };
        (lo.min(self.grid), hi.min(self.grid).max(lo.min(self.grid)))
    }
}

/// cols[(c·kh + i)·kw + j, oh·gw + ow] = image[c, src_h(oh, i), src_w(ow, j)] (0 outside).
/// `image` is channels × H × W contiguous; `cols` has channels·kh·kw rows of gh·gw.
pub fn im2col<T: Float>(image: &[T], channels: usize, h: Dim, w: Dim, cols: &mut [T]) {
    let (gh, gw) = (h.grid, w.grid);
    let plane = h.image * w.image;
    for c in 0..channels {
        let img = &image[c * plane..(c + 1) * plane];
        for i in 0..h.kernel {
            for j in 0..w.kernel {
                let row = ((c * h.kernel + i) * w.kernel + j) * gh * gw;
                let dst = &mut cols[row..row + gh * gw];
                let (lo, hi) = w.valid_range(j);
                for oh in 0..gh {
                    let out = &mut dst[oh * gw..(oh + 1) * gw];
                    match h.src(oh, i) {
                        None => out.fill(T::zero()),
                        Some(ih) => {
                            let src_row = &img[ih * w.image..(ih + 1) * w.image];
                            out[..lo].fill(T::zero());
                            out[hi..].fill(T::zero());
                            if w.stride == 1 {
                                let start = lo + j * w.dilation - w.pad;
                                out[lo..hi].copy_from_slice(&src_row[start..start + (hi - lo)]);
                            } else {
                                for (ow, o) in out.iter_mut().enumerate().take(hi).skip(lo) {
                                    *o = src_row[ow * w.stride + j * w.dilation - w.pad];
                                }
                            }
                        }
                    }
                }
            }
        }
    }
}

/// The adjoint of `im2col`: image[c, …] += every cols entry that read it.
pub fn col2im<T: Float>(cols: &[T], channels: usize, h: Dim, w: Dim, image: &mut [T]) {
    let (gh, gw) = (h.grid, w.grid);
    let plane = h.image * w.image;
    for c in 0..channels {
        let img = &mut image[c * plane..(c + 1) * plane];
        for i in 0..h.kernel {
            for j in 0..w.kernel {
                let row = ((c * h.kernel + i) * w.kernel + j) * gh * gw;
                let src = &cols[row..row + gh * gw];
                let (lo, hi) = w.valid_range(j);
                for oh in 0..gh {
                    if let (Some(ih), true) = (h.src(oh, i), lo < hi) {
                        let dst_row = &mut img[ih * w.image..(ih + 1) * w.image];
                        let s = &src[oh * gw + lo..oh * gw + hi];
                        let first = lo * w.stride + j * w.dilation - w.pad;
                        if w.stride == 1 {
                            axpy(&mut dst_row[first..first + (hi - lo)], T::one(), s);
                        } else {
                            for (t, &v) in s.iter().enumerate() {
                                let iw = first + t * w.stride;
                                dst_row[iw] = dst_row[iw] + v;
                            }
                        }
                    }
                }
            }
        }
    }
}

/// Σ over samples and plane positions of `x` (N, C, plane): the bias
/// gradient of a convolution, one vectorised sum per plane (the generic
/// reduction over dims (0, 2, 3) first gathers a permuted copy).
pub fn channel_sums<T: Float>(x: &[T], n: usize, c: usize, plane: usize) -> Vec<T> {
    let mut out = vec![T::zero(); c];
    if plane == 0 {
        return out;
    }
    for (i, p) in x.chunks_exact(plane).take(n * c).enumerate() {
        out[i % c] = out[i % c] + sum(p);
    }
    out
}

/// dW[o, t] += ⟨dy[o], panel[t]⟩ for `og` rows of dy and `k` rows of the
/// panel, each `gp` long: the filter gradient of one sample when k is so
/// small (LeNet's first layer: k = 9) that a packed GEMM would spend its
/// time packing and padding a 9-wide tile.
pub fn filter_grad_dots<T: Float>(dy: &[T], panel: &[T], og: usize, k: usize, gp: usize, dw: &mut [T]) {
    for o in 0..og {
        let d = &dy[o * gp..(o + 1) * gp];
        for t in 0..k {
            dw[o * k + t] = dw[o * k + t] + dot(d, &panel[t * gp..(t + 1) * gp]);
        }
    }
}

/// Depthwise forward for one channel: out[oh, ow] = Σ_ij img[src] · k[i, j] (+ bias).
pub fn depthwise_fwd<T: Float>(img: &[T], k: &[T], bias: T, h: Dim, w: Dim, out: &mut [T]) {
    out.fill(bias);
    for i in 0..h.kernel {
        for j in 0..w.kernel {
            let kv = k[i * w.kernel + j];
            let (lo, hi) = w.valid_range(j);
            for oh in 0..h.grid {
                if let (Some(ih), true) = (h.src(oh, i), lo < hi) {
                    let src_row = &img[ih * w.image..(ih + 1) * w.image];
                    let o = &mut out[oh * w.grid + lo..oh * w.grid + hi];
                    let first = lo * w.stride + j * w.dilation - w.pad;
                    if w.stride == 1 {
                        axpy(o, kv, &src_row[first..first + (hi - lo)]);
                    } else {
                        for (t, ov) in o.iter_mut().enumerate() {
                            *ov = *ov + kv * src_row[first + t * w.stride];
                        }
                    }
                }
            }
        }
    }
}

/// Depthwise backward-data for one channel: dimg += dout ⋆ kᵀ.
pub fn depthwise_bwd_data<T: Float>(k: &[T], dout: &[T], h: Dim, w: Dim, dimg: &mut [T]) {
    for i in 0..h.kernel {
        for j in 0..w.kernel {
            let kv = k[i * w.kernel + j];
            let (lo, hi) = w.valid_range(j);
            for oh in 0..h.grid {
                if let (Some(ih), true) = (h.src(oh, i), lo < hi) {
                    let g = &dout[oh * w.grid + lo..oh * w.grid + hi];
                    let row = &mut dimg[ih * w.image..(ih + 1) * w.image];
                    let first = lo * w.stride + j * w.dilation - w.pad;
                    if w.stride == 1 {
                        axpy(&mut row[first..first + (hi - lo)], kv, g);
                    } else {
                        for (t, &gv) in g.iter().enumerate() {
                            let iw = first + t * w.stride;
                            row[iw] = row[iw] + gv * kv;
                        }
                    }
                }
            }
        }
    }
}

/// Depthwise backward-filter for one channel: dk[i, j] += Σ dout · img[src].
pub fn depthwise_bwd_filter<T: Float>(img: &[T], dout: &[T], h: Dim, w: Dim, dk: &mut [T]) {
    for i in 0..h.kernel {
        for j in 0..w.kernel {
            let (lo, hi) = w.valid_range(j);
            let mut acc = T::zero();
            for oh in 0..h.grid {
                if let (Some(ih), true) = (h.src(oh, i), lo < hi) {
                    let g = &dout[oh * w.grid + lo..oh * w.grid + hi];
                    let row = &img[ih * w.image..(ih + 1) * w.image];
                    let first = lo * w.stride + j * w.dilation - w.pad;
                    if w.stride == 1 {
                        acc = acc + dot(g, &row[first..first + (hi - lo)]);
                    } else {
                        for (t, &gv) in g.iter().enumerate() {
                            acc = acc + gv * row[first + t * w.stride];
                        }
                    }
                }
            }
            dk[i * w.kernel + j] = dk[i * w.kernel + j] + acc;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dim(image: usize, kernel: usize, stride: usize, pad: usize, dilation: usize) -> Dim {
        let grid = (image + 2 * pad - dilation * (kernel - 1) - 1) / stride + 1;
        Dim { image, grid, kernel, stride, pad, dilation }
    }

    #[test]
    fn channel_sums_and_filter_dots_match_plain_loops() {
        let (n, c, plane) = (3, 4, 37);
        let x: Vec<f64> = (0..n * c * plane).map(|v| ((v * 7 % 23) as f64) - 11.0).collect();
        let want: Vec<f64> = (0..c).map(|ch| (0..n).map(|i| x[(i * c + ch) * plane..][..plane].iter().sum::<f64>()).sum()).collect();
        assert_eq!(channel_sums(&x, n, c, plane), want);
        let (og, k, gp) = (3, 5, 29);
        let dy: Vec<f64> = (0..og * gp).map(|v| ((v * 5 % 13) as f64) - 6.0).collect();
        let panel: Vec<f64> = (0..k * gp).map(|v| ((v * 3 % 17) as f64) - 8.0).collect();
        let mut dw = vec![1.0; og * k];
        filter_grad_dots(&dy, &panel, og, k, gp, &mut dw);
        for o in 0..og {
            for t in 0..k {
                let d: f64 = (0..gp).map(|p| dy[o * gp + p] * panel[t * gp + p]).sum();
                assert_eq!(dw[o * k + t], 1.0 + d);
            }
        }
    }

    /// ⟨im2col(x), y⟩ = ⟨x, col2im(y)⟩: the two are adjoint, for odd geometries.
    #[test]
    fn col2im_is_the_adjoint_of_im2col() {
        for &(hh, ww, k, s, p, d) in &[(5, 7, 3, 1, 1, 1), (6, 5, 2, 2, 0, 1), (9, 8, 3, 2, 2, 2), (4, 4, 1, 3, 0, 1)] {
            let (h, w) = (dim(hh, k, s, p, d), dim(ww, k, s, p, d));
            let c = 2;
            let x: Vec<f64> = (0..c * hh * ww).map(|v| ((v * 7 % 11) as f64) - 5.0).collect();
            let n = c * k * k * h.grid * w.grid;
            let y: Vec<f64> = (0..n).map(|v| ((v * 5 % 13) as f64) - 6.0).collect();
            let mut cols = vec![0.0; n];
            im2col(&x, c, h, w, &mut cols);
            let mut back = vec![0.0; x.len()];
            col2im(&y, c, h, w, &mut back);
            let lhs: f64 = cols.iter().zip(&y).map(|(a, b)| a * b).sum();
            let rhs: f64 = x.iter().zip(&back).map(|(a, b)| a * b).sum();
            assert!((lhs - rhs).abs() < 1e-9, "{lhs} vs {rhs}");
        }
    }
}
