//! Fused losses.

use super::{shape, shape_i64};
use crate::autograd::{needs_grad, record};
use crate::cpu::loss::{cross_entropy_bwd, cross_entropy_fwd};
use crate::error::{Error, Result};
use crate::tensor::{DType, Tensor};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reduction {
    None,
    Mean,
    Sum,
}

impl Reduction {
    pub fn parse(s: &str) -> Result<Reduction> {
        match s {
            "none" => Ok(Reduction::None),
            "mean" => Ok(Reduction::Mean),
            "sum" => Ok(Reduction::Sum),
            _ => Err(Error::value(format!("{s} is not a valid value for reduction"))),
        }
    }
}

/// cross_entropy(logits, class indices): log-softmax + NLL fused in Rust.
/// Accepts (C) with a 0-d target, (N, C) with (N), and (N, C, d1, …) with
/// (N, d1, …) like torch.
pub fn cross_entropy(logits: &Tensor, target: &Tensor, reduction: Reduction, ignore_index: i64) -> Result<Tensor> {
    if !logits.dtype.is_float() {
        return Err(Error::runtime(format!(
            "cross_entropy: expected floating point logits, got {}",
            logits.dtype.name()
        )));
    }
    if target.dtype != DType::I64 {
        return Err(Error::runtime(format!(
            "cross_entropy: expected target of dtype int64 (class indices), got {}",
            target.dtype.name()
        )));
    }
    let nd = logits.ndim();
    let bad_target = || {
        Error::runtime(format!(
            "cross_entropy: expected target of shape {:?} for input of shape {:?}, got {:?}",
            if nd <= 1 { vec![] } else { [&logits.shape[..1], &logits.shape[2..]].concat() },
            logits.shape,
            target.shape
        ))
    };
    // bring the class dim last and flatten to (rows, C)
    let (x2, t1, out_shape) = match nd {
        0 => return Err(Error::runtime("cross_entropy: input must have at least 1 dimension (the classes)")),
        1 => {
            if target.ndim() != 0 {
                return Err(bad_target());
            }
            (shape::unsqueeze(logits, 0)?, shape::reshape(target, &[1])?, vec![])
        }
        _ => {
            let want: Vec<usize> = [&logits.shape[..1], &logits.shape[2..]].concat();
            if target.shape != want {
                return Err(bad_target());
            }
            // (N, C, d1, …) → (N, d1, …, C): class dim last, other dims in order
            let moved = if nd > 2 {
                let perm: Vec<i64> = std::iter::once(0).chain(2..nd as i64).chain(std::iter::once(1)).collect();
                shape::permute(logits, &perm)?
            } else {
                logits.clone()
            };
            let c = logits.shape[1] as i64;
            let x2 = shape::reshape(&shape::contiguous(&moved)?, &[-1, c])?;
            // (N, d1.., C) flattened keeps target's (N, d1..) order
            (x2, shape::reshape(target, &[-1])?, want)
        }
    };
    let c = x2.shape[1];
    let tv = t1.to_vec::<i64>();
    for &t in &tv {
        if t != ignore_index && (t < 0 || t as usize >= c) {
            return Err(Error::index(format!("cross_entropy: Target {t} is out of bounds (classes: {c}).")));
        }
    }
    let xd = x2.detach();
    let (losses, count) = crate::with_float!(x2.dtype, "cross_entropy", T => {
        let (l, n) = cross_entropy_fwd(&xd.data::<T>(), c, &tv, ignore_index);
        (Tensor::from_vec_unchecked(l, &[tv.len()]), n)
    });
    let dt = x2.dtype;
    let out = match reduction {
        Reduction::None => shape::reshape(&losses, &shape_i64(&out_shape))?,
        Reduction::Sum => super::sum(&losses, None, false, None)?,
        Reduction::Mean => {
            let s = super::sum(&losses, None, false, None)?;
            super::div(&s, &Tensor::scalar(count as f64, dt))?
        }
    };
    if !needs_grad(&[&x2]) {
        return Ok(out);
    }
    let rows = tv.len();
    let back = move |g: &Tensor| -> Result<Vec<Option<Tensor>>> {
        let gv = g.to_f64_vec();
        let scale: Vec<f64> = match reduction {
            Reduction::None => gv,
            Reduction::Sum => vec![gv[0]; rows],
            Reduction::Mean => vec![gv[0] / count as f64; rows],
        };
        let gx = crate::with_float!(dt, "cross_entropy", T => {
            let s: Vec<T> = scale.iter().map(|&v| T::from_f64(v)).collect();
            Tensor::from_vec_unchecked(cross_entropy_bwd(&xd.data::<T>(), c, &tv, ignore_index, &s), &[rows, c])
        });
        Ok(vec![Some(gx)])
    };
    Ok(record(out, "CrossEntropy", &[&x2], &[&x2], Box::new(back)))
}

/// `F.mse_loss(input, target, reduction)` for same-shape, same-dtype float
/// tensors, one fused kernel each way (`cpu::loss::pointwise`); the Python
/// layer composes the other cases (broadcasting, mixed dtypes, weights).
/// Gradients flow to both input and target (d/dtarget = −d/dinput). Under
/// `create_graph` the backward is built from tensor ops so it can itself be
/// differentiated.
pub fn mse_loss(input: &Tensor, target: &Tensor, reduction: Reduction) -> Result<Tensor> {
    use crate::autograd::is_grad_enabled;
    use crate::cpu::loss::pointwise;
    if !input.dtype.is_float() || input.dtype != target.dtype || input.shape != target.shape {
        return Err(Error::runtime(format!(
            "mse_loss: the fused kernel needs float input and target of one shape and dtype, got {:?} {} and {:?} {}",
            input.shape,
            input.dtype.name(),
            target.shape,
            target.dtype.name()
        )));
    }
    super::same_device("mse_loss", input, target)?;
    let (x, y) = (input.detach(), target.detach());
    let dt = x.dtype;
    let n = x.numel();
    let out = crate::with_float!(dt, "mse_loss", T => {
        let (xd, yd) = (x.data::<T>(), y.data::<T>());
        match reduction {
            Reduction::None => Tensor::from_vec_unchecked(pointwise::mse_none(&xd, &yd), &x.shape),
            Reduction::Sum => Tensor::scalar(pointwise::mse_sum(&xd, &yd), dt),
            // torch: the mean of no elements is nan
            Reduction::Mean => Tensor::scalar(pointwise::mse_sum(&xd, &yd) / n as f64, dt),
        }
    });
    if !needs_grad(&[input, target]) {
        return Ok(out);
    }
    let (want_x, want_y) = (needs_grad(&[input]), needs_grad(&[target]));
    // with history, for the differentiable backward under create_graph
    let (xh, yh) = (input.clone(), target.clone());
    let back = move |g: &Tensor| -> Result<Vec<Option<Tensor>>> {
        let gx = if is_grad_enabled() {
            // differentiable: 2·(x − y)·g (÷ n for mean), from tensor ops
            let k = if reduction == Reduction::Mean { 2.0 / n as f64 } else { 2.0 };
            super::mul(&super::mul(&super::sub(&xh, &yh)?, g)?, &Tensor::scalar(k, dt))?
        } else {
            let g = super::unary::to_dtype(g, dt)?;
            crate::with_float!(dt, "mse_loss_backward", T => {
                let (xd, yd) = (x.data::<T>(), y.data::<T>());
                let v = match reduction {
                    Reduction::None => pointwise::mse_backward(&xd, &yd, T::one(), Some(&g.data::<T>())),
                    Reduction::Sum => pointwise::mse_backward(&xd, &yd, first(&g.data::<T>()), None),
                    Reduction::Mean => {
                        let s = T::from_f64(first(&g.data::<T>()).to_f64() / n as f64);
                        pointwise::mse_backward(&xd, &yd, s, None)
                    }
                };
                Tensor::from_vec_unchecked(v, &x.shape)
            })
        };
        let gy = if want_y { Some(super::neg(&gx)?) } else { None };
        Ok(vec![want_x.then_some(gx), gy])
    };
    Ok(record(out, "MseLoss", &[input, target], &[input, target], Box::new(back)))
}

/// The upstream gradient of a scalar loss (always one element).
fn first<T: crate::cpu::Float>(g: &[T]) -> T {
    g.first().copied().unwrap_or(T::zero())
}
