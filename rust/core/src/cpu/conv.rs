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
    /// Stride 1, dilation 1 and grid as wide as the image ('same' padding,
    /// the 3×3 pad-1 layers of LeNet / VGG / ResNet): then grid position q
    /// reads flat image position q + shift for every tap, see `FlatShift`.
    fn unit(&self) -> bool {
        self.stride == 1 && self.dilation == 1
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

/// When both dims have stride 1 and dilation 1 and the grid is exactly as
/// wide as the image, the panel row of tap (i, j) is the image plane read at
/// a constant flat offset `(i - pad_h)·W + (j - pad_w)`: one contiguous copy
/// (or add, for col2im) over the grid rows whose source row exists, after
/// which only the `pad`-wide column strips that wrapped around to the
/// neighbouring image row are wrong. im2col zeroes them (and the rows above
/// and below); col2im zeroes them in the panel before adding, so they add 0.
/// That replaces a copy / axpy call per grid row (14–28 elements in LeNet,
/// dominated by call overhead) with one per tap.
#[derive(Clone, Copy)]
struct FlatShift {
    /// grid rows with a source row: [row_lo, row_hi)
    row_lo: usize,
    row_hi: usize,
    /// columns inside the image: [col_lo, col_hi); the others wrapped
    col_lo: usize,
    col_hi: usize,
    /// flat offset from grid position to image position
    shift: isize,
    /// the flat grid range [q_lo, q_hi) whose image positions are in the
    /// plane (a superset of the valid entries, within the valid rows)
    q_lo: usize,
    q_hi: usize,
}

impl FlatShift {
    /// Whether the flat shifted copy applies to this geometry: unit stride
    /// and dilation both ways, and grid rows as wide as image rows.
    fn applies(h: Dim, w: Dim) -> bool {
        h.unit() && w.unit() && w.grid == w.image
    }

    /// The shift of tap (i, j); only for geometries where [`Self::applies`].
    fn new(h: Dim, w: Dim, i: usize, j: usize) -> FlatShift {
        let ((row_lo, row_hi), (col_lo, col_hi)) = (h.valid_range(i), w.valid_range(j));
        let width = w.image as isize;
        let shift = (i as isize - h.pad as isize) * width + j as isize - w.pad as isize;
        let plane = (h.image * w.image) as isize;
        // (clamped into the valid rows; empty when no row or tap is inside)
        let q_lo = (row_lo as isize * width).max(-shift).min(row_hi as isize * width) as usize;
        let q_hi = (row_hi as isize * width).min(plane - shift).max(q_lo as isize) as usize;
        FlatShift { row_lo, row_hi, col_lo, col_hi, shift, q_lo, q_hi }
    }

    /// Sets the wrapped columns of the valid rows of a grid plane to zero.
    #[inline]
    fn zero_wrapped<T: Float>(&self, plane: &mut [T], gw: usize) {
        for row in plane[self.row_lo * gw..self.row_hi * gw].chunks_exact_mut(gw) {
            // one or two elements per row in practice: element stores, not
            // a memset call each
            for v in &mut row[..self.col_lo] {
                *v = T::zero();
            }
            for v in &mut row[self.col_hi..] {
                *v = T::zero();
            }
        }
    }
}

/// cols[(c·kh + i)·kw + j, oh·gw + ow] = image[c, src_h(oh, i), src_w(ow, j)] (0 outside).
/// `image` is channels × H × W contiguous; `cols` has channels·kh·kw rows of gh·gw.
pub fn im2col<T: Float>(image: &[T], channels: usize, h: Dim, w: Dim, cols: &mut [T]) {
    im2col_pitch(image, channels, h, w, cols, h.grid * w.grid)
}

/// `im2col` with panel row r at `cols[r·pitch ..][.. gh·gw]` (pitch ≥ gh·gw):
/// several samples' panels side by side in one GEMM operand.
pub fn im2col_pitch<T: Float>(image: &[T], channels: usize, h: Dim, w: Dim, cols: &mut [T], pitch: usize) {
    let (gh, gw) = (h.grid, w.grid);
    let plane = h.image * w.image;
    if FlatShift::applies(h, w) {
        for c in 0..channels {
            let img = &image[c * plane..(c + 1) * plane];
            for i in 0..h.kernel {
                for j in 0..w.kernel {
                    let row = ((c * h.kernel + i) * w.kernel + j) * pitch;
                    let dst = &mut cols[row..row + gh * gw];
                    let f = FlatShift::new(h, w, i, j);
                    dst[..f.q_lo].fill(T::zero());
                    dst[f.q_hi..].fill(T::zero());
                    if f.q_hi > f.q_lo {
                        // q_lo + shift >= 0 and q_hi + shift <= plane (FlatShift::new)
                        let s = (f.q_lo as isize + f.shift) as usize;
                        dst[f.q_lo..f.q_hi].copy_from_slice(&img[s..s + (f.q_hi - f.q_lo)]);
                    }
                    f.zero_wrapped(dst, gw);
                }
            }
        }
        return;
    }
    let plane = h.image * w.image;
    for c in 0..channels {
        let img = &image[c * plane..(c + 1) * plane];
        for i in 0..h.kernel {
            for j in 0..w.kernel {
                let row = ((c * h.kernel + i) * w.kernel + j) * pitch;
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
/// `cols` is scratch: the flat-shift path zeroes its wrapped columns.
pub fn col2im<T: Float>(cols: &mut [T], channels: usize, h: Dim, w: Dim, image: &mut [T]) {
    col2im_pitch(cols, h.grid * w.grid, channels, h, w, image)
}

/// `col2im` reading panel row r at `cols[r·pitch ..][.. gh·gw]`.
pub fn col2im_pitch<T: Float>(cols: &mut [T], pitch: usize, channels: usize, h: Dim, w: Dim, image: &mut [T]) {
    let (gh, gw) = (h.grid, w.grid);
    let plane = h.image * w.image;
    if FlatShift::applies(h, w) {
        for c in 0..channels {
            let img = &mut image[c * plane..(c + 1) * plane];
            for i in 0..h.kernel {
                for j in 0..w.kernel {
                    let row = ((c * h.kernel + i) * w.kernel + j) * pitch;
                    let src = &mut cols[row..row + gh * gw];
                    let f = FlatShift::new(h, w, i, j);
                    if f.q_hi > f.q_lo {
                        f.zero_wrapped(src, gw);
                        let s = (f.q_lo as isize + f.shift) as usize;
                        axpy(&mut img[s..s + (f.q_hi - f.q_lo)], T::one(), &src[f.q_lo..f.q_hi]);
                    }
                }
            }
        }
        return;
    }
    for c in 0..channels {
        let img = &mut image[c * plane..(c + 1) * plane];
        for i in 0..h.kernel {
            for j in 0..w.kernel {
                let row = ((c * h.kernel + i) * w.kernel + j) * pitch;
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

    /// Odd geometries, stride-1 'same' ones (the flat-shift path) included:
    /// tiny images under big padding, even kernels (uneven reach), 1×1.
    const GEOMETRIES: [(usize, usize, usize, usize, usize, usize); 10] = [
        (5, 7, 3, 1, 1, 1),
        (6, 5, 2, 2, 0, 1),
        (9, 8, 3, 2, 2, 2),
        (4, 4, 1, 3, 0, 1),
        (1, 1, 3, 1, 1, 1),
        (2, 3, 5, 1, 2, 1),
        (7, 6, 5, 1, 2, 1),
        (3, 4, 1, 1, 0, 1),
        (6, 9, 3, 1, 0, 1),
        (4, 5, 7, 1, 3, 1),
    ];

    /// im2col, element by element from its definition.
    fn im2col_ref(x: &[f64], c: usize, h: Dim, w: Dim) -> Vec<f64> {
        let mut out = Vec::new();
        for ch in 0..c {
            for i in 0..h.kernel {
                for j in 0..w.kernel {
                    for oh in 0..h.grid {
                        for ow in 0..w.grid {
                            out.push(match (h.src(oh, i), w.src(ow, j)) {
                                (Some(ih), Some(iw)) => x[(ch * h.image + ih) * w.image + iw],
                                _ => 0.0,
                            });
                        }
                    }
                }
            }
        }
        out
    }

    #[test]
    fn im2col_matches_its_definition() {
        for &(hh, ww, k, s, p, d) in &GEOMETRIES {
            let (h, w) = (dim(hh, k, s, p, d), dim(ww, k, s, p, d));
            let c = 3;
            let x: Vec<f64> = (0..c * hh * ww).map(|v| v as f64 + 1.0).collect();
            // NaN in the buffer: a position im2col fails to write shows up
            let mut cols = vec![f64::NAN; c * k * k * h.grid * w.grid];
            im2col(&x, c, h, w, &mut cols);
            assert_eq!(cols, im2col_ref(&x, c, h, w), "geometry {:?}", (hh, ww, k, s, p, d));
            // the same rows at a wider pitch (samples side by side), gaps untouched
            let (rows, gp) = (c * k * k, h.grid * w.grid);
            let mut wide = vec![-1.0; rows * (gp + 3)];
            im2col_pitch(&x, c, h, w, &mut wide, gp + 3);
            for r in 0..rows {
                assert_eq!(wide[r * (gp + 3)..][..gp], cols[r * gp..][..gp]);
                assert_eq!(wide[r * (gp + 3) + gp..][..3], [-1.0; 3]);
            }
            // col2im at that pitch equals col2im of the packed rows
            let (mut a, mut b) = (vec![0.0; x.len()], vec![0.0; x.len()]);
            col2im(&mut cols.clone(), c, h, w, &mut a);
            col2im_pitch(&mut wide, gp + 3, c, h, w, &mut b);
            assert_eq!(a, b);
        }
        // 'same' with an even kernel: padding 1 before, 2 after (grid = image)
        let d4 = |image| Dim { image, grid: image, kernel: 4, stride: 1, pad: 1, dilation: 1 };
        let (h, w) = (d4(5), d4(6));
        let x: Vec<f64> = (0..2 * 30).map(|v| v as f64 + 1.0).collect();
        let mut cols = vec![f64::NAN; 2 * 16 * 30];
        im2col(&x, 2, h, w, &mut cols);
        assert_eq!(cols, im2col_ref(&x, 2, h, w));
    }

    /// ⟨im2col(x), y⟩ = ⟨x, col2im(y)⟩: the two are adjoint, for odd geometries.
    #[test]
    fn col2im_is_the_adjoint_of_im2col() {
        for &(hh, ww, k, s, p, d) in &GEOMETRIES {
            let (h, w) = (dim(hh, k, s, p, d), dim(ww, k, s, p, d));
            let c = 2;
            let x: Vec<f64> = (0..c * hh * ww).map(|v| ((v * 7 % 11) as f64) - 5.0).collect();
            let n = c * k * k * h.grid * w.grid;
            let y: Vec<f64> = (0..n).map(|v| ((v * 5 % 13) as f64) - 6.0).collect();
            let mut cols = vec![0.0; n];
            im2col(&x, c, h, w, &mut cols);
            let mut back = vec![0.0; x.len()];
            col2im(&mut y.clone(), c, h, w, &mut back);
            let lhs: f64 = cols.iter().zip(&y).map(|(a, b)| a * b).sum();
            let rhs: f64 = x.iter().zip(&back).map(|(a, b)| a * b).sum();
            assert!((lhs - rhs).abs() < 1e-9, "{lhs} vs {rhs}");
        }
    }
}
