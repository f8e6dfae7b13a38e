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

/// Where a view sits inside its (contiguous) base: shape, strides, offset.
#[derive(Clone)]
struct Region {
    shape: Vec<usize>,
    strides: Vec<usize>,
    offset: usize,
}

impl Region {
    fn of(view: &Tensor, base: &Tensor) -> Region {
        Region { shape: view.shape.clone(), strides: view.strides.clone(), offset: view.offset - base.offset }
    }
    /// The region of a fresh contiguous tensor `t` of the base's shape.
    fn in_(&self, t: &Tensor) -> Tensor {
        t.alias(self.shape.clone(), self.strides.clone(), self.offset)
    }
}

/// `base` viewed through `region`, with a backward that scatters the
/// gradient back into a zero tensor of the base's shape.
fn region_view(base: &Tensor, region: Region) -> Tensor {
    let out = base.alias(region.shape.clone(), region.strides.clone(), base.offset + region.offset);
    if !base.requires_grad() {
        return out;
    }
    let (shape, dt) = (base.shape.clone(), base.dtype);
    let back = move |g: &Tensor| -> Result<Vec<Option<Tensor>>> {
        let z = Tensor::zeros(&shape, dt);
        write_into(&region.in_(&z), g)?;
        Ok(vec![Some(z)])
    };
    crate::autograd::record_view(out, "AsStrided", base, Box::new(back))
}

/// The history of "base with `region` overwritten by `src`": the gradient
/// of the overwritten elements goes to `src`, the rest to the old base.
fn copy_slices_node(base: &Tensor, region: Region, src: &Tensor) -> Option<std::sync::Arc<crate::autograd::Node>> {
    let back = move |g: &Tensor| -> Result<Vec<Option<Tensor>>> {
        let gb = shape::contiguous_copy(&g.detach())?;
        let gs = shape::contiguous_copy(&region.in_(&gb))?;
        write_into(&region.in_(&gb), &Tensor::scalar(0.0, gb.dtype))?;
        Ok(vec![Some(gb), Some(gs)])
    };
    let out = crate::autograd::record(base.detach(), "CopySlices", &[base, src], &[], Box::new(back));
    out.grad_fn()
}

/// Writes `f(old value)` into `dst` in place. Under autograd the old value
/// lives on in a copy carrying dst's history, and dst (or, for a view, its
/// base) takes the new history — torch's rebase/CopySlices, for views of
/// contiguous bases.
fn apply_(dst: &Tensor, others: &[&Tensor], op: &str, f: impl FnOnce(&Tensor) -> Result<Tensor>) -> Result<()> {
    let recording = is_grad_enabled() && (dst.requires_grad() || others.iter().any(|t| t.requires_grad()));
    if !recording {
        let r = f(&dst.detach())?;
        return write_into(dst, &r);
    }
    let base = dst.view_base();
    let leaf_target = match &base {
        Some(b) => b.requires_grad() && b.is_leaf(),
        None => dst.requires_grad() && dst.is_leaf(),
    };
    if leaf_target {
        let what = if base.is_some() { "a view of a leaf Variable" } else { "a leaf Variable" };
        return Err(Error::runtime(format!(
            "{op}: {what} that requires grad is being used in an in-place operation."
        )));
    }
    let old = if dst.requires_grad() { shape::contiguous_copy(dst)? } else { dst.detach() };
    let r = unary::to_dtype(&f(&old)?, dst.dtype)?;
    match base {
        None => {
            write_into(dst, &r.detach())?;
            dst.meta.requires_grad.store(r.requires_grad(), std::sync::atomic::Ordering::Relaxed);
            dst.set_grad_fn(r.grad_fn());
        }
        Some(base) => {
            if !base.is_contiguous() {
                return Err(Error::runtime(format!(
                    "{op}: in-place write through a view of a non-contiguous tensor that requires grad is not \
                     supported; call .contiguous() on the base first"
                )));
            }
            let region = Region::of(dst, &base);
            let node = copy_slices_node(&base, region.clone(), &r);
            write_into(dst, &r.detach())?;
            base.meta.requires_grad.store(true, std::sync::atomic::Ordering::Relaxed);
            base.set_grad_fn(node);
            // the view now reads the new base
            let v = region_view(&base, region);
            dst.meta.requires_grad.store(true, std::sync::atomic::Ordering::Relaxed);
            dst.set_grad_fn(v.grad_fn());
        }
    }
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
            "{name}: result type {} can't be cast to the desired output type {} (self of shape {:?}, other of shape {:?})",
            rt.name(),
            dst.dtype.name(),
            dst.shape,
            other.shape
        )));
    }
    let other = if alpha != 1.0 {
        &super::mul(other, &Tensor::scalar(alpha, if other.dtype.is_float() { other.dtype } else { rt }))?
    } else {
        other
    };
    apply_(dst, &[other], &name, |old| binary(op, old, other))
}

/// In-place form of any unary op (`relu_`, `exp_`, `clamp_`, …).
pub fn unary_(dst: &Tensor, op: &str, f: impl FnOnce(&Tensor) -> Result<Tensor>) -> Result<()> {
    apply_(dst, &[], op, f)
}

/// In-place form of an op that also reads `others` (their gradients flow too).
pub fn inplace_with(dst: &Tensor, others: &[&Tensor], op: &str, f: impl FnOnce(&Tensor) -> Result<Tensor>) -> Result<()> {
    apply_(dst, others, op, f)
}

pub fn fill_(dst: &Tensor, value: f64) -> Result<()> {
    let dt = dst.dtype;
    apply_(dst, &[], "fill_", |old| Ok(Tensor::full(&old.shape, value, dt)))
}

pub fn zero_(dst: &Tensor) -> Result<()> {
    fill_(dst, 0.0)
}

pub fn copy_(dst: &Tensor, src: &Tensor) -> Result<()> {
    let target = shape_i64(&dst.shape);
    apply_(dst, &[src], "copy_", |_| {
        let r = shape::expand(&unary::to_dtype(src, dst.dtype)?, &target).map_err(|_| {
            Error::runtime(format!(
                "copy_: the source of shape {:?} cannot be broadcast to the destination of shape {:?}",
                src.shape, dst.shape
            ))
        })?;
        shape::contiguous_copy(&r)
    })
}
