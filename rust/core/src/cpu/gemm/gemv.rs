//! Matrix-vector products (m == 1 or n == 1) without packing.
//!
//! Packing is pointless when each matrix element is used once, and the
//! register tile would multiply padding (an m = 1 row through a 12-row tile
//! is 12× the FMAs). One operand is a vector, the other a matrix whose rows
//! are contiguous either along the reduction (dot form: one dot product per
//! output) or along the output (axpy form: the output accumulates scaled
//! rows). Both are memory-bound loops the compiler vectorises; they are
//! compiled once per instruction set like the micro-kernels. Other layouts
//! return `false` and take the packed path.

use super::kernel::GemmElem;
use super::MatRef;
use crate::cpu::simd::Simd;
use rayon::prelude::*;

/// Outputs per parallel task and the work below which one thread does all.
const CHUNK: usize = 256;
const PAR_WORK: usize = 1 << 17;

/// The matrix operand: element (output i, depth p) at `off + i*is + p*ps`,
/// with `is == 1` (axpy form) or `ps == 1` (dot form).
struct Mat<'a, T> {
    data: &'a [T],
    off: usize,
    is: usize,
    ps: usize,
}

/// y = alpha·M·x + beta·y if one side is a vector and M has a unit stride;
/// returns false (touching nothing) otherwise.
#[allow(clippy::too_many_arguments)]
pub fn try_gemv<T: GemmElem>(
    simd: Simd,
    threads: usize,
    m: usize,
    n: usize,
    k: usize,
    alpha: T,
    a: &MatRef<T>,
    b: &MatRef<T>,
    beta: T,
    c: &mut [T],
) -> bool {
    // (outputs, matrix, vector as (data, offset, stride))
    let (len, mat, x) = if n == 1 {
        (
            m,
            Mat {
                data: a.data,
                off: a.offset,
                is: a.rs,
                ps: a.cs,
            },
            (b.data, b.offset, b.rs),
        )
    } else if m == 1 {
        (
            n,
            Mat {
                data: b.data,
                off: b.offset,
                is: b.cs,
                ps: b.rs,
            },
            (a.data, a.offset, a.cs),
        )
    } else {
        return false;
    };
    if mat.is != 1 && mat.ps != 1 {
        return false;
    }
    let xv: Vec<T> = (0..k).map(|p| x.0[x.1 + p * x.2]).collect();
    let y = &mut c[..len];
    let threads = if len * k >= PAR_WORK { threads } else { 1 };
    match simd {
        #[cfg(target_arch = "x86_64")]
        // SAFETY: `simd` is the level of a kernel chosen for this CPU.
        Simd::Avx512 => unsafe { gemv_avx512(threads, &mat, &xv, alpha, beta, y) },
        #[cfg(target_arch = "x86_64")]
        // SAFETY: as above.
        Simd::Avx2 => unsafe { gemv_avx2(threads, &mat, &xv, alpha, beta, y) },
        _ => gemv(threads, &mat, &xv, alpha, beta, y),
    }
    true
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx2,fma")]
unsafe fn gemv_avx512<T: GemmElem>(
    threads: usize,
    mat: &Mat<T>,
    x: &[T],
    alpha: T,
    beta: T,
    y: &mut [T],
) {
    gemv(threads, mat, x, alpha, beta, y)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn gemv_avx2<T: GemmElem>(
    threads: usize,
    mat: &Mat<T>,
    x: &[T],
    alpha: T,
    beta: T,
    y: &mut [T],
) {
    gemv(threads, mat, x, alpha, beta, y)
}

#[inline(always)]
fn gemv<T: GemmElem>(threads: usize, mat: &Mat<T>, x: &[T], alpha: T, beta: T, y: &mut [T]) {
    let k = x.len();
    let part = |i0: usize, ys: &mut [T]| {
        if mat.ps == 1 {
            for (i, yi) in ys.iter_mut().enumerate() {
                let s = mat.off + (i0 + i) * mat.is;
                let d = alpha * dot(&mat.data[s..s + k], x);
                *yi = if beta == T::zero() { d } else { d + beta * *yi };
            }
        } else {
            scale(ys, beta);
            for (p, &xp) in x.iter().enumerate() {
                let s = mat.off + p * mat.ps + i0;
                axpy(alpha * xp, &mat.data[s..s + ys.len()], ys);
            }
        }
    };
    if threads > 1 && y.len() > CHUNK {
        crate::cpu::install(|| {
            y.par_chunks_mut(CHUNK)
                .enumerate()
                .for_each(|(t, ys)| part(t * CHUNK, ys))
        });
    } else {
        part(0, y);
    }
}

fn scale<T: GemmElem>(y: &mut [T], beta: T) {
    if beta == T::zero() {
        y.fill(T::zero());
    } else if beta != T::one() {
        y.iter_mut().for_each(|v| *v = *v * beta);
    }
}

/// Σ a[p]·b[p] with 32 independent partial sums, so the loop vectorises
/// (float addition is not reassociated by the compiler on its own).
#[inline(always)]
fn dot<T: GemmElem>(a: &[T], b: &[T]) -> T {
    const L: usize = 32;
    let mut acc = [T::zero(); L];
    let (ac, at) = a.as_chunks::<L>();
    let (bc, bt) = b[..a.len()].as_chunks::<L>();
    for (x, y) in ac.iter().zip(bc) {
        for l in 0..L {
            acc[l] = acc[l] + x[l] * y[l];
        }
    }
    let mut s = T::zero();
    for (&x, &y) in at.iter().zip(bt) {
        s = s + x * y;
    }
    // pairwise, for the accuracy of the final sum
    let mut w = L;
    while w > 1 {
        w /= 2;
        for l in 0..w {
            acc[l] = acc[l] + acc[l + w];
        }
    }
    acc[0] + s
}

#[inline(always)]
fn axpy<T: GemmElem>(s: T, x: &[T], y: &mut [T]) {
    for (yi, &xi) in y.iter_mut().zip(x) {
        *yi = *yi + s * xi;
    }
}
