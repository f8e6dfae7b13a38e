//! LSTM kernels for one layer and one direction.
//!
//! Forward: the input projection of every time step is one GEMM
//! (`x (T·B × I) @ W_ihᵀ + b_ih + b_hh`), then per step one recurrent GEMM
//! (`h_{t-1} @ W_hhᵀ`, accumulated into that step's projection) and one fused
//! pass applying the gate non-linearities and the cell update; the activated
//! gates and the cell states are kept for backward.
//!
//! Backward through time mirrors it: per step one fused pass turning dh/dc into
//! the pre-activation gate gradients, and one GEMM for dh_{t-1}; the weight
//! and input gradients are then three big GEMMs over all steps.
//!
//! Layout: gates are ordered i, f, g, o (PyTorch's), each H wide, so a step's
//! gate block is (B × 4H) row-major. Sequences are time-major (T, B, ·).

use super::float::{Fma, Float};
use super::gemm::{gemm, MatRef};
use rayon::prelude::*;

#[inline(always)]
fn sigmoid<T: Float>(x: T) -> T {
    T::one() / (T::one() + (-x).exp())
}

/// Rows of a fused pass run in parallel only when there is enough work.
const PAR_MIN: usize = 1 << 14;

/// Time position processed at step `s` (reverse directions walk backwards).
#[inline(always)]
fn tpos(s: usize, t: usize, reverse: bool) -> usize {
    if reverse { t - 1 - s } else { s }
}

/// Dimensions of one layer-direction.
#[derive(Clone, Copy, Debug)]
pub struct LstmDims {
    pub t: usize,
    pub b: usize,
    pub i: usize,
    pub h: usize,
    pub reverse: bool,
}

/// What forward keeps for backward: `gates` (T, B, 4H) activated, in time
/// order; `cs` (T+1, B, H) cell states in step order (`cs[0]` = c0).
pub struct LstmSaved<T> {
    pub gates: Vec<T>,
    pub cs: Vec<T>,
}

/// Forward. `x` (T·B, I), `h0`/`c0` (B, H), `w_ih` (4H, I), `w_hh` (4H, H),
/// `bias` (4H) = b_ih + b_hh (or zeros) — all contiguous row-major.
/// Returns the hidden states (T, B, H) in time order, and what backward needs.
#[allow(clippy::type_complexity)]
pub fn lstm_forward<T: Float + Fma>(
    d: LstmDims,
    x: &[T],
    h0: &[T],
    c0: &[T],
    w_ih: &[T],
    w_hh: &[T],
    bias: &[T],
) -> (Vec<T>, LstmSaved<T>) {
    let LstmDims { t, b, i, h, reverse } = d;
    let g4 = 4 * h;
    // input projection for all steps, bias folded into C
    let mut gates = Vec::with_capacity(t * b * g4);
    for _ in 0..t * b {
        gates.extend_from_slice(bias);
    }
    let xm = MatRef { data: x, offset: 0, rs: i, cs: 1 };
    // B = W_ihᵀ: B(p, j) = w_ih[j, p]
    let wim = MatRef { data: w_ih, offset: 0, rs: 1, cs: i };
    if i > 0 {
        gemm(t * b, g4, i, T::one(), xm, wim, T::one(), &mut gates);
    }
    let mut hs = vec![T::zero(); t * b * h];
    let mut cs = vec![T::zero(); (t + 1) * b * h];
    cs[..b * h].copy_from_slice(c0);
    let mut hprev = h0.to_vec();
    let whm = MatRef { data: w_hh, offset: 0, rs: 1, cs: h };
    for s in 0..t {
        let tp = tpos(s, t, reverse);
        let gblk = &mut gates[tp * b * g4..(tp + 1) * b * g4];
        let hm = MatRef { data: &hprev, offset: 0, rs: h, cs: 1 };
        gemm(b, g4, h, T::one(), hm, whm, T::one(), gblk);
        let (cprev_all, cnext_all) = cs.split_at_mut((s + 1) * b * h);
        let cprev = &cprev_all[s * b * h..];
        let cnext = &mut cnext_all[..b * h];
        let hout = &mut hs[tp * b * h..(tp + 1) * b * h];
        let row = |(((gr, cn), ho), cp): (((&mut [T], &mut [T]), &mut [T]), &[T])| {
            for j in 0..h {
                let ig = sigmoid(gr[j]);
                let fg = sigmoid(gr[h + j]);
                let gg = gr[2 * h + j].tanh();
                let og = sigmoid(gr[3 * h + j]);
                let c = fg * cp[j] + ig * gg;
                cn[j] = c;
                ho[j] = og * c.tanh();
                gr[j] = ig;
                gr[h + j] = fg;
                gr[2 * h + j] = gg;
                gr[3 * h + j] = og;
            }
        };
        if b * g4 >= PAR_MIN && b > 1 {
            super::install(|| {
                gblk.par_chunks_mut(g4)
                    .zip(cnext.par_chunks_mut(h))
                    .zip(hout.par_chunks_mut(h))
                    .zip(cprev.par_chunks(h))
                    .for_each(row)
            });
        } else {
            gblk.chunks_mut(g4).zip(cnext.chunks_mut(h)).zip(hout.chunks_mut(h)).zip(cprev.chunks(h)).for_each(row);
        }
        hprev.copy_from_slice(hout);
    }
    (hs, LstmSaved { gates, cs })
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

/// Backward through time. `dhs` (T, B, H) gradient of the hidden-state
/// sequence (time order), `dc_n` (B, H) gradient of the final cell state.
#[allow(clippy::too_many_arguments, clippy::type_complexity)]
pub fn lstm_backward<T: Float + Fma>(
    d: LstmDims,
    x: &[T],
    h0: &[T],
    hs: &[T],
    w_ih: &[T],
    w_hh: &[T],
    saved: &LstmSaved<T>,
    dhs: &[T],
    dc_n: &[T],
    want_dx: bool,
) -> LstmGrads<T> {
    let LstmDims { t, b, i, h, reverse } = d;
    let g4 = 4 * h;
    let bh = b * h;
    let mut dgates = vec![T::zero(); t * b * g4];
    let mut dh_next = vec![T::zero(); bh];
    let mut dc_next = dc_n.to_vec();
    // W_hh as B of dh_prev = dG (B × 4H) @ W_hh (4H × H)
    let whm = MatRef { data: w_hh, offset: 0, rs: h, cs: 1 };
    for s in (0..t).rev() {
        let tp = tpos(s, t, reverse);
        let gact = &saved.gates[tp * b * g4..(tp + 1) * b * g4];
        let dg = &mut dgates[tp * b * g4..(tp + 1) * b * g4];
        let c_all = &saved.cs[(s + 1) * bh..(s + 2) * bh];
        let cp_all = &saved.cs[s * bh..(s + 1) * bh];
        let dhs_t = &dhs[tp * bh..(tp + 1) * bh];
        let row = |((((dgr, dcn), ga), (c, cp)), (dho, dhn)): (
            (((&mut [T], &mut [T]), &[T]), (&[T], &[T])),
            (&[T], &[T]),
        )| {
            for j in 0..h {
                let (ig, fg, gg, og) = (ga[j], ga[h + j], ga[2 * h + j], ga[3 * h + j]);
                let dh = dho[j] + dhn[j];
                let tc = c[j].tanh();
                let dc = dcn[j] + dh * og * (T::one() - tc * tc);
                dgr[j] = dc * gg * ig * (T::one() - ig);
                dgr[h + j] = dc * cp[j] * fg * (T::one() - fg);
                dgr[2 * h + j] = dc * ig * (T::one() - gg * gg);
                dgr[3 * h + j] = dh * tc * og * (T::one() - og);
                dcn[j] = dc * fg;
            }
        };
        if b * g4 >= PAR_MIN && b > 1 {
            super::install(|| {
                dg.par_chunks_mut(g4)
                    .zip(dc_next.par_chunks_mut(h))
                    .zip(gact.par_chunks(g4))
                    .zip(c_all.par_chunks(h).zip(cp_all.par_chunks(h)))
                    .zip(dhs_t.par_chunks(h).zip(dh_next.par_chunks(h)))
                    .for_each(row)
            });
        } else {
            dg.chunks_mut(g4)
                .zip(dc_next.chunks_mut(h))
                .zip(gact.chunks(g4))
                .zip(c_all.chunks(h).zip(cp_all.chunks(h)))
                .zip(dhs_t.chunks(h).zip(dh_next.chunks(h)))
                .for_each(row);
        }
        let dgm = MatRef { data: &*dg, offset: 0, rs: g4, cs: 1 };
        gemm(b, h, g4, T::one(), dgm, whm, T::zero(), &mut dh_next);
    }
    let rows = t * b;
    let dgm = MatRef { data: &dgates, offset: 0, rs: g4, cs: 1 };
    // dGᵀ (4H × T·B): A(r, p) = dgates[p, r]
    let dgtm = MatRef { data: &dgates, offset: 0, rs: 1, cs: g4 };
    let dx = if want_dx && i > 0 {
        let mut dx = vec![T::zero(); rows * i];
        gemm(rows, i, g4, T::one(), dgm, MatRef { data: w_ih, offset: 0, rs: i, cs: 1 }, T::zero(), &mut dx);
        Some(dx)
    } else if want_dx {
        Some(Vec::new())
    } else {
        None
    };
    let mut dw_ih = vec![T::zero(); g4 * i];
    if i > 0 {
        gemm(g4, i, rows, T::one(), dgtm, MatRef { data: x, offset: 0, rs: i, cs: 1 }, T::zero(), &mut dw_ih);
    }
    // previous hidden state of every time position, time order
    let mut hprev = vec![T::zero(); rows * h];
    for s in 0..t {
        let tp = tpos(s, t, reverse);
        let src = if s == 0 { h0 } else { &hs[tpos(s - 1, t, reverse) * bh..][..bh] };
        hprev[tp * bh..(tp + 1) * bh].copy_from_slice(src);
    }
    let mut dw_hh = vec![T::zero(); g4 * h];
    gemm(g4, h, rows, T::one(), dgtm, MatRef { data: &hprev, offset: 0, rs: h, cs: 1 }, T::zero(), &mut dw_hh);
    let mut db = vec![T::zero(); g4];
    for r in dgates.chunks(g4) {
        for (a, &v) in db.iter_mut().zip(r) {
            *a = *a + v;
        }
    }
    LstmGrads { dx, dh0: dh_next, dc0: dc_next, dw_ih, dw_hh, db }
}
