//! Backward (FlashAttention-2): per (query tile, key tile) recompute
//! `S = scale·Q Kᵀ` and `dP = dO Vᵀ`, then `p = exp(s − lse)` and
//! `ds = p·(dp − D)·scale` (`rows.rs`), and accumulate `dVᵀ += dOᵀ P`,
//! `dKᵀ += Qᵀ dS`, `dQ += dS K`. Q, dO, K, V are packed once per head in
//! every orientation these five products read. S and dP are written one
//! NR-key sliver at a time with row stride NR — the B-panel layout of the
//! dVᵀ and dKᵀ products, so P and dS feed them unpacked; only dS is packed
//! per tile (a block transpose, as A of dQ). dKᵀ, dVᵀ are transposed into
//! dK, dV once per key block.

use super::packed::{gemm_packed, Panel, Plan};
use super::rows::p_ds_tile;
use super::{log2e, AttnFloat, Inputs};
use crate::cpu::gemm::kernel::GemmElem;
use crate::cpu::gemm::pack::pack_sliver;
use rayon::prelude::*;

/// One head's operands, packed for the backward products.
pub(super) struct BwdPanels<T> {
    qa: Panel<T>,  // Q as A: MR rows, depth E          (S = Q·Kᵀ)
    doa: Panel<T>, // dO as A: MR rows, depth Ev        (dP = dO·Vᵀ)
    kt: Panel<T>,  // Kᵀ as B: NR keys, depth E
    vt: Panel<T>,  // Vᵀ as B: NR keys, depth Ev
    qt: Panel<T>,  // Qᵀ as A (narrow kernel): dims, depth L   (dKᵀ += Qᵀ·dS)
    dot: Panel<T>, // dOᵀ as A (narrow kernel): dims, depth L  (dVᵀ += dOᵀ·P)
    kb: Panel<T>,  // K as B: NR dims, depth S          (dQ += dS·K)
}

impl<T: AttnFloat + GemmElem> BwdPanels<T> {
    pub fn new(p: &Plan<T>, x: &Inputs<T>, g: &[T], b: usize) -> Self {
        let mut pn = BwdPanels {
            qa: Panel::empty(),
            doa: Panel::empty(),
            kt: Panel::empty(),
            vt: Panel::empty(),
            qt: Panel::empty(),
            dot: Panel::empty(),
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
        self.qt.fill(kn, x.q, qo, 1, e, e, l, p.ke.mr);
        self.dot.fill(kn, g, go, 1, ev, ev, l, p.kv.mr);
        self.kb.fill(kn, x.k, ko, 1, e, e, s, nr);
    }
}

/// Per-task tile buffers.
pub(super) struct Scratch<T> {
    /// P and dS: BK/NR key slivers of BQ query rows × NR keys.
    p: Vec<T>,
    ds: Vec<T>,
    /// dS packed as A (MR query rows, depth nk).
    a: Vec<T>,
    /// dKᵀ, dVᵀ accumulators of one key block (E, Ev padded to the narrow MRs × BK).
    dkt: Vec<T>,
    dvt: Vec<T>,
}

impl<T: AttnFloat> Scratch<T> {
    pub fn new(p: &Plan<T>, e: usize, ev: usize) -> Self {
        let n = p.bq * p.bk;
        Scratch {
            p: vec![T::zero(); n],
            ds: vec![T::zero(); n],
            a: vec![T::zero(); n],
            dkt: vec![T::zero(); e.next_multiple_of(p.ke.mr) * p.bk],
            dvt: vec![T::zero(); ev.next_multiple_of(p.kv.mr) * p.bk],
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
    /// Causal: the first row of tile `t` (rounded down to a sliver of MR)
    /// that sees key `j`; the rows above it are neither computed nor read.
    fn first_row(&self, t: Tile, j: usize) -> usize {
        if self.x.sh.causal {
            j.saturating_sub(t.i0) / self.p.mr() * self.p.mr()
        } else {
            0
        }
    }

    /// P and dS of one tile into the scratch, one NR-key sliver at a time.
    fn p_ds(&self, pn: &BwdPanels<T>, t: Tile, sc: &mut Scratch<T>) {
        let (p, sh) = (&self.p, self.x.sh);
        let (mr, nr, bq) = (p.mr(), p.nr(), p.bq);
        let ms = t.nq.div_ceil(mr);
        let ia = t.i0 / mr;
        let scale = T::from_f64(sh.scale);
        let r0 = t.b * sh.l + t.i0;
        for js in 0..t.nk.div_ceil(nr) {
            let (j, jb) = (t.j0 + js * nr, (t.j0 + js * nr) / nr);
            let f = self.first_row(t, j);
            if f >= t.nq {
                continue;
            }
            let o = js * bq * nr + f * nr;
            let (ps, dss) = (&mut sc.p[o..], &mut sc.ds[o..]);
            let (ms, ia) = (ms - f / mr, ia + f / mr);
            let s2 = scale * log2e::<T>(); // scores in log2 units, as the forward's
            gemm_packed(
                &p.kern,
                ms,
                1,
                sh.e,
                pn.qa.at(ia, 0),
                pn.kt.at(jb, 0),
                s2,
                T::zero(),
                ps,
                nr,
            );
            gemm_packed(
                &p.kern,
                ms,
                1,
                sh.ev,
                pn.doa.at(ia, 0),
                pn.vt.at(jb, 0),
                T::one(),
                T::zero(),
                dss,
                nr,
            );
            let rows = self
                .x
                .tile_rows(t.b, t.i0 + f, t.nq - f, j, nr.min(t.j0 + t.nk - j), nr);
            let (lse, dv) = (&self.lse[r0 + f..r0 + t.nq], &self.dvec[r0 + f..r0 + t.nq]);
            p_ds_tile(ps, dss, rows, lse, dv, scale);
        }
    }

    /// `dVᵀ += dOᵀ·P`, `dKᵀ += Qᵀ·dS` into the key block's accumulators
    /// (padded dims × BK, row-major), P and dS read as the B panels they are,
    /// one key sliver at a time from its first computed row.
    fn dk_dv(&self, pn: &BwdPanels<T>, t: Tile, sc: &mut Scratch<T>) {
        let p = &self.p;
        let (nr, bq, bk) = (p.nr(), p.bq, p.bk);
        let (ke, kv) = (&p.ke, &p.kv);
        let (ev, e) = (self.x.sh.ev, self.x.sh.e);
        for js in 0..t.nk.div_ceil(nr) {
            let f = self.first_row(t, t.j0 + js * nr);
            if f >= t.nq {
                continue;
            }
            let o = js * bq * nr + f * nr;
            gemm_packed(
                kv,
                ev.div_ceil(kv.mr),
                1,
                t.nq - f,
                pn.dot.at(0, t.i0 + f),
                (&sc.p[o..], bq * nr),
                T::one(),
                T::one(),
                &mut sc.dvt[js * nr..],
                bk,
            );
            gemm_packed(
                ke,
                e.div_ceil(ke.mr),
                1,
                t.nq - f,
                pn.qt.at(0, t.i0 + f),
                (&sc.ds[o..], bq * nr),
                T::one(),
                T::one(),
                &mut sc.dkt[js * nr..],
                bk,
            );
        }
    }

    /// `dQ += dS·K` into rows `dq` (the tile's rows, stride Ep).
    fn dq(&self, pn: &BwdPanels<T>, t: Tile, sc: &mut Scratch<T>, dq: &mut [T]) {
        let (p, kn) = (&self.p, &self.p.kern);
        let (mr, nr, bq) = (p.mr(), p.nr(), p.bq);
        let ep = self.x.sh.e.next_multiple_of(nr);
        let causal = self.x.sh.causal;
        // dS as A: MR query rows per sliver, depth nk; each NR-key sliver
        // of dS is a row-major (rows × NR) block: a transposed pack per piece.
        // Causal: row sliver r reads only the keys its last row sees (the
        // key slivers `p_ds` computed for it).
        let ms = t.nq.div_ceil(mr);
        let depth = |r: usize| {
            if causal {
                t.nk.min((t.i0 + (r + 1) * mr).saturating_sub(t.j0))
            } else {
                t.nk
            }
        };
        for r in 0..ms {
            let valid = mr.min(t.nq - r * mr);
            let kc = depth(r);
            for js in 0..kc.div_ceil(nr) {
                let kd = nr.min(kc - js * nr);
                let d = &mut sc.a[r * t.nk * mr + js * nr * mr..][..kd * mr];
                pack_sliver(
                    &sc.ds,
                    js * bq * nr + r * mr * nr,
                    nr,
                    1,
                    valid,
                    mr,
                    kd,
                    d,
                    kn.transpose,
                );
            }
        }
        let kb = pn.kb.at(0, t.j0);
        if !causal {
            let a = (&sc.a[..], t.nk * mr);
            gemm_packed(kn, ms, ep / nr, t.nk, a, kb, T::one(), T::one(), dq, ep);
            return;
        }
        for r in 0..ms {
            let kc = depth(r);
            if kc > 0 {
                let a = (&sc.a[r * t.nk * mr..], t.nk * mr);
                gemm_packed(
                    kn,
                    1,
                    ep / nr,
                    kc,
                    a,
                    kb,
                    T::one(),
                    T::one(),
                    &mut dq[r * mr * ep..],
                    ep,
                );
            }
        }
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
        let ep = sh.e.next_multiple_of(p.nr());
        let nk = dkb.len() / sh.e;
        sc.dkt.fill(T::zero());
        sc.dvt.fill(T::zero());
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
        transpose_out(&sc.dkt, p.bk, dkb, sh.e);
        transpose_out(&sc.dvt, p.bk, dvb, sh.ev);
    }
}

/// `dst[c·w + r] = src[r·ls + c]` for the `dst.len() / w` rows of `dst`.
fn transpose_out<T: Copy>(src: &[T], ls: usize, dst: &mut [T], w: usize) {
    for (c, d) in dst.chunks_exact_mut(w).enumerate() {
        for (r, y) in d.iter_mut().enumerate() {
            *y = src[r * ls + c];
        }
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
        p: Plan::<T>::new(x.sh.e, x.sh.ev),
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
