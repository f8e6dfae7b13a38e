//! dlcore._core: PyO3 bindings only. Each binding converts arguments, calls
//! one core op (releasing the GIL when the work is large) and maps errors.

mod bench;
mod conv_bindings;
mod convert;
mod errors;
mod functions;
mod indexing;
mod optim_bindings;
mod seq_bindings;
mod rnn_bindings;
mod nn_bindings;
mod tensor;
mod tensor_math;

use convert::{PyDType, PyDevice};

use dlcore_core::DType;
use pyo3::prelude::*;

#[pymodule]
fn _core(m: &Bound<'_, PyModule>) -> PyResult<()> {
    dlcore_core::cpu::malloc::tune(); // keep per-step tensors on the heap (see malloc.rs)
    tensor::register(m)?;
    functions::register(m)?;
    conv_bindings::register(m)?;
    optim_bindings::register(m)?;
    nn_bindings::register(m)?;
    rnn_bindings::register(m)?;
    bench::register(m)?;
    seq_bindings::register(m)?;
    m.add_class::<PyDType>()?;
    m.add_class::<PyDevice>()?;
    for (name, d) in [("float32", DType::F32), ("float64", DType::F64), ("int64", DType::I64), ("bool", DType::Bool)] {
        m.add(name, convert::dtype_object(m.py(), d)?)?;
    }
    Ok(())
}
