"""Positional encodings for Transformers (dlcore additions: torch has no such
classes). ``SinusoidalPositionalEncoding`` is the fixed encoding of Vaswani et
al. (2017), §3.5, laid out as the PyTorch tutorial's ``PositionalEncoding``;
``LearnedPositionalEmbedding`` is the trained table of BERT / GPT-2."""

from __future__ import annotations

import math

import numpy as np

import dlcore

from . import functional as F
from . import init
from .module import Module, Parameter

__all__ = ["LearnedPositionalEmbedding", "SinusoidalPositionalEncoding"]


def _check_len(x, T, max_len, what):
    if T > max_len:
        raise ValueError(f"{what}: sequence length {T} of input {tuple(x.shape)} exceeds max_len={max_len}")


class SinusoidalPositionalEncoding(Module):
    r"""Adds the fixed encoding ``PE[t, 2i] = sin(t / 10000^{2i/d})``,
    ``PE[t, 2i+1] = cos(t / 10000^{2i/d})`` (Vaswani et al., 2017) to the
    input, then applies dropout. A dlcore addition (torch has none).

    The table is a buffer ``pe`` of shape ``(max_len, 1, d_model)`` — the
    layout of the PyTorch tutorial's ``PositionalEncoding``, so its
    state_dict loads — not a parameter: it is saved but never trained. It is
    computed in float64 and rounded once (the tutorial computes the angle in
    float32, which is off by up to ~3e-4 near position 5000). An odd
    ``d_model`` is allowed (the last column is a sine).

    Args:
        d_model: feature size E. max_len: longest sequence. Default 5000.
        dropout: dropout probability after the addition. Default 0.0.
        batch_first: input ``(N, T, E)`` instead of ``(T, N, E)``.

    Examples::

        >>> pe = dlcore.nn.SinusoidalPositionalEncoding(4, max_len=10)
        >>> [round(v, 4) for v in pe(dlcore.zeros(2, 1, 4))[1, 0].tolist()]
        [0.8415, 0.5403, 0.01, 0.9999]
    """

    def __init__(self, d_model, max_len=5000, dropout=0.0, batch_first=False, dtype=None):
        super().__init__()
        self.d_model, self.max_len, self.batch_first, self.p = d_model, max_len, batch_first, dropout
        pos = np.arange(max_len, dtype=np.float64)[:, None]  # (max_len, 1)
        div = np.exp(np.arange(0, d_model, 2, dtype=np.float64) * (-math.log(10000.0) / d_model))  # (ceil(d/2),)
        pe = np.zeros((max_len, 1, d_model))
        pe[:, 0, 0::2] = np.sin(pos * div)
        pe[:, 0, 1::2] = np.cos(pos * div[: d_model // 2])
        self.register_buffer("pe", dlcore.tensor(pe, dtype=dtype or dlcore.float32))

    def forward(self, x):
        """``x``: ``(T, N, E)``, or ``(N, T, E)`` with ``batch_first``; returns the same shape."""
        T = x.shape[1] if self.batch_first else x.shape[0]
        _check_len(x, T, self.max_len, "SinusoidalPositionalEncoding")
        pe = self.pe[:T]  # (T, 1, E)
        x = x + (pe.reshape(T, self.d_model) if self.batch_first else pe)
        return F.dropout(x, self.p, self.training)

    def extra_repr(self) -> str:
        return f"{self.d_model}, max_len={self.max_len}, dropout={self.p}, batch_first={self.batch_first}"


class LearnedPositionalEmbedding(Module):
    r"""Adds a trained position table ``weight`` ``(max_len, d_model)`` to the
    input: ``x + weight[:T]`` (BERT, Devlin et al. 2019; GPT-2). A dlcore
    addition (torch has none); ``weight`` is a Parameter initialised from
    N(0, 0.02²) as in GPT-2.

    Args:
        max_len: longest sequence. d_model: feature size E.
        batch_first: input ``(N, T, E)`` instead of ``(T, N, E)``.

    Examples::

        >>> pos = dlcore.nn.LearnedPositionalEmbedding(16, 8, batch_first=True)
        >>> tuple(pos(dlcore.zeros(2, 5, 8)).shape), tuple(pos.weight.shape)
        ((2, 5, 8), (16, 8))
    """

    def __init__(self, max_len, d_model, batch_first=False, dtype=None):
        super().__init__()
        self.max_len, self.d_model, self.batch_first = max_len, d_model, batch_first
        self.weight = Parameter(dlcore.empty(max_len, d_model, dtype=dtype or dlcore.float32))
        self.reset_parameters()

    def reset_parameters(self) -> None:
        init.normal_(self.weight, std=0.02)

    def forward(self, x):
        """``x``: ``(T, N, E)``, or ``(N, T, E)`` with ``batch_first``; returns the same shape."""
        T = x.shape[1] if self.batch_first else x.shape[0]
        _check_len(x, T, self.max_len, "LearnedPositionalEmbedding")
        w = self.weight[:T]  # (T, E)
        return x + (w if self.batch_first else w.unsqueeze(1))

    def extra_repr(self) -> str:
        return f"{self.max_len}, {self.d_model}, batch_first={self.batch_first}"
