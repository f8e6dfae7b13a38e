//! Python values → core values: dtypes, devices, shapes, scalars, NumPy arrays.

use crate::errors::IntoPy;
use crate::tensor::PyTensor;
use dlcore_core::tensor::{CpuBuffer, Storage};
use dlcore_core::{DType, Tensor};
use numpy::{PyArrayDescrMethods, PyUntypedArray, PyUntypedArrayMethods};
use pyo3::exceptions::{PyRuntimeError, PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyBool, PyFloat, PyInt, PyString, PyTuple, PyType};
use std::sync::Arc;

/// A dtype as Python sees it: `dlcore.float32` etc.
#[pyclass(name = "dtype", module = "dlcore", frozen, eq, hash, skip_from_py_object)]
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct PyDType {
    pub d: DType,
}

#[pymethods]
impl PyDType {
    fn __repr__(&self) -> String {
        format!("dlcore.{}", self.d.name())
    }
    #[getter]
    fn is_floating_point(&self) -> bool {
        self.d.is_float()
    }
    #[getter]
    fn itemsize(&self) -> usize {
        self.d.size()
    }
    /// The NumPy dtype name (used by `numpy.dtype(...)` conversions).
    #[getter]
    fn name(&self) -> &'static str {
        self.d.name()
    }
}

/// The one Python object per dtype, so `t.dtype is dlcore.float32` holds.
pub fn dtype_object(py: Python<'_>, d: DType) -> PyResult<Bound<'_, PyDType>> {
    static OBJECTS: pyo3::sync::PyOnceLock<[Py<PyDType>; 4]> = pyo3::sync::PyOnceLock::new();
    let objs = OBJECTS.get_or_try_init(py, || -> PyResult<_> {
        Ok([
            Py::new(py, PyDType { d: DType::Bool })?,
            Py::new(py, PyDType { d: DType::I64 })?,
            Py::new(py, PyDType { d: DType::F32 })?,
            Py::new(py, PyDType { d: DType::F64 })?,
        ])
    })?;
    let i = match d {
        DType::Bool => 0,
        DType::I64 => 1,
        DType::F32 => 2,
        DType::F64 => 3,
    };
    Ok(objs[i].bind(py).clone())
}

/// `dlcore.device("cpu")`.
#[pyclass(name = "device", module = "dlcore", frozen, skip_from_py_object)]
#[derive(Clone)]
pub struct PyDevice {
    #[pyo3(get)]
    pub r#type: String,
    #[pyo3(get)]
    pub index: Option<i64>,
}

#[pymethods]
impl PyDevice {
    #[new]
    #[pyo3(signature = (spec, index=None))]
    fn new(spec: &str, index: Option<i64>) -> PyResult<Self> {
        let (kind, idx) = match spec.split_once(':') {
            Some((k, i)) => (k, Some(i.parse::<i64>().map_err(|_| PyRuntimeError::new_err(format!("Invalid device string: '{spec}'")))?)),
            None => (spec, index),
        };
        if kind != "cpu" && kind != "cuda" {
            return Err(PyRuntimeError::new_err(format!(
                "Expected one of cpu, cuda device type at start of device string: {spec}"
            )));
        }
        Ok(PyDevice { r#type: kind.to_string(), index: idx })
    }
    fn __repr__(&self) -> String {
        match self.index {
            Some(i) => format!("device(type='{}', index={i})", self.r#type),
            None => format!("device(type='{}')", self.r#type),
        }
    }
    fn __str__(&self) -> String {
        match self.index {
            Some(i) => format!("{}:{i}", self.r#type),
            None => self.r#type.clone(),
        }
    }
    fn __eq__(&self, other: &Bound<'_, PyAny>) -> bool {
        if let Ok(d) = other.cast::<PyDevice>() {
            let d = d.get();
            return d.r#type == self.r#type && d.index == self.index;
        }
        other.extract::<String>().is_ok_and(|s| s == self.__str__())
    }
    fn __hash__(&self) -> u64 {
        use std::hash::{Hash, Hasher};
        let mut h = std::collections::hash_map::DefaultHasher::new();
        self.__str__().hash(&mut h);
        h.finish()
    }
}

/// Accepts None (the default), "cpu", a `dlcore.device`, or a torch-style
/// string; anything CUDA is a clean error until CUDA storage exists.
pub fn check_device(dev: Option<&Bound<'_, PyAny>>) -> PyResult<()> {
    let Some(dev) = dev else { return Ok(()) };
    if dev.is_none() {
        return Ok(());
    }
    let kind = if let Ok(d) = dev.cast::<PyDevice>() {
        d.get().r#type.clone()
    } else if let Ok(s) = dev.extract::<String>() {
        s.split(':').next().unwrap_or("").to_string()
    } else {
        return Err(PyTypeError::new_err(format!("expected a device, got {}", dev.get_type().name()?)));
    };
    match kind.as_str() {
        "cpu" => Ok(()),
        "cuda" => Err(PyRuntimeError::new_err(
            "device 'cuda': CUDA is not available (dlcore.cuda.is_available() is False); use device='cpu'",
        )),
        other => Err(PyRuntimeError::new_err(format!("Expected one of cpu, cuda device type, got '{other}'"))),
    }
}

/// dtype argument: a dlcore dtype, a NumPy dtype/type, a torch dtype, or a
/// Python type (float → float64, int → int64, bool → bool as torch).
pub fn parse_dtype(obj: &Bound<'_, PyAny>) -> PyResult<DType> {
    if let Ok(d) = obj.cast::<PyDType>() {
        return Ok(d.get().d);
    }
    let py = obj.py();
    if let Ok(t) = obj.cast::<PyType>() {
        if t.is(py.get_type::<PyBool>()) {
            return Ok(DType::Bool);
        }
        if t.is(py.get_type::<PyInt>()) {
            return Ok(DType::I64);
        }
        if t.is(py.get_type::<PyFloat>()) {
            return Ok(DType::F64);
        }
    }
    let name: String = if let Ok(s) = obj.cast::<PyString>() {
        s.to_string()
    } else {
        // numpy dtypes and types, torch dtypes: use their str()
        let np = py.import("numpy")?;
        match np.getattr("dtype")?.call1((obj,)) {
            Ok(d) => d.getattr("name")?.extract()?,
            Err(_) => obj.str()?.to_string().trim_start_matches("torch.").to_string(),
        }
    };
    DType::from_name(name.trim_start_matches("dlcore.")).py()
}

pub fn opt_dtype(obj: Option<&Bound<'_, PyAny>>) -> PyResult<Option<DType>> {
    match obj {
        Some(o) if !o.is_none() => Ok(Some(parse_dtype(o)?)),
        _ => Ok(None),
    }
}

/// `f(2, 3)`, `f((2, 3))` and `f([2, 3])` all mean shape (2, 3).
pub fn parse_shape(args: &Bound<'_, PyTuple>) -> PyResult<Vec<i64>> {
    if args.len() == 1 {
        let a = args.get_item(0)?;
        if a.cast::<PyInt>().is_err() {
            return a.extract::<Vec<i64>>().map_err(|_| {
                PyTypeError::new_err(format!("expected a sequence of ints for a shape, got {}", a.get_type().name().map(|n| n.to_string()).unwrap_or_default()))
            });
        }
    }
    args.iter().map(|a| a.extract::<i64>()).collect()
}

pub fn to_sizes(shape: &[i64], op: &str) -> PyResult<Vec<usize>> {
    shape
        .iter()
        .map(|&s| {
            if s < 0 {
                Err(PyRuntimeError::new_err(format!("{op}: Trying to create tensor with negative dimension {s}: {shape:?}")))
            } else {
                Ok(s as usize)
            }
        })
        .collect()
}

/// A Python scalar as a 0-d tensor whose dtype follows torch's rules for
/// "wrapped numbers" next to `like`: it never widens a tensor of its own
/// category (float32 * 2.5 stays float32; int64 * 2.5 becomes float32).
pub fn scalar_like(obj: &Bound<'_, PyAny>, like: DType) -> PyResult<Option<Tensor>> {
    if obj.cast::<PyBool>().is_ok() {
        let v: bool = obj.extract()?;
        let d = if like == DType::Bool { DType::Bool } else { like };
        return Ok(Some(Tensor::scalar(v as i64 as f64, d)));
    }
    if obj.cast::<PyInt>().is_ok() {
        let v: i64 = obj.extract().map_err(|_| PyRuntimeError::new_err("Overflow when unpacking long"))?;
        let d = if like == DType::Bool { DType::I64 } else { like };
        return Ok(Some(if d == DType::I64 { Tensor::from_vec(vec![v], &[]).py()? } else { Tensor::scalar(v as f64, d) }));
    }
    if obj.cast::<PyFloat>().is_ok() {
        let v: f64 = obj.extract()?;
        let d = if like.is_float() { like } else { DType::F32 };
        return Ok(Some(Tensor::scalar(v, d)));
    }
    Ok(None)
}

/// An operand for a binary op next to `like`: a Tensor, a Python scalar or
/// a NumPy array. None means "not supported" (the dunder returns NotImplemented).
pub fn operand(obj: &Bound<'_, PyAny>, like: DType) -> PyResult<Option<Tensor>> {
    if let Ok(t) = obj.cast::<PyTensor>() {
        return Ok(Some(t.get().t.clone()));
    }
    if let Some(t) = scalar_like(obj, like)? {
        return Ok(Some(t));
    }
    if let Ok(a) = obj.cast::<PyUntypedArray>() {
        return Ok(Some(array_to_tensor(a, true)?));
    }
    Ok(None)
}

/// A NumPy array as a tensor. With `copy` false the tensor shares the
/// array's memory (and keeps the array alive); unsupported dtypes are
/// converted by NumPy first, which copies.
pub fn array_to_tensor(a: &Bound<'_, PyUntypedArray>, copy: bool) -> PyResult<Tensor> {
    let py = a.py();
    let descr = a.dtype();
    let kind = descr.kind();
    let size = descr.itemsize();
    let dtype = match (kind, size) {
        (b'f', 4) => DType::F32,
        (b'f', 8) => DType::F64,
        (b'i', 8) => DType::I64,
        (b'b', 1) => DType::Bool,
        (b'f', _) | (b'i', _) | (b'u', _) | (b'b', _) if copy => {
            let target = if kind == b'f' { "float32" } else if kind == b'b' { "bool" } else { "int64" };
            let conv = a.call_method1("astype", (target,))?;
            return array_to_tensor(conv.cast::<PyUntypedArray>()?, false);
        }
        _ => {
            return Err(PyTypeError::new_err(format!(
                "can't convert np.ndarray of type {} (supported: float32, float64, int64, bool)",
                descr.str()?
            )))
        }
    };
    let shape: Vec<usize> = a.shape().to_vec();
    let itemsize = dtype.size() as isize;
    // SAFETY: reading the data pointer of a live array object.
    let aligned = unsafe { (*a.as_array_ptr()).data as usize } % dtype.size() == 0;
    let ok_strides = aligned && a.strides().iter().all(|&s| s >= 0 && s % itemsize == 0);
    if !ok_strides {
        if !copy {
            return Err(PyValueError::new_err(
                "from_numpy: at least one stride in the given numpy array is negative or not a multiple of the \
                 element size; make a copy first (numpy.ascontiguousarray)",
            ));
        }
        let c = py.import("numpy")?.call_method1("ascontiguousarray", (a,))?;
        return array_to_tensor(c.cast::<PyUntypedArray>()?, false);
    }
    let strides: Vec<usize> = a.strides().iter().map(|&s| (s / itemsize) as usize).collect();
    let n: usize = shape.iter().product();
    let span = if n == 0 { 0 } else { 1 + shape.iter().zip(&strides).map(|(&d, &s)| (d - 1) * s).sum::<usize>() };
    // SAFETY: numpy guarantees `data` points at an allocation covering every
    // element reachable through shape/strides (span elements from the start,
    // since all strides are non-negative); the array object, kept in the
    // owner, keeps that allocation alive.
    let data = unsafe { (*a.as_array_ptr()).data as *mut u8 };
    let owner: Py<PyAny> = a.clone().into_any().unbind();
    // SAFETY: as above: `span` elements from `data` belong to the array, which `owner` keeps alive.
    let buf = unsafe { CpuBuffer::from_external(data, span, dtype, Box::new(owner)) };
    let t = Tensor::from_parts(Storage::Cpu(Arc::new(buf)), shape, strides, 0, dtype);
    if copy {
        return dlcore_core::ops::contiguous_copy(&t).py();
    }
    Ok(t)
}
