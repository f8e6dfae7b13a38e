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

/// The gate non-linearities: f64 through libm; f32 through a branch-free
/// Cephes-style exp (range reduction by ln 2, degree-6 polynomial, ~2 ulp)
/// that the compiler can inline and vectorise, since libm's expf/tanhf
/// dominated small recurrent layers.
pub trait Gate: Float + Fma {
    fn sig(self) -> Self;
    fn th(self) -> Self;
}

impl Gate for f64 {
    #[inline(always)]
    fn sig(self) -> f64 {
        1.0 / (1.0 + (-self).exp())
    }
    #[inline(always)]
    fn th(self) -> f64 {
        f64::tanh(self)
    }
}

use super::fastmath::exp_f32;

impl Gate for f32 {
    #[inline(always)]
    fn sig(self) -> f32 {
        1.0 / (1.0 + exp_f32(-self))
    }
    #[inline(always)]
    fn th(self) -> f32 {
        // NaN propagates: clamp keeps it and the polynomial carries it
        1.0 - 2.0 / (exp_f32(2.0 * self) + 1.0)
    }
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
pub fn lstm_forward<T: Gate>(
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
            // equal-length slices so the loop runs without bounds checks (and vectorises)
            let (gi, rest) = gr.split_at_mut(h);
            let (gf, rest) = rest.split_at_mut(h);
            let (gc, go) = rest.split_at_mut(h);
            let (go, cn, ho, cp) = (&mut go[..h], &mut cn[..h], &mut ho[..h], &cp[..h]);
            for j in 0..h {
                let ig = Gate::sig(gi[j]);
                let fg = Gate::sig(gf[j]);
                let gg = gc[j].th();
                let og = Gate::sig(go[j]);
                let c = fg * cp[j] + ig * gg;
                cn[j] = c;
                ho[j] = og * c.th();
                gi[j] = ig;
                gf[j] = fg;
                gc[j] = gg;
                go[j] = og;
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
pub fn lstm_backward<T: Gate>(
    d: LstmDims,
    x: &[T],
    h0: &[T],
    hs: &[T],
    w_ih: &[T],
    w_hh: &[T],
    saved_gates: &[T],
    saved_cs: &[T],
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
        let gact = &saved_gates[tp * b * g4..(tp + 1) * b * g4];
        let dg = &mut dgates[tp * b * g4..(tp + 1) * b * g4];
        let c_all = &saved_cs[(s + 1) * bh..(s + 2) * bh];
        let cp_all = &saved_cs[s * bh..(s + 1) * bh];
        let dhs_t = &dhs[tp * bh..(tp + 1) * bh];
        let row = |((((dgr, dcn), ga), (c, cp)), (dho, dhn)): (
            (((&mut [T], &mut [T]), &[T]), (&[T], &[T])),
            (&[T], &[T]),
        )| {
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

/// What GRU forward keeps for backward: `gates` (T, B, 3H) activated r, z, n
/// in time order; `hn` (T, B, H) = W_hn·h_{t-1} + b_hn (the part r scales).
pub struct GruSaved<T> {
    pub gates: Vec<T>,
    pub hn: Vec<T>,
}

/// GRU forward (PyTorch's formulation, gates r, z, n):
/// `n = tanh(W_in x + b_in + r ⊙ (W_hn h + b_hn))`, `h' = (1−z) ⊙ n + z ⊙ h`.
/// `x` (T·B, I), `h0` (B, H), `w_ih` (3H, I), `w_hh` (3H, H), `b_ih`/`b_hh`
/// (3H) (zeros when absent). Returns the hidden states (T, B, H), time order.
#[allow(clippy::too_many_arguments)]
pub fn gru_forward<T: Gate>(
    d: LstmDims,
    x: &[T],
    h0: &[T],
    w_ih: &[T],
    w_hh: &[T],
    b_ih: &[T],
    b_hh: &[T],
) -> (Vec<T>, GruSaved<T>) {
    let LstmDims { t, b, i, h, reverse } = d;
    let g3 = 3 * h;
    let mut gates = Vec::with_capacity(t * b * g3);
    for _ in 0..t * b {
        gates.extend_from_slice(b_ih);
    }
    if i > 0 {
        let xm = MatRef { data: x, offset: 0, rs: i, cs: 1 };
        gemm(t * b, g3, i, T::one(), xm, MatRef { data: w_ih, offset: 0, rs: 1, cs: i }, T::one(), &mut gates);
    }
    let mut hs = vec![T::zero(); t * b * h];
    let mut hn = vec![T::zero(); t * b * h];
    let mut hprev = h0.to_vec();
    let mut hg = vec![T::zero(); b * g3];
    let whm = MatRef { data: w_hh, offset: 0, rs: 1, cs: h };
    for s in 0..t {
        let tp = tpos(s, t, reverse);
        for r in hg.chunks_mut(g3) {
            r.copy_from_slice(b_hh);
        }
        let hm = MatRef { data: &hprev, offset: 0, rs: h, cs: 1 };
        gemm(b, g3, h, T::one(), hm, whm, T::one(), &mut hg);
        let gblk = &mut gates[tp * b * g3..(tp + 1) * b * g3];
        let hout = &mut hs[tp * b * h..(tp + 1) * b * h];
        let hnb = &mut hn[tp * b * h..(tp + 1) * b * h];
        for ((((gr, hgr), ho), hnr), hp) in
            gblk.chunks_mut(g3).zip(hg.chunks(g3)).zip(hout.chunks_mut(h)).zip(hnb.chunks_mut(h)).zip(hprev.chunks(h))
        {
            for j in 0..h {
                let r = Gate::sig(gr[j] + hgr[j]);
                let z = Gate::sig(gr[h + j] + hgr[h + j]);
                let n = (gr[2 * h + j] + r * hgr[2 * h + j]).th();
                ho[j] = (T::one() - z) * n + z * hp[j];
                hnr[j] = hgr[2 * h + j];
                gr[j] = r;
                gr[h + j] = z;
                gr[2 * h + j] = n;
            }
        }
        hprev.copy_from_slice(hout);
    }
    (hs, GruSaved { gates, hn })
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

/// GRU backward through time; `dhs` (T, B, H) is the gradient of the output
/// sequence (time order, h_n's gradient already folded in by the caller's views).
#[allow(clippy::too_many_arguments)]
pub fn gru_backward<T: Gate>(
    d: LstmDims,
    x: &[T],
    h0: &[T],
    hs: &[T],
    w_ih: &[T],
    w_hh: &[T],
    saved_gates: &[T],
    saved_hn: &[T],
    dhs: &[T],
    want_dx: bool,
) -> GruGrads<T> {
    let LstmDims { t, b, i, h, reverse } = d;
    let g3 = 3 * h;
    let bh = b * h;
    let rows = t * b;
    let mut dxg = vec![T::zero(); rows * g3];
    let mut dhg = vec![T::zero(); rows * g3];
    let mut dh_next = vec![T::zero(); bh];
    let mut dh_prev = vec![T::zero(); bh];
    let whm = MatRef { data: w_hh, offset: 0, rs: h, cs: 1 };
    for s in (0..t).rev() {
        let tp = tpos(s, t, reverse);
        let hp_all: &[T] = if s == 0 { h0 } else { &hs[tpos(s - 1, t, reverse) * bh..][..bh] };
        let ga = &saved_gates[tp * b * g3..(tp + 1) * b * g3];
        let hn = &saved_hn[tp * bh..(tp + 1) * bh];
        let dx_b = &mut dxg[tp * b * g3..(tp + 1) * b * g3];
        let dh_b = &mut dhg[tp * b * g3..(tp + 1) * b * g3];
        let dho = &dhs[tp * bh..(tp + 1) * bh];
        for (bi, (dxr, dhr)) in dx_b.chunks_mut(g3).zip(dh_b.chunks_mut(g3)).enumerate() {
            let o = bi * h;
            let gr = &ga[bi * g3..(bi + 1) * g3];
            for j in 0..h {
                let (r, z, n) = (gr[j], gr[h + j], gr[2 * h + j]);
                let dh = dho[o + j] + dh_next[o + j];
                let dan = dh * (T::one() - z) * (T::one() - n * n);
                let daz = dh * (hp_all[o + j] - n) * z * (T::one() - z);
                let dar = dan * hn[o + j] * r * (T::one() - r);
                dxr[j] = dar;
                dxr[h + j] = daz;
                dxr[2 * h + j] = dan;
                dhr[j] = dar;
                dhr[h + j] = daz;
                dhr[2 * h + j] = dan * r;
                dh_prev[o + j] = dh * z;
            }
        }
        let dgm = MatRef { data: &*dh_b, offset: 0, rs: g3, cs: 1 };
        gemm(b, h, g3, T::one(), dgm, whm, T::one(), &mut dh_prev);
        std::mem::swap(&mut dh_next, &mut dh_prev);
    }
    let dx = if want_dx {
        let mut dx = vec![T::zero(); rows * i];
        if i > 0 {
            let dgm = MatRef { data: &dxg, offset: 0, rs: g3, cs: 1 };
            gemm(rows, i, g3, T::one(), dgm, MatRef { data: w_ih, offset: 0, rs: i, cs: 1 }, T::zero(), &mut dx);
        }
        Some(dx)
    } else {
        None
    };
    let mut dw_ih = vec![T::zero(); g3 * i];
    if i > 0 {
        let dgtm = MatRef { data: &dxg, offset: 0, rs: 1, cs: g3 };
        gemm(g3, i, rows, T::one(), dgtm, MatRef { data: x, offset: 0, rs: i, cs: 1 }, T::zero(), &mut dw_ih);
    }
    let mut hprev = vec![T::zero(); rows * h];
    for s in 0..t {
        let tp = tpos(s, t, reverse);
        let src = if s == 0 { h0 } else { &hs[tpos(s - 1, t, reverse) * bh..][..bh] };
        hprev[tp * bh..(tp + 1) * bh].copy_from_slice(src);
    }
    let mut dw_hh = vec![T::zero(); g3 * h];
    let dhtm = MatRef { data: &dhg, offset: 0, rs: 1, cs: g3 };
    gemm(g3, h, rows, T::one(), dhtm, MatRef { data: &hprev, offset: 0, rs: h, cs: 1 }, T::zero(), &mut dw_hh);
    let colsum = |m: &[T]| {
        let mut v = vec![T::zero(); g3];
        for r in m.chunks(g3) {
            for (a, &x) in v.iter_mut().zip(r) {
                *a = *a + x;
            }
        }
        v
    };
    GruGrads { dx, dh0: dh_next, dw_ih, dw_hh, db_ih: colsum(&dxg), db_hh: colsum(&dhg) }
}

/// Elman RNN forward: `h' = act(W_ih x + b + W_hh h)` with act tanh or relu.
/// `bias` (H) = b_ih + b_hh. Returns the hidden states (T, B, H), time order
/// (they are also everything backward needs).
#[allow(clippy::too_many_arguments)]
pub fn rnn_forward<T: Gate>(d: LstmDims, relu: bool, x: &[T], h0: &[T], w_ih: &[T], w_hh: &[T], bias: &[T]) -> Vec<T> {
    let LstmDims { t, b, i, h, reverse } = d;
    let bh = b * h;
    let mut hs = Vec::with_capacity(t * bh);
    for _ in 0..t * b {
        hs.extend_from_slice(bias);
    }
    if i > 0 {
        let xm = MatRef { data: x, offset: 0, rs: i, cs: 1 };
        gemm(t * b, h, i, T::one(), xm, MatRef { data: w_ih, offset: 0, rs: 1, cs: i }, T::one(), &mut hs);
    }
    let mut hprev = h0.to_vec();
    let whm = MatRef { data: w_hh, offset: 0, rs: 1, cs: h };
    for s in 0..t {
        let tp = tpos(s, t, reverse);
        let blk = &mut hs[tp * bh..(tp + 1) * bh];
        gemm(b, h, h, T::one(), MatRef { data: &hprev, offset: 0, rs: h, cs: 1 }, whm, T::one(), blk);
        for v in blk.iter_mut() {
            *v = if relu {
                if *v < T::zero() { T::zero() } else { *v }
            } else {
                v.th()
            };
        }
        hprev.copy_from_slice(blk);
    }
    hs
}

/// Elman RNN backward through time: returns (dx, dh0, dW_ih, dW_hh, db)
/// where db is the gradient of both b_ih and b_hh.
#[allow(clippy::too_many_arguments, clippy::type_complexity)]
pub fn rnn_backward<T: Gate>(
    d: LstmDims,
    relu: bool,
    x: &[T],
    h0: &[T],
    hs: &[T],
    w_ih: &[T],
    w_hh: &[T],
    dhs: &[T],
    want_dx: bool,
) -> (Option<Vec<T>>, Vec<T>, Vec<T>, Vec<T>, Vec<T>) {
    let LstmDims { t, b, i, h, reverse } = d;
    let bh = b * h;
    let rows = t * b;
    let mut da = vec![T::zero(); rows * h];
    let mut dh_next = vec![T::zero(); bh];
    let whm = MatRef { data: w_hh, offset: 0, rs: h, cs: 1 };
    for s in (0..t).rev() {
        let tp = tpos(s, t, reverse);
        let blk = &mut da[tp * bh..(tp + 1) * bh];
        for (((a, &hv), &go), &gn) in blk.iter_mut().zip(&hs[tp * bh..(tp + 1) * bh]).zip(&dhs[tp * bh..(tp + 1) * bh]).zip(&dh_next) {
            let dh = go + gn;
            *a = if relu {
                if hv > T::zero() { dh } else { T::zero() }
            } else {
                dh * (T::one() - hv * hv)
            };
        }
        gemm(b, h, h, T::one(), MatRef { data: &*blk, offset: 0, rs: h, cs: 1 }, whm, T::zero(), &mut dh_next);
    }
    let dam = MatRef { data: &da, offset: 0, rs: h, cs: 1 };
    let datm = MatRef { data: &da, offset: 0, rs: 1, cs: h };
    let dx = if want_dx {
        let mut dx = vec![T::zero(); rows * i];
        if i > 0 {
            gemm(rows, i, h, T::one(), dam, MatRef { data: w_ih, offset: 0, rs: i, cs: 1 }, T::zero(), &mut dx);
        }
        Some(dx)
    } else {
        None
    };
    let mut dw_ih = vec![T::zero(); h * i];
    if i > 0 {
        gemm(h, i, rows, T::one(), datm, MatRef { data: x, offset: 0, rs: i, cs: 1 }, T::zero(), &mut dw_ih);
    }
    let mut hprev = vec![T::zero(); rows * h];
    for s in 0..t {
        let tp = tpos(s, t, reverse);
        let src = if s == 0 { h0 } else { &hs[tpos(s - 1, t, reverse) * bh..][..bh] };
        hprev[tp * bh..(tp + 1) * bh].copy_from_slice(src);
    }
    let mut dw_hh = vec![T::zero(); h * h];
    gemm(h, h, rows, T::one(), datm, MatRef { data: &hprev, offset: 0, rs: h, cs: 1 }, T::zero(), &mut dw_hh);
    let mut db = vec![T::zero(); h];
    for r in da.chunks(h) {
        for (a, &v) in db.iter_mut().zip(r) {
            *a = *a + v;
        }
    }
    (dx, dh_next, dw_ih, dw_hh, db)
}
