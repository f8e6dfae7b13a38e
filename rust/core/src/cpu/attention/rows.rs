//! The per-tile element passes between the tile products: mask, causal
//! limit, online-softmax update (forward, down the columns of a transposed
//! tile) and `p`, `ds` (backward, along rows of key slivers). Compiled per instruction set (the wheel
//! targets baseline x86-64, so otherwise the exp polynomial would run 4
//! lanes wide on SSE2); every reduction is lane-wise (one partial result
//! per query), so it vectorises without fast-math.

use super::{log2e, AttnFloat};

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
        let (n, k) = (row.len(), log2e::<T>()); // scores are in log2 units
        row.iter_mut()
            .zip(&m[r * ms..r * ms + n])
            .for_each(|(x, &mv)| *x = *x + mv * k);
    }
}

/// One NR-query sliver of a transposed forward score tile: `nk` rows (keys)
/// of `w` lanes (queries), as the score product wrote it.
#[derive(Clone, Copy)]
pub struct ColTile<'a, T> {
    pub nk: usize,
    pub w: usize,
    /// Lanes that are real query rows (the rest is padding, never read back).
    pub nq: usize,
    /// The additive mask from (this sliver's query 0, the tile's key 0) and
    /// its row stride (a query's keys are contiguous: read with stride here).
    pub mask: Option<(&'a [T], usize)>,
    /// Causal: key row p hides lanes `..p + c` (c = first key − first query).
    pub causal: Option<isize>,
}

/// Lanes `g0 .. g0 + G` of a transposed sliver (see `softmax_cols`). `G`
/// is a constant so the per-lane state (max, sum, alpha) stays in
/// registers: with the runtime width the compiler kept it on the stack and
/// spent most of the pass on masked store/reload pairs.
#[inline(always)]
#[allow(clippy::too_many_arguments)]
fn cols<T: AttnFloat, const G: usize, const HID: bool>(
    s: &mut [T],
    t: &ColTile<'_, T>,
    g0: usize,
    m: &mut [T],
    l: &mut [T],
    o: &mut [T],
    ldo: usize,
    orows: usize,
) {
    let w = t.w;
    let mut mx = [T::NEG_INF; G];
    for p in 0..t.nk {
        let row: &mut [T; G] = (&mut s[p * w + g0..p * w + g0 + G])
            .try_into()
            .expect("G lanes");
        if let Some((mk, ms)) = t.mask {
            let k = log2e::<T>(); // scores are in log2 units
            for (lane, x) in row.iter_mut().enumerate().take(t.nq.saturating_sub(g0)) {
                *x = *x + mk[(g0 + lane) * ms + p] * k;
            }
        }
        if let Some(c) = t.causal {
            let h = (p as isize + c - g0 as isize).clamp(0, G as isize) as usize;
            row[..h].fill(T::NEG_INF);
        }
        for k in 0..G {
            mx[k] = if row[k] > mx[k] { row[k] } else { mx[k] };
        }
    }
    // The new max, 0 where a query has seen only −∞ (so exp gives 0, not NaN).
    let (mut mu, mut alpha) = ([T::zero(); G], [T::zero(); G]);
    for k in 0..G {
        let mo = m[g0 + k];
        let mn = if mx[k] > mo { mx[k] } else { mo };
        mu[k] = if mn == T::NEG_INF { T::zero() } else { mn };
        alpha[k] = (mo - mu[k]).exp2_fast();
        m[g0 + k] = mn;
    }
    let mut sum = [T::zero(); G];
    for p in 0..t.nk {
        let row: &mut [T; G] = (&mut s[p * w + g0..p * w + g0 + G])
            .try_into()
            .expect("G lanes");
        for k in 0..G {
            let x = row[k];
            let e = (x - mu[k]).exp2_fast();
            // exp2_fast(−∞) is ~1e-38, not 0: hidden keys must add nothing
            // (only tiles with a mask or causal limit can hold −∞)
            let e = if HID && x == T::NEG_INF { T::zero() } else { e };
            row[k] = e;
            sum[k] = sum[k] + e;
        }
    }
    for k in 0..G {
        l[g0 + k] = l[g0 + k] * alpha[k] + sum[k];
    }
    for r in 0..orows {
        let y: &mut [T; G] = (&mut o[r * ldo + g0..r * ldo + g0 + G])
            .try_into()
            .expect("G lanes");
        for k in 0..G {
            y[k] = y[k] * alpha[k];
        }
    }
}

multiversion! {
    /// Online-softmax step on one transposed sliver: the scores `s` (nk × w,
    /// in log2 units: scale·log2(e) folded into the score product)
    /// become probabilities relative to each query's new running max `m`
    /// (hidden keys give exact zeros), the running sums `l` and the `orows`
    /// rows of the output columns `o` (stride `ldo`, Oᵀ) are rescaled by
    /// `2^(m_old − m_new)`. Every reduction runs down the rows, lane-wise,
    /// so it vectorises with no horizontal step.
    pub fn softmax_cols<T: AttnFloat>(s: &mut [T], t: ColTile<'_, T>, m: &mut [T], l: &mut [T], o: &mut [T], ldo: usize, orows: usize) {
        // lane groups of a constant width dividing NR (32, 16, 12, 8 in the kernel table)
        let g = [32, 16, 8, 4].into_iter().find(|g| t.w.is_multiple_of(*g)).unwrap_or(1);
        let hid = t.mask.is_some() || t.causal.is_some();
        for g0 in (0..t.w).step_by(g) {
            match (g, hid) {
                (32, false) => cols::<T, 32, false>(s, &t, g0, m, l, o, ldo, orows),
                (32, true) => cols::<T, 32, true>(s, &t, g0, m, l, o, ldo, orows),
                (16, false) => cols::<T, 16, false>(s, &t, g0, m, l, o, ldo, orows),
                (16, true) => cols::<T, 16, true>(s, &t, g0, m, l, o, ldo, orows),
                (8, _) => cols::<T, 8, true>(s, &t, g0, m, l, o, ldo, orows),
                (4, _) => cols::<T, 4, true>(s, &t, g0, m, l, o, ldo, orows),
                _ => cols::<T, 1, true>(s, &t, g0, m, l, o, ldo, orows),
            }
        }
    }
}

multiversion! {
    /// Backward for one tile: scores `p` (log2 units, as the forward's)
    /// become `2^(s − lse·log2 e)` and `ds`
    /// (holding dO·Vᵀ) becomes `p·(ds − D)·scale`; hidden keys give zeros.
    pub fn p_ds_tile<T: AttnFloat>(p: &mut [T], ds: &mut [T], t: TileRows<'_, T>, lse: &[T], dvec: &[T], scale: T) {
        for r in 0..t.nq {
            let (row, drow) = (&mut p[r * t.ld..r * t.ld + t.nk], &mut ds[r * t.ld..r * t.ld + t.nk]);
            let vis = t.visible(r);
            row[vis..].fill(T::zero());
            drow[vis..].fill(T::zero());
            let (row, drow) = (&mut row[..vis], &mut drow[..vis]);
            add_mask(row, &t, r);
            let (ls, d) = (lse[r] * log2e::<T>(), dvec[r]);
            for (x, dx) in row.iter_mut().zip(drow.iter_mut()) {
                let e = (*x - ls).exp2_fast();
                *x = e;
                *dx = e * (*dx - d) * scale;
            }
        }
    }
}
