//! GEMM: C = alpha·A·B + beta·C for strided A and B, contiguous row-major C.
//!
//! This first version blocks for cache and lets the compiler vectorise a
//! 4-row register tile, compiled once per instruction set (AVX-512, AVX2+FMA,
//! baseline) and chosen at run time. The BLIS-style packed micro-kernels of
//! the GEMM issue replace `tile` without changing this interface.

pub mod reference;

use super::simd::{level, Simd};
use super::{Float, float::Fma};
use rayon::prelude::*;

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
}

const KC: usize = 256; // depth of one block of B: a KC×NC block stays in L2
const NC: usize = 512;
const MR: usize = 4; // rows of C updated together (4 accumulator rows in L1)
const PAR_FLOPS: usize = 1 << 18; // below this, threads cost more than they save

#[allow(clippy::too_many_arguments)]
pub fn gemm<T: Float + Fma>(m: usize, n: usize, k: usize, alpha: T, a: MatRef<T>, b: MatRef<T>, beta: T, c: &mut [T]) {
    if m == 0 || n == 0 {
        return;
    }
    // beta first, so the kernel only ever accumulates.
    if beta.to_f64() == 0.0 {
        c[..m * n].iter_mut().for_each(|v| *v = T::zero());
    } else if beta.to_f64() != 1.0 {
        c[..m * n].iter_mut().for_each(|v| *v = *v * beta);
    }
    if k == 0 || alpha.to_f64() == 0.0 {
        return;
    }
    // B as a contiguous row-major k×n copy unless it already is one.
    let packed;
    let bdata: &[T] = if b.cs == 1 && b.rs == n {
        &b.data[b.offset..b.offset + k * n]
    } else {
        packed = (0..k).flat_map(|p| (0..n).map(move |j| b.at(p, j))).collect::<Vec<T>>();
        &packed
    };
    let simd = level();
    let work = |rows: std::ops::Range<usize>, crow: &mut [T]| {
        for p0 in (0..k).step_by(KC) {
            let kc = KC.min(k - p0);
            for j0 in (0..n).step_by(NC) {
                let nc = NC.min(n - j0);
                let mut i = rows.start;
                while i < rows.end {
                    let mr = MR.min(rows.end - i);
                    let cbase = (i - rows.start) * n;
                    let blk = Block { a, alpha, i, mr, p0, kc, j0, nc, b: bdata, n };
                    let cs = &mut crow[cbase..cbase + mr * n];
                    dispatch(simd, &blk, cs);
                    i += mr;
                }
            }
        }
    };
    if m * n * k >= PAR_FLOPS && m > MR {
        let rows_per = (m.div_ceil(super::num_threads() * 4)).max(MR).next_multiple_of(MR);
        super::install(|| {
            c[..m * n].par_chunks_mut(rows_per * n).enumerate().for_each(|(t, chunk)| {
                let r0 = t * rows_per;
                work(r0..r0 + chunk.len() / n, chunk)
            })
        });
    } else {
        work(0..m, &mut c[..m * n]);
    }
}

struct Block<'a, T> {
    a: MatRef<'a, T>,
    alpha: T,
    i: usize,
    mr: usize,
    p0: usize,
    kc: usize,
    j0: usize,
    nc: usize,
    b: &'a [T],
    n: usize,
}

fn dispatch<T: Float + Fma>(simd: Simd, blk: &Block<T>, c: &mut [T]) {
    match simd {
        // SAFETY: `level()` only returns these when the CPU has the features.
        #[cfg(target_arch = "x86_64")]
        Simd::Avx512 => unsafe { tile_avx512(blk, c) },
        #[cfg(target_arch = "x86_64")]
        // SAFETY: as above, AVX2 and FMA were detected.
        Simd::Avx2 => unsafe { tile_avx2(blk, c) },
        _ => tile::<T, false>(blk, c),
    }
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx2,fma")]
unsafe fn tile_avx512<T: Float + Fma>(blk: &Block<T>, c: &mut [T]) {
    tile::<T, true>(blk, c)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn tile_avx2<T: Float + Fma>(blk: &Block<T>, c: &mut [T]) {
    tile::<T, true>(blk, c)
}

/// Updates rows i..i+mr, columns j0..j0+nc of C with the kc-deep block.
/// `c` holds exactly those mr full rows. The j loop is contiguous in both B
/// and C, which is what the vectoriser needs.
#[inline(always)]
fn tile<T: Float + Fma, const FMA: bool>(blk: &Block<T>, c: &mut [T]) {
    let (n, nc, j0) = (blk.n, blk.nc, blk.j0);
    let mut acc = [[T::zero(); NC]; MR];
    for p in blk.p0..blk.p0 + blk.kc {
        let brow = &blk.b[p * n + j0..p * n + j0 + nc];
        for r in 0..blk.mr {
            let av = blk.a.at(blk.i + r, p);
            let row = &mut acc[r][..nc];
            for (cv, &bv) in row.iter_mut().zip(brow) {
                *cv = if FMA { T::fma(av, bv, *cv) } else { av * bv + *cv };
            }
        }
    }
    for r in 0..blk.mr {
        let crow = &mut c[r * n + j0..r * n + j0 + nc];
        for (cv, &v) in crow.iter_mut().zip(&acc[r][..nc]) {
            *cv = *cv + blk.alpha * v;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_reference_on_odd_shapes() {
        for &(m, n, k) in &[(1, 1, 1), (5, 7, 3), (33, 17, 300), (9, 600, 5), (0, 3, 2), (3, 4, 0)] {
            let a: Vec<f32> = (0..m * k).map(|v| ((v * 7 % 13) as f32) - 6.0).collect();
            let b: Vec<f32> = (0..k * n).map(|v| ((v * 5 % 11) as f32) - 5.0).collect();
            // A row-major, B read transposed from a column-major buffer
            let am = MatRef { data: &a, offset: 0, rs: k, cs: 1 };
            let bm = MatRef { data: &b, offset: 0, rs: 1, cs: k };
            let mut c1 = vec![1.0f32; m * n];
            let mut c2 = c1.clone();
            gemm(m, n, k, 0.5, am, bm, 2.0, &mut c1);
            reference::gemm_ref(m, n, k, 0.5, am, bm, 2.0, &mut c2);
            for (x, y) in c1.iter().zip(&c2) {
                assert!((x - y).abs() <= 1e-3 * (1.0 + y.abs()), "{m}x{n}x{k}: {x} vs {y}");
            }
        }
    }
}
