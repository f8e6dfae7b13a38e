//! Bindings for convolution (the Python layer resolves int/tuple/'same').

use crate::tensor::{run, PyTensor};
use dlcore_core::ops::{self, ConvSpec};
use pyo3::prelude::*;

fn spec(stride: [usize; 2], pad_begin: [usize; 2], pad_end: [usize; 2], dilation: [usize; 2], groups: usize) -> ConvSpec {
    ConvSpec { stride, pad_begin, pad_end, dilation, groups }
}

#[pyfunction]
#[pyo3(signature = (input, weight, bias, stride, pad_begin, pad_end, dilation, groups))]
#[allow(clippy::too_many_arguments)]
fn conv2d(
    py: Python<'_>,
    input: &PyTensor,
    weight: &PyTensor,
    bias: Option<&PyTensor>,
    stride: [usize; 2],
    pad_begin: [usize; 2],
    pad_end: [usize; 2],
    dilation: [usize; 2],
    groups: usize,
) -> PyResult<PyTensor> {
    let (x, w, b) = (input.t.clone(), weight.t.clone(), bias.map(|b| b.t.clone()));
    let s = spec(stride, pad_begin, pad_end, dilation, groups);
    let work = x.numel() * w.numel() / w.shape.first().copied().unwrap_or(1).max(1);
    run(py, work, move || ops::conv2d(&x, &w, b.as_ref(), s)).map(Into::into)
}

#[pyfunction]
#[pyo3(signature = (input, weight, bias, stride, padding, output_padding, dilation, groups))]
#[allow(clippy::too_many_arguments)]
fn conv_transpose2d(
    py: Python<'_>,
    input: &PyTensor,
    weight: &PyTensor,
    bias: Option<&PyTensor>,
    stride: [usize; 2],
    padding: [usize; 2],
    output_padding: [usize; 2],
    dilation: [usize; 2],
    groups: usize,
) -> PyResult<PyTensor> {
    let (x, w, b) = (input.t.clone(), weight.t.clone(), bias.map(|b| b.t.clone()));
    let s = spec(stride, padding, padding, dilation, groups);
    let work = x.numel() * w.numel() / w.shape.first().copied().unwrap_or(1).max(1);
    run(py, work, move || ops::conv_transpose2d(&x, &w, b.as_ref(), s, output_padding)).map(Into::into)
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(conv2d, m)?)?;
    m.add_function(wrap_pyfunction!(conv_transpose2d, m)?)?;
    Ok(())
}
