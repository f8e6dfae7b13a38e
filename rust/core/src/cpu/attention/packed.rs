//! Packed operands and the tile product on them.
//!
//! A BLIS GEMM call packs both operands on every call; for attention's
//! tiles (depth d = 64, 96×96 tiles) that packing cost about as much as the
//! multiply-adds. Here every operand is packed once — K, V, Q, dO once per
//! head, in every orientation a product needs — and each tile product calls
//! the GEMM's register-tiled micro-kernel directly on those panels. The
//! score tiles come out of the micro-kernel already in panel layout (see
//! forward.rs / backward.rs); only dS is packed per tile (for dQ).
//!
//! Layout (the micro-kernel's, `gemm/kernel.rs`): `w`-lane slivers; element
//! (lane l of sliver s, depth p) at `data[s·stride + p·w + l]` with
//! `stride = depth·w`, so a depth range p0.. of every sliver starts at
//! `p0·w` — one head-wide panel serves every tile.

use crate::cpu::gemm::kernel::{GemmElem, Kernel};
use crate::cpu::gemm::pack::pack_sliver;
use crate::cpu::simd::level;

/// The micro-kernel and the tile sizes one call uses.
#[derive(Clone, Copy)]
pub(super) struct Plan<T> {
    pub kern: Kernel<T>,
    /// Kernels of the same NR whose MR pads E (`ke`) and Ev (`kv`) least:
    /// the products whose rows are head dims (Oᵀ, dKᵀ, dVᵀ) run on them,
    /// e.g. 8×32 for d = 64 where 12×32 would pad 64 rows to 72.
    pub ke: Kernel<T>,
    pub kv: Kernel<T>,
    /// Query rows per block and keys per tile: a multiple of both MR and NR
    /// so every block starts on a sliver of either kind of panel.
    pub bq: usize,
    pub bk: usize,
}

impl<T: GemmElem> Plan<T> {
    pub fn new(e: usize, ev: usize) -> Plan<T> {
        let kern = T::kernel(level());
        let cands = T::candidates(level());
        let narrow = |n: usize| {
            cands
                .iter()
                .filter(|k| k.nr == kern.nr)
                .min_by_key(|k| (n.next_multiple_of(k.mr), usize::MAX - k.mr))
                .copied()
                .unwrap_or(kern)
        };
        let lcm = lcm(kern.mr, kern.nr);
        // ~96 (the smallest multiple of lcm(12, 32) for AVX-512 f32): the
        // Q, K, V tiles of d = 64 (24 KiB each) and the score tile (36 KiB)
        // stay in L2. 48..192 measured alike (1-thread CPU time, T=512);
        // DLCORE_ATTN_TILE=n overrides it, for tuning and tests.
        let want: usize = std::env::var("DLCORE_ATTN_TILE")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(96);
        let tile = lcm * want.div_ceil(lcm).max(1);
        Plan {
            kern,
            ke: narrow(e),
            kv: narrow(ev),
            bq: tile,
            bk: tile,
        }
    }
    pub fn mr(&self) -> usize {
        self.kern.mr
    }
    pub fn nr(&self) -> usize {
        self.kern.nr
    }
}

fn lcm(a: usize, b: usize) -> usize {
    let (mut x, mut y) = (a, b);
    while y != 0 {
        (x, y) = (y, x % y);
    }
    a / x * b
}

/// One packed panel: `lanes` lanes (rounded up to slivers of `w`, zero
/// padded) by `depth` steps.
pub(super) struct Panel<T> {
    pub data: Vec<T>,
    pub w: usize,
    pub depth: usize,
}

impl<T: GemmElem> Panel<T> {
    pub fn empty() -> Panel<T> {
        Panel {
            data: Vec::new(),
            w: 1,
            depth: 0,
        }
    }

    /// Packs element (lane l, depth p) = `src[base + l·ls + p·ks]`, reusing
    /// this panel's buffer (no page faults from a fresh allocation per head).
    #[allow(clippy::too_many_arguments)]
    pub fn fill(
        &mut self,
        kern: &Kernel<T>,
        src: &[T],
        base: usize,
        ls: usize,
        ks: usize,
        lanes: usize,
        depth: usize,
        w: usize,
    ) {
        // every element is overwritten (padding lanes with zeros)
        self.data.resize(lanes.div_ceil(w) * w * depth, T::zero());
        pack_into(kern, &mut self.data, src, base, ls, ks, lanes, depth, w);
        (self.w, self.depth) = (w, depth);
    }

    /// The panel from sliver `s0` and depth `p0` on, with its sliver stride.
    pub fn at(&self, s0: usize, p0: usize) -> (&[T], usize) {
        let stride = self.depth * self.w;
        (&self.data[s0 * stride + p0 * self.w..], stride)
    }
}

/// Packs `lanes` lanes × `depth` steps into `dst` (slivers of `w`, stride
/// `depth·w`, the last sliver zero-padded); transposed sources (ks = 1) go
/// through the instruction set's block transpose.
#[allow(clippy::too_many_arguments)]
pub(super) fn pack_into<T: GemmElem>(
    kern: &Kernel<T>,
    dst: &mut [T],
    src: &[T],
    base: usize,
    ls: usize,
    ks: usize,
    lanes: usize,
    depth: usize,
    w: usize,
) {
    let stride = depth * w;
    for (s, d) in dst[..lanes.div_ceil(w) * stride]
        .chunks_exact_mut(stride)
        .enumerate()
    {
        let valid = w.min(lanes - s * w);
        let b = base + s * w * ls;
        // Contiguous lanes: fixed-width row copies (the shared packer calls
        // memmove per row for widths it has no case for, e.g. MR = 12).
        let done = ls == 1
            && valid == w
            && match w {
                4 => copy_rows::<T, 4>(src, b, ks, d),
                6 => copy_rows::<T, 6>(src, b, ks, d),
                8 => copy_rows::<T, 8>(src, b, ks, d),
                12 => copy_rows::<T, 12>(src, b, ks, d),
                14 => copy_rows::<T, 14>(src, b, ks, d),
                _ => false,
            };
        if !done {
            pack_sliver(src, b, ls, ks, valid, w, depth, d, kern.transpose);
        }
    }
}

/// `dst[p·W ..][..W] = src[base + p·ks ..][..W]`; always true.
#[inline(always)]
fn copy_rows<T: Copy, const W: usize>(src: &[T], base: usize, ks: usize, dst: &mut [T]) -> bool {
    for (p, d) in dst.chunks_exact_mut(W).enumerate() {
        let s = base + p * ks;
        let row: &[T; W] = src[s..s + W].try_into().expect("W elements");
        d.copy_from_slice(row);
    }
    true
}

/// `C = alpha·A·B + beta·C` over `ms` A slivers × `ns` B slivers of depth
/// `kc`: `a` / `b` start at the first sliver (strides `sa` / `sb`), C is
/// row-major with `ldc` and must hold every full MR×NR tile (callers pad).
#[allow(clippy::too_many_arguments)]
pub(super) fn gemm_packed<T: GemmElem>(
    kern: &Kernel<T>,
    ms: usize,
    ns: usize,
    kc: usize,
    a: (&[T], usize),
    b: (&[T], usize),
    alpha: T,
    beta: T,
    c: &mut [T],
    ldc: usize,
) {
    let (mr, nr) = (kern.mr, kern.nr);
    if ms == 0 || ns == 0 {
        return;
    }
    // One check per call keeps every pointer below in bounds.
    assert!(
        kc > 0
            && (ms - 1) * a.1 + kc * mr <= a.0.len()
            && (ns - 1) * b.1 + kc * nr <= b.0.len()
            && ns * nr <= ldc
            && (ms * mr - 1) * ldc + ns * nr <= c.len(),
        "attention: packed tile out of bounds"
    );
    let bz = beta == T::zero();
    for j in 0..ns {
        // the B sliver (kc×NR) stays in L1 while the A slivers stream past
        for i in 0..ms {
            // SAFETY: the assert above bounds sliver i of A (kc·MR values
            // from i·sa), sliver j of B (kc·NR from j·sb) and the C tile
            // (rows i·MR.., columns j·NR.. with row stride ldc); the kernel
            // comes from `GemmElem::kernel(level())`, which the CPU supports.
            unsafe {
                (kern.run)(
                    kc,
                    a.0.as_ptr().add(i * a.1),
                    b.0.as_ptr().add(j * b.1),
                    c.as_mut_ptr().add(i * mr * ldc + j * nr),
                    ldc,
                    alpha,
                    beta,
                    bz,
                );
            }
        }
    }
}
