//! cat / stack / split / chunk.

use super::{shape, unary};
use crate::autograd::{needs_grad, record};
use crate::error::{Error, Result};
use crate::tensor::{numel, promote, wrap_dim, Tensor};

pub fn cat(tensors: &[Tensor], dim: i64) -> Result<Tensor> {
    if tensors.is_empty() {
        return Err(Error::value("cat(): expected a non-empty list of Tensors"));
    }
    // legacy torch rule: 1-D empty tensors are skipped
    let parts: Vec<&Tensor> = tensors.iter().filter(|t| !(t.ndim() == 1 && t.shape[0] == 0)).collect();
    let Some(first) = parts.first() else {
        return Ok(tensors[0].clone());
    };
    let nd = first.ndim();
    if nd == 0 {
        return Err(Error::runtime("cat(): zero-dimensional tensor (at position 0) cannot be concatenated"));
    }
    let d = wrap_dim(dim, nd, "cat")?;
    let mut dtype = first.dtype;
    for (i, t) in parts.iter().enumerate() {
        if t.ndim() != nd {
            return Err(Error::runtime(format!(
                "cat(): Tensors must have same number of dimensions: got {nd} and {} (tensor {i})",
                t.ndim()
            )));
        }
        for k in 0..nd {
            if k != d && t.shape[k] != first.shape[k] {
                return Err(Error::runtime(format!(
                    "cat(): Sizes of tensors must match except in dimension {d}. Expected size {} but got size {} \
                     for tensor number {i} in the list (shapes {:?} and {:?}).",
                    first.shape[k], t.shape[k], first.shape, t.shape
                )));
            }
        }
        dtype = promote(dtype, false, t.dtype, false);
    }
    let mut out_shape = first.shape.clone();
    out_shape[d] = parts.iter().map(|t| t.shape[d]).sum();
    let outer = numel(&first.shape[..d]);
    let inner = numel(&first.shape[d + 1..]);
    let out = crate::with_dtype!(dtype, T => {
        let datas: Vec<Tensor> = parts.iter().map(|t| unary::to_dtype(&t.detach(), dtype)).collect::<Result<_>>()?;
        let slices: Vec<_> = datas.iter().map(|t| t.data::<T>()).collect();
        let mut v: Vec<T> = Vec::with_capacity(numel(&out_shape));
        for o in 0..outer {
            for (t, s) in parts.iter().zip(&slices) {
                let len = t.shape[d] * inner;
                v.extend_from_slice(&s[o * len..(o + 1) * len]);
            }
        }
        Tensor::from_vec_unchecked(v, &out_shape)
    });
    let inputs: Vec<&Tensor> = parts.clone();
    if !needs_grad(&inputs) {
        return Ok(out);
    }
    let sizes: Vec<(usize, crate::tensor::DType)> = parts.iter().map(|t| (t.shape[d], t.dtype)).collect();
    let back = move |g: &Tensor| -> Result<Vec<Option<Tensor>>> {
        let mut start = 0;
        let mut out = Vec::with_capacity(sizes.len());
        for &(len, dt) in &sizes {
            out.push(Some(unary::to_dtype(&shape::narrow(g, d as i64, start as i64, len)?, dt)?));
            start += len;
        }
        Ok(out)
    };
    Ok(record(out, "Cat", &inputs, &[], Box::new(back)))
}

pub fn stack(tensors: &[Tensor], dim: i64) -> Result<Tensor> {
    let Some(first) = tensors.first() else {
        return Err(Error::runtime("stack(): expects a non-empty TensorList"));
    };
    for (i, t) in tensors.iter().enumerate() {
        if t.shape != first.shape {
            return Err(Error::runtime(format!(
                "stack(): stack expects each tensor to be equal size, but got {:?} at entry 0 and {:?} at entry {i}",
                first.shape, t.shape
            )));
        }
    }
    let d = wrap_dim(dim, first.ndim() + 1, "stack")?;
    let parts: Vec<Tensor> = tensors.iter().map(|t| shape::unsqueeze(t, d as i64)).collect::<Result<_>>()?;
    cat(&parts, d as i64)
}

/// Splits into pieces of the given sizes along `dim` (views).
pub fn split_sizes(x: &Tensor, sizes: &[usize], dim: i64) -> Result<Vec<Tensor>> {
    let d = wrap_dim(dim, x.ndim(), "split")?;
    let total: usize = sizes.iter().sum();
    if total != x.shape[d] {
        return Err(Error::runtime(format!(
            "split_with_sizes expects split_sizes to sum exactly to {} (input tensor's size at dimension {d}), but got split_sizes={sizes:?}",
            x.shape[d]
        )));
    }
    let mut start = 0i64;
    sizes
        .iter()
        .map(|&len| {
            let t = shape::narrow(x, d as i64, start, len);
            start += len as i64;
            t
        })
        .collect()
}

/// torch.split with an int: pieces of `size`, the last one smaller.
pub fn split(x: &Tensor, size: usize, dim: i64) -> Result<Vec<Tensor>> {
    let d = wrap_dim(dim, x.ndim(), "split")?;
    if size == 0 && x.shape[d] != 0 {
        return Err(Error::runtime("split(): split_size can only be 0 if dimension size is 0"));
    }
    let n = x.shape[d];
    let mut sizes = vec![];
    let mut left = n;
    while left > 0 {
        sizes.push(size.min(left));
        left -= size.min(left);
    }
    if sizes.is_empty() {
        sizes.push(0);
    }
    split_sizes(x, &sizes, dim)
}

pub fn chunk(x: &Tensor, chunks: usize, dim: i64) -> Result<Vec<Tensor>> {
    if chunks == 0 {
        return Err(Error::runtime("chunk(): number of chunks must be greater than 0"));
    }
    let d = wrap_dim(dim, x.ndim(), "chunk")?;
    let size = x.shape[d].div_ceil(chunks).max(1);
    split(x, size, d as i64)
}
