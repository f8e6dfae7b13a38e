//! The Adam family as in PyTorch: Adam/AdamW, RAdam, NAdam, Adamax.
//! Each line of a kernel mirrors one tensor op of torch's single-tensor code
//! (named in the comment), with the same operand order.

use super::{lerp, nan_max, t, Rule, TensorInfo};
use crate::cpu::Float;

/// What every Adam-like rule shares: betas, eps, weight decay (L2 or
/// decoupled), maximize.
#[derive(Clone, Copy, Debug)]
pub struct Moments {
    pub lr: f64,
    pub beta1: f64,
    pub beta2: f64,
    pub eps: f64,
    pub weight_decay: f64,
    pub decoupled: bool,
    pub maximize: bool,
}

/// Per-chunk constants of the moment updates, cast to the kernel dtype.
#[derive(Clone, Copy)]
struct Pre<T> {
    sign: T,
    wd: T,
    l2: bool,
    decay: T,
    w1: T,
    small1: bool,
    b2: T,
    c2: T,
}

impl Moments {
    #[inline(always)]
    fn pre<T: Float>(&self) -> Pre<T> {
        let l2 = self.weight_decay != 0.0 && !self.decoupled;
        let decay = if self.decoupled {
            1.0 - self.lr * self.weight_decay
        } else {
            1.0
        };
        Pre {
            sign: if self.maximize { -T::one() } else { T::one() },
            wd: t(self.weight_decay),
            l2,
            decay: t(decay),
            w1: t(1.0 - self.beta1),
            small1: (1.0 - self.beta1).abs() < 0.5,
            b2: t(self.beta2),
            c2: t(1.0 - self.beta2),
        }
    }
}

impl<T: Float> Pre<T> {
    /// grad = ±g (+ wd·p, L2) ; p.mul_(1 - lr·wd) (decoupled) ;
    /// exp_avg.lerp_(grad, 1-β1) ; exp_avg_sq.mul_(β2).addcmul_(grad, grad, 1-β2).
    /// Returns the (decayed) parameter and the gradient used.
    #[inline(always)]
    fn moments(&self, p: T, g: T, m: &mut T, v: &mut T) -> (T, T) {
        let mut g = self.sign * g;
        if self.l2 {
            g = g + self.wd * p;
        }
        let p = p * self.decay;
        *m = lerp(*m, g, self.w1, self.small1);
        *v = *v * self.b2 + self.c2 * g * g;
        (p, g)
    }
}

/// torch.optim.Adam / AdamW (`decoupled`), with `amsgrad`.
#[derive(Clone, Copy, Debug)]
pub struct Adam {
    pub m: Moments,
    pub amsgrad: bool,
}

#[derive(Clone, Copy, Debug)]
pub struct AdamCoef {
    neg_step_size: f64,
    bc2_sqrt: f64,
}

impl Rule for Adam {
    type Coef = AdamCoef;
    fn name(&self) -> &'static str {
        if self.m.decoupled {
            "adamw"
        } else {
            "adam"
        }
    }
    fn state_names(&self) -> Vec<&'static str> {
        if self.amsgrad {
            vec!["exp_avg", "exp_avg_sq", "max_exp_avg_sq"]
        } else {
            vec!["exp_avg", "exp_avg_sq"]
        }
    }
    fn coef(&self, t: &mut TensorInfo) -> AdamCoef {
        let bc1 = 1.0 - self.m.beta1.powf(t.step);
        let bc2 = 1.0 - self.m.beta2.powf(t.step);
        AdamCoef {
            neg_step_size: -(self.m.lr / bc1),
            bc2_sqrt: bc2.powf(0.5),
        }
    }
    #[inline(always)]
    fn chunk<T: Float>(&self, c: &AdamCoef, p: &mut [T], g: &[T], s: &mut [&mut [T]]) {
        let pre = self.m.pre::<T>();
        let (ss, bc2s, eps) = (
            t::<T>(c.neg_step_size),
            t::<T>(c.bc2_sqrt),
            t::<T>(self.m.eps),
        );
        // denom = (v.sqrt() / bc2_sqrt).add_(eps) ; p.addcdiv_(exp_avg, denom, value=-step_size)
        match s {
            [m, v] => {
                for (((pv, &gv), mv), vv) in p.iter_mut().zip(g).zip(m.iter_mut()).zip(v.iter_mut())
                {
                    let (pd, _) = pre.moments(*pv, gv, mv, vv);
                    *pv = pd + ss * *mv / (vv.sqrt() / bc2s + eps);
                }
            }
            [m, v, vmax] => {
                for ((((pv, &gv), mv), vv), xv) in p
                    .iter_mut()
                    .zip(g)
                    .zip(m.iter_mut())
                    .zip(v.iter_mut())
                    .zip(vmax.iter_mut())
                {
                    let (pd, _) = pre.moments(*pv, gv, mv, vv);
                    *xv = nan_max(*xv, *vv);
                    *pv = pd + ss * *mv / (xv.sqrt() / bc2s + eps);
                }
            }
            _ => unreachable!("adam has two or three state buffers"),
        }
    }
}

/// torch.optim.RAdam (with `decoupled_weight_decay`).
#[derive(Clone, Copy, Debug)]
pub struct RAdam {
    pub m: Moments,
}

#[derive(Clone, Copy, Debug)]
pub struct RAdamCoef {
    bc1: f64,
    bc2_sqrt: f64,
    /// The variance rectification term, when rho_t > 5.
    rect: Option<f64>,
}

impl Rule for RAdam {
    type Coef = RAdamCoef;
    fn name(&self) -> &'static str {
        "radam"
    }
    fn state_names(&self) -> Vec<&'static str> {
        vec!["exp_avg", "exp_avg_sq"]
    }
    fn coef(&self, t: &mut TensorInfo) -> RAdamCoef {
        let (b1, b2, step) = (self.m.beta1, self.m.beta2, t.step);
        let bc1 = 1.0 - b1.powf(step);
        let bc2 = 1.0 - b2.powf(step);
        let rho_inf = 2.0 / (1.0 - b2) - 1.0;
        let rho_t = rho_inf - 2.0 * step * b2.powf(step) / bc2;
        let rect = (rho_t > 5.0).then(|| {
            ((rho_t - 4.0) * (rho_t - 2.0) * rho_inf / ((rho_inf - 4.0) * (rho_inf - 2.0) * rho_t))
                .powf(0.5)
        });
        RAdamCoef {
            bc1,
            bc2_sqrt: bc2.powf(0.5),
            rect,
        }
    }
    #[inline(always)]
    fn chunk<T: Float>(&self, c: &RAdamCoef, p: &mut [T], g: &[T], s: &mut [&mut [T]]) {
        let [m, v] = s else {
            unreachable!("radam has two state buffers")
        };
        let pre = self.m.pre::<T>();
        let (lr, bc1, bc2s, eps) = (
            t::<T>(self.m.lr),
            t::<T>(c.bc1),
            t::<T>(c.bc2_sqrt),
            t::<T>(self.m.eps),
        );
        let it = p.iter_mut().zip(g).zip(m.iter_mut()).zip(v.iter_mut());
        match c.rect {
            // p.add_(exp_avg / bc1 * lr * (bc2**0.5 / (v.sqrt() + eps)) * rect, alpha=-1)
            Some(rect) => {
                let rect = t::<T>(rect);
                for (((pv, &gv), mv), vv) in it {
                    let (pd, _) = pre.moments(*pv, gv, mv, vv);
                    *pv = pd - *mv / bc1 * lr * (bc2s / (vv.sqrt() + eps)) * rect;
                }
            }
            // p.add_(exp_avg / bc1 * lr, alpha=-1)
            None => {
                for (((pv, &gv), mv), vv) in it {
                    let (pd, _) = pre.moments(*pv, gv, mv, vv);
                    *pv = pd - *mv / bc1 * lr;
                }
            }
        }
    }
}

/// torch.optim.NAdam (with `momentum_decay`, `decoupled_weight_decay`).
#[derive(Clone, Copy, Debug)]
pub struct NAdam {
    pub m: Moments,
    pub momentum_decay: f64,
}

#[derive(Clone, Copy, Debug)]
pub struct NAdamCoef {
    bc2: f64,
    c_grad: f64,
    c_avg: f64,
}

impl Rule for NAdam {
    type Coef = NAdamCoef;
    fn name(&self) -> &'static str {
        "nadam"
    }
    fn state_names(&self) -> Vec<&'static str> {
        vec!["exp_avg", "exp_avg_sq"]
    }
    fn aux_name(&self) -> Option<&'static str> {
        Some("mu_product")
    }
    fn coef(&self, t: &mut TensorInfo) -> NAdamCoef {
        let (b1, lr, step) = (self.m.beta1, self.m.lr, t.step);
        let mu = b1 * (1.0 - 0.5 * 0.96f64.powf(step * self.momentum_decay));
        let mu_next = b1 * (1.0 - 0.5 * 0.96f64.powf((step + 1.0) * self.momentum_decay));
        // torch keeps mu_product in a float32 0-d tensor: `mu_product *= mu`
        let mu_product = ((t.aux as f32) * (mu as f32)) as f64;
        t.aux = mu_product;
        let mu_product_next = mu_product * mu_next;
        NAdamCoef {
            bc2: 1.0 - self.m.beta2.powf(step),
            c_grad: -lr * (1.0 - mu) / (1.0 - mu_product),
            c_avg: (-lr * mu_next) / (1.0 - mu_product_next),
        }
    }
    #[inline(always)]
    fn chunk<T: Float>(&self, c: &NAdamCoef, p: &mut [T], g: &[T], s: &mut [&mut [T]]) {
        let [m, v] = s else {
            unreachable!("nadam has two state buffers")
        };
        let pre = self.m.pre::<T>();
        let (bc2, eps, cg, ca) = (
            t::<T>(c.bc2),
            t::<T>(self.m.eps),
            t::<T>(c.c_grad),
            t::<T>(c.c_avg),
        );
        for (((pv, &gv), mv), vv) in p.iter_mut().zip(g).zip(m.iter_mut()).zip(v.iter_mut()) {
            let (pd, gu) = pre.moments(*pv, gv, mv, vv);
            // denom = v.div(bc2).sqrt().add_(eps); two addcdiv_ (grad, then exp_avg)
            let denom = (*vv / bc2).sqrt() + eps;
            let p1 = pd + cg * gu / denom;
            *pv = p1 + ca * *mv / denom;
        }
    }
}

/// torch.optim.Adamax (infinity-norm Adam; L2 weight decay only).
#[derive(Clone, Copy, Debug)]
pub struct Adamax {
    pub m: Moments,
}

impl Rule for Adamax {
    /// -lr / (1 - β1^t)
    type Coef = f64;
    fn name(&self) -> &'static str {
        "adamax"
    }
    fn state_names(&self) -> Vec<&'static str> {
        vec!["exp_avg", "exp_inf"]
    }
    fn coef(&self, t: &mut TensorInfo) -> f64 {
        -(self.m.lr / (1.0 - self.m.beta1.powf(t.step)))
    }
    #[inline(always)]
    fn chunk<T: Float>(&self, &clr: &f64, p: &mut [T], g: &[T], s: &mut [&mut [T]]) {
        let [m, u] = s else {
            unreachable!("adamax has two state buffers")
        };
        let pre = self.m.pre::<T>();
        let (b2, eps, clr) = (t::<T>(self.m.beta2), t::<T>(self.m.eps), t::<T>(clr));
        for (((pv, &gv), mv), uv) in p.iter_mut().zip(g).zip(m.iter_mut()).zip(u.iter_mut()) {
            let mut gu = pre.sign * gv;
            if pre.l2 {
                gu = gu + pre.wd * *pv;
            }
            *mv = lerp(*mv, gu, pre.w1, pre.small1);
            // torch.maximum(exp_inf.mul_(β2), grad.abs().add_(eps))
            *uv = nan_max(*uv * b2, gu.abs() + eps);
            *pv = *pv + clr * *mv / *uv;
        }
    }
}
