//! The tensor: a strided view of a `Storage` plus its autograd metadata.

pub mod dtype;
pub mod layout;
pub mod storage;

pub use dtype::{promote, DType, Element};
pub use layout::*;
pub use storage::{CpuBuffer, Device, Storage};

use crate::autograd::Node;
use crate::error::{Error, Result};
use std::borrow::Cow;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

/// A Python-side scalar value in its own category.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Scalar {
    Bool(bool),
    Int(i64),
    Float(f64),
}

impl Scalar {
    pub fn to_f64(self) -> f64 {
        match self {
            Scalar::Bool(b) => b as i64 as f64,
            Scalar::Int(i) => i as f64,
            Scalar::Float(f) => f,
        }
    }
}

#[derive(Default)]
pub struct AutogradMeta {
    pub(crate) requires_grad: AtomicBool,
    pub(crate) grad: Mutex<Option<Tensor>>,
    pub(crate) grad_fn: Mutex<Option<Arc<Node>>>,
    pub(crate) retains_grad: AtomicBool,
    /// For a view recorded by autograd: the tensor whose memory it views
    /// (never itself a view). In-place writes through the view rewrite the
    /// base's history (see ops/inplace.rs).
    pub(crate) view_base: Mutex<Option<Tensor>>,
}

pub struct TensorImpl {
    pub storage: Storage,
    pub shape: Vec<usize>,
    pub strides: Vec<usize>,
    pub offset: usize,
    pub dtype: DType,
    pub(crate) meta: AutogradMeta,
}

/// Cheap to clone: a reference-counted handle (like a Python reference).
#[derive(Clone)]
pub struct Tensor(pub Arc<TensorImpl>);

impl std::ops::Deref for Tensor {
    type Target = TensorImpl;
    fn deref(&self) -> &TensorImpl {
        &self.0
    }
}

/// Locks never poison in practice (kernels do not panic); if one did, keep
/// going with the data rather than turn one bug into a crash.
pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl Tensor {
    pub fn from_parts(
        storage: Storage,
        shape: Vec<usize>,
        strides: Vec<usize>,
        offset: usize,
        dtype: DType,
    ) -> Tensor {
        // an empty view may point one past its storage; pin it to 0 so every
        // `offset..offset + numel` range is in bounds
        let offset = if numel(&shape) == 0 { 0 } else { offset };
        Tensor(Arc::new(TensorImpl {
            storage,
            shape,
            strides,
            offset,
            dtype,
            meta: AutogradMeta::default(),
        }))
    }

    /// A contiguous tensor owning `data`; `data.len()` must equal the shape's numel.
    pub fn from_vec<T: Element>(data: Vec<T>, shape: &[usize]) -> Result<Tensor> {
        if data.len() != numel(shape) {
            return Err(Error::runtime(format!(
                "tensor: {} elements cannot have shape {shape:?}",
                data.len()
            )));
        }
        Ok(Tensor::from_parts(
            Storage::from_vec(data),
            shape.to_vec(),
            contiguous_strides(shape),
            0,
            T::DTYPE,
        ))
    }

    /// Internal constructor for kernel outputs whose length is right by construction.
    pub(crate) fn from_vec_unchecked<T: Element>(data: Vec<T>, shape: &[usize]) -> Tensor {
        debug_assert_eq!(data.len(), numel(shape));
        Tensor::from_parts(
            Storage::from_vec(data),
            shape.to_vec(),
            contiguous_strides(shape),
            0,
            T::DTYPE,
        )
    }

    pub fn full(shape: &[usize], value: f64, dtype: DType) -> Tensor {
        let n = numel(shape);
        crate::with_dtype!(dtype, T => Tensor::from_vec_unchecked(vec![T::from_f64(value); n], shape))
    }
    pub fn zeros(shape: &[usize], dtype: DType) -> Tensor {
        Tensor::full(shape, 0.0, dtype)
    }
    pub fn scalar(value: f64, dtype: DType) -> Tensor {
        Tensor::full(&[], value, dtype)
    }

    pub fn ndim(&self) -> usize {
        self.shape.len()
    }
    pub fn numel(&self) -> usize {
        numel(&self.shape)
    }
    pub fn device(&self) -> Device {
        self.storage.device()
    }
    pub fn is_contiguous(&self) -> bool {
        is_contiguous(&self.shape, &self.strides)
    }
    pub fn same_tensor(&self, other: &Tensor) -> bool {
        Arc::ptr_eq(&self.0, &other.0)
    }

    /// A new tensor sharing this one's memory (no autograd history).
    pub fn alias(&self, shape: Vec<usize>, strides: Vec<usize>, offset: usize) -> Tensor {
        Tensor::from_parts(self.storage.clone(), shape, strides, offset, self.dtype)
    }

    /// The elements in row-major order: borrowed when contiguous, gathered otherwise.
    pub fn data<T: Element>(&self) -> Cow<'_, [T]> {
        let buf = self.storage.cpu().slice::<T>();
        if self.is_contiguous() {
            Cow::Borrowed(&buf[self.offset..self.offset + self.numel()])
        } else {
            let mut out = vec![T::zero(); self.numel()];
            crate::cpu::copy::gather(buf, &self.shape, &self.strides, self.offset, &mut out);
            Cow::Owned(out)
        }
    }

    pub fn to_vec<T: Element>(&self) -> Vec<T> {
        self.data::<T>().into_owned()
    }

    /// Elements converted to f64 (tests, item(), small reductions).
    pub fn to_f64_vec(&self) -> Vec<f64> {
        crate::with_dtype!(self.dtype, T => self.data::<T>().iter().map(|v| v.to_f64()).collect())
    }

    pub fn item(&self) -> Result<Scalar> {
        if self.numel() != 1 {
            return Err(Error::runtime(format!(
                "item: a Tensor with {} elements cannot be converted to Scalar",
                self.numel()
            )));
        }
        let buf = self.storage.cpu();
        let o = self.offset;
        Ok(match self.dtype {
            DType::F32 => Scalar::Float(buf.slice::<f32>()[o] as f64),
            DType::F64 => Scalar::Float(buf.slice::<f64>()[o]),
            DType::I64 => Scalar::Int(buf.slice::<i64>()[o]),
            DType::Bool => Scalar::Bool(buf.slice::<bool>()[o]),
        })
    }

    // ----- autograd metadata -------------------------------------------------

    pub fn requires_grad(&self) -> bool {
        self.meta.requires_grad.load(Ordering::Relaxed)
    }
    pub fn set_requires_grad(&self, flag: bool) -> Result<()> {
        if flag && !self.dtype.is_float() {
            return Err(Error::runtime(format!(
                "requires_grad_: only Tensors of floating point dtype can require gradients (got {})",
                self.dtype.name()
            )));
        }
        if !flag && !self.is_leaf() {
            return Err(Error::runtime(
                "requires_grad_: you can only change requires_grad flags of leaf variables.",
            ));
        }
        self.meta.requires_grad.store(flag, Ordering::Relaxed);
        Ok(())
    }
    pub fn grad_fn(&self) -> Option<Arc<Node>> {
        lock(&self.meta.grad_fn).clone()
    }
    pub(crate) fn set_grad_fn(&self, node: Option<Arc<Node>>) {
        *lock(&self.meta.grad_fn) = node;
    }
    pub fn is_leaf(&self) -> bool {
        lock(&self.meta.grad_fn).is_none()
    }
    pub fn grad(&self) -> Option<Tensor> {
        lock(&self.meta.grad).clone()
    }
    pub fn set_grad(&self, g: Option<Tensor>) -> Result<()> {
        if let Some(g) = &g {
            if g.shape != self.shape {
                return Err(Error::runtime(format!(
                    "assigned grad has shape {:?} but the tensor has shape {:?}",
                    g.shape, self.shape
                )));
            }
            if g.dtype != self.dtype {
                return Err(Error::type_(format!(
                    "assigned grad has dtype {} but the tensor has dtype {}",
                    g.dtype.name(),
                    self.dtype.name()
                )));
            }
        }
        *lock(&self.meta.grad) = g;
        Ok(())
    }
    pub fn retains_grad(&self) -> bool {
        self.meta.retains_grad.load(Ordering::Relaxed)
    }
    pub fn retain_grad(&self) -> Result<()> {
        if !self.requires_grad() {
            return Err(Error::runtime(
                "retain_grad: can't retain_grad on Tensor that has requires_grad=False",
            ));
        }
        if let Some(node) = self.grad_fn() {
            if !self.retains_grad() {
                node.retain(self);
            }
            self.meta.retains_grad.store(true, Ordering::Relaxed);
        }
        Ok(())
    }
    pub fn view_base(&self) -> Option<Tensor> {
        lock(&self.meta.view_base).clone()
    }
    /// Marks `self` as an autograd view of `input` (or of input's own base).
    pub(crate) fn set_view_of(&self, input: &Tensor) {
        let base = input.view_base().unwrap_or_else(|| input.clone());
        *lock(&self.meta.view_base) = Some(base);
    }

    /// Same data, no history: shares memory (like torch's `detach`).
    pub fn detach(&self) -> Tensor {
        self.alias(self.shape.clone(), self.strides.clone(), self.offset)
    }
}

impl std::fmt::Debug for Tensor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Tensor(shape={:?}, dtype={}, requires_grad={})", self.shape, self.dtype.name(), self.requires_grad())
    }
}
