//! Bindings for the fused recurrent layers. Each returns one (rows + S·B, H)
//! tensor — outputs, then h_n (and c_n for LSTM) — see `ops/rnn.rs`;
//! `batch_sizes` (a PackedSequence's) makes `input` a packed (rows, I) batch.

use crate::tensor::{run, PyTensor};
use dlcore_core::ops::{self, RnnArgs};
use dlcore_core::Tensor;
use pyo3::prelude::*;

/// Owned copies of the operands, moved into the (GIL-free) call.
struct Owned {
    x: Tensor,
    states: Vec<Tensor>,
    wi: Tensor,
    wh: Tensor,
    bi: Option<Tensor>,
    bh: Option<Tensor>,
    reverse: bool,
    bs: Option<Vec<usize>>,
}

impl Owned {
    #[allow(clippy::too_many_arguments)]
    fn new(x: &PyTensor, states: &[&PyTensor], wi: &PyTensor, wh: &PyTensor, bi: Option<&PyTensor>, bh: Option<&PyTensor>, reverse: bool, bs: Option<Vec<usize>>) -> Owned {
        Owned {
            x: x.t.clone(),
            states: states.iter().map(|s| s.t.clone()).collect(),
            wi: wi.t.clone(),
            wh: wh.t.clone(),
            bi: bi.map(|b| b.t.clone()),
            bh: bh.map(|b| b.t.clone()),
            reverse,
            bs,
        }
    }
    fn work(&self) -> usize {
        self.x.numel().saturating_mul(self.wi.shape.first().copied().unwrap_or(1))
    }
    fn args(&self) -> RnnArgs<'_> {
        RnnArgs {
            x: &self.x,
            states: self.states.iter().collect(),
            w_ih: &self.wi,
            w_hh: &self.wh,
            b_ih: self.bi.as_ref(),
            b_hh: self.bh.as_ref(),
            reverse: self.reverse,
            batch_sizes: self.bs.as_deref(),
        }
    }
}

/// One LSTM layer-direction; returns (rows + 2B, H): outputs, h_n, c_n.
#[pyfunction]
#[pyo3(signature = (input, h0, c0, weight_ih, weight_hh, bias_ih, bias_hh, reverse, batch_sizes=None))]
#[allow(clippy::too_many_arguments)]
fn lstm_layer(
    py: Python<'_>,
    input: &PyTensor,
    h0: &PyTensor,
    c0: &PyTensor,
    weight_ih: &PyTensor,
    weight_hh: &PyTensor,
    bias_ih: Option<&PyTensor>,
    bias_hh: Option<&PyTensor>,
    reverse: bool,
    batch_sizes: Option<Vec<usize>>,
) -> PyResult<PyTensor> {
    let o = Owned::new(input, &[h0, c0], weight_ih, weight_hh, bias_ih, bias_hh, reverse, batch_sizes);
    run(py, o.work(), move || ops::lstm_layer(&o.args())).map(Into::into)
}

/// One GRU layer-direction; returns (rows + B, H): outputs, h_n.
#[pyfunction]
#[pyo3(signature = (input, h0, weight_ih, weight_hh, bias_ih, bias_hh, reverse, batch_sizes=None))]
#[allow(clippy::too_many_arguments)]
fn gru_layer(
    py: Python<'_>,
    input: &PyTensor,
    h0: &PyTensor,
    weight_ih: &PyTensor,
    weight_hh: &PyTensor,
    bias_ih: Option<&PyTensor>,
    bias_hh: Option<&PyTensor>,
    reverse: bool,
    batch_sizes: Option<Vec<usize>>,
) -> PyResult<PyTensor> {
    let o = Owned::new(input, &[h0], weight_ih, weight_hh, bias_ih, bias_hh, reverse, batch_sizes);
    run(py, o.work(), move || ops::gru_layer(&o.args())).map(Into::into)
}

/// One Elman RNN layer-direction (tanh, or relu); returns (rows + B, H): outputs, h_n.
#[pyfunction]
#[pyo3(signature = (input, h0, weight_ih, weight_hh, bias_ih, bias_hh, reverse, relu, batch_sizes=None))]
#[allow(clippy::too_many_arguments)]
fn rnn_layer(
    py: Python<'_>,
    input: &PyTensor,
    h0: &PyTensor,
    weight_ih: &PyTensor,
    weight_hh: &PyTensor,
    bias_ih: Option<&PyTensor>,
    bias_hh: Option<&PyTensor>,
    reverse: bool,
    relu: bool,
    batch_sizes: Option<Vec<usize>>,
) -> PyResult<PyTensor> {
    let o = Owned::new(input, &[h0], weight_ih, weight_hh, bias_ih, bias_hh, reverse, batch_sizes);
    run(py, o.work(), move || ops::rnn_layer(&o.args(), relu)).map(Into::into)
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(lstm_layer, m)?)?;
    m.add_function(wrap_pyfunction!(gru_layer, m)?)?;
    m.add_function(wrap_pyfunction!(rnn_layer, m)?)?;
    Ok(())
}
