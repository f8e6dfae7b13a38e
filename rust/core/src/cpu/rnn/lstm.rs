//! LSTM forward and backward through time for one layer-direction (gates i,
//! f, g, o; `c' = f⊙c + i⊙g`, `h' = o⊙tanh(c')`). See `mod.rs` for the
//! layout and the shared structure.

use super::recur::Packed;
use super::{colsum, prev_states, project, weight_grads, Gate, Seq, PAR_MIN};
use crate::cpu::gemm::MatRef;
use rayon::prelude::*;

/// Forward results: `hs` (rows, H) the outputs, `h_n`/`c_n` (B, H) each
/// sequence's state after its own last step; for backward, `gates` (rows,
/// 4H) activated and `cs` (rows, H) the cell state after each row's step.
pub struct LstmOut<T> {
    pub hs: Vec<T>,
    pub h_n: Vec<T>,
    pub c_n: Vec<T>,
    pub gates: Vec<T>,
    pub cs: Vec<T>,
}

/// Forward. `x` (rows, I), `h0`/`c0` (B, H), `w_ih` (4H, I), `w_hh` (4H, H),
/// `bias` (4H) = b_ih + b_hh (or zeros) — all contiguous row-major.
pub fn lstm_forward<T: Gate>(sq: &Seq, x: &[T], h0: &[T], c0: &[T], w_ih: &[T], w_hh: &[T], bias: &[T]) -> LstmOut<T> {
    let (rows, i, h) = (sq.rows(), sq.i, sq.h);
    let g4 = 4 * h;
    let mut gates = project(rows, g4, i, x, w_ih);
    // room for h_n and c_n after the outputs (the ops layer appends them)
    let mut hs = Vec::with_capacity((rows + 2 * sq.b) * h);
    hs.resize(rows * h, T::zero());
    let mut cs = vec![T::zero(); rows * h];
    // running states: every row's latest h and c (h_n, c_n at the end)
    let mut hst = h0.to_vec();
    let mut cst = c0.to_vec();
    let rec = Packed::new(MatRef { data: w_hh, offset: 0, rs: 1, cs: h }, h, g4, sq.b);
    let mut apack = Vec::new();
    for s in 0..sq.t() {
        let (o, nb) = sq.blk(sq.tpos(s));
        let gblk = &mut gates[o * g4..(o + nb) * g4];
        rec.mul(nb, &hst[..nb * h], true, gblk, &mut apack);
        let (cb, hb) = (&mut cs[o * h..(o + nb) * h], &mut hs[o * h..(o + nb) * h]);
        let (cstb, hstb) = (&mut cst[..nb * h], &mut hst[..nb * h]);
        if nb * g4 >= PAR_MIN && nb > 1 {
            let rp = nb.div_ceil(crate::cpu::num_threads());
            crate::cpu::install(|| {
                gblk.par_chunks_mut(rp * g4)
                    .zip(cstb.par_chunks_mut(rp * h))
                    .zip(hstb.par_chunks_mut(rp * h))
                    .zip(cb.par_chunks_mut(rp * h))
                    .zip(hb.par_chunks_mut(rp * h))
                    .for_each(|((((g, c1), h1), c2), h2)| fwd_rows(h, bias, g, c1, h1, c2, h2))
            });
        } else {
            fwd_rows(h, bias, gblk, cstb, hstb, cb, hb);
        }
    }
    LstmOut { hs, h_n: hst, c_n: cst, gates, cs }
}

/// Gradients of one layer-direction.
pub struct LstmGrads<T> {
    pub dx: Option<Vec<T>>,
    pub dh0: Vec<T>,
    pub dc0: Vec<T>,
    pub dw_ih: Vec<T>,
    pub dw_hh: Vec<T>,
    /// d(b_ih) = d(b_hh)
    pub db: Vec<T>,
}

/// Backward through time. `hs`, `gates`, `cs` from forward; `dhs` (rows, H)
/// the gradient of the outputs, `dh_n`/`dc_n` (B, H) of the final states.
#[allow(clippy::too_many_arguments)]
pub fn lstm_backward<T: Gate>(
    sq: &Seq,
    x: &[T],
    h0: &[T],
    c0: &[T],
    w_ih: &[T],
    w_hh: &[T],
    fwd: (&[T], &[T], &[T]),
    dhs: &[T],
    dh_n: &[T],
    dc_n: &[T],
    want_dx: bool,
) -> LstmGrads<T> {
    let (hs, gates, cs) = fwd;
    let (rows, h) = (sq.rows(), sq.h);
    let g4 = 4 * h;
    let mut dgates = vec![T::zero(); rows * g4];
    // running gradients of every row's state; a row's stay untouched while
    // it is inactive, so they meet the row's last step (forward) or leave
    // as dh0/dc0 after its first one
    let mut dh = dh_n.to_vec();
    let mut dc = dc_n.to_vec();
    let cprev = prev_states(sq, c0, cs);
    // dh_prev = dG (nb × 4H) @ W_hh (4H × H)
    let rec = Packed::new(MatRef { data: w_hh, offset: 0, rs: h, cs: 1 }, g4, h, sq.b);
    let mut apack = Vec::new();
    for s in (0..sq.t()).rev() {
        let (o, nb) = sq.blk(sq.tpos(s));
        let dg = &mut dgates[o * g4..(o + nb) * g4];
        let ga = &gates[o * g4..(o + nb) * g4];
        let (cb, cpb, dhb) = (&cs[o * h..(o + nb) * h], &cprev[o * h..(o + nb) * h], &dhs[o * h..(o + nb) * h]);
        let (dcb, dhn) = (&mut dc[..nb * h], &dh[..nb * h]);
        if nb * g4 >= PAR_MIN && nb > 1 {
            let rp = nb.div_ceil(crate::cpu::num_threads());
            crate::cpu::install(|| {
                dg.par_chunks_mut(rp * g4)
                    .zip(dcb.par_chunks_mut(rp * h))
                    .zip(ga.par_chunks(rp * g4))
                    .zip(cb.par_chunks(rp * h).zip(cpb.par_chunks(rp * h)))
                    .zip(dhb.par_chunks(rp * h).zip(dhn.par_chunks(rp * h)))
                    .for_each(|((((d1, d2), g), (c, cp)), (dho, dhn))| bwd_rows(h, d1, d2, g, c, cp, dho, dhn))
            });
        } else {
            bwd_rows(h, dg, dcb, ga, cb, cpb, dhb, dhn);
        }
        rec.mul(nb, &*dg, false, &mut dh[..nb * h], &mut apack);
    }
    let hprev = prev_states(sq, h0, hs);
    let (dx, dw_ih, dw_hh) = weight_grads(sq, g4, x, w_ih, &dgates, &dgates, &hprev, want_dx);
    let db = colsum(&dgates, g4);
    LstmGrads { dx, dh0: dh, dc0: dc, dw_ih, dw_hh, db }
}

crate::cpu::simd::multiversion! {
    /// Forward gate pass over a block of rows: adds the bias (4H) to the
    /// gates (rows × 4H) and activates them in place, and writes the new cell and hidden states both into the
    /// running state (`cst`, `hst`) and the saved/output rows (`co`, `ho`).
    /// Split into simple map loops (activations, cell update, output): one
    /// fused loop with five inlined exps and eight streams stayed scalar.
    pub(crate) fn fwd_rows<T: Gate>(h: usize, bias: &[T], gates: &mut [T], cst: &mut [T], hst: &mut [T], co: &mut [T], ho: &mut [T]) {
        for ((((gr, cst), hst), co), ho) in gates.chunks_exact_mut(4 * h).zip(cst.chunks_exact_mut(h)).zip(hst.chunks_exact_mut(h)).zip(co.chunks_exact_mut(h)).zip(ho.chunks_exact_mut(h)) {
            let (ifg, rest) = gr.split_at_mut(2 * h);
            let (gc, go) = rest.split_at_mut(h);
            let (bifg, rest) = bias.split_at(2 * h);
            let (bc, bo) = rest.split_at(h);
            // separate loops: a chained iterator does not vectorise
            for (v, &b) in ifg.iter_mut().zip(bifg) {
                *v = Gate::sig(*v + b);
            }
            for (v, &b) in go.iter_mut().zip(bo) {
                *v = Gate::sig(*v + b);
            }
            for (v, &b) in gc.iter_mut().zip(bc) {
                *v = (*v + b).th();
            }
            let (gi, gf) = ifg.split_at(h);
            let (gi, gf, gc, go) = (&gi[..h], &gf[..h], &gc[..h], &go[..h]);
            let (cst, hst, co, ho) = (&mut cst[..h], &mut hst[..h], &mut co[..h], &mut ho[..h]);
            for j in 0..h {
                let c = gf[j] * cst[j] + gi[j] * gc[j];
                cst[j] = c;
                co[j] = c;
            }
            for j in 0..h {
                let hv = go[j] * cst[j].th();
                hst[j] = hv;
                ho[j] = hv;
            }
        }
    }
}

crate::cpu::simd::multiversion! {
    /// Backward gate pass over a block of rows: from the output gradient
    /// `dho` plus the carried `dhn`, and the carried cell gradient `dc`
    /// (updated in place to the previous step's), the pre-activation gate
    /// gradients `dg` (rows × 4H). tanh(c) first (a map loop), then plain
    /// arithmetic, so both vectorise.
    pub(crate) fn bwd_rows<T: Gate>(h: usize, dg: &mut [T], dc: &mut [T], ga: &[T], c: &[T], cp: &[T], dho: &[T], dhn: &[T]) {
        const W: usize = 64;
        let it = dg.chunks_exact_mut(4 * h).zip(dc.chunks_exact_mut(h)).zip(ga.chunks_exact(4 * h));
        let it2 = c.chunks_exact(h).zip(cp.chunks_exact(h)).zip(dho.chunks_exact(h).zip(dhn.chunks_exact(h)));
        for (((dgr, dcn), ga), ((c, cp), (dho, dhn))) in it.zip(it2) {
            let (gi, rest) = ga.split_at(h);
            let (gf, rest) = rest.split_at(h);
            let (gg, go) = rest.split_at(h);
            let (di, rest) = dgr.split_at_mut(h);
            let (df, rest) = rest.split_at_mut(h);
            let (dgg, dgo) = rest.split_at_mut(h);
            let mut j0 = 0;
            while j0 < h {
                let w = W.min(h - j0);
                let r = j0..j0 + w;
                let mut tc = [T::zero(); W];
                for (t, &cv) in tc[..w].iter_mut().zip(&c[r.clone()]) {
                    *t = cv.th();
                }
                let (gi, gf, gg, go) = (&gi[r.clone()], &gf[r.clone()], &gg[r.clone()], &go[r.clone()]);
                let (di, df, dgg, dgo, dcn) = (&mut di[r.clone()], &mut df[r.clone()], &mut dgg[r.clone()], &mut dgo[r.clone()], &mut dcn[r.clone()]);
                let (cp, dho, dhn, tc) = (&cp[r.clone()], &dho[r.clone()], &dhn[r], &tc[..w]);
                for j in 0..w {
                    let (ig, fg, gv, og) = (gi[j], gf[j], gg[j], go[j]);
                    let dh = dho[j] + dhn[j];
                    let d = dcn[j] + dh * og * (T::one() - tc[j] * tc[j]);
                    di[j] = d * gv * ig * (T::one() - ig);
                    df[j] = d * cp[j] * fg * (T::one() - fg);
                    dgg[j] = d * ig * (T::one() - gv * gv);
                    dgo[j] = dh * tc[j] * og * (T::one() - og);
                    dcn[j] = d * fg;
                }
                j0 += w;
            }
        }
    }
}
