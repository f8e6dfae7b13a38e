//! Element-wise unary ops, clamp and dtype casts.

use super::binary::{compare, mul, CmpOp};
use crate::autograd::{is_grad_enabled, needs_grad, record};
use crate::cpu::elementwise::{map_binary, map_unary};
use crate::error::{Error, Result};
use crate::tensor::{DType, Element, Tensor};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UnaryOp {
    Neg,
    Exp,
    Log,
    Sqrt,
    Rsqrt,
    Abs,
    Sin,
    Cos,
    Tanh,
    Sigmoid,
    Relu,
}

impl UnaryOp {
    fn name(self) -> &'static str {
        match self {
            UnaryOp::Neg => "Neg",
            UnaryOp::Exp => "Exp",
            UnaryOp::Log => "Log",
            UnaryOp::Sqrt => "Sqrt",
            UnaryOp::Rsqrt => "Rsqrt",
            UnaryOp::Abs => "Abs",
            UnaryOp::Sin => "Sin",
            UnaryOp::Cos => "Cos",
            UnaryOp::Tanh => "Tanh",
            UnaryOp::Sigmoid => "Sigmoid",
            UnaryOp::Relu => "Relu",
        }
    }
    /// Ops that turn integer inputs into float32 (torch's "int to float" ops).
    fn promotes_to_float(self) -> bool {
        !matches!(self, UnaryOp::Neg | UnaryOp::Abs | UnaryOp::Relu)
    }
}

// One match arm per op so each kernel is monomorphised (see binary.rs).
macro_rules! with_float_fn {
    ($op:expr, $T:ty, $f:ident => $body:expr) => {
        match $op {
            UnaryOp::Neg => { let $f = |x: $T| -x; $body }
            UnaryOp::Exp => { let $f = |x: $T| x.exp(); $body }
            UnaryOp::Log => { let $f = |x: $T| x.ln(); $body }
            UnaryOp::Sqrt => { let $f = |x: $T| x.sqrt(); $body }
            UnaryOp::Rsqrt => { let $f = |x: $T| 1.0 / x.sqrt(); $body }
            UnaryOp::Abs => { let $f = |x: $T| x.abs(); $body }
            UnaryOp::Sin => { let $f = |x: $T| x.sin(); $body }
            UnaryOp::Cos => { let $f = |x: $T| x.cos(); $body }
            UnaryOp::Tanh => { let $f = |x: $T| x.tanh(); $body }
            UnaryOp::Sigmoid => { let $f = |x: $T| 1.0 / (1.0 + (-x).exp()); $body }
            UnaryOp::Relu => { let $f = |x: $T| if x > 0.0 || x.is_nan() { x } else { 0.0 }; $body }
        }
    };
}

fn compute(op: UnaryOp, x: &Tensor) -> Result<Tensor> {
    Ok(match x.dtype {
        DType::F32 => with_float_fn!(op, f32, f => map_unary(x, f)),
        DType::F64 => with_float_fn!(op, f64, f => map_unary(x, f)),
        DType::I64 => match op {
            UnaryOp::Neg => map_unary(x, |v: i64| v.wrapping_neg()),
            UnaryOp::Abs => map_unary(x, |v: i64| v.wrapping_abs()),
            UnaryOp::Relu => map_unary(x, |v: i64| v.max(0)),
            _ => return Err(Error::type_(format!("{}: unsupported dtype int64", op.name().to_lowercase()))),
        },
        DType::Bool => match op {
            UnaryOp::Abs | UnaryOp::Relu => x.detach(),
            _ => {
                return Err(Error::runtime(format!(
                    "{}: not supported for bool tensors",
                    op.name().to_lowercase()
                )))
            }
        },
    })
}

pub fn unary(op: UnaryOp, x: &Tensor) -> Result<Tensor> {
    let x = if op.promotes_to_float() && !x.dtype.is_float() { &to_dtype(x, DType::F32)? } else { x };
    let out = compute(op, x)?;
    if !needs_grad(&[x]) {
        return Ok(out);
    }
    let xs = x.clone();
    // Ops whose derivative is cheapest from the output keep a history-free
    // alias of it (holding `out` itself would make a reference cycle); under
    // create_graph the output is recomputed so higher derivatives flow.
    let out_alias = out.detach();
    let out_alias_check = out.detach();
    let back = move |g: &Tensor| -> Result<Vec<Option<Tensor>>> {
        let y = || if is_grad_enabled() { unary(op, &xs) } else { Ok(out_alias.clone()) };
        let one = Tensor::scalar(1.0, g.dtype);
        let gx = match op {
            UnaryOp::Neg => neg(g)?,
            UnaryOp::Exp => mul(g, &y()?)?,
            UnaryOp::Log => super::div(g, &xs)?,
            UnaryOp::Sqrt => super::div(g, &mul(&y()?, &Tensor::scalar(2.0, g.dtype))?)?,
            UnaryOp::Rsqrt => {
                let y = y()?;
                mul(g, &mul(&mul(&y, &mul(&y, &y)?)?, &Tensor::scalar(-0.5, g.dtype))?)?
            }
            UnaryOp::Abs => mul(g, &sign(&xs)?)?,
            UnaryOp::Sin => mul(g, &cos(&xs)?)?,
            UnaryOp::Cos => neg(&mul(g, &sin(&xs)?)?)?,
            UnaryOp::Tanh => {
                let y = y()?;
                mul(g, &super::sub(&one, &mul(&y, &y)?)?)?
            }
            UnaryOp::Sigmoid => {
                let y = y()?;
                mul(g, &mul(&y, &super::sub(&one, &y)?)?)?
            }
            UnaryOp::Relu => relu_backward(g, &xs)?,
        };
        Ok(vec![Some(gx)])
    };
    Ok(record(out, op.name(), &[x], &[x, &out_alias_check], Box::new(back)))
}

/// g where x > 0 else 0, in one pass (differentiable in g for double backward).
fn relu_backward(g: &Tensor, x: &Tensor) -> Result<Tensor> {
    if is_grad_enabled() {
        let mask = to_dtype(&compare(CmpOp::Gt, x, &Tensor::scalar(0.0, x.dtype))?, g.dtype)?;
        return mul(g, &mask);
    }
    Ok(crate::with_float!(g.dtype, "relu_backward", T =>
        map_binary(g, x, &g.shape, |gv: T, xv: T| if xv > T::zero() { gv } else { T::zero() })))
}

fn sign(x: &Tensor) -> Result<Tensor> {
    Ok(crate::with_float!(x.dtype, "sign", T => map_unary(x, |v: T| {
        if v > T::zero() { T::one() } else if v < T::zero() { -T::one() } else { T::zero() }
    })))
}

pub fn neg(x: &Tensor) -> Result<Tensor> {
    unary(UnaryOp::Neg, x)
}
pub fn exp(x: &Tensor) -> Result<Tensor> {
    unary(UnaryOp::Exp, x)
}
pub fn log(x: &Tensor) -> Result<Tensor> {
    unary(UnaryOp::Log, x)
}
pub fn sin(x: &Tensor) -> Result<Tensor> {
    unary(UnaryOp::Sin, x)
}
pub fn cos(x: &Tensor) -> Result<Tensor> {
    unary(UnaryOp::Cos, x)
}
pub fn relu(x: &Tensor) -> Result<Tensor> {
    unary(UnaryOp::Relu, x)
}

/// `clamp(min, max)`: either bound may be absent; the gradient passes where
/// min <= x <= max, as in torch.
pub fn clamp(x: &Tensor, min: Option<f64>, max: Option<f64>) -> Result<Tensor> {
    if min.is_none() && max.is_none() {
        return Err(Error::runtime("clamp: At least one of 'min' or 'max' must not be None"));
    }
    let (lo, hi) = (min.unwrap_or(f64::NEG_INFINITY), max.unwrap_or(f64::INFINITY));
    let out = crate::with_dtype!(x.dtype, T => {
        if T::DTYPE == DType::Bool {
            return Err(Error::runtime("clamp: not supported for bool tensors"));
        }
        map_unary(x, move |v: T| {
            let f = v.to_f64();
            // max(x, lo) then min(·, hi): with lo > hi every value becomes hi, as torch
            if f.is_nan() { v } else if f > hi || lo > hi { T::from_f64(hi) } else if f < lo { T::from_f64(lo) } else { v }
        })
    });
    if !needs_grad(&[x]) {
        return Ok(out);
    }
    let xs = x.clone();
    let back = move |g: &Tensor| -> Result<Vec<Option<Tensor>>> {
        let mask = crate::with_float!(xs.dtype, "clamp", T => map_unary(&xs, move |v: T| {
            let f = v.to_f64();
            if f >= lo && f <= hi { T::one() } else { T::zero() }
        }));
        Ok(vec![Some(mul(g, &mask)?)])
    };
    Ok(record(out, "Clamp", &[x], &[x], Box::new(back)))
}

fn cast<S: Element, D: Element>(x: &Tensor) -> Tensor {
    map_unary(x, |v: S| D::from_f64(v.to_f64()))
}

/// `to(dtype)`: returns `x` itself when the dtype already matches.
pub fn to_dtype(x: &Tensor, dtype: DType) -> Result<Tensor> {
    if x.dtype == dtype {
        return Ok(x.clone());
    }
    let out = match (x.dtype, dtype) {
        // f32<->f64 directly, the rest through f64 (exact for every value
        // these dtypes hold except i64 beyond 2^53, as numpy)
        (DType::F32, DType::F64) => map_unary(x, |v: f32| v as f64),
        (DType::F64, DType::F32) => map_unary(x, |v: f64| v as f32),
        (DType::I64, DType::F32) => map_unary(x, |v: i64| v as f32),
        (DType::I64, DType::F64) => map_unary(x, |v: i64| v as f64),
        (DType::F32, DType::I64) => map_unary(x, |v: f32| v as i64),
        (DType::F64, DType::I64) => map_unary(x, |v: f64| v as i64),
        (s, d) => crate::with_dtype!(s, S => crate::with_dtype!(d, D => cast::<S, D>(x))),
    };
    if !needs_grad(&[x]) || !dtype.is_float() {
        return Ok(out);
    }
    let src = x.dtype;
    let back = move |g: &Tensor| -> Result<Vec<Option<Tensor>>> { Ok(vec![Some(to_dtype(g, src)?)]) };
    Ok(record(out, "ToCopy", &[x], &[], Box::new(back)))
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FloatClass {
    Nan,
    Inf,
    Finite,
}

/// isnan / isinf / isfinite: bool tensors (integers are always finite).
pub fn classify(x: &Tensor, class: FloatClass) -> Result<Tensor> {
    Ok(match x.dtype {
        DType::F32 | DType::F64 => crate::with_float!(x.dtype, "isfinite", T => map_unary(x, move |v: T| {
            let f = v.to_f64();
            match class {
                FloatClass::Nan => f.is_nan(),
                FloatClass::Inf => f.is_infinite(),
                FloatClass::Finite => f.is_finite(),
            }
        })),
        _ => Tensor::full(&x.shape, (class == FloatClass::Finite) as i64 as f64, DType::Bool),
    })
}
