//! Backward (FlashAttention-2): per (query tile, key tile) recompute
//! `S = scale·Q Kᵀ` and `dP = dO Vᵀ`, then `p = exp(s − lse)` and
//! `ds = p·(dp − D)·scale` (`rows.rs`), and accumulate `dV += Pᵀ dO`,
//! `dK += dSᵀ Q`, `dQ += dS K`. Q, dO, K, V are packed once per head in
//! every orientation these five products read; per tile only Pᵀ, dSᵀ
//! (contiguous copies) and dS (a block transpose) are packed.

use super::packed::{gemm_packed, pack_into, Panel, Plan};
use super::rows::p_ds_tile;
use super::{AttnFloat, Inputs};
use crate::cpu::gemm::kernel::GemmElem;
use rayon::prelude::*;

/// One head's operands, packed for the backward products.
pub(super) struct BwdPanels<T> {
    qa: Panel<T>,  // Q as A: MR rows, depth E          (S = Q·Kᵀ)
    doa: Panel<T>, // dO as A: MR rows, depth Ev        (dP = dO·Vᵀ)
    kt: Panel<T>,  // Kᵀ as B: NR keys, depth E
    vt: Panel<T>,  // Vᵀ as B: NR keys, depth Ev
    qb: Panel<T>,  // Q as B: NR dims, depth L          (dK += dSᵀ·Q)
    dob: Panel<T>, // dO as B: NR dims, depth L         (dV += Pᵀ·dO)
    kb: Panel<T>,  // K as B: NR dims, depth S          (dQ += dS·K)
}

impl<T: AttnFloat + GemmElem> BwdPanels<T> {
    pub fn new(p: &Plan<T>, x: &Inputs<T>, g: &[T], b: usize) -> Self {
        let mut pn = BwdPanels {
            qa: Panel::empty(),
            doa: Panel::empty(),
            kt: Panel::empty(),
            vt: Panel::empty(),
            qb: Panel::empty(),
            dob: Panel::empty(),
            kb: Panel::empty(),
        };
        pn.fill(p, x, g, b);
        pn
    }

    /// Repacks for head `b` in the same buffers.
    pub fn fill(&mut self, p: &Plan<T>, x: &Inputs<T>, g: &[T], b: usize) {
        let (l, s, e, ev) = (x.sh.l, x.sh.s, x.sh.e, x.sh.ev);
        let (kn, mr, nr) = (&p.kern, p.mr(), p.nr());
        let (qo, go, ko, vo) = (b * l * e, b * l * ev, b * s * e, b * s * ev);
        self.qa.fill(kn, x.q, qo, e, 1, l, e, mr);
        self.doa.fill(kn, g, go, ev, 1, l, ev, mr);
        self.kt.fill(kn, x.k, ko, e, 1, s, e, nr);
        self.vt.fill(kn, x.v, vo, ev, 1, s, ev, nr);
        self.qb.fill(kn, x.q, qo, 1, e, e, l, nr);
        self.dob.fill(kn, g, go, 1, ev, ev, l, nr);
        self.kb.fill(kn, x.k, ko, 1, e, e, s, nr);
    }
}

/// Per-task tile buffers.
pub(super) struct Scratch<T> {
    p: Vec<T>,
    ds: Vec<T>,
    a: Vec<T>,
    /// dK, dV accumulators of one key block (BK × Ep, BK × Evp).
    dk: Vec<T>,
    dv: Vec<T>,
}

impl<T: AttnFloat> Scratch<T> {
    pub fn new(p: &Plan<T>, e: usize, ev: usize) -> Self {
        let n = p.bq * p.bk;
        Scratch {
            p: vec![T::zero(); n],
            ds: vec![T::zero(); n],
            a: vec![T::zero(); n],
            dk: vec![T::zero(); p.bk * e.next_multiple_of(p.kern.nr)],
            dv: vec![T::zero(); p.bk * ev.next_multiple_of(p.kern.nr)],
        }
    }
}

/// The tile of rows `i0..i0+nq`, keys `j0..j0+nk` of head `b`.
#[derive(Clone, Copy)]
struct Tile {
    b: usize,
    i0: usize,
    nq: usize,
    j0: usize,
    nk: usize,
}

/// Everything one backward call shares between its tasks.
pub(super) struct Bwd<'a, T> {
    p: Plan<T>,
    x: &'a Inputs<'a, T>,
    lse: &'a [T],
    dvec: &'a [T],
}

impl<T: AttnFloat + GemmElem> Bwd<'_, T> {
    /// P and dS of one tile into the scratch (row-major, stride BK).
    fn p_ds(&self, pn: &BwdPanels<T>, t: Tile, sc: &mut Scratch<T>) {
        let (p, sh) = (&self.p, self.x.sh);
        let (ms, ns) = (t.nq.div_ceil(p.mr()), t.nk.div_ceil(p.nr()));
        let (ia, jb) = (t.i0 / p.mr(), t.j0 / p.nr());
        let scale = T::from_f64(sh.scale);
        gemm_packed(
            &p.kern,
            ms,
            ns,
            sh.e,
            pn.qa.at(ia, 0),
            pn.kt.at(jb, 0),
            scale,
            T::zero(),
            &mut sc.p,
            p.bk,
        );
        gemm_packed(
            &p.kern,
            ms,
            ns,
            sh.ev,
            pn.doa.at(ia, 0),
            pn.vt.at(jb, 0),
            T::one(),
            T::zero(),
            &mut sc.ds,
            p.bk,
        );
        let rows = self.x.tile_rows(t.b, t.i0, t.nq, t.j0, t.nk, p.bk);
        let r0 = t.b * sh.l + t.i0;
        p_ds_tile(
            &mut sc.p,
            &mut sc.ds,
            rows,
            &self.lse[r0..r0 + t.nq],
            &self.dvec[r0..r0 + t.nq],
            scale,
        );
    }

    /// `dV += Pᵀ·dO`, `dK += dSᵀ·Q` into the key block's accumulators
    /// (BK × Evp and BK × Ep, row-major).
    fn dk_dv(&self, pn: &BwdPanels<T>, t: Tile, sc: &mut Scratch<T>) {
        let (p, kn) = (&self.p, &self.p.kern);
        let (mr, nr) = (p.mr(), p.nr());
        let (ep, evp) = (
            self.x.sh.e.next_multiple_of(nr),
            self.x.sh.ev.next_multiple_of(nr),
        );
        let ms = t.nk.div_ceil(mr);
        // Pᵀ as A: MR keys per sliver (contiguous in a row of P), depth nq
        pack_into(kn, &mut sc.a, &sc.p, 0, 1, p.bk, t.nk, t.nq, mr);
        gemm_packed(
            kn,
            ms,
            evp / nr,
            t.nq,
            (&sc.a, t.nq * mr),
            pn.dob.at(0, t.i0),
            T::one(),
            T::one(),
            &mut sc.dv,
            evp,
        );
        pack_into(kn, &mut sc.a, &sc.ds, 0, 1, p.bk, t.nk, t.nq, mr);
        gemm_packed(
            kn,
            ms,
            ep / nr,
            t.nq,
            (&sc.a, t.nq * mr),
            pn.qb.at(0, t.i0),
            T::one(),
            T::one(),
            &mut sc.dk,
            ep,
        );
    }

    /// `dQ += dS·K` into rows `dq` (the tile's rows, stride Ep).
    fn dq(&self, pn: &BwdPanels<T>, t: Tile, sc: &mut Scratch<T>, dq: &mut [T]) {
        let (p, kn) = (&self.p, &self.p.kern);
        let (mr, nr) = (p.mr(), p.nr());
        let ep = self.x.sh.e.next_multiple_of(nr);
        // dS as A: MR query rows per sliver, depth nk (transposed pack)
        pack_into(kn, &mut sc.a, &sc.ds, 0, p.bk, 1, t.nq, t.nk, mr);
        gemm_packed(
            kn,
            t.nq.div_ceil(mr),
            ep / nr,
            t.nk,
            (&sc.a, t.nk * mr),
            pn.kb.at(0, t.j0),
            T::one(),
            T::one(),
            dq,
            ep,
        );
    }

    /// First query block that sees key `j0` (causal: queries before it see none).
    fn first_block(&self, j0: usize) -> usize {
        if self.x.sh.causal {
            j0 / self.p.bq * self.p.bq
        } else {
            0
        }
    }

    /// dK, dV of keys `j0..j0+nk` of head `b` (and, with `dq` = the head's
    /// padded dQ, its contribution to every query row).
    #[allow(clippy::too_many_arguments)]
    fn key_block(
        &self,
        pn: &BwdPanels<T>,
        b: usize,
        j0: usize,
        dkb: &mut [T],
        dvb: &mut [T],
        mut dq: Option<&mut [T]>,
        sc: &mut Scratch<T>,
    ) {
        let (sh, p) = (self.x.sh, &self.p);
        let (ep, evp) = (
            sh.e.next_multiple_of(p.nr()),
            sh.ev.next_multiple_of(p.nr()),
        );
        let nk = dkb.len() / sh.e;
        sc.dk.fill(T::zero());
        sc.dv.fill(T::zero());
        for i0 in (self.first_block(j0)..sh.l).step_by(p.bq) {
            let t = Tile {
                b,
                i0,
                nq: (i0 + p.bq).min(sh.l) - i0,
                j0,
                nk,
            };
            self.p_ds(pn, t, sc);
            self.dk_dv(pn, t, sc);
            if let Some(dq) = dq.as_deref_mut() {
                self.dq(pn, t, sc, &mut dq[i0 * ep..]);
            }
        }
        copy_rows(&sc.dk, ep, dkb, sh.e);
        copy_rows(&sc.dv, evp, dvb, sh.ev);
    }
}

/// Copies the first `w` columns of rows of `src` (stride `ls`) into `dst` (stride `w`).
fn copy_rows<T: Copy>(src: &[T], ls: usize, dst: &mut [T], w: usize) {
    for (d, s) in dst.chunks_exact_mut(w).zip(src.chunks(ls)) {
        d.copy_from_slice(&s[..w]);
    }
}

/// (dQ, dK, dV) given the row logsumexp and `D_i = dO_i·O_i`.
pub(super) fn backward<T: AttnFloat + GemmElem>(
    x: &Inputs<T>,
    g: &[T],
    lse: &[T],
    dvec: &[T],
) -> (Vec<T>, Vec<T>, Vec<T>) {
    let sh = x.sh;
    let bw = Bwd {
        p: Plan::<T>::new(),
        x,
        lse,
        dvec,
    };
    let p = &bw.p;
    let (e, ev) = (sh.e, sh.ev);
    let ep = e.next_multiple_of(p.nr());
    let lp = sh.l.next_multiple_of(p.bq);
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
                .for_each_init(
                    || {
                        (
                            BwdPanels::new(p, x, g, 0),
                            Scratch::new(p, e, ev),
                            vec![T::zero(); lp * ep],
                        )
                    },
                    |(pn, sc, dqp), (b, ((dqh, dkh), dvh))| {
                        pn.fill(p, x, g, b);
                        dqp.fill(T::zero());
                        for (blk, (dkb, dvb)) in dkh
                            .chunks_mut(p.bk * e)
                            .zip(dvh.chunks_mut(p.bk * ev))
                            .enumerate()
                        {
                            bw.key_block(pn, b, blk * p.bk, dkb, dvb, Some(&mut dqp[..]), sc);
                        }
                        copy_rows(dqp, ep, dqh, e);
                    },
                )
        });
        return (dq, dk, dv);
    }
    // Few heads: pack every head, then one pass parallel over query blocks
    // for dQ and one over key blocks for dK/dV (each tile recomputed twice,
    // but no two tasks write one row).
    let panels: Vec<BwdPanels<T>> = crate::cpu::install(|| {
        (0..sh.bh)
            .into_par_iter()
            .map(|b| BwdPanels::new(p, x, g, b))
            .collect()
    });
    let mut unused = vec![T::zero(); sh.bh * sh.l];
    super::blis::par_blocks(&mut dq, e, &mut unused, 1, sh.l, p.bq, |b, blk, dqb, _| {
        let (i0, nq) = (blk * p.bq, dqb.len() / e);
        let mut sc = Scratch::new(p, e, ev);
        let mut dqp = vec![T::zero(); p.bq * ep];
        let kend = x.key_end(i0 + nq - 1);
        for j0 in (0..kend).step_by(p.bk) {
            let t = Tile {
                b,
                i0,
                nq,
                j0,
                nk: (j0 + p.bk).min(kend) - j0,
            };
            bw.p_ds(&panels[b], t, &mut sc);
            bw.dq(&panels[b], t, &mut sc, &mut dqp);
        }
        copy_rows(&dqp, ep, dqb, e);
    });
    super::blis::par_blocks(&mut dk, e, &mut dv, ev, sh.s, p.bk, |b, blk, dkb, dvb| {
        let mut sc = Scratch::new(p, e, ev);
        bw.key_block(&panels[b], b, blk * p.bk, dkb, dvb, None, &mut sc);
    });
    (dq, dk, dv)
}
