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
#[allow(clippy::too_many_arguments)]
pub fn pack_sliver<T: Element>(data: &[T], base: usize, ls: usize, ks: usize, valid: usize, w: usize, kc: usize, dst: &mut [T]) {
    debug_assert!(valid <= w && dst.len() == w * kc);
    if valid == 0 || kc == 0 {
        dst.fill(T::zero());
        return;
    }
    if ls == 1 {
        for (p, d) in dst.chunks_exact_mut(w).enumerate() {
            let s = base + p * ks;
            d[..valid].copy_from_slice(&data[s..s + valid]);
            d[valid..].fill(T::zero());
        }
    } else if ks == 1 {
        // Four lanes at a time, so each pass over `dst` writes 16 bytes of
        // every step instead of 4 (the rows of dst stay in L1 either way).
        let mut l = 0;
        while l + 4 <= valid {
            let rows: [&[T]; 4] = std::array::from_fn(|q| &data[base + (l + q) * ls..base + (l + q) * ls + kc]);
            for (p, d) in dst.chunks_exact_mut(w).enumerate() {
                let d = &mut d[l..l + 4];
                d[0] = rows[0][p];
                d[1] = rows[1][p];
                d[2] = rows[2][p];
                d[3] = rows[3][p];
            }
            l += 4;
        }
        for l in l..valid {
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

/// Sliver `s` of A for rows `i0 + s*mr ..`, depth `p0 .. p0 + kc`; rows at or
/// past `m` are zero.
#[allow(clippy::too_many_arguments)]
pub fn pack_a<T: Element>(a: &MatRef<T>, m: usize, i0: usize, p0: usize, kc: usize, mr: usize, dst: &mut [T]) {
    let valid = mr.min(m.saturating_sub(i0));
    let base = if valid == 0 { 0 } else { a.offset + i0 * a.rs + p0 * a.cs };
    pack_sliver(a.data, base, a.rs, a.cs, valid, mr, kc, dst);
}

/// Sliver of B for columns `j0 ..`, depth `p0 .. p0 + kc`; columns at or
/// past `n` are zero.
#[allow(clippy::too_many_arguments)]
pub fn pack_b<T: Element>(b: &MatRef<T>, n: usize, j0: usize, p0: usize, kc: usize, nr: usize, dst: &mut [T]) {
    let valid = nr.min(n.saturating_sub(j0));
    let base = if valid == 0 { 0 } else { b.offset + p0 * b.rs + j0 * b.cs };
    pack_sliver(b.data, base, b.cs, b.rs, valid, nr, kc, dst);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_layout_packs_the_same() {
        // a 5×7 matrix, value 10*i + j, stored three ways
        let (m, k) = (5usize, 7usize);
        let val = |i: usize, j: usize| (10 * i + j) as f32;
        let row: Vec<f32> = (0..m * k).map(|x| val(x / k, x % k)).collect();
        let col: Vec<f32> = (0..m * k).map(|x| val(x % m, x / m)).collect();
        let strided: Vec<f32> = (0..m * k * 6).map(|x| if x % 6 == 0 { val((x / 6) / k, (x / 6) % k) } else { -1.0 }).collect();
        let views = [
            MatRef { data: &row[..], offset: 0, rs: k, cs: 1 },
            MatRef { data: &col[..], offset: 0, rs: 1, cs: m },
            MatRef { data: &strided[..], offset: 0, rs: 6 * k, cs: 6 },
        ];
        for v in &views {
            for (i0, p0, kc) in [(0, 0, 7), (4, 2, 3), (3, 6, 1)] {
                let mut d = vec![f32::NAN; 6 * kc];
                pack_a(v, m, i0, p0, kc, 6, &mut d);
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
                pack_b(v, k, p0, i0.min(4), kb, 8, &mut d);
                for p in 0..kb {
                    for c in 0..8 {
                        let want = if p0 + c < k { val(i0.min(4) + p, p0 + c) } else { 0.0 };
                        assert_eq!(d[p * 8 + c], want, "B p={p} c={c}");
                    }
                }
            }
        }
    }
}
