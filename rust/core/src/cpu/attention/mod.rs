//! Tiled attention with online softmax (Dao et al., 2022, "FlashAttention";
//! backward as in FlashAttention-2): `O = softmax(Q Kᵀ·scale + M) V` on
//! contiguous `(BH, L, E)` / `(BH, S, E)` / `(BH, S, Ev)` data, never
//! materialising the `L×S` score matrix: memory is O(T·d) per head plus a
//! few tiles per thread.
//!
//! * `forward.rs` / `backward.rs`: the kernels. Tiles of 96 query rows ×
//!   96 keys; every product runs on the GEMM micro-kernel over operands
//!   packed once per head (`packed.rs`), with the mask, causal limit,
//!   exp and row sums fused into one pass per tile (`rows.rs`). Under
//!   `causal` (top-left aligned, key j visible to query i iff j ≤ i, as
//!   torch) fully hidden tiles are skipped.
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

/// The element types the kernel runs on (exp of every score is the non-GEMM
/// hot spot of attention: `exp_fast` is the vectorisable one in fastmath.rs).
pub use crate::cpu::fastmath::ExpFast as AttnFloat;

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
