//! Bindings for the fused recurrent layers.

use crate::tensor::{run, PyTensor};
use dlcore_core::ops;
use pyo3::prelude::*;

/// One LSTM layer-direction; returns the packed (T+1, B, H) tensor
/// (hidden states in time order, then c_n).
#[pyfunction]
#[pyo3(signature = (input, h0, c0, weight_ih, weight_hh, bias_ih, bias_hh, reverse))]
#[allow(clippy::too_many_arguments)]
fn lstm_layer(
    py: Python<'_>,
    input: &PyTensor,
    h0: &PyTensor,
    c0: &PyTensor,
    weight_ih: &PyTensor,
    weight_hh: &PyTensor,
    bias_ih: Option<&PyTensor>,
    bias_hh: Option<&PyTensor>,
    reverse: bool,
) -> PyResult<PyTensor> {
    let (x, h, c, wi, wh) = (input.t.clone(), h0.t.clone(), c0.t.clone(), weight_ih.t.clone(), weight_hh.t.clone());
    let (bi, bh) = (bias_ih.map(|b| b.t.clone()), bias_hh.map(|b| b.t.clone()));
    let work = x.numel().saturating_mul(wi.shape.first().copied().unwrap_or(1));
    run(py, work, move || ops::lstm_layer(&x, &h, &c, &wi, &wh, bi.as_ref(), bh.as_ref(), reverse)).map(Into::into)
}

/// One GRU layer-direction; returns the output sequence (T, B, H).
#[pyfunction]
#[pyo3(signature = (input, h0, weight_ih, weight_hh, bias_ih, bias_hh, reverse))]
#[allow(clippy::too_many_arguments)]
fn gru_layer(
    py: Python<'_>,
    input: &PyTensor,
    h0: &PyTensor,
    weight_ih: &PyTensor,
    weight_hh: &PyTensor,
    bias_ih: Option<&PyTensor>,
    bias_hh: Option<&PyTensor>,
    reverse: bool,
) -> PyResult<PyTensor> {
    let (x, h, wi, wh) = (input.t.clone(), h0.t.clone(), weight_ih.t.clone(), weight_hh.t.clone());
    let (bi, bh) = (bias_ih.map(|b| b.t.clone()), bias_hh.map(|b| b.t.clone()));
    let work = x.numel().saturating_mul(wi.shape.first().copied().unwrap_or(1));
    run(py, work, move || ops::gru_layer(&x, &h, &wi, &wh, bi.as_ref(), bh.as_ref(), reverse)).map(Into::into)
}

/// One Elman RNN layer-direction (tanh, or relu); returns the output sequence (T, B, H).
#[pyfunction]
#[pyo3(signature = (input, h0, weight_ih, weight_hh, bias_ih, bias_hh, reverse, relu))]
#[allow(clippy::too_many_arguments)]
fn rnn_layer(
    py: Python<'_>,
    input: &PyTensor,
    h0: &PyTensor,
    weight_ih: &PyTensor,
    weight_hh: &PyTensor,
    bias_ih: Option<&PyTensor>,
    bias_hh: Option<&PyTensor>,
    reverse: bool,
    relu: bool,
) -> PyResult<PyTensor> {
    let (x, h, wi, wh) = (input.t.clone(), h0.t.clone(), weight_ih.t.clone(), weight_hh.t.clone());
    let (bi, bh) = (bias_ih.map(|b| b.t.clone()), bias_hh.map(|b| b.t.clone()));
    let work = x.numel().saturating_mul(wi.shape.first().copied().unwrap_or(1));
    run(py, work, move || ops::rnn_layer(&x, &h, &wi, &wh, bi.as_ref(), bh.as_ref(), reverse, relu)).map(Into::into)
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(lstm_layer, m)?)?;
    m.add_function(wrap_pyfunction!(gru_layer, m)?)?;
    m.add_function(wrap_pyfunction!(rnn_layer, m)?)?;
    Ok(())
}
