//! GRU forward and backward through time for one layer-direction
//! (PyTorch's formulation, gates r, z, n):
//! `n = tanh(W_in x + b_in + r ⊙ (W_hn h + b_hn))`, `h' = (1−z) ⊙ n + z ⊙ h`.
//! See `mod.rs` for the layout and the shared structure.

use super::recur::Packed;
use super::{colsum, prev_states, project, weight_grads, Gate, Seq};
use crate::cpu::gemm::MatRef;

/// What GRU forward keeps for backward: `gates` (rows, 3H) activated r, z,
/// n; `hn` (rows, H) = W_hn·h_prev + b_hn (the part r scales).
pub struct GruSaved<T> {
    pub gates: Vec<T>,
    pub hn: Vec<T>,
}

/// Forward. `x` (rows, I), `h0` (B, H), `w_ih` (3H, I), `w_hh` (3H, H),
/// `b_ih`/`b_hh` (3H) (zeros when absent). Returns the outputs (rows, H),
/// h_n (B, H) and what backward needs.
#[allow(clippy::too_many_arguments)]
pub fn gru_forward<T: Gate>(sq: &Seq, x: &[T], h0: &[T], w_ih: &[T], w_hh: &[T], b_ih: &[T], b_hh: &[T]) -> (Vec<T>, Vec<T>, GruSaved<T>) {
    let (rows, i, h) = (sq.rows(), sq.i, sq.h);
    let g3 = 3 * h;
    let mut gates = project(rows, g3, i, x, w_ih);
    let (bi_r, bi_z, bi_n) = (&b_ih[..h], &b_ih[h..2 * h], &b_ih[2 * h..3 * h]);
    // room for h_n after the outputs (the ops layer appends it)
    let mut hs = Vec::with_capacity((rows + sq.b) * h);
    hs.resize(rows * h, T::zero());
    let mut hn = vec![T::zero(); rows * h];
    let mut hst = h0.to_vec();
    let mut hg = vec![T::zero(); sq.b * g3];
    let rec = Packed::new(MatRef { data: w_hh, offset: 0, rs: 1, cs: h }, h, g3, sq.b);
    let mut apack = Vec::new();
    for s in 0..sq.t() {
        let (o, nb) = sq.blk(sq.tpos(s));
        let hgb = &mut hg[..nb * g3];
        for r in hgb.chunks_mut(g3) {
            r.copy_from_slice(b_hh);
        }
        rec.mul(nb, &hst[..nb * h], true, hgb, &mut apack);
        let gblk = &mut gates[o * g3..(o + nb) * g3];
        let hout = &mut hs[o * h..(o + nb) * h];
        let hnb = &mut hn[o * h..(o + nb) * h];
        for ((((gr, hgr), ho), hnr), hp) in
            gblk.chunks_mut(g3).zip(hgb.chunks(g3)).zip(hout.chunks_mut(h)).zip(hnb.chunks_mut(h)).zip(hst.chunks_mut(h))
        {
            for j in 0..h {
                let r = Gate::sig(gr[j] + bi_r[j] + hgr[j]);
                let z = Gate::sig(gr[h + j] + bi_z[j] + hgr[h + j]);
                let n = (gr[2 * h + j] + bi_n[j] + r * hgr[2 * h + j]).th();
                let hv = (T::one() - z) * n + z * hp[j];
                ho[j] = hv;
                hp[j] = hv;
                hnr[j] = hgr[2 * h + j];
                gr[j] = r;
                gr[h + j] = z;
                gr[2 * h + j] = n;
            }
        }
    }
    (hs, hst, GruSaved { gates, hn })
}

/// Gradients of one GRU layer-direction (biases separate: b_hn differs).
pub struct GruGrads<T> {
    pub dx: Option<Vec<T>>,
    pub dh0: Vec<T>,
    pub dw_ih: Vec<T>,
    pub dw_hh: Vec<T>,
    pub db_ih: Vec<T>,
    pub db_hh: Vec<T>,
}

/// Backward through time; `dhs` (rows, H) is the gradient of the outputs,
/// `dh_n` (B, H) of the final states.
#[allow(clippy::too_many_arguments)]
pub fn gru_backward<T: Gate>(
    sq: &Seq,
    x: &[T],
    h0: &[T],
    hs: &[T],
    w_ih: &[T],
    w_hh: &[T],
    saved: (&[T], &[T]),
    dhs: &[T],
    dh_n: &[T],
    want_dx: bool,
) -> GruGrads<T> {
    let (saved_gates, saved_hn) = saved;
    let (rows, h) = (sq.rows(), sq.h);
    let g3 = 3 * h;
    let mut dxg = vec![T::zero(); rows * g3];
    let mut dhg = vec![T::zero(); rows * g3];
    let mut dh = dh_n.to_vec();
    let hprev = prev_states(sq, h0, hs);
    let rec = Packed::new(MatRef { data: w_hh, offset: 0, rs: h, cs: 1 }, g3, h, sq.b);
    let mut apack = Vec::new();
    for s in (0..sq.t()).rev() {
        let (o, nb) = sq.blk(sq.tpos(s));
        let ga = &saved_gates[o * g3..(o + nb) * g3];
        let hn = &saved_hn[o * h..(o + nb) * h];
        let hp = &hprev[o * h..(o + nb) * h];
        let dho = &dhs[o * h..(o + nb) * h];
        let dx_b = &mut dxg[o * g3..(o + nb) * g3];
        let dh_b = &mut dhg[o * g3..(o + nb) * g3];
        for (bi, (dxr, dhr)) in dx_b.chunks_mut(g3).zip(dh_b.chunks_mut(g3)).enumerate() {
            let q = bi * h;
            let gr = &ga[bi * g3..(bi + 1) * g3];
            for j in 0..h {
                let (r, z, n) = (gr[j], gr[h + j], gr[2 * h + j]);
                let d = dho[q + j] + dh[q + j];
                let dan = d * (T::one() - z) * (T::one() - n * n);
                let daz = d * (hp[q + j] - n) * z * (T::one() - z);
                let dar = dan * hn[q + j] * r * (T::one() - r);
                dxr[j] = dar;
                dxr[h + j] = daz;
                dxr[2 * h + j] = dan;
                dhr[j] = dar;
                dhr[h + j] = daz;
                dhr[2 * h + j] = dan * r;
                // the direct path; the recurrent product is added below
                dh[q + j] = d * z;
            }
        }
        rec.mul(nb, dh_b, true, &mut dh[..nb * h], &mut apack);
    }
    let (dx, dw_ih, dw_hh) = weight_grads(sq, g3, x, w_ih, &dxg, &dhg, &hprev, want_dx);
    GruGrads { dx, dh0: dh, dw_ih, dw_hh, db_ih: colsum(&dxg, g3), db_hh: colsum(&dhg, g3) }
}
