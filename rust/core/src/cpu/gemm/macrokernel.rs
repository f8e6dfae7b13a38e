//! The compute phase of one superblock: its MR×NR tiles split into a grid
//! of tasks (rectangles of tiles) that run in parallel, each looping over
//! the packed depth blocks, B blocks, A slivers and B slivers (see `mod.rs`).

use super::kernel::{GemmElem, Kernel};
use super::{kblocks, BSource, Blocking, Super, MAX_TILE};
use super::team::Par;

/// C's base pointer, shared by tasks that write disjoint tiles.
#[derive(Clone, Copy)]
struct CPtr<T>(*mut T);
// SAFETY: tasks write disjoint rectangles of C (see `compute`), and C
// outlives the parallel region that uses the pointer.
unsafe impl<T> Send for CPtr<T> {}
unsafe impl<T> Sync for CPtr<T> {}

/// Runs every micro-tile of the superblock, as tasks of whole tiles.
#[allow(clippy::too_many_arguments)]
pub(super) fn compute<T: GemmElem>(
    kern: &Kernel<T>,
    blk: Blocking,
    sb: &Super,
    ap: &[T],
    bp: &BSource<T>,
    n: usize,
    alpha: T,
    beta: T,
    c: &mut [T],
    threads: usize,
    par: &Par,
) {
    let (mr, nr) = (kern.mr, kern.nr);
    let (ms, ns) = (sb.mc.div_ceil(mr), sb.nc.div_ceil(nr));
    // Tasks that pack their own B slivers split columns only, so no two
    // pack the same sliver.
    let (tm, tn) = if bp.pack_in_task.is_some() {
        task_grid(1, ns, mr, nr, threads)
    } else {
        task_grid(ms, ns, mr, nr, threads)
    };
    debug_assert!(c.len() >= (sb.i3 + sb.mc) * n && sb.j3 + sb.nc <= n);
    let cp = CPtr(c.as_mut_ptr());
    let task = |t: usize| {
        let (ti, tj) = (t / tn, t % tn);
        let (s0, s1) = (ms * ti / tm, ms * (ti + 1) / tm);
        let (t0, t1) = (ns * tj / tn, ns * (tj + 1) / tn);
        // capture the Sync wrapper, not its raw-pointer field (edition 2021
        // closures capture fields separately)
        #[allow(clippy::redundant_locals)]
        let cp = cp;
        // The (ti, tj) ranges partition the tile grid, so tasks write
        // disjoint tiles of C (the contract `tiles` relies on).
        tiles(kern, blk, sb, ap, bp, n, alpha, beta, cp.0, s0..s1, t0..t1);
    };
    par.run(tm * tn, task);
}

/// Splits an ms×ns grid of tiles into tm×tn tasks for `threads` threads:
/// enough tasks for balance (up to 4 per thread, so a thread slowed by a
/// noisy neighbour is covered by work stealing), each as square as possible
/// (a task re-reads its B block once per A sliver and its A slivers once
/// per B block, so short sides cost cache traffic).
pub(super) fn task_grid(
    ms: usize,
    ns: usize,
    mr: usize,
    nr: usize,
    threads: usize,
) -> (usize, usize) {
    if threads <= 1 {
        return (1, 1);
    }
    let mut best = (f64::INFINITY, 1, 1);
    for tm in 1..=ms.min(4 * threads) {
        for tn in 1..=ns.min(4 * threads / tm) {
            let tasks = tm * tn;
            if tasks < threads.min(ms * ns) {
                continue;
            }
            let (rows, cols) = ((ms.div_ceil(tm) * mr) as f64, (ns.div_ceil(tn) * nr) as f64);
            // the busiest thread's tile count, plus half a task for the tail
            // (the last task may start late on a thread a neighbour slowed
            // down), times the per-tile cache overhead of the task's shape
            let rounds = tasks.div_ceil(threads) as f64 + 0.5;
            let cost = rounds * rows * cols * (1.0 + 16.0 / rows + 16.0 / cols);
            if cost < best.0 * 0.999 {
                best = (cost, tm, tn);
            }
        }
    }
    (best.1, best.2)
}

/// The tiles of one task: slivers `srange` of A × `trange` of B, all depth.
/// `c` is C's base (m×n, row stride n); the caller guarantees no other
/// thread touches these tiles while this runs.
#[allow(clippy::too_many_arguments)]
fn tiles<T: GemmElem>(
    kern: &Kernel<T>,
    blk: Blocking,
    sb: &Super,
    ap: &[T],
    bsrc: &BSource<T>,
    n: usize,
    alpha: T,
    beta: T,
    c: *mut T,
    srange: std::ops::Range<usize>,
    trange: std::ops::Range<usize>,
) {
    let (mr, nr) = (kern.mr, kern.nr);
    let (mpad, npad) = (sb.mc.next_multiple_of(mr), sb.nc.next_multiple_of(nr));
    let nblk = (blk.nc / nr).max(1);
    // Tiles stop at the superblock's edge (the next superblock owns the rest).
    let (mend, nend) = (sb.i3 + sb.mc, sb.j3 + sb.nc);
    let mut scratch = [T::zero(); MAX_TILE];
    for (q, kcb) in kblocks(sb.kc3, blk.kc) {
        let beta_q = if sb.p3 + q == 0 { beta } else { T::one() };
        let bz = beta_q == T::zero();
        let ablk = &ap[mpad * q..mpad * (q + kcb)];
        // this KC block of the B panel: sliver t at t*nr*kcb
        let bblk = npad * q;
        assert!(npad * (q + kcb) <= bsrc.packed_len, "gemm: B panel too short");
        for tb in trange.clone().step_by(nblk) {
            if let Some(b) = &bsrc.pack_in_task {
                for t in tb..(tb + nblk).min(trange.end) {
                    // SAFETY: sliver t of this KC block lies inside the panel
                    // (asserted above: t < npad/nr); this task owns columns
                    // `trange` for the whole superblock (tasks split columns only
                    // when packing in task), so no other thread touches it.
                    let d = unsafe { std::slice::from_raw_parts_mut(bsrc.packed.0.add(bblk + t * nr * kcb), nr * kcb) };
                    super::pack::pack_b(b, nend, sb.j3 + t * nr, sb.p3 + q, kcb, nr, d, kern.transpose);
                }
            }
            for s in srange.clone() {
                let asl = &ablk[s * mr * kcb..(s + 1) * mr * kcb];
                let row0 = sb.i3 + s * mr;
                let rows = mr.min(mend - row0);
                for t in tb..(tb + nblk).min(trange.end) {
                    let col0 = sb.j3 + t * nr;
                    let cols = nr.min(nend - col0);
                    if let (Some(b), true) = (&bsrc.direct, cols == nr) {
                        // B in place: rows p3+q.. (kcb of them), columns col0..col0+nr.
                        let b0 = b.offset + (sb.p3 + q) * b.rs + col0;
                        let bsl = &b.data[b0..b0 + (kcb - 1) * b.rs + nr];
                        let (cp, ldc) = if rows == mr { (unsafe { c.add(row0 * n + col0) }, n) } else { (scratch.as_mut_ptr(), nr) };
                        let (beta_k, bz_k) = if rows == mr { (beta_q, bz) } else { (T::zero(), true) };
                        // SAFETY: asl holds kcb·mr elements; `bsl` (bounds-checked just
                        // above) covers b[p*rs + j], p < kcb, j < nr; the C tile is
                        // inside C and this task's (rows == mr) or the scratch tile.
                        unsafe { (kern.strided)(kcb, asl.as_ptr(), bsl.as_ptr(), b.rs, cp, ldc, alpha, beta_k, bz_k) };
                        if rows < mr {
                            write_edge(c, n, row0, col0, rows, cols, nr, &scratch, beta_q, bz);
                        }
                        continue;
                    }
                    // SAFETY: inside the panel (asserted above); packed before the
                    // parallel region, or above by this task, and written by no one now.
                    let bsl = unsafe { std::slice::from_raw_parts(bsrc.packed.0.add(bblk + t * nr * kcb), nr * kcb) };
                    if rows == mr && cols == nr {
                        // SAFETY: asl/bsl hold exactly kcb·mr / kcb·nr elements; the
                        // tile rows row0..row0+mr <= m and columns col0..col0+nr <= n
                        // lie inside C (m×n, row stride n) and belong to this task.
                        unsafe {
                            (kern.run)(
                                kcb,
                                asl.as_ptr(),
                                bsl.as_ptr(),
                                c.add(row0 * n + col0),
                                n,
                                alpha,
                                beta_q,
                                bz,
                            )
                        };
                    } else {
                        // SAFETY: as above for a/b; the scratch tile is mr×nr <= MAX_TILE
                        // with row stride nr, fully written (beta = 0) before it is read.
                        unsafe {
                            (kern.run)(
                                kcb,
                                asl.as_ptr(),
                                bsl.as_ptr(),
                                scratch.as_mut_ptr(),
                                nr,
                                alpha,
                                T::zero(),
                                true,
                            )
                        };
                        write_edge(c, n, row0, col0, rows, cols, nr, &scratch, beta_q, bz);
                    }
                }
            }
        }
    }
}

/// Adds an edge tile computed into `scratch` (row stride `nr`) to the
/// rows×cols corner of C at (row0, col0): C = beta·C + scratch.
#[allow(clippy::too_many_arguments)]
#[inline(always)]
fn write_edge<T: GemmElem>(
    c: *mut T,
    n: usize,
    row0: usize,
    col0: usize,
    rows: usize,
    cols: usize,
    nr: usize,
    scratch: &[T],
    beta: T,
    bz: bool,
) {
    for r in 0..rows {
        for j in 0..cols {
            // SAFETY: the caller's tile: row0 + r < m and col0 + j < n, inside
            // C and owned by the calling task.
            let dst = unsafe { &mut *c.add((row0 + r) * n + col0 + j) };
            let v = scratch[r * nr + j];
            *dst = if bz { v } else { beta * *dst + v };
        }
    }
}
