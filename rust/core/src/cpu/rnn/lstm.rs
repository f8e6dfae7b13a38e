//! LSTM forward and backward through time for one layer-direction (gates i,
//! f, g, o; `c' = f⊙c + i⊙g`, `h' = o⊙tanh(c')`). See `mod.rs` for the
//! layout and the shared structure.

use super::recur::Packed;
use super::{cat_cols, weight_grads_cat, Chunks, Fresh, Gate, RowsMut, Seq, PAR_MIN};
use crate::cpu::gemm::MatRef;
use crate::cpu::simd::axpy;
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
///
/// Per step (in each batch chunk, see `Chunks`) one product
/// `[x_t | h_prev] · [W_ih | W_hh]ᵀ` gives the gates, then the fused gate
/// pass: the input projection rides in the step's product (no separate
/// GEMM writing every gate to memory for the step to read back and add to),
/// and each step writes its rows of the saved buffers once.
pub fn lstm_forward<T: Gate>(sq: &Seq, x: &[T], h0: &[T], c0: &[T], w_ih: &[T], w_hh: &[T], bias: &[T]) -> LstmOut<T> {
    let (rows, i, h) = (sq.rows(), sq.i, sq.h);
    let (g4, k) = (4 * h, i + h);
    // room for h_n and c_n after the outputs (the ops layer appends them)
    let (gates, cs, hs) = (Fresh::new(rows, g4, 0), Fresh::new(rows, h, 0), Fresh::new(rows, h, 2 * sq.b * h));
    // running states: every row's latest h and c (h_n, c_n at the end)
    let mut hst = h0.to_vec();
    let mut cst = c0.to_vec();
    let ch = Chunks::new(sq.b, sq.t() * g4 * k);
    // B (k × 4H): B(p, j) = [W_ih | W_hh][j, p]
    let wc = cat_cols(w_ih, i, w_hh, h);
    let rec = Packed::new(MatRef { data: &wc, offset: 0, rs: 1, cs: k }, k, g4, ch.max_rows());
    let (hstp, cstp) = (RowsMut::new(&mut hst, h), RowsMut::new(&mut cst, h));
    ch.run(|_, r0, r1, inner| {
        let (mut apack, mut a) = (Vec::new(), Vec::new());
        for s in 0..sq.t() {
            let (o, nb) = sq.blk(sq.tpos(s));
            let e = r1.min(nb);
            if e <= r0 {
                continue;
            }
            let m = e - r0;
            // SAFETY: rows r0..e of the batch (and of this step) are this chunk's alone.
            let (gblk, cb, hb, cstb, hstb) = unsafe { (gates.rows(o + r0, o + e), cs.rows(o + r0, o + e), hs.rows(o + r0, o + e), cstp.rows(r0, e), hstp.rows(r0, e)) };
            a.clear();
            for (xr, hr) in x[(o + r0) * i..(o + e) * i].chunks_exact(i.max(1)).zip(hstb.chunks_exact(h)) {
                a.extend_from_slice(&xr[..i]);
                a.extend_from_slice(hr);
            }
            if i == 0 {
                a.extend_from_slice(hstb);
            }
            rec.mul_threads(inner, m, &a, false, gblk, &mut apack);
            if inner > 1 && m * g4 >= PAR_MIN && m > 1 {
                let rp = m.div_ceil(inner);
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
    });
    LstmOut { hs: hs.finish(), h_n: hst, c_n: cst, gates: gates.finish(), cs: cs.finish() }
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
///
/// Per step (in each batch chunk, see `Chunks`): the gate-gradient pass,
/// the bias gradient's column sum of the fresh (cache-hot) dG rows, the
/// rows' [x | h_prev] for the weight-gradient GEMM, and one product
/// dG · [W_ih | W_hh] giving dx and dh_prev together (so dG is not packed
/// again by a separate dx GEMM). After the recurrence, one GEMM gives both
/// weight gradients (`weight_grads_cat`).
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
    let (rows, i, h) = (sq.rows(), sq.i, sq.h);
    let g4 = 4 * h;
    let xw = i + h;
    let (dgates, xh) = (Fresh::new(rows, g4, 0), Fresh::new(rows, xw, 0));
    // running gradients of every row's state; a row's stay untouched while
    // it is inactive, so they meet the row's last step (forward) or leave
    // as dh0/dc0 after its first one
    let mut dh = dh_n.to_vec();
    let mut dc = dc_n.to_vec();
    // (input_size 0: dx is empty, and the products leave W_ih out)
    let (empty_dx, want_dx) = (want_dx && i == 0, want_dx && i > 0);
    let dx = Fresh::new(if want_dx { rows } else { 0 }, i, 0);
    // the step product's B: W_hh (4H × H), with W_ih before it when dx is wanted
    let nout = if want_dx { xw } else { h };
    let wcat = if want_dx { cat_cols(w_ih, i, w_hh, h) } else { w_hh.to_vec() };
    let ch = Chunks::new(sq.b, sq.t() * g4 * nout);
    let rec = Packed::new(MatRef { data: &wcat, offset: 0, rs: nout, cs: 1 }, g4, nout, ch.max_rows());
    // per-chunk partial bias gradients, summed at the end
    let mut dbs = vec![T::zero(); ch.n * g4];
    {
        let (dhp, dcp, dbp) = (RowsMut::new(&mut dh, h), RowsMut::new(&mut dc, h), RowsMut::new(&mut dbs, g4));
        ch.run(|c, r0, r1, inner| {
            let mut apack = Vec::new();
            let mut scratch = Vec::new();
            // SAFETY: chunk c owns its row of partial sums.
            let db = unsafe { dbp.rows(c, c + 1) };
            for s in (0..sq.t()).rev() {
                let tp = sq.tpos(s);
                let (o, nb) = sq.blk(tp);
                let e = r1.min(nb);
                if e <= r0 {
                    continue;
                }
                let m = e - r0;
                // rows below `keep` continue a previous step (its c, h are
                // their c_prev, h_prev); the others start from c0, h0
                let prev = sq.prev(tp);
                let keep = prev.map_or(0, |q| sq.bs[q].min(nb)).clamp(r0, e);
                let qo = prev.map_or(0, |q| sq.off[q]);
                // SAFETY: rows r0..e of the batch (and of this step) are this chunk's alone.
                let (dg, dcb, dhn, xhb) = unsafe { (dgates.rows(o + r0, o + e), dcp.rows(r0, e), dhp.rows(r0, e), xh.rows(o + r0, o + e)) };
                let ga = &gates[(o + r0) * g4..(o + e) * g4];
                let (cb, dhb) = (&cs[(o + r0) * h..(o + e) * h], &dhs[(o + r0) * h..(o + e) * h]);
                let k = keep - r0;
                let (cp1, cp2) = (&cs[(qo + r0) * h..(qo + keep) * h], &c0[keep * h..e * h]);
                let (dg1, dg2) = dg.split_at_mut(k * g4);
                let (dc1, dc2) = dcb.split_at_mut(k * h);
                let (ga1, ga2) = ga.split_at(k * g4);
                let (cb1, cb2) = cb.split_at(k * h);
                let (dho1, dho2) = dhb.split_at(k * h);
                let (dhn1, dhn2) = dhn.split_at(k * h);
                bwd_pass(inner, h, dg1, dc1, ga1, cb1, cp1, dho1, dhn1);
                bwd_pass(inner, h, dg2, dc2, ga2, cb2, cp2, dho2, dhn2);
                for r in dg.chunks_exact(g4) {
                    axpy(db, T::one(), r);
                }
                for (j, xr) in xhb.chunks_exact_mut(xw).enumerate() {
                    let r = r0 + j;
                    xr[..i].copy_from_slice(&x[(o + r) * i..(o + r + 1) * i]);
                    let hp = if r < keep { &hs[(qo + r) * h..(qo + r + 1) * h] } else { &h0[r * h..(r + 1) * h] };
                    xr[i..].copy_from_slice(hp);
                }
                if want_dx {
                    scratch.resize(m * xw, T::zero());
                    rec.mul_threads(inner, m, dg, false, &mut scratch, &mut apack);
                    // SAFETY: as above.
                    let dxb = unsafe { dx.rows(o + r0, o + e) };
                    for ((sr, dhr), dxr) in scratch.chunks_exact(xw).zip(dhn.chunks_exact_mut(h)).zip(dxb.chunks_exact_mut(i)) {
                        dxr.copy_from_slice(&sr[..i]);
                        dhr.copy_from_slice(&sr[i..]);
                    }
                } else {
                    rec.mul_threads(inner, m, dg, false, dhn, &mut apack);
                }
            }
        });
    }
    let (dgates, xh) = (dgates.finish(), xh.finish());
    let (dw_ih, dw_hh) = weight_grads_cat(rows, g4, i, h, &dgates, &xh);
    let mut db = vec![T::zero(); g4];
    for p in dbs.chunks_exact(g4) {
        axpy(&mut db, T::one(), p);
    }
    let dx = if want_dx { Some(dx.finish()) } else { empty_dx.then(Vec::new) };
    LstmGrads { dx, dh0: dh, dc0: dc, dw_ih, dw_hh, db }
}

/// `bwd_rows` over a block of rows, split across `inner` threads when big.
#[allow(clippy::too_many_arguments)]
fn bwd_pass<T: Gate>(inner: usize, h: usize, dg: &mut [T], dc: &mut [T], ga: &[T], c: &[T], cp: &[T], dho: &[T], dhn: &[T]) {
    let m = dc.len() / h;
    if inner > 1 && m * 4 * h >= PAR_MIN && m > 1 {
        let (rp, g4) = (m.div_ceil(inner), 4 * h);
        crate::cpu::install(|| {
            dg.par_chunks_mut(rp * g4)
                .zip(dc.par_chunks_mut(rp * h))
                .zip(ga.par_chunks(rp * g4))
                .zip(c.par_chunks(rp * h).zip(cp.par_chunks(rp * h)))
                .zip(dho.par_chunks(rp * h).zip(dhn.par_chunks(rp * h)))
                .for_each(|((((d1, d2), g), (c, cp)), (dho, dhn))| bwd_rows(h, d1, d2, g, c, cp, dho, dhn))
        });
    } else if m > 0 {
        bwd_rows(h, dg, dc, ga, c, cp, dho, dhn);
    }
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
