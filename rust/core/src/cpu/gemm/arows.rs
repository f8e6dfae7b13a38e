//! y = (A·B)ᵀ + bias with A's rows read in place (no A packing), for a
//! row-major A whose rows meet few columns of B: `F.linear`'s forward as
//! yᵀ = W·xᵀ reads the weight where it lies and packs only the (small) batch
//! xᵀ, instead of packing a transposed copy of the whole weight as the B of
//! y = x·Wᵀ (17 of the 145 µs of a 64×784→256 forward on 2 threads).
//!
//! Every MR-row block of A runs over every packed NR-wide sliver of B at full
//! depth (the broadcasts stream along MR rows of A, one cache line each per
//! 16 steps; the sliver stays in L2) into a small tile, which the same task
//! writes transposed into y with the bias added: no pass over a yᵀ buffer.
//! B's slivers are packed in parallel, then row blocks are split across
//! threads.

use super::kernel::{GemmElem, Kernel};
use super::pack::pack_b;
use super::team::Par;
use super::{Config, MatRef, PanelPtr};
use crate::cpu::simd::level;

/// Below this depth the per-tile overhead outweighs the packing saved.
pub const A_ROWS_MIN_K: usize = 64;
/// Up to this many columns of B (a batch) the packed B and the tile stay small.
pub const A_ROWS_MAX_N: usize = 256;

/// Whether a linear forward with `n` batch rows and depth `k` takes this
/// path (`DLCORE_GEMM_A_ROWS=0` switches it off, to compare).
pub fn use_a_rows(n: usize, k: usize) -> bool {
    static ON: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    n <= A_ROWS_MAX_N && k >= A_ROWS_MIN_K && *ON.get_or_init(|| std::env::var("DLCORE_GEMM_A_ROWS").map_or(true, |v| v != "0"))
}

/// `y[j*m + i] = Σ_p a[i*k + p]·B(p, j) + bias[i]` for i < m, j < n: y is
/// n×m row-major (the transpose of A·B). A is m×k, row-major, contiguous;
/// `bias` (length m) is optional. Runs on at most `threads` threads.
pub fn gemm_a_rows<T: GemmElem>(threads: usize, m: usize, n: usize, k: usize, a: &[T], b: MatRef<T>, bias: Option<&[T]>) -> Vec<T> {
    let kern = Config::<T>::for_rows(level(), threads, m).kernel;
    gemm_a_rows_with(kern, threads, m, n, k, a, b, bias)
}

/// `gemm_a_rows` with a given micro-kernel (the tests run every one).
#[allow(clippy::too_many_arguments)]
pub fn gemm_a_rows_with<T: GemmElem>(kern: Kernel<T>, threads: usize, m: usize, n: usize, k: usize, a: &[T], b: MatRef<T>, bias: Option<&[T]>) -> Vec<T> {
    let (mr, nr) = (kern.mr, kern.nr);
    assert!(a.len() >= m * k && b.fits(k, n) && bias.is_none_or(|b| b.len() >= m), "gemm_a_rows: views out of bounds");
    if m == 0 || n == 0 || k == 0 {
        let mut y = vec![T::zero(); n * m];
        if let Some(bias) = bias {
            y.chunks_exact_mut(m.max(1)).for_each(|row| row.copy_from_slice(&bias[..m]));
        }
        return y;
    }
    let np = n.next_multiple_of(nr);
    let slivers = np / nr;
    let blocks = m.div_ceil(mr);
    let par = Par::new(threads.min(blocks.max(slivers)).max(1));
    // B (small: the batch) packed once, sliver js at bp[js·nr·k ..]
    let mut bp = vec![T::zero(); np * k];
    let bptr = &PanelPtr(bp.as_mut_ptr());
    par.run(slivers, |js| {
        // SAFETY: sliver js is bp[js·nr·k .. (js+1)·nr·k], disjoint per task.
        let dst = unsafe { std::slice::from_raw_parts_mut(bptr.0.add(js * nr * k), nr * k) };
        pack_b(&b, n, js * nr, 0, k, nr, dst, kern.transpose);
    });
    // SAFETY: the row blocks below cover rows 0..m of yᵀ, i.e. columns 0..m
    // of every y row j < n, and each writes all of its columns; nothing is
    // read before.
    let mut y = unsafe { crate::tensor::storage::uninit_vec::<T>(n * m) };
    let yp = PanelPtr(y.as_mut_ptr());
    let (bp, yp) = (&bp, &yp);
    par.run(blocks, |ib| {
        let i0 = ib * mr;
        let rows = mr.min(m - i0);
        // a partial last block: its rows copied into a zero-padded MR×k
        // block, so the kernel never reads past A
        let padded;
        let ablk = if rows == mr {
            &a[i0 * k..(i0 + mr) * k]
        } else {
            let mut t = vec![T::zero(); mr * k];
            t[..rows * k].copy_from_slice(&a[i0 * k..(i0 + rows) * k]);
            padded = t;
            &padded[..]
        };
        let mut tile = vec![T::zero(); mr * np];
        for js in 0..slivers {
            // SAFETY: A block mr×k (row stride k), sliver nr×k inside bp, the
            // mr×nr tile at column js·nr of the mr×np scratch; the kernel
            // matches this CPU (chosen by Config or by the caller's tests).
            unsafe { (kern.a_rows)(k, ablk.as_ptr(), k, bp[js * nr * k..].as_ptr(), tile.as_mut_ptr().add(js * nr), np, T::one(), T::zero(), true) };
        }
        for j in 0..n {
            // SAFETY: y row j, columns i0..i0+rows: this block's own columns.
            let dst = unsafe { std::slice::from_raw_parts_mut(yp.0.add(j * m + i0), rows) };
            for (r, d) in dst.iter_mut().enumerate() {
                let v = tile[r * np + j];
                *d = match bias {
                    Some(bias) => v + bias[i0 + r],
                    None => v,
                };
            }
        }
    });
    drop(par);
    y
}
