//! GEMM: C = alpha·A·B + beta·C for strided A and B, contiguous row-major C.
//!
//! BLIS structure, transposed for row-major C (vectors run along N):
//!
//! ```text
//! for each superblock (rows m3 × cols n3 × depth k3, sized so both packed
//!                      panels fit the workspace budget ≈ half the L3):
//!   pack A (m3×k3) into MR-tall slivers and B (k3×n3) into NR-wide slivers,
//!        split in KC-deep blocks                      [parallel over slivers]
//!   for each task (a rectangle of MR×NR tiles)        [parallel over tasks]
//!     for each KC block of depth (beta applies on the first one only)
//!       for each NC-wide block of B slivers           (KC×NC of B in L2)
//!         for each A sliver                            (MR×KC of A in L1)
//!           for each B sliver: micro-kernel            (MR×NR of C in registers)
//! ```
//!
//! Short M (at most `B_IN_PLACE_MAX_M` rows: a batch of a linear layer, or
//! its weight gradient) changes where B comes from: a row-major B that fits
//! in L2 is read in place by the micro-kernel (no B packing at all, only the
//! edge sliver), any other B is packed by the compute task that uses it,
//! block by block (`Config::b_in_place`, `Config::b_in_task`).
//!
//! Block sizes come from the cache sizes read at run time (`cache.rs`); the
//! micro-kernel from the instruction set (`kernel.rs`). A task owns its
//! rectangle of C for the whole depth, so one superblock costs two parallel
//! regions (pack, compute) however deep K is.

pub mod arows;
pub mod cache;
pub mod gemv;
pub mod kernel;
#[cfg(target_arch = "x86_64")]
pub mod kernel_avx2;
#[cfg(target_arch = "x86_64")]
pub mod kernel_avx512;
pub mod kernel_scalar;
mod macrokernel;
pub mod pack;
pub mod reference;
pub mod team;
#[cfg(test)]
mod tests;
#[cfg(test)]
mod tune;

use super::simd::{level, Simd};
use super::{float::Fma, Float};
use kernel::{GemmElem, Kernel};
use macrokernel::compute;
use std::any::TypeId;
use team::Par;

/// A strided read-only matrix: element (i, j) is `data[offset + i*rs + j*cs]`.
#[derive(Clone, Copy)]
pub struct MatRef<'a, T> {
    pub data: &'a [T],
    pub offset: usize,
    pub rs: usize,
    pub cs: usize,
}

impl<T: Copy> MatRef<'_, T> {
    #[inline(always)]
    pub fn at(&self, i: usize, j: usize) -> T {
        self.data[self.offset + i * self.rs + j * self.cs]
    }

    /// Whether every element of the rows×cols view lies inside `data`.
    pub fn fits(&self, rows: usize, cols: usize) -> bool {
        if rows == 0 || cols == 0 {
            return true;
        }
        let last = (rows - 1)
            .checked_mul(self.rs)
            .and_then(|r| {
                (cols - 1)
                    .checked_mul(self.cs)
                    .and_then(|c| r.checked_add(c))
            })
            .and_then(|x| x.checked_add(self.offset));
        matches!(last, Some(x) if x < self.data.len())
    }
}

/// Block sizes of one call, in elements.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Blocking {
    /// Depth of one packed block: an MR×KC sliver of A stays in L1.
    pub kc: usize,
    /// Columns of B (a multiple of NR) whose KC-deep block stays in L2.
    pub nc: usize,
    /// Budget for the packed A and B panels together (≈ half of L3).
    pub workspace: usize,
}

impl Blocking {
    /// From the detected cache sizes, for a kernel with tile `mr`×`nr` and
    /// elements of `size` bytes.
    pub fn for_kernel(mr: usize, nr: usize, size: usize) -> Blocking {
        Self::from_caches(cache::sizes(), mr, nr, size)
    }

    pub fn from_caches(c: cache::CacheSizes, mr: usize, nr: usize, size: usize) -> Blocking {
        // A sliver in half of L1 (the rest holds the streaming B sliver and C).
        let kc = (c.l1d / 2 / (mr * size)).clamp(64, 1024) / 16 * 16;
        // The KC×NC block of B in half of L2.
        let nc = ((c.l2 / 2 / (kc * size)) / nr).max(1) * nr;
        let workspace = (c.l3 / 2).clamp(1 << 20, 32 << 20) / size;
        Blocking { kc, nc, workspace }
    }
}

/// Everything that decides how one GEMM call runs.
#[derive(Clone, Copy)]
pub struct Config<T> {
    pub kernel: Kernel<T>,
    pub blocking: Blocking,
    /// Upper bound; small problems use fewer.
    pub threads: usize,
    /// Matrix-vector shapes (m or n = 1) skip packing (`gemv.rs`).
    pub gemv: bool,
    /// A short M (at most [`B_IN_PLACE_MAX_M`] rows) with a row-major B
    /// (unit column stride) that fits in L2 is read in place instead of
    /// packed (`read_b_in_place`).
    pub b_in_place: bool,
    /// A short M with B packed packs each B block inside the compute task
    /// that uses it, right before its A slivers run over it (`macrokernel`),
    /// instead of in a separate phase: B is hot in this core's cache when
    /// used, and with several threads each packs its own columns.
    pub b_in_task: bool,
}

/// Rows up to which a row-major B is read in place. Packing B touches all of
/// B (k·n) for m·n·k multiply-adds, so it is a large share when m is small
/// (linear layers: m = batch, and their weight gradients: m = out_features);
/// in place, B's rows are `rs` apart instead of NR, which costs more cache
/// lines and TLB entries each time an A sliver reuses a B sliver.
pub const B_IN_PLACE_MAX_M: usize = 256;

/// Whether the full NR-wide slivers of B are read in place (see
/// [`Config::b_in_place`]): a short M, a unit column stride, and all of B
/// within L2, so every A sliver after the first finds its B rows there
/// whatever their stride. A bigger B read in place goes back to L3 or DRAM
/// in a strided pattern for each A sliver and loses to packing. Measured,
/// 1 thread, Zen 4 (1 MiB L2), GFLOP/s packed -> in place: 64×784×256
/// 101 -> 108-112, 64×256×784 98 -> 111, 256×64×784 101 -> 104,
/// 128×512×512 104-107 -> 112; B over L2: 256×1000×1000 93 -> 83,
/// 64×4000×1000 72 -> 63, 64×3072×768 74 -> 66, 256×768×3072 94 -> 85.
fn read_b_in_place<T>(cfg: &Config<T>, m: usize, k: usize, n: usize, b: &MatRef<T>) -> bool {
    let bytes = k.saturating_mul(n).saturating_mul(std::mem::size_of::<T>());
    cfg.b_in_place && b.cs == 1 && m <= B_IN_PLACE_MAX_M && bytes <= cache::sizes().l2
}

/// Small-M switches, on unless the variable is "0" (`DLCORE_GEMM_B_IN_PLACE=0`,
/// `DLCORE_GEMM_B_IN_TASK=0`: to compare with the plain packed path).
fn env_on(var: &str) -> bool {
    !std::env::var(var).is_ok_and(|v| v.trim() == "0")
}

impl<T: GemmElem> Config<T> {
    pub fn new(simd: Simd, threads: usize) -> Config<T> {
        Self::with_kernel(T::kernel(simd), threads)
    }
    /// `new`, but for a product with `m` rows: a short M that the default
    /// MR leaves a padded sliver for (a batch of 64 on MR = 12 computes 72
    /// rows) takes a kernel of the same NR whose MR wastes less.
    pub fn for_rows(simd: Simd, threads: usize, m: usize) -> Config<T> {
        let cands = T::candidates(simd);
        let def = cands[0];
        let waste = |mr: usize| m as f64 / m.next_multiple_of(mr) as f64;
        // up to the small-M limit (a weight gradient's 256 output features:
        // 12 pads it to 264) and below 16 slivers, padding is worth avoiding
        let best = if m > B_IN_PLACE_MAX_M && m >= 16 * def.mr {
            def
        } else {
            // the default kernel is the fastest per tile: others need to win
            // by more than 3% of padding to replace it
            cands
                .iter()
                .filter(|k| k.nr == def.nr)
                .copied()
                .max_by(|a, b| {
                    let s = |k: &Kernel<T>| waste(k.mr) * if k.name == def.name { 1.03 } else { 1.0 };
                    s(a).total_cmp(&s(b))
                })
                .unwrap_or(def)
        };
        Self::with_kernel(best, threads)
    }
    pub fn with_kernel(kernel: Kernel<T>, threads: usize) -> Config<T> {
        let blocking = Blocking::for_kernel(kernel.mr, kernel.nr, std::mem::size_of::<T>());
        Config {
            kernel,
            blocking,
            threads: threads.max(1),
            gemv: true,
            b_in_place: env_on("DLCORE_GEMM_B_IN_PLACE"),
            b_in_task: env_on("DLCORE_GEMM_B_IN_TASK"),
        }
    }
}

/// Each thread should get at least this many multiply-adds (m·n·k), about
/// 5 µs of one core: below it, waking the pool costs more than it saves.
pub const MNK_PER_THREAD: usize = 1 << 19;

/// The largest MR×NR any kernel has (the edge-tile scratch buffer).
pub const MAX_TILE: usize = 512;

/// C = alpha·A·B + beta·C on the best (or DLCORE_SIMD-forced) instruction
/// set with dlcore's thread count. C is m×n row-major, contiguous, at least
/// m·n long. beta == 0 never reads C. A and B must lie inside their slices
/// (the ops layer guarantees it; a violation is a bug and panics here).
#[allow(clippy::too_many_arguments)]
pub fn gemm<T: Float + Fma>(
    m: usize,
    n: usize,
    k: usize,
    alpha: T,
    a: MatRef<T>,
    b: MatRef<T>,
    beta: T,
    c: &mut [T],
) {
    gemm_threads(super::num_threads(), m, n, k, alpha, a, b, beta, c)
}

/// `gemm` on at most `threads` threads (1: entirely on the calling thread,
/// e.g. one GEMM of a batch that is itself split across threads).
#[allow(clippy::too_many_arguments)]
pub fn gemm_threads<T: Float + Fma>(
    threads: usize,
    m: usize,
    n: usize,
    k: usize,
    alpha: T,
    a: MatRef<T>,
    b: MatRef<T>,
    beta: T,
    c: &mut [T],
) {
    if TypeId::of::<T>() == TypeId::of::<f32>() {
        // SAFETY: T is f32 (same TypeId), so these are identity casts.
        let (a, b, c) = unsafe {
            (
                cast_mat::<T, f32>(a),
                cast_mat::<T, f32>(b),
                cast_slice::<T, f32>(c),
            )
        };
        let cfg = Config::<f32>::for_rows(level(), threads, m);
        gemm_with(
            &cfg,
            m,
            n,
            k,
            alpha.to_f64() as f32,
            a,
            b,
            beta.to_f64() as f32,
            c,
        );
    } else if TypeId::of::<T>() == TypeId::of::<f64>() {
        // SAFETY: T is f64 (same TypeId), so these are identity casts.
        let (a, b, c) = unsafe {
            (
                cast_mat::<T, f64>(a),
                cast_mat::<T, f64>(b),
                cast_slice::<T, f64>(c),
            )
        };
        let cfg = Config::<f64>::for_rows(level(), threads, m);
        gemm_with(&cfg, m, n, k, alpha.to_f64(), a, b, beta.to_f64(), c);
    } else {
        reference::gemm_ref(m, n, k, alpha, a, b, beta, c);
    }
}

/// Threads one GEMM of m·n·k multiply-adds can use well (at least 1).
pub fn useful_threads(m: usize, n: usize, k: usize) -> usize {
    (m.saturating_mul(n).saturating_mul(k) / MNK_PER_THREAD).max(1)
}

/// # Safety
/// `T` and `U` must be the same type.
unsafe fn cast_mat<T, U>(x: MatRef<T>) -> MatRef<U> {
    // SAFETY: same type, so same layout and lifetime.
    let data = unsafe { std::slice::from_raw_parts(x.data.as_ptr().cast::<U>(), x.data.len()) };
    MatRef {
        data,
        offset: x.offset,
        rs: x.rs,
        cs: x.cs,
    }
}

/// # Safety
/// `T` and `U` must be the same type.
unsafe fn cast_slice<T, U>(x: &mut [T]) -> &mut [U] {
    // SAFETY: same type, so same layout; the borrow is carried over.
    unsafe { std::slice::from_raw_parts_mut(x.as_mut_ptr().cast::<U>(), x.len()) }
}

/// C = beta·C, where beta == 0 writes zeros without reading C.
fn scale<T: GemmElem>(c: &mut [T], beta: T) {
    if beta == T::zero() {
        c.fill(T::zero());
    } else if beta != T::one() {
        c.iter_mut().for_each(|v| *v = *v * beta);
    }
}

/// `gemm` with an explicit kernel, blocking and thread count (tests and tuning).
#[allow(clippy::too_many_arguments)]
pub fn gemm_with<T: GemmElem>(
    cfg: &Config<T>,
    m: usize,
    n: usize,
    k: usize,
    alpha: T,
    a: MatRef<T>,
    b: MatRef<T>,
    beta: T,
    c: &mut [T],
) {
    assert!(
        c.len() >= m * n && a.fits(m, k) && b.fits(k, n),
        "gemm: views out of bounds (m={m} n={n} k={k}, c.len()={})",
        c.len()
    );
    let c = &mut c[..m * n];
    if m == 0 || n == 0 {
        return;
    }
    if k == 0 || alpha == T::zero() {
        return scale(c, beta);
    }
    if cfg.gemv
        && gemv::try_gemv(
            cfg.kernel.simd,
            cfg.threads,
            m,
            n,
            k,
            alpha,
            &a,
            &b,
            beta,
            c,
        )
    {
        return;
    }
    let (mr, nr) = (cfg.kernel.mr, cfg.kernel.nr);
    assert!(
        mr * nr <= MAX_TILE && mr > 0 && nr > 0,
        "gemm: kernel tile {mr}x{nr} too large"
    );
    let threads = cfg.threads.min(useful_threads(m, n, k));
    let blk = cfg.blocking;
    let (m3, n3, k3) = superblocks(m, n, k, mr, nr, blk);

    // B's full NR-wide slivers are read in place (only an edge sliver is packed).
    let b_direct = read_b_in_place(cfg, m, k, n, &b);
    let b_in_task = cfg.b_in_task && !b_direct && m <= B_IN_PLACE_MAX_M;
    let par = Par::new(threads);
    let mut ws = T::take_workspace();
    for j3 in (0..n).step_by(n3) {
        for i3 in (0..m).step_by(m3) {
            for p3 in (0..k).step_by(k3) {
                let sb = Super {
                    i3,
                    j3,
                    p3,
                    mc: m3.min(m - i3),
                    nc: n3.min(n - j3),
                    kc3: k3.min(k - p3),
                };
                let c = &mut *c;
                let (bp, ap) = workspace_split(
                    &mut ws,
                    sb.nc.next_multiple_of(nr) * sb.kc3,
                    sb.mc.next_multiple_of(mr) * sb.kc3,
                );
                pack_all(&cfg.kernel, blk.kc, &sb, &a, &b, b_direct || b_in_task, ap, bp, &par);
                let bsrc = BSource {
                    packed: PanelPtr(bp.as_mut_ptr()),
                    packed_len: bp.len(),
                    direct: b_direct.then_some(b),
                    pack_in_task: b_in_task.then_some(b),
                };
                compute(&cfg.kernel, blk, &sb, ap, &bsrc, n, alpha, beta, c, threads, &par);
            }
        }
    }
    drop(par);
    T::give_workspace(ws);
}

/// Where the micro-kernel reads B: the packed panel (`packed_len` long),
/// and, when B is read in place, the matrix itself for every full NR-wide
/// sliver (`cs == 1`). With `pack_in_task`, compute tasks pack the B slivers
/// they own (tasks split columns only) into the panel before using them.
struct BSource<'a, T> {
    packed: PanelPtr<T>,
    packed_len: usize,
    direct: Option<MatRef<'a, T>>,
    pack_in_task: Option<MatRef<'a, T>>,
}

/// One superblock: rows i3..i3+mc, columns j3..j3+nc, depth p3..p3+kc3.
struct Super {
    i3: usize,
    j3: usize,
    p3: usize,
    mc: usize,
    nc: usize,
    kc3: usize,
}

/// Superblock sizes (m3, n3, k3): everything in one if both packed panels
/// fit the workspace budget; else cut depth (to a multiple of KC), then
/// rows and columns. Each cut repacks the other operand, so depth goes
/// first: it costs only one more pass over C.
fn superblocks(
    m: usize,
    n: usize,
    k: usize,
    mr: usize,
    nr: usize,
    blk: Blocking,
) -> (usize, usize, usize) {
    let (mp, np) = (m.next_multiple_of(mr), n.next_multiple_of(nr));
    let w = blk.workspace;
    let per_depth = mp + np;
    if per_depth.saturating_mul(k) <= w {
        return (m, n, k);
    }
    let k3 = ((w / per_depth) / blk.kc * blk.kc).max(blk.kc).min(k);
    if per_depth * k3 <= w {
        return (m, n, k3);
    }
    // Even one KC block of the whole of A and B is too big: split M and N.
    let half = (w / (2 * k3)).max(mr.max(nr));
    let m3 = if mp > half {
        (half / mr).max(1) * mr
    } else {
        m
    };
    let n3 = (w.saturating_sub(m3.next_multiple_of(mr) * k3) / k3 / nr).max(1) * nr;
    (m3, n3.min(n).max(1), k3)
}

/// Splits the grown workspace into an aligned B panel (vector loads) and the A panel.
fn workspace_split<T: GemmElem>(ws: &mut Vec<T>, blen: usize, alen: usize) -> (&mut [T], &mut [T]) {
    // 64-byte alignment of the B panel: every NR-wide row of a B sliver is a
    // whole number of cache lines, so no vector load splits a line.
    let pad = 64 / std::mem::size_of::<T>();
    if ws.len() < blen + alen + pad {
        ws.resize(blen + alen + pad, T::zero());
    }
    let skip = ws.as_ptr().align_offset(64).min(pad);
    let (b, rest) = ws[skip..].split_at_mut(blen);
    (b, &mut rest[..alen])
}

/// The KC-deep blocks of a superblock's depth: (offset inside it, depth).
fn kblocks(kc3: usize, kc: usize) -> impl Iterator<Item = (usize, usize)> {
    (0..kc3).step_by(kc).map(move |q| (q, kc.min(kc3 - q)))
}

/// Packs A (mc×kc3) and B (kc3×nc) of the superblock. Layout of a panel
/// with padded width P: KC block at depth q starts at `P*q`, sliver s of it
/// at `P*q + s*w*kcb` (`w` = MR or NR, `kcb` = that block's depth).
#[allow(clippy::too_many_arguments)]
fn pack_all<T: GemmElem>(
    kern: &Kernel<T>,
    kc: usize,
    sb: &Super,
    a: &MatRef<T>,
    b: &MatRef<T>,
    skip_b: bool,
    ap: &mut [T],
    bp: &mut [T],
    par: &Par,
) {
    let (mr, nr) = (kern.mr, kern.nr);
    let (mpad, npad) = (sb.mc.next_multiple_of(mr), sb.nc.next_multiple_of(nr));
    debug_assert!(ap.len() >= mpad * sb.kc3 && bp.len() >= npad * sb.kc3);
    // (is_a, row-or-column start, depth start, depth, offset in its panel)
    let mut jobs: Vec<(bool, usize, usize, usize, usize)> = Vec::new();
    for (q, kcb) in kblocks(sb.kc3, kc) {
        for s in 0..mpad / mr {
            jobs.push((true, sb.i3 + s * mr, sb.p3 + q, kcb, mpad * q + s * mr * kcb));
        }
        for t in 0..npad / nr {
            let j0 = sb.j3 + t * nr;
            // read in place by the kernel, or packed by the compute tasks
            // (see `macrokernel::tiles`); an in-place B's edge sliver is packed
            if skip_b && j0 + nr <= sb.j3 + sb.nc {
                continue;
            }
            jobs.push((false, j0, sb.p3 + q, kcb, npad * q + t * nr * kcb));
        }
    }
    // Rows/columns past the superblock (not just past the matrix) are zero.
    let (mend, nend) = (sb.i3 + sb.mc, sb.j3 + sb.nc);
    let (app, bpp) = (PanelPtr(ap.as_mut_ptr()), PanelPtr(bp.as_mut_ptr()));
    let one = |&(is_a, x0, p0, kcb, off): &(bool, usize, usize, usize, usize)| {
        #[allow(clippy::redundant_locals)]
        let (app, bpp) = (app, bpp);
        // SAFETY: each job's destination (offset `off`, `w*kcb` long) lies
        // inside its panel (the offsets above tile mpad*kc3 / npad*kc3, which
        // the debug_assert checks) and no two jobs share one, so these
        // slices are disjoint and live for the duration of `par.run`.
        if is_a {
            let d = unsafe { std::slice::from_raw_parts_mut(app.0.add(off), mr * kcb) };
            pack::pack_a(a, mend, x0, p0, kcb, mr, d, kern.transpose)
        } else {
            let d = unsafe { std::slice::from_raw_parts_mut(bpp.0.add(off), nr * kcb) };
            pack::pack_b(b, nend, x0, p0, kcb, nr, d, kern.transpose)
        }
    };
    // a few slivers per task: one claim per µs of packing or so
    const GROUP: usize = 4;
    par.run(jobs.len().div_ceil(GROUP), |t| {
        jobs[t * GROUP..(t * GROUP + GROUP).min(jobs.len())].iter().for_each(one)
    });
}

/// A packed panel's base, shared by packing tasks that fill disjoint slivers.
#[derive(Clone, Copy)]
pub(crate) struct PanelPtr<T>(pub(crate) *mut T);
// SAFETY: tasks write disjoint slivers (see `pack_all`); the panel outlives the run.
unsafe impl<T> Send for PanelPtr<T> {}
unsafe impl<T> Sync for PanelPtr<T> {}
