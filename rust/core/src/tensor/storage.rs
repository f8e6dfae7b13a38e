//! Storage: where a tensor's elements live. `Storage` is the device
//! abstraction: ops ask it for the device and hand it to a kernel; a CUDA
//! variant slots in beside `Cpu` without touching op definitions.

use super::dtype::{DType, Element};
use std::any::Any;
use std::ptr::NonNull;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Device {
    Cpu,
}

impl Device {
    pub fn name(self) -> &'static str {
        match self {
            Device::Cpu => "cpu",
        }
    }
}

/// A block of host memory. It either owns a `Vec<T>` or borrows memory owned
/// by someone else (a NumPy array) kept alive by `_owner`, which is how
/// `from_numpy` shares memory without copying.
pub struct CpuBuffer {
    ptr: NonNull<u8>,
    len: usize,
    dtype: DType,
    _owner: Box<dyn Any + Send + Sync>,
    /// Bumped by every in-place write; autograd compares it with the value
    /// recorded when a tensor was saved for backward.
    version: AtomicU64,
}

// SAFETY: the buffer is plain memory; concurrent mutation through aliasing
// tensors is the user's responsibility exactly as in PyTorch/NumPy.
unsafe impl Send for CpuBuffer {}
unsafe impl Sync for CpuBuffer {}

impl CpuBuffer {
    pub fn from_vec<T: Element>(mut v: Vec<T>) -> Self {
        let len = v.len();
        // An empty Vec has a dangling but non-null, aligned pointer: fine for len 0.
        let ptr = NonNull::new(v.as_mut_ptr() as *mut u8).unwrap_or(NonNull::dangling());
        CpuBuffer { ptr, len, dtype: T::DTYPE, _owner: Box::new(v), version: AtomicU64::new(0) }
    }

    /// # Safety
    /// `ptr` must point to `len` valid, aligned elements of `dtype` that stay
    /// alive and unmoved as long as `owner` is alive.
    pub unsafe fn from_external(
        ptr: *mut u8,
        len: usize,
        dtype: DType,
        owner: Box<dyn Any + Send + Sync>,
    ) -> Self {
        let ptr = NonNull::new(ptr).unwrap_or(NonNull::dangling());
        CpuBuffer { ptr, len, dtype, _owner: owner, version: AtomicU64::new(0) }
    }

    pub fn len(&self) -> usize {
        self.len
    }
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
    pub fn dtype(&self) -> DType {
        self.dtype
    }
    pub fn as_ptr(&self) -> *mut u8 {
        self.ptr.as_ptr()
    }

    /// The whole buffer as a slice of `T`.
    pub fn slice<T: Element>(&self) -> &[T] {
        assert_eq!(T::DTYPE, self.dtype, "internal: buffer dtype mismatch");
        // SAFETY: ptr/len describe `len` initialised elements of this dtype
        // (checked above), kept alive by `_owner` which lives as long as self.
        unsafe { std::slice::from_raw_parts(self.ptr.as_ptr() as *const T, self.len) }
    }

    /// Mutable view for in-place kernels and freshly allocated outputs.
    ///
    /// # Safety
    /// The caller must ensure no other slice of this buffer is being read or
    /// written for the duration (true for fresh outputs; for in-place ops the
    /// same contract as PyTorch: aliasing writes are the user's business).
    #[allow(clippy::mut_from_ref)]
    pub unsafe fn slice_mut<T: Element>(&self) -> &mut [T] {
        assert_eq!(T::DTYPE, self.dtype, "internal: buffer dtype mismatch");
        std::slice::from_raw_parts_mut(self.ptr.as_ptr() as *mut T, self.len)
    }

    pub fn version(&self) -> u64 {
        self.version.load(Ordering::Relaxed)
    }
    pub fn bump_version(&self) {
        self.version.fetch_add(1, Ordering::Relaxed);
    }
}

#[derive(Clone)]
pub enum Storage {
    Cpu(Arc<CpuBuffer>),
}

impl Storage {
    pub fn from_vec<T: Element>(v: Vec<T>) -> Self {
        Storage::Cpu(Arc::new(CpuBuffer::from_vec(v)))
    }
    pub fn device(&self) -> Device {
        match self {
            Storage::Cpu(_) => Device::Cpu,
        }
    }
    pub fn cpu(&self) -> &CpuBuffer {
        match self {
            Storage::Cpu(b) => b,
        }
    }
    pub fn version(&self) -> u64 {
        self.cpu().version()
    }
    pub fn bump_version(&self) {
        self.cpu().bump_version()
    }
    pub fn same(&self, other: &Storage) -> bool {
        match (self, other) {
            (Storage::Cpu(a), Storage::Cpu(b)) => Arc::ptr_eq(a, b),
        }
    }
}
