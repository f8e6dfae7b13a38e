//! Gradient clipping over all gradients in one call
//! (`nn.utils.clip_grad_norm_`, `clip_grad_value_`).

use super::optim::check_disjoint;
use crate::cpu::optim::clip::{clamp, scale, NormOrd};
use crate::cpu::optim::CHUNK;
use crate::cpu::Float;
use crate::error::{Error, Result};
use crate::tensor::{DType, Tensor};
use rayon::prelude::*;

fn check(op: &str, grads: &[Tensor]) -> Result<()> {
    for (i, g) in grads.iter().enumerate() {
        if !g.dtype.is_float() {
            return Err(Error::type_(format!(
                "{op}: gradient {i} has dtype {}; expected a floating point dtype",
                g.dtype.name()
            )));
        }
        if !g.is_contiguous() {
            return Err(Error::runtime(format!(
                "{op}: gradient {i} (shape {:?}) is not contiguous",
                g.shape
            )));
        }
    }
    check_disjoint(
        op,
        grads
            .iter()
            .enumerate()
            .map(|(i, g)| (g, format!("gradient {i}")))
            .collect(),
        vec![],
    )
}

/// The norm of one contiguous tensor: chunk partials in parallel, combined
/// left to right (the same result for any thread count).
fn tensor_norm<T: Float>(g: &Tensor, ord: NormOrd) -> f64 {
    let x = &g.storage.cpu().slice::<T>()[g.offset..g.offset + g.numel()];
    let parts: Vec<f64> = x.par_chunks(CHUNK).map(|c| ord.partial(c)).collect();
    ord.finish(
        parts
            .into_iter()
            .fold(ord.empty(), |a, b| ord.combine(a, b)),
    )
}

/// torch's total norm: the `norm_type` norm of the per-gradient norms.
pub fn total_norm(op: &str, grads: &[Tensor], norm_type: f64) -> Result<f64> {
    if norm_type.is_nan() {
        return Err(Error::value(format!(
            "{op}: norm_type must be a number, got nan"
        )));
    }
    check(op, grads)?;
    let ord = NormOrd::from_f64(norm_type);
    if matches!(ord, NormOrd::Inf | NormOrd::NegInf) {
        if let Some(i) = grads.iter().position(|g| g.numel() == 0) {
            return Err(Error::runtime(format!(
                "{op}: cannot compute the {norm_type:?} norm of gradient {i}, which is empty (the operation has no identity)"
            )));
        }
    }
    let norms: Vec<f64> = crate::cpu::install(|| {
        grads
            .par_iter()
            .map(|g| match g.dtype {
                DType::F32 => tensor_norm::<f32>(g, ord),
                _ => tensor_norm::<f64>(g, ord),
            })
            .collect()
    });
    Ok(ord.finish(ord.partial(&norms)))
}

/// Scales every gradient by min(1, max_norm / (total + 1e-6)) in place and
/// returns the total norm as a 0-d tensor of the first gradient's dtype.
/// The coefficient is computed in that dtype, as torch does.
pub fn clip_grad_norm(
    grads: &[Tensor],
    max_norm: f64,
    norm_type: f64,
    error_if_nonfinite: bool,
) -> Result<Tensor> {
    let op = "clip_grad_norm_";
    let dtype = grads.first().map_or(DType::F32, |g| g.dtype);
    let total = total_norm(op, grads, norm_type)?;
    let total = if dtype == DType::F32 {
        total as f32 as f64
    } else {
        total
    };
    if error_if_nonfinite && !total.is_finite() {
        return Err(Error::runtime(format!(
            "The total norm of order {norm_type:?} for gradients from `parameters` is non-finite, so it cannot be clipped. \
             To disable this error and scale the gradients by the non-finite norm anyway, set `error_if_nonfinite=False`"
        )));
    }
    let coef = if dtype == DType::F32 {
        let c = max_norm as f32 / (total as f32 + 1e-6f32);
        (if c > 1.0 { 1.0 } else { c }) as f64
    } else {
        let c = max_norm / (total + 1e-6);
        if c > 1.0 {
            1.0
        } else {
            c
        }
    };
    if coef != 1.0 {
        for_each_grad(grads, |g| match g {
            Slice::F32(x) => scale(x, coef as f32),
            Slice::F64(x) => scale(x, coef),
        });
    }
    Ok(Tensor::scalar(total, dtype))
}

/// Clamps every gradient to [-clip_value, clip_value] in place.
pub fn clip_grad_value(grads: &[Tensor], clip_value: f64) -> Result<()> {
    check("clip_grad_value_", grads)?;
    for_each_grad(grads, |g| match g {
        Slice::F32(x) => clamp(x, clip_value as f32),
        Slice::F64(x) => clamp(x, clip_value),
    });
    Ok(())
}

enum Slice<'a> {
    F32(&'a mut [f32]),
    F64(&'a mut [f64]),
}

/// Runs `f` on chunks of every gradient in parallel and bumps versions.
/// Callers ran `check` (float dtypes, contiguous, pairwise disjoint).
fn for_each_grad(grads: &[Tensor], f: impl Fn(Slice<'_>) + Sync) {
    crate::cpu::install(|| {
        grads.par_iter().for_each(|g| {
            let (lo, hi) = (g.offset, g.offset + g.numel());
            match g.dtype {
                // SAFETY: g is contiguous, so [lo, hi) is exactly its elements,
                // and no other gradient of the call overlaps it (check_disjoint).
                DType::F32 => unsafe { &mut g.storage.cpu().slice_mut::<f32>()[lo..hi] }
                    .par_chunks_mut(CHUNK)
                    .for_each(|c| f(Slice::F32(c))),
                // SAFETY: as above.
                DType::F64 => unsafe { &mut g.storage.cpu().slice_mut::<f64>()[lo..hi] }
                    .par_chunks_mut(CHUNK)
                    .for_each(|c| f(Slice::F64(c))),
                _ => {}
            }
        })
    });
    for g in grads {
        g.storage.bump_version();
    }
}
