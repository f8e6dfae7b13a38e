//! Tiled attention with online softmax (Dao et al., 2022, "FlashAttention";
//! backward as in FlashAttention-2): `O = softmax(Q Kᵀ·scale + M) V` on
//! contiguous `(BH, L, E)` / `(BH, S, E)` / `(BH, S, Ev)` data, never
//! materialising the `L×S` score matrix: memory is O(T·d) plus one key tile
//! of scores per thread.
//!
//! Forward, per (batch·head, block of BQ query rows), over key tiles of BK:
//! scores `s = q·k·scale + m`, running max `m_i`, running sum `l_i`, and the
//! accumulator rescaled by `exp(m_old − m_new)`; the row logsumexp
//! `lse_i = m_i + ln l_i` is saved. Under `causal` (top-left aligned,
//! key j visible to query i iff j ≤ i, as torch) key tiles past the block's
//! last row are skipped entirely.
//!
//! Backward recomputes `p = exp(s − lse)` per tile: `D_i = dO_i·O_i`,
//! `ds = p·(dO_i·v_j − D_i)`; one pass parallel over query blocks
//! accumulates dQ, one parallel over key blocks accumulates dK and dV, so no
//! two threads ever write the same row.

use super::simd::{axpy, dot};
use super::Float;
use rayon::prelude::*;

const BQ: usize = 16;
const BK: usize = 64;

#[derive(Debug, Clone, Copy)]
pub struct AttnShape {
    pub bh: usize,
    pub l: usize,
    pub s: usize,
    pub e: usize,
    pub ev: usize,
    pub scale: f64,
    pub causal: bool,
}

/// An additive float mask: `(1, L, S)` shared by every batch·head, or `(BH, L, S)`.
#[derive(Clone, Copy)]
pub struct Mask<'a, T> {
    pub data: &'a [T],
    pub per_head: bool,
}

struct Ctx<'a, T> {
    q: &'a [T],
    k: &'a [T],
    v: &'a [T],
    mask: Option<Mask<'a, T>>,
    sh: AttnShape,
}

impl<T: Float> Ctx<'_, T> {
    fn q(&self, b: usize, i: usize) -> &[T] {
        let e = self.sh.e;
        &self.q[(b * self.sh.l + i) * e..][..e]
    }
    fn k(&self, b: usize, j: usize) -> &[T] {
        let e = self.sh.e;
        &self.k[(b * self.sh.s + j) * e..][..e]
    }
    fn v(&self, b: usize, j: usize) -> &[T] {
        let ev = self.sh.ev;
        &self.v[(b * self.sh.s + j) * ev..][..ev]
    }
    /// Keys visible to query row `i` end before this index (causal limit).
    fn key_end(&self, i: usize) -> usize {
        if self.sh.causal {
            (i + 1).min(self.sh.s)
        } else {
            self.sh.s
        }
    }
    #[inline]
    fn score(&self, b: usize, i: usize, j: usize) -> T {
        let s = dot(self.q(b, i), self.k(b, j)) * T::from_f64(self.sh.scale);
        match self.mask {
            Some(m) => {
                let base = if m.per_head {
                    b * self.sh.l * self.sh.s
                } else {
                    0
                };
                s + m.data[base + i * self.sh.s + j]
            }
            None => s,
        }
    }
}

/// Runs `f(b, block_index, chunk_a, chunk_b)` for each (batch·head, block of
/// `rows` rows) in parallel; `a` / `b` hold `per_a` / `per_b` values per row.
fn par_blocks<T: Float, U: Float>(
    a: &mut [T],
    per_a: usize,
    b: &mut [U],
    per_b: usize,
    n_rows: usize,
    rows: usize,
    f: impl Fn(usize, usize, &mut [T], &mut [U]) + Sync + Send,
) {
    super::install(|| {
        a.par_chunks_mut(n_rows * per_a)
            .zip(b.par_chunks_mut(n_rows * per_b))
            .enumerate()
            .for_each(|(bi, (ca, cb))| {
                ca.par_chunks_mut(rows * per_a)
                    .zip(cb.par_chunks_mut(rows * per_b))
                    .enumerate()
                    .for_each(|(blk, (xa, xb))| f(bi, blk, xa, xb));
            })
    });
}

/// Output `(BH, L, Ev)` and the row logsumexp `(BH, L)`. All sizes must be > 0.
pub fn flash_forward<T: Float>(
    q: &[T],
    k: &[T],
    v: &[T],
    mask: Option<Mask<T>>,
    sh: AttnShape,
) -> (Vec<T>, Vec<T>) {
    let cx = Ctx { q, k, v, mask, sh };
    let mut out = vec![T::zero(); sh.bh * sh.l * sh.ev];
    let mut lse = vec![T::zero(); sh.bh * sh.l];
    par_blocks(&mut out, sh.ev, &mut lse, 1, sh.l, BQ, |b, blk, o, ls| {
        let i0 = blk * BQ;
        let nr = ls.len();
        let mut m = vec![T::NEG_INF; nr];
        let mut l = vec![T::zero(); nr];
        let mut p = vec![T::zero(); BK];
        let kend = cx.key_end(i0 + nr - 1);
        for j0 in (0..kend).step_by(BK) {
            let j1 = (j0 + BK).min(kend);
            for r in 0..nr {
                let i = i0 + r;
                let je = j1.min(cx.key_end(i));
                if je <= j0 {
                    continue;
                }
                let mut mt = T::NEG_INF;
                for j in j0..je {
                    let s = cx.score(b, i, j);
                    p[j - j0] = s;
                    if s > mt {
                        mt = s;
                    }
                }
                let mn = if mt > m[r] { mt } else { m[r] };
                if mn == T::NEG_INF {
                    continue; // every key so far masked out
                }
                let alpha = (m[r] - mn).exp();
                let acc = &mut o[r * sh.ev..(r + 1) * sh.ev];
                if alpha != T::one() {
                    acc.iter_mut().for_each(|a| *a = *a * alpha);
                }
                let mut sum = T::zero();
                for j in j0..je {
                    let pj = (p[j - j0] - mn).exp();
                    sum = sum + pj;
                    axpy(acc, pj, cx.v(b, j));
                }
                l[r] = l[r] * alpha + sum;
                m[r] = mn;
            }
        }
        for r in 0..nr {
            // l = 0 (a fully masked row) gives NaN, as torch's materialised softmax.
            let inv = T::one() / l[r];
            o[r * sh.ev..(r + 1) * sh.ev]
                .iter_mut()
                .for_each(|a| *a = *a * inv);
            ls[r] = m[r] + l[r].ln();
        }
    });
    (out, lse)
}

/// (dQ, dK, dV) from the upstream gradient `g` `(BH, L, Ev)`, the forward
/// output `o` and its row logsumexp.
pub fn flash_backward<T: Float>(
    q: &[T],
    k: &[T],
    v: &[T],
    mask: Option<Mask<T>>,
    sh: AttnShape,
    o: &[T],
    lse: &[T],
    g: &[T],
) -> (Vec<T>, Vec<T>, Vec<T>) {
    let cx = Ctx { q, k, v, mask, sh };
    let (ev, e) = (sh.ev, sh.e);
    let scale = T::from_f64(sh.scale);
    let grow = |b: usize, i: usize| &g[(b * sh.l + i) * ev..][..ev];
    let dvec: Vec<T> = (0..sh.bh * sh.l)
        .map(|r| dot(&g[r * ev..][..ev], &o[r * ev..][..ev]))
        .collect();
    // p and ds for one (query, key) pair; None where the pair is masked out.
    let pds = |b: usize, i: usize, j: usize| {
        let r = b * sh.l + i;
        let p = (cx.score(b, i, j) - lse[r]).exp();
        let dp = dot(grow(b, i), cx.v(b, j));
        (p, p * (dp - dvec[r]))
    };
    let mut dq = vec![T::zero(); sh.bh * sh.l * e];
    let mut unused = vec![T::zero(); sh.bh * sh.l];
    par_blocks(&mut dq, e, &mut unused, 1, sh.l, BQ, |b, blk, dqb, _| {
        for r in 0..dqb.len() / e {
            let i = blk * BQ + r;
            let acc = &mut dqb[r * e..(r + 1) * e];
            for j in 0..cx.key_end(i) {
                let (_, ds) = pds(b, i, j);
                axpy(acc, ds * scale, cx.k(b, j));
            }
        }
    });
    let mut dk = vec![T::zero(); sh.bh * sh.s * e];
    let mut dv = vec![T::zero(); sh.bh * sh.s * ev];
    par_blocks(&mut dk, e, &mut dv, ev, sh.s, BK, |b, blk, dkb, dvb| {
        let j0 = blk * BK;
        let nk = dkb.len() / e;
        // causal: query rows before j0 see none of this block's keys
        let i_start = if sh.causal { j0.min(sh.l) } else { 0 };
        for i in i_start..sh.l {
            let je = (j0 + nk).min(cx.key_end(i));
            for j in j0..je {
                let (p, ds) = pds(b, i, j);
                let c = j - j0;
                axpy(&mut dvb[c * ev..(c + 1) * ev], p, grow(b, i));
                axpy(&mut dkb[c * e..(c + 1) * e], ds * scale, cx.q(b, i));
            }
        }
    });
    (dq, dk, dv)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Materialised reference: full score rows, softmax, weighted sum.
    fn reference(q: &[f64], k: &[f64], v: &[f64], sh: AttnShape) -> Vec<f64> {
        let mut out = vec![0.0; sh.bh * sh.l * sh.ev];
        for b in 0..sh.bh {
            for i in 0..sh.l {
                let mut s: Vec<f64> = (0..sh.s)
                    .map(|j| {
                        let d: f64 = (0..sh.e)
                            .map(|t| q[(b * sh.l + i) * sh.e + t] * k[(b * sh.s + j) * sh.e + t])
                            .sum();
                        if sh.causal && j > i {
                            f64::NEG_INFINITY
                        } else {
                            d * sh.scale
                        }
                    })
                    .collect();
                let mx = s.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
                s.iter_mut().for_each(|x| *x = (*x - mx).exp());
                let z: f64 = s.iter().sum();
                for j in 0..sh.s {
                    for t in 0..sh.ev {
                        out[(b * sh.l + i) * sh.ev + t] += s[j] / z * v[(b * sh.s + j) * sh.ev + t];
                    }
                }
            }
        }
        out
    }

    #[test]
    fn forward_matches_reference() {
        for &(l, s, causal) in &[
            (1usize, 1usize, false),
            (37, 150, false),
            (70, 70, true),
            (5, 130, true),
        ] {
            let sh = AttnShape {
                bh: 2,
                l,
                s,
                e: 5,
                ev: 3,
                scale: 0.4,
                causal,
            };
            let gen = |n: usize, seed: usize| {
                (0..n)
                    .map(|i| (((i + seed) * 7919 % 101) as f64) / 50.0 - 1.0)
                    .collect::<Vec<f64>>()
            };
            let (q, k, v) = (gen(2 * l * 5, 1), gen(2 * s * 5, 2), gen(2 * s * 3, 3));
            let (o, _) = flash_forward(&q, &k, &v, None, sh);
            let r = reference(&q, &k, &v, sh);
            assert!(o.iter().zip(&r).all(|(a, b)| (a - b).abs() < 1e-10));
        }
    }
}
