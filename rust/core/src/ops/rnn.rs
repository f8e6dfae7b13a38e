//! Fused LSTM layer (one layer, one direction) as one autograd node.
//!
//! `lstm_layer` returns one packed tensor of shape (T+1, B, H): rows 0..T are
//! the hidden states in time order (the layer's output sequence), row T is
//! the final cell state c_n. h_n is a view of row T-1 (forward) or row 0
//! (reverse). The Python layer splits the pack with views, so gradients of
//! output, h_n and c_n all flow back into this one node.

use super::shape;
use crate::autograd::{needs_grad, record};
use crate::cpu::rnn::{
    gru_backward, gru_forward, lstm_backward, lstm_forward, rnn_backward, rnn_forward, LstmDims,
};
use crate::error::{Error, Result};
use crate::tensor::Tensor;

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

fn shapes(ts: &[Option<&Tensor>]) -> String {
    ts.iter()
        .map(|t| match t {
            Some(t) => format!("{:?}", t.shape),
            None => "None".into(),
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// One LSTM layer-direction. `x` (T, B, I), `h0`/`c0` (B, H), `w_ih` (4H, I),
/// `w_hh` (4H, H), `b_ih`/`b_hh` (4H) or None. Returns (T+1, B, H) packed
/// as described in the module docs.
#[allow(clippy::too_many_arguments)]
pub fn lstm_layer(
    x: &Tensor,
    h0: &Tensor,
    c0: &Tensor,
    w_ih: &Tensor,
    w_hh: &Tensor,
    b_ih: Option<&Tensor>,
    b_hh: Option<&Tensor>,
    reverse: bool,
) -> Result<Tensor> {
    let bad = |why: &str| {
        Error::runtime(format!(
            "lstm: {why}; got input, h0, c0, weight_ih, weight_hh, bias_ih, bias_hh of shapes {}",
            shapes(&[Some(x), Some(h0), Some(c0), Some(w_ih), Some(w_hh), b_ih, b_hh])
        ))
    };
    if x.ndim() != 3 || w_ih.ndim() != 2 || w_hh.ndim() != 2 {
        return Err(bad("expected a 3-D input (T, B, I) and 2-D weights"));
    }
    let (t, b, i) = (x.shape[0], x.shape[1], x.shape[2]);
    let h = w_hh.shape[1];
    if h == 0 || w_hh.shape[0] != 4 * h {
        return Err(bad("weight_hh must be (4*hidden, hidden) with hidden >= 1"));
    }
    if w_ih.shape != [4 * h, i] {
        return Err(bad("weight_ih must be (4*hidden, input_size)"));
    }
    if t == 0 {
        return Err(bad("expected a sequence of length >= 1"));
    }
    if h0.shape != [b, h] || c0.shape != [b, h] {
        return Err(bad("h0 and c0 must be (batch, hidden)"));
    }
    for bias in [b_ih, b_hh].into_iter().flatten() {
        if bias.shape != [4 * h] {
            return Err(bad("biases must be (4*hidden,)"));
        }
    }
    let dt = x.dtype;
    let mut inputs: Vec<&Tensor> = vec![x, h0, c0, w_ih, w_hh];
    inputs.extend(b_ih);
    inputs.extend(b_hh);
    same_dtype_and_device("lstm", &inputs)?;
    let d = LstmDims { t, b, i, h, reverse };
    let grad = needs_grad(&inputs);
    let (xd, h0d, c0d, wid, whd) = (x.detach(), h0.detach(), c0.detach(), w_ih.detach(), w_hh.detach());
    let (out, saved_t) = crate::with_float!(dt, "lstm", T => {
        let mut bias = vec![T::zero(); 4 * h];
        for bt in [b_ih, b_hh].into_iter().flatten() {
            for (a, v) in bias.iter_mut().zip(bt.data::<T>().iter()) {
                *a += *v;
            }
        }
        let (mut hs, saved) = lstm_forward(d, &xd.data::<T>(), &h0d.data::<T>(), &c0d.data::<T>(), &wid.data::<T>(), &whd.data::<T>(), &bias);
        hs.extend_from_slice(&saved.cs[t * b * h..]);
        let out = Tensor::from_vec_unchecked(hs, &[t + 1, b, h]);
        let st = if grad {
            Some((Tensor::from_vec_unchecked(saved.gates, &[t, b, 4 * h]), Tensor::from_vec_unchecked(saved.cs, &[t + 1, b, h])))
        } else {
            None
        };
        (out, st)
    });
    let Some((gates_t, cs_t)) = saved_t else {
        return Ok(out);
    };
    let out_d = out.detach();
    let has_bias = (b_ih.is_some(), b_hh.is_some());
    let want_dx = x.requires_grad();
    let back = move |g: &Tensor| -> Result<Vec<Option<Tensor>>> {
        let g = shape::contiguous(&g.detach())?;
        let res = crate::with_float!(dt, "lstm backward", T => {
            let gd = g.data::<T>();
            let outv = out_d.data::<T>();
            let gr = lstm_backward(
                d,
                &xd.data::<T>(),
                &h0d.data::<T>(),
                &outv[..t * b * h],
                &wid.data::<T>(),
                &whd.data::<T>(),
                &gates_t.data::<T>(),
                &cs_t.data::<T>(),
                &gd[..t * b * h],
                &gd[t * b * h..],
                want_dx,
            );
            let mut v = vec![
                gr.dx.map(|dx| Tensor::from_vec_unchecked(dx, &[t, b, i])),
                Some(Tensor::from_vec_unchecked(gr.dh0, &[b, h])),
                Some(Tensor::from_vec_unchecked(gr.dc0, &[b, h])),
                Some(Tensor::from_vec_unchecked(gr.dw_ih, &[4 * h, i])),
                Some(Tensor::from_vec_unchecked(gr.dw_hh, &[4 * h, h])),
            ];
            if has_bias.0 {
                v.push(Some(Tensor::from_vec_unchecked(gr.db.clone(), &[4 * h])));
            }
            if has_bias.1 {
                v.push(Some(Tensor::from_vec_unchecked(gr.db, &[4 * h])));
            }
            v
        });
        Ok(res)
    };
    let saved: Vec<&Tensor> = inputs.clone();
    Ok(record(out, "LstmLayer", &inputs, &saved, Box::new(back)))
}

/// One GRU layer-direction (gates r, z, n as PyTorch). `x` (T, B, I), `h0`
/// (B, H), `w_ih` (3H, I), `w_hh` (3H, H), `b_ih`/`b_hh` (3H) or None.
/// Returns the output sequence (T, B, H); h_n is row T-1 (forward) or 0 (reverse).
pub fn gru_layer(
    x: &Tensor,
    h0: &Tensor,
    w_ih: &Tensor,
    w_hh: &Tensor,
    b_ih: Option<&Tensor>,
    b_hh: Option<&Tensor>,
    reverse: bool,
) -> Result<Tensor> {
    let bad = |why: &str| {
        Error::runtime(format!(
            "gru: {why}; got input, h0, weight_ih, weight_hh, bias_ih, bias_hh of shapes {}",
            shapes(&[Some(x), Some(h0), Some(w_ih), Some(w_hh), b_ih, b_hh])
        ))
    };
    if x.ndim() != 3 || w_ih.ndim() != 2 || w_hh.ndim() != 2 {
        return Err(bad("expected a 3-D input (T, B, I) and 2-D weights"));
    }
    let (t, b, i) = (x.shape[0], x.shape[1], x.shape[2]);
    let h = w_hh.shape[1];
    if h == 0 || w_hh.shape[0] != 3 * h {
        return Err(bad("weight_hh must be (3*hidden, hidden) with hidden >= 1"));
    }
    if w_ih.shape != [3 * h, i] {
        return Err(bad("weight_ih must be (3*hidden, input_size)"));
    }
    if t == 0 {
        return Err(bad("expected a sequence of length >= 1"));
    }
    if h0.shape != [b, h] {
        return Err(bad("h0 must be (batch, hidden)"));
    }
    for bias in [b_ih, b_hh].into_iter().flatten() {
        if bias.shape != [3 * h] {
            return Err(bad("biases must be (3*hidden,)"));
        }
    }
    let dt = x.dtype;
    let mut inputs: Vec<&Tensor> = vec![x, h0, w_ih, w_hh];
    inputs.extend(b_ih);
    inputs.extend(b_hh);
    same_dtype_and_device("gru", &inputs)?;
    let d = LstmDims { t, b, i, h, reverse };
    let grad = needs_grad(&inputs);
    let (xd, h0d, wid, whd) = (x.detach(), h0.detach(), w_ih.detach(), w_hh.detach());
    let (out, saved_t) = crate::with_float!(dt, "gru", T => {
        let bi = b_ih.map(|t| t.to_vec::<T>()).unwrap_or_else(|| vec![T::zero(); 3 * h]);
        let bh = b_hh.map(|t| t.to_vec::<T>()).unwrap_or_else(|| vec![T::zero(); 3 * h]);
        let (hs, saved) = gru_forward(d, &xd.data::<T>(), &h0d.data::<T>(), &wid.data::<T>(), &whd.data::<T>(), &bi, &bh);
        let out = Tensor::from_vec_unchecked(hs, &[t, b, h]);
        let st = if grad {
            Some((Tensor::from_vec_unchecked(saved.gates, &[t, b, 3 * h]), Tensor::from_vec_unchecked(saved.hn, &[t, b, h])))
        } else {
            None
        };
        (out, st)
    });
    let Some((gates_t, hn_t)) = saved_t else {
        return Ok(out);
    };
    let out_d = out.detach();
    let has_bias = (b_ih.is_some(), b_hh.is_some());
    let want_dx = x.requires_grad();
    let back = move |g: &Tensor| -> Result<Vec<Option<Tensor>>> {
        let g = shape::contiguous(&g.detach())?;
        let res = crate::with_float!(dt, "gru backward", T => {
            let gr = gru_backward(d, &xd.data::<T>(), &h0d.data::<T>(), &out_d.data::<T>(), &wid.data::<T>(), &whd.data::<T>(), &gates_t.data::<T>(), &hn_t.data::<T>(), &g.data::<T>(), want_dx);
            let mut v = vec![
                gr.dx.map(|dx| Tensor::from_vec_unchecked(dx, &[t, b, i])),
                Some(Tensor::from_vec_unchecked(gr.dh0, &[b, h])),
                Some(Tensor::from_vec_unchecked(gr.dw_ih, &[3 * h, i])),
                Some(Tensor::from_vec_unchecked(gr.dw_hh, &[3 * h, h])),
            ];
            if has_bias.0 {
                v.push(Some(Tensor::from_vec_unchecked(gr.db_ih, &[3 * h])));
            }
            if has_bias.1 {
                v.push(Some(Tensor::from_vec_unchecked(gr.db_hh, &[3 * h])));
            }
            v
        });
        Ok(res)
    };
    let saved: Vec<&Tensor> = inputs.clone();
    Ok(record(out, "GruLayer", &inputs, &saved, Box::new(back)))
}

/// One Elman RNN layer-direction (`nonlinearity` tanh, or relu when `relu`).
/// `x` (T, B, I), `h0` (B, H), `w_ih` (H, I), `w_hh` (H, H), `b_ih`/`b_hh` (H)
/// or None. Returns the output sequence (T, B, H).
#[allow(clippy::too_many_arguments)]
pub fn rnn_layer(
    x: &Tensor,
    h0: &Tensor,
    w_ih: &Tensor,
    w_hh: &Tensor,
    b_ih: Option<&Tensor>,
    b_hh: Option<&Tensor>,
    reverse: bool,
    relu: bool,
) -> Result<Tensor> {
    let bad = |why: &str| {
        Error::runtime(format!(
            "rnn: {why}; got input, h0, weight_ih, weight_hh, bias_ih, bias_hh of shapes {}",
            shapes(&[Some(x), Some(h0), Some(w_ih), Some(w_hh), b_ih, b_hh])
        ))
    };
    if x.ndim() != 3 || w_ih.ndim() != 2 || w_hh.ndim() != 2 {
        return Err(bad("expected a 3-D input (T, B, I) and 2-D weights"));
    }
    let (t, b, i) = (x.shape[0], x.shape[1], x.shape[2]);
    let h = w_hh.shape[1];
    if h == 0 || w_hh.shape[0] != h {
        return Err(bad("weight_hh must be (hidden, hidden) with hidden >= 1"));
    }
    if w_ih.shape != [h, i] {
        return Err(bad("weight_ih must be (hidden, input_size)"));
    }
    if t == 0 {
        return Err(bad("expected a sequence of length >= 1"));
    }
    if h0.shape != [b, h] {
        return Err(bad("h0 must be (batch, hidden)"));
    }
    for bias in [b_ih, b_hh].into_iter().flatten() {
        if bias.shape != [h] {
            return Err(bad("biases must be (hidden,)"));
        }
    }
    let dt = x.dtype;
    let mut inputs: Vec<&Tensor> = vec![x, h0, w_ih, w_hh];
    inputs.extend(b_ih);
    inputs.extend(b_hh);
    same_dtype_and_device("rnn", &inputs)?;
    let d = LstmDims { t, b, i, h, reverse };
    let (xd, h0d, wid, whd) = (x.detach(), h0.detach(), w_ih.detach(), w_hh.detach());
    let out = crate::with_float!(dt, "rnn", T => {
        let mut bias = vec![T::zero(); h];
        for bt in [b_ih, b_hh].into_iter().flatten() {
            for (a, v) in bias.iter_mut().zip(bt.data::<T>().iter()) {
                *a += *v;
            }
        }
        let hs = rnn_forward(d, relu, &xd.data::<T>(), &h0d.data::<T>(), &wid.data::<T>(), &whd.data::<T>(), &bias);
        Tensor::from_vec_unchecked(hs, &[t, b, h])
    });
    if !needs_grad(&inputs) {
        return Ok(out);
    }
    let out_d = out.detach();
    let has_bias = (b_ih.is_some(), b_hh.is_some());
    let want_dx = x.requires_grad();
    let back = move |g: &Tensor| -> Result<Vec<Option<Tensor>>> {
        let g = shape::contiguous(&g.detach())?;
        let res = crate::with_float!(dt, "rnn backward", T => {
            let (dx, dh0, dwi, dwh, db) = rnn_backward(d, relu, &xd.data::<T>(), &h0d.data::<T>(), &out_d.data::<T>(), &wid.data::<T>(), &whd.data::<T>(), &g.data::<T>(), want_dx);
            let mut v = vec![
                dx.map(|dx| Tensor::from_vec_unchecked(dx, &[t, b, i])),
                Some(Tensor::from_vec_unchecked(dh0, &[b, h])),
                Some(Tensor::from_vec_unchecked(dwi, &[h, i])),
                Some(Tensor::from_vec_unchecked(dwh, &[h, h])),
            ];
            if has_bias.0 {
                v.push(Some(Tensor::from_vec_unchecked(db.clone(), &[h])));
            }
            if has_bias.1 {
                v.push(Some(Tensor::from_vec_unchecked(db, &[h])));
            }
            v
        });
        Ok(res)
    };
    let saved: Vec<&Tensor> = inputs.clone();
    Ok(record(out, if relu { "RnnReluLayer" } else { "RnnTanhLayer" }, &inputs, &saved, Box::new(back)))
}
