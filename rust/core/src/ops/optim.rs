//! Optimizer steps over all parameters in one call (rayon across tensors
//! and across chunks of large ones).

use crate::cpu::optim::{sgd_step, SgdConfig};
use crate::error::{Error, Result};
use crate::tensor::Tensor;
use rayon::prelude::*;

const CHUNK: usize = 1 << 16;

fn check_pair(i: usize, p: &Tensor, g: &Tensor) -> Result<()> {
    if !p.is_contiguous() {
        return Err(Error::runtime(format!("sgd_step: parameter {i} is not contiguous")));
    }
    if p.shape != g.shape || p.dtype != g.dtype {
        return Err(Error::runtime(format!(
            "sgd_step: gradient {i} has shape {:?} and dtype {} but the parameter has {:?} and {}",
            g.shape,
            g.dtype.name(),
            p.shape,
            p.dtype.name()
        )));
    }
    if !p.dtype.is_float() {
        return Err(Error::type_(format!("sgd_step: parameter {i} is not floating point")));
    }
    Ok(())
}

/// Updates every parameter in place; returns the momentum buffers (new ones
/// created where `bufs[i]` is None and momentum is on).
pub fn sgd(params: &[Tensor], grads: &[Tensor], bufs: &[Option<Tensor>], cfg: SgdConfig) -> Result<Vec<Option<Tensor>>> {
    if params.len() != grads.len() || params.len() != bufs.len() {
        return Err(Error::value("sgd_step: params, grads and momentum buffers must have the same length"));
    }
    // the step writes every parameter from its own thread: two entries that
    // share memory would race (torch rejects duplicated parameters too)
    for (i, p) in params.iter().enumerate() {
        if let Some(j) = params[..i].iter().position(|q| q.storage.same(&p.storage)) {
            return Err(Error::value(format!(
                "sgd_step: parameters {j} and {i} share memory; each parameter may appear only once"
            )));
        }
    }
    let mut new_bufs = Vec::with_capacity(params.len());
    for (i, (p, g)) in params.iter().zip(grads).enumerate() {
        check_pair(i, p, g)?;
        let b = match &bufs[i] {
            _ if cfg.momentum == 0.0 => None,
            Some(b) => {
                check_pair(i, b, p)?;
                Some((b.clone(), false))
            }
            None => Some((Tensor::zeros(&p.shape, p.dtype), true)),
        };
        new_bufs.push(b);
    }
    crate::cpu::install(|| {
        params.par_iter().zip(grads.par_iter()).zip(new_bufs.par_iter()).for_each(|((p, g), b)| {
            crate::with_dtype!(p.dtype, T => step_one::<T>(p, g, b, &cfg))
        })
    });
    for p in params {
        p.storage.bump_version();
    }
    Ok(new_bufs.into_iter().map(|b| b.map(|(t, _)| t)).collect())
}

fn step_one<T: crate::tensor::Element>(p: &Tensor, g: &Tensor, b: &Option<(Tensor, bool)>, cfg: &SgdConfig) {
    // dtype checked float above; the bool/int arms are never instantiated with work
    macro_rules! run {
        ($F:ty) => {{
            let n = p.numel();
            // SAFETY: p is contiguous (checked) so [offset, offset+n) is its
            // own memory; gradients and buffers are separate tensors.
            let pv = unsafe { &mut p.storage.cpu().slice_mut::<$F>()[p.offset..p.offset + n] };
            let gv = g.data::<$F>();
            match b {
                None => pv.par_chunks_mut(CHUNK).zip(gv.par_chunks(CHUNK)).for_each(|(pc, gc)| sgd_step(pc, gc, None, false, cfg)),
                Some((bt, first)) => {
                    // SAFETY: the buffer is contiguous and owned by this parameter.
                    let bv = unsafe { &mut bt.storage.cpu().slice_mut::<$F>()[bt.offset..bt.offset + n] };
                    pv.par_chunks_mut(CHUNK)
                        .zip(gv.par_chunks(CHUNK))
                        .zip(bv.par_chunks_mut(CHUNK))
                        .for_each(|((pc, gc), bc)| sgd_step(pc, gc, Some(bc), *first, cfg))
                }
            }
        }};
    }
    match T::DTYPE {
        crate::tensor::DType::F32 => run!(f32),
        crate::tensor::DType::F64 => run!(f64),
        _ => {}
    }
}
