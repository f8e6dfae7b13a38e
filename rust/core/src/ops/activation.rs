//! Activation ops: one forward map and one fused `g · f'(x)` backward map per
//! activation (declared once in `cpu/activation.rs`), plus PReLU.
//!
//! Under `create_graph` the backward is composed as `g · f'(x)` with `f'` a
//! recorded op whose own backward uses `f''`, so second derivatives are
//! exact (third and higher are not recorded).

use super::binary::{compare, mul, where_, CmpOp};
use super::{reduce, shape, shape_i64, unary};
use crate::autograd::{is_grad_enabled, needs_grad, record};
use crate::cpu::activation::{self as kern, Act};
use crate::error::{Error, Result};
use crate::tensor::Tensor;

fn check_float(op: &str, x: &Tensor) -> Result<()> {
    if !x.dtype.is_float() {
        return Err(Error::runtime(format!(
            "{op}: expected a floating point tensor, got {}",
            x.dtype.name()
        )));
    }
    Ok(())
}

pub fn activation(x: &Tensor, act: Act) -> Result<Tensor> {
    check_float(act.name(), x)?;
    act_order(x, act, 0)
}

/// f (order 0), f' (1) or f'' (2) of `act`, element-wise.
fn act_order(x: &Tensor, act: Act, order: u8) -> Result<Tensor> {
    let out = crate::with_float!(x.dtype, act.name(), T => Tensor::from_vec_unchecked(kern::apply(act, order, &x.data::<T>(), None), &x.shape));
    if order >= 2 || !needs_grad(&[x]) {
        return Ok(out);
    }
    let xs = x.clone();
    let back = move |g: &Tensor| -> Result<Vec<Option<Tensor>>> {
        let gx = if is_grad_enabled() {
            mul(g, &act_order(&xs, act, order + 1)?)?
        } else {
            crate::with_float!(g.dtype, act.name(), T => Tensor::from_vec_unchecked(
                kern::apply(act, order + 1, &xs.data::<T>(), Some(&g.data::<T>())), &xs.shape))
        };
        Ok(vec![Some(gx)])
    };
    let name = if order == 0 {
        act.name().to_string()
    } else {
        format!("{}Backward", act.name())
    };
    Ok(record(out, name, &[x], &[x], Box::new(back)))
}

/// Elements per channel step for PReLU: channel dim 1 of an (N, C, *) input.
fn prelu_inner(x: &Tensor) -> usize {
    x.shape.get(2..).map_or(1, |s| s.iter().product())
}

/// PReLU (He et al., 2015): `x > 0 ? x : a·x` with one learnable `a` shared,
/// or one per channel (dim 1).
pub fn prelu(x: &Tensor, w: &Tensor) -> Result<Tensor> {
    check_float("prelu", x)?;
    let channels = if x.ndim() >= 2 { x.shape[1] } else { 1 };
    if w.ndim() > 1 || !(w.numel() == 1 || w.numel() == channels) {
        return Err(Error::runtime(format!(
            "prelu: Mismatch of parameter numbers and input channel size. Found parameter numbers = {} and channel size = {channels} (input shape {:?}, weight shape {:?}).",
            w.numel(),
            x.shape,
            w.shape
        )));
    }
    let wc = unary::to_dtype(&w.detach(), x.dtype)?;
    let inner = prelu_inner(x);
    let out = crate::with_float!(x.dtype, "prelu", T => Tensor::from_vec_unchecked(kern::prelu(&x.data::<T>(), &wc.data::<T>(), inner), &x.shape));
    if !needs_grad(&[x, w]) {
        return Ok(out);
    }
    let (xs, ws) = (x.clone(), w.clone());
    let back = move |g: &Tensor| -> Result<Vec<Option<Tensor>>> {
        if is_grad_enabled() {
            return prelu_backward_composite(g, &xs, &ws);
        }
        let wc = unary::to_dtype(&ws.detach(), xs.dtype)?;
        let (gx, gw) = crate::with_float!(xs.dtype, "prelu", T => {
            let (gx, gw) = kern::prelu_backward(&g.data::<T>(), &xs.data::<T>(), &wc.data::<T>(), inner);
            (Tensor::from_vec_unchecked(gx, &xs.shape), Tensor::from_vec_unchecked(gw, &ws.shape))
        });
        Ok(vec![Some(gx), Some(unary::to_dtype(&gw, ws.dtype)?)])
    };
    Ok(record(out, "Prelu", &[x, w], &[x, w], Box::new(back)))
}

/// The same gradients from differentiable ops, for create_graph.
fn prelu_backward_composite(g: &Tensor, x: &Tensor, w: &Tensor) -> Result<Vec<Option<Tensor>>> {
    let pos = compare(CmpOp::Gt, x, &Tensor::scalar(0.0, x.dtype))?;
    let wb = if w.numel() == 1 || x.ndim() < 2 {
        shape::reshape(w, &[])?
    } else {
        let mut s = vec![w.numel() as i64];
        s.extend(std::iter::repeat_n(1, x.ndim() - 2));
        shape::reshape(w, &s)?
    };
    let gx = where_(&pos, g, &mul(g, &wb)?)?;
    let neg_part = where_(&pos, &Tensor::scalar(0.0, x.dtype), &mul(g, x)?)?;
    let gw = if w.numel() == 1 || x.ndim() < 2 {
        reduce::sum(&neg_part, None, false, None)?
    } else {
        let dims: Vec<i64> = (0..x.ndim() as i64).filter(|&d| d != 1).collect();
        reduce::sum(&neg_part, Some(&dims), false, None)?
    };
    Ok(vec![
        Some(gx),
        Some(shape::reshape(&gw, &shape_i64(&w.shape))?),
    ])
}
