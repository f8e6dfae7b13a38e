//! Tensor math methods and operators: each converts its arguments and calls
//! one core op.

use crate::convert::{operand, opt_dtype, parse_shape};
use crate::errors::IntoPy;
use crate::tensor::{run, PyTensor};
use dlcore_core::ops::{self, BinOp, CmpOp, LogicOp, UnaryOp};
use dlcore_core::Tensor;
use pyo3::exceptions::PyTypeError;
use pyo3::prelude::*;
use pyo3::pyclass::CompareOp;
use pyo3::types::{PyInt, PyTuple};

fn wrap(py: Python<'_>, t: Tensor) -> PyResult<Py<PyAny>> {
    Ok(Bound::new(py, PyTensor::from(t))?.into_any().unbind())
}

/// `dim` as None, an int, or a sequence of ints.
pub fn parse_dims(dim: Option<&Bound<'_, PyAny>>) -> PyResult<Option<Vec<i64>>> {
    match dim {
        None => Ok(None),
        Some(d) if d.is_none() => Ok(None),
        Some(d) => {
            if let Ok(i) = d.extract::<i64>() {
                Ok(Some(vec![i]))
            } else {
                Ok(Some(d.extract::<Vec<i64>>().map_err(|_| PyTypeError::new_err("dim must be an int or a tuple of ints"))?))
            }
        }
    }
}

fn need(py: Python<'_>, obj: &Bound<'_, PyAny>, like: &Tensor, op: &str) -> PyResult<Tensor> {
    let _ = py;
    operand(obj, like.dtype)?.ok_or_else(|| {
        PyTypeError::new_err(format!(
            "{op}(): argument 'other' must be Tensor or Number, not {}",
            obj.get_type().name().map(|n| n.to_string()).unwrap_or_default()
        ))
    })
}

impl PyTensor {
    fn binop(&self, py: Python<'_>, other: &Bound<'_, PyAny>, op: BinOp, reflected: bool) -> PyResult<Py<PyAny>> {
        let Some(o) = operand(other, self.t.dtype)? else {
            return Ok(py.NotImplemented());
        };
        let (a, b) = if reflected { (o, self.t.clone()) } else { (self.t.clone(), o) };
        let n = a.numel().max(b.numel());
        wrap(py, run(py, n, move || ops::binary(op, &a, &b))?)
    }
    fn un(&self, py: Python<'_>, op: UnaryOp) -> PyResult<PyTensor> {
        let t = self.t.clone();
        run(py, t.numel(), move || ops::unary(op, &t)).map(Into::into)
    }
    fn logic(&self, py: Python<'_>, other: &Bound<'_, PyAny>, op: LogicOp) -> PyResult<Py<PyAny>> {
        let Some(o) = operand(other, self.t.dtype)? else {
            return Ok(py.NotImplemented());
        };
        wrap(py, ops::logical(op, &self.t, &o).py()?)
    }
    fn inplace(slf: &Bound<'_, Self>, other: &Bound<'_, PyAny>, op: BinOp, alpha: f64) -> PyResult<()> {
        let t = &slf.get().t;
        let o = need(slf.py(), other, t, op.name())?;
        let t2 = t.clone();
        run(slf.py(), t.numel(), move || ops::binary_(op, &t2, &o, alpha))
    }
}

macro_rules! unary_methods {
    ($($name:ident => $op:ident),* $(,)?) => {
        #[pymethods]
        impl PyTensor {
            $(fn $name(&self, py: Python<'_>) -> PyResult<PyTensor> { self.un(py, UnaryOp::$op) })*
        }
    };
}
macro_rules! unary_inplace_methods {
    ($($name:ident => $op:ident),* $(,)?) => {
        #[pymethods]
        impl PyTensor {
            $(fn $name(slf: Bound<'_, Self>) -> PyResult<Bound<'_, Self>> {
                ops::unary_(&slf.get().t, stringify!($name), |x| ops::unary(UnaryOp::$op, x)).py()?;
                Ok(slf)
            })*
        }
    };
}
unary_inplace_methods!(exp_ => Exp, log_ => Log, sqrt_ => Sqrt, rsqrt_ => Rsqrt, abs_ => Abs, sin_ => Sin,
    cos_ => Cos, tanh_ => Tanh, sigmoid_ => Sigmoid, relu_ => Relu, neg_ => Neg);

unary_methods!(exp => Exp, log => Log, sqrt => Sqrt, rsqrt => Rsqrt, abs => Abs, sin => Sin, cos => Cos,
    tanh => Tanh, sigmoid => Sigmoid, relu => Relu, neg => Neg, negative => Neg,
    __neg__ => Neg, __abs__ => Abs);

macro_rules! binary_dunders {
    ($($name:ident => $op:ident, $refl:expr);* $(;)?) => {
        #[pymethods]
        impl PyTensor {
            $(fn $name(&self, py: Python<'_>, other: &Bound<'_, PyAny>) -> PyResult<Py<PyAny>> {
                self.binop(py, other, BinOp::$op, $refl)
            })*
        }
    };
}
binary_dunders!(__add__ => Add, false; __radd__ => Add, true; __sub__ => Sub, false; __rsub__ => Sub, true;
    __mul__ => Mul, false; __rmul__ => Mul, true; __truediv__ => Div, false; __rtruediv__ => Div, true;
    mul => Mul, false; multiply => Mul, false; div => Div, false; divide => Div, false; true_divide => Div, false;
    pow => Pow, false; maximum => Maximum, false; minimum => Minimum, false);

#[pymethods]
impl PyTensor {
    fn __pow__(&self, py: Python<'_>, other: &Bound<'_, PyAny>, modulo: Option<&Bound<'_, PyAny>>) -> PyResult<Py<PyAny>> {
        let _ = modulo;
        self.binop(py, other, BinOp::Pow, false)
    }
    fn __rpow__(&self, py: Python<'_>, other: &Bound<'_, PyAny>, modulo: Option<&Bound<'_, PyAny>>) -> PyResult<Py<PyAny>> {
        let _ = modulo;
        self.binop(py, other, BinOp::Pow, true)
    }
    fn __pos__(slf: Bound<'_, Self>) -> Bound<'_, Self> {
        slf
    }
    #[pyo3(signature = (other, alpha=None))]
    fn add(&self, py: Python<'_>, other: &Bound<'_, PyAny>, alpha: Option<f64>) -> PyResult<Py<PyAny>> {
        self.add_sub(py, other, alpha, BinOp::Add)
    }
    #[pyo3(signature = (other, alpha=None))]
    fn sub(&self, py: Python<'_>, other: &Bound<'_, PyAny>, alpha: Option<f64>) -> PyResult<Py<PyAny>> {
        self.add_sub(py, other, alpha, BinOp::Sub)
    }
    fn __richcmp__(&self, py: Python<'_>, other: &Bound<'_, PyAny>, op: CompareOp) -> PyResult<Py<PyAny>> {
        let Some(o) = operand(other, self.t.dtype)? else {
            return Ok(py.NotImplemented());
        };
        let c = match op {
            CompareOp::Eq => CmpOp::Eq,
            CompareOp::Ne => CmpOp::Ne,
            CompareOp::Lt => CmpOp::Lt,
            CompareOp::Le => CmpOp::Le,
            CompareOp::Gt => CmpOp::Gt,
            CompareOp::Ge => CmpOp::Ge,
        };
        wrap(py, ops::compare(c, &self.t, &o).py()?)
    }
    fn eq(&self, py: Python<'_>, other: &Bound<'_, PyAny>) -> PyResult<Py<PyAny>> {
        self.__richcmp__(py, other, CompareOp::Eq)
    }
    fn ne(&self, py: Python<'_>, other: &Bound<'_, PyAny>) -> PyResult<Py<PyAny>> {
        self.__richcmp__(py, other, CompareOp::Ne)
    }
    fn lt(&self, py: Python<'_>, other: &Bound<'_, PyAny>) -> PyResult<Py<PyAny>> {
        self.__richcmp__(py, other, CompareOp::Lt)
    }
    fn le(&self, py: Python<'_>, other: &Bound<'_, PyAny>) -> PyResult<Py<PyAny>> {
        self.__richcmp__(py, other, CompareOp::Le)
    }
    fn gt(&self, py: Python<'_>, other: &Bound<'_, PyAny>) -> PyResult<Py<PyAny>> {
        self.__richcmp__(py, other, CompareOp::Gt)
    }
    fn ge(&self, py: Python<'_>, other: &Bound<'_, PyAny>) -> PyResult<Py<PyAny>> {
        self.__richcmp__(py, other, CompareOp::Ge)
    }
    fn __and__(&self, py: Python<'_>, other: &Bound<'_, PyAny>) -> PyResult<Py<PyAny>> {
        self.logic(py, other, LogicOp::And)
    }
    fn __or__(&self, py: Python<'_>, other: &Bound<'_, PyAny>) -> PyResult<Py<PyAny>> {
        self.logic(py, other, LogicOp::Or)
    }
    fn __xor__(&self, py: Python<'_>, other: &Bound<'_, PyAny>) -> PyResult<Py<PyAny>> {
        self.logic(py, other, LogicOp::Xor)
    }
    fn __invert__(&self) -> PyResult<PyTensor> {
        ops::logical_not(&self.t).py().map(Into::into)
    }
    fn logical_not(&self) -> PyResult<PyTensor> {
        ops::logical_not(&ops::to_dtype(&self.t, dlcore_core::DType::Bool).py()?).py().map(Into::into)
    }
    fn __matmul__(&self, py: Python<'_>, other: &Bound<'_, PyAny>) -> PyResult<Py<PyAny>> {
        let Ok(o) = other.cast::<PyTensor>() else { return Ok(py.NotImplemented()) };
        self.matmul(py, o.get()).and_then(|t| wrap(py, t.t))
    }
    fn __rmatmul__(&self, py: Python<'_>, other: &Bound<'_, PyAny>) -> PyResult<Py<PyAny>> {
        let Ok(o) = other.cast::<PyTensor>() else { return Ok(py.NotImplemented()) };
        o.get().matmul(py, self).and_then(|t| wrap(py, t.t))
    }
    fn matmul(&self, py: Python<'_>, other: &PyTensor) -> PyResult<PyTensor> {
        let (a, b) = (self.t.clone(), other.t.clone());
        let work = a.numel().max(b.numel());
        run(py, work, move || ops::matmul(&a, &b)).map(Into::into)
    }
    fn dot(&self, py: Python<'_>, other: &PyTensor) -> PyResult<PyTensor> {
        if self.t.ndim() != 1 || other.t.ndim() != 1 {
            return Err(pyo3::exceptions::PyRuntimeError::new_err(format!(
                "dot: 1D tensors expected, but got {}D and {}D tensors",
                self.t.ndim(),
                other.t.ndim()
            )));
        }
        self.matmul(py, other)
    }
    fn mv(&self, py: Python<'_>, vec: &PyTensor) -> PyResult<PyTensor> {
        if self.t.ndim() != 2 || vec.t.ndim() != 1 {
            return Err(pyo3::exceptions::PyRuntimeError::new_err(format!(
                "mv: expected a 2-D matrix and a 1-D vector, got {:?} and {:?}",
                self.t.shape, vec.t.shape
            )));
        }
        self.matmul(py, vec)
    }
    fn outer(&self, vec2: &PyTensor) -> PyResult<PyTensor> {
        let a = ops::unsqueeze(&self.t, 1).py()?;
        let b = ops::unsqueeze(&vec2.t, 0).py()?;
        ops::mul(&a, &b).py().map(Into::into)
    }
    fn mm(&self, py: Python<'_>, other: &PyTensor) -> PyResult<PyTensor> {
        if self.t.ndim() != 2 || other.t.ndim() != 2 {
            return Err(pyo3::exceptions::PyRuntimeError::new_err(format!(
                "mm: expected 2-D tensors, got {:?} and {:?}",
                self.t.shape, other.t.shape
            )));
        }
        self.matmul(py, other)
    }
    fn bmm(&self, py: Python<'_>, other: &PyTensor) -> PyResult<PyTensor> {
        if self.t.ndim() != 3 || other.t.ndim() != 3 {
            return Err(pyo3::exceptions::PyRuntimeError::new_err(format!(
                "bmm: expected 3-D tensors, got {:?} and {:?}",
                self.t.shape, other.t.shape
            )));
        }
        self.matmul(py, other)
    }
    #[pyo3(signature = (min=None, max=None))]
    fn clamp(&self, py: Python<'_>, min: Option<f64>, max: Option<f64>) -> PyResult<PyTensor> {
        let t = self.t.clone();
        run(py, t.numel(), move || ops::clamp(&t, min, max)).map(Into::into)
    }
    #[pyo3(signature = (min=None, max=None))]
    fn clip(&self, py: Python<'_>, min: Option<f64>, max: Option<f64>) -> PyResult<PyTensor> {
        self.clamp(py, min, max)
    }
    /// `x.where(cond, other)`: x where cond is true, else other.
    fn r#where(&self, condition: &PyTensor, other: &Bound<'_, PyAny>) -> PyResult<PyTensor> {
        let o = need(other.py(), other, &self.t, "where")?;
        ops::where_(&condition.t, &self.t, &o).py().map(Into::into)
    }
    fn masked_fill(&self, mask: &PyTensor, value: &Bound<'_, PyAny>) -> PyResult<PyTensor> {
        let v = need(value.py(), value, &self.t, "masked_fill")?;
        let v = ops::to_dtype(&v, self.t.dtype).py()?;
        ops::where_(&mask.t, &v, &self.t).py().map(Into::into)
    }

    // ----- reductions -------------------------------------------------------
    #[pyo3(signature = (dim=None, keepdim=false, *, dtype=None))]
    fn sum(&self, py: Python<'_>, dim: Option<&Bound<'_, PyAny>>, keepdim: bool, dtype: Option<&Bound<'_, PyAny>>) -> PyResult<PyTensor> {
        let dims = parse_dims(dim)?;
        let d = opt_dtype(dtype)?;
        let t = self.t.clone();
        run(py, t.numel(), move || ops::sum(&t, dims.as_deref(), keepdim, d)).map(Into::into)
    }
    #[pyo3(signature = (dim=None, keepdim=false, *, dtype=None))]
    fn mean(&self, py: Python<'_>, dim: Option<&Bound<'_, PyAny>>, keepdim: bool, dtype: Option<&Bound<'_, PyAny>>) -> PyResult<PyTensor> {
        let dims = parse_dims(dim)?;
        let t = match opt_dtype(dtype)? {
            Some(d) => ops::to_dtype(&self.t, d).py()?,
            None => self.t.clone(),
        };
        run(py, t.numel(), move || ops::mean(&t, dims.as_deref(), keepdim)).map(Into::into)
    }
    #[pyo3(signature = (dim=None, unbiased=None, keepdim=false, *, correction=None))]
    fn var(&self, py: Python<'_>, dim: Option<&Bound<'_, PyAny>>, unbiased: Option<bool>, keepdim: bool, correction: Option<f64>) -> PyResult<PyTensor> {
        let dims = parse_dims(dim)?;
        let c = correction.unwrap_or(if unbiased.unwrap_or(true) { 1.0 } else { 0.0 });
        let t = self.t.clone();
        run(py, t.numel(), move || ops::var(&t, dims.as_deref(), c, keepdim)).map(Into::into)
    }
    #[pyo3(signature = (dim=None, unbiased=None, keepdim=false, *, correction=None))]
    fn std(&self, py: Python<'_>, dim: Option<&Bound<'_, PyAny>>, unbiased: Option<bool>, keepdim: bool, correction: Option<f64>) -> PyResult<PyTensor> {
        let dims = parse_dims(dim)?;
        let c = correction.unwrap_or(if unbiased.unwrap_or(true) { 1.0 } else { 0.0 });
        let t = self.t.clone();
        run(py, t.numel(), move || ops::std(&t, dims.as_deref(), c, keepdim)).map(Into::into)
    }
    #[pyo3(signature = (dim=None, keepdim=false))]
    fn max(&self, py: Python<'_>, dim: Option<&Bound<'_, PyAny>>, keepdim: bool) -> PyResult<Py<PyAny>> {
        self.extreme(py, dim, keepdim, true)
    }
    #[pyo3(signature = (dim=None, keepdim=false))]
    fn min(&self, py: Python<'_>, dim: Option<&Bound<'_, PyAny>>, keepdim: bool) -> PyResult<Py<PyAny>> {
        self.extreme(py, dim, keepdim, false)
    }
    #[pyo3(signature = (dim=None, keepdim=false))]
    fn amax(&self, py: Python<'_>, dim: Option<&Bound<'_, PyAny>>, keepdim: bool) -> PyResult<PyTensor> {
        let dims = parse_dims(dim)?;
        let t = self.t.clone();
        run(py, t.numel(), move || ops::amax_amin(&t, dims.as_deref(), keepdim, true)).map(Into::into)
    }
    #[pyo3(signature = (dim=None, keepdim=false))]
    fn amin(&self, py: Python<'_>, dim: Option<&Bound<'_, PyAny>>, keepdim: bool) -> PyResult<PyTensor> {
        let dims = parse_dims(dim)?;
        let t = self.t.clone();
        run(py, t.numel(), move || ops::amax_amin(&t, dims.as_deref(), keepdim, false)).map(Into::into)
    }
    #[pyo3(signature = (dim=None, keepdim=false))]
    fn argmax(&self, dim: Option<i64>, keepdim: bool) -> PyResult<PyTensor> {
        ops::argmax_argmin(&self.t, dim, keepdim, true).py().map(Into::into)
    }
    #[pyo3(signature = (dim=None, keepdim=false))]
    fn argmin(&self, dim: Option<i64>, keepdim: bool) -> PyResult<PyTensor> {
        ops::argmax_argmin(&self.t, dim, keepdim, false).py().map(Into::into)
    }
    #[pyo3(signature = (dim=None, keepdim=false, *, dtype=None))]
    fn prod(&self, dim: Option<i64>, keepdim: bool, dtype: Option<&Bound<'_, PyAny>>) -> PyResult<PyTensor> {
        let t = match opt_dtype(dtype)? {
            Some(d) => ops::to_dtype(&self.t, d).py()?,
            None => self.t.clone(),
        };
        ops::prod(&t, dim, keepdim).py().map(Into::into)
    }
    #[pyo3(signature = (dim, keepdim=false))]
    fn logsumexp(&self, dim: &Bound<'_, PyAny>, keepdim: bool) -> PyResult<PyTensor> {
        let dims = parse_dims(Some(dim))?.unwrap_or_default();
        ops::logsumexp(&self.t, &dims, keepdim).py().map(Into::into)
    }
    #[pyo3(signature = (dim, dtype=None))]
    fn softmax(&self, py: Python<'_>, dim: i64, dtype: Option<&Bound<'_, PyAny>>) -> PyResult<PyTensor> {
        self.softmax_impl(py, dim, dtype, false)
    }
    #[pyo3(signature = (dim, dtype=None))]
    fn log_softmax(&self, py: Python<'_>, dim: i64, dtype: Option<&Bound<'_, PyAny>>) -> PyResult<PyTensor> {
        self.softmax_impl(py, dim, dtype, true)
    }
    #[pyo3(signature = (dim=None, keepdim=false))]
    fn all(&self, dim: Option<i64>, keepdim: bool) -> PyResult<PyTensor> {
        // all ⇔ no zero: min over the bool cast
        let b = ops::to_dtype(&self.t, dlcore_core::DType::Bool).py()?;
        let n = ops::sum(&ops::logical_not(&b).py()?, dim.map(|d| vec![d]).as_deref(), keepdim, None).py()?;
        ops::compare(CmpOp::Eq, &n, &Tensor::from_vec(vec![0i64], &[]).py()?).py().map(Into::into)
    }
    #[pyo3(signature = (dim=None, keepdim=false))]
    fn any(&self, dim: Option<i64>, keepdim: bool) -> PyResult<PyTensor> {
        let b = ops::to_dtype(&self.t, dlcore_core::DType::Bool).py()?;
        let n = ops::sum(&b, dim.map(|d| vec![d]).as_deref(), keepdim, None).py()?;
        ops::compare(CmpOp::Gt, &n, &Tensor::from_vec(vec![0i64], &[]).py()?).py().map(Into::into)
    }

    // ----- views and joins -------------------------------------------------
    #[pyo3(signature = (*shape))]
    fn view(&self, shape: &Bound<'_, PyTuple>) -> PyResult<PyTensor> {
        ops::view(&self.t, &parse_shape(shape)?).py().map(Into::into)
    }
    #[pyo3(signature = (*shape))]
    fn reshape(&self, py: Python<'_>, shape: &Bound<'_, PyTuple>) -> PyResult<PyTensor> {
        let s = parse_shape(shape)?;
        let t = self.t.clone();
        run(py, t.numel(), move || ops::reshape(&t, &s)).map(Into::into)
    }
    fn view_as(&self, other: &PyTensor) -> PyResult<PyTensor> {
        ops::view(&self.t, &other.t.shape.iter().map(|&s| s as i64).collect::<Vec<_>>()).py().map(Into::into)
    }
    fn reshape_as(&self, other: &PyTensor) -> PyResult<PyTensor> {
        ops::reshape(&self.t, &other.t.shape.iter().map(|&s| s as i64).collect::<Vec<_>>()).py().map(Into::into)
    }
    #[pyo3(signature = (*dims))]
    fn permute(&self, dims: &Bound<'_, PyTuple>) -> PyResult<PyTensor> {
        ops::permute(&self.t, &parse_shape(dims)?).py().map(Into::into)
    }
    fn transpose(&self, dim0: i64, dim1: i64) -> PyResult<PyTensor> {
        ops::transpose(&self.t, dim0, dim1).py().map(Into::into)
    }
    fn swapaxes(&self, dim0: i64, dim1: i64) -> PyResult<PyTensor> {
        self.transpose(dim0, dim1)
    }
    fn t(&self) -> PyResult<PyTensor> {
        ops::t(&self.t).py().map(Into::into)
    }
    #[getter(T)]
    fn big_t(&self) -> PyResult<PyTensor> {
        let n = self.t.ndim() as i64;
        ops::permute(&self.t, &(0..n).rev().collect::<Vec<_>>()).py().map(Into::into)
    }
    #[getter(mT)]
    fn matrix_t(&self) -> PyResult<PyTensor> {
        ops::transpose(&self.t, -2, -1).py().map(Into::into)
    }
    #[pyo3(signature = (*sizes))]
    fn expand(&self, sizes: &Bound<'_, PyTuple>) -> PyResult<PyTensor> {
        ops::expand(&self.t, &parse_shape(sizes)?).py().map(Into::into)
    }
    fn expand_as(&self, other: &PyTensor) -> PyResult<PyTensor> {
        ops::expand(&self.t, &other.t.shape.iter().map(|&s| s as i64).collect::<Vec<_>>()).py().map(Into::into)
    }
    #[pyo3(signature = (dim=None))]
    fn squeeze(&self, dim: Option<&Bound<'_, PyAny>>) -> PyResult<PyTensor> {
        let dims = parse_dims(dim)?;
        ops::squeeze(&self.t, dims.as_deref()).py().map(Into::into)
    }
    fn unsqueeze(&self, dim: i64) -> PyResult<PyTensor> {
        ops::unsqueeze(&self.t, dim).py().map(Into::into)
    }
    #[pyo3(signature = (start_dim=0, end_dim=-1))]
    fn flatten(&self, start_dim: i64, end_dim: i64) -> PyResult<PyTensor> {
        ops::flatten(&self.t, start_dim, end_dim).py().map(Into::into)
    }
    fn narrow(&self, dim: i64, start: i64, length: usize) -> PyResult<PyTensor> {
        ops::narrow(&self.t, dim, start, length).py().map(Into::into)
    }
    fn select(&self, dim: i64, index: i64) -> PyResult<PyTensor> {
        ops::select(&self.t, dim, index).py().map(Into::into)
    }
    #[pyo3(signature = (split_size_or_sections, dim=0))]
    fn split<'py>(&self, py: Python<'py>, split_size_or_sections: &Bound<'py, PyAny>, dim: i64) -> PyResult<Bound<'py, PyTuple>> {
        let parts = if split_size_or_sections.cast::<PyInt>().is_ok() {
            ops::split(&self.t, split_size_or_sections.extract()?, dim).py()?
        } else {
            ops::split_sizes(&self.t, &split_size_or_sections.extract::<Vec<usize>>()?, dim).py()?
        };
        PyTuple::new(py, parts.into_iter().map(PyTensor::from))
    }
    #[pyo3(signature = (chunks, dim=0))]
    fn chunk<'py>(&self, py: Python<'py>, chunks: usize, dim: i64) -> PyResult<Bound<'py, PyTuple>> {
        PyTuple::new(py, ops::chunk(&self.t, chunks, dim).py()?.into_iter().map(PyTensor::from))
    }
    #[pyo3(signature = (dim=0))]
    fn unbind<'py>(&self, py: Python<'py>, dim: i64) -> PyResult<Bound<'py, PyTuple>> {
        let d = dlcore_core::tensor::wrap_dim(dim, self.t.ndim(), "unbind").py()?;
        let parts: Vec<PyTensor> = (0..self.t.shape[d])
            .map(|i| ops::select(&self.t, d as i64, i as i64).map(PyTensor::from))
            .collect::<dlcore_core::Result<_>>()
            .py()?;
        PyTuple::new(py, parts)
    }

    // ----- indexing by tensors ----------------------------------------------
    fn gather(&self, dim: i64, index: &PyTensor) -> PyResult<PyTensor> {
        ops::gather(&self.t, dim, &index.t).py().map(Into::into)
    }
    fn index_select(&self, dim: i64, index: &PyTensor) -> PyResult<PyTensor> {
        ops::index_select(&self.t, dim, &index.t).py().map(Into::into)
    }
    #[pyo3(signature = (dim, index, src=None, *, value=None))]
    fn scatter(&self, dim: i64, index: &PyTensor, src: Option<&Bound<'_, PyAny>>, value: Option<&Bound<'_, PyAny>>) -> PyResult<PyTensor> {
        let s = src.or(value).ok_or_else(|| PyTypeError::new_err("scatter(): expected src or value"))?;
        let s = need(s.py(), s, &self.t, "scatter")?;
        ops::scatter(&self.t, dim, &index.t, &s).py().map(Into::into)
    }
    fn scatter_add(&self, dim: i64, index: &PyTensor, src: &PyTensor) -> PyResult<PyTensor> {
        ops::scatter_add(&self.t, dim, &index.t, &src.t).py().map(Into::into)
    }
    fn isnan(&self) -> PyResult<PyTensor> {
        ops::classify(&self.t, ops::FloatClass::Nan).py().map(Into::into)
    }
    fn isinf(&self) -> PyResult<PyTensor> {
        ops::classify(&self.t, ops::FloatClass::Inf).py().map(Into::into)
    }
    fn isfinite(&self) -> PyResult<PyTensor> {
        ops::classify(&self.t, ops::FloatClass::Finite).py().map(Into::into)
    }
    /// `(values, indices)` of the k largest (or smallest) along `dim`.
    #[pyo3(signature = (k, dim=-1, largest=true, sorted=true))]
    fn topk(&self, py: Python<'_>, k: usize, dim: i64, largest: bool, sorted: bool) -> PyResult<Py<PyAny>> {
        let _ = sorted; // always sorted
        let (v, i) = ops::topk(&self.t, k, dim, largest).py()?;
        let r = py.import("dlcore._format")?.getattr("return_type")?.call1(("topk", PyTensor::from(v), PyTensor::from(i)))?;
        Ok(r.unbind())
    }
    /// `(values, indices)` sorted along `dim` (stable).
    #[pyo3(signature = (dim=-1, descending=false, stable=true))]
    fn sort(&self, py: Python<'_>, dim: i64, descending: bool, stable: bool) -> PyResult<Py<PyAny>> {
        let _ = stable; // always stable
        let size = if self.t.ndim() == 0 { 1 } else { self.t.shape[dlcore_core::tensor::wrap_dim(dim, self.t.ndim(), "sort").py()?] };
        let (v, i) = ops::topk(&self.t, size, dim, descending).py()?;
        let r = py.import("dlcore._format")?.getattr("return_type")?.call1(("sort", PyTensor::from(v), PyTensor::from(i)))?;
        Ok(r.unbind())
    }
    #[pyo3(signature = (dim=-1, descending=false, stable=true))]
    fn argsort(&self, dim: i64, descending: bool, stable: bool) -> PyResult<PyTensor> {
        let _ = stable;
        let size = if self.t.ndim() == 0 { 1 } else { self.t.shape[dlcore_core::tensor::wrap_dim(dim, self.t.ndim(), "argsort").py()?] };
        Ok(ops::topk(&self.t.detach(), size, dim, descending).py()?.1.into())
    }
    #[pyo3(signature = (*, as_tuple=false))]
    fn nonzero<'py>(&self, py: Python<'py>, as_tuple: bool) -> PyResult<Bound<'py, PyAny>> {
        let nz = ops::nonzero(&self.t).py()?;
        if !as_tuple {
            return Ok(Bound::new(py, PyTensor::from(nz))?.into_any());
        }
        let cols: Vec<PyTensor> = (0..self.t.ndim().max(1))
            .map(|j| if self.t.ndim() == 0 { ops::reshape(&nz, &[-1]) } else { ops::select(&nz, 1, j as i64) }.map(PyTensor::from))
            .collect::<dlcore_core::Result<_>>()
            .py()?;
        Ok(PyTuple::new(py, cols)?.into_any())
    }

    // ----- in-place ---------------------------------------------------------
    #[pyo3(signature = (other, alpha=1.0))]
    fn add_<'py>(slf: Bound<'py, Self>, other: &Bound<'py, PyAny>, alpha: f64) -> PyResult<Bound<'py, Self>> {
        Self::inplace(&slf, other, BinOp::Add, alpha)?;
        Ok(slf)
    }
    #[pyo3(signature = (other, alpha=1.0))]
    fn sub_<'py>(slf: Bound<'py, Self>, other: &Bound<'py, PyAny>, alpha: f64) -> PyResult<Bound<'py, Self>> {
        Self::inplace(&slf, other, BinOp::Sub, alpha)?;
        Ok(slf)
    }
    fn mul_<'py>(slf: Bound<'py, Self>, other: &Bound<'py, PyAny>) -> PyResult<Bound<'py, Self>> {
        Self::inplace(&slf, other, BinOp::Mul, 1.0)?;
        Ok(slf)
    }
    fn div_<'py>(slf: Bound<'py, Self>, other: &Bound<'py, PyAny>) -> PyResult<Bound<'py, Self>> {
        Self::inplace(&slf, other, BinOp::Div, 1.0)?;
        Ok(slf)
    }
    fn __iadd__<'py>(slf: Bound<'py, Self>, other: &Bound<'py, PyAny>) -> PyResult<()> {
        Self::add_(slf, other, 1.0).map(|_| ())
    }
    fn __isub__<'py>(slf: Bound<'py, Self>, other: &Bound<'py, PyAny>) -> PyResult<()> {
        Self::sub_(slf, other, 1.0).map(|_| ())
    }
    fn __imul__<'py>(slf: Bound<'py, Self>, other: &Bound<'py, PyAny>) -> PyResult<()> {
        Self::mul_(slf, other).map(|_| ())
    }
    fn __itruediv__<'py>(slf: Bound<'py, Self>, other: &Bound<'py, PyAny>) -> PyResult<()> {
        Self::div_(slf, other).map(|_| ())
    }
    fn zero_(slf: Bound<'_, Self>) -> PyResult<Bound<'_, Self>> {
        ops::zero_(&slf.get().t).py()?;
        Ok(slf)
    }
    fn fill_<'py>(slf: Bound<'py, Self>, value: &Bound<'py, PyAny>) -> PyResult<Bound<'py, Self>> {
        let v: f64 = if let Ok(t) = value.cast::<PyTensor>() { t.get().t.item().py()?.to_f64() } else { value.extract()? };
        ops::fill_(&slf.get().t, v).py()?;
        Ok(slf)
    }
    #[pyo3(signature = (src, non_blocking=false))]
    fn copy_<'py>(slf: Bound<'py, Self>, src: &Bound<'py, PyAny>, non_blocking: bool) -> PyResult<Bound<'py, Self>> {
        let _ = non_blocking;
        let s = need(slf.py(), src, &slf.get().t, "copy_")?;
        let t = slf.get().t.clone();
        run(slf.py(), t.numel(), move || ops::copy_(&t, &s))?;
        Ok(slf)
    }
    #[pyo3(signature = (min=None, max=None))]
    fn clamp_(slf: Bound<'_, Self>, min: Option<f64>, max: Option<f64>) -> PyResult<Bound<'_, Self>> {
        ops::unary_(&slf.get().t, "clamp_", |x| ops::clamp(x, min, max)).py()?;
        Ok(slf)
    }
    fn scatter_<'py>(slf: Bound<'py, Self>, dim: i64, index: &PyTensor, src: &Bound<'py, PyAny>) -> PyResult<Bound<'py, Self>> {
        let s = need(slf.py(), src, &slf.get().t, "scatter_")?;
        let idx = index.t.clone();
        ops::inplace_with(&slf.get().t, &[&s], "scatter_", |x| ops::scatter(x, dim, &idx, &s)).py()?;
        Ok(slf)
    }
    fn scatter_add_<'py>(slf: Bound<'py, Self>, dim: i64, index: &PyTensor, src: &PyTensor) -> PyResult<Bound<'py, Self>> {
        let (idx, s) = (index.t.clone(), src.t.clone());
        ops::inplace_with(&slf.get().t, &[&s], "scatter_add_", |x| ops::scatter_add(x, dim, &idx, &s)).py()?;
        Ok(slf)
    }
    fn masked_fill_<'py>(slf: Bound<'py, Self>, mask: &PyTensor, value: &Bound<'py, PyAny>) -> PyResult<Bound<'py, Self>> {
        let r = slf.get().masked_fill(mask, value)?;
        ops::copy_(&slf.get().t, &r.t).py()?;
        Ok(slf)
    }
    #[pyo3(signature = (a=0.0, b=1.0))]
    fn uniform_(slf: Bound<'_, Self>, a: f64, b: f64) -> PyResult<Bound<'_, Self>> {
        ops::uniform_(&slf.get().t, a, b).py()?;
        Ok(slf)
    }
    #[pyo3(signature = (mean=0.0, std=1.0))]
    fn normal_(slf: Bound<'_, Self>, mean: f64, std: f64) -> PyResult<Bound<'_, Self>> {
        ops::normal_(&slf.get().t, mean, std).py()?;
        Ok(slf)
    }
}

impl PyTensor {
    fn add_sub(&self, py: Python<'_>, other: &Bound<'_, PyAny>, alpha: Option<f64>, op: BinOp) -> PyResult<Py<PyAny>> {
        match alpha {
            None => self.binop(py, other, op, false),
            Some(a) => {
                let o = need(py, other, &self.t, op.name())?;
                let scaled = ops::mul(&o, &Tensor::scalar(a, if o.dtype.is_float() { o.dtype } else { dlcore_core::DType::F32 })).py()?;
                wrap(py, ops::binary(op, &self.t, &scaled).py()?)
            }
        }
    }
    fn extreme(&self, py: Python<'_>, dim: Option<&Bound<'_, PyAny>>, keepdim: bool, max: bool) -> PyResult<Py<PyAny>> {
        match dim {
            None => wrap(py, ops::max_min_all(&self.t, max).py()?),
            Some(d) if d.is_none() => wrap(py, ops::max_min_all(&self.t, max).py()?),
            Some(d) => {
                if let Ok(o) = d.cast::<PyTensor>() {
                    let f = if max { ops::maximum } else { ops::minimum };
                    return wrap(py, f(&self.t, &o.get().t).py()?);
                }
                let (v, i) = ops::max_min_dim(&self.t, d.extract()?, keepdim, max).py()?;
                let kind = if max { "max" } else { "min" };
                let r = py.import("dlcore._format")?.getattr("return_type")?.call1((kind, PyTensor::from(v), PyTensor::from(i)))?;
                Ok(r.unbind())
            }
        }
    }
    fn softmax_impl(&self, py: Python<'_>, dim: i64, dtype: Option<&Bound<'_, PyAny>>, log: bool) -> PyResult<PyTensor> {
        let t = match opt_dtype(dtype)? {
            Some(d) => ops::to_dtype(&self.t, d).py()?,
            None => self.t.clone(),
        };
        run(py, t.numel(), move || ops::softmax(&t, dim, log)).map(Into::into)
    }
}
