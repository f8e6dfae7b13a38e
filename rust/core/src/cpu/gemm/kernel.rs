//! The one register-tiled micro-kernel, generic over a SIMD vector type, and
//! the table that picks its tile shape per element type and instruction set.
//!
//! Layout (C is row-major, so vectors run along N):
//! * packed A sliver: `kc` steps of MR values, `a[p*MR + r] = A(r, p)`;
//! * packed B sliver: `kc` steps of NR = NV·LANES values, `b[p*NR + j] = B(p, j)`;
//! * per step: NV vector loads of B, MR broadcasts of A, MR·NV FMAs into
//!   MR·NV accumulators that stay in registers for the whole `kc` loop.
//!
//! The per-ISA files implement [`Vector`] and wrap [`microkernel`] in
//! `#[target_feature]` functions; `#[inline(always)]` here lets the body (and
//! the intrinsics inside the `Vector` methods) inline into those wrappers, so
//! each wrapper is one straight loop of FMAs compiled for its instruction set.

use crate::cpu::simd::Simd;

/// Whether this CPU can run `simd` (whatever DLCORE_SIMD says).
pub fn supported(simd: Simd) -> bool {
    match simd {
        Simd::Scalar => true,
        #[cfg(target_arch = "x86_64")]
        Simd::Avx2 => is_x86_feature_detected!("avx2") && is_x86_feature_detected!("fma"),
        #[cfg(target_arch = "x86_64")]
        Simd::Avx512 => {
            is_x86_feature_detected!("avx512f")
                && is_x86_feature_detected!("avx2")
                && is_x86_feature_detected!("fma")
        }
        #[allow(unreachable_patterns)]
        _ => false,
    }
}

/// A SIMD register of `LANES` elements. Every method is `unsafe` because the
/// x86 implementations are only valid inside functions compiled with their
/// target features; pointer arguments must be valid for `LANES` elements.
#[allow(clippy::missing_safety_doc)] // the contract is the trait's, above
pub trait Vector: Copy {
    type E: Copy;
    const LANES: usize;
    unsafe fn zero() -> Self;
    unsafe fn splat(x: Self::E) -> Self;
    unsafe fn load(p: *const Self::E) -> Self;
    unsafe fn store(p: *mut Self::E, v: Self);
    /// a·b + c (fused where the instruction set has FMA).
    unsafe fn fma(a: Self, b: Self, c: Self) -> Self;
    unsafe fn mul(a: Self, b: Self) -> Self;
    /// Hint that the cache line holding `p` will be read soon (never faults).
    #[inline(always)]
    unsafe fn prefetch(_p: *const Self::E) {}
}

/// `c[r*ldc + j] = alpha·Σ_p a[r*a_rs + p*a_ps]·b[p*ldb+j] + beta·c[r*ldc + j]`
/// for the full MR×NR tile (`c` is not read when beta == 0, so it may hold
/// NaN). `(a_rs, a_ps)` is `(1, MR)` for a packed A sliver, or `(lda, 1)` for
/// MR rows of a row-major A read in place (`a_rows`: the broadcasts stream
/// along MR rows instead of one sliver). `ldb` is NR for a packed B sliver,
/// or the row stride of a row-major B read in place (`strided`, see `mod.rs`:
/// small M skips packing B).
///
/// # Safety
/// `a` is valid for reads of `a[r*a_rs + p*a_ps]`, r < MR, p < kc, `b` for reads of `b[p*ldb + j]`, p < kc,
/// j < NR, and `c` for reads and writes of `c[r*ldc + j]`, r < MR, j < NR;
/// the caller's CPU supports what `V`'s methods use.
#[inline(always)]
#[allow(clippy::too_many_arguments)]
pub unsafe fn microkernel<V: Vector, const MR: usize, const NV: usize>(
    kc: usize,
    a: *const V::E,
    a_rs: usize,
    a_ps: usize,
    b: *const V::E,
    ldb: usize,
    c: *mut V::E,
    ldc: usize,
    alpha: V::E,
    beta: V::E,
    beta_is_zero: bool,
) {
    // C is touched only after the kc loop; start fetching its tile now so
    // the read-modify-write at the end does not wait on L2/L3.
    for r in 0..MR {
        for v in 0..NV {
            // prefetch never faults, so addresses past C are harmless
            V::prefetch(c.wrapping_add(r * ldc + v * V::LANES));
        }
    }
    let mut acc = [[V::zero(); NV]; MR];
    let (mut a, mut b) = (a, b);
    for _ in 0..kc {
        let mut bv = [V::zero(); NV];
        for (v, slot) in bv.iter_mut().enumerate() {
            // SAFETY: v*LANES + LANES <= NR, inside this step's row of the sliver.
            *slot = V::load(b.add(v * V::LANES));
        }
        for (r, row) in acc.iter_mut().enumerate() {
            // SAFETY: r < MR, inside this step's column of the A sliver (or
            // row r of A read in place).
            let av = V::splat(*a.add(r * a_rs));
            for (x, &bb) in row.iter_mut().zip(&bv) {
                *x = V::fma(av, bb, *x);
            }
        }
        // SAFETY: after kc steps the pointers end one past the slivers (or
        // one row past B's block); wrapping, as the last step's B row may
        // be the matrix's last.
        a = a.wrapping_add(a_ps);
        b = b.wrapping_add(ldb);
    }
    let (alpha, beta) = (V::splat(alpha), V::splat(beta));
    for (r, row) in acc.iter().enumerate() {
        for (v, &x) in row.iter().enumerate() {
            // SAFETY: r < MR and v*LANES + LANES <= NR: inside the C tile.
            let p = c.add(r * ldc + v * V::LANES);
            let mut y = V::mul(x, alpha);
            if !beta_is_zero {
                y = V::fma(V::load(p), beta, y);
            }
            V::store(p, y);
        }
    }
}

/// The signature every compiled micro-kernel has; see [`microkernel`] for the
/// contract (with ldb = NR: packed B). `beta_is_zero` is passed separately so
/// NaN·0 never reads C.
pub type KernelFn<T> = unsafe fn(usize, *const T, *const T, *mut T, usize, T, T, bool);
/// The same kernel reading B in place: the extra argument (after `b`) is B's
/// row stride.
pub type StridedFn<T> = unsafe fn(usize, *const T, *const T, usize, *mut T, usize, T, T, bool);
/// The kernel reading A in place, MR rows of a row-major A: the argument
/// after `a` is A's row stride; B is a packed sliver.
pub type ARowsFn<T> = unsafe fn(usize, *const T, usize, *const T, *mut T, usize, T, T, bool);

/// A compiled micro-kernel and its tile shape.
#[derive(Clone, Copy)]
pub struct Kernel<T> {
    pub mr: usize,
    pub nr: usize,
    pub run: KernelFn<T>,
    /// `run` with B read in place at a given row stride (unit column stride).
    pub strided: StridedFn<T>,
    /// `run` with A's MR rows read in place at a given row stride.
    pub a_rows: ARowsFn<T>,
    pub name: &'static str,
    /// SIMD block transpose for packing transposed operands, if this ISA has one.
    pub transpose: Option<super::pack::Transpose<T>>,
    /// The instruction set it is compiled for (the GEMV loops follow it).
    pub simd: Simd,
}

/// Declares a `#[target_feature]` wrapper around `microkernel` per tile shape
/// (packed B), and next to it, in a module of the same name, `strided` (B in
/// place). Used by the per-ISA files so each shape is declared once.
macro_rules! kernels {
    ($features:literal, $vec:ty, $elem:ty: $($name:ident = $mr:literal x $nv:literal),+ $(,)?) => {
        $(
            /// # Safety
            /// See `kernel::microkernel`; the CPU must have the listed features.
            #[target_feature(enable = $features)]
            #[allow(clippy::too_many_arguments)]
            pub unsafe fn $name(kc: usize, a: *const $elem, b: *const $elem, c: *mut $elem, ldc: usize, alpha: $elem, beta: $elem, bz: bool) {
                let nr = $nv * <$vec as $crate::cpu::gemm::kernel::Vector>::LANES;
                // SAFETY: forwarded contract (a packed sliver has row stride NR);
                // this function has the features `$vec` needs.
                unsafe { $crate::cpu::gemm::kernel::microkernel::<$vec, $mr, $nv>(kc, a, 1, $mr, b, nr, c, ldc, alpha, beta, bz) }
            }
            pub mod $name {
                #[allow(unused_imports)]
                use super::*;
                /// # Safety
                /// See `kernel::microkernel`; the CPU must have the listed features.
                #[target_feature(enable = $features)]
                #[allow(clippy::too_many_arguments)]
                pub unsafe fn strided(kc: usize, a: *const $elem, b: *const $elem, ldb: usize, c: *mut $elem, ldc: usize, alpha: $elem, beta: $elem, bz: bool) {
                    // SAFETY: forwarded contract; this function has the features `$vec` needs.
                    unsafe { $crate::cpu::gemm::kernel::microkernel::<$vec, $mr, $nv>(kc, a, 1, $mr, b, ldb, c, ldc, alpha, beta, bz) }
                }
                /// # Safety
                /// See `kernel::microkernel` (A read in place: `a[r*lda + p]`).
                #[target_feature(enable = $features)]
                #[allow(clippy::too_many_arguments)]
                pub unsafe fn a_rows(kc: usize, a: *const $elem, lda: usize, b: *const $elem, c: *mut $elem, ldc: usize, alpha: $elem, beta: $elem, bz: bool) {
                    let nr = $nv * <$vec as $crate::cpu::gemm::kernel::Vector>::LANES;
                    // SAFETY: forwarded contract; this function has the features `$vec` needs.
                    unsafe { $crate::cpu::gemm::kernel::microkernel::<$vec, $mr, $nv>(kc, a, lda, 1, b, nr, c, ldc, alpha, beta, bz) }
                }
            }
        )+
    };
    (baseline, $vec:ty, $elem:ty: $($name:ident = $mr:literal x $nv:literal),+ $(,)?) => {
        $(
            /// # Safety
            /// See `kernel::microkernel`.
            #[allow(clippy::too_many_arguments)]
            pub unsafe fn $name(kc: usize, a: *const $elem, b: *const $elem, c: *mut $elem, ldc: usize, alpha: $elem, beta: $elem, bz: bool) {
                let nr = $nv * <$vec as $crate::cpu::gemm::kernel::Vector>::LANES;
                // SAFETY: forwarded contract; `$vec` needs no target features.
                unsafe { $crate::cpu::gemm::kernel::microkernel::<$vec, $mr, $nv>(kc, a, 1, $mr, b, nr, c, ldc, alpha, beta, bz) }
            }
            pub mod $name {
                #[allow(unused_imports)]
                use super::*;
                /// # Safety
                /// See `kernel::microkernel`.
                #[allow(clippy::too_many_arguments)]
                pub unsafe fn strided(kc: usize, a: *const $elem, b: *const $elem, ldb: usize, c: *mut $elem, ldc: usize, alpha: $elem, beta: $elem, bz: bool) {
                    // SAFETY: forwarded contract; `$vec` needs no target features.
                    unsafe { $crate::cpu::gemm::kernel::microkernel::<$vec, $mr, $nv>(kc, a, 1, $mr, b, ldb, c, ldc, alpha, beta, bz) }
                }
                /// # Safety
                /// See `kernel::microkernel` (A read in place: `a[r*lda + p]`).
                #[allow(clippy::too_many_arguments)]
                pub unsafe fn a_rows(kc: usize, a: *const $elem, lda: usize, b: *const $elem, c: *mut $elem, ldc: usize, alpha: $elem, beta: $elem, bz: bool) {
                    let nr = $nv * <$vec as $crate::cpu::gemm::kernel::Vector>::LANES;
                    // SAFETY: forwarded contract; `$vec` needs no target features.
                    unsafe { $crate::cpu::gemm::kernel::microkernel::<$vec, $mr, $nv>(kc, a, lda, 1, b, nr, c, ldc, alpha, beta, bz) }
                }
            }
        )+
    };
}
pub(crate) use kernels;

/// Element types with compiled micro-kernels.
pub trait GemmElem: crate::cpu::Float + Send + Sync {
    /// The kernel used for `simd` (callers pass a level the CPU supports).
    fn kernel(simd: Simd) -> Kernel<Self>;
    /// Every compiled kernel of this type for `simd`, for tests and tuning.
    fn candidates(simd: Simd) -> Vec<Kernel<Self>>;
    /// This thread's packing buffer (empty if a call on this thread is
    /// already using it: rayon may run a nested GEMM while one waits).
    fn take_workspace() -> Vec<Self>;
    /// Returns the buffer for the next call on this thread.
    fn give_workspace(ws: Vec<Self>);
}

/// Packing buffers larger than this are freed after the call instead of kept.
const KEEP_WORKSPACE_BYTES: usize = 32 << 20;

macro_rules! workspace {
    ($ws:ident) => {
        fn take_workspace() -> Vec<Self> {
            $ws.with(|w| w.take())
        }
        fn give_workspace(ws: Vec<Self>) {
            if ws.capacity() * std::mem::size_of::<Self>() <= KEEP_WORKSPACE_BYTES {
                $ws.with(|w| {
                    let old = w.take();
                    w.set(if old.capacity() > ws.capacity() {
                        old
                    } else {
                        ws
                    })
                });
            }
        }
    };
}

macro_rules! k {
    ($m:ident :: $f:ident, $mr:literal, $nr:literal) => {
        Kernel {
            mr: $mr,
            nr: $nr,
            run: super::$m::$f,
            strided: super::$m::$f::strided,
            a_rows: super::$m::$f::a_rows,
            name: stringify!($f),
            transpose: None,
            simd: Simd::Scalar,
        }
    };
    ($m:ident :: $f:ident, $mr:literal, $nr:literal, $tr:expr) => {
        Kernel {
            mr: $mr,
            nr: $nr,
            run: super::$m::$f,
            strided: super::$m::$f::strided,
            a_rows: super::$m::$f::a_rows,
            name: stringify!($f),
            transpose: Some($tr),
            simd: Simd::Scalar,
        }
    };
}

thread_local! {
    static WS32: std::cell::Cell<Vec<f32>> = const { std::cell::Cell::new(Vec::new()) };
    static WS64: std::cell::Cell<Vec<f64>> = const { std::cell::Cell::new(Vec::new()) };
}

impl GemmElem for f32 {
    workspace!(WS32);
    fn kernel(simd: Simd) -> Kernel<f32> {
        Self::candidates(simd)[0]
    }
    fn candidates(simd: Simd) -> Vec<Kernel<f32>> {
        let mut v = match simd {
            #[cfg(target_arch = "x86_64")]
            Simd::Avx512 => vec![
                k!(
                    kernel_avx512::s12x32,
                    12,
                    32,
                    (8, super::kernel_avx2::transpose8_f32)
                ),
                k!(
                    kernel_avx512::s8x48,
                    8,
                    48,
                    (8, super::kernel_avx2::transpose8_f32)
                ),
                k!(
                    kernel_avx512::s14x32,
                    14,
                    32,
                    (8, super::kernel_avx2::transpose8_f32)
                ),
                k!(
                    kernel_avx512::s6x64,
                    6,
                    64,
                    (8, super::kernel_avx2::transpose8_f32)
                ),
                // for small M that 12 does not divide (a batch of 64)
                k!(
                    kernel_avx512::s8x32,
                    8,
                    32,
                    (8, super::kernel_avx2::transpose8_f32)
                ),
            ],
            #[cfg(target_arch = "x86_64")]
            Simd::Avx2 => vec![
                k!(
                    kernel_avx2::s6x16,
                    6,
                    16,
                    (8, super::kernel_avx2::transpose8_f32)
                ),
                k!(
                    kernel_avx2::s4x24,
                    4,
                    24,
                    (8, super::kernel_avx2::transpose8_f32)
                ),
            ],
            _ => vec![k!(kernel_scalar::s4x16, 4, 16)],
        };
        v.iter_mut().for_each(|k| {
            k.simd = if cfg!(target_arch = "x86_64") {
                simd
            } else {
                Simd::Scalar
            }
        });
        v
    }
}

impl GemmElem for f64 {
    workspace!(WS64);
    fn kernel(simd: Simd) -> Kernel<f64> {
        Self::candidates(simd)[0]
    }
    fn candidates(simd: Simd) -> Vec<Kernel<f64>> {
        let mut v = match simd {
            #[cfg(target_arch = "x86_64")]
            Simd::Avx512 => vec![
                k!(
                    kernel_avx512::d12x16,
                    12,
                    16,
                    (4, super::kernel_avx2::transpose4_f64)
                ),
                k!(
                    kernel_avx512::d8x24,
                    8,
                    24,
                    (4, super::kernel_avx2::transpose4_f64)
                ),
                k!(
                    kernel_avx512::d14x16,
                    14,
                    16,
                    (4, super::kernel_avx2::transpose4_f64)
                ),
            ],
            #[cfg(target_arch = "x86_64")]
            Simd::Avx2 => vec![
                k!(
                    kernel_avx2::d6x8,
                    6,
                    8,
                    (4, super::kernel_avx2::transpose4_f64)
                ),
                k!(
                    kernel_avx2::d4x12,
                    4,
                    12,
                    (4, super::kernel_avx2::transpose4_f64)
                ),
            ],
            _ => vec![k!(kernel_scalar::d4x8, 4, 8)],
        };
        v.iter_mut().for_each(|k| {
            k.simd = if cfg!(target_arch = "x86_64") {
                simd
            } else {
                Simd::Scalar
            }
        });
        v
    }
}
