//! Adagrad and RMSprop as in PyTorch: running sums / averages of squared
//! gradients, L2 weight decay.

use super::{lerp, t, Rule, TensorInfo};
use crate::cpu::Float;

/// torch.optim.Adagrad (dense gradients).
#[derive(Clone, Copy, Debug)]
pub struct Adagrad {
    pub lr: f64,
    pub lr_decay: f64,
    pub weight_decay: f64,
    pub initial_accumulator_value: f64,
    pub eps: f64,
    pub maximize: bool,
}

impl Rule for Adagrad {
    /// -clr = -lr / (1 + (step - 1) * lr_decay)
    type Coef = f64;
    fn name(&self) -> &'static str {
        "adagrad"
    }
    fn state_names(&self) -> Vec<&'static str> {
        vec!["sum"]
    }
    fn state_init(&self, _k: usize) -> f64 {
        self.initial_accumulator_value
    }
    fn coef(&self, t: &mut TensorInfo) -> f64 {
        -(self.lr / (1.0 + (t.step - 1.0) * self.lr_decay))
    }
    #[inline(always)]
    fn chunk<T: Float>(&self, &clr: &f64, p: &mut [T], g: &[T], s: &mut [&mut [T]]) {
        let [sum] = s else {
            unreachable!("adagrad has one state buffer")
        };
        let (clr, wd, eps) = (t::<T>(clr), t::<T>(self.weight_decay), t::<T>(self.eps));
        let sign = if self.maximize { -T::one() } else { T::one() };
        let l2 = self.weight_decay != 0.0;
        for ((pv, &gv), sv) in p.iter_mut().zip(g).zip(sum.iter_mut()) {
            let mut gu = sign * gv;
            if l2 {
                gu = gu + wd * *pv;
            }
            // state_sum.addcmul_(grad, grad, value=1); std = sum.sqrt().add_(eps)
            *sv = *sv + T::one() * gu * gu;
            *pv = *pv + clr * gu / (sv.sqrt() + eps);
        }
    }
}

/// torch.optim.RMSprop (`centered`, `momentum`).
#[derive(Clone, Copy, Debug)]
pub struct RmsProp {
    pub lr: f64,
    pub alpha: f64,
    pub eps: f64,
    pub weight_decay: f64,
    pub momentum: f64,
    pub centered: bool,
    pub maximize: bool,
}

impl Rule for RmsProp {
    type Coef = ();
    fn name(&self) -> &'static str {
        "rmsprop"
    }
    /// torch's state order: square_avg, momentum_buffer, grad_avg.
    fn state_names(&self) -> Vec<&'static str> {
        let mut v = vec!["square_avg"];
        if self.momentum > 0.0 {
            v.push("momentum_buffer");
        }
        if self.centered {
            v.push("grad_avg");
        }
        v
    }
    fn coef(&self, _: &mut TensorInfo) {}
    #[inline(always)]
    fn chunk<T: Float>(&self, _: &(), p: &mut [T], g: &[T], s: &mut [&mut [T]]) {
        let (lr, wd, eps) = (t::<T>(self.lr), t::<T>(self.weight_decay), t::<T>(self.eps));
        let (alpha, c, mom) = (
            t::<T>(self.alpha),
            t::<T>(1.0 - self.alpha),
            t::<T>(self.momentum),
        );
        let small = (1.0 - self.alpha).abs() < 0.5;
        let sign = if self.maximize { -T::one() } else { T::one() };
        let l2 = self.weight_decay != 0.0;
        let (sq, rest) = s
            .split_first_mut()
            .expect("rmsprop has a square_avg buffer");
        let (mut buf, rest) = if self.momentum > 0.0 {
            let (b, r) = rest.split_first_mut().expect("rmsprop momentum buffer");
            (Some(b), r)
        } else {
            (None, rest)
        };
        let mut gavg = rest.first_mut();
        for i in 0..p.len() {
            let mut gu = sign * g[i];
            if l2 {
                gu = gu + wd * p[i];
            }
            // square_avg.mul_(alpha).addcmul_(grad, grad, value=1-alpha)
            let sa = sq[i] * alpha + c * gu * gu;
            sq[i] = sa;
            let avg = match gavg.as_deref_mut() {
                // grad_avg.lerp_(grad, 1-alpha); square_avg.addcmul(grad_avg, grad_avg, value=-1).sqrt_()
                Some(ga) => {
                    let a = lerp(ga[i], gu, c, small);
                    ga[i] = a;
                    (sa + -T::one() * a * a).sqrt()
                }
                None => sa.sqrt(),
            } + eps;
            match buf.as_deref_mut() {
                // buf.mul_(momentum).addcdiv_(grad, avg); p.add_(buf, alpha=-lr)
                Some(b) => {
                    let bv = b[i] * mom + T::one() * gu / avg;
                    b[i] = bv;
                    p[i] = p[i] + -lr * bv;
                }
                // p.addcdiv_(grad, avg, value=-lr)
                None => p[i] = p[i] + -lr * gu / avg,
            }
        }
    }
}
