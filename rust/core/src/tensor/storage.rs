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

/// A `Vec<T>` of length `n` whose elements are not initialised, for a kernel
/// output that the kernel overwrites completely: `vec![T::zero(); n]` costs a
/// memset of the whole buffer (with the malloc tuning in `cpu/malloc.rs`
/// freed blocks are reused, so calloc cannot skip it), which was 6% of the
/// LeNet step and 15% of leaky_relu.
///
/// The memory comes from a `Vec<MaybeUninit<T>>` (no initialisation is
/// needed for that type) and is handed out as `Vec<T>`. Reading an element
/// that has not been written is undefined behaviour, hence `unsafe`.
///
/// `DLCORE_POISON_UNINIT=1` (read once) and debug builds fill the buffer
/// with NaN (floats) or `i64::MIN` (integers) instead, so a missed write
/// shows up as a wrong value in the tests that compare with torch.
///
/// # Safety
/// Before any element is read, and before the vector leaves the kernel
/// (becomes a tensor, is returned to a caller that reads it), every one of
/// its `n` elements must have been written — through `&mut` slices,
/// `chunks_mut` or raw pointer stores. Kernels that accumulate (`+=`) or
/// scatter into a subset of positions must keep `vec![T::zero(); n]`.
pub unsafe fn uninit_vec<T: Element>(n: usize) -> Vec<T> {
    if poison_uninit() {
        let poison = if T::DTYPE.is_float() { f64::NAN } else { i64::MIN as f64 };
        return vec![T::from_f64(poison); n];
    }
    // SAFETY: the caller's contract above makes every element initialised
    // before it is read.
    unsafe { assume_init_vec(uninit_buf(n)) }
}

/// The typed form of [`uninit_vec`] for kernels that can write through
/// `MaybeUninit::write` (the compiler then sees every store): a buffer of `n`
/// uninitialised slots, turned into a `Vec<T>` by [`assume_init_vec`] once
/// the kernel has filled it.
pub fn uninit_buf<T>(n: usize) -> Vec<std::mem::MaybeUninit<T>> {
    let mut v = Vec::with_capacity(n);
    // SAFETY: capacity is n, and MaybeUninit<T> is valid uninitialised.
    unsafe { v.set_len(n) };
    v
}

/// # Safety
/// Every element of `v` must have been written.
pub unsafe fn assume_init_vec<T>(v: Vec<std::mem::MaybeUninit<T>>) -> Vec<T> {
    let mut v = std::mem::ManuallyDrop::new(v);
    // SAFETY: MaybeUninit<T> has T's size and alignment, so the allocation
    // (pointer, length, capacity) is a valid Vec<T> allocation; the caller
    // guarantees every element is initialised.
    unsafe { Vec::from_raw_parts(v.as_mut_ptr() as *mut T, v.len(), v.capacity()) }
}

/// Whether `uninit_vec` fills its buffers with poison (see there).
fn poison_uninit() -> bool {
    static POISON: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *POISON.get_or_init(|| cfg!(debug_assertions) || std::env::var("DLCORE_POISON_UNINIT").is_ok_and(|v| v == "1"))
}

#[cfg(test)]
mod tests {
    /// Debug builds (cargo test) poison: a kernel that skips an element
    /// leaves NaN / i64::MIN there, which the kernel tests then catch.
    #[test]
    fn uninit_vec_is_poisoned_in_debug_builds() {
        // SAFETY: only the length is used and every element is written below
        // in release builds before reading.
        let mut f: Vec<f32> = unsafe { super::uninit_vec(5) };
        let i: Vec<i64> = unsafe { super::uninit_vec(3) };
        if cfg!(debug_assertions) {
            assert!(f.iter().all(|v| v.is_nan()));
            assert!(i.iter().all(|&v| v == i64::MIN));
        }
        f.iter_mut().for_each(|v| *v = 1.0);
        assert_eq!(f, vec![1.0; 5]);
        assert_eq!(f.len() + i.len(), 8);
    }
}
