//! The per-tile element passes between the tile products: mask, causal
//! limit, online-softmax update (forward) and `p`, `ds` (backward), each one
//! pass over the score rows. Compiled per instruction set (the wheel
//! targets baseline x86-64, so otherwise the exp polynomial would run 4
//! lanes wide on SSE2); reductions keep 16 independent partial results so
//! they vectorise without fast-math.

use super::AttnFloat;

use crate::cpu::simd::multiversion;

/// Where one tile's rows read the mask and how many keys they see.
#[derive(Clone, Copy)]
pub struct TileRows<'a, T> {
    pub nq: usize,
    pub nk: usize,
    /// Row stride of the score tiles.
    pub ld: usize,
    /// The additive mask from this tile's (row 0, key 0), and its row stride.
    pub mask: Option<(&'a [T], usize)>,
    /// Causal: row r sees the first `c0 + r` keys of the tile (clamped).
    pub causal: Option<isize>,
}

impl<T> TileRows<'_, T> {
    #[inline(always)]
    fn visible(&self, r: usize) -> usize {
        match self.causal {
            Some(c0) => (c0 + r as isize).clamp(0, self.nk as isize) as usize,
            None => self.nk,
        }
    }
}

#[inline(always)]
fn add_mask<T: AttnFloat>(row: &mut [T], t: &TileRows<T>, r: usize) {
    if let Some((m, ms)) = t.mask {
        let n = row.len();
        row.iter_mut()
            .zip(&m[r * ms..r * ms + n])
            .for_each(|(x, &mv)| *x = *x + mv);
    }
}

#[inline(always)]
fn max16<T: AttnFloat>(x: &[T]) -> T {
    let mut acc = [T::NEG_INF; 16];
    let chunks = x.chunks_exact(16);
    let tail = chunks.remainder();
    for c in chunks {
        for k in 0..16 {
            acc[k] = if c[k] > acc[k] { c[k] } else { acc[k] };
        }
    }
    tail.iter()
        .chain(&acc)
        .fold(T::NEG_INF, |a, &v| if v > a { v } else { a })
}

/// `x ← exp(x − m)`, returning Σ x.
#[inline(always)]
fn exp_sum<T: AttnFloat>(x: &mut [T], m: T) -> T {
    let mut acc = [T::zero(); 16];
    let mut chunks = x.chunks_exact_mut(16);
    for c in &mut chunks {
        for k in 0..16 {
            let e = (c[k] - m).exp_fast();
            c[k] = e;
            acc[k] = acc[k] + e;
        }
    }
    let mut s = acc.iter().fold(T::zero(), |a, &v| a + v);
    for v in chunks.into_remainder() {
        *v = (*v - m).exp_fast();
        s = s + *v;
    }
    s
}

multiversion! {
    /// Online-softmax step for one (query block, key tile): scores `s`
    /// become probabilities relative to the new running max `m` (keys the
    /// causal limit hides become exact zeros), the running sum `l` and the
    /// output rows `o` (stride `ldo`) are rescaled by `exp(m_old − m_new)`.
    pub fn softmax_tile<T: AttnFloat>(s: &mut [T], t: TileRows<'_, T>, m: &mut [T], l: &mut [T], o: &mut [T], ldo: usize) {
        for r in 0..t.nq {
            let row = &mut s[r * t.ld..r * t.ld + t.nk];
            let vis = t.visible(r);
            row[vis..].fill(T::zero());
            let row = &mut row[..vis];
            add_mask(row, &t, r);
            let mn = {
                let mt = max16(row);
                if mt > m[r] { mt } else { m[r] }
            };
            if mn == T::NEG_INF {
                row.fill(T::zero()); // every key so far masked out
                continue;
            }
            let alpha = (m[r] - mn).exp();
            if alpha != T::one() {
                o[r * ldo..(r + 1) * ldo].iter_mut().for_each(|a| *a = *a * alpha);
            }
            l[r] = l[r] * alpha + exp_sum(row, mn);
            m[r] = mn;
        }
    }
}

multiversion! {
    /// Backward for one tile: scores `p` become `exp(s − lse)` and `ds`
    /// (holding dO·Vᵀ) becomes `p·(ds − D)·scale`; hidden keys give zeros.
    pub fn p_ds_tile<T: AttnFloat>(p: &mut [T], ds: &mut [T], t: TileRows<'_, T>, lse: &[T], dvec: &[T], scale: T) {
        for r in 0..t.nq {
            let (row, drow) = (&mut p[r * t.ld..r * t.ld + t.nk], &mut ds[r * t.ld..r * t.ld + t.nk]);
            let vis = t.visible(r);
            row[vis..].fill(T::zero());
            drow[vis..].fill(T::zero());
            let (row, drow) = (&mut row[..vis], &mut drow[..vis]);
            add_mask(row, &t, r);
            let (ls, d) = (lse[r], dvec[r]);
            for (x, dx) in row.iter_mut().zip(drow.iter_mut()) {
                let e = (*x - ls).exp_fast();
                *x = e;
                *dx = e * (*dx - d) * scale;
            }
        }
    }
}
