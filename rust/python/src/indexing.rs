//! `tensor[key]` and `tensor[key] = value` with ints, slices, None, Ellipsis,
//! index tensors, lists and bool masks (NumPy/PyTorch semantics).

use crate::convert::{array_to_tensor, operand};
use crate::errors::IntoPy;
use crate::tensor::PyTensor;
use dlcore_core::{ops, DType, Tensor};
use numpy::PyUntypedArray;
use pyo3::exceptions::{PyIndexError, PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyBool, PyEllipsis, PyInt, PyList, PyNone, PySlice, PySliceMethods, PyTuple};

enum Item {
    Int(i64),
    Slice(Py<PySlice>),
    NewAxis,
    Ellipsis,
    Index(Tensor),
}

fn to_index_tensor(obj: &Bound<'_, PyAny>) -> PyResult<Option<Tensor>> {
    if let Ok(t) = obj.cast::<PyTensor>() {
        return Ok(Some(t.get().t.clone()));
    }
    if let Ok(a) = obj.cast::<PyUntypedArray>() {
        return Ok(Some(array_to_tensor(a, true)?));
    }
    if obj.cast::<PyList>().is_ok() {
        let np = obj.py().import("numpy")?;
        let arr = np.call_method1("asarray", (obj,))?;
        let arr = if arr.getattr("size")?.extract::<usize>()? == 0 { arr.call_method1("astype", ("int64",))? } else { arr };
        return Ok(Some(array_to_tensor(arr.cast::<PyUntypedArray>()?, true)?));
    }
    Ok(None)
}

/// A tuple of index tensors (torch's `index_put_` argument).
fn index_list(indices: &Bound<'_, PyAny>) -> PyResult<Vec<Option<Tensor>>> {
    indices
        .try_iter()?
        .map(|o| {
            let o = o?;
            if o.is_none() {
                return Ok(None);
            }
            to_index_tensor(&o)?.map(Some).ok_or_else(|| PyTypeError::new_err("index_put_: indices must be tensors"))
        })
        .collect()
}

fn parse(key: &Bound<'_, PyAny>) -> PyResult<Vec<Item>> {
    let items: Vec<Bound<'_, PyAny>> = match key.cast::<PyTuple>() {
        Ok(t) => t.iter().collect(),
        Err(_) => vec![key.clone()],
    };
    items
        .iter()
        .map(|it| {
            if it.cast::<PyBool>().is_ok() {
                Err(PyTypeError::new_err("indexing with a Python bool is not supported by dlcore"))
            } else if it.cast::<PyInt>().is_ok() {
                Ok(Item::Int(it.extract()?))
            } else if let Ok(s) = it.cast::<PySlice>() {
                Ok(Item::Slice(s.clone().unbind()))
            } else if it.cast::<PyNone>().is_ok() {
                Ok(Item::NewAxis)
            } else if it.cast::<PyEllipsis>().is_ok() {
                Ok(Item::Ellipsis)
            } else if let Some(t) = to_index_tensor(it)? {
                match t.dtype {
                    DType::I64 | DType::Bool => Ok(Item::Index(t)),
                    _ => Err(PyIndexError::new_err("tensors used as indices must be long, int or bool tensors")),
                }
            } else {
                Err(PyTypeError::new_err(format!(
                    "only integers, slices (`:`), ellipsis (`...`), None and long or bool tensors are valid indices (got {})",
                    it.get_type().name()?
                )))
            }
        })
        .collect()
}

/// Applies the basic (view) part of the key; returns the view and the
/// advanced index tensors by the dim they apply to in that view.
fn apply_basic(py: Python<'_>, x: &Tensor, items: Vec<Item>) -> PyResult<(Tensor, Vec<Option<Tensor>>)> {
    let consumed: usize = items
        .iter()
        .map(|i| match i {
            Item::Int(_) | Item::Slice(_) => 1,
            Item::Index(t) if t.dtype == DType::Bool => t.ndim(),
            Item::Index(_) => 1,
            _ => 0,
        })
        .sum();
    if consumed > x.ndim() {
        return Err(PyIndexError::new_err(format!(
            "too many indices for tensor of dimension {} (got {consumed})",
            x.ndim()
        )));
    }
    if items.iter().filter(|i| matches!(i, Item::Ellipsis)).count() > 1 {
        return Err(PyIndexError::new_err("an index can only have a single ellipsis ('...')"));
    }
    let mut t = x.clone();
    let mut d = 0usize;
    let mut adv: Vec<Option<Tensor>> = Vec::new();
    for it in items {
        match it {
            Item::Int(i) => {
                t = ops::select(&t, d as i64, i).py()?;
            }
            Item::Slice(s) => {
                let size = t.shape[d];
                let ind = s.bind(py).indices(size as isize)?;
                if ind.step <= 0 {
                    return Err(PyValueError::new_err("step must be greater than zero"));
                }
                let start = ind.start.max(0) as usize;
                let stop = (ind.stop.max(ind.start)).max(0) as usize;
                t = ops::slice(&t, d as i64, start, stop, ind.step as usize).py()?;
                d += 1;
            }
            Item::NewAxis => {
                t = ops::unsqueeze(&t, d as i64).py()?;
                d += 1;
            }
            Item::Ellipsis => {
                d += x.ndim() - consumed;
            }
            Item::Index(ix) if ix.dtype == DType::Bool && ix.ndim() == 0 => {
                t = ops::unsqueeze(&t, d as i64).py()?;
                if !ix.item().py()?.to_f64().ne(&0.0) {
                    t = ops::slice(&t, d as i64, 0, 0, 1).py()?;
                }
                d += 1;
            }
            Item::Index(ix) => {
                adv.resize(d + 1, None);
                let k = if ix.dtype == DType::Bool { ix.ndim() } else { 1 };
                adv[d] = Some(ix);
                d += k;
            }
        }
    }
    Ok((t, adv))
}

/// `apply_basic` leaves placeholders after a multi-dim bool mask; drop them
/// so each entry is one index item as `index_tensors` expects.
fn line_up(adv: Vec<Option<Tensor>>) -> Vec<Option<Tensor>> {
    let mut indices = Vec::new();
    let mut skip = 0;
    for a in adv {
        if skip > 0 {
            skip -= 1;
            continue;
        }
        if let Some(ix) = &a {
            if ix.dtype == DType::Bool {
                skip = ix.ndim().saturating_sub(1);
            }
        }
        indices.push(a);
    }
    indices
}

#[pymethods]
impl PyTensor {
    #[pyo3(signature = (indices, values, accumulate=false))]
    fn index_put_<'py>(slf: Bound<'py, Self>, indices: &Bound<'py, PyAny>, values: &PyTensor, accumulate: bool) -> PyResult<Bound<'py, Self>> {
        let idx = index_list(indices)?;
        ops::inplace_with(&slf.get().t, &[&values.t], "index_put_", |old| ops::index_put(old, &idx, &values.t, accumulate)).py()?;
        Ok(slf)
    }
    #[pyo3(signature = (indices, values, accumulate=false))]
    fn index_put(&self, indices: &Bound<'_, PyAny>, values: &PyTensor, accumulate: bool) -> PyResult<PyTensor> {
        ops::index_put(&self.t, &index_list(indices)?, &values.t, accumulate).py().map(Into::into)
    }
    fn __getitem__(&self, py: Python<'_>, key: &Bound<'_, PyAny>) -> PyResult<PyTensor> {
        // fast path: a single int
        if key.cast::<PyInt>().is_ok() && key.cast::<PyBool>().is_err() {
            return ops::select(&self.t, 0, key.extract()?).py().map(Into::into);
        }
        let (t, adv) = apply_basic(py, &self.t, parse(key)?)?;
        if adv.is_empty() {
            return Ok(t.into());
        }
        ops::index_tensors(&t, &line_up(adv)).py().map(Into::into)
    }

    fn __setitem__(&self, py: Python<'_>, key: &Bound<'_, PyAny>, value: &Bound<'_, PyAny>) -> PyResult<()> {
        let v = operand(value, self.t.dtype)?.ok_or_else(|| {
            PyTypeError::new_err(format!("can't assign a {} to a dlcore Tensor", value.get_type().name().map(|n| n.to_string()).unwrap_or_default()))
        })?;
        let (view, adv) = apply_basic(py, &self.t, parse(key)?)?;
        if adv.is_empty() {
            return ops::copy_(&view, &v).py();
        }
        let indices = line_up(adv);
        ops::inplace_with(&view, &[&v], "index_put_", |old| ops::index_put(old, &indices, &v, false)).py()
    }
}
