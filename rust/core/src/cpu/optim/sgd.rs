//! SGD (torch.optim.SGD) and Lion (Chen et al. 2023): updates with at most
//! one momentum buffer and no step counter.

use super::{lerp, t, Rule, TensorInfo};
use crate::cpu::Float;

#[derive(Clone, Copy, Debug)]
pub struct Sgd {
    pub lr: f64,
    pub momentum: f64,
    pub dampening: f64,
    pub nesterov: bool,
    pub weight_decay: f64,
    pub maximize: bool,
}

impl Rule for Sgd {
    /// Whether the momentum buffer is fresh: torch sets it to the
    /// gradient (undamped) on the first step.
    type Coef = bool;
    fn name(&self) -> &'static str {
        "sgd"
    }
    fn state_names(&self) -> Vec<&'static str> {
        if self.momentum != 0.0 {
            vec!["momentum_buffer"]
        } else {
            vec![]
        }
    }
    fn counts_steps(&self) -> bool {
        false
    }
    fn coef(&self, t: &mut TensorInfo) -> bool {
        t.fresh
    }
    #[inline(always)]
    fn chunk<T: Float>(&self, &first: &bool, p: &mut [T], g: &[T], s: &mut [&mut [T]]) {
        let (lr, wd, mom) = (
            t::<T>(self.lr),
            t::<T>(self.weight_decay),
            t::<T>(self.momentum),
        );
        let damp = t::<T>(1.0 - self.dampening);
        let sign = if self.maximize { -T::one() } else { T::one() };
        // grad = (±g) + wd * p ; p = p + (-lr) * grad   (torch's add(alpha=...))
        let d = |pv: T, gv: T| sign * gv + wd * pv;
        match s {
            [] => {
                for (pv, &gv) in p.iter_mut().zip(g) {
                    *pv = *pv - lr * d(*pv, gv);
                }
            }
            [b] => {
                for ((pv, &gv), bv) in p.iter_mut().zip(g).zip(b.iter_mut()) {
                    let dv = d(*pv, gv);
                    *bv = if first { dv } else { *bv * mom + damp * dv };
                    let step = if self.nesterov { dv + mom * *bv } else { *bv };
                    *pv = *pv - lr * step;
                }
            }
            _ => unreachable!("sgd has at most one state buffer"),
        }
    }
}

/// Lion, "Symbolic Discovery of Optimization Algorithms" (Chen et al. 2023),
/// Program 1:
///
/// ```text
/// c = β1·m + (1-β1)·g
/// θ = θ·(1 - lr·λ) - lr·sign(c)        (decoupled weight decay)
/// m = β2·m + (1-β2)·g
/// ```
#[derive(Clone, Copy, Debug)]
pub struct Lion {
    pub lr: f64,
    pub beta1: f64,
    pub beta2: f64,
    pub weight_decay: f64,
    pub maximize: bool,
}

/// sign(x) with sign(0) = 0 and sign(NaN) = NaN (as torch.sign).
#[inline(always)]
fn sign<T: Float>(x: T) -> T {
    if x > T::zero() {
        T::one()
    } else if x < T::zero() {
        -T::one()
    } else {
        x * T::zero()
    }
}

impl Rule for Lion {
    type Coef = ();
    fn name(&self) -> &'static str {
        "lion"
    }
    fn state_names(&self) -> Vec<&'static str> {
        vec!["exp_avg"]
    }
    fn counts_steps(&self) -> bool {
        false
    }
    fn coef(&self, _: &mut TensorInfo) {}
    #[inline(always)]
    fn chunk<T: Float>(&self, _: &(), p: &mut [T], g: &[T], s: &mut [&mut [T]]) {
        let [m] = s else {
            unreachable!("lion has one state buffer")
        };
        let (lr, decay) = (t::<T>(self.lr), t::<T>(1.0 - self.lr * self.weight_decay));
        let (w1, w2) = (t::<T>(1.0 - self.beta1), t::<T>(1.0 - self.beta2));
        let (s1, s2) = (
            (1.0 - self.beta1).abs() < 0.5,
            (1.0 - self.beta2).abs() < 0.5,
        );
        let sg = if self.maximize { -T::one() } else { T::one() };
        for ((pv, &gv), mv) in p.iter_mut().zip(g).zip(m.iter_mut()) {
            let gv = sg * gv;
            let c = lerp(*mv, gv, w1, s1);
            *pv = *pv * decay - lr * sign(c);
            *mv = lerp(*mv, gv, w2, s2);
        }
    }
}
