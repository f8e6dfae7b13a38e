//! AdamP, "AdamP: Slowing Down the Slowdown for Momentum Optimizers on
//! Scale-invariant Weights" (Heo et al., ICLR 2021), Algorithm 2 (as the
//! authors' code): an Adam step whose update is projected off the weight
//! direction when the weight looks scale-invariant.
//!
//! ```text
//! m = β1·m + (1-β1)·g ;  v = β2·v + (1-β2)·g²
//! u = m / (√v/√(1-β2^t) + ε)       (nesterov: (β1·m + (1-β1)·g) / (…))
//! for view in [rows of (shape[0], -1), whole tensor]  (only when ndim > 1):
//!     if max over rows |cos(g, θ)| < δ/√(row length):
//!         θ̂ = θ/(‖θ‖_row + ε) ;  u = u - θ̂·Σ_row(θ̂·u) ;  wd_ratio applies ; stop
//! θ = θ·(1 - lr·λ·ratio) - lr/(1-β1^t) · u
//! ```
//! with cos(x, y) = x·y / max(‖x‖‖y‖, ε). Three passes over the tensor when
//! it may be projected (moments and cosine statistics; the projection's row
//! sums; the update), one pass otherwise.

use super::{par_split, run_chunk, t, Rule, TensorInfo, CHUNK};
use crate::cpu::Float;

#[derive(Clone, Copy, Debug)]
pub struct AdamP {
    pub lr: f64,
    pub beta1: f64,
    pub beta2: f64,
    pub eps: f64,
    pub weight_decay: f64,
    pub delta: f64,
    pub wd_ratio: f64,
    pub nesterov: bool,
}

#[derive(Clone, Copy, Debug)]
pub struct AdamPCoef {
    step_size: f64,
    bc2_sqrt: f64,
}

impl AdamP {
    /// The moment updates of one element; returns the updated (m, v).
    #[inline(always)]
    fn moments<T: Float>(&self, g: T, m: &mut T, v: &mut T) {
        *m = *m * t::<T>(self.beta1) + t::<T>(1.0 - self.beta1) * g;
        *v = *v * t::<T>(self.beta2) + t::<T>(1.0 - self.beta2) * g * g;
    }

    /// The unprojected update direction u of one element.
    #[inline(always)]
    fn perturb<T: Float>(&self, c: &AdamPCoef, g: T, m: T, v: T) -> T {
        let denom = v.sqrt() / t::<T>(c.bc2_sqrt) + t::<T>(self.eps);
        if self.nesterov {
            (t::<T>(self.beta1) * m + t::<T>(1.0 - self.beta1) * g) / denom
        } else {
            m / denom
        }
    }
}

impl Rule for AdamP {
    type Coef = AdamPCoef;
    fn name(&self) -> &'static str {
        "adamp"
    }
    fn state_names(&self) -> Vec<&'static str> {
        vec!["exp_avg", "exp_avg_sq"]
    }
    fn coef(&self, t: &mut TensorInfo) -> AdamPCoef {
        let bc1 = 1.0 - self.beta1.powf(t.step);
        let bc2 = 1.0 - self.beta2.powf(t.step);
        AdamPCoef {
            step_size: self.lr / bc1,
            bc2_sqrt: bc2.sqrt(),
        }
    }

    /// The one-pass update with no projection (1-d tensors).
    #[inline(always)]
    fn chunk<T: Float>(&self, c: &AdamPCoef, p: &mut [T], g: &[T], s: &mut [&mut [T]]) {
        let [m, v] = s else {
            unreachable!("adamp has two state buffers")
        };
        let decay = t::<T>(1.0 - self.lr * self.weight_decay.max(0.0));
        let ss = t::<T>(c.step_size);
        for (((pv, &gv), mv), vv) in p.iter_mut().zip(g).zip(m.iter_mut()).zip(v.iter_mut()) {
            self.moments(gv, mv, vv);
            *pv = *pv * decay - ss * self.perturb(c, gv, *mv, *vv);
        }
    }

    fn tensor<T: Float>(
        &self,
        c: &AdamPCoef,
        info: &TensorInfo,
        p: &mut [T],
        g: &[T],
        s: &mut [&mut [T]],
    ) {
        let n = p.len();
        if info.ndim <= 1 || n == 0 {
            par_split(
                p,
                g,
                s,
                CHUNK,
                &|_, p, g, s| run_chunk(self, c, p, g, s),
                &|(), ()| (),
            );
            return;
        }
        let rows = info.rows.max(1);
        let len = n / rows; // row length of the (shape[0], -1) view
        let unit = len * (CHUNK / len).max(1);
        let cat = |mut a: Vec<[f64; 3]>, b: Vec<[f64; 3]>| {
            a.extend(b);
            a
        };
        // pass 1: moments, and per row (g·θ, g·g, θ·θ) of the pre-step weight
        let stats = par_split(
            p,
            g,
            s,
            unit,
            &|_, p, g, s| {
                let [m, v] = s else {
                    unreachable!("adamp has two state buffers")
                };
                let mut out = Vec::with_capacity(p.len() / len);
                for (((pr, gr), mr), vr) in p
                    .chunks_exact(len)
                    .zip(g.chunks_exact(len))
                    .zip(m.chunks_exact_mut(len))
                    .zip(v.chunks_exact_mut(len))
                {
                    let mut acc = [0.0f64; 3];
                    for (((&pv, &gv), mv), vv) in
                        pr.iter().zip(gr).zip(mr.iter_mut()).zip(vr.iter_mut())
                    {
                        self.moments(gv, mv, vv);
                        let (pf, gf) = (pv.to_f64(), gv.to_f64());
                        acc[0] += gf * pf;
                        acc[1] += gf * gf;
                        acc[2] += pf * pf;
                    }
                    out.push(acc);
                }
                out
            },
            &cat,
        );
        let eps = self.eps;
        let cos = |a: &[f64; 3]| a[0].abs() / (a[1].sqrt() * a[2].sqrt()).max(eps);
        let channel =
            stats.iter().map(cos).fold(0.0f64, f64::max) < self.delta / (len as f64).sqrt();
        let total = stats
            .iter()
            .fold([0.0; 3], |a, b| [a[0] + b[0], a[1] + b[1], a[2] + b[2]]);
        let layer = !channel && cos(&total) < self.delta / (n as f64).sqrt();
        let ss = t::<T>(c.step_size);
        if !channel && !layer {
            let decay = t::<T>(1.0 - self.lr * self.weight_decay.max(0.0));
            par_split(
                p,
                g,
                s,
                CHUNK,
                &|_, p, g, s| {
                    let [m, v] = s else { unreachable!() };
                    for (((pv, &gv), &mv), &vv) in p.iter_mut().zip(g).zip(m.iter()).zip(v.iter()) {
                        *pv = *pv * decay - ss * self.perturb(c, gv, mv, vv);
                    }
                },
                &|(), ()| (),
            );
            return;
        }
        // row norms ‖θ‖ (one per row, or one for the whole tensor)
        let norms: Vec<f64> = if channel {
            stats.iter().map(|a| a[2].sqrt()).collect()
        } else {
            vec![total[2].sqrt()]
        };
        let row_of = |r: usize| if channel { r } else { 0 };
        // pass 2: Σ_row θ·u
        let dots = par_split(
            p,
            g,
            s,
            unit,
            &|_, p, g, s| {
                let [m, v] = s else { unreachable!() };
                let mut out = Vec::with_capacity(p.len() / len);
                for (((pr, gr), mr), vr) in p
                    .chunks_exact(len)
                    .zip(g.chunks_exact(len))
                    .zip(m.chunks_exact(len))
                    .zip(v.chunks_exact(len))
                {
                    let mut acc = 0.0f64;
                    for (((&pv, &gv), &mv), &vv) in pr.iter().zip(gr).zip(mr).zip(vr) {
                        acc += pv.to_f64() * self.perturb(c, gv, mv, vv).to_f64();
                    }
                    out.push([acc, 0.0, 0.0]);
                }
                out
            },
            &cat,
        );
        // u' = u - θ̂·Σ(θ̂·u) = u - θ·k with k = Σ(θ·u)/(‖θ‖+ε)²
        let ks: Vec<f64> = if channel {
            dots.iter()
                .zip(&norms)
                .map(|(d, nm)| d[0] / ((nm + eps) * (nm + eps)))
                .collect()
        } else {
            let d: f64 = dots.iter().map(|d| d[0]).sum();
            vec![d / ((norms[0] + eps) * (norms[0] + eps))]
        };
        let decay = t::<T>(1.0 - self.lr * self.weight_decay.max(0.0) * self.wd_ratio);
        // pass 3: the update
        par_split(
            p,
            g,
            s,
            unit,
            &|off, p, g, s| {
                let [m, v] = s else { unreachable!() };
                let first = off / len;
                for (r, (((pr, gr), mr), vr)) in p
                    .chunks_exact_mut(len)
                    .zip(g.chunks_exact(len))
                    .zip(m.chunks_exact(len))
                    .zip(v.chunks_exact(len))
                    .enumerate()
                {
                    let k = t::<T>(ks[row_of(first + r)]);
                    for (((pv, &gv), &mv), &vv) in pr.iter_mut().zip(gr).zip(mr).zip(vr) {
                        let u = self.perturb(c, gv, mv, vv) - *pv * k;
                        *pv = *pv * decay - ss * u;
                    }
                }
            },
            &|(), ()| (),
        );
    }
}
