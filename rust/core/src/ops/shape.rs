//! View ops (no copy: new shape/strides over the same storage) plus
//! contiguous/clone. Each view's backward maps the gradient back to the
//! input's shape.

use super::sum_to;
use crate::autograd::{needs_grad, record, record_view};
use crate::cpu::elementwise::copy_contiguous;
use crate::error::{Error, Result};
use crate::tensor::{contiguous_strides, numel, wrap_dim, Tensor};

fn view_out(x: &Tensor, shape: Vec<usize>, strides: Vec<usize>, offset: usize) -> Tensor {
    x.alias(shape, strides, offset)
}

/// Resolves a single -1 and checks the element count.
pub fn infer_shape(shape: &[i64], n: usize, op: &str) -> Result<Vec<usize>> {
    let mut infer = None;
    let mut known = 1usize;
    for (i, &s) in shape.iter().enumerate() {
        if s == -1 {
            if infer.replace(i).is_some() {
                return Err(Error::runtime(format!("{op}: only one dimension can be inferred")));
            }
        } else if s < 0 {
            return Err(Error::runtime(format!("{op}: invalid shape dimension {s}")));
        } else {
            known *= s as usize;
        }
    }
    let mut out: Vec<usize> = shape.iter().map(|&s| s.max(0) as usize).collect();
    let bad = || Error::runtime(format!("{op}: shape '{shape:?}' is invalid for input of size {n}"));
    match infer {
        Some(i) => {
            if known == 0 || n % known != 0 {
                return Err(bad());
            }
            out[i] = n / known;
        }
        None if known != n => return Err(bad()),
        None => {}
    }
    Ok(out)
}

/// Strides that present `old` (with `old_strides`) as `new` without copying,
/// or None when the memory layout does not allow it (torch's computeStride).
fn view_strides(old: &[usize], old_strides: &[usize], new: &[usize]) -> Option<Vec<usize>> {
    if numel(old) == 0 || crate::tensor::is_contiguous(old, old_strides) {
        return Some(contiguous_strides(new));
    }
    let mut out = vec![0usize; new.len()];
    let mut view_d = new.len() as isize - 1;
    let mut chunk_base = *old_strides.last()?;
    let (mut tensor_numel, mut view_numel) = (1usize, 1usize);
    for td in (0..old.len()).rev() {
        tensor_numel *= old[td];
        if td == 0 || (old[td - 1] != 1 && old_strides[td - 1] != tensor_numel * chunk_base) {
            while view_d >= 0 && (view_numel < tensor_numel || new[view_d as usize] == 1) {
                out[view_d as usize] = view_numel * chunk_base;
                view_numel *= new[view_d as usize];
                view_d -= 1;
            }
            if view_numel != tensor_numel {
                return None;
            }
            if td > 0 {
                chunk_base = old_strides[td - 1];
                tensor_numel = 1;
                view_numel = 1;
            }
        }
    }
    (view_d == -1).then_some(out)
}

fn reshape_back(in_shape: Vec<usize>) -> crate::autograd::BackwardFn {
    let s = super::shape_i64(&in_shape);
    Box::new(move |g: &Tensor| Ok(vec![Some(reshape(g, &s)?)]))
}

pub fn view(x: &Tensor, shape: &[i64]) -> Result<Tensor> {
    let new = infer_shape(shape, x.numel(), "view")?;
    let strides = view_strides(&x.shape, &x.strides, &new).ok_or_else(|| {
        Error::runtime(format!(
            "view size is not compatible with input tensor's size and stride (at least one dimension spans \
             across two contiguous subspaces): input shape {:?}, requested {shape:?}. Use .reshape(...) instead.",
            x.shape
        ))
    })?;
    let out = view_out(x, new, strides, x.offset);
    if !needs_grad(&[x]) {
        return Ok(out);
    }
    Ok(record_view(out, "View", x, reshape_back(x.shape.clone())))
}

pub fn reshape(x: &Tensor, shape: &[i64]) -> Result<Tensor> {
    let new = infer_shape(shape, x.numel(), "reshape")?;
    if new == x.shape {
        return Ok(x.clone());
    }
    if view_strides(&x.shape, &x.strides, &new).is_some() {
        return view(x, shape);
    }
    view(&contiguous_copy(x)?, shape)
}

/// A contiguous copy with history (`clone`).
pub fn contiguous_copy(x: &Tensor) -> Result<Tensor> {
    let out = crate::with_dtype!(x.dtype, T => copy_contiguous::<T>(x));
    if !needs_grad(&[x]) {
        return Ok(out);
    }
    let back = |g: &Tensor| -> Result<Vec<Option<Tensor>>> { Ok(vec![Some(g.clone())]) };
    Ok(record(out, "Clone", &[x], &[], Box::new(back)))
}

pub fn contiguous(x: &Tensor) -> Result<Tensor> {
    if x.is_contiguous() {
        Ok(x.clone())
    } else {
        contiguous_copy(x)
    }
}

pub fn permute(x: &Tensor, dims: &[i64]) -> Result<Tensor> {
    let nd = x.ndim();
    if dims.len() != nd {
        return Err(Error::runtime(format!(
            "permute: number of dims don't match in permute: got {} dims for a tensor of shape {:?}",
            dims.len(),
            x.shape
        )));
    }
    let mut seen = vec![false; nd];
    let mut perm = Vec::with_capacity(nd);
    for &d in dims {
        let d = wrap_dim(d, nd, "permute")?;
        if std::mem::replace(&mut seen[d], true) {
            return Err(Error::runtime(format!("permute: repeated dim {d} in {dims:?}")));
        }
        perm.push(d);
    }
    let out = view_out(
        x,
        perm.iter().map(|&d| x.shape[d]).collect(),
        perm.iter().map(|&d| x.strides[d]).collect(),
        x.offset,
    );
    if !needs_grad(&[x]) {
        return Ok(out);
    }
    let mut inv = vec![0i64; nd];
    for (i, &p) in perm.iter().enumerate() {
        inv[p] = i as i64;
    }
    let back = move |g: &Tensor| -> Result<Vec<Option<Tensor>>> { Ok(vec![Some(permute(g, &inv)?)]) };
    Ok(record_view(out, "Permute", x, Box::new(back)))
}

pub fn transpose(x: &Tensor, d0: i64, d1: i64) -> Result<Tensor> {
    let nd = x.ndim();
    if nd == 0 {
        return Ok(x.clone());
    }
    let (a, b) = (wrap_dim(d0, nd, "transpose")?, wrap_dim(d1, nd, "transpose")?);
    let mut perm: Vec<i64> = (0..nd as i64).collect();
    perm.swap(a, b);
    permute(x, &perm)
}

pub fn t(x: &Tensor) -> Result<Tensor> {
    match x.ndim() {
        0 | 1 => Ok(x.clone()),
        2 => transpose(x, 0, 1),
        n => Err(Error::runtime(format!("t() expects a tensor with <= 2 dimensions, but self is {n}D"))),
    }
}

pub fn expand(x: &Tensor, sizes: &[i64]) -> Result<Tensor> {
    let nd = sizes.len();
    if nd < x.ndim() {
        return Err(Error::runtime(format!(
            "expand: the number of sizes provided ({nd}) must be greater or equal to the number of dimensions in the tensor ({})",
            x.ndim()
        )));
    }
    let lead = nd - x.ndim();
    let mut shape = vec![0; nd];
    let mut strides = vec![0; nd];
    for i in 0..nd {
        let want = sizes[i];
        if i < lead {
            if want < 0 {
                return Err(Error::runtime(format!("expand: -1 not allowed in leading, non-existing dimension {i}")));
            }
            shape[i] = want as usize;
        } else {
            let (have, st) = (x.shape[i - lead], x.strides[i - lead]);
            if want == -1 || want as usize == have {
                shape[i] = have;
                strides[i] = st;
            } else if have == 1 && want >= 0 {
                shape[i] = want as usize;
            } else {
                return Err(Error::runtime(format!(
                    "expand: the expanded size of the tensor ({want}) must match the existing size ({have}) at \
                     non-singleton dimension {i}. Target sizes: {sizes:?}. Tensor sizes: {:?}",
                    x.shape
                )));
            }
        }
    }
    if shape == x.shape {
        return Ok(x.clone());
    }
    let out = view_out(x, shape, strides, x.offset);
    if !needs_grad(&[x]) {
        return Ok(out);
    }
    let (s, d) = (x.shape.clone(), x.dtype);
    let back = move |g: &Tensor| -> Result<Vec<Option<Tensor>>> { Ok(vec![Some(sum_to(g, &s, d)?)]) };
    Ok(record_view(out, "Expand", x, Box::new(back)))
}

fn restride(x: &Tensor, shape: Vec<usize>, strides: Vec<usize>, name: &'static str) -> Tensor {
    let out = view_out(x, shape, strides, x.offset);
    if !needs_grad(&[x]) {
        return out;
    }
    record_view(out, name, x, reshape_back(x.shape.clone()))
}

pub fn squeeze(x: &Tensor, dims: Option<&[i64]>) -> Result<Tensor> {
    let nd = x.ndim();
    let mut drop = vec![false; nd];
    match dims {
        None => (0..nd).for_each(|i| drop[i] = x.shape[i] == 1),
        Some(ds) => {
            for &d in ds {
                let d = wrap_dim(d, nd, "squeeze")?;
                drop[d] = nd > 0 && x.shape[d] == 1;
            }
        }
    }
    let keep = (0..nd).filter(|&i| !drop[i]);
    let shape = keep.clone().map(|i| x.shape[i]).collect();
    let strides = keep.map(|i| x.strides[i]).collect();
    Ok(restride(x, shape, strides, "Squeeze"))
}

pub fn unsqueeze(x: &Tensor, dim: i64) -> Result<Tensor> {
    let d = wrap_dim(dim, x.ndim() + 1, "unsqueeze")?;
    let mut shape = x.shape.clone();
    let mut strides = x.strides.clone();
    let st = if d < x.ndim() { x.strides[d] * x.shape[d] } else { 1 };
    shape.insert(d, 1);
    strides.insert(d, st);
    Ok(restride(x, shape, strides, "Unsqueeze"))
}

pub fn flatten(x: &Tensor, start: i64, end: i64) -> Result<Tensor> {
    if x.ndim() == 0 {
        return reshape(x, &[1]);
    }
    let (s, e) = (wrap_dim(start, x.ndim(), "flatten")?, wrap_dim(end, x.ndim(), "flatten")?);
    if s > e {
        return Err(Error::runtime("flatten: start_dim cannot come after end_dim"));
    }
    let mut shape = super::shape_i64(&x.shape[..s]);
    shape.push(numel(&x.shape[s..=e]) as i64);
    shape.extend(super::shape_i64(&x.shape[e + 1..]));
    reshape(x, &shape)
}

/// Elements start, start+step, … (< end) along `dim`; start/end already
/// clamped to [0, size] by the caller, step > 0.
pub fn slice(x: &Tensor, dim: i64, start: usize, end: usize, step: usize) -> Result<Tensor> {
    let d = wrap_dim(dim, x.ndim(), "slice")?;
    if step == 0 {
        return Err(Error::value("slice: step must be greater than zero"));
    }
    let size = x.shape[d];
    let (start, end) = (start.min(size), end.min(size).max(start.min(size)));
    let len = (end - start).div_ceil(step);
    let mut shape = x.shape.clone();
    let mut strides = x.strides.clone();
    shape[d] = len;
    strides[d] *= step;
    let out = view_out(x, shape, strides, x.offset + start * x.strides[d]);
    if !needs_grad(&[x]) {
        return Ok(out);
    }
    let (in_shape, dt) = (x.shape.clone(), x.dtype);
    let back = move |g: &Tensor| -> Result<Vec<Option<Tensor>>> {
        Ok(vec![Some(embed(g, &in_shape, dt, d, start, step, false)?)])
    };
    Ok(record_view(out, "Slice", x, Box::new(back)))
}

pub fn narrow(x: &Tensor, dim: i64, start: i64, length: usize) -> Result<Tensor> {
    let d = wrap_dim(dim, x.ndim(), "narrow")?;
    let size = x.shape[d] as i64;
    let s = if start < 0 { start + size } else { start };
    if s < 0 || s + length as i64 > size {
        return Err(Error::runtime(format!(
            "narrow: start ({start}) + length ({length}) exceeds dimension size ({size}) of shape {:?}",
            x.shape
        )));
    }
    slice(x, dim, s as usize, s as usize + length, 1)
}

/// `x[index]` along `dim`, removing that dim.
pub fn select(x: &Tensor, dim: i64, index: i64) -> Result<Tensor> {
    if x.ndim() == 0 {
        return Err(Error::index("select: invalid index of a 0-dim tensor"));
    }
    let d = wrap_dim(dim, x.ndim(), "select")?;
    let size = x.shape[d] as i64;
    let i = if index < 0 { index + size } else { index };
    if i < 0 || i >= size {
        return Err(Error::index(format!(
            "index {index} is out of bounds for dimension {d} with size {size}"
        )));
    }
    let i = i as usize;
    let mut shape = x.shape.clone();
    let mut strides = x.strides.clone();
    shape.remove(d);
    strides.remove(d);
    let out = view_out(x, shape, strides, x.offset + i * x.strides[d]);
    if !needs_grad(&[x]) {
        return Ok(out);
    }
    let (in_shape, dt) = (x.shape.clone(), x.dtype);
    let back = move |g: &Tensor| -> Result<Vec<Option<Tensor>>> {
        Ok(vec![Some(embed(g, &in_shape, dt, d, i, 1, true)?)])
    };
    Ok(record_view(out, "Select", x, Box::new(back)))
}

/// Zeros of `shape` with `g` written at start, start+step, … along `dim`
/// (`g` lacks `dim` when `selected`). The backward of slice/select.
fn embed(
    g: &Tensor,
    shape: &[usize],
    dtype: crate::tensor::DType,
    dim: usize,
    start: usize,
    step: usize,
    selected: bool,
) -> Result<Tensor> {
    let out = Tensor::zeros(shape, dtype);
    let mut vshape = shape.to_vec();
    let mut vstrides = out.strides.clone();
    let offset = start * vstrides[dim];
    if selected {
        vshape.remove(dim);
        vstrides.remove(dim);
    } else {
        vshape[dim] = g.shape[dim];
        vstrides[dim] *= step;
    }
    let dst = out.alias(vshape, vstrides, offset);
    super::inplace::write_into(&dst, &super::unary::to_dtype(&g.detach(), dtype)?)?;
    Ok(out)
}
