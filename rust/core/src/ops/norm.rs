//! Batch normalisation (Ioffe & Szegedy, 2015) over dim 1 of `(N, C, *)`
//! input: one fused kernel call forward (statistics + normalise + affine,
//! optionally + ReLU) and one backward (the closed-form gradient), both in
//! `cpu/norm.rs`. The running statistics are updated in place here, exactly
//! as torch: `running = (1 − momentum)·running + momentum·batch`, with the
//! unbiased batch variance.

use super::inplace::write_into;
use crate::autograd::{is_grad_enabled, needs_grad, record};
use crate::cpu::norm::{self, BnShape};
use crate::error::{Error, Result};
use crate::tensor::Tensor;

pub struct BatchNormArgs<'a> {
    pub weight: Option<&'a Tensor>,
    pub bias: Option<&'a Tensor>,
    pub running_mean: Option<&'a Tensor>,
    pub running_var: Option<&'a Tensor>,
    pub training: bool,
    pub momentum: f64,
    pub eps: f64,
    /// Apply ReLU to the output in the same pass (eval-mode fusion).
    pub relu: bool,
}

fn check_param(name: &str, t: Option<&Tensor>, c: usize, x: &Tensor) -> Result<()> {
    if let Some(t) = t {
        if t.numel() != c {
            return Err(Error::runtime(format!(
                "batch_norm: {name} should contain {c} elements not {} (input shape {:?})",
                t.numel(),
                x.shape
            )));
        }
        if !t.dtype.is_float() {
            return Err(Error::runtime(format!(
                "batch_norm: {name} must be floating point, got {}",
                t.dtype.name()
            )));
        }
    }
    Ok(())
}

pub fn batch_norm(x: &Tensor, a: &BatchNormArgs) -> Result<Tensor> {
    if x.ndim() < 2 {
        return Err(Error::runtime(format!(
            "batch_norm: expected input with at least 2 dims (N, C, *), got shape {:?}",
            x.shape
        )));
    }
    if !x.dtype.is_float() {
        return Err(Error::runtime(format!(
            "batch_norm: expected a floating point input, got {}",
            x.dtype.name()
        )));
    }
    let s = BnShape {
        n: x.shape[0],
        c: x.shape[1],
        l: x.shape[2..].iter().product(),
    };
    for (name, t) in [
        ("weight", a.weight),
        ("bias", a.bias),
        ("running_mean", a.running_mean),
        ("running_var", a.running_var),
    ] {
        check_param(name, t, s.c, x)?;
    }
    if a.running_mean.is_some() != a.running_var.is_some() {
        return Err(Error::runtime(
            "batch_norm: running_mean and running_var must both be given or both be None",
        ));
    }
    let batch_stats = a.training || a.running_mean.is_none();
    if a.training && s.count() <= 1 {
        return Err(Error::value(format!(
            "Expected more than 1 value per channel when training, got input size {:?}",
            x.shape
        )));
    }
    if a.relu && batch_stats {
        return Err(Error::runtime(
            "batch_norm: the fused ReLU is only available in eval mode (running statistics)",
        ));
    }
    let running: Option<(Vec<f64>, Vec<f64>)> = match (a.running_mean, a.running_var) {
        (Some(m), Some(v)) if !batch_stats => Some((m.to_f64_vec(), v.to_f64_vec())),
        _ => None,
    };
    let cast = |t: Option<&Tensor>| {
        t.map(|t| super::unary::to_dtype(&t.detach(), x.dtype))
            .transpose()
    };
    let (w, b) = (cast(a.weight)?, cast(a.bias)?);
    let (y, mean, invstd, var) = crate::with_float!(x.dtype, "batch_norm", T => {
        let (wd, bd) = (w.as_ref().map(|t| t.to_vec::<T>()), b.as_ref().map(|t| t.to_vec::<T>()));
        let o = norm::batch_norm(&x.data::<T>(), s, wd.as_deref(), bd.as_deref(),
            running.as_ref().map(|(m, v)| (m.as_slice(), v.as_slice())), a.eps, a.relu);
        (Tensor::from_vec_unchecked(o.y, &x.shape), o.mean, o.invstd, o.var)
    });
    if a.training {
        if let (Some(rm), Some(rv)) = (a.running_mean, a.running_var) {
            let (mo, m) = (a.momentum, s.count() as f64);
            let new_m: Vec<f64> = rm
                .to_f64_vec()
                .iter()
                .zip(&mean)
                .map(|(r, b)| (1.0 - mo) * r + mo * b)
                .collect();
            let new_v: Vec<f64> = rv
                .to_f64_vec()
                .iter()
                .zip(&var)
                .map(|(r, v)| (1.0 - mo) * r + mo * v * m / (m - 1.0))
                .collect();
            write_into(rm, &Tensor::from_vec(new_m, &rm.shape)?)?;
            write_into(rv, &Tensor::from_vec(new_v, &rv.shape)?)?;
        }
    }
    let inputs: Vec<&Tensor> = [Some(x), a.weight, a.bias].into_iter().flatten().collect();
    if !needs_grad(&inputs) {
        return Ok(y);
    }
    let (xs, relu, training) = (x.detach(), a.relu, batch_stats);
    let (has_w, has_b) = (a.weight.is_some(), a.bias.is_some());
    let (wshape, bshape) = (
        a.weight.map(|t| (t.shape.clone(), t.dtype)),
        a.bias.map(|t| (t.shape.clone(), t.dtype)),
    );
    let back = move |g: &Tensor| -> Result<Vec<Option<Tensor>>> {
        if is_grad_enabled() {
            return Err(Error::runtime(
                "batch_norm: double backward (create_graph=True through batch_norm) is not supported",
            ));
        }
        let (gx, gw, gb) = crate::with_float!(xs.dtype, "batch_norm_backward", T => {
            let (wd, bd) = (w.as_ref().map(|t| t.to_vec::<T>()), b.as_ref().map(|t| t.to_vec::<T>()));
            let (gx, gw, gb) = norm::batch_norm_backward(&g.data::<T>(), &xs.data::<T>(), s, wd.as_deref(), bd.as_deref(), &mean, &invstd, training, relu);
            (Tensor::from_vec_unchecked(gx, &xs.shape), Tensor::from_vec_unchecked(gw, &[s.c]), Tensor::from_vec_unchecked(gb, &[s.c]))
        });
        let mut out = vec![Some(gx)];
        if let (true, Some((shape, dt))) = (has_w, &wshape) {
            out.push(Some(super::unary::to_dtype(
                &super::shape::reshape(&gw, &super::shape_i64(shape))?,
                *dt,
            )?));
        }
        if let (true, Some((shape, dt))) = (has_b, &bshape) {
            out.push(Some(super::unary::to_dtype(
                &super::shape::reshape(&gb, &super::shape_i64(shape))?,
                *dt,
            )?));
        }
        Ok(out)
    };
    Ok(record(
        y,
        "NativeBatchNorm",
        &inputs,
        &inputs,
        Box::new(back),
    ))
}
