//! `dlcore.Tensor`: a thin handle on a core tensor. Properties, conversions
//! and autograd entry points live here; math in `tensor_math.rs`, indexing
//! in `indexing.rs`.

use crate::convert::{check_device, parse_dtype, PyDType, PyDevice};
use pyo3::types::PyDict;
use crate::errors::IntoPy;
use dlcore_core::autograd;
use dlcore_core::tensor::Storage;
use dlcore_core::{ops, DType, Scalar, Tensor};
use numpy::ndarray::{ArrayViewD, IxDyn, ShapeBuilder};
use numpy::PyArray;
use pyo3::exceptions::{PyRuntimeError, PyTypeError};
use pyo3::prelude::*;
use pyo3::types::{PyTuple, PyType};

/// Above this many elements, bindings release the GIL around the kernel.
/// Below it the release/re-acquire (~0.1 µs) would dominate a tiny op.
pub const DETACH_MIN: usize = 1 << 14;

#[pyclass(name = "Tensor", module = "dlcore", subclass, frozen, weakref)]
pub struct PyTensor {
    pub t: Tensor,
}

impl From<Tensor> for PyTensor {
    fn from(t: Tensor) -> Self {
        PyTensor { t }
    }
}

/// Runs a core op, releasing the GIL when the work is big enough to matter.
pub fn run<R: Send>(py: Python<'_>, work: usize, f: impl FnOnce() -> dlcore_core::Result<R> + Send) -> PyResult<R> {
    if work >= DETACH_MIN {
        py.detach(f).py()
    } else {
        f().py()
    }
}

pub fn scalar_to_py(py: Python<'_>, s: Scalar) -> PyResult<Py<PyAny>> {
    Ok(match s {
        Scalar::Bool(b) => b.into_pyobject(py)?.to_owned().into_any().unbind(),
        Scalar::Int(i) => i.into_pyobject(py)?.into_any().unbind(),
        Scalar::Float(f) => f.into_pyobject(py)?.into_any().unbind(),
    })
}

/// Keeps a storage alive while NumPy arrays view it.
#[pyclass(frozen)]
struct StorageOwner {
    _storage: Storage,
}

/// The autograd node that produced a tensor (`tensor.grad_fn`).
#[pyclass(name = "Node", module = "dlcore.autograd", frozen)]
pub struct PyNode {
    node: std::sync::Arc<autograd::Node>,
}

#[pymethods]
impl PyNode {
    fn name(&self) -> String {
        format!("{}Backward", self.node.name)
    }
    fn __repr__(&self) -> String {
        format!("<{}Backward>", self.node.name)
    }
}

fn numpy_view<'py, T: numpy::Element + dlcore_core::tensor::Element>(
    py: Python<'py>,
    t: &Tensor,
) -> PyResult<Bound<'py, PyAny>> {
    let buf = t.storage.cpu().slice::<T>();
    let shape = IxDyn(&t.shape);
    let strides = IxDyn(&t.strides);
    // SAFETY: shape/strides/offset describe elements inside `buf` (tensor
    // invariant); the StorageOwner container keeps the memory alive for as
    // long as the array lives.
    unsafe {
        let ptr = buf.as_ptr().add(t.offset.min(buf.len()));
        let view = ArrayViewD::from_shape_ptr(shape.strides(strides), ptr);
        let owner = Bound::new(py, StorageOwner { _storage: t.storage.clone() })?;
        Ok(PyArray::borrow_from_array(&view, owner.into_any()).into_any())
    }
}

#[pymethods]
impl PyTensor {
    /// `Tensor(data)` shares `data` when it is a Tensor (for subclasses such
    /// as Parameter), else converts like `dlcore.tensor`.
    #[new]
    #[pyo3(signature = (data=None))]
    fn new(py: Python<'_>, data: Option<&Bound<'_, PyAny>>) -> PyResult<Self> {
        match data {
            None => Ok(Tensor::zeros(&[0], DType::F32).into()),
            Some(d) => {
                if let Ok(t) = d.cast::<PyTensor>() {
                    return Ok(t.get().t.detach().into());
                }
                let t = py.import("dlcore")?.getattr("tensor")?.call1((d,))?;
                Ok(t.cast::<PyTensor>()?.get().t.clone().into())
            }
        }
    }

    /// Makes an instance of subclass `cls` sharing `data`'s memory (torch's
    /// `Tensor._make_subclass`, used by `nn.Parameter`).
    #[staticmethod]
    #[pyo3(signature = (cls, data, requires_grad=false))]
    fn _make_subclass<'py>(
        py: Python<'py>,
        cls: &Bound<'py, PyType>,
        data: &Bound<'py, PyTensor>,
        requires_grad: bool,
    ) -> PyResult<Bound<'py, PyAny>> {
        let new = py.get_type::<PyTensor>().getattr("__new__")?;
        let obj = new.call1((cls, data))?;
        obj.cast::<PyTensor>()?.get().t.set_requires_grad(requires_grad).py()?;
        Ok(obj)
    }

    // ----- metadata ------------------------------------------------------
    #[getter]
    fn shape<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyTuple>> {
        PyTuple::new(py, &self.t.shape)
    }
    #[pyo3(signature = (dim=None))]
    fn size<'py>(&self, py: Python<'py>, dim: Option<i64>) -> PyResult<Bound<'py, PyAny>> {
        match dim {
            None => Ok(self.shape(py)?.into_any()),
            Some(d) => {
                let d = dlcore_core::tensor::wrap_dim(d, self.t.ndim(), "size").py()?;
                Ok(self.t.shape[d].into_pyobject(py)?.into_any())
            }
        }
    }
    fn stride<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyTuple>> {
        PyTuple::new(py, &self.t.strides)
    }
    fn storage_offset(&self) -> usize {
        self.t.offset
    }
    #[getter]
    fn dtype<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDType>> {
        crate::convert::dtype_object(py, self.t.dtype)
    }
    #[getter]
    fn device(&self) -> PyDevice {
        PyDevice { r#type: self.t.device().name().to_string(), index: None }
    }
    #[getter]
    fn is_cuda(&self) -> bool {
        false
    }
    #[getter]
    fn ndim(&self) -> usize {
        self.t.ndim()
    }
    fn dim(&self) -> usize {
        self.t.ndim()
    }
    fn numel(&self) -> usize {
        self.t.numel()
    }
    fn nelement(&self) -> usize {
        self.t.numel()
    }
    fn element_size(&self) -> usize {
        self.t.dtype.size()
    }
    fn is_contiguous(&self) -> bool {
        self.t.is_contiguous()
    }
    fn is_floating_point(&self) -> bool {
        self.t.dtype.is_float()
    }
    fn data_ptr(&self) -> usize {
        self.t.storage.cpu().as_ptr() as usize + self.t.offset * self.t.dtype.size()
    }
    /// Version counter of the underlying memory (bumped by in-place ops).
    #[getter]
    fn _version(&self) -> u64 {
        self.t.storage.version()
    }
    fn __len__(&self) -> PyResult<usize> {
        self.t.shape.first().copied().ok_or_else(|| PyTypeError::new_err("len() of a 0-d tensor"))
    }

    // ----- conversion ----------------------------------------------------
    /// Zero-copy NumPy view (shares memory), as torch's `.numpy()`.
    fn numpy<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        if self.t.requires_grad() {
            return Err(PyRuntimeError::new_err(
                "Can't call numpy() on Tensor that requires grad. Use tensor.detach().numpy() instead.",
            ));
        }
        match self.t.dtype {
            DType::F32 => numpy_view::<f32>(py, &self.t),
            DType::F64 => numpy_view::<f64>(py, &self.t),
            DType::I64 => numpy_view::<i64>(py, &self.t),
            DType::Bool => numpy_view::<bool>(py, &self.t),
        }
    }
    #[pyo3(signature = (dtype=None, copy=None))]
    fn __array__<'py>(&self, py: Python<'py>, dtype: Option<&Bound<'py, PyAny>>, copy: Option<bool>) -> PyResult<Bound<'py, PyAny>> {
        let _ = copy;
        let a = self.detach().numpy(py)?;
        match dtype {
            Some(d) if !d.is_none() => a.call_method1("astype", (d,)),
            _ => Ok(a),
        }
    }
    fn item(&self, py: Python<'_>) -> PyResult<Py<PyAny>> {
        scalar_to_py(py, self.t.item().py()?)
    }
    fn tolist<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        self.detach().numpy(py)?.call_method0("tolist")
    }
    fn __float__(&self) -> PyResult<f64> {
        Ok(self.t.item().py()?.to_f64())
    }
    fn __int__(&self) -> PyResult<i64> {
        Ok(self.t.item().py()?.to_f64() as i64)
    }
    fn __index__(&self) -> PyResult<i64> {
        match self.t.item().py()? {
            Scalar::Int(i) => Ok(i),
            _ => Err(PyTypeError::new_err("only integer tensors of a single element can be converted to an index")),
        }
    }
    fn __bool__(&self) -> PyResult<bool> {
        if self.t.numel() != 1 {
            return Err(PyRuntimeError::new_err(format!(
                "Boolean value of Tensor with {} values is ambiguous",
                self.t.numel()
            )));
        }
        Ok(self.t.item().py()?.to_f64() != 0.0)
    }
    fn __repr__(slf: &Bound<'_, Self>) -> PyResult<String> {
        slf.py().import("dlcore._format")?.getattr("tensor_repr")?.call1((slf,))?.extract()
    }
    fn __hash__(slf: &Bound<'_, Self>) -> isize {
        slf.as_ptr() as isize
    }
    /// `to(dtype)`, `to(device)`, `to(device, dtype)`, `to(other_tensor)`.
    #[pyo3(signature = (*args, dtype=None, device=None, copy=false, non_blocking=false))]
    fn to<'py>(
        slf: &Bound<'py, Self>,
        py: Python<'py>,
        args: &Bound<'_, PyTuple>,
        dtype: Option<&Bound<'_, PyAny>>,
        device: Option<&Bound<'_, PyAny>>,
        copy: bool,
        non_blocking: bool,
    ) -> PyResult<Bound<'py, PyAny>> {
        let _ = non_blocking;
        let this = slf.get();
        check_device(device)?;
        let mut target = dtype.filter(|d| !d.is_none()).map(parse_dtype).transpose()?;
        for a in args.iter() {
            if let Ok(o) = a.cast::<PyTensor>() {
                target = Some(o.get().t.dtype);
            } else if a.cast::<PyDevice>().is_ok() || a.extract::<String>().is_ok_and(|s| s.starts_with("cpu") || s.starts_with("cuda")) {
                check_device(Some(&a))?;
            } else {
                target = Some(parse_dtype(&a)?);
            }
        }
        let d = target.unwrap_or(this.t.dtype);
        if d == this.t.dtype && !copy {
            return Ok(slf.clone().into_any());
        }
        let t = this.t.clone();
        let r = run(py, t.numel(), move || {
            let r = ops::to_dtype(&t, d)?;
            if copy && r.same_tensor(&t) { ops::contiguous_copy(&t) } else { Ok(r) }
        })?;
        Ok(Bound::new(py, PyTensor::from(r))?.into_any())
    }
    fn __copy__(&self) -> PyTensor {
        self.t.detach().into()
    }
    /// Deep copy: new memory, same values and requires_grad (grad copied too).
    #[pyo3(signature = (memo=None))]
    fn __deepcopy__(&self, memo: Option<&Bound<'_, PyDict>>) -> PyResult<PyTensor> {
        let _ = memo;
        if !self.t.is_leaf() {
            return Err(PyRuntimeError::new_err(
                "Only Tensors created explicitly by the user (graph leaves) support the deepcopy protocol at the moment",
            ));
        }
        let c = ops::contiguous_copy(&self.t.detach()).py()?;
        c.set_requires_grad(self.t.requires_grad()).py()?;
        if let Some(g) = self.t.grad() {
            c.set_grad(Some(ops::contiguous_copy(&g).py()?)).py()?;
        }
        Ok(c.into())
    }
    /// Pickling goes through NumPy (values, dtype) — safetensors is the
    /// format for files; this keeps `copy`/`multiprocessing` working.
    fn __reduce__<'py>(slf: &Bound<'py, Self>, py: Python<'py>) -> PyResult<Bound<'py, PyTuple>> {
        let this = slf.get();
        let arr = this.detach().numpy(py)?.call_method0("copy")?;
        let f = py.import("dlcore._format")?.getattr("rebuild_tensor")?;
        PyTuple::new(py, [f, PyTuple::new(py, [arr.into_any(), this.t.requires_grad().into_pyobject(py)?.to_owned().into_any()])?.into_any()])
    }
    fn float<'py>(slf: &Bound<'py, Self>) -> PyResult<Bound<'py, PyAny>> {
        Self::cast(slf, DType::F32)
    }
    fn double<'py>(slf: &Bound<'py, Self>) -> PyResult<Bound<'py, PyAny>> {
        Self::cast(slf, DType::F64)
    }
    fn long<'py>(slf: &Bound<'py, Self>) -> PyResult<Bound<'py, PyAny>> {
        Self::cast(slf, DType::I64)
    }
    fn bool<'py>(slf: &Bound<'py, Self>) -> PyResult<Bound<'py, PyAny>> {
        Self::cast(slf, DType::Bool)
    }
    fn type_as<'py>(slf: &Bound<'py, Self>, other: &PyTensor) -> PyResult<Bound<'py, PyAny>> {
        Self::cast(slf, other.t.dtype)
    }
    fn cpu(slf: Bound<'_, Self>) -> Bound<'_, Self> {
        slf
    }
    fn cuda(&self) -> PyResult<PyTensor> {
        Err(PyRuntimeError::new_err("cuda(): CUDA is not available (dlcore.cuda.is_available() is False)"))
    }
    fn clone(&self, py: Python<'_>) -> PyResult<PyTensor> {
        let t = self.t.clone();
        run(py, t.numel(), move || ops::contiguous_copy(&t)).map(Into::into)
    }
    /// Returns `self` when already contiguous, as torch.
    fn contiguous<'py>(slf: &Bound<'py, Self>) -> PyResult<Bound<'py, PyAny>> {
        let t = slf.get().t.clone();
        if t.is_contiguous() {
            return Ok(slf.clone().into_any());
        }
        let r = run(slf.py(), t.numel(), move || ops::contiguous(&t))?;
        Ok(Bound::new(slf.py(), PyTensor::from(r))?.into_any())
    }

    // ----- autograd ------------------------------------------------------
    #[getter]
    fn requires_grad(&self) -> bool {
        self.t.requires_grad()
    }
    #[setter(requires_grad)]
    fn set_requires_grad_attr(&self, flag: bool) -> PyResult<()> {
        self.t.set_requires_grad(flag).py()
    }
    #[pyo3(signature = (requires_grad=true))]
    fn requires_grad_(slf: Bound<'_, Self>, requires_grad: bool) -> PyResult<Bound<'_, Self>> {
        slf.get().t.set_requires_grad(requires_grad).py()?;
        Ok(slf)
    }
    #[getter]
    fn is_leaf(&self) -> bool {
        self.t.is_leaf()
    }
    #[getter]
    fn grad(&self) -> Option<PyTensor> {
        self.t.grad().map(Into::into)
    }
    #[setter(grad)]
    fn set_grad_attr(&self, g: Option<&PyTensor>) -> PyResult<()> {
        self.t.set_grad(g.map(|g| g.t.clone())).py()
    }
    #[getter]
    fn grad_fn(&self) -> Option<PyNode> {
        self.t.grad_fn().map(|node| PyNode { node })
    }
    #[getter]
    fn retains_grad(&self) -> bool {
        self.t.retains_grad()
    }
    fn retain_grad(&self) -> PyResult<()> {
        self.t.retain_grad().py()
    }
    fn detach(&self) -> PyTensor {
        self.t.detach().into()
    }
    /// The same memory without history (torch's `.data`).
    #[getter]
    fn data(&self) -> PyTensor {
        self.t.detach().into()
    }
    /// `t.data = other` copies `other`'s values into `t` (same shape and
    /// dtype required): dlcore tensors cannot swap their storage, and copying
    /// keeps every reference to `t` (optimizers, modules) valid.
    #[setter(data)]
    fn set_data(&self, other: &PyTensor) -> PyResult<()> {
        if other.t.shape != self.t.shape || other.t.dtype != self.t.dtype {
            return Err(PyRuntimeError::new_err(format!(
                "data: dlcore assigns .data by copying, so shape and dtype must match: tensor {:?} {}, new data {:?} {}",
                self.t.shape, self.t.dtype.name(), other.t.shape, other.t.dtype.name()
            )));
        }
        let _guard = dlcore_core::autograd::GradModeGuard::new(false);
        ops::copy_(&self.t, &other.t).py()
    }
    #[pyo3(signature = (gradient=None, retain_graph=None, create_graph=false, inputs=None))]
    fn backward(
        &self,
        py: Python<'_>,
        gradient: Option<&PyTensor>,
        retain_graph: Option<bool>,
        create_graph: bool,
        inputs: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<()> {
        if inputs.is_some_and(|i| !i.is_none()) {
            return Err(PyTypeError::new_err("backward(inputs=...) is not supported by dlcore; use dlcore.autograd.grad"));
        }
        let t = self.t.clone();
        let g = gradient.map(|g| g.t.clone());
        let retain = retain_graph.unwrap_or(create_graph);
        py.detach(move || autograd::backward(&t, g, retain, create_graph)).py()
    }
}

impl PyTensor {
    /// Casts, returning `slf` itself when the dtype already matches (as torch).
    fn cast<'py>(slf: &Bound<'py, Self>, d: DType) -> PyResult<Bound<'py, PyAny>> {
        let t = slf.get().t.clone();
        if t.dtype == d {
            return Ok(slf.clone().into_any());
        }
        let r = run(slf.py(), t.numel(), move || ops::to_dtype(&t, d))?;
        Ok(Bound::new(slf.py(), PyTensor::from(r))?.into_any())
    }
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<PyTensor>()?;
    m.add_class::<PyNode>()?;
    m.add_class::<StorageOwner>()?;
    Ok(())
}
