//! Module-level functions of `dlcore._core`: creation, joins, grad mode,
//! threads, fused nn functions and custom autograd nodes.

use crate::convert::{array_to_tensor, check_device, opt_dtype, parse_shape, to_sizes};
use crate::errors::IntoPy;
use crate::tensor::{run, PyTensor};
use dlcore_core::{autograd, ops, DType, Tensor};
use numpy::PyUntypedArray;
use pyo3::exceptions::PyRuntimeError;
use pyo3::prelude::*;
use pyo3::types::PyTuple;

fn finish(t: Tensor, requires_grad: bool) -> PyResult<PyTensor> {
    if requires_grad {
        t.set_requires_grad(true).py()?;
    }
    Ok(t.into())
}

/// Shared argument handling of zeros/ones/empty/rand/randn.
fn sized(
    size: &Bound<'_, PyTuple>,
    dtype: Option<&Bound<'_, PyAny>>,
    device: Option<&Bound<'_, PyAny>>,
    op: &str,
) -> PyResult<(Vec<usize>, DType)> {
    check_device(device)?;
    Ok((to_sizes(&parse_shape(size)?, op)?, opt_dtype(dtype)?.unwrap_or(DType::F32)))
}

#[pyfunction]
#[pyo3(signature = (*size, dtype=None, device=None, requires_grad=false))]
fn zeros(size: &Bound<'_, PyTuple>, dtype: Option<&Bound<'_, PyAny>>, device: Option<&Bound<'_, PyAny>>, requires_grad: bool) -> PyResult<PyTensor> {
    let (s, d) = sized(size, dtype, device, "zeros")?;
    finish(Tensor::zeros(&s, d), requires_grad)
}

#[pyfunction]
#[pyo3(signature = (*size, dtype=None, device=None, requires_grad=false))]
fn ones(size: &Bound<'_, PyTuple>, dtype: Option<&Bound<'_, PyAny>>, device: Option<&Bound<'_, PyAny>>, requires_grad: bool) -> PyResult<PyTensor> {
    let (s, d) = sized(size, dtype, device, "ones")?;
    finish(Tensor::full(&s, 1.0, d), requires_grad)
}

/// Uninitialised in torch; zeros here (safe Rust never hands out
/// uninitialised memory, and zeroing is cheap next to any real use).
#[pyfunction]
#[pyo3(signature = (*size, dtype=None, device=None, requires_grad=false))]
fn empty(size: &Bound<'_, PyTuple>, dtype: Option<&Bound<'_, PyAny>>, device: Option<&Bound<'_, PyAny>>, requires_grad: bool) -> PyResult<PyTensor> {
    zeros(size, dtype, device, requires_grad)
}

#[pyfunction]
#[pyo3(signature = (size, fill_value, *, dtype=None, device=None, requires_grad=false))]
fn full(size: &Bound<'_, PyAny>, fill_value: &Bound<'_, PyAny>, dtype: Option<&Bound<'_, PyAny>>, device: Option<&Bound<'_, PyAny>>, requires_grad: bool) -> PyResult<PyTensor> {
    check_device(device)?;
    let s = to_sizes(&size.extract::<Vec<i64>>()?, "full")?;
    let (v, inferred) = if let Ok(b) = fill_value.extract::<bool>().map_err(|_| ()).and_then(|b| if fill_value.is_instance_of::<pyo3::types::PyBool>() { Ok(b) } else { Err(()) }) {
        (b as i64 as f64, DType::Bool)
    } else if fill_value.is_instance_of::<pyo3::types::PyInt>() {
        (fill_value.extract::<i64>()? as f64, DType::I64)
    } else {
        (fill_value.extract::<f64>()?, DType::F32)
    };
    let d = opt_dtype(dtype)?.unwrap_or(inferred);
    finish(Tensor::full(&s, v, d), requires_grad)
}

#[pyfunction]
#[pyo3(signature = (*size, dtype=None, device=None, requires_grad=false, generator=None))]
fn rand(size: &Bound<'_, PyTuple>, dtype: Option<&Bound<'_, PyAny>>, device: Option<&Bound<'_, PyAny>>, requires_grad: bool, generator: Option<&Bound<'_, PyAny>>) -> PyResult<PyTensor> {
    let _ = generator;
    let (s, d) = sized(size, dtype, device, "rand")?;
    finish(ops::rand(&s, d).py()?, requires_grad)
}

#[pyfunction]
#[pyo3(signature = (*size, dtype=None, device=None, requires_grad=false, generator=None))]
fn randn(size: &Bound<'_, PyTuple>, dtype: Option<&Bound<'_, PyAny>>, device: Option<&Bound<'_, PyAny>>, requires_grad: bool, generator: Option<&Bound<'_, PyAny>>) -> PyResult<PyTensor> {
    let _ = generator;
    let (s, d) = sized(size, dtype, device, "randn")?;
    finish(ops::randn(&s, d).py()?, requires_grad)
}

/// randint(high, size) or randint(low, high, size), as torch.
#[pyfunction]
#[pyo3(signature = (*args, dtype=None, device=None, requires_grad=false, generator=None))]
fn randint(args: &Bound<'_, PyTuple>, dtype: Option<&Bound<'_, PyAny>>, device: Option<&Bound<'_, PyAny>>, requires_grad: bool, generator: Option<&Bound<'_, PyAny>>) -> PyResult<PyTensor> {
    let _ = generator;
    check_device(device)?;
    let (low, high, size) = match args.len() {
        2 => (0, args.get_item(0)?.extract::<i64>()?, args.get_item(1)?),
        3 => (args.get_item(0)?.extract::<i64>()?, args.get_item(1)?.extract::<i64>()?, args.get_item(2)?),
        n => return Err(pyo3::exceptions::PyTypeError::new_err(format!("randint() takes 2 or 3 positional arguments ({n} given)"))),
    };
    let s = to_sizes(&size.extract::<Vec<i64>>()?, "randint")?;
    let d = opt_dtype(dtype)?.unwrap_or(DType::I64);
    finish(ops::randint(low, high, &s, d).py()?, requires_grad)
}

#[pyfunction]
#[pyo3(signature = (n, *, dtype=None, device=None, requires_grad=false, generator=None))]
fn randperm(n: i64, dtype: Option<&Bound<'_, PyAny>>, device: Option<&Bound<'_, PyAny>>, requires_grad: bool, generator: Option<&Bound<'_, PyAny>>) -> PyResult<PyTensor> {
    let _ = generator;
    check_device(device)?;
    let s = to_sizes(&[n], "randperm")?;
    let d = opt_dtype(dtype)?.unwrap_or(DType::I64);
    finish(ops::randperm(s[0], d).py()?, requires_grad)
}

#[pyfunction]
#[pyo3(signature = (start, end=None, step=None, *, dtype=None, device=None, requires_grad=false))]
fn arange(start: &Bound<'_, PyAny>, end: Option<&Bound<'_, PyAny>>, step: Option<&Bound<'_, PyAny>>, dtype: Option<&Bound<'_, PyAny>>, device: Option<&Bound<'_, PyAny>>, requires_grad: bool) -> PyResult<PyTensor> {
    check_device(device)?;
    let is_float = |o: &Bound<'_, PyAny>| o.is_instance_of::<pyo3::types::PyFloat>();
    let any_float = is_float(start) || end.is_some_and(is_float) || step.is_some_and(is_float);
    let (s, e) = match end {
        Some(e) if !e.is_none() => (start.extract::<f64>()?, e.extract::<f64>()?),
        _ => (0.0, start.extract::<f64>()?),
    };
    let st = step.map(|s| s.extract::<f64>()).transpose()?.unwrap_or(1.0);
    let d = opt_dtype(dtype)?.unwrap_or(if any_float { DType::F32 } else { DType::I64 });
    finish(ops::arange(s, e, st, d).py()?, requires_grad)
}

#[pyfunction]
#[pyo3(signature = (start, end, steps, *, dtype=None, device=None, requires_grad=false))]
fn linspace(start: f64, end: f64, steps: i64, dtype: Option<&Bound<'_, PyAny>>, device: Option<&Bound<'_, PyAny>>, requires_grad: bool) -> PyResult<PyTensor> {
    check_device(device)?;
    if steps < 0 {
        return Err(PyRuntimeError::new_err("linspace: number of steps must be non-negative"));
    }
    let d = opt_dtype(dtype)?.unwrap_or(DType::F32);
    finish(ops::linspace(start, end, steps as usize, d), requires_grad)
}

#[pyfunction]
#[pyo3(signature = (n, m=None, *, dtype=None, device=None, requires_grad=false))]
fn eye(n: i64, m: Option<i64>, dtype: Option<&Bound<'_, PyAny>>, device: Option<&Bound<'_, PyAny>>, requires_grad: bool) -> PyResult<PyTensor> {
    check_device(device)?;
    let s = to_sizes(&[n, m.unwrap_or(n)], "eye")?;
    let d = opt_dtype(dtype)?.unwrap_or(DType::F32);
    finish(ops::eye(s[0], s[1], d), requires_grad)
}

/// Shares the array's memory (zero-copy), as torch.from_numpy.
#[pyfunction]
fn from_numpy(a: &Bound<'_, PyAny>) -> PyResult<PyTensor> {
    let arr = a.cast::<PyUntypedArray>().map_err(|_| {
        pyo3::exceptions::PyTypeError::new_err(format!("from_numpy: expected np.ndarray (got {})", a.get_type().name().map(|n| n.to_string()).unwrap_or_default()))
    })?;
    Ok(array_to_tensor(arr, false)?.into())
}

/// A copy of a NumPy array as a tensor of `dtype` (used by `dlcore.tensor`).
#[pyfunction]
#[pyo3(signature = (a, dtype=None, requires_grad=false))]
fn from_array_copy(a: &Bound<'_, PyUntypedArray>, dtype: Option<&Bound<'_, PyAny>>, requires_grad: bool) -> PyResult<PyTensor> {
    let mut t = array_to_tensor(a, true)?;
    if let Some(d) = opt_dtype(dtype)? {
        t = ops::to_dtype(&t, d).py()?;
    }
    finish(t, requires_grad)
}

#[pyfunction]
fn manual_seed(seed: i64) {
    dlcore_core::rng::manual_seed(seed as u64);
}

/// The global generator's state as (seed, steps); see `set_rng_state`.
#[pyfunction]
fn get_rng_state() -> (u64, u128) {
    dlcore_core::rng::get_state()
}

#[pyfunction]
fn set_rng_state(seed: u64, steps: u128) {
    dlcore_core::rng::set_state(seed, steps)
}

#[pyfunction]
fn set_num_threads(n: i64) -> PyResult<()> {
    if n <= 0 {
        return Err(pyo3::exceptions::PyValueError::new_err(format!("set_num_threads: expected a positive number of threads, got {n}")));
    }
    dlcore_core::cpu::set_num_threads(n as usize).py()
}

#[pyfunction]
fn get_num_threads() -> usize {
    dlcore_core::cpu::num_threads()
}

#[pyfunction]
fn simd_level() -> &'static str {
    dlcore_core::cpu::simd::level().name()
}

#[pyfunction]
fn is_grad_enabled() -> bool {
    autograd::is_grad_enabled()
}

/// Sets grad mode and returns the previous one (the context managers use it).
#[pyfunction]
fn set_grad_enabled(flag: bool) -> bool {
    autograd::set_grad_enabled(flag)
}

pub(crate) fn tensors(list: &Bound<'_, PyAny>) -> PyResult<Vec<Tensor>> {
    list.try_iter()?.map(|o| Ok(o?.cast::<PyTensor>()?.get().t.clone())).collect()
}

#[pyfunction]
#[pyo3(signature = (tensors_, dim=0))]
fn cat(tensors_: &Bound<'_, PyAny>, dim: i64) -> PyResult<PyTensor> {
    ops::cat(&tensors(tensors_)?, dim).py().map(Into::into)
}

#[pyfunction]
#[pyo3(signature = (tensors_, dim=0))]
fn stack(tensors_: &Bound<'_, PyAny>, dim: i64) -> PyResult<PyTensor> {
    ops::stack(&tensors(tensors_)?, dim).py().map(Into::into)
}

#[pyfunction]
#[pyo3(name = "where")]
fn where_(cond: &PyTensor, a: &Bound<'_, PyAny>, b: &Bound<'_, PyAny>) -> PyResult<PyTensor> {
    let like = if let Ok(t) = a.cast::<PyTensor>() { t.get().t.dtype } else if let Ok(t) = b.cast::<PyTensor>() { t.get().t.dtype } else { DType::F32 };
    let conv = |o: &Bound<'_, PyAny>| -> PyResult<Tensor> {
        crate::convert::operand(o, like)?.ok_or_else(|| pyo3::exceptions::PyTypeError::new_err("where(): expected Tensor or Number"))
    };
    ops::where_(&cond.t, &conv(a)?, &conv(b)?).py().map(Into::into)
}

#[pyfunction]
#[pyo3(signature = (input, weight, bias=None))]
fn linear(py: Python<'_>, input: &PyTensor, weight: &PyTensor, bias: Option<&PyTensor>) -> PyResult<PyTensor> {
    let (x, w, b) = (input.t.clone(), weight.t.clone(), bias.map(|b| b.t.clone()));
    let work = x.numel() * w.shape.first().copied().unwrap_or(1);
    run(py, work, move || ops::linear(&x, &w, b.as_ref())).map(Into::into)
}

/// Dropout in training mode (the Python layer returns the input unchanged in
/// eval mode). `channel_dims`: None for element-wise, k to drop whole
/// channels of the first k dims.
#[pyfunction]
#[pyo3(signature = (input, p, channel_dims=None))]
fn dropout(py: Python<'_>, input: &PyTensor, p: f64, channel_dims: Option<usize>) -> PyResult<PyTensor> {
    let x = input.t.clone();
    run(py, x.numel(), move || ops::dropout(&x, p, channel_dims)).map(Into::into)
}

#[pyfunction]
#[pyo3(signature = (input, target, reduction="mean", ignore_index=-100))]
fn cross_entropy(py: Python<'_>, input: &PyTensor, target: &PyTensor, reduction: &str, ignore_index: i64) -> PyResult<PyTensor> {
    let r = ops::Reduction::parse(reduction).py()?;
    let (x, t) = (input.t.clone(), target.t.clone());
    run(py, x.numel(), move || ops::cross_entropy(&x, &t, r, ignore_index)).map(Into::into)
}

/// Fused `F.mse_loss` for same-shape, same-dtype float input and target.
#[pyfunction]
#[pyo3(signature = (input, target, reduction="mean"))]
fn mse_loss(py: Python<'_>, input: &PyTensor, target: &PyTensor, reduction: &str) -> PyResult<PyTensor> {
    let r = ops::Reduction::parse(reduction).py()?;
    let (x, t) = (input.t.clone(), target.t.clone());
    run(py, x.numel(), move || ops::mse_loss(&x, &t, r)).map(Into::into)
}

/// `dlcore.autograd.grad`.
#[pyfunction]
#[pyo3(signature = (outputs, inputs, grad_outputs=None, retain_graph=None, create_graph=false, allow_unused=false))]
fn autograd_grad<'py>(
    py: Python<'py>,
    outputs: &Bound<'py, PyAny>,
    inputs: &Bound<'py, PyAny>,
    grad_outputs: Option<&Bound<'py, PyAny>>,
    retain_graph: Option<bool>,
    create_graph: bool,
    allow_unused: bool,
) -> PyResult<Bound<'py, PyTuple>> {
    let outs = tensors(outputs)?;
    let ins = tensors(inputs)?;
    let gouts: Vec<Option<Tensor>> = match grad_outputs {
        Some(g) if !g.is_none() => g
            .try_iter()?
            .map(|o| {
                let o = o?;
                if o.is_none() { Ok(None) } else { Ok(Some(o.cast::<PyTensor>()?.get().t.clone())) }
            })
            .collect::<PyResult<_>>()?,
        _ => vec![None; outs.len()],
    };
    let retain = retain_graph.unwrap_or(create_graph);
    let r = py.detach(move || autograd::grad(&outs, &ins, gouts, retain, create_graph, allow_unused)).py()?;
    PyTuple::new(py, r.into_iter().map(|g| g.map(PyTensor::from)))
}

fn call_backward(backward: &Py<PyAny>, grads: Vec<Tensor>, n: usize, fname: &str) -> dlcore_core::Result<Vec<Option<Tensor>>> {
    Python::attach(|py| -> PyResult<Vec<Option<Tensor>>> {
        let args = PyTuple::new(py, grads.into_iter().map(PyTensor::from))?;
        let r = backward.call1(py, args)?;
        let items: Vec<Bound<'_, PyAny>> = r.bind(py).try_iter()?.collect::<PyResult<_>>()?;
        if items.len() != n {
            return Err(PyRuntimeError::new_err(format!(
                "function {fname}Backward returned an incorrect number of gradients (expected {n}, got {})",
                items.len()
            )));
        }
        items
            .into_iter()
            .map(|o| if o.is_none() { Ok(None) } else { Ok(Some(o.cast::<PyTensor>()?.get().t.clone())) })
            .collect()
    })
    .map_err(|e| dlcore_core::Error::runtime(e.to_string()))
}

/// Attaches a Python backward to the outputs of a `dlcore.autograd.Function`:
/// returns tensors sharing the outputs' memory whose gradients flow to
/// `inputs` through `backward(*grads) -> sequence of (Tensor | None)`.
///
/// Nodes have one output, so k > 1 outputs meet in a hub node whose
/// "output" is all of them flattened end to end: each output's node writes
/// its gradient into its own segment, the engine sums the segments, and the
/// hub calls `backward` once with every output's gradient (zeros for unused
/// outputs, as torch's materialize_grads).
#[pyfunction]
fn attach_function<'py>(
    py: Python<'py>,
    outputs: &Bound<'py, PyAny>,
    inputs: &Bound<'py, PyAny>,
    backward: Py<PyAny>,
    name: String,
) -> PyResult<Bound<'py, PyTuple>> {
    let outs = tensors(outputs)?;
    let ins = tensors(inputs)?;
    let n = ins.len();
    let refs: Vec<&Tensor> = ins.iter().collect();
    if !autograd::needs_grad(&refs) {
        return PyTuple::new(py, outs.iter().map(|o| PyTensor::from(o.detach())));
    }
    for (i, o) in outs.iter().enumerate() {
        if !o.dtype.is_float() {
            return Err(PyRuntimeError::new_err(format!("{name}: output {i} is not floating point and cannot have a gradient")));
        }
    }
    if outs.len() == 1 {
        let fname = name.clone();
        let back = move |g: &Tensor| call_backward(&backward, vec![g.clone()], n, &fname);
        let out = autograd::record(outs[0].detach(), name, &refs, &[], Box::new(back));
        return PyTuple::new(py, [PyTensor::from(out)]);
    }
    let shapes: Vec<(Vec<usize>, DType)> = outs.iter().map(|o| (o.shape.clone(), o.dtype)).collect();
    let sizes: Vec<usize> = outs.iter().map(|o| o.numel()).collect();
    let total: usize = sizes.iter().sum();
    let dt = outs[0].dtype;
    let fname = name.clone();
    let hub_back = move |g: &Tensor| {
        let mut grads = Vec::with_capacity(shapes.len());
        let mut start = 0i64;
        for (shape, d) in &shapes {
            let len: usize = shape.iter().product();
            let seg = ops::narrow(g, 0, start, len)?;
            let seg = ops::to_dtype(&ops::reshape(&seg, &shape.iter().map(|&s| s as i64).collect::<Vec<_>>())?, *d)?;
            grads.push(seg);
            start += len as i64;
        }
        call_backward(&backward, grads, n, &fname)
    };
    let hub = autograd::record(Tensor::zeros(&[total], dt), name.clone(), &refs, &[], Box::new(hub_back));
    let mut start = 0usize;
    let mut results = Vec::with_capacity(outs.len());
    for (o, &len) in outs.iter().zip(&sizes) {
        let (s0, odt) = (start, dt);
        let back = move |g: &Tensor| -> dlcore_core::Result<Vec<Option<Tensor>>> {
            let packed = Tensor::zeros(&[total], odt);
            let seg = ops::narrow(&packed, 0, s0 as i64, len)?;
            ops::copy_(&seg, &ops::reshape(g, &[-1])?)?;
            Ok(vec![Some(packed)])
        };
        results.push(PyTensor::from(autograd::record(o.detach(), format!("{name}Output"), &[&hub], &[], Box::new(back))));
        start += len;
    }
    PyTuple::new(py, results)
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(zeros, m)?)?;
    m.add_function(wrap_pyfunction!(ones, m)?)?;
    m.add_function(wrap_pyfunction!(empty, m)?)?;
    m.add_function(wrap_pyfunction!(full, m)?)?;
    m.add_function(wrap_pyfunction!(rand, m)?)?;
    m.add_function(wrap_pyfunction!(randn, m)?)?;
    m.add_function(wrap_pyfunction!(randint, m)?)?;
    m.add_function(wrap_pyfunction!(arange, m)?)?;
    m.add_function(wrap_pyfunction!(randperm, m)?)?;
    m.add_function(wrap_pyfunction!(linspace, m)?)?;
    m.add_function(wrap_pyfunction!(eye, m)?)?;
    m.add_function(wrap_pyfunction!(from_numpy, m)?)?;
    m.add_function(wrap_pyfunction!(from_array_copy, m)?)?;
    m.add_function(wrap_pyfunction!(manual_seed, m)?)?;
    m.add_function(wrap_pyfunction!(get_rng_state, m)?)?;
    m.add_function(wrap_pyfunction!(set_rng_state, m)?)?;
    m.add_function(wrap_pyfunction!(set_num_threads, m)?)?;
    m.add_function(wrap_pyfunction!(get_num_threads, m)?)?;
    m.add_function(wrap_pyfunction!(simd_level, m)?)?;
    m.add_function(wrap_pyfunction!(is_grad_enabled, m)?)?;
    m.add_function(wrap_pyfunction!(set_grad_enabled, m)?)?;
    m.add_function(wrap_pyfunction!(cat, m)?)?;
    m.add_function(wrap_pyfunction!(stack, m)?)?;
    m.add_function(wrap_pyfunction!(where_, m)?)?;
    m.add_function(wrap_pyfunction!(linear, m)?)?;
    m.add_function(wrap_pyfunction!(cross_entropy, m)?)?;
    m.add_function(wrap_pyfunction!(mse_loss, m)?)?;
    m.add_function(wrap_pyfunction!(dropout, m)?)?;
    m.add_function(wrap_pyfunction!(autograd_grad, m)?)?;
    m.add_function(wrap_pyfunction!(attach_function, m)?)?;
    Ok(())
}
