//! dlcore-core: tensors, autograd, op definitions and CPU kernels. No Python.
//!
//! Data flows one way: `ops` validates and records the autograd node, then a
//! kernel in `cpu` runs on plain slices.

pub mod autograd;
pub mod cpu;
pub mod error;
pub mod ops;
pub mod rng;
pub mod tensor;

pub use error::{Error, ErrorKind, Result};
pub use tensor::{DType, Device, Scalar, Tensor};
