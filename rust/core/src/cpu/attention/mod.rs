//! Tiled attention with online softmax (Dao et al., 2022, "FlashAttention";
//! backward as in FlashAttention-2): `O = softmax(Q Kᵀ·scale + M) V` on
//! contiguous `(BH, L, E)` / `(BH, S, E)` / `(BH, S, Ev)` data, never
//! materialising the `L×S` score matrix: memory is O(T·d) per head plus a
//! few tiles per thread.
//!
//! * `forward.rs` / `backward.rs`: the kernels. Tiles of 96 query rows ×
//!   96 keys; every product runs on the GEMM micro-kernel over operands
//!   packed once per head (`packed.rs`); score tiles are written by the
//!   micro-kernel one NR-wide sliver at a time with row stride NR, which is
//!   the B-panel layout of the next product, so P (and in the backward dS
//!   for dKᵀ) is never repacked. Mask, causal limit, 2^x and sums run in
//!   one pass per sliver (`rows.rs`). Under `causal` (top-left aligned,
//!   key j visible to query i iff j ≤ i, as torch) fully hidden tiles are
//!   skipped and diagonal tiles trimmed to the slivers that see keys.
//! * `blis.rs`: the first version (one BLIS GEMM call per tile product),
//!   kept as the reference the kernels are tested against.
//!
//! Work split: one task per head when there are at least two heads per
//! thread (equal work per task, causal or not; the backward recomputes each
//! tile once for dQ, dK and dV); otherwise tasks per (head, query block)
//! and, in the backward, a second pass per (head, key block), so no two
//! tasks ever write the same row.

mod backward;
pub mod blis;
mod forward;
mod packed;
mod rows;

use crate::cpu::gemm::kernel::GemmElem;
use crate::cpu::simd::dot;

pub use crate::cpu::fastmath::ExpFast;

/// The element types the kernel runs on. The exponential of every score is
/// the non-GEMM hot spot of attention; the packed kernels fold log2(e) into
/// the score product's alpha and take `2^x`, which needs no multiply and
/// whose range reduction `x − round(x)` is exact (no two-part ln 2).
pub trait AttnFloat: ExpFast {
    fn exp2_fast(self) -> Self;
}

impl AttnFloat for f64 {
    #[inline(always)]
    fn exp2_fast(self) -> f64 {
        self.exp2() // f64 callers are rare and want full precision
    }
}

impl AttnFloat for f32 {
    #[inline(always)]
    fn exp2_fast(self) -> f32 {
        exp2_f32(self)
    }
}

/// 2^x for f32: n = round(x) (the 1.5·2²³ trick), r = x − n in [−½, ½],
/// degree-6 Taylor polynomial of 2^r (relative error < 2e-7), scaled by 2ⁿ
/// built in the exponent bits. Inputs are clamped to [−126, 126] (so −∞
/// gives ~1e-38, callers select exact zeros); NaN propagates.
#[inline(always)]
pub fn exp2_f32(x: f32) -> f32 {
    const MAGIC: f32 = 12_582_912.0;
    const C: [f32; 6] = [
        std::f32::consts::LN_2,
        0.240_226_5,
        0.055_504_11,
        0.009_618_129,
        0.001_333_355_8,
        0.000_154_035_3,
    ];
    let x = x.clamp(-126.0, 126.0);
    let t = x + MAGIC;
    let n = t - MAGIC;
    let r = x - n;
    let p = 1.0 + r * (C[0] + r * (C[1] + r * (C[2] + r * (C[3] + r * (C[4] + r * C[5])))));
    let ni = (t.to_bits() as i32) - 0x4B40_0000;
    p * f32::from_bits(((ni + 127) as u32) << 23)
}

/// log2(e) and ln(2) in the element type.
#[inline(always)]
fn log2e<T: AttnFloat>() -> T {
    T::from_f64(std::f64::consts::LOG2_E)
}
#[inline(always)]
fn ln2<T: AttnFloat>() -> T {
    T::from_f64(std::f64::consts::LN_2)
}

#[derive(Debug, Clone, Copy)]
pub struct AttnShape {
    pub bh: usize,
    pub l: usize,
    pub s: usize,
    pub e: usize,
    pub ev: usize,
    pub scale: f64,
    pub causal: bool,
}

/// An additive float mask: `(1, L, S)` shared by every batch·head, or `(BH, L, S)`.
#[derive(Clone, Copy)]
pub struct Mask<'a, T> {
    pub data: &'a [T],
    pub per_head: bool,
}

/// The inputs of one call.
pub(crate) struct Inputs<'a, T> {
    q: &'a [T],
    k: &'a [T],
    v: &'a [T],
    mask: Option<Mask<'a, T>>,
    sh: AttnShape,
}

impl<'a, T: AttnFloat> Inputs<'a, T> {
    /// Keys visible to query row `i` end before this index (causal limit).
    fn key_end(&self, i: usize) -> usize {
        if self.sh.causal {
            (i + 1).min(self.sh.s)
        } else {
            self.sh.s
        }
    }

    /// Mask and causal limit of the tile (rows i0.., keys j0..) of head `b`.
    fn tile_rows(
        &self,
        b: usize,
        i0: usize,
        nq: usize,
        j0: usize,
        nk: usize,
        ld: usize,
    ) -> rows::TileRows<'a, T> {
        let (l, s) = (self.sh.l, self.sh.s);
        rows::TileRows {
            nq,
            nk,
            ld,
            mask: self.mask.map(|m| {
                let base = if m.per_head { b * l * s } else { 0 } + i0 * s + j0;
                (&m.data[base..], s)
            }),
            causal: self.sh.causal.then_some(i0 as isize + 1 - j0 as isize),
        }
    }
}

/// Output `(BH, L, Ev)` and the row logsumexp `(BH, L)`. All sizes must be > 0.
pub fn flash_forward<T: AttnFloat + GemmElem>(
    q: &[T],
    k: &[T],
    v: &[T],
    mask: Option<Mask<T>>,
    sh: AttnShape,
) -> (Vec<T>, Vec<T>) {
    forward::forward(&Inputs { q, k, v, mask, sh })
}

/// (dQ, dK, dV) from the upstream gradient `g` `(BH, L, Ev)`, the forward
/// output `o` and its row logsumexp.
#[allow(clippy::too_many_arguments)]
pub fn flash_backward<T: AttnFloat + GemmElem>(
    q: &[T],
    k: &[T],
    v: &[T],
    mask: Option<Mask<T>>,
    sh: AttnShape,
    o: &[T],
    lse: &[T],
    g: &[T],
) -> (Vec<T>, Vec<T>, Vec<T>) {
    let ev = sh.ev;
    // D_i = dO_i·O_i, the row term of the softmax gradient
    let dvec: Vec<T> = (0..sh.bh * sh.l)
        .map(|r| dot(&g[r * ev..][..ev], &o[r * ev..][..ev]))
        .collect();
    backward::backward(&Inputs { q, k, v, mask, sh }, g, lse, &dvec)
}

#[cfg(test)]
mod tests;
