//! Indexing by tensors: index_select, gather, scatter(_add), nonzero and
//! NumPy-style advanced indexing built from them.

use super::{shape, shape_i64, unary};
use crate::autograd::{needs_grad, record};
use crate::error::{Error, Result};
use crate::tensor::{broadcast_shapes, contiguous_strides, for_each_offset2, numel, wrap_dim, DType, Tensor};

fn check_index_dtype(idx: &Tensor, op: &str) -> Result<()> {
    if idx.dtype != DType::I64 {
        return Err(Error::runtime(format!(
            "{op}(): Expected dtype int64 for index, got {}",
            idx.dtype.name()
        )));
    }
    Ok(())
}

/// Index values wrapped into [0, size), or an error naming the op: an
/// IndexError for index_select and indexing, a RuntimeError for
/// gather/scatter (the exception torch raises for each).
fn wrapped_indices(idx: &Tensor, size: usize, dim: usize, op: &str) -> Result<Vec<usize>> {
    let make = if op.starts_with("gather") || op.starts_with("scatter") { Error::runtime } else { Error::index };
    idx.data::<i64>()
        .iter()
        .map(|&i| {
            let j = if i < 0 { i + size as i64 } else { i };
            if j < 0 || j >= size as i64 {
                Err(make(format!("{op}(): index {i} is out of bounds for dimension {dim} with size {size}")))
            } else {
                Ok(j as usize)
            }
        })
        .collect()
}

fn outer_inner(shape: &[usize], d: usize) -> (usize, usize) {
    (numel(&shape[..d]), numel(&shape[d + 1..]))
}

pub fn index_select(x: &Tensor, dim: i64, idx: &Tensor) -> Result<Tensor> {
    check_index_dtype(idx, "index_select")?;
    if idx.ndim() > 1 {
        return Err(Error::index(format!("index_select(): Index is supposed to be a vector, got shape {:?}", idx.shape)));
    }
    let nd = x.ndim().max(1);
    let d = wrap_dim(dim, nd, "index_select")?;
    let xs = if x.ndim() == 0 { shape::reshape(&x.detach(), &[1])? } else { x.detach() };
    let size = xs.shape[d];
    let ids = wrapped_indices(idx, size, d, "index_select")?;
    let (outer, inner) = outer_inner(&xs.shape, d);
    let mut out_shape = xs.shape.clone();
    out_shape[d] = ids.len();
    let out = crate::with_dtype!(x.dtype, T => {
        let src = xs.data::<T>();
        let mut v: Vec<T> = Vec::with_capacity(numel(&out_shape));
        for o in 0..outer {
            for &j in &ids {
                let s = (o * size + j) * inner;
                v.extend_from_slice(&src[s..s + inner]);
            }
        }
        Tensor::from_vec_unchecked(v, &out_shape)
    });
    let out = if x.ndim() == 0 { shape::reshape(&out, &[])? } else { out };
    if !needs_grad(&[x]) {
        return Ok(out);
    }
    let (in_shape, dt, idx) = (x.shape.clone(), x.dtype, idx.clone());
    let back = move |g: &Tensor| -> Result<Vec<Option<Tensor>>> {
        Ok(vec![Some(index_add(&Tensor::zeros(&in_shape, dt), d as i64, &idx, g)?)])
    };
    Ok(record(out, "IndexSelect", &[x], &[], Box::new(back)))
}

/// base with `src` slices added at `idx` along `dim` (a fresh tensor).
pub fn index_add(base: &Tensor, dim: i64, idx: &Tensor, src: &Tensor) -> Result<Tensor> {
    check_index_dtype(idx, "index_add")?;
    let reshaped = base.ndim() == 0;
    let b = if reshaped { shape::reshape(base, &[1])? } else { base.detach() };
    let s = if src.ndim() == 0 { shape::reshape(src, &[1])? } else { src.detach() };
    let d = wrap_dim(dim, b.ndim(), "index_add")?;
    let ids = wrapped_indices(idx, b.shape[d], d, "index_add")?;
    let mut want = b.shape.clone();
    want[d] = ids.len();
    if s.shape != want {
        return Err(Error::runtime(format!("index_add(): source shape {:?} does not match expected {want:?}", s.shape)));
    }
    let (outer, inner) = outer_inner(&b.shape, d);
    let size = b.shape[d];
    let out = crate::with_float!(b.dtype, "index_add", T => {
        let mut v = b.to_vec::<T>();
        let sv = unary::to_dtype(&s, b.dtype)?.to_vec::<T>();
        for o in 0..outer {
            for (jj, &j) in ids.iter().enumerate() {
                let dst = (o * size + j) * inner;
                let from = (o * ids.len() + jj) * inner;
                for k in 0..inner {
                    v[dst + k] = v[dst + k] + sv[from + k];
                }
            }
        }
        Tensor::from_vec_unchecked(v, &b.shape)
    });
    if reshaped { shape::reshape(&out, &[]) } else { Ok(out) }
}

/// Offsets into `x` for every position of `idx` along `dim` (row-major over idx).
fn scatter_offsets(x_shape: &[usize], x_strides: &[usize], d: usize, idx: &Tensor, op: &str) -> Result<Vec<usize>> {
    check_index_dtype(idx, op)?;
    if idx.ndim() != x_shape.len() {
        return Err(Error::runtime(format!(
            "{op}(): Index tensor must have the same number of dimensions as input tensor ({} vs {})",
            idx.ndim(),
            x_shape.len()
        )));
    }
    for k in 0..idx.ndim() {
        if k != d && idx.shape[k] > x_shape[k] {
            return Err(Error::runtime(format!(
                "{op}(): Size does not match at dimension {k} expected index {:?} to be no larger than self {x_shape:?} apart from dimension {d}",
                idx.shape
            )));
        }
    }
    let ids = wrapped_indices(idx, x_shape[d], d, op)?;
    let mut strides = x_shape.iter().map(|_| 0).collect::<Vec<usize>>();
    strides.copy_from_slice(x_strides);
    strides[d] = 0;
    let mut offs = Vec::with_capacity(ids.len());
    let zero = vec![0usize; idx.ndim()];
    for_each_offset2(&idx.shape, &strides, 0, &zero, 0, |o, _| offs.push(o));
    Ok(offs.into_iter().zip(ids).map(|(o, j)| o + j * x_strides[d]).collect())
}

pub fn gather(x: &Tensor, dim: i64, idx: &Tensor) -> Result<Tensor> {
    if x.ndim() == 0 && idx.ndim() == 0 {
        // torch treats 0-d as 1-element along "dim 0"
        let r = gather(&shape::reshape(x, &[1])?, dim, &shape::reshape(idx, &[1])?)?;
        return shape::reshape(&r, &[]);
    }
    let d = wrap_dim(dim, x.ndim().max(1), "gather")?;
    let xs = if x.ndim() == 0 { shape::reshape(&x.detach(), &[1])? } else { x.detach() };
    let offs = scatter_offsets(&xs.shape, &xs.strides, d, idx, "gather")?;
    let out = crate::with_dtype!(x.dtype, T => {
        let buf = xs.storage.cpu().slice::<T>();
        let v: Vec<T> = offs.iter().map(|&o| buf[xs.offset + o]).collect();
        Tensor::from_vec_unchecked(v, &idx.shape)
    });
    if !needs_grad(&[x]) {
        return Ok(out);
    }
    let (in_shape, dt, idx) = (x.shape.clone(), x.dtype, idx.clone());
    let back = move |g: &Tensor| -> Result<Vec<Option<Tensor>>> {
        Ok(vec![Some(scatter_impl(&Tensor::zeros(&in_shape, dt), d as i64, &idx, g, true)?)])
    };
    Ok(record(out, "Gather", &[x], &[], Box::new(back)))
}

fn scatter_impl(x: &Tensor, dim: i64, idx: &Tensor, src: &Tensor, accumulate: bool) -> Result<Tensor> {
    let op = if accumulate { "scatter_add" } else { "scatter" };
    if x.ndim() == 0 {
        let one = |t: &Tensor| if t.ndim() == 0 { shape::reshape(&t.detach(), &[1]) } else { Ok(t.detach()) };
        let r = scatter_impl(&one(x)?, dim, &one(idx)?, &one(src)?, accumulate)?;
        return shape::reshape(&r, &[]);
    }
    let d = wrap_dim(dim, x.ndim().max(1), op)?;
    let shape = x.shape.clone();
    let strides = contiguous_strides(&shape);
    let offs = scatter_offsets(&shape, &strides, d, idx, op)?;
    let src_vals = if src.ndim() == 0 && idx.ndim() > 0 {
        shape::expand(&src.detach(), &shape_i64(&idx.shape))?
    } else {
        if src.ndim() != idx.ndim() || src.shape.iter().zip(&idx.shape).any(|(s, i)| s < i) {
            return Err(Error::runtime(format!(
                "{op}(): Expected index {:?} to be no larger than src {:?}",
                idx.shape, src.shape
            )));
        }
        let mut v = src.detach();
        for k in 0..idx.ndim() {
            v = shape::slice(&v, k as i64, 0, idx.shape[k], 1)?;
        }
        v
    };
    crate::with_dtype!(x.dtype, T => {
        let mut out = x.to_vec::<T>();
        let s = unary::to_dtype(&src_vals, x.dtype)?;
        let sv = s.data::<T>();
        for (&o, &v) in offs.iter().zip(sv.iter()) {
            out[o] = if accumulate { T::from_f64(out[o].to_f64() + v.to_f64()) } else { v };
        }
        Ok(Tensor::from_vec_unchecked(out, &shape))
    })
}

fn scatter_op(x: &Tensor, dim: i64, idx: &Tensor, src: &Tensor, accumulate: bool) -> Result<Tensor> {
    let out = scatter_impl(x, dim, idx, src, accumulate)?;
    if !needs_grad(&[x, src]) {
        return Ok(out);
    }
    let (idx, src_shape, sdt) = (idx.clone(), src.shape.clone(), src.dtype);
    let (rx, rs) = (x.requires_grad(), src.requires_grad());
    let back = move |g: &Tensor| -> Result<Vec<Option<Tensor>>> {
        let gx = if !rx {
            None
        } else if accumulate {
            Some(g.clone())
        } else {
            Some(scatter_impl(g, dim, &idx, &Tensor::scalar(0.0, g.dtype), false)?)
        };
        let gs = if rs {
            let got = gather(g, dim, &idx)?;
            let z = Tensor::zeros(&src_shape, sdt);
            let view = z.alias(got.shape.clone(), z.strides.clone(), 0);
            super::inplace::write_into(&view, &got)?;
            Some(z)
        } else {
            None
        };
        Ok(vec![gx, gs])
    };
    Ok(record(out, if accumulate { "ScatterAdd" } else { "Scatter" }, &[x, src], &[], Box::new(back)))
}

/// Out-of-place `scatter`: a copy of `x` with `src` written at `idx` along `dim`.
pub fn scatter(x: &Tensor, dim: i64, idx: &Tensor, src: &Tensor) -> Result<Tensor> {
    scatter_op(x, dim, idx, src, false)
}
pub fn scatter_add(x: &Tensor, dim: i64, idx: &Tensor, src: &Tensor) -> Result<Tensor> {
    scatter_op(x, dim, idx, src, true)
}

/// (n, ndim) int64 coordinates of the non-zero elements, row-major order.
pub fn nonzero(x: &Tensor) -> Result<Tensor> {
    let nd = x.ndim();
    let vals = x.to_f64_vec();
    let strides = contiguous_strides(&x.shape);
    let mut coords = Vec::new();
    let mut n = 0;
    for (lin, v) in vals.iter().enumerate() {
        if *v != 0.0 {
            n += 1;
            for k in 0..nd {
                coords.push(((lin / strides[k]) % x.shape[k]) as i64);
            }
        }
    }
    Ok(Tensor::from_vec_unchecked(coords, &[n, nd]))
}

/// Out-of-place `index_put`: a copy of `x` with `values` (broadcast to the
/// indexed shape) written — or with `accumulate`, added — at `x[indices]`.
/// Differentiable in both `x` and `values`.
pub fn index_put(x: &Tensor, indices: &[Option<Tensor>], values: &Tensor, accumulate: bool) -> Result<Tensor> {
    // flat row-major positions of the selected elements, via the same
    // indexing rules as reading
    let pos = shape::reshape(&super::arange(0.0, x.numel() as f64, 1.0, DType::I64)?, &shape_i64(&x.shape))?;
    let sel = index_tensors(&pos, indices)?;
    let vals = shape::expand(&unary::to_dtype(&values.detach(), x.dtype)?, &shape_i64(&sel.shape)).map_err(|_| {
        Error::runtime(format!(
            "index_put: shape mismatch: value tensor of shape {:?} cannot be broadcast to indexing result of shape {:?}",
            values.shape, sel.shape
        ))
    })?;
    let p = sel.to_vec::<i64>();
    let out = crate::with_dtype!(x.dtype, T => {
        let mut v = x.to_vec::<T>();
        for (&i, &val) in p.iter().zip(vals.data::<T>().iter()) {
            let i = i as usize;
            v[i] = if accumulate { T::from_f64(v[i].to_f64() + val.to_f64()) } else { val };
        }
        Tensor::from_vec_unchecked(v, &x.shape)
    });
    if !needs_grad(&[x, values]) || !x.dtype.is_float() {
        return Ok(out);
    }
    let (rx, rv) = (x.requires_grad(), values.requires_grad());
    let (vshape, vdt) = (values.shape.clone(), values.dtype);
    let back = move |g: &Tensor| -> Result<Vec<Option<Tensor>>> {
        let flat = shape::reshape(&shape::contiguous(g)?, &[-1])?;
        let picked = index_select(&flat, 0, &shape::reshape(&sel, &[-1])?)?;
        let gv = if rv { Some(super::sum_to(&shape::reshape(&picked, &shape_i64(&sel.shape))?, &vshape, vdt)?) } else { None };
        let gx = if !rx {
            None
        } else if accumulate {
            Some(g.clone())
        } else {
            let z = Tensor::zeros(&[p.len()], g.dtype);
            let cleared = scatter(&flat.detach(), 0, &shape::reshape(&sel, &[-1])?, &z)?;
            Some(shape::reshape(&cleared, &shape_i64(&g.shape))?)
        };
        Ok(vec![gx, gv])
    };
    Ok(record(out, "IndexPut", &[x, values], &[], Box::new(back)))
}

/// `x[i0, i1, …]` with one optional index tensor per leading dim (int64 or
/// bool), NumPy semantics: index tensors broadcast together; their result
/// dims replace the indexed dims in place when those are adjacent, else go first.
pub fn index_tensors(x: &Tensor, indices: &[Option<Tensor>]) -> Result<Tensor> {
    // bool masks become one int index per masked dim
    let mut adv: Vec<(usize, Tensor)> = Vec::new();
    let mut d = 0;
    for it in indices {
        match it {
            None => d += 1,
            Some(t) if t.dtype == DType::Bool => {
                let k = t.ndim();
                if d + k > x.ndim() || t.shape[..] != x.shape[d..d + k] {
                    return Err(Error::index(format!(
                        "The shape of the mask {:?} at index {d} does not match the shape of the indexed tensor {:?}",
                        t.shape, x.shape
                    )));
                }
                let nz = nonzero(t)?;
                for j in 0..k {
                    adv.push((d + j, shape::select(&nz, 1, j as i64)?));
                }
                d += k;
            }
            Some(t) => {
                if t.dtype != DType::I64 {
                    return Err(Error::index("tensors used as indices must be long, int or bool tensors"));
                }
                if d >= x.ndim() {
                    return Err(Error::index(format!("too many indices for tensor of dimension {}", x.ndim())));
                }
                adv.push((d, t.clone()));
                d += 1;
            }
        }
    }
    if d > x.ndim() {
        return Err(Error::index(format!("too many indices for tensor of dimension {}", x.ndim())));
    }
    if adv.is_empty() {
        return Ok(x.clone());
    }
    let mut bshape: Vec<usize> = vec![];
    for (_, t) in &adv {
        bshape = broadcast_shapes(&bshape, &t.shape, "index")?;
    }
    // linear index into the product of the advanced dims
    let adv_dims: Vec<usize> = adv.iter().map(|(d, _)| *d).collect();
    let mut lin = vec![0i64; numel(&bshape)];
    let mut mult = 1i64;
    for (dim, t) in adv.iter().rev() {
        let size = x.shape[*dim];
        let e = shape::expand(t, &shape_i64(&bshape))?;
        let ids = wrapped_indices(&e, size, *dim, "index")?;
        for (l, i) in lin.iter_mut().zip(ids) {
            *l += i as i64 * mult;
        }
        mult *= size as i64;
    }
    let rest: Vec<usize> = (0..x.ndim()).filter(|k| !adv_dims.contains(k)).collect();
    let perm: Vec<i64> = adv_dims.iter().chain(&rest).map(|&k| k as i64).collect();
    let xp = shape::permute(x, &perm)?;
    let mut flat_shape = vec![mult];
    flat_shape.extend(rest.iter().map(|&k| x.shape[k] as i64));
    let xf = shape::reshape(&xp, &flat_shape)?;
    let picked = index_select(&xf, 0, &Tensor::from_vec_unchecked(lin, &[numel(&bshape)]))?;
    let mut out_shape = shape_i64(&bshape);
    out_shape.extend(rest.iter().map(|&k| x.shape[k] as i64));
    let out = shape::reshape(&picked, &out_shape)?;
    let adjacent = adv_dims.windows(2).all(|w| w[1] == w[0] + 1);
    let p = adv_dims[0];
    if !adjacent || p == 0 {
        return Ok(out);
    }
    // move the broadcast dims back to where the indexed dims were
    let nb = bshape.len();
    let nrest = rest.len();
    let mut order: Vec<i64> = (nb..nb + p).map(|k| k as i64).collect();
    order.extend((0..nb).map(|k| k as i64));
    order.extend((nb + p..nb + nrest).map(|k| k as i64));
    shape::permute(&out, &order)
}
