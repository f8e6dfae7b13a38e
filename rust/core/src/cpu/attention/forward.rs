//! Forward: per (head, block of BQ query rows), over key tiles of BK:
//! `S = scale·Q_blk·K_tileᵀ` (micro-kernel on Q packed once per block and
//! Kᵀ packed once per head), the online-softmax step (`rows.rs`), then
//! `O_blk += P·V_tile` (P packed per tile, V once per head).

use super::packed::{gemm_packed, pack_into, Panel, Plan};
use super::rows::softmax_tile;
use super::{AttnFloat, Inputs};
use crate::cpu::gemm::kernel::GemmElem;
use rayon::prelude::*;

/// One head's K and V, packed for the forward products.
pub(super) struct FwdPanels<T> {
    /// Kᵀ: NR-wide slivers of keys, depth E (B of the score product).
    kt: Panel<T>,
    /// V: NR-wide slivers of value dims, depth S (B of P·V).
    v: Panel<T>,
}

impl<T: AttnFloat + GemmElem> FwdPanels<T> {
    pub fn new(p: &Plan<T>, x: &Inputs<T>, b: usize) -> Self {
        let mut pn = FwdPanels {
            kt: Panel::empty(),
            v: Panel::empty(),
        };
        pn.fill(p, x, b);
        pn
    }
    /// Repacks for head `b` in the same buffers.
    pub fn fill(&mut self, p: &Plan<T>, x: &Inputs<T>, b: usize) {
        let (s, e, ev) = (x.sh.s, x.sh.e, x.sh.ev);
        self.kt.fill(&p.kern, x.k, b * s * e, e, 1, s, e, p.nr());
        self.v.fill(&p.kern, x.v, b * s * ev, 1, ev, ev, s, p.nr());
    }
}

/// Per-task buffers, reused across blocks.
pub(super) struct Scratch<T> {
    qa: Vec<T>,
    s: Vec<T>,
    pa: Vec<T>,
    o: Vec<T>,
    m: Vec<T>,
    l: Vec<T>,
}

impl<T: AttnFloat> Scratch<T> {
    pub fn new(p: &Plan<T>, e: usize, ev: usize) -> Self {
        let evp = ev.next_multiple_of(p.kern.nr);
        Scratch {
            qa: vec![T::zero(); p.bq * e],
            s: vec![T::zero(); p.bq * p.bk],
            pa: vec![T::zero(); p.bq * p.bk],
            o: vec![T::zero(); p.bq * evp],
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
    let (kern, mr, nr) = (&p.kern, p.mr(), p.nr());
    let (l, e, ev) = (x.sh.l, x.sh.e, x.sh.ev);
    let nq = lse.len();
    let evp = ev.next_multiple_of(nr);
    let ms = nq.div_ceil(mr);
    // Q block as A: MR-tall slivers of rows, depth E (reused by every key tile)
    pack_into(kern, &mut sc.qa, x.q, (b * l + i0) * e, e, 1, nq, e, mr);
    sc.o.fill(T::zero());
    sc.m.fill(T::NEG_INF);
    sc.l.fill(T::zero());
    let scale = T::from_f64(x.sh.scale);
    let kend = x.key_end(i0 + nq - 1); // causal: later key tiles are fully masked
    for j0 in (0..kend).step_by(p.bk) {
        let nk = (j0 + p.bk).min(kend) - j0;
        gemm_packed(
            kern,
            ms,
            nk.div_ceil(nr),
            e,
            (&sc.qa, e * mr),
            pn.kt.at(j0 / nr, 0),
            scale,
            T::zero(),
            &mut sc.s,
            p.bk,
        );
        let t = x.tile_rows(b, i0, nq, j0, nk, p.bk);
        softmax_tile(&mut sc.s, t, &mut sc.m, &mut sc.l, &mut sc.o, evp);
        // P as A: MR-tall slivers of rows, depth nk (transposed pack)
        pack_into(kern, &mut sc.pa, &sc.s, 0, p.bk, 1, nq, nk, mr);
        gemm_packed(
            kern,
            ms,
            evp / nr,
            nk,
            (&sc.pa, nk * mr),
            pn.v.at(0, j0),
            T::one(),
            T::one(),
            &mut sc.o,
            evp,
        );
    }
    for r in 0..nq {
        // l = 0 (a fully masked row) gives NaN, as torch's materialised softmax.
        let inv = T::one() / sc.l[r];
        out[r * ev..(r + 1) * ev]
            .iter_mut()
            .zip(&sc.o[r * evp..r * evp + ev])
            .for_each(|(y, &a)| *y = a * inv);
        lse[r] = sc.m[r] + sc.l[r].ln();
    }
}

/// Output `(BH, L, Ev)` and row logsumexp `(BH, L)`.
pub(super) fn forward<T: AttnFloat + GemmElem>(x: &Inputs<T>) -> (Vec<T>, Vec<T>) {
    let p = Plan::<T>::new();
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
