//! Optimizer steps: one pass over parameter, gradient and state per tensor.

use super::Float;

#[derive(Clone, Copy, Debug)]
pub struct SgdConfig {
    pub lr: f64,
    pub momentum: f64,
    pub dampening: f64,
    pub nesterov: bool,
    pub weight_decay: f64,
    pub maximize: bool,
}

/// torch.optim.SGD's update for one tensor. `buf` is the momentum buffer;
/// `first` says it is fresh (then it is set to the gradient, undamped).
pub fn sgd_step<T: Float>(p: &mut [T], g: &[T], buf: Option<&mut [T]>, first: bool, cfg: &SgdConfig) {
    let lr = T::from_f64(cfg.lr);
    let wd = T::from_f64(cfg.weight_decay);
    let mom = T::from_f64(cfg.momentum);
    let damp = T::from_f64(1.0 - cfg.dampening);
    let sign = if cfg.maximize { -T::one() } else { T::one() };
    match buf {
        None => {
            for (pv, &gv) in p.iter_mut().zip(g) {
                let d = sign * gv + wd * *pv;
                *pv = *pv - lr * d;
            }
        }
        Some(b) => {
            for ((pv, &gv), bv) in p.iter_mut().zip(g).zip(b.iter_mut()) {
                let d = sign * gv + wd * *pv;
                *bv = if first { d } else { mom * *bv + damp * d };
                let step = if cfg.nesterov { d + mom * *bv } else { *bv };
                *pv = *pv - lr * step;
            }
        }
    }
}
