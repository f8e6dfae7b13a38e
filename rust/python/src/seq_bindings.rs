//! Bindings for the sequence-model ops (issue 5): layer norm, flash attention.

use crate::tensor::{run, PyTensor};
use dlcore_core::ops::seq;
use pyo3::prelude::*;

#[pyfunction]
#[pyo3(signature = (input, normalized_shape, weight, bias, eps))]
fn layer_norm(
    py: Python<'_>,
    input: &PyTensor,
    normalized_shape: Vec<usize>,
    weight: Option<&PyTensor>,
    bias: Option<&PyTensor>,
    eps: f64,
) -> PyResult<PyTensor> {
    let (x, w, b) = (
        input.t.clone(),
        weight.map(|p| p.t.clone()),
        bias.map(|p| p.t.clone()),
    );
    run(py, x.numel(), move || {
        seq::layer_norm(&x, &normalized_shape, w.as_ref(), b.as_ref(), eps)
    })
    .map(Into::into)
}

#[pyfunction]
#[pyo3(signature = (q, k, v, mask, causal, scale))]
fn flash_attention(
    py: Python<'_>,
    q: &PyTensor,
    k: &PyTensor,
    v: &PyTensor,
    mask: Option<&PyTensor>,
    causal: bool,
    scale: f64,
) -> PyResult<PyTensor> {
    let (q, k, v, m) = (
        q.t.clone(),
        k.t.clone(),
        v.t.clone(),
        mask.map(|p| p.t.clone()),
    );
    let work = q.numel() * k.shape.get(1).copied().unwrap_or(1);
    run(py, work, move || {
        seq::flash_attention(&q, &k, &v, m.as_ref(), causal, scale)
    })
    .map(Into::into)
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(layer_norm, m)?)?;
    m.add_function(wrap_pyfunction!(flash_attention, m)?)?;
    Ok(())
}
