//! In-place ops. They write into the tensor's storage and bump its version
//! so autograd can refuse a backward that would read an overwritten value.

use super::binary::{binary, result_dtype, BinOp};
use super::{shape, shape_i64, unary};
use crate::autograd::is_grad_enabled;
use crate::error::{Error, Result};
use crate::tensor::{broadcast_shapes, for_each_offset, Tensor};

/// Writes `src` (broadcast to dst's shape, cast to its dtype) into `dst`'s
/// memory. No autograd; bumps the version.
pub fn write_into(dst: &Tensor, src: &Tensor) -> Result<()> {
    let s = shape::expand(&unary::to_dtype(&src.detach(), dst.dtype)?, &shape_i64(&dst.shape)).map_err(|_| {
        Error::runtime(format!(
            "copy_: the source of shape {:?} cannot be broadcast to the destination of shape {:?}",
            src.shape, dst.shape
        ))
    })?;
    crate::with_dtype!(dst.dtype, T => {
        let vals = s.data::<T>();
        // an aliasing source is read in full before the first write
        let vals = if s.storage.same(&dst.storage) { std::borrow::Cow::Owned(vals.into_owned()) } else { vals };
        // SAFETY: offsets come from dst's own shape/strides, which stay within
        // its storage; `vals` does not borrow that storage (copied above if it did).
        let buf = unsafe { dst.storage.cpu().slice_mut::<T>() };
        if dst.is_contiguous() {
            buf[dst.offset..dst.offset + vals.len()].copy_from_slice(&vals);
        } else {
            let mut i = 0;
            for_each_offset(&dst.shape, &dst.strides, dst.offset, |o| {
                buf[o] = vals[i];
                i += 1;
            });
        }
    });
    dst.storage.bump_version();
    Ok(())
}

/// Checks the autograd rules for writing into `dst`; returns whether the
/// write must be recorded.
fn check(dst: &Tensor, others: &[&Tensor], op: &str) -> Result<bool> {
    if !is_grad_enabled() || !(dst.requires_grad() || others.iter().any(|t| t.requires_grad())) {
        return Ok(false);
    }
    if dst.requires_grad() && dst.is_leaf() {
        return Err(Error::runtime(format!(
            "{op}: a leaf Variable that requires grad is being used in an in-place operation."
        )));
    }
    if dst.is_grad_view() {
        return Err(Error::runtime(format!(
            "{op}: in-place modification of a view of a tensor that requires grad is not supported by dlcore; \
             use an out-of-place op or clone() first"
        )));
    }
    Ok(true)
}

/// Makes `dst` hold `result`'s value and history.
fn rebase(dst: &Tensor, result: &Tensor) -> Result<()> {
    write_into(dst, &result.detach())?;
    dst.meta.requires_grad.store(result.requires_grad(), std::sync::atomic::Ordering::Relaxed);
    dst.set_grad_fn(result.grad_fn());
    Ok(())
}

/// `dst.add_(other, alpha)`, `sub_`, `mul_`, `div_`.
pub fn binary_(op: BinOp, dst: &Tensor, other: &Tensor, alpha: f64) -> Result<()> {
    let name = format!("{}_", op.name());
    let shape = broadcast_shapes(&dst.shape, &other.shape, &name)?;
    if shape != dst.shape {
        return Err(Error::runtime(format!(
            "{name}: output with shape {:?} doesn't match the broadcast shape {shape:?}",
            dst.shape
        )));
    }
    let rt = result_dtype(op, dst, other);
    if rt.is_float() && !dst.dtype.is_float() || rt == crate::tensor::DType::I64 && dst.dtype == crate::tensor::DType::Bool {
        return Err(Error::runtime(format!(
            "{name}: result type {} can't be cast to the desired output type {}",
            rt.name(),
            dst.dtype.name()
        )));
    }
    let other = if alpha != 1.0 {
        &super::mul(other, &Tensor::scalar(alpha, if other.dtype.is_float() { other.dtype } else { rt }))?
    } else {
        other
    };
    if check(dst, &[other], &name)? {
        // the old value lives on in a copy that carries dst's history
        let old = if dst.requires_grad() { shape::contiguous_copy(dst)? } else { dst.detach() };
        let r = unary::to_dtype(&binary(op, &old, other)?, dst.dtype)?;
        return rebase(dst, &r);
    }
    let r = binary(op, &dst.detach(), &other.detach())?;
    write_into(dst, &r)
}

pub fn fill_(dst: &Tensor, value: f64) -> Result<()> {
    if check(dst, &[], "fill_")? {
        // a constant: gradient to the old history is zero
        let c = Tensor::full(&dst.shape, value, dst.dtype);
        write_into(dst, &c)?;
        dst.set_grad_fn(None);
        dst.meta.requires_grad.store(false, std::sync::atomic::Ordering::Relaxed);
        return Ok(());
    }
    write_into(dst, &Tensor::scalar(value, dst.dtype))
}

pub fn zero_(dst: &Tensor) -> Result<()> {
    fill_(dst, 0.0)
}

pub fn copy_(dst: &Tensor, src: &Tensor) -> Result<()> {
    if check(dst, &[src], "copy_")? {
        let r = shape::expand(&unary::to_dtype(src, dst.dtype)?, &shape_i64(&dst.shape))?;
        let r = shape::contiguous_copy(&r)?;
        return rebase(dst, &r);
    }
    write_into(dst, src)
}
