//! Elman RNN forward and backward through time for one layer-direction:
//! `h' = act(W_ih x + b_ih + W_hh h + b_hh)`, act tanh or relu. See `mod.rs`
//! for the layout and the shared structure.

use super::recur::Packed;
use super::{colsum, prev_states, project, weight_grads, Gate, Seq};
use crate::cpu::gemm::MatRef;

/// Forward; `bias` (H) = b_ih + b_hh. Returns the outputs (rows, H) — also
/// everything backward needs — and h_n (B, H).
#[allow(clippy::too_many_arguments)]
pub fn rnn_forward<T: Gate>(sq: &Seq, relu: bool, x: &[T], h0: &[T], w_ih: &[T], w_hh: &[T], bias: &[T]) -> (Vec<T>, Vec<T>) {
    let (rows, i, h) = (sq.rows(), sq.i, sq.h);
    let mut hs = project(rows, h, i, x, w_ih);
    let mut hst = h0.to_vec();
    let rec = Packed::new(MatRef { data: w_hh, offset: 0, rs: 1, cs: h }, h, h, sq.b);
    let mut apack = Vec::new();
    for s in 0..sq.t() {
        let (o, nb) = sq.blk(sq.tpos(s));
        let blk = &mut hs[o * h..(o + nb) * h];
        rec.mul(nb, &hst[..nb * h], true, blk, &mut apack);
        for row in blk.chunks_exact_mut(h) {
            for (v, &b) in row.iter_mut().zip(bias) {
                let a = *v + b;
                *v = if relu {
                    if a < T::zero() { T::zero() } else { a }
                } else {
                    a.th()
                };
            }
        }
        hst[..nb * h].copy_from_slice(blk);
    }
    (hs, hst)
}

/// Backward through time: returns (dx, dh0, dW_ih, dW_hh, db) where db is
/// the gradient of both b_ih and b_hh. `dhs` (rows, H), `dh_n` (B, H).
#[allow(clippy::too_many_arguments, clippy::type_complexity)]
pub fn rnn_backward<T: Gate>(
    sq: &Seq,
    relu: bool,
    x: &[T],
    h0: &[T],
    hs: &[T],
    w_ih: &[T],
    w_hh: &[T],
    dhs: &[T],
    dh_n: &[T],
    want_dx: bool,
) -> (Option<Vec<T>>, Vec<T>, Vec<T>, Vec<T>, Vec<T>) {
    let (rows, h) = (sq.rows(), sq.h);
    let mut da = vec![T::zero(); rows * h];
    let mut dh = dh_n.to_vec();
    let rec = Packed::new(MatRef { data: w_hh, offset: 0, rs: h, cs: 1 }, h, h, sq.b);
    let mut apack = Vec::new();
    for s in (0..sq.t()).rev() {
        let (o, nb) = sq.blk(sq.tpos(s));
        let blk = &mut da[o * h..(o + nb) * h];
        let (hb, gb) = (&hs[o * h..(o + nb) * h], &dhs[o * h..(o + nb) * h]);
        for (((a, &hv), &go), &gn) in blk.iter_mut().zip(hb).zip(gb).zip(&dh[..nb * h]) {
            let d = go + gn;
            *a = if relu {
                if hv > T::zero() { d } else { T::zero() }
            } else {
                d * (T::one() - hv * hv)
            };
        }
        rec.mul(nb, blk, false, &mut dh[..nb * h], &mut apack);
    }
    let hprev = prev_states(sq, h0, hs);
    let (dx, dw_ih, dw_hh) = weight_grads(sq, h, x, w_ih, &da, &da, &hprev, want_dx);
    let db = colsum(&da, h);
    (dx, dh, dw_ih, dw_hh, db)
}
