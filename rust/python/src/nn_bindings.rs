//! Bindings of the CNN layer ops (issue 4): pooling, batch norm,
//! activations, interpolation. Argument normalisation (ints vs tuples,
//! defaults) happens in Python; this converts, releases the GIL and maps errors.

use crate::tensor::{run, PyTensor};
use dlcore_core::cpu::activation::{Act, Surrogate};
use dlcore_core::ops::{activation as act_ops, interp, norm, pool};
use dlcore_core::Tensor;
use pyo3::exceptions::{PyRuntimeError, PyValueError};
use pyo3::prelude::*;

/// A (h, w) pair of non-negative sizes, or a RuntimeError naming the op.
fn pair(op: &str, what: &str, v: &[i64]) -> PyResult<[usize; 2]> {
    if v.len() != 2 {
        return Err(PyValueError::new_err(format!(
            "{op}: {what} must be a pair (h, w), got {v:?}"
        )));
    }
    if v.iter().any(|&x| x < 0) {
        return Err(PyRuntimeError::new_err(format!(
            "{op}: {what} must be non-negative, got {v:?}"
        )));
    }
    Ok([v[0] as usize, v[1] as usize])
}

#[pyfunction]
#[pyo3(signature = (input, kernel_size, stride, padding, dilation, ceil_mode=false))]
fn max_pool2d(
    py: Python<'_>,
    input: &PyTensor,
    kernel_size: Vec<i64>,
    stride: Vec<i64>,
    padding: Vec<i64>,
    dilation: Vec<i64>,
    ceil_mode: bool,
) -> PyResult<(PyTensor, PyTensor)> {
    let op = "max_pool2d";
    let c = pool::Pool2d {
        kernel: pair(op, "kernel_size", &kernel_size)?,
        stride: pair(op, "stride", &stride)?,
        padding: pair(op, "padding", &padding)?,
        dilation: pair(op, "dilation", &dilation)?,
        ceil_mode,
    };
    let x = input.t.clone();
    let (o, i) = run(py, x.numel(), move || pool::max_pool2d(&x, &c))?;
    Ok((o.into(), i.into()))
}

#[pyfunction]
#[pyo3(signature = (input, kernel_size, stride, padding, ceil_mode=false, count_include_pad=true, divisor_override=None))]
#[allow(clippy::too_many_arguments)]
fn avg_pool2d(
    py: Python<'_>,
    input: &PyTensor,
    kernel_size: Vec<i64>,
    stride: Vec<i64>,
    padding: Vec<i64>,
    ceil_mode: bool,
    count_include_pad: bool,
    divisor_override: Option<i64>,
) -> PyResult<PyTensor> {
    let op = "avg_pool2d";
    let c = pool::Pool2d {
        kernel: pair(op, "kernel_size", &kernel_size)?,
        stride: pair(op, "stride", &stride)?,
        padding: pair(op, "padding", &padding)?,
        dilation: [1, 1],
        ceil_mode,
    };
    let x = input.t.clone();
    run(py, x.numel(), move || {
        pool::avg_pool2d(&x, &c, count_include_pad, divisor_override)
    })
    .map(Into::into)
}

#[pyfunction]
fn adaptive_avg_pool2d(
    py: Python<'_>,
    input: &PyTensor,
    output_size: Vec<i64>,
) -> PyResult<PyTensor> {
    let s = pair("adaptive_avg_pool2d", "output_size", &output_size)?;
    let x = input.t.clone();
    run(py, x.numel(), move || pool::adaptive_avg_pool2d(&x, s)).map(Into::into)
}

#[pyfunction]
fn adaptive_max_pool2d(
    py: Python<'_>,
    input: &PyTensor,
    output_size: Vec<i64>,
) -> PyResult<(PyTensor, PyTensor)> {
    let s = pair("adaptive_max_pool2d", "output_size", &output_size)?;
    let x = input.t.clone();
    let (o, i) = run(py, x.numel(), move || pool::adaptive_max_pool2d(&x, s))?;
    Ok((o.into(), i.into()))
}

#[pyfunction]
fn max_unpool2d(
    py: Python<'_>,
    input: &PyTensor,
    indices: &PyTensor,
    output_size: Vec<i64>,
) -> PyResult<PyTensor> {
    let s = pair("max_unpool2d", "output_size", &output_size)?;
    let (x, i) = (input.t.clone(), indices.t.clone());
    run(py, x.numel(), move || pool::max_unpool2d(&x, &i, s)).map(Into::into)
}

#[pyfunction]
#[pyo3(signature = (input, running_mean, running_var, weight, bias, training, momentum, eps, relu=false))]
#[allow(clippy::too_many_arguments)]
fn batch_norm(
    py: Python<'_>,
    input: &PyTensor,
    running_mean: Option<&PyTensor>,
    running_var: Option<&PyTensor>,
    weight: Option<&PyTensor>,
    bias: Option<&PyTensor>,
    training: bool,
    momentum: f64,
    eps: f64,
    relu: bool,
) -> PyResult<PyTensor> {
    let t = |o: Option<&PyTensor>| o.map(|p| p.t.clone());
    let (x, rm, rv, w, b) = (
        input.t.clone(),
        t(running_mean),
        t(running_var),
        t(weight),
        t(bias),
    );
    run(py, x.numel(), move || {
        let args = norm::BatchNormArgs {
            weight: w.as_ref(),
            bias: b.as_ref(),
            running_mean: rm.as_ref(),
            running_var: rv.as_ref(),
            training,
            momentum,
            eps,
            relu,
        };
        norm::batch_norm(&x, &args)
    })
    .map(Into::into)
}

fn parse_act(kind: &str, a: f64, b: f64, c: f64) -> PyResult<Act> {
    Ok(match kind {
        "leaky_relu" => Act::LeakyRelu(a),
        "elu" => Act::Elu {
            alpha: a,
            scale: b,
            input_scale: c,
        },
        "gelu" => Act::Gelu,
        "gelu_tanh" => Act::GeluTanh,
        "silu" => Act::Silu,
        "softplus" => Act::Softplus {
            beta: a,
            threshold: b,
        },
        "hardtanh" => Act::Hardtanh { lo: a, hi: b },
        "logsigmoid" => Act::LogSigmoid,
        "mish" => Act::Mish,
        "step_sigmoid" => Act::Step(Surrogate::Sigmoid(a)),
        "step_ste" => Act::Step(Surrogate::StraightThrough),
        _ => {
            return Err(PyValueError::new_err(format!(
                "activation: unknown kind '{kind}'"
            )))
        }
    })
}

/// One element-wise activation; `a, b, c` are its parameters (see parse_act).
#[pyfunction]
#[pyo3(signature = (input, kind, a=0.0, b=0.0, c=0.0))]
fn activation(
    py: Python<'_>,
    input: &PyTensor,
    kind: &str,
    a: f64,
    b: f64,
    c: f64,
) -> PyResult<PyTensor> {
    let act = parse_act(kind, a, b, c)?;
    let x = input.t.clone();
    run(py, x.numel(), move || act_ops::activation(&x, act)).map(Into::into)
}

#[pyfunction]
fn prelu(py: Python<'_>, input: &PyTensor, weight: &PyTensor) -> PyResult<PyTensor> {
    let (x, w) = (input.t.clone(), weight.t.clone());
    run(py, x.numel(), move || act_ops::prelu(&x, &w)).map(Into::into)
}

#[pyfunction]
fn interpolate(
    py: Python<'_>,
    input: &PyTensor,
    size: Vec<i64>,
    mode: &str,
    align_corners: bool,
    scales: Vec<Option<f64>>,
) -> PyResult<PyTensor> {
    if size.iter().any(|&s| s < 0) {
        return Err(PyRuntimeError::new_err(format!(
            "interpolate: output size must be non-negative, got {size:?}"
        )));
    }
    let size: Vec<usize> = size.iter().map(|&s| s as usize).collect();
    let (x, mode) = (input.t.clone(), mode.to_string());
    let work = x.numel().max(size.iter().product::<usize>());
    run(py, work, move || -> dlcore_core::Result<Tensor> {
        interp::interpolate(&x, &size, &mode, align_corners, &scales)
    })
    .map(Into::into)
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(max_pool2d, m)?)?;
    m.add_function(wrap_pyfunction!(avg_pool2d, m)?)?;
    m.add_function(wrap_pyfunction!(adaptive_avg_pool2d, m)?)?;
    m.add_function(wrap_pyfunction!(adaptive_max_pool2d, m)?)?;
    m.add_function(wrap_pyfunction!(max_unpool2d, m)?)?;
    m.add_function(wrap_pyfunction!(batch_norm, m)?)?;
    m.add_function(wrap_pyfunction!(activation, m)?)?;
    m.add_function(wrap_pyfunction!(prelu, m)?)?;
    m.add_function(wrap_pyfunction!(interpolate, m)?)?;
    Ok(())
}
