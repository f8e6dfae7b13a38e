//! Packing: copy a strided block of A or B into the sliver layout the
//! micro-kernel streams through (see `kernel.rs`), zero-padding the last
//! sliver so the kernel always computes a full tile without reading past
//! the matrix.
//!
//! Both operands pack with one routine: a sliver is `w` lanes (MR rows of A
//! or NR columns of B) by `kc` steps of depth, and element (lane l, step p)
//! of the source sits at `base + l*ls + p*ks`. Contiguous lanes (B
//! row-major, A column-major) copy whole rows; contiguous depth (A row-major,
//! B column-major, i.e. transposed operands) walks each lane once.
//!
//! All indexing is checked (slices), so a bad view panics instead of reading
//! out of bounds; `mod.rs` validates views before packing.

use super::MatRef;
use crate::tensor::Element;

/// Fills `dst` (`w*kc` long) with `dst[p*w + l] = data[base + l*ls + p*ks]`
/// for `l < valid`, and zero for `valid <= l < w`.
#[inline(always)]
#[allow(clippy::too_many_arguments)]
pub fn pack_sliver<T: Element>(
    data: &[T],
    base: usize,
    ls: usize,
    ks: usize,
    valid: usize,
    w: usize,
    kc: usize,
    dst: &mut [T],
    tr: Option<Transpose<T>>,
) {
    debug_assert!(valid <= w && dst.len() == w * kc);
    if valid == 0 || kc == 0 {
        dst.fill(T::zero());
        return;
    }
    if ls == 1 && valid == w {
        // Whole rows of a fixed width: array copies, not a memcpy call per row.
        match w {
            8 => return copy_rows::<T, 8>(data, base, ks, dst),
            16 => return copy_rows::<T, 16>(data, base, ks, dst),
            24 => return copy_rows::<T, 24>(data, base, ks, dst),
            32 => return copy_rows::<T, 32>(data, base, ks, dst),
            48 => return copy_rows::<T, 48>(data, base, ks, dst),
            64 => return copy_rows::<T, 64>(data, base, ks, dst),
            _ => {}
        }
    }
    if ls == 1 {
        for (p, d) in dst.chunks_exact_mut(w).enumerate() {
            let s = base + p * ks;
            d[..valid].copy_from_slice(&data[s..s + valid]);
            d[valid..].fill(T::zero());
        }
    } else if ks == 1 {
        transpose_lanes(data, base, ls, valid, w, kc, dst, tr);
    } else {
        for (p, d) in dst.chunks_exact_mut(w).enumerate() {
            let s = base + p * ks;
            for (l, x) in d[..valid].iter_mut().enumerate() {
                *x = data[s + l * ls];
            }
            d[valid..].fill(T::zero());
        }
    }
}

#[inline(always)]
fn copy_rows<T: Element, const W: usize>(data: &[T], base: usize, ks: usize, dst: &mut [T]) {
    for (p, d) in dst.chunks_exact_mut(W).enumerate() {
        let s = base + p * ks;
        if let (Some(d), Some(src)) = (d.first_chunk_mut::<W>(), data[s..].first_chunk::<W>()) {
            *d = *src;
        } else {
            // out-of-range source: the checked copy reports it
            d.copy_from_slice(&data[s..s + W]);
        }
    }
}

/// A SIMD block transpose for packing transposed operands: block size `bs`
/// and `f(src, ls, dst, w)` doing `dst[p*w + q] = src[q*ls + p]`, p, q < bs.
/// `f` may only be called where the kernel it came with may run.
pub type Transpose<T> = (usize, unsafe fn(*const T, usize, *mut T, usize));

/// Lanes contiguous along depth (a transposed operand): square blocks,
/// through the SIMD transpose where there is one, else element by element.
#[inline(always)]
#[allow(clippy::too_many_arguments)]
fn transpose_lanes<T: Element>(
    data: &[T],
    base: usize,
    ls: usize,
    valid: usize,
    w: usize,
    kc: usize,
    dst: &mut [T],
    tr: Option<Transpose<T>>,
) {
    let mut l0 = 0;
    if let Some((bs, f)) = tr {
        while l0 + bs <= valid {
            let mut p0 = 0;
            while p0 + bs <= kc {
                let s = base + l0 * ls + p0;
                let src = &data[s..s + (bs - 1) * ls + bs];
                let d0 = p0 * w + l0;
                let d = &mut dst[d0..d0 + (bs - 1) * w + bs];
                // SAFETY: `src` covers src[q*ls + p] and `d` covers d[p*w + q]
                // for p, q < bs (both slices were bounds-checked just above);
                // `tr` comes with the kernel chosen for this CPU.
                unsafe { f(src.as_ptr(), ls, d.as_mut_ptr(), w) };
                p0 += bs;
            }
            for l in l0..l0 + bs {
                let src = &data[base + l * ls + p0..base + l * ls + kc];
                for (d, &v) in dst[p0 * w..].chunks_exact_mut(w).zip(src) {
                    d[l] = v;
                }
            }
            l0 += bs;
        }
    }
    for l in l0..valid {
        let src = &data[base + l * ls..base + l * ls + kc];
        for (d, &v) in dst.chunks_exact_mut(w).zip(src) {
            d[l] = v;
        }
    }
    if valid < w {
        for d in dst.chunks_exact_mut(w) {
            d[valid..].fill(T::zero());
        }
    }
}

/// Sliver `s` of A for rows `i0 + s*mr ..`, depth `p0 .. p0 + kc`; rows at or
/// past `m` are zero.
#[inline(always)]
#[allow(clippy::too_many_arguments)]
pub fn pack_a<T: Element>(
    a: &MatRef<T>,
    m: usize,
    i0: usize,
    p0: usize,
    kc: usize,
    mr: usize,
    dst: &mut [T],
    tr: Option<Transpose<T>>,
) {
    let valid = mr.min(m.saturating_sub(i0));
    let base = if valid == 0 {
        0
    } else {
        a.offset + i0 * a.rs + p0 * a.cs
    };
    pack_sliver(a.data, base, a.rs, a.cs, valid, mr, kc, dst, tr);
}

/// Sliver of B for columns `j0 ..`, depth `p0 .. p0 + kc`; columns at or
/// past `n` are zero.
#[inline(always)]
#[allow(clippy::too_many_arguments)]
pub fn pack_b<T: Element>(
    b: &MatRef<T>,
    n: usize,
    j0: usize,
    p0: usize,
    kc: usize,
    nr: usize,
    dst: &mut [T],
    tr: Option<Transpose<T>>,
) {
    let valid = nr.min(n.saturating_sub(j0));
    let base = if valid == 0 {
        0
    } else {
        b.offset + p0 * b.rs + j0 * b.cs
    };
    pack_sliver(b.data, base, b.cs, b.rs, valid, nr, kc, dst, tr);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn transposes() -> Vec<Option<Transpose<f32>>> {
        let mut v: Vec<Option<Transpose<f32>>> = vec![None];
        if super::super::kernel::supported(crate::cpu::simd::Simd::Avx2) {
            #[cfg(target_arch = "x86_64")]
            v.push(Some((8, super::super::kernel_avx2::transpose8_f32)));
        }
        v
    }

    /// Big transposed blocks through every transpose, against plain indexing.
    #[test]
    fn transposed_panels() {
        let (rows, cols) = (37usize, 45usize); // lanes × depth, stored lane-major
        let data: Vec<f32> = (0..rows * cols + 5).map(|x| x as f32).collect();
        for tr in transposes() {
            for (l0, p0, kc, w) in [
                (0, 0, 45, 32),
                (3, 5, 40, 32),
                (16, 1, 17, 24),
                (30, 0, 45, 16),
            ] {
                let valid = w.min(rows - l0);
                let mut d = vec![f32::NAN; w * kc];
                pack_sliver(&data, 5 + l0 * cols + p0, cols, 1, valid, w, kc, &mut d, tr);
                for p in 0..kc {
                    for l in 0..w {
                        let want = if l < valid {
                            data[5 + (l0 + l) * cols + p0 + p]
                        } else {
                            0.0
                        };
                        assert_eq!(d[p * w + l], want, "l0={l0} p0={p0} w={w} l={l} p={p}");
                    }
                }
            }
        }
    }

    #[test]
    fn every_layout_packs_the_same() {
        // a 5×7 matrix, value 10*i + j, stored three ways
        let (m, k) = (5usize, 7usize);
        let val = |i: usize, j: usize| (10 * i + j) as f32;
        let row: Vec<f32> = (0..m * k).map(|x| val(x / k, x % k)).collect();
        let col: Vec<f32> = (0..m * k).map(|x| val(x % m, x / m)).collect();
        let strided: Vec<f32> = (0..m * k * 6)
            .map(|x| {
                if x % 6 == 0 {
                    val((x / 6) / k, (x / 6) % k)
                } else {
                    -1.0
                }
            })
            .collect();
        let views = [
            MatRef {
                data: &row[..],
                offset: 0,
                rs: k,
                cs: 1,
            },
            MatRef {
                data: &col[..],
                offset: 0,
                rs: 1,
                cs: m,
            },
            MatRef {
                data: &strided[..],
                offset: 0,
                rs: 6 * k,
                cs: 6,
            },
        ];
        for v in &views {
            for (i0, p0, kc) in [(0, 0, 7), (4, 2, 3), (3, 6, 1)] {
                for tr in transposes() {
                    let mut d = vec![f32::NAN; 6 * kc];
                    pack_a(v, m, i0, p0, kc, 6, &mut d, tr);
                    for p in 0..kc {
                        for r in 0..6 {
                            let want = if i0 + r < m { val(i0 + r, p0 + p) } else { 0.0 };
                            assert_eq!(d[p * 6 + r], want, "A i0={i0} p0={p0} r={r} p={p}");
                        }
                    }
                    // the same storage read as B = the k×m transpose... here as a
                    // 5×7 B (rows = depth), columns j0.. padded to 8
                    let mut d = vec![f32::NAN; 8 * kc.min(5 - i0.min(4))];
                    let kb = d.len() / 8;
                    pack_b(v, k, p0, i0.min(4), kb, 8, &mut d, tr);
                    for p in 0..kb {
                        for c in 0..8 {
                            let want = if p0 + c < k {
                                val(i0.min(4) + p, p0 + c)
                            } else {
                                0.0
                            };
                            assert_eq!(d[p * 8 + c], want, "B p={p} c={c}");
                        }
                    }
                }
            }
        }
    }
}
