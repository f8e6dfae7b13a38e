//! Fused optimizer updates: one pass over a tensor's parameter, gradient and
//! state buffers. Each optimizer is a [`Rule`]; the driver in `ops::optim`
//! (validation, state allocation, threading, version bumps) is shared by all.
//!
//! Kernels compute in the parameter's dtype with the hyper-parameters cast to
//! it, in the order of PyTorch's single-tensor (`foreach=False`) code, so the
//! trajectories agree with torch's to float32 rounding. No FMA contraction:
//! every SIMD path gives the same bits as the scalar one.

pub mod adagrad;
pub mod adam;
pub mod adamp;
pub mod clip;
pub mod paper;
pub mod sgd;

#[cfg(target_arch = "x86_64")]
use super::simd::{level, Simd};
use super::Float;

/// Elements per task: large enough to amortise a rayon task (~1 us), small
/// enough that 10 tensors of 1M give every core work.
pub const CHUNK: usize = 1 << 16;

/// What a rule knows about one tensor before updating it.
#[derive(Clone, Copy, Debug)]
pub struct TensorInfo {
    /// The step being taken (1 on the first), already incremented.
    pub step: f64,
    /// The state buffers were created by this call (SGD's first step).
    pub fresh: bool,
    /// One scalar of per-tensor state (NAdam's `mu_product`); `coef` may update it.
    pub aux: f64,
    /// Rows of the tensor's `(shape[0], -1)` view and its dimensionality (AdamP).
    pub rows: usize,
    pub ndim: usize,
}

/// A fused optimizer update for contiguous tensors.
pub trait Rule: Sync {
    /// Per-tensor scalars (learning rate over bias corrections …), in f64.
    type Coef: Copy + Send + Sync;
    /// The op name used in error messages.
    fn name(&self) -> &'static str;
    /// torch's state keys, in the order the kernel receives the buffers.
    fn state_names(&self) -> Vec<&'static str>;
    /// Initial value of state buffer `k` (all zero except Adagrad's `sum`).
    fn state_init(&self, _k: usize) -> f64 {
        0.0
    }
    /// Whether the state holds a `step` counter (all but SGD and Lion).
    fn counts_steps(&self) -> bool {
        true
    }
    /// The key of the per-tensor scalar state, if the rule has one.
    fn aux_name(&self) -> Option<&'static str> {
        None
    }
    fn coef(&self, t: &mut TensorInfo) -> Self::Coef;
    /// The update of one contiguous chunk; `s` holds the state buffers'
    /// matching chunks in `state_names` order.
    fn chunk<T: Float>(&self, c: &Self::Coef, p: &mut [T], g: &[T], s: &mut [&mut [T]]);
    /// The update of a whole tensor; by default chunks across the pool.
    fn tensor<T: Float>(
        &self,
        c: &Self::Coef,
        _t: &TensorInfo,
        p: &mut [T],
        g: &[T],
        s: &mut [&mut [T]],
    ) {
        par_split(
            p,
            g,
            s,
            CHUNK,
            &|_, p, g, s| run_chunk(self, c, p, g, s),
            &|(), ()| (),
        );
    }
}

/// Runs `r.chunk` compiled for the best instruction set (the loops are
/// written to auto-vectorise; the target-feature copies let them use 8/16 lanes).
#[inline]
pub fn run_chunk<R: Rule + ?Sized, T: Float>(
    r: &R,
    c: &R::Coef,
    p: &mut [T],
    g: &[T],
    s: &mut [&mut [T]],
) {
    #[cfg(target_arch = "x86_64")]
    match level() {
        // SAFETY: level() reports Avx512 only when the CPU has avx512f and
        // fma, and Avx2 only when it has avx2 and fma (checked at run time).
        Simd::Avx512 => return unsafe { chunk_avx512(r, c, p, g, s) },
        // SAFETY: as above.
        Simd::Avx2 => return unsafe { chunk_avx2(r, c, p, g, s) },
        Simd::Scalar => {}
    }
    r.chunk(c, p, g, s)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx2,fma")]
unsafe fn chunk_avx512<R: Rule + ?Sized, T: Float>(
    r: &R,
    c: &R::Coef,
    p: &mut [T],
    g: &[T],
    s: &mut [&mut [T]],
) {
    r.chunk(c, p, g, s)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn chunk_avx2<R: Rule + ?Sized, T: Float>(
    r: &R,
    c: &R::Coef,
    p: &mut [T],
    g: &[T],
    s: &mut [&mut [T]],
) {
    r.chunk(c, p, g, s)
}

/// Splits `p`, `g` and every state buffer in lockstep into pieces of at most
/// `unit` elements (split points are multiples of `unit`, so the pieces, and
/// any reduction over them, do not depend on the thread count), runs `f` on
/// each piece with its offset, and joins the results left to right.
pub fn par_split<T: Float, R: Send>(
    p: &mut [T],
    g: &[T],
    s: &mut [&mut [T]],
    unit: usize,
    f: &(impl Fn(usize, &mut [T], &[T], &mut [&mut [T]]) -> R + Sync),
    join: &(impl Fn(R, R) -> R + Sync),
) -> R {
    split_at(0, p, g, s, unit.max(1), f, join)
}

fn split_at<T: Float, R: Send>(
    off: usize,
    p: &mut [T],
    g: &[T],
    s: &mut [&mut [T]],
    unit: usize,
    f: &(impl Fn(usize, &mut [T], &[T], &mut [&mut [T]]) -> R + Sync),
    join: &(impl Fn(R, R) -> R + Sync),
) -> R {
    let n = p.len();
    if n <= unit {
        return f(off, p, g, s);
    }
    let mid = n.div_ceil(unit).div_ceil(2) * unit; // 0 < mid < n
    let (p1, p2) = p.split_at_mut(mid);
    let (g1, g2) = g.split_at(mid);
    let (mut s1, mut s2): (Vec<&mut [T]>, Vec<&mut [T]>) =
        s.iter_mut().map(|b| b.split_at_mut(mid)).unzip();
    let (a, b) = rayon::join(
        || split_at(off, p1, g1, &mut s1, unit, f, join),
        || split_at(off + mid, p2, g2, &mut s2, unit, f, join),
    );
    join(a, b)
}

/// torch's `lerp(start, end, w)` for a scalar weight (the form its scalar
/// path uses; `small` is `|w| < 0.5`, hoisted out of the loop).
#[inline(always)]
pub fn lerp<T: Float>(start: T, end: T, w: T, small: bool) -> T {
    if small {
        start + w * (end - start)
    } else {
        end - (end - start) * (T::one() - w)
    }
}

/// `torch.maximum`: NaN in either argument gives NaN.
#[inline(always)]
pub fn nan_max<T: Float>(a: T, b: T) -> T {
    if a.is_nan() || a >= b {
        a
    } else {
        b
    }
}

/// The f64 hyper-parameters a kernel needs, cast once per chunk.
#[inline(always)]
pub fn t<T: Float>(v: f64) -> T {
    T::from_f64(v)
}
