//! Shapes, strides and broadcasting, and the strided walkers every kernel
//! uses to read views without copying them first.

use crate::error::{Error, Result};

pub fn numel(shape: &[usize]) -> usize {
    shape.iter().product()
}

pub fn contiguous_strides(shape: &[usize]) -> Vec<usize> {
    let mut strides = vec![0; shape.len()];
    let mut acc = 1;
    for i in (0..shape.len()).rev() {
        strides[i] = acc;
        acc *= shape[i].max(1);
    }
    strides
}

pub fn is_contiguous(shape: &[usize], strides: &[usize]) -> bool {
    let mut expected = 1;
    for i in (0..shape.len()).rev() {
        if shape[i] != 1 && strides[i] != expected {
            return false;
        }
        expected *= shape[i];
    }
    true
}

/// NumPy/PyTorch broadcasting of two shapes; `op` names the op in the error.
pub fn broadcast_shapes(a: &[usize], b: &[usize], op: &str) -> Result<Vec<usize>> {
    let n = a.len().max(b.len());
    let mut out = vec![0; n];
    for i in 0..n {
        let da = if i + a.len() >= n { a[i + a.len() - n] } else { 1 };
        let db = if i + b.len() >= n { b[i + b.len() - n] } else { 1 };
        out[i] = if da == db || db == 1 {
            da
        } else if da == 1 {
            db
        } else {
            return Err(Error::runtime(format!(
                "{op}: shapes {a:?} and {b:?} cannot be broadcast together \
                 (size {da} vs {db} at dimension {i})"
            )));
        };
    }
    Ok(out)
}

/// Strides that read a tensor of `shape`/`strides` as if it had `target`
/// shape (stride 0 on broadcast dims). `target` must be a broadcast of `shape`.
pub fn broadcast_strides(shape: &[usize], strides: &[usize], target: &[usize]) -> Vec<usize> {
    let lead = target.len() - shape.len();
    (0..target.len())
        .map(|i| {
            if i < lead || shape[i - lead] == 1 {
                0
            } else {
                strides[i - lead]
            }
        })
        .collect()
}

/// Normalises a possibly negative dim against `ndim`.
pub fn wrap_dim(dim: i64, ndim: usize, op: &str) -> Result<usize> {
    let n = ndim.max(1) as i64;
    let d = if dim < 0 { dim + n } else { dim };
    if d < 0 || d >= n {
        return Err(Error::index(format!(
            "{op}: dimension out of range (expected to be in range of [{}, {}], but got {dim})",
            -n,
            n - 1
        )));
    }
    Ok(d as usize)
}

/// Calls `f(offset)` for every element of a strided view in row-major order.
/// The innermost dimension is a tight loop so the closure inlines well.
#[inline]
pub fn for_each_offset(shape: &[usize], strides: &[usize], base: usize, mut f: impl FnMut(usize)) {
    let n = numel(shape);
    if n == 0 {
        return;
    }
    if shape.is_empty() {
        f(base);
        return;
    }
    let nd = shape.len();
    let (inner, istride) = (shape[nd - 1], strides[nd - 1]);
    let mut idx = vec![0usize; nd - 1];
    let mut off = base;
    loop {
        for j in 0..inner {
            f(off + j * istride);
        }
        if !step_outer(&mut idx, &mut off, &shape[..nd - 1], &strides[..nd - 1]) {
            return;
        }
    }
}

/// Advances the row-major multi-index `idx` over `shape` (the outer dims of
/// a view) by one, moving the offset `off` along `strides`; false when it
/// wraps past the last index (then `idx` and `off` are back at the start).
#[inline]
pub fn step_outer(idx: &mut [usize], off: &mut usize, shape: &[usize], strides: &[usize]) -> bool {
    for d in (0..shape.len()).rev() {
        idx[d] += 1;
        *off += strides[d];
        if idx[d] < shape[d] {
            return true;
        }
        *off -= strides[d] * shape[d];
        idx[d] = 0;
    }
    false
}

/// Like `for_each_offset` for two views of the same shape walked together.
#[inline]
pub fn for_each_offset2(
    shape: &[usize],
    sa: &[usize],
    ba: usize,
    sb: &[usize],
    bb: usize,
    mut f: impl FnMut(usize, usize),
) {
    let n = numel(shape);
    if n == 0 {
        return;
    }
    if shape.is_empty() {
        f(ba, bb);
        return;
    }
    let nd = shape.len();
    let inner = shape[nd - 1];
    let (ia, ib) = (sa[nd - 1], sb[nd - 1]);
    let mut idx = vec![0usize; nd];
    let (mut oa, mut ob) = (ba, bb);
    loop {
        for j in 0..inner {
            f(oa + j * ia, ob + j * ib);
        }
        let mut d = nd - 1;
        loop {
            if d == 0 {
                return;
            }
            d -= 1;
            idx[d] += 1;
            oa += sa[d];
            ob += sb[d];
            if idx[d] < shape[d] {
                break;
            }
            oa -= sa[d] * shape[d];
            ob -= sb[d] * shape[d];
            idx[d] = 0;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn broadcast_and_walk() {
        assert_eq!(broadcast_shapes(&[3, 1], &[4], "t").unwrap(), vec![3, 4]);
        assert!(broadcast_shapes(&[3], &[4], "t").is_err());
        let mut seen = vec![];
        // a transposed 2x3 view of a 3x2 buffer
        for_each_offset(&[2, 3], &[1, 2], 0, |o| seen.push(o));
        assert_eq!(seen, vec![0, 2, 4, 1, 3, 5]);
        assert!(is_contiguous(&[2, 1, 3], &[3, 7, 1]));
        assert_eq!(contiguous_strides(&[2, 0, 3]), vec![3, 3, 1]);
    }
}
