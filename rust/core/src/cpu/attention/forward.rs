//! Forward: per (head, block of BQ query rows), over key tiles of BK, in
//! the transposed orientation: `Sᵀ = scale·K_tile·Q_blkᵀ` (K packed as A
//! once per head, Q as B once per block) is written one NR-query sliver at
//! a time with row stride NR, which is exactly the B-panel layout of
//! `Oᵀ += Vᵀ·Pᵀ`: the probabilities are never repacked, and the softmax
//! reductions over keys run down the sliver's rows, lane per query
//! (`rows::softmax_cols`). Oᵀ is transposed into O once per block.

use super::packed::{gemm_packed, pack_into, Panel, Plan};
use super::rows::{softmax_cols, ColTile};
use super::{ln2, log2e, AttnFloat, Inputs};
use crate::cpu::gemm::kernel::GemmElem;
use rayon::prelude::*;

/// One head's K and V, packed for the forward products.
pub(super) struct FwdPanels<T> {
    /// K as A: MR-key slivers, depth E (Sᵀ = K·Qᵀ).
    k: Panel<T>,
    /// Vᵀ as A of the narrow kernel: MV-dim slivers, depth S (Oᵀ += Vᵀ·Pᵀ).
    vt: Panel<T>,
}

impl<T: AttnFloat + GemmElem> FwdPanels<T> {
    pub fn new(p: &Plan<T>, x: &Inputs<T>, b: usize) -> Self {
        let mut pn = FwdPanels {
            k: Panel::empty(),
            vt: Panel::empty(),
        };
        pn.fill(p, x, b);
        pn
    }
    /// Repacks for head `b` in the same buffers.
    pub fn fill(&mut self, p: &Plan<T>, x: &Inputs<T>, b: usize) {
        let (s, e, ev) = (x.sh.s, x.sh.e, x.sh.ev);
        self.k.fill(&p.kern, x.k, b * s * e, e, 1, s, e, p.mr());
        self.vt
            .fill(&p.kern, x.v, b * s * ev, 1, ev, ev, s, p.kv.mr);
    }
}

/// Per-task buffers, reused across blocks.
pub(super) struct Scratch<T> {
    /// Q block as B: NR-query slivers, depth E.
    qb: Vec<T>,
    /// Sᵀ then Pᵀ: BQ/NR slivers of BK keys × NR queries.
    s: Vec<T>,
    /// Oᵀ accumulator: Ev (padded to the narrow MR) × BQ.
    ot: Vec<T>,
    m: Vec<T>,
    l: Vec<T>,
}

impl<T: AttnFloat> Scratch<T> {
    pub fn new(p: &Plan<T>, e: usize, ev: usize) -> Self {
        Scratch {
            qb: vec![T::zero(); p.bq * e],
            s: vec![T::zero(); p.bq * p.bk],
            ot: vec![T::zero(); ev.next_multiple_of(p.kv.mr) * p.bq],
            m: vec![T::zero(); p.bq],
            l: vec![T::zero(); p.bq],
        }
    }
}

/// Output rows `i0 .. i0 + lse.len()` of head `b` into `out` (rows × Ev)
/// and their logsumexp into `lse`.
#[allow(clippy::too_many_arguments)]
pub(super) fn forward_block<T: AttnFloat + GemmElem>(
    p: &Plan<T>,
    x: &Inputs<T>,
    pn: &FwdPanels<T>,
    b: usize,
    i0: usize,
    out: &mut [T],
    lse: &mut [T],
    sc: &mut Scratch<T>,
) {
    let (kern, mr, nr, bq, bk) = (&p.kern, p.mr(), p.nr(), p.bq, p.bk);
    let (l, s, e, ev) = (x.sh.l, x.sh.s, x.sh.e, x.sh.ev);
    let nq = lse.len();
    let nqs = nq.div_ceil(nr);
    let mv = p.kv.mr;
    let evv = ev.next_multiple_of(mv);
    pack_into(kern, &mut sc.qb, x.q, (b * l + i0) * e, e, 1, nq, e, nr);
    sc.ot.fill(T::zero());
    sc.m.fill(T::NEG_INF);
    sc.l.fill(T::zero());
    // scores in log2 units: softmax_cols takes 2^x
    let scale = T::from_f64(x.sh.scale) * log2e::<T>();
    let kend = x.key_end(i0 + nq - 1); // causal: later key tiles are fully masked
    for j0 in (0..kend).step_by(bk) {
        let nk = (j0 + bk).min(kend) - j0;
        for js in 0..nqs {
            let q0 = i0 + js * nr;
            // causal: this sliver's last query sees keys up to q0 + NR − 1,
            // so on the diagonal the sliver's products stop there
            let nk = if x.sh.causal {
                nk.min((q0 + nr).saturating_sub(j0))
            } else {
                nk
            };
            if nk == 0 {
                continue;
            }
            let st = &mut sc.s[js * bk * nr..];
            gemm_packed(
                kern,
                nk.div_ceil(mr),
                1,
                e,
                pn.k.at(j0 / mr, 0),
                (&sc.qb[js * e * nr..], e * nr),
                scale,
                T::zero(),
                st,
                nr,
            );
            let t = ColTile {
                nk,
                w: nr,
                nq: nr.min(nq - js * nr),
                mask: x.mask.map(|m| {
                    let base = if m.per_head { b * l * s } else { 0 } + q0 * s + j0;
                    (&m.data[base..], s)
                }),
                // causal: skip the mask arithmetic where every key is visible
                causal: (x.sh.causal && j0 + nk > q0 + 1).then_some(j0 as isize - q0 as isize),
            };
            let (m, lsum) = (&mut sc.m[js * nr..], &mut sc.l[js * nr..]);
            softmax_cols(st, t, m, lsum, &mut sc.ot[js * nr..], bq, ev);
            gemm_packed(
                &p.kv,
                evv / mv,
                1,
                nk,
                pn.vt.at(0, j0),
                (&sc.s[js * bk * nr..], bk * nr),
                T::one(),
                T::one(),
                &mut sc.ot[js * nr..],
                bq,
            );
        }
    }
    for r in 0..nq {
        // l = 0 (a fully masked row) gives NaN, as torch's materialised softmax.
        let inv = T::one() / sc.l[r];
        for (d, y) in out[r * ev..(r + 1) * ev].iter_mut().enumerate() {
            *y = sc.ot[d * bq + r] * inv;
        }
        lse[r] = sc.m[r] * ln2::<T>() + sc.l[r].ln();
    }
}

/// Output `(BH, L, Ev)` and row logsumexp `(BH, L)`.
pub(super) fn forward<T: AttnFloat + GemmElem>(x: &Inputs<T>) -> (Vec<T>, Vec<T>) {
    let p = Plan::<T>::new(x.sh.e, x.sh.ev);
    let sh = x.sh;
    let mut out = vec![T::zero(); sh.bh * sh.l * sh.ev];
    let mut lse = vec![T::zero(); sh.bh * sh.l];
    if sh.bh >= 2 * crate::cpu::num_threads() {
        // Enough heads for every thread: one task per head, which packs its
        // K and V once for all of its query blocks (equal work per task, also
        // under a causal mask).
        crate::cpu::install(|| {
            out.par_chunks_mut(sh.l * sh.ev)
                .zip(lse.par_chunks_mut(sh.l))
                .enumerate()
                .for_each_init(
                    || (FwdPanels::new(&p, x, 0), Scratch::new(&p, sh.e, sh.ev)),
                    |(pn, sc), (b, (o, ls))| {
                        pn.fill(&p, x, b);
                        for (blk, (ob, lb)) in o
                            .chunks_mut(p.bq * sh.ev)
                            .zip(ls.chunks_mut(p.bq))
                            .enumerate()
                        {
                            forward_block(&p, x, pn, b, blk * p.bq, ob, lb, sc);
                        }
                    },
                )
        });
        return (out, lse);
    }
    // Few heads: pack every head first, then split over (head, query block).
    let panels: Vec<FwdPanels<T>> = crate::cpu::install(|| {
        (0..sh.bh)
            .into_par_iter()
            .map(|b| FwdPanels::new(&p, x, b))
            .collect()
    });
    super::blis::par_blocks(&mut out, sh.ev, &mut lse, 1, sh.l, p.bq, |b, blk, o, ls| {
        let mut sc = Scratch::new(&p, sh.e, sh.ev);
        forward_block(&p, x, &panels[b], b, blk * p.bq, o, ls, &mut sc);
    });
    (out, lse)
}
