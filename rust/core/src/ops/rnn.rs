//! Fused recurrent layers (one layer, one direction) as one autograd node each.
//!
//! Input: either an equal-length batch `x` (T, B, I), or a packed batch
//! (PyTorch's PackedSequence data) `x` (rows, I) with `batch_sizes` — the
//! active sequences per time position, non-increasing, summing to rows.
//! Output: one tensor (rows + S·B, H): rows 0..rows are the outputs (time
//! position after time position, each position's active rows), then the S
//! final states, B rows each — h_n, and c_n for LSTM (S = 2; GRU/RNN S = 1),
//! each sequence's state after its own last step. The Python layer splits it
//! with views, so gradients of output, h_n and c_n all flow into one node.

use super::shape;
use crate::autograd::{needs_grad, record};
use crate::cpu::rnn::{gru_backward, gru_forward, lstm_backward, lstm_forward, rnn_backward, rnn_forward, Seq};
use crate::error::{Error, Result};
use crate::tensor::{Element, Tensor};

/// Every input must share the first one's dtype and device.
fn same_dtype_and_device(op: &str, inputs: &[&Tensor]) -> Result<()> {
    let first = inputs[0];
    for (k, tt) in inputs.iter().enumerate() {
        if tt.dtype != first.dtype {
            return Err(Error::runtime(format!(
                "{op}: expected all tensors to have dtype {}, but argument {k} has {}",
                first.dtype.name(),
                tt.dtype.name()
            )));
        }
        if tt.device() != first.device() {
            return Err(Error::runtime(format!("{op}: expected all tensors on the same device (argument {k})")));
        }
    }
    Ok(())
}

/// The operands of one layer-direction call.
pub struct RnnArgs<'a> {
    pub x: &'a Tensor,
    /// h0, and c0 for LSTM; each (B, H).
    pub states: Vec<&'a Tensor>,
    pub w_ih: &'a Tensor,
    pub w_hh: &'a Tensor,
    pub b_ih: Option<&'a Tensor>,
    pub b_hh: Option<&'a Tensor>,
    pub reverse: bool,
    pub batch_sizes: Option<&'a [usize]>,
}

impl RnnArgs<'_> {
    /// Validates shapes for `gates` gates per hidden unit; returns the
    /// sequence layout and the autograd inputs (x, states, weights, biases).
    fn check(&self, op: &str, gates: usize) -> Result<(Seq, Vec<&Tensor>)> {
        let (x, w_ih, w_hh) = (self.x, self.w_ih, self.w_hh);
        let bad = |why: &str| {
            let mut all: Vec<Option<&Tensor>> = vec![Some(x)];
            all.extend(self.states.iter().map(|s| Some(*s)));
            all.extend([Some(w_ih), Some(w_hh), self.b_ih, self.b_hh]);
            let s: Vec<String> = all.iter().map(|t| t.map_or("None".into(), |t| format!("{:?}", t.shape))).collect();
            Error::runtime(format!("{op}: {why}; got input, states, weight_ih, weight_hh, bias_ih, bias_hh of shapes {}", s.join(", ")))
        };
        if w_ih.ndim() != 2 || w_hh.ndim() != 2 {
            return Err(bad("expected 2-D weights"));
        }
        let h = w_hh.shape[1];
        if h == 0 || w_hh.shape[0] != gates * h {
            return Err(bad(&format!("weight_hh must be ({gates}*hidden, hidden) with hidden >= 1")));
        }
        let (bs, i) = match self.batch_sizes {
            None => {
                if x.ndim() != 3 {
                    return Err(bad("expected a 3-D input (T, B, I)"));
                }
                if x.shape[0] == 0 {
                    return Err(bad("expected a sequence of length >= 1"));
                }
                (vec![x.shape[1]; x.shape[0]], x.shape[2])
            }
            Some(bs) => {
                if x.ndim() != 2 {
                    return Err(bad("a packed input must be 2-D (rows, I)"));
                }
                if bs.is_empty() || bs.contains(&0) || bs.windows(2).any(|w| w[1] > w[0]) {
                    return Err(bad(&format!("batch_sizes must be non-empty, positive and non-increasing, got {bs:?}")));
                }
                if bs.iter().sum::<usize>() != x.shape[0] {
                    return Err(bad(&format!("batch_sizes {bs:?} do not sum to the input's {} rows", x.shape[0])));
                }
                (bs.to_vec(), x.shape[1])
            }
        };
        if w_ih.shape != [gates * h, i] {
            return Err(bad(&format!("weight_ih must be ({gates}*hidden, input_size)")));
        }
        let b = bs[0];
        if self.states.iter().any(|s| s.shape != [b, h]) {
            return Err(bad("initial states must be (batch, hidden)"));
        }
        for bias in [self.b_ih, self.b_hh].into_iter().flatten() {
            if bias.shape != [gates * h] {
                return Err(bad(&format!("biases must be ({gates}*hidden,)")));
            }
        }
        let mut inputs: Vec<&Tensor> = vec![x];
        inputs.extend(self.states.iter().copied());
        inputs.extend([w_ih, w_hh]);
        inputs.extend(self.b_ih);
        inputs.extend(self.b_hh);
        same_dtype_and_device(op, &inputs)?;
        Ok((Seq::new(bs, i, h, self.reverse), inputs))
    }
}

/// b_ih + b_hh (absent ones count as zero).
fn sum_bias<T: Element + std::ops::AddAssign>(n: usize, b_ih: Option<&Tensor>, b_hh: Option<&Tensor>) -> Vec<T> {
    let mut bias = vec![T::zero(); n];
    for bt in [b_ih, b_hh].into_iter().flatten() {
        for (a, v) in bias.iter_mut().zip(bt.data::<T>().iter()) {
            *a += *v;
        }
    }
    bias
}

/// The gradient list in input order: dx, the states', the weights', then the
/// biases' that exist.
#[allow(clippy::too_many_arguments)]
fn grad_list<T: Element>(
    x_shape: &[usize],
    dx: Option<Vec<T>>,
    states: Vec<Vec<T>>,
    sq: &Seq,
    g: usize,
    dw: (Vec<T>, Vec<T>),
    db: (Vec<T>, Vec<T>),
    has_bias: (bool, bool),
) -> Vec<Option<Tensor>> {
    let (b, i, h) = (sq.b, sq.i, sq.h);
    let mut v = vec![dx.map(|dx| Tensor::from_vec_unchecked(dx, x_shape))];
    v.extend(states.into_iter().map(|s| Some(Tensor::from_vec_unchecked(s, &[b, h]))));
    v.push(Some(Tensor::from_vec_unchecked(dw.0, &[g * h, i])));
    v.push(Some(Tensor::from_vec_unchecked(dw.1, &[g * h, h])));
    if has_bias.0 {
        v.push(Some(Tensor::from_vec_unchecked(db.0, &[g * h])));
    }
    if has_bias.1 {
        v.push(Some(Tensor::from_vec_unchecked(db.1, &[g * h])));
    }
    v
}

/// One LSTM layer-direction (gates i, f, g, o); states (h0, c0). Returns
/// (rows + 2B, H): outputs, h_n, c_n.
pub fn lstm_layer(a: &RnnArgs) -> Result<Tensor> {
    let (sq, inputs) = a.check("lstm", 4)?;
    let (rows, b, h) = (sq.rows(), sq.b, sq.h);
    let dt = a.x.dtype;
    let grad = needs_grad(&inputs);
    let (xd, h0d, c0d, wid, whd) = (a.x.detach(), a.states[0].detach(), a.states[1].detach(), a.w_ih.detach(), a.w_hh.detach());
    let (out, saved_t) = crate::with_float!(dt, "lstm", T => {
        let bias = sum_bias::<T>(4 * h, a.b_ih, a.b_hh);
        let f = lstm_forward(&sq, &xd.data::<T>(), &h0d.data::<T>(), &c0d.data::<T>(), &wid.data::<T>(), &whd.data::<T>(), &bias);
        let mut v = f.hs;
        v.extend_from_slice(&f.h_n);
        v.extend_from_slice(&f.c_n);
        let out = Tensor::from_vec_unchecked(v, &[rows + 2 * b, h]);
        let st = grad.then(|| (Tensor::from_vec_unchecked(f.gates, &[rows, 4 * h]), Tensor::from_vec_unchecked(f.cs, &[rows, h])));
        (out, st)
    });
    let Some((gates_t, cs_t)) = saved_t else {
        return Ok(out);
    };
    let out_d = out.detach();
    let has_bias = (a.b_ih.is_some(), a.b_hh.is_some());
    let want_dx = a.x.requires_grad();
    let x_shape = a.x.shape.clone();
    let back = move |g: &Tensor| -> Result<Vec<Option<Tensor>>> {
        let g = shape::contiguous(&g.detach())?;
        let res = crate::with_float!(dt, "lstm backward", T => {
            let gd = g.data::<T>();
            let outv = out_d.data::<T>();
            let (dhs, rest) = gd.split_at(rows * h);
            let (dh_n, dc_n) = rest.split_at(b * h);
            let gr = lstm_backward(
                &sq,
                &xd.data::<T>(),
                &h0d.data::<T>(),
                &c0d.data::<T>(),
                &wid.data::<T>(),
                &whd.data::<T>(),
                (&outv[..rows * h], &gates_t.data::<T>(), &cs_t.data::<T>()),
                dhs,
                dh_n,
                dc_n,
                want_dx,
            );
            grad_list(&x_shape, gr.dx, vec![gr.dh0, gr.dc0], &sq, 4, (gr.dw_ih, gr.dw_hh), (gr.db.clone(), gr.db), has_bias)
        });
        Ok(res)
    };
    let saved: Vec<&Tensor> = inputs.clone();
    Ok(record(out, "LstmLayer", &inputs, &saved, Box::new(back)))
}

/// One GRU layer-direction (gates r, z, n as PyTorch); states (h0). Returns
/// (rows + B, H): outputs, h_n.
pub fn gru_layer(a: &RnnArgs) -> Result<Tensor> {
    let (sq, inputs) = a.check("gru", 3)?;
    let (rows, b, h) = (sq.rows(), sq.b, sq.h);
    let dt = a.x.dtype;
    let grad = needs_grad(&inputs);
    let (xd, h0d, wid, whd) = (a.x.detach(), a.states[0].detach(), a.w_ih.detach(), a.w_hh.detach());
    let (out, saved_t) = crate::with_float!(dt, "gru", T => {
        let bi = a.b_ih.map(|t| t.to_vec::<T>()).unwrap_or_else(|| vec![T::zero(); 3 * h]);
        let bh = a.b_hh.map(|t| t.to_vec::<T>()).unwrap_or_else(|| vec![T::zero(); 3 * h]);
        let (mut hs, h_n, saved) = gru_forward(&sq, &xd.data::<T>(), &h0d.data::<T>(), &wid.data::<T>(), &whd.data::<T>(), &bi, &bh);
        hs.extend_from_slice(&h_n);
        let out = Tensor::from_vec_unchecked(hs, &[rows + b, h]);
        let st = grad.then(|| (Tensor::from_vec_unchecked(saved.gates, &[rows, 3 * h]), Tensor::from_vec_unchecked(saved.hn, &[rows, h])));
        (out, st)
    });
    let Some((gates_t, hn_t)) = saved_t else {
        return Ok(out);
    };
    let out_d = out.detach();
    let has_bias = (a.b_ih.is_some(), a.b_hh.is_some());
    let want_dx = a.x.requires_grad();
    let x_shape = a.x.shape.clone();
    let back = move |g: &Tensor| -> Result<Vec<Option<Tensor>>> {
        let g = shape::contiguous(&g.detach())?;
        let res = crate::with_float!(dt, "gru backward", T => {
            let gd = g.data::<T>();
            let outv = out_d.data::<T>();
            let (dhs, dh_n) = gd.split_at(rows * h);
            let gr = gru_backward(&sq, &xd.data::<T>(), &h0d.data::<T>(), &outv[..rows * h], &wid.data::<T>(), &whd.data::<T>(), (&gates_t.data::<T>(), &hn_t.data::<T>()), dhs, dh_n, want_dx);
            grad_list(&x_shape, gr.dx, vec![gr.dh0], &sq, 3, (gr.dw_ih, gr.dw_hh), (gr.db_ih, gr.db_hh), has_bias)
        });
        Ok(res)
    };
    let saved: Vec<&Tensor> = inputs.clone();
    Ok(record(out, "GruLayer", &inputs, &saved, Box::new(back)))
}

/// One Elman RNN layer-direction (tanh, or relu when `relu`); states (h0).
/// Returns (rows + B, H): outputs, h_n.
pub fn rnn_layer(a: &RnnArgs, relu: bool) -> Result<Tensor> {
    let (sq, inputs) = a.check("rnn", 1)?;
    let (rows, b, h) = (sq.rows(), sq.b, sq.h);
    let dt = a.x.dtype;
    let (xd, h0d, wid, whd) = (a.x.detach(), a.states[0].detach(), a.w_ih.detach(), a.w_hh.detach());
    let out = crate::with_float!(dt, "rnn", T => {
        let bias = sum_bias::<T>(h, a.b_ih, a.b_hh);
        let (mut hs, h_n) = rnn_forward(&sq, relu, &xd.data::<T>(), &h0d.data::<T>(), &wid.data::<T>(), &whd.data::<T>(), &bias);
        hs.extend_from_slice(&h_n);
        Tensor::from_vec_unchecked(hs, &[rows + b, h])
    });
    if !needs_grad(&inputs) {
        return Ok(out);
    }
    let out_d = out.detach();
    let has_bias = (a.b_ih.is_some(), a.b_hh.is_some());
    let want_dx = a.x.requires_grad();
    let x_shape = a.x.shape.clone();
    let back = move |g: &Tensor| -> Result<Vec<Option<Tensor>>> {
        let g = shape::contiguous(&g.detach())?;
        let res = crate::with_float!(dt, "rnn backward", T => {
            let gd = g.data::<T>();
            let outv = out_d.data::<T>();
            let (dhs, dh_n) = gd.split_at(rows * h);
            let (dx, dh0, dwi, dwh, db) = rnn_backward(&sq, relu, &xd.data::<T>(), &h0d.data::<T>(), &outv[..rows * h], &wid.data::<T>(), &whd.data::<T>(), dhs, dh_n, want_dx);
            grad_list(&x_shape, dx, vec![dh0], &sq, 1, (dwi, dwh), (db.clone(), db), has_bias)
        });
        Ok(res)
    };
    let saved: Vec<&Tensor> = inputs.clone();
    Ok(record(out, if relu { "RnnReluLayer" } else { "RnnTanhLayer" }, &inputs, &saved, Box::new(back)))
}
