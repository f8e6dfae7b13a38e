//! Dropout: zero each element (or each channel) with probability p and scale
//! the survivors by 1/(1-p), so the expected activation is unchanged.

use super::binary;
use crate::autograd::{needs_grad, record};
use crate::error::{Error, Result};
use crate::rng::with_rng;
use crate::tensor::Tensor;
use rand::Rng;

/// `channel_dims`: None drops single elements; Some(k) draws one decision per
/// index of the first k dims and broadcasts it over the rest (Dropout2d uses
/// k = 2 on (N, C, H, W)).
pub fn dropout(x: &Tensor, p: f64, channel_dims: Option<usize>) -> Result<Tensor> {
    if !(0.0..=1.0).contains(&p) {
        return Err(Error::value(format!("dropout probability has to be between 0 and 1, but got {p}")));
    }
    if !x.dtype.is_float() {
        return Err(Error::runtime(format!("dropout: expected a floating point tensor, got {}", x.dtype.name())));
    }
    let mask_shape: Vec<usize> = match channel_dims {
        None => x.shape.clone(),
        Some(k) => {
            if x.ndim() < k {
                return Err(Error::runtime(format!(
                    "dropout: channel-wise dropout needs at least {k} dims, got shape {:?}",
                    x.shape
                )));
            }
            let mut s = x.shape[..k].to_vec();
            s.extend(std::iter::repeat_n(1, x.ndim() - k));
            s
        }
    };
    let n: usize = mask_shape.iter().product();
    let scale = if p < 1.0 { 1.0 / (1.0 - p) } else { 0.0 };
    let keep: Vec<f64> = with_rng(|r| (0..n).map(|_| if r.random::<f64>() >= p { scale } else { 0.0 }).collect());
    let mask = crate::with_float!(x.dtype, "dropout", T => {
        Tensor::from_vec_unchecked(keep.into_iter().map(T::from_f64).collect::<Vec<T>>(), &mask_shape)
    });
    let out = binary::mul(&x.detach(), &mask)?;
    if !needs_grad(&[x]) {
        return Ok(out);
    }
    let back = move |g: &Tensor| -> Result<Vec<Option<Tensor>>> { Ok(vec![Some(binary::mul(g, &mask)?)]) };
    Ok(record(out, "Dropout", &[x], &[], Box::new(back)))
}
