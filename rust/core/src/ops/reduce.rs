//! Reductions over one or more dims, and the softmax family.
//! Strategy: move the reduced dims last, make that contiguous (a copy only
//! when the input is not already laid out so), then reduce contiguous rows.

use super::{binary, shape, unary};
use crate::autograd::{needs_grad, record};
use crate::cpu::reduce::{arg_extreme, reduce_rows, softmax_rows, sum_f64, sum_leading};
use crate::error::{Error, Result};
use crate::tensor::{numel, wrap_dim, DType, Tensor};


/// Reduced dims as a sorted, de-duplicated mask (None = all dims).
fn dim_mask(x: &Tensor, dims: Option<&[i64]>, op: &str) -> Result<Vec<bool>> {
    let nd = x.ndim();
    let mut mask = vec![dims.is_none() || dims.is_some_and(|d| d.is_empty()); nd];
    if let Some(ds) = dims {
        for &d in ds {
            if nd == 0 {
                // a 0-d tensor reduces over "dim 0/-1" to itself, as in torch
                wrap_dim(d, nd, op)?;
                continue;
            }
            let d = wrap_dim(d, nd, op)?;
            if std::mem::replace(&mut mask[d], true) && ds.len() > 1 {
                return Err(Error::runtime(format!("{op}: dim {d} appears multiple times in the list of dims")));
            }
        }
    }
    Ok(mask)
}

/// (rows × len contiguous tensor, out shape with keepdim, out shape without).
fn to_rows(x: &Tensor, mask: &[bool]) -> Result<(Tensor, usize, Vec<usize>, Vec<usize>)> {
    let nd = x.ndim();
    let kept: Vec<usize> = (0..nd).filter(|&i| !mask[i]).collect();
    let red: Vec<usize> = (0..nd).filter(|&i| mask[i]).collect();
    let perm: Vec<i64> = kept.iter().chain(&red).map(|&i| i as i64).collect();
    let moved = shape::contiguous(&shape::permute(&x.detach(), &perm)?)?;
    let len = numel(&red.iter().map(|&i| x.shape[i]).collect::<Vec<_>>());
    let keep_shape = (0..nd).map(|i| if mask[i] { 1 } else { x.shape[i] }).collect();
    let out_shape = kept.iter().map(|&i| x.shape[i]).collect();
    Ok((moved, len, keep_shape, out_shape))
}

fn finish(out: Tensor, keepdim: bool, keep_shape: &[usize], out_shape: &[usize]) -> Tensor {
    let shape = if keepdim { keep_shape } else { out_shape };
    out.alias(shape.to_vec(), crate::tensor::contiguous_strides(shape), 0)
}

/// Broadcasts a reduced gradient back over the reduced dims.
fn expand_back(g: &Tensor, keep_shape: &[usize], in_shape: &[usize]) -> Result<Tensor> {
    let g = shape::reshape(g, &super::shape_i64(keep_shape))?;
    shape::expand(&g, &super::shape_i64(in_shape))
}

fn reduce_float(x: &Tensor, mask: &[bool], keepdim: bool, op: &str, f: impl Fn(&[f64]) -> f64 + Sync + Send) -> Result<(Tensor, Vec<usize>)> {
    let (rows_t, len, keep_shape, out_shape) = to_rows(x, mask)?;
    let rows = numel(&out_shape);
    let out = crate::with_float!(x.dtype, op, T => {
        let data = rows_t.data::<T>();
        let v: Vec<T> = reduce_rows(&data, rows, len, |r: &[T]| {
            let tmp: Vec<f64> = r.iter().map(|v| v.to_f64()).collect();
            T::from_f64(f(&tmp))
        });
        Tensor::from_vec_unchecked(v, &out_shape)
    });
    Ok((finish(out, keepdim, &keep_shape, &out_shape), keep_shape))
}

pub fn sum(x: &Tensor, dims: Option<&[i64]>, keepdim: bool, dtype: Option<DType>) -> Result<Tensor> {
    let x = match dtype {
        Some(d) => &unary::to_dtype(x, d)?,
        None if !x.dtype.is_float() => &unary::to_dtype(x, DType::I64)?,
        None => x,
    };
    let mask = dim_mask(x, dims, "sum")?;
    let lead = mask.iter().take_while(|&&m| m).count();
    let (out, keep_shape) = if x.dtype.is_float() && x.is_contiguous() && lead > 0 && mask[lead..].iter().all(|&m| !m) && lead < x.ndim() {
        // reduced dims lead (a bias gradient): column sums, no transpose
        let n = numel(&x.shape[..lead]);
        let out_shape = x.shape[lead..].to_vec();
        let cols = numel(&out_shape);
        let keep_shape: Vec<usize> = (0..x.ndim()).map(|i| if mask[i] { 1 } else { x.shape[i] }).collect();
        let out = crate::with_float!(x.dtype, "sum", T => Tensor::from_vec_unchecked(sum_leading(&x.data::<T>(), n, cols), &out_shape));
        (finish(out, keepdim, &keep_shape, &out_shape), keep_shape)
    } else {
        sum_rows(x, &mask, keepdim)?
    };
    if !needs_grad(&[x]) || !x.dtype.is_float() {
        return Ok(out);
    }
    let in_shape = x.shape.clone();
    let back = move |g: &Tensor| -> Result<Vec<Option<Tensor>>> { Ok(vec![Some(expand_back(g, &keep_shape, &in_shape)?)]) };
    Ok(record(out, "Sum", &[x], &[], Box::new(back)))
}

/// Sum over any dims: move them last (one strided gather), then row sums.
fn sum_rows(x: &Tensor, mask: &[bool], keepdim: bool) -> Result<(Tensor, Vec<usize>)> {
    let (rows_t, len, keep_shape, out_shape) = to_rows(x, mask)?;
    let rows = numel(&out_shape);
    let out = match x.dtype {
        DType::F32 => Tensor::from_vec_unchecked(
            reduce_rows(&rows_t.data::<f32>(), rows, len, |r| sum_f64(r) as f32),
            &out_shape,
        ),
        DType::F64 => Tensor::from_vec_unchecked(reduce_rows(&rows_t.data::<f64>(), rows, len, sum_f64), &out_shape),
        _ => Tensor::from_vec_unchecked(
            reduce_rows(&rows_t.data::<i64>(), rows, len, |r| r.iter().fold(0i64, |a, &b| a.wrapping_add(b))),
            &out_shape,
        ),
    };
    Ok((finish(out, keepdim, &keep_shape, &out_shape), keep_shape))
}

fn reduced_count(x: &Tensor, mask: &[bool]) -> usize {
    (0..x.ndim()).filter(|&i| mask[i]).map(|i| x.shape[i]).product()
}

pub fn mean(x: &Tensor, dims: Option<&[i64]>, keepdim: bool) -> Result<Tensor> {
    if !x.dtype.is_float() {
        return Err(Error::runtime(format!(
            "mean(): could not infer output dtype. Input dtype must be either a floating point or complex dtype. Got: {}",
            x.dtype.name()
        )));
    }
    let mask = dim_mask(x, dims, "mean")?;
    let n = reduced_count(x, &mask);
    let s = sum(x, dims, keepdim, None)?;
    binary::div(&s, &Tensor::scalar(n as f64, x.dtype))
}

/// Variance with Bessel-style `correction` (torch's default 1).
pub fn var(x: &Tensor, dims: Option<&[i64]>, correction: f64, keepdim: bool) -> Result<Tensor> {
    if !x.dtype.is_float() {
        return Err(Error::runtime(format!("var: expected a floating point tensor, got {}", x.dtype.name())));
    }
    let mask = dim_mask(x, dims, "var")?;
    let n = reduced_count(x, &mask) as f64;
    let m = mean(x, dims, true)?;
    let d = binary::sub(x, &m)?;
    let ss = sum(&binary::mul(&d, &d)?, dims, keepdim, None)?;
    binary::div(&ss, &Tensor::scalar((n - correction).max(0.0), x.dtype))
}

pub fn std(x: &Tensor, dims: Option<&[i64]>, correction: f64, keepdim: bool) -> Result<Tensor> {
    let v = var(x, dims, correction, keepdim)?;
    let out = unary::unary(unary::UnaryOp::Sqrt, &v.detach())?;
    if !needs_grad(&[&v]) {
        return Ok(out);
    }
    let y = out.detach();
    // d sqrt(v) = g / (2 sqrt v), defined as 0 where the std is 0 (torch's choice)
    let back = move |g: &Tensor| -> Result<Vec<Option<Tensor>>> {
        let two_y = binary::mul(&y, &Tensor::scalar(2.0, y.dtype))?;
        let zero = binary::compare(binary::CmpOp::Eq, &y, &Tensor::scalar(0.0, y.dtype))?;
        let safe = binary::where_(&zero, &Tensor::scalar(1.0, y.dtype), &two_y)?;
        let gv = binary::div(g, &safe)?;
        Ok(vec![Some(binary::where_(&zero, &Tensor::scalar(0.0, g.dtype), &gv)?)])
    };
    let saved_out = out.detach();
    Ok(record(out, "Std", &[&v], &[&saved_out], Box::new(back)))
}

pub fn prod(x: &Tensor, dim: Option<i64>, keepdim: bool) -> Result<Tensor> {
    let x = if x.dtype == DType::Bool { &unary::to_dtype(x, DType::I64)? } else { x };
    let dims = dim.map(|d| vec![d]);
    let mask = dim_mask(x, dims.as_deref(), "prod")?;
    let (rows_t, len, keep_shape, out_shape) = to_rows(x, &mask)?;
    let rows = numel(&out_shape);
    let out = crate::with_dtype!(x.dtype, T => {
        let data = rows_t.data::<T>();
        let v: Vec<T> = reduce_rows(&data, rows, len, |r: &[T]| {
            T::from_f64(r.iter().fold(1.0f64, |a, &b| a * b.to_f64()))
        });
        Tensor::from_vec_unchecked(v, &out_shape)
    });
    let out = finish(out, keepdim, &keep_shape, &out_shape);
    if !needs_grad(&[x]) {
        return Ok(out);
    }
    let xs = x.clone();
    let m = mask.clone();
    let back = move |g: &Tensor| -> Result<Vec<Option<Tensor>>> {
        // d prod / d x_i = product of the others (prefix × suffix: exact with zeros)
        let (rows_t, len, _, out_shape) = to_rows(&xs, &m)?;
        let rows = numel(&out_shape);
        let nd = xs.ndim();
        let kept: Vec<usize> = (0..nd).filter(|&i| !m[i]).collect();
        let red: Vec<usize> = (0..nd).filter(|&i| m[i]).collect();
        let order: Vec<usize> = kept.iter().chain(&red).copied().collect();
        let moved_shape: Vec<usize> = order.iter().map(|&i| xs.shape[i]).collect();
        let t = crate::with_float!(xs.dtype, "prod", T => {
            let data = rows_t.data::<T>();
            let mut v = vec![T::zero(); rows * len];
            for (r, o) in data.chunks_exact(len.max(1)).zip(v.chunks_exact_mut(len.max(1))) {
                let mut acc = T::one();
                for i in 0..len { o[i] = acc; acc = acc * r[i]; }
                acc = T::one();
                for i in (0..len).rev() { o[i] = o[i] * acc; acc = acc * r[i]; }
            }
            Tensor::from_vec_unchecked(v, &moved_shape)
        });
        // `t` is in (kept…, reduced…) order: put it back in x's order
        let mut inv = vec![0i64; nd];
        for (i, &p) in order.iter().enumerate() {
            inv[p] = i as i64;
        }
        let t = shape::permute(&t, &inv)?;
        Ok(vec![Some(binary::mul(&expand_back(g, &keep_shape, &xs.shape)?, &t)?)])
    };
    Ok(record(out, "Prod", &[x], &[x], Box::new(back)))
}

/// max/min along `dim`: (values, int64 indices).
pub fn max_min_dim(x: &Tensor, dim: i64, keepdim: bool, max: bool) -> Result<(Tensor, Tensor)> {
    let op = if max { "max" } else { "min" };
    let d = wrap_dim(dim, x.ndim(), op)?;
    if x.ndim() > 0 && x.shape[d] == 0 {
        return Err(Error::index(format!(
            "{op}(): Expected reduction dim {d} to have non-zero size (input shape {:?})",
            x.shape
        )));
    }
    let mut mask = vec![false; x.ndim()];
    if x.ndim() > 0 {
        mask[d] = true;
    }
    let (rows_t, len, keep_shape, out_shape) = to_rows(x, &mask)?;
    let rows = numel(&out_shape);
    let (vals, idx) = crate::with_dtype!(x.dtype, T => {
        let data = rows_t.data::<T>();
        let pairs: Vec<(T, usize)> = reduce_rows(&data, rows, len, |r: &[T]| arg_extreme(r, max));
        (
            Tensor::from_vec_unchecked(pairs.iter().map(|p| p.0).collect::<Vec<T>>(), &out_shape),
            Tensor::from_vec_unchecked(pairs.iter().map(|p| p.1 as i64).collect::<Vec<i64>>(), &out_shape),
        )
    });
    let vals = finish(vals, keepdim, &keep_shape, &out_shape);
    let idx = finish(idx, keepdim, &keep_shape, &out_shape);
    if !needs_grad(&[x]) {
        return Ok((vals, idx));
    }
    let (in_shape, dt) = (x.shape.clone(), x.dtype);
    let (ks, ix) = (keep_shape.clone(), idx.clone());
    let back = move |g: &Tensor| -> Result<Vec<Option<Tensor>>> {
        let g = shape::reshape(g, &super::shape_i64(&ks))?;
        let i = shape::reshape(&ix, &super::shape_i64(&ks))?;
        let z = Tensor::zeros(&in_shape, dt);
        Ok(vec![Some(super::index::scatter(&z, d as i64, &i, &g)?)])
    };
    let name = if max { "Max" } else { "Min" };
    Ok((record(vals, name, &[x], &[], Box::new(back)), idx))
}

/// amax/amin over `dims` (None = all); the gradient is shared evenly by
/// ties, as torch does. `max()`/`min()` without a dim are this over all dims.
pub fn amax_amin(x: &Tensor, dims: Option<&[i64]>, keepdim: bool, max: bool) -> Result<Tensor> {
    let op = if max { "amax" } else { "amin" };
    let mask = dim_mask(x, dims, op)?;
    if (0..x.ndim()).any(|i| mask[i] && x.shape[i] == 0) || (dims.is_none() && x.numel() == 0) {
        return Err(Error::runtime(format!(
            "{op}(): Expected reduction dim to have non-zero size (input shape {:?}); specify a non-empty dim",
            x.shape
        )));
    }
    let (rows_t, len, keep_shape, out_shape) = to_rows(x, &mask)?;
    let rows = numel(&out_shape);
    let out = crate::with_dtype!(x.dtype, T => {
        let data = rows_t.data::<T>();
        let v: Vec<T> = reduce_rows(&data, rows, len, |r: &[T]| arg_extreme(r, max).0);
        Tensor::from_vec_unchecked(v, &out_shape)
    });
    let out = finish(out, keepdim, &keep_shape, &out_shape);
    if !needs_grad(&[x]) {
        return Ok(out);
    }
    let xs = x.clone();
    let vv = out.detach();
    let dims_v: Vec<i64> = (0..x.ndim()).filter(|&i| mask[i]).map(|i| i as i64).collect();
    let back = move |g: &Tensor| -> Result<Vec<Option<Tensor>>> {
        let v = expand_back(&vv, &keep_shape, &xs.shape)?;
        let hit = unary::to_dtype(&binary::compare(binary::CmpOp::Eq, &xs.detach(), &v)?, g.dtype)?;
        let count = sum(&hit, Some(&dims_v), true, None)?;
        let share = binary::div(&shape::reshape(g, &super::shape_i64(&keep_shape))?, &count)?;
        Ok(vec![Some(binary::mul(&hit, &share)?)])
    };
    let saved_out = out.detach();
    Ok(record(out, if max { "Amax" } else { "Amin" }, &[x], &[x, &saved_out], Box::new(back)))
}

pub fn max_min_all(x: &Tensor, max: bool) -> Result<Tensor> {
    amax_amin(x, None, false, max)
}

pub fn argmax_argmin(x: &Tensor, dim: Option<i64>, keepdim: bool, max: bool) -> Result<Tensor> {
    let x = x.detach();
    let name = if max { "argmax" } else { "argmin" };
    match dim {
        // same checks as max(dim), reported under this op's name
        Some(d) => Ok(max_min_dim(&x, d, keepdim, max)
            .map_err(|e| Error { kind: e.kind, msg: e.msg.replacen(if max { "max" } else { "min" }, name, 1) })?
            .1),
        None => {
            if x.numel() == 0 {
                return Err(Error::runtime(format!(
                    "{}(): Expected reduction dim to be specified for input.numel() == 0.",
                    if max { "argmax" } else { "argmin" }
                )));
            }
            let i = max_min_dim(&shape::reshape(&x, &[-1])?, 0, false, max)?.1;
            if keepdim {
                shape::reshape(&i, &vec![1; x.ndim()])
            } else {
                Ok(i)
            }
        }
    }
}

pub fn logsumexp(x: &Tensor, dims: &[i64], keepdim: bool) -> Result<Tensor> {
    let x = if !x.dtype.is_float() { &unary::to_dtype(x, DType::F32)? } else { x };
    let mask = dim_mask(x, Some(dims), "logsumexp")?;
    let (out, keep_shape) = reduce_float(x, &mask, keepdim, "logsumexp", |r| {
        let m = r.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
        if m.is_infinite() {
            return m; // all -inf, or an +inf that dominates
        }
        m + r.iter().map(|v| (v - m).exp()).sum::<f64>().ln()
    })?;
    if !needs_grad(&[x]) {
        return Ok(out);
    }
    let xs = x.clone();
    let o = out.detach();
    let back = move |g: &Tensor| -> Result<Vec<Option<Tensor>>> {
        let o = shape::reshape(&o, &super::shape_i64(&keep_shape))?;
        let p = unary::exp(&binary::sub(&xs, &o)?)?;
        Ok(vec![Some(binary::mul(&expand_back(g, &keep_shape, &xs.shape)?, &p)?)])
    };
    let saved_out = out.detach();
    Ok(record(out, "Logsumexp", &[x], &[x, &saved_out], Box::new(back)))
}

/// softmax / log_softmax along `dim`.
pub fn softmax(x: &Tensor, dim: i64, log: bool) -> Result<Tensor> {
    let x = if !x.dtype.is_float() { &unary::to_dtype(x, DType::F32)? } else { x };
    if x.ndim() == 0 {
        let v = if log { 0.0 } else { 1.0 };
        let out = Tensor::scalar(v, x.dtype);
        return Ok(out);
    }
    let d = wrap_dim(dim, x.ndim(), if log { "log_softmax" } else { "softmax" })?;
    let last = x.ndim() as i64 - 1;
    let moved = shape::contiguous(&shape::transpose(&x.detach(), d as i64, last)?)?;
    let len = x.shape[d];
    let rows = if len == 0 { 0 } else { moved.numel() / len };
    let y = crate::with_float!(x.dtype, "softmax", T => {
        Tensor::from_vec_unchecked(softmax_rows(&moved.data::<T>(), rows, len, log), &moved.shape)
    });
    let out = shape::contiguous(&shape::transpose(&y, d as i64, last)?)?;
    if !needs_grad(&[x]) {
        return Ok(out);
    }
    let y = out.detach();
    let back = move |g: &Tensor| -> Result<Vec<Option<Tensor>>> {
        let dd = [d as i64];
        let gx = if log {
            // g − softmax · Σg
            let s = sum(g, Some(&dd), true, None)?;
            binary::sub(g, &binary::mul(&unary::exp(&y)?, &s)?)?
        } else {
            // y · (g − Σ(g·y))
            let s = sum(&binary::mul(g, &y)?, Some(&dd), true, None)?;
            binary::mul(&y, &binary::sub(g, &s)?)?
        };
        Ok(vec![Some(gx)])
    };
    let saved_out = out.detach();
    Ok(record(out, if log { "LogSoftmax" } else { "Softmax" }, &[x], &[&saved_out], Box::new(back)))
}


/// The `k` largest (or smallest) entries along `dim` with their indices;
/// `sort` is this with k = the dim's size. Ties keep their original order
/// (stable); NaN counts as larger than every number, as in torch.
pub fn topk(x: &Tensor, k: usize, dim: i64, largest: bool) -> Result<(Tensor, Tensor)> {
    let nd = x.ndim();
    let d = wrap_dim(dim, nd, "topk")?;
    let size = if nd == 0 { 1 } else { x.shape[d] };
    if k > size {
        return Err(Error::runtime(format!(
            "topk: k ({k}) is larger than the size ({size}) of dimension {d} of shape {:?}",
            x.shape
        )));
    }
    let last = nd.max(1) as i64 - 1;
    let xs = if nd == 0 { shape::reshape(&x.detach(), &[1])? } else { x.detach() };
    let moved = shape::contiguous(&shape::transpose(&xs, d as i64, last)?)?;
    let rows = if size == 0 { 0 } else { moved.numel() / size };
    let mut out_shape = moved.shape.clone();
    if let Some(l) = out_shape.last_mut() {
        *l = k;
    }
    let (vals, idx) = crate::with_dtype!(x.dtype, T => {
        let data = moved.data::<T>();
        let mut vals: Vec<T> = Vec::with_capacity(rows * k);
        let mut idx: Vec<i64> = Vec::with_capacity(rows * k);
        for r in 0..rows {
            let row = &data[r * size..(r + 1) * size];
            let mut order: Vec<usize> = (0..size).collect();
            let key = |i: usize| {
                let f = row[i].to_f64();
                if f.is_nan() { f64::INFINITY } else { f }
            };
            order.sort_by(|&a, &b| {
                let (ka, kb) = (key(a), key(b));
                let o = ka.partial_cmp(&kb).unwrap_or(std::cmp::Ordering::Equal);
                if largest { o.reverse() } else { o }
            });
            for &i in &order[..k] {
                vals.push(row[i]);
                idx.push(i as i64);
            }
        }
        (Tensor::from_vec_unchecked(vals, &out_shape), Tensor::from_vec_unchecked(idx, &out_shape))
    });
    let back_to = |t: Tensor| -> Result<Tensor> {
        let t = shape::contiguous(&shape::transpose(&t, d as i64, last)?)?;
        if nd == 0 { shape::reshape(&t, &[]) } else { Ok(t) }
    };
    let (vals, idx) = (back_to(vals)?, back_to(idx)?);
    if !needs_grad(&[x]) {
        return Ok((vals, idx));
    }
    let (in_shape, dt, ix) = (x.shape.clone(), x.dtype, idx.clone());
    let back = move |g: &Tensor| -> Result<Vec<Option<Tensor>>> {
        let z = Tensor::zeros(&in_shape, dt);
        Ok(vec![Some(super::index::scatter(&z, d as i64, &ix, g)?)])
    };
    Ok((record(vals, "Topk", &[x], &[], Box::new(back)), idx))
}
