//! Op definitions: validate → pick the device → call a kernel → record the
//! backward node. Each op's backward closure sits next to its forward.

pub mod binary;
pub mod clip;
pub mod conv;
pub mod creation;
pub mod dropout;
pub mod index;
pub mod inplace;
pub mod join;
pub mod linalg;
pub mod loss;
pub mod optim;
pub mod reduce;
pub mod shape;
pub mod unary;
// CNN layers (issue 4): pooling, batch norm, activations, interpolation
pub mod activation;
pub mod interp;
pub mod norm;
pub mod pool;
// sequence models (issue 5): layer norm, attention
pub mod seq;
pub mod rnn;

pub use binary::*;
pub use conv::*;
pub use creation::*;
pub use dropout::*;
pub use index::*;
pub use inplace::*;
pub use join::*;
pub use linalg::*;
pub use loss::*;
pub use reduce::*;
pub use rnn::*;
pub use shape::*;
pub use unary::*;

use crate::error::{Error, Result};
use crate::tensor::{DType, Tensor};

/// Reduces a broadcast gradient back to `shape` (sum over the broadcast dims)
/// and to `dtype` (a float32 input of a float64 op gets a float32 gradient).
pub fn sum_to(g: &Tensor, shape: &[usize], dtype: DType) -> Result<Tensor> {
    let mut g = g.clone();
    if g.shape != shape {
        let lead = g.ndim() - shape.len();
        let mut dims: Vec<i64> = (0..lead as i64).collect();
        for (i, &s) in shape.iter().enumerate() {
            if s == 1 && g.shape[lead + i] != 1 {
                dims.push((lead + i) as i64);
            }
        }
        g = reduce::sum(&g, Some(&dims), true, None)?;
        g = shape::reshape(&g, &shape.iter().map(|&s| s as i64).collect::<Vec<_>>())?;
    }
    if g.dtype != dtype {
        g = unary::to_dtype(&g, dtype)?;
    }
    Ok(g)
}

pub(crate) fn same_device(op: &str, a: &Tensor, b: &Tensor) -> Result<()> {
    if a.device() != b.device() {
        return Err(Error::runtime(format!(
            "{op}: expected all tensors to be on the same device, but found {} and {}",
            a.device().name(),
            b.device().name()
        )));
    }
    Ok(())
}

pub(crate) fn shape_i64(shape: &[usize]) -> Vec<i64> {
    shape.iter().map(|&s| s as i64).collect()
}
