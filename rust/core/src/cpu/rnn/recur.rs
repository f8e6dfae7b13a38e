//! The recurrent product of an RNN step, `C (m × n) = A (m × k) · B (k × n)
//! (+ C)`, with B (W_hhᵀ forward, W_hh backward) packed once per layer call
//! and reused by every time step.
//!
//! The general `gemm` packs both operands on every call; for a recurrence
//! that means repacking the same k×n weight T times forward and T times
//! backward, which costs as much as the product itself when the batch is
//! small. Here B is packed into the micro-kernel's NR-wide slivers over its
//! full depth once (`Packed::new`), and each step only packs its small A
//! (m rows of h_prev or dG) and runs the GEMM module's own micro-kernels on
//! the tiles. A depth range of a full-depth sliver is contiguous (element
//! (p, j) sits at `p*NR + j`), so KC blocking needs no second layout.
//!
//! The tile shape is chosen per call among the compiled kernels to waste
//! the least padding on these small, fixed m (e.g. m = 16 runs 8-row tiles,
//! not 12-row ones with a third of the rows empty).

use crate::cpu::gemm::kernel::{GemmElem, Kernel};
use crate::cpu::gemm::pack::{pack_a, pack_b};
use crate::cpu::gemm::{useful_threads, Blocking, MatRef, MAX_TILE};
use crate::cpu::simd::level;
use rayon::prelude::*;

/// B packed for repeated products with different A's.
pub struct Packed<T> {
    data: Vec<T>,
    k: usize,
    n: usize,
    kern: Kernel<T>,
    kc: usize,
}

/// A raw C pointer that threads writing disjoint column ranges share.
#[derive(Clone, Copy)]
struct CPtr<T>(*mut T);
// SAFETY: each thread writes its own column range of C (see `Packed::mul`).
unsafe impl<T> Send for CPtr<T> {}
// SAFETY: as above.
unsafe impl<T> Sync for CPtr<T> {}

impl<T: GemmElem> Packed<T> {
    /// Packs the k×n matrix `b` for products with `m`-row A's (m picks the tile).
    pub fn new(b: MatRef<T>, k: usize, n: usize, m: usize) -> Packed<T> {
        assert!(b.fits(k, n), "recur: B view out of bounds");
        let simd = level();
        // least padded work (ceil(m/mr)·mr × ceil(n/nr)·nr); ties keep the
        // earlier (preferred) kernel
        let kern = T::candidates(simd)
            .into_iter()
            .min_by_key(|c| m.div_ceil(c.mr) * c.mr * (n.div_ceil(c.nr) * c.nr))
            .unwrap_or_else(|| T::kernel(simd));
        let nr = kern.nr;
        let slivers = n.div_ceil(nr);
        let mut data = vec![T::zero(); slivers * k * nr];
        if k > 0 {
            for (s, dst) in data.chunks_exact_mut(k * nr).enumerate() {
                pack_b(&b, n, s * nr, 0, k, nr, dst, kern.transpose);
            }
        }
        let kc = Blocking::for_kernel(kern.mr, nr, std::mem::size_of::<T>()).kc.max(1);
        Packed { data, k, n, kern, kc }
    }

    /// `c = a · B + (accumulate ? c : 0)` for the first `m` rows: `a` is m×k
    /// row-major, `c` m×n row-major. `apack` is reusable scratch.
    pub fn mul(&self, m: usize, a: &[T], accumulate: bool, c: &mut [T], apack: &mut Vec<T>) {
        self.mul_threads(crate::cpu::num_threads(), m, a, accumulate, c, apack)
    }

    /// `mul` on at most `threads` threads (1: on the calling thread, e.g.
    /// inside one batch chunk of a layer that is split by rows).
    pub fn mul_threads(&self, threads: usize, m: usize, a: &[T], accumulate: bool, c: &mut [T], apack: &mut Vec<T>) {
        let (k, n) = (self.k, self.n);
        assert!(a.len() >= m * k && c.len() >= m * n, "recur: operand too short");
        if m == 0 || n == 0 {
            return;
        }
        if k == 0 {
            if !accumulate {
                c[..m * n].fill(T::zero());
            }
            return;
        }
        let Kernel { mr, nr, .. } = self.kern;
        let am = MatRef { data: a, offset: 0, rs: k, cs: 1 };
        let aslivers = m.div_ceil(mr);
        apack.clear();
        apack.resize(aslivers * k * mr, T::zero());
        for (s, dst) in apack.chunks_exact_mut(k * mr).enumerate() {
            pack_a(&am, m, s * mr, 0, k, mr, dst, self.kern.transpose);
        }
        let bslivers = n.div_ceil(nr);
        let threads = threads.min(useful_threads(m, n, k)).min(bslivers).max(1);
        let cp = CPtr(c.as_mut_ptr());
        let ap: &[T] = apack;
        let run = |j0: usize, j1: usize| {
            // SAFETY: `cp` points at c (m×n, checked above); this call writes
            // only columns of slivers j0..j1, which no other call touches.
            unsafe { self.tiles(m, ap, accumulate, cp, j0, j1) }
        };
        if threads == 1 {
            run(0, bslivers);
        } else {
            let per = bslivers.div_ceil(threads);
            crate::cpu::install(|| {
                (0..threads).into_par_iter().for_each(|t| run((t * per).min(bslivers), ((t + 1) * per).min(bslivers)))
            });
        }
    }

    /// The tiles of B slivers j0..j1 against every A sliver.
    ///
    /// # Safety
    /// `c.0` is valid for m×n elements, and no other thread writes columns
    /// `j0*nr .. j1*nr` of it meanwhile.
    unsafe fn tiles(&self, m: usize, ap: &[T], accumulate: bool, c: CPtr<T>, j0: usize, j1: usize) {
        let (k, n, kc) = (self.k, self.n, self.kc);
        let Kernel { mr, nr, run, .. } = self.kern;
        let mut tile = [T::zero(); MAX_TILE];
        let mut p0 = 0;
        while p0 < k {
            let d = kc.min(k - p0);
            let beta = if accumulate || p0 > 0 { T::one() } else { T::zero() };
            for js in j0..j1 {
                let jc = js * nr;
                let nv = nr.min(n - jc);
                // SAFETY: sliver js spans k·nr values; p0 + d <= k.
                let bp = unsafe { self.data.as_ptr().add(js * k * nr + p0 * nr) };
                for is in 0..m.div_ceil(mr) {
                    let ic = is * mr;
                    let mv = mr.min(m - ic);
                    // SAFETY: A sliver `is` spans k·mr values of `ap`.
                    let a = unsafe { ap.as_ptr().add(is * k * mr + p0 * mr) };
                    // SAFETY: (ic, jc) is inside C (ic < m, jc < n).
                    let cij = unsafe { c.0.add(ic * n + jc) };
                    if mv == mr && nv == nr {
                        // SAFETY: the full MR×NR tile lies in C's rows ic.. and
                        // columns jc.. (mv, nv full); slivers as above.
                        unsafe { run(d, a, bp, cij, n, T::one(), beta, beta == T::zero()) };
                    } else {
                        // edge tile: through a scratch tile, copying the valid part
                        if beta != T::zero() {
                            for r in 0..mv {
                                for j in 0..nv {
                                    // SAFETY: r < mv, j < nv: inside C.
                                    tile[r * nr + j] = unsafe { *cij.add(r * n + j) };
                                }
                            }
                        }
                        // SAFETY: tile holds MAX_TILE >= mr·nr values.
                        unsafe { run(d, a, bp, tile.as_mut_ptr(), nr, T::one(), beta, beta == T::zero()) };
                        for r in 0..mv {
                            for j in 0..nv {
                                // SAFETY: as above.
                                unsafe { *cij.add(r * n + j) = tile[r * nr + j] };
                            }
                        }
                    }
                }
            }
            p0 += d;
        }
    }
}
