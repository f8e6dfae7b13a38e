"""Recurrent layers with PyTorch's API, parameter names and layouts:
``LSTM``, ``GRU``, ``RNN`` and ``LSTMCell``, ``GRUCell``, ``RNNCell``.

Each layer-direction of an ``LSTM`` runs as one fused Rust kernel (input
projection for all steps as one GEMM, per step one recurrent GEMM plus one
fused gate/cell pass; backward through time in Rust) recorded as one autograd
node. A PyTorch ``state_dict`` loads unchanged. The layers also take a
``PackedSequence`` (``dlcore.nn.utils.rnn``): the kernels then run each step
on the sequences still active at it.
"""

from __future__ import annotations

import math

import dlcore
from dlcore import Tensor, _core

from . import functional as F
from . import init
from .module import Module, Parameter
from .utils.rnn import PackedSequence


def _layer(mode, x, states, w_ih, w_hh, b_ih, b_hh, reverse, batch_sizes=None):
    """Run one layer-direction: ``x`` (T, B, I), or packed (rows, I) with
    ``batch_sizes`` (a list). Returns (output, [h_n] or [h_n, c_n]); output
    has x's layout, each state is (B, H)."""
    if mode == "LSTM":
        res = _core.lstm_layer(x, states[0], states[1], w_ih, w_hh, b_ih, b_hh, reverse, batch_sizes)
    elif mode == "GRU":
        res = _core.gru_layer(x, states[0], w_ih, w_hh, b_ih, b_hh, reverse, batch_sizes)
    else:
        res = _core.rnn_layer(x, states[0], w_ih, w_hh, b_ih, b_hh, reverse, mode == "RNN_RELU", batch_sizes)
    # res (rows + S·B, H): outputs, then h_n (and c_n), B rows each
    b = states[0].shape[0]
    rows = res.shape[0] - len(states) * b
    out = res.narrow(0, 0, rows)
    if batch_sizes is None:
        out = out.view(x.shape[0], x.shape[1], res.shape[1])
    return out, [res.narrow(0, rows + k * b, b) for k in range(len(states))]


class _RNNBase(Module):
    """Shared multi-layer / bidirectional driver of ``LSTM`` and ``GRU``:
    parameters ``weight_ih_l{k}[_reverse]`` (gates·H, in), ``weight_hh_l{k}``,
    ``bias_ih_l{k}``, ``bias_hh_l{k}``; one fused Rust node per layer-direction."""

    _mode = "LSTM"
    _gates = 4

    def __init__(self, input_size, hidden_size, num_layers=1, bias=True, batch_first=False, dropout=0.0, bidirectional=False, proj_size=0, device=None, dtype=None):
        super().__init__()
        mode, gates = self._mode, self._gates
        if not isinstance(hidden_size, int) or hidden_size <= 0:
            raise ValueError(f"{mode}: hidden_size must be a positive int, got {hidden_size!r}")
        if not isinstance(num_layers, int) or num_layers <= 0:
            raise ValueError(f"{mode}: num_layers must be a positive int, got {num_layers!r}")
        if isinstance(dropout, bool) or not 0 <= dropout <= 1:
            raise ValueError(f"{mode}: dropout should be a number in range [0, 1], got {dropout!r}")
        if proj_size != 0:
            raise NotImplementedError(f"{mode}: proj_size != 0 is not supported by dlcore yet")
        self.input_size, self.hidden_size, self.num_layers = input_size, hidden_size, num_layers
        self.bias, self.batch_first, self.dropout = bias, batch_first, float(dropout)
        self.bidirectional, self.proj_size = bidirectional, proj_size
        factory = {"device": device, "dtype": dtype}
        dirs = 2 if bidirectional else 1
        self._flat_names = []
        for layer in range(num_layers):
            in_f = input_size if layer == 0 else hidden_size * dirs
            for d in range(dirs):
                sfx = f"_l{layer}" + ("_reverse" if d == 1 else "")
                names = [f"weight_ih{sfx}", f"weight_hh{sfx}"]
                setattr(self, names[0], Parameter(dlcore.empty(gates * hidden_size, in_f, **factory)))
                setattr(self, names[1], Parameter(dlcore.empty(gates * hidden_size, hidden_size, **factory)))
                if bias:
                    names += [f"bias_ih{sfx}", f"bias_hh{sfx}"]
                    setattr(self, names[2], Parameter(dlcore.empty(gates * hidden_size, **factory)))
                    setattr(self, names[3], Parameter(dlcore.empty(gates * hidden_size, **factory)))
                self._flat_names.append(names)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        # torch: every weight and bias ~ U(-1/sqrt(hidden), 1/sqrt(hidden))
        stdv = 1.0 / math.sqrt(self.hidden_size)
        for p in self.parameters():
            init.uniform_(p, -stdv, stdv)

    def extra_repr(self) -> str:
        s = f"{self.input_size}, {self.hidden_size}"
        if self.num_layers != 1:
            s += f", num_layers={self.num_layers}"
        if not self.bias:
            s += ", bias=False"
        if self.batch_first:
            s += ", batch_first=True"
        if self.dropout:
            s += f", dropout={self.dropout}"
        if self.bidirectional:
            s += ", bidirectional=True"
        return s

    def forward(self, input, hx=None):
        """``input`` (T, B, I) — (B, T, I) with ``batch_first`` — unbatched
        (T, I), or a ``PackedSequence`` (then the output is one too, and h_n
        holds each sequence's state at its own last step)."""
        dirs = 2 if self.bidirectional else 1
        lstm = self._mode == "LSTM"
        name = "RNN" if self._mode.startswith("RNN") else self._mode
        packed = isinstance(input, PackedSequence)
        bs = None
        if packed:
            x, bs = input.data, [int(v) for v in input.batch_sizes.tolist()]
            if x.dim() != 2:
                raise ValueError(f"{name}: expected a PackedSequence with 2-D data, got {x.dim()}D")
            unbatched, batch, in_size = False, bs[0], x.shape[1]
        else:
            if input.dim() not in (2, 3):
                raise ValueError(f"{name}: Expected input to be 2D or 3D, got {input.dim()}D tensor of shape {tuple(input.shape)}")
            unbatched = input.dim() == 2
            x = input.unsqueeze(1) if unbatched else (input.transpose(0, 1) if self.batch_first else input)
            batch, in_size = x.shape[1], x.shape[2]
        if in_size != self.input_size:
            raise RuntimeError(f"{name}: input.size(-1) must be equal to input_size. Expected {self.input_size}, got {in_size}")
        expect = (self.num_layers * dirs, batch, self.hidden_size)
        if hx is None:
            zeros = dlcore.zeros(*expect, dtype=x.dtype, device=x.device)
            states = [zeros, zeros] if lstm else [zeros]
        else:
            states = list(hx) if lstm else [hx]
            if unbatched:
                if any(s.dim() != 2 for s in states):
                    raise RuntimeError(f"{name}: for unbatched 2-D input, hx should also be 2-D but got {[s.dim() for s in states]}-D tensors")
                states = [s.unsqueeze(1) for s in states]
            if any(tuple(s.shape) != expect for s in states):
                raise RuntimeError(f"{name}: Expected hidden size {expect}, got {[tuple(s.shape) for s in states]}")
            if packed and input.sorted_indices is not None:
                # the caller's states are in the original batch order
                states = [s.index_select(1, input.sorted_indices) for s in states]
        finals = [[] for _ in states]
        layer_in = x
        for layer in range(self.num_layers):
            outs = []
            for d in range(dirs):
                k = layer * dirs + d
                ps = [getattr(self, n) for n in self._flat_names[k]]
                b_ih, b_hh = (ps[2], ps[3]) if self.bias else (None, None)
                out, fin = _layer(self._mode, layer_in, [s.select(0, k) for s in states], ps[0], ps[1], b_ih, b_hh, d == 1, bs)
                outs.append(out)
                for acc, f in zip(finals, fin):
                    acc.append(f)
            layer_in = outs[0] if dirs == 1 else dlcore.cat(outs, -1)
            if self.dropout > 0 and self.training and layer < self.num_layers - 1:
                layer_in = F.dropout(layer_in, self.dropout, True)
        finals = [dlcore.stack(f, 0) for f in finals]
        if packed:
            if input.unsorted_indices is not None:
                finals = [f.index_select(1, input.unsorted_indices) for f in finals]
            output = PackedSequence(layer_in, input.batch_sizes, input.sorted_indices, input.unsorted_indices)
        elif unbatched:
            output, finals = layer_in.squeeze(1), [f.squeeze(1) for f in finals]
        else:
            output = layer_in.transpose(0, 1) if self.batch_first else layer_in
        return (output, tuple(finals)) if lstm else (output, finals[0])


class LSTM(_RNNBase):
    """Multi-layer LSTM, as ``torch.nn.LSTM``.

    Args: input_size, hidden_size, num_layers=1, bias=True, batch_first=False,
    dropout=0.0 (between layers, training only), bidirectional=False,
    proj_size=0 (only 0 is supported), device, dtype.

    Input (T, B, I) — (B, T, I) with ``batch_first`` — or unbatched (T, I);
    optional ``(h_0, c_0)`` of shape (num_layers·D, B, H). Returns
    ``output, (h_n, c_n)``; weights (4H, ·) with gates ordered i, f, g, o.
    """

    _mode, _gates = "LSTM", 4


class GRU(_RNNBase):
    """Multi-layer GRU, as ``torch.nn.GRU`` (gates r, z, n;
    ``n = tanh(W_in x + b_in + r ⊙ (W_hn h + b_hn))``, ``h' = (1−z) ⊙ n + z ⊙ h``).

    Same arguments as ``LSTM`` (no proj_size); optional ``h_0`` of shape
    (num_layers·D, B, H). Returns ``output, h_n``; weights (3H, ·).
    """

    _mode, _gates = "GRU", 3

    def __init__(self, input_size, hidden_size, num_layers=1, bias=True, batch_first=False, dropout=0.0, bidirectional=False, device=None, dtype=None):
        super().__init__(input_size, hidden_size, num_layers, bias, batch_first, dropout, bidirectional, 0, device, dtype)


class RNN(_RNNBase):
    """Multi-layer Elman RNN, as ``torch.nn.RNN``:
    ``h' = act(W_ih x + b_ih + W_hh h + b_hh)``, act ``'tanh'`` or ``'relu'``.

    Args: input_size, hidden_size, num_layers=1, nonlinearity='tanh',
    bias=True, batch_first=False, dropout=0.0, bidirectional=False.
    Returns ``output, h_n``; weights (H, ·).
    """

    _mode, _gates = "RNN", 1

    def __init__(self, input_size, hidden_size, num_layers=1, nonlinearity="tanh", bias=True, batch_first=False, dropout=0.0, bidirectional=False, device=None, dtype=None):
        if nonlinearity not in ("tanh", "relu"):
            raise ValueError(f"RNN: Unknown nonlinearity '{nonlinearity}'. Select from 'tanh' or 'relu'.")
        super().__init__(input_size, hidden_size, num_layers, bias, batch_first, dropout, bidirectional, 0, device, dtype)
        self._mode = "RNN_TANH" if nonlinearity == "tanh" else "RNN_RELU"
        self.nonlinearity = nonlinearity


class _RNNCellBase(Module):
    """What the three cells share (torch's RNNCellBase): weight_ih
    (chunks·H, I), weight_hh (chunks·H, H), optional biases, uniform
    ±1/√H init, and one step through the fused layer kernel."""

    def __init__(self, input_size, hidden_size, bias, num_chunks, device=None, dtype=None):
        super().__init__()
        self.input_size, self.hidden_size, self.bias = input_size, hidden_size, bias
        factory = {"device": device, "dtype": dtype}
        self.weight_ih = Parameter(dlcore.empty(num_chunks * hidden_size, input_size, **factory))
        self.weight_hh = Parameter(dlcore.empty(num_chunks * hidden_size, hidden_size, **factory))
        if bias:
            self.bias_ih = Parameter(dlcore.empty(num_chunks * hidden_size, **factory))
            self.bias_hh = Parameter(dlcore.empty(num_chunks * hidden_size, **factory))
        else:
            self.register_parameter("bias_ih", None)
            self.register_parameter("bias_hh", None)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        stdv = 1.0 / math.sqrt(self.hidden_size)
        for p in self.parameters():
            init.uniform_(p, -stdv, stdv)

    def extra_repr(self) -> str:
        return f"{self.input_size}, {self.hidden_size}" + ("" if self.bias else ", bias=False")

    def _step(self, mode: str, input: Tensor, states, n_states: int) -> tuple:
        """One time step: `states` is None (zeros) or a tuple of n_states
        tensors; returns the new states, unbatched when the input was."""
        if input.dim() not in (1, 2):
            raise ValueError(f"{type(self).__name__}: Expected input to be 1D or 2D, got {input.dim()}D tensor of shape {tuple(input.shape)}")
        unbatched = input.dim() == 1
        x = input.unsqueeze(0) if unbatched else input
        if states is None:
            states = [dlcore.zeros(x.shape[0], self.hidden_size, dtype=x.dtype, device=x.device)] * n_states
        elif unbatched:
            states = [t.unsqueeze(0) for t in states]
        _, out = _layer(mode, x.unsqueeze(0), list(states), self.weight_ih, self.weight_hh, self.bias_ih, self.bias_hh, False)
        return tuple(t.squeeze(0) for t in out) if unbatched else tuple(out)


class LSTMCell(_RNNCellBase):
    """One LSTM step, as ``torch.nn.LSTMCell`` (weight_ih (4H, I), weight_hh
    (4H, H), bias_ih, bias_hh; gates i, f, g, o). Returns ``(h', c')``."""

    def __init__(self, input_size, hidden_size, bias=True, device=None, dtype=None):
        super().__init__(input_size, hidden_size, bias, 4, device, dtype)

    def forward(self, input: Tensor, hx=None):
        return self._step("LSTM", input, None if hx is None else tuple(hx), 2)


class GRUCell(_RNNCellBase):
    """One GRU step, as ``torch.nn.GRUCell`` (weight_ih (3H, I), weight_hh
    (3H, H), bias_ih, bias_hh; gates r, z, n). Returns ``h'``."""

    def __init__(self, input_size, hidden_size, bias=True, device=None, dtype=None):
        super().__init__(input_size, hidden_size, bias, 3, device, dtype)

    def forward(self, input: Tensor, hx=None):
        return self._step("GRU", input, None if hx is None else (hx,), 1)[0]


class RNNCell(_RNNCellBase):
    """One Elman RNN step, as ``torch.nn.RNNCell`` (weight_ih (H, I),
    weight_hh (H, H), bias_ih, bias_hh; nonlinearity 'tanh' or 'relu')."""

    def __init__(self, input_size, hidden_size, bias=True, nonlinearity="tanh", device=None, dtype=None):
        if nonlinearity not in ("tanh", "relu"):
            raise ValueError(f"RNNCell: Unknown nonlinearity: {nonlinearity}")
        super().__init__(input_size, hidden_size, bias, 1, device, dtype)
        self.nonlinearity = nonlinearity

    def extra_repr(self) -> str:
        return super().extra_repr() + ("" if self.nonlinearity == "tanh" else f", nonlinearity={self.nonlinearity}")

    def forward(self, input: Tensor, hx=None):
        mode = "RNN_RELU" if self.nonlinearity == "relu" else "RNN_TANH"
        return self._step(mode, input, None if hx is None else (hx,), 1)[0]
