//! Sequence-model ops (issue 5): layer norm as one fused kernel each way
//! (`cpu/layernorm.rs`).

use crate::autograd::{is_grad_enabled, needs_grad, record};
use crate::cpu::{attention, layernorm};
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
            return Err(Error::runtime(format!(
                "layer_norm: {name} must be floating point, got {}",
                t.dtype.name()
            )));
        }
        super::same_device("layer_norm", x, t)?;
    }
    Ok(())
}

/// `F.layer_norm(x, normalized_shape, weight, bias, eps)`: normalises over the
/// trailing `normalized_shape` dims of `x`.
pub fn layer_norm(
    x: &Tensor,
    ns: &[usize],
    weight: Option<&Tensor>,
    bias: Option<&Tensor>,
    eps: f64,
) -> Result<Tensor> {
    if !x.dtype.is_float() {
        return Err(Error::runtime(format!(
            "layer_norm: expected a floating point input, got {}",
            x.dtype.name()
        )));
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
    let cast = |t: Option<&Tensor>| {
        t.map(|t| super::unary::to_dtype(&t.detach(), x.dtype))
            .transpose()
    };
    let (w, b) = (cast(weight)?, cast(bias)?);
    let (y, mean, rstd) = crate::with_float!(x.dtype, "layer_norm", T => {
        let (wd, bd) = (w.as_ref().map(|t| t.to_vec::<T>()), b.as_ref().map(|t| t.to_vec::<T>()));
        let o = layernorm::layer_norm(&x.data::<T>(), n, wd.as_deref(), bd.as_deref(), eps);
        let rows = [o.mean.len()];
        (Tensor::from_vec_unchecked(o.y, &x.shape), Tensor::from_vec_unchecked(o.mean, &rows), Tensor::from_vec_unchecked(o.rstd, &rows))
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
            let (gx, gw, gb) = layernorm::layer_norm_backward(&gd.data::<T>(), &xs.data::<T>(), n, wd.as_deref(), &mean.data::<T>(), &rstd.data::<T>());
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
    Ok(record(
        y,
        "NativeLayerNorm",
        &inputs,
        &inputs,
        Box::new(back),
    ))
}

/// Tiled (FlashAttention) `softmax(q kᵀ·scale + mask) v` on 3-D
/// `(BH, L, E)`, `(BH, S, E)`, `(BH, S, Ev)` input; `mask` is an additive
/// float `(1, L, S)` or `(BH, L, S)` tensor (no gradient flows to it).
/// Gradients for q, k and v; never materialises the `L×S` matrix.
pub fn flash_attention(
    q: &Tensor,
    k: &Tensor,
    v: &Tensor,
    mask: Option<&Tensor>,
    causal: bool,
    scale: f64,
) -> Result<Tensor> {
    let bad = || {
        Error::runtime(format!(
            "flash_attention: expected q (BH, L, E), k (BH, S, E), v (BH, S, Ev) with all sizes > 0, got {:?}, {:?}, {:?}",
            q.shape, k.shape, v.shape
        ))
    };
    if q.ndim() != 3 || k.ndim() != 3 || v.ndim() != 3 {
        return Err(bad());
    }
    let (bh, l, e, s, ev) = (q.shape[0], q.shape[1], q.shape[2], k.shape[1], v.shape[2]);
    if k.shape[0] != bh
        || v.shape[0] != bh
        || k.shape[2] != e
        || v.shape[1] != s
        || q.numel() == 0
        || k.numel() == 0
        || v.numel() == 0
    {
        return Err(bad());
    }
    if !q.dtype.is_float() || k.dtype != q.dtype || v.dtype != q.dtype {
        return Err(Error::runtime(format!(
            "flash_attention: q, k, v must share one floating dtype, got {}, {}, {}",
            q.dtype.name(),
            k.dtype.name(),
            v.dtype.name()
        )));
    }
    super::same_device("flash_attention", q, k)?;
    super::same_device("flash_attention", q, v)?;
    let mask = match mask {
        Some(m) => {
            if m.ndim() != 3
                || (m.shape[0] != 1 && m.shape[0] != bh)
                || m.shape[1] != l
                || m.shape[2] != s
            {
                return Err(Error::runtime(format!(
                    "flash_attention: mask must be (1 or {bh}, {l}, {s}), got {:?}",
                    m.shape
                )));
            }
            super::same_device("flash_attention", q, m)?;
            Some(super::unary::to_dtype(&m.detach(), q.dtype)?)
        }
        None => None,
    };
    let sh = attention::AttnShape {
        bh,
        l,
        s,
        e,
        ev,
        scale,
        causal,
    };
    let per_head = mask.as_ref().is_some_and(|m| m.shape[0] == bh && bh > 1);
    let (qs, ks, vs) = (q.detach(), k.detach(), v.detach());
    let (out, lse) = crate::with_float!(q.dtype, "flash_attention", T => {
        let md = mask.as_ref().map(|m| m.data::<T>());
        let mk = md.as_deref().map(|d| attention::Mask { data: d, per_head });
        let (o, lse) = attention::flash_forward(&qs.data::<T>(), &ks.data::<T>(), &vs.data::<T>(), mk, sh);
        (Tensor::from_vec_unchecked(o, &[bh, l, ev]), Tensor::from_vec_unchecked(lse, &[bh, l]))
    });
    if !needs_grad(&[q, k, v]) {
        return Ok(out);
    }
    let os = out.detach();
    let back = move |g: &Tensor| -> Result<Vec<Option<Tensor>>> {
        if is_grad_enabled() {
            return Err(Error::runtime(
                "flash_attention: double backward is not supported",
            ));
        }
        let g = super::unary::to_dtype(g, qs.dtype)?;
        let (dq, dk, dv) = crate::with_float!(qs.dtype, "flash_attention_backward", T => {
            let md = mask.as_ref().map(|m| m.data::<T>());
            let mk = md.as_deref().map(|d| attention::Mask { data: d, per_head });
            let (dq, dk, dv) = attention::flash_backward(&qs.data::<T>(), &ks.data::<T>(), &vs.data::<T>(), mk, sh,
                &os.data::<T>(), &lse.data::<T>(), &g.data::<T>());
            (Tensor::from_vec_unchecked(dq, &[bh, l, e]), Tensor::from_vec_unchecked(dk, &[bh, s, e]), Tensor::from_vec_unchecked(dv, &[bh, s, ev]))
        });
        Ok(vec![Some(dq), Some(dk), Some(dv)])
    };
    Ok(record(
        out,
        "FlashAttention",
        &[q, k, v],
        &[q, k, v],
        Box::new(back),
    ))
}
