//! Optimizers PyTorch does not ship, written from their papers: AdaBound
//! and AdaBelief (AdamP and Lion live in `adamp.rs` and `sgd.rs`).

use super::{nan_max, t, Rule, TensorInfo};
use crate::cpu::Float;

/// AdaBound, "Adaptive Gradient Methods with Dynamic Bound of Learning Rate"
/// (Luo et al., ICLR 2019), Algorithm 2 with the authors' bounds:
///
/// ```text
/// m = β1·m + (1-β1)·g ;  v = β2·v + (1-β2)·g²   (AMSBound: v̂ = max(v̂, v))
/// η_l = α*·(1 - 1/(γt+1)) ;  η_u = α*·(1 + 1/(γt))   (α* = final_lr·lr/base_lr)
/// θ = θ - clip(lr·√(1-β2^t)/(1-β1^t) / (√v + ε), η_l, η_u) · m
/// ```
#[derive(Clone, Copy, Debug)]
pub struct AdaBound {
    pub lr: f64,
    pub beta1: f64,
    pub beta2: f64,
    pub final_lr: f64,
    pub gamma: f64,
    pub eps: f64,
    pub weight_decay: f64,
    pub amsbound: bool,
}

#[derive(Clone, Copy, Debug)]
pub struct BoundCoef {
    step_size: f64,
    lower: f64,
    upper: f64,
}

impl Rule for AdaBound {
    type Coef = BoundCoef;
    fn name(&self) -> &'static str {
        "adabound"
    }
    fn state_names(&self) -> Vec<&'static str> {
        if self.amsbound {
            vec!["exp_avg", "exp_avg_sq", "max_exp_avg_sq"]
        } else {
            vec!["exp_avg", "exp_avg_sq"]
        }
    }
    fn coef(&self, t: &mut TensorInfo) -> BoundCoef {
        let step = t.step;
        let (bc1, bc2) = (1.0 - self.beta1.powf(step), 1.0 - self.beta2.powf(step));
        // `final_lr` arrives already scaled by lr / base_lr (the Python side
        // knows the group's initial lr), so schedulers move both bounds.
        let f = self.final_lr;
        BoundCoef {
            step_size: self.lr * bc2.sqrt() / bc1,
            lower: f * (1.0 - 1.0 / (self.gamma * step + 1.0)),
            upper: f * (1.0 + 1.0 / (self.gamma * step)),
        }
    }
    #[inline(always)]
    fn chunk<T: Float>(&self, c: &BoundCoef, p: &mut [T], g: &[T], s: &mut [&mut [T]]) {
        let (b1, b2, c1, c2) = (
            t::<T>(self.beta1),
            t::<T>(self.beta2),
            t::<T>(1.0 - self.beta1),
            t::<T>(1.0 - self.beta2),
        );
        let (wd, eps, ss, lo, hi) = (
            t::<T>(self.weight_decay),
            t::<T>(self.eps),
            t::<T>(c.step_size),
            t::<T>(c.lower),
            t::<T>(c.upper),
        );
        let l2 = self.weight_decay != 0.0;
        let (m, rest) = s.split_first_mut().expect("adabound exp_avg");
        let (v, rest) = rest.split_first_mut().expect("adabound exp_avg_sq");
        let mut vmax = rest.first_mut();
        for i in 0..p.len() {
            let gu = if l2 { g[i] + wd * p[i] } else { g[i] };
            let mv = b1 * m[i] + c1 * gu;
            m[i] = mv;
            let mut vv = b2 * v[i] + c2 * gu * gu;
            v[i] = vv;
            if let Some(x) = vmax.as_deref_mut() {
                vv = nan_max(x[i], vv);
                x[i] = vv;
            }
            let eta = ss / (vv.sqrt() + eps);
            // clamp to [lo, hi] (NaN stays NaN)
            let eta = if eta < lo {
                lo
            } else if eta > hi {
                hi
            } else {
                eta
            };
            p[i] = p[i] - eta * mv;
        }
    }
}

/// AdaBelief, "AdaBelief Optimizer: Adapting Stepsizes by the Belief in
/// Observed Gradients" (Zhuang et al., NeurIPS 2020), Algorithm 2:
///
/// ```text
/// m = β1·m + (1-β1)·g
/// s = β2·s + (1-β2)·(g - m)² + ε          (AMSGrad variant: ŝ = max(ŝ, s))
/// θ = θ - lr · (m/(1-β1^t)) / (√(s/(1-β2^t)) + ε)
/// ```
/// with weight decay either decoupled (θ ← θ·(1 - lr·λ), the authors'
/// default) or added to the gradient.
#[derive(Clone, Copy, Debug)]
pub struct AdaBelief {
    pub lr: f64,
    pub beta1: f64,
    pub beta2: f64,
    pub eps: f64,
    pub weight_decay: f64,
    pub decoupled: bool,
    pub amsgrad: bool,
}

#[derive(Clone, Copy, Debug)]
pub struct BeliefCoef {
    bc1: f64,
    bc2: f64,
}

impl Rule for AdaBelief {
    type Coef = BeliefCoef;
    fn name(&self) -> &'static str {
        "adabelief"
    }
    fn state_names(&self) -> Vec<&'static str> {
        if self.amsgrad {
            vec!["exp_avg", "exp_avg_var", "max_exp_avg_var"]
        } else {
            vec!["exp_avg", "exp_avg_var"]
        }
    }
    fn coef(&self, t: &mut TensorInfo) -> BeliefCoef {
        BeliefCoef {
            bc1: 1.0 - self.beta1.powf(t.step),
            bc2: 1.0 - self.beta2.powf(t.step),
        }
    }
    #[inline(always)]
    fn chunk<T: Float>(&self, c: &BeliefCoef, p: &mut [T], g: &[T], s: &mut [&mut [T]]) {
        let (b1, b2, c1, c2) = (
            t::<T>(self.beta1),
            t::<T>(self.beta2),
            t::<T>(1.0 - self.beta1),
            t::<T>(1.0 - self.beta2),
        );
        let (lr, eps, bc1, bc2) = (
            t::<T>(self.lr),
            t::<T>(self.eps),
            t::<T>(c.bc1),
            t::<T>(c.bc2),
        );
        let wd = t::<T>(self.weight_decay);
        let decay = t::<T>(if self.decoupled {
            1.0 - self.lr * self.weight_decay
        } else {
            1.0
        });
        let l2 = self.weight_decay != 0.0 && !self.decoupled;
        let (m, rest) = s.split_first_mut().expect("adabelief exp_avg");
        let (v, rest) = rest.split_first_mut().expect("adabelief exp_avg_var");
        let mut vmax = rest.first_mut();
        for i in 0..p.len() {
            let gu = if l2 { g[i] + wd * p[i] } else { g[i] };
            let pd = p[i] * decay;
            let mv = b1 * m[i] + c1 * gu;
            m[i] = mv;
            let r = gu - mv;
            let mut sv = b2 * v[i] + c2 * r * r + eps;
            v[i] = sv;
            if let Some(x) = vmax.as_deref_mut() {
                sv = nan_max(x[i], sv);
                x[i] = sv;
            }
            p[i] = pd - lr * (mv / bc1) / ((sv / bc2).sqrt() + eps);
        }
    }
}
