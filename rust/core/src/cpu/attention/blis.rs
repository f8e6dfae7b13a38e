//! The first tiled attention (kept as the reference the packed kernels in
//! `forward.rs` / `backward.rs` are tested against): online softmax (Dao et al., 2022, "FlashAttention";
//! backward as in FlashAttention-2): `O = softmax(Q Kᵀ·scale + M) V` on
//! contiguous `(BH, L, E)` / `(BH, S, E)` / `(BH, S, Ev)` data, never
//! materialising the `L×S` score matrix: memory is O(T·d) plus one key tile
//! of scores per thread.
//!
//! Forward, per (batch·head, block of BQ query rows), over key tiles of BK:
//! scores `S = Q Kᵀ·scale + M` (one single-threaded BLIS GEMM per tile), running max `m_i`, running sum `l_i`, and the
//! accumulator rescaled by `exp(m_old − m_new)`; the row logsumexp
//! `lse_i = m_i + ln l_i` is saved. Under `causal` (top-left aligned,
//! key j visible to query i iff j ≤ i, as torch) key tiles past the block's
//! last row are skipped entirely.
//!
//! Backward recomputes `p = exp(s − lse)` per tile: `D_i = dO_i·O_i`,
//! `ds = p·(dO_i·v_j − D_i)`; one pass parallel over query blocks
//! accumulates dQ, one parallel over key blocks accumulates dK and dV, so no
//! two threads ever write the same row.

use super::{AttnFloat, AttnShape, Mask};
use crate::cpu::gemm::{gemm_threads, MatRef};
use crate::cpu::simd::dot;
use crate::cpu::Float;
use rayon::prelude::*;

const BQ: usize = 64;
const BK: usize = 64;

struct Ctx<'a, T> {
    q: &'a [T],
    k: &'a [T],
    v: &'a [T],
    mask: Option<Mask<'a, T>>,
    sh: AttnShape,
}

/// A row-major view starting at `offset` (row stride `rs`, column stride `cs`).
fn mat<T>(data: &[T], offset: usize, rs: usize, cs: usize) -> MatRef<'_, T> {
    MatRef {
        data,
        offset,
        rs,
        cs,
    }
}

impl<T: AttnFloat> Ctx<'_, T> {
    /// Keys visible to query row `i` end before this index (causal limit).
    fn key_end(&self, i: usize) -> usize {
        if self.sh.causal {
            (i + 1).min(self.sh.s)
        } else {
            self.sh.s
        }
    }

    /// `out[r·nk + c] = q_{i0+r}·k_{j0+c}·scale + mask`, −∞ where causal
    /// hides the key: one single-threaded GEMM (the caller is one rayon task).
    fn scores(&self, b: usize, i0: usize, nq: usize, j0: usize, nk: usize, out: &mut [T]) {
        let AttnShape { l, s, e, .. } = self.sh;
        let a = mat(self.q, (b * l + i0) * e, e, 1);
        let kt = mat(self.k, (b * s + j0) * e, 1, e); // Kᵀ: (E, nk)
        gemm_threads(
            1,
            nq,
            nk,
            e,
            T::from_f64(self.sh.scale),
            a,
            kt,
            T::zero(),
            &mut out[..nq * nk],
        );
        for r in 0..nq {
            let i = i0 + r;
            let row = &mut out[r * nk..(r + 1) * nk];
            if let Some(m) = self.mask {
                let base = if m.per_head { b * l * s } else { 0 } + i * s + j0;
                row.iter_mut()
                    .zip(&m.data[base..base + nk])
                    .for_each(|(x, &mv)| *x = *x + mv);
            }
            let ke = self.key_end(i);
            if ke < j0 + nk {
                row[ke.saturating_sub(j0)..]
                    .iter_mut()
                    .for_each(|x| *x = T::NEG_INF);
            }
        }
    }

    /// For a (query tile, key tile): `p = exp(s − lse)` into `p` and
    /// `ds = p·(dO·v − D)·scale` into `ds` (both nq×nk).
    #[allow(clippy::too_many_arguments)]
    fn p_ds(
        &self,
        b: usize,
        i0: usize,
        nq: usize,
        j0: usize,
        nk: usize,
        lse: &[T],
        dvec: &[T],
        g: &[T],
        p: &mut [T],
        ds: &mut [T],
    ) {
        let AttnShape { l, s, ev, .. } = self.sh;
        self.scores(b, i0, nq, j0, nk, p);
        let (ga, vt) = (
            mat(g, (b * l + i0) * ev, ev, 1),
            mat(self.v, (b * s + j0) * ev, 1, ev),
        );
        gemm_threads(
            1,
            nq,
            nk,
            ev,
            T::one(),
            ga,
            vt,
            T::zero(),
            &mut ds[..nq * nk],
        ); // dP = dO·Vᵀ
        let scale = T::from_f64(self.sh.scale);
        for r in 0..nq {
            let (ls, d) = (lse[b * l + i0 + r], dvec[b * l + i0 + r]);
            for c in r * nk..(r + 1) * nk {
                p[c] = (p[c] - ls).exp_fast();
                ds[c] = p[c] * (ds[c] - d) * scale;
            }
        }
    }
}

/// Runs `f(b, block_index, chunk_a, chunk_b)` for each (batch·head, block of
/// `rows` rows) in parallel; `a` / `b` hold `per_a` / `per_b` values per row.
pub(super) fn par_blocks<T: Float, U: Float>(
    a: &mut [T],
    per_a: usize,
    b: &mut [U],
    per_b: usize,
    n_rows: usize,
    rows: usize,
    f: impl Fn(usize, usize, &mut [T], &mut [U]) + Sync + Send,
) {
    crate::cpu::install(|| {
        a.par_chunks_mut(n_rows * per_a)
            .zip(b.par_chunks_mut(n_rows * per_b))
            .enumerate()
            .for_each(|(bi, (ca, cb))| {
                ca.par_chunks_mut(rows * per_a)
                    .zip(cb.par_chunks_mut(rows * per_b))
                    .enumerate()
                    .for_each(|(blk, (xa, xb))| f(bi, blk, xa, xb));
            })
    });
}

/// Output `(BH, L, Ev)` and the row logsumexp `(BH, L)`. All sizes must be > 0.
pub fn flash_forward<T: AttnFloat>(
    q: &[T],
    k: &[T],
    v: &[T],
    mask: Option<Mask<T>>,
    sh: AttnShape,
) -> (Vec<T>, Vec<T>) {
    let cx = Ctx { q, k, v, mask, sh };
    let mut out = vec![T::zero(); sh.bh * sh.l * sh.ev];
    let mut lse = vec![T::zero(); sh.bh * sh.l];
    par_blocks(&mut out, sh.ev, &mut lse, 1, sh.l, BQ, |b, blk, o, ls| {
        let (i0, nr) = (blk * BQ, ls.len());
        let mut m = vec![T::NEG_INF; nr];
        let mut l = vec![T::zero(); nr];
        let mut p = vec![T::zero(); nr * BK];
        let kend = cx.key_end(i0 + nr - 1); // causal: later key tiles are fully masked
        for j0 in (0..kend).step_by(BK) {
            let nk = (j0 + BK).min(kend) - j0;
            cx.scores(b, i0, nr, j0, nk, &mut p);
            for r in 0..nr {
                let row = &mut p[r * nk..(r + 1) * nk];
                let mt = row
                    .iter()
                    .fold(T::NEG_INF, |a, &x| if x > a { x } else { a });
                let mn = if mt > m[r] { mt } else { m[r] };
                if mn == T::NEG_INF {
                    row.iter_mut().for_each(|x| *x = T::zero()); // every key so far masked out
                    continue;
                }
                let alpha = (m[r] - mn).exp();
                if alpha != T::one() {
                    o[r * sh.ev..(r + 1) * sh.ev]
                        .iter_mut()
                        .for_each(|a| *a = *a * alpha);
                }
                row.iter_mut().for_each(|x| *x = (*x - mn).exp_fast()); // vectorised
                let sum = row.iter().fold(T::zero(), |a, &x| a + x);
                l[r] = l[r] * alpha + sum;
                m[r] = mn;
            }
            // O_blk += P · V_tile
            let vt = mat(cx.v, (b * sh.s + j0) * sh.ev, sh.ev, 1);
            gemm_threads(
                1,
                nr,
                sh.ev,
                nk,
                T::one(),
                mat(&p, 0, nk, 1),
                vt,
                T::one(),
                o,
            );
        }
        for r in 0..nr {
            // l = 0 (a fully masked row) gives NaN, as torch's materialised softmax.
            let inv = T::one() / l[r];
            o[r * sh.ev..(r + 1) * sh.ev]
                .iter_mut()
                .for_each(|a| *a = *a * inv);
            ls[r] = m[r] + l[r].ln();
        }
    });
    (out, lse)
}

/// (dQ, dK, dV) from the upstream gradient `g` `(BH, L, Ev)`, the forward
/// output `o` and its row logsumexp.
#[allow(clippy::too_many_arguments)]
pub fn flash_backward<T: AttnFloat>(
    q: &[T],
    k: &[T],
    v: &[T],
    mask: Option<Mask<T>>,
    sh: AttnShape,
    o: &[T],
    lse: &[T],
    g: &[T],
) -> (Vec<T>, Vec<T>, Vec<T>) {
    let cx = Ctx { q, k, v, mask, sh };
    let (ev, e) = (sh.ev, sh.e);
    let dvec: Vec<T> = (0..sh.bh * sh.l)
        .map(|r| dot(&g[r * ev..][..ev], &o[r * ev..][..ev]))
        .collect();
    // One key block: dV_blk += Pᵀ·dO, dK_blk += dSᵀ·Q over the query tiles
    // that see it, and — when this task owns the whole head — dQ += dS·K_blk.
    let key_block =
        |b: usize, j0: usize, dkb: &mut [T], dvb: &mut [T], mut dqh: Option<&mut [T]>| {
            let nk = dkb.len() / e;
            let (mut p, mut ds) = (vec![T::zero(); BQ * nk], vec![T::zero(); BQ * nk]);
            // causal: query tiles ending before j0 see none of this block's keys
            let i_start = if sh.causal { (j0 / BQ) * BQ } else { 0 };
            for i0 in (i_start..sh.l).step_by(BQ) {
                let nq = (i0 + BQ).min(sh.l) - i0;
                cx.p_ds(b, i0, nq, j0, nk, lse, &dvec, g, &mut p, &mut ds);
                let ga = mat(g, (b * sh.l + i0) * ev, ev, 1);
                gemm_threads(
                    1,
                    nk,
                    ev,
                    nq,
                    T::one(),
                    mat(&p, 0, 1, nk),
                    ga,
                    T::one(),
                    dvb,
                );
                let qa = mat(cx.q, (b * sh.l + i0) * e, e, 1);
                gemm_threads(
                    1,
                    nk,
                    e,
                    nq,
                    T::one(),
                    mat(&ds, 0, 1, nk),
                    qa,
                    T::one(),
                    dkb,
                );
                if let Some(dqh) = dqh.as_deref_mut() {
                    let kt = mat(cx.k, (b * sh.s + j0) * e, e, 1);
                    let dqt = &mut dqh[i0 * e..(i0 + nq) * e];
                    gemm_threads(
                        1,
                        nq,
                        e,
                        nk,
                        T::one(),
                        mat(&ds, 0, nk, 1),
                        kt,
                        T::one(),
                        dqt,
                    );
                }
            }
        };
    let mut dq = vec![T::zero(); sh.bh * sh.l * e];
    let mut dk = vec![T::zero(); sh.bh * sh.s * e];
    let mut dv = vec![T::zero(); sh.bh * sh.s * ev];
    if sh.bh >= 2 * crate::cpu::num_threads() {
        // Enough heads to keep every thread busy: one task per head, each
        // (query, key) tile recomputed once for dQ, dK and dV together.
        crate::cpu::install(|| {
            dq.par_chunks_mut(sh.l * e)
                .zip(dk.par_chunks_mut(sh.s * e))
                .zip(dv.par_chunks_mut(sh.s * ev))
                .enumerate()
                .for_each(|(b, ((dqh, dkh), dvh))| {
                    for (blk, (dkb, dvb)) in dkh
                        .chunks_mut(BK * e)
                        .zip(dvh.chunks_mut(BK * ev))
                        .enumerate()
                    {
                        key_block(b, blk * BK, dkb, dvb, Some(&mut *dqh));
                    }
                })
        });
        return (dq, dk, dv);
    }
    // Few heads: parallel over query blocks for dQ, then over key blocks for
    // dK/dV (each tile recomputed twice, but no two tasks write one row).
    let mut unused = vec![T::zero(); sh.bh * sh.l];
    par_blocks(&mut dq, e, &mut unused, 1, sh.l, BQ, |b, blk, dqb, _| {
        let (i0, nq) = (blk * BQ, dqb.len() / e);
        let (mut p, mut ds) = (vec![T::zero(); nq * BK], vec![T::zero(); nq * BK]);
        let kend = cx.key_end(i0 + nq - 1);
        for j0 in (0..kend).step_by(BK) {
            let nk = (j0 + BK).min(kend) - j0;
            cx.p_ds(b, i0, nq, j0, nk, lse, &dvec, g, &mut p, &mut ds);
            let kt = mat(cx.k, (b * sh.s + j0) * e, e, 1);
            gemm_threads(
                1,
                nq,
                e,
                nk,
                T::one(),
                mat(&ds, 0, nk, 1),
                kt,
                T::one(),
                dqb,
            );
        }
    });
    par_blocks(&mut dk, e, &mut dv, ev, sh.s, BK, |b, blk, dkb, dvb| {
        key_block(b, blk * BK, dkb, dvb, None)
    });
    (dq, dk, dv)
}
