//! Sequence-model ops (issue 5): layer norm as one fused kernel each way
//! (`cpu/layernorm.rs`).

use crate::autograd::{is_grad_enabled, needs_grad, record};
use crate::cpu::layernorm;
use crate::error::{Error, Result};
use crate::tensor::Tensor;

fn check_affine(name: &str, t: Option<&Tensor>, ns: &[usize], x: &Tensor) -> Result<()> {
    if let Some(t) = t {
        if t.shape != ns {
            return Err(Error::runtime(format!(
                "layer_norm: {name} of shape {:?} does not match normalized_shape {:?} (input shape {:?})",
                t.shape, ns, x.shape
            )));
        }
        if !t.dtype.is_float() {
            return Err(Error::runtime(format!("layer_norm: {name} must be floating point, got {}", t.dtype.name())));
        }
        super::same_device("layer_norm", x, t)?;
    }
    Ok(())
}

/// `F.layer_norm(x, normalized_shape, weight, bias, eps)`: normalises over the
/// trailing `normalized_shape` dims of `x`.
pub fn layer_norm(x: &Tensor, ns: &[usize], weight: Option<&Tensor>, bias: Option<&Tensor>, eps: f64) -> Result<Tensor> {
    if !x.dtype.is_float() {
        return Err(Error::runtime(format!("layer_norm: expected a floating point input, got {}", x.dtype.name())));
    }
    if ns.is_empty() || ns.len() > x.ndim() || x.shape[x.ndim() - ns.len()..] != *ns {
        return Err(Error::runtime(format!(
            "layer_norm: given normalized_shape={ns:?}, expected input with shape [*, {}], but got input of size {:?}",
            ns.iter().map(|d| d.to_string()).collect::<Vec<_>>().join(", "),
            x.shape
        )));
    }
    check_affine("weight", weight, ns, x)?;
    check_affine("bias", bias, ns, x)?;
    let n: usize = ns.iter().product();
    let cast = |t: Option<&Tensor>| t.map(|t| super::unary::to_dtype(&t.detach(), x.dtype)).transpose();
    let (w, b) = (cast(weight)?, cast(bias)?);
    let (y, mean, rstd) = crate::with_float!(x.dtype, "layer_norm", T => {
        let (wd, bd) = (w.as_ref().map(|t| t.to_vec::<T>()), b.as_ref().map(|t| t.to_vec::<T>()));
        let o = layernorm::layer_norm(&x.data::<T>(), n, wd.as_deref(), bd.as_deref(), eps);
        (Tensor::from_vec_unchecked(o.y, &x.shape), o.mean, o.rstd)
    });
    let inputs: Vec<&Tensor> = [Some(x), weight, bias].into_iter().flatten().collect();
    if !needs_grad(&inputs) {
        return Ok(y);
    }
    let xs = x.detach();
    let ns = ns.to_vec();
    let (wdt, bdt) = (weight.map(|t| t.dtype), bias.map(|t| t.dtype));
    let back = move |g: &Tensor| -> Result<Vec<Option<Tensor>>> {
        if is_grad_enabled() {
            return Err(Error::runtime(
                "layer_norm: double backward (create_graph=True through layer_norm) is not supported",
            ));
        }
        let (gx, gw, gb) = crate::with_float!(xs.dtype, "layer_norm_backward", T => {
            let wd = w.as_ref().map(|t| t.to_vec::<T>());
            let gd = super::unary::to_dtype(g, xs.dtype)?;
            let (gx, gw, gb) = layernorm::layer_norm_backward(&gd.data::<T>(), &xs.data::<T>(), n, wd.as_deref(), &mean, &rstd);
            (Tensor::from_vec_unchecked(gx, &xs.shape), Tensor::from_vec_unchecked(gw, &ns), Tensor::from_vec_unchecked(gb, &ns))
        });
        let mut out = vec![Some(gx)];
        if let Some(dt) = wdt {
            out.push(Some(super::unary::to_dtype(&gw, dt)?));
        }
        if let Some(dt) = bdt {
            out.push(Some(super::unary::to_dtype(&gb, dt)?));
        }
        Ok(out)
    };
    Ok(record(y, "NativeLayerNorm", &inputs, &inputs, Box::new(back)))
}
