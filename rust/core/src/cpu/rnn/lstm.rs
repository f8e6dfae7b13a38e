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
    let mut gates = project(rows, g4, i, x, w_ih, bias);
    let mut hs = vec![T::zero(); rows * h];
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
        let row = |((((gr, cst), hst), co), ho): ((((&mut [T], &mut [T]), &mut [T]), &mut [T]), &mut [T])| {
            // equal-length slices so the loop runs without bounds checks (and vectorises)
            let (gi, rest) = gr.split_at_mut(h);
            let (gf, rest) = rest.split_at_mut(h);
            let (gc, go) = rest.split_at_mut(h);
            let (go, cst, hst, co, ho) = (&mut go[..h], &mut cst[..h], &mut hst[..h], &mut co[..h], &mut ho[..h]);
            for j in 0..h {
                let ig = Gate::sig(gi[j]);
                let fg = Gate::sig(gf[j]);
                let gg = gc[j].th();
                let og = Gate::sig(go[j]);
                let c = fg * cst[j] + ig * gg;
                let hv = og * c.th();
                cst[j] = c;
                co[j] = c;
                hst[j] = hv;
                ho[j] = hv;
                gi[j] = ig;
                gf[j] = fg;
                gc[j] = gg;
                go[j] = og;
            }
        };
        let (cb, hb) = (&mut cs[o * h..(o + nb) * h], &mut hs[o * h..(o + nb) * h]);
        let (cstb, hstb) = (&mut cst[..nb * h], &mut hst[..nb * h]);
        if nb * g4 >= PAR_MIN && nb > 1 {
            crate::cpu::install(|| {
                gblk.par_chunks_mut(g4)
                    .zip(cstb.par_chunks_mut(h))
                    .zip(hstb.par_chunks_mut(h))
                    .zip(cb.par_chunks_mut(h))
                    .zip(hb.par_chunks_mut(h))
                    .for_each(row)
            });
        } else {
            gblk.chunks_mut(g4)
                .zip(cstb.chunks_mut(h))
                .zip(hstb.chunks_mut(h))
                .zip(cb.chunks_mut(h))
                .zip(hb.chunks_mut(h))
                .for_each(row);
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
        let row = |((((dgr, dcn), ga), (c, cp)), (dho, dhn)): ((((&mut [T], &mut [T]), &[T]), (&[T], &[T])), (&[T], &[T]))| {
            for j in 0..h {
                let (ig, fg, gg, og) = (ga[j], ga[h + j], ga[2 * h + j], ga[3 * h + j]);
                let dh = dho[j] + dhn[j];
                let tc = c[j].th();
                let dc = dcn[j] + dh * og * (T::one() - tc * tc);
                dgr[j] = dc * gg * ig * (T::one() - ig);
                dgr[h + j] = dc * cp[j] * fg * (T::one() - fg);
                dgr[2 * h + j] = dc * ig * (T::one() - gg * gg);
                dgr[3 * h + j] = dh * tc * og * (T::one() - og);
                dcn[j] = dc * fg;
            }
        };
        let ga = &gates[o * g4..(o + nb) * g4];
        let (cb, cpb, dhb) = (&cs[o * h..(o + nb) * h], &cprev[o * h..(o + nb) * h], &dhs[o * h..(o + nb) * h]);
        let (dcb, dhn) = (&mut dc[..nb * h], &dh[..nb * h]);
        if nb * g4 >= PAR_MIN && nb > 1 {
            crate::cpu::install(|| {
                dg.par_chunks_mut(g4)
                    .zip(dcb.par_chunks_mut(h))
                    .zip(ga.par_chunks(g4))
                    .zip(cb.par_chunks(h).zip(cpb.par_chunks(h)))
                    .zip(dhb.par_chunks(h).zip(dhn.par_chunks(h)))
                    .for_each(row)
            });
        } else {
            dg.chunks_mut(g4)
                .zip(dcb.chunks_mut(h))
                .zip(ga.chunks(g4))
                .zip(cb.chunks(h).zip(cpb.chunks(h)))
                .zip(dhb.chunks(h).zip(dhn.chunks(h)))
                .for_each(row);
        }
        rec.mul(nb, dg, false, &mut dh[..nb * h], &mut apack);
    }
    let hprev = prev_states(sq, h0, hs);
    let (dx, dw_ih, dw_hh) = weight_grads(sq, g4, x, w_ih, &dgates, &dgates, &hprev, want_dx);
    let db = colsum(&dgates, g4);
    LstmGrads { dx, dh0: dh, dc0: dc, dw_ih, dw_hh, db }
}
