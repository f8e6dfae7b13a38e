//! Element-wise maps over one or two (broadcast) strided inputs into a fresh
//! contiguous output. Contiguous inputs take a flat loop the compiler
//! vectorises; large ones are split across the pool.

use super::PAR_MIN;
use crate::tensor::storage::uninit_vec;
use crate::tensor::{broadcast_strides, for_each_offset2, numel, Element, Tensor};
use rayon::prelude::*;

pub fn map_unary<T: Element, U: Element>(a: &Tensor, f: impl Fn(T) -> U + Sync + Send) -> Tensor {
    let src = a.data::<T>();
    let out: Vec<U> = if src.len() >= PAR_MIN {
        super::install(|| src.par_iter().map(|&x| f(x)).collect())
    } else {
        src.iter().map(|&x| f(x)).collect()
    };
    Tensor::from_vec_unchecked(out, &a.shape)
}

/// Is `t`, read as `shape`, the same contiguous block repeated along leading
/// dims (a bias row broadcast over a batch)? Returns the block length.
fn trailing_block(t: &Tensor, shape: &[usize]) -> Option<usize> {
    if !t.is_contiguous() {
        return None;
    }
    let lead = shape.len() - t.ndim();
    let first_real = t.shape.iter().position(|&d| d != 1).unwrap_or(t.ndim());
    // every dim of t after its leading ones must match the output's
    if t.shape[first_real..] != shape[lead + first_real..] {
        return None;
    }
    Some(numel(&t.shape))
}

pub fn map_binary<T: Element, U: Element>(
    a: &Tensor,
    b: &Tensor,
    shape: &[usize],
    f: impl Fn(T, T) -> U + Sync + Send,
) -> Tensor {
    let n = numel(shape);
    let (ba, bb) = (a.storage.cpu().slice::<T>(), b.storage.cpu().slice::<T>());
    let same_a = a.shape == shape && a.is_contiguous();
    let same_b = b.shape == shape && b.is_contiguous();
    // an expanded scalar (every stride 0, e.g. the gradient of a sum) reads one element
    let scalar = |t: &Tensor| t.numel() >= 1 && t.strides.iter().all(|&st| st == 0);
    let out: Vec<U> = if same_a && same_b {
        let (x, y) = (&ba[a.offset..a.offset + n], &bb[b.offset..b.offset + n]);
        if n >= PAR_MIN {
            super::install(|| x.par_iter().zip(y.par_iter()).map(|(&p, &q)| f(p, q)).collect())
        } else {
            x.iter().zip(y).map(|(&p, &q)| f(p, q)).collect()
        }
    } else if same_a && (b.numel() == 1 || scalar(b)) {
        // `move` puts the scalar in the closure by value: captured by
        // reference it was reloaded every element and the loop stayed
        // scalar (x * 2.0 ran at a quarter of x * y's speed)
        let (q, x) = (bb[b.offset], &ba[a.offset..a.offset + n]);
        let f = &f;
        if n >= PAR_MIN {
            super::install(|| x.par_iter().map(move |&p| f(p, q)).collect())
        } else {
            x.iter().map(move |&p| f(p, q)).collect()
        }
    } else if same_b && (a.numel() == 1 || scalar(a)) {
        let (p, y) = (ba[a.offset], &bb[b.offset..b.offset + n]);
        let f = &f;
        if n >= PAR_MIN {
            super::install(|| y.par_iter().map(move |&q| f(p, q)).collect())
        } else {
            y.iter().map(move |&q| f(p, q)).collect()
        }
    } else if let (true, Some(len)) = (same_a, trailing_block(b, shape).filter(|&l| l > 0)) {
        let y = &bb[b.offset..b.offset + len];
        let mut out = Vec::with_capacity(n);
        for row in ba[a.offset..a.offset + n].chunks_exact(len) {
            out.extend(row.iter().zip(y).map(|(&p, &q)| f(p, q)));
        }
        out
    } else if let (true, Some(len)) = (same_b, trailing_block(a, shape).filter(|&l| l > 0)) {
        let x = &ba[a.offset..a.offset + len];
        let mut out = Vec::with_capacity(n);
        for row in bb[b.offset..b.offset + n].chunks_exact(len) {
            out.extend(x.iter().zip(row).map(|(&p, &q)| f(p, q)));
        }
        out
    } else {
        let sa = broadcast_strides(&a.shape, &a.strides, shape);
        let sb = broadcast_strides(&b.shape, &b.strides, shape);
        if n >= PAR_MIN && shape.len() > 1 && shape[0] > 1 {
            // one task per index of the outermost dim, each walking the rest
            let inner = n / shape[0];
            // SAFETY: the chunks cover `out` and for_each_offset2 visits
            // every index of the rest of the shape, writing chunk[k] once each.
            let mut out = unsafe { uninit_vec::<U>(n) };
            super::install(|| {
                out.par_chunks_mut(inner).enumerate().for_each(|(i0, chunk)| {
                    let mut k = 0;
                    let (oa, ob) = (a.offset + i0 * sa[0], b.offset + i0 * sb[0]);
                    for_each_offset2(&shape[1..], &sa[1..], oa, &sb[1..], ob, |i, j| {
                        chunk[k] = f(ba[i], bb[j]);
                        k += 1;
                    });
                })
            });
            out
        } else {
            let mut out = Vec::with_capacity(n);
            for_each_offset2(shape, &sa, a.offset, &sb, b.offset, |i, j| out.push(f(ba[i], bb[j])));
            out
        }
    };
    Tensor::from_vec_unchecked(out, shape)
}

/// Copies a strided view into a fresh contiguous buffer (dtype unchanged).
pub fn copy_contiguous<T: Element>(a: &Tensor) -> Tensor {
    Tensor::from_vec_unchecked(a.to_vec::<T>(), &a.shape)
}
