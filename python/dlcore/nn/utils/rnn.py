"""Variable-length sequence batches, as ``torch.nn.utils.rnn``.

A ``PackedSequence`` holds a batch of sequences sorted by length (longest
first) time step after time step: ``data`` (Σ lengths, *) stacks, for each
time position t, the ``batch_sizes[t]`` sequences still running. ``nn.LSTM``,
``nn.GRU`` and ``nn.RNN`` take one directly and run each step on the active
rows only (in the Rust kernels, forward and backward)::

    x = dlcore.randn(7, 3, 10)                       # (T, B, I), padded
    packed = pack_padded_sequence(x, [7, 4, 2], enforce_sorted=False)
    out, (h_n, c_n) = nn.LSTM(10, 20)(packed)         # h_n: each sequence's own last step
    padded, lengths = pad_packed_sequence(out)        # (7, 3, 20), tensor([7, 4, 2])

Every conversion is one ``index_select`` on the flattened batch, so
gradients flow through packing and unpacking.
"""

from __future__ import annotations

from collections import namedtuple

import numpy as np

import dlcore

__all__ = ["PackedSequence", "pack_padded_sequence", "pad_packed_sequence", "pad_sequence", "pack_sequence"]


class PackedSequence(namedtuple("PackedSequence", ["data", "batch_sizes", "sorted_indices", "unsorted_indices"])):
    """A packed batch of variable-length sequences (see the module docs).

    ``data`` (Σ lengths, *); ``batch_sizes`` int64 (T,): sequences active at
    each time step; ``sorted_indices`` (B,): original batch index of the k-th
    longest sequence (None if the input was already sorted);
    ``unsorted_indices``: its inverse. Build one with
    ``pack_padded_sequence`` or ``pack_sequence`` rather than by hand.
    """

    __slots__ = ()

    def __new__(cls, data, batch_sizes=None, sorted_indices=None, unsorted_indices=None):
        if unsorted_indices is None and sorted_indices is not None:
            unsorted_indices = _invert(sorted_indices)
        return super().__new__(cls, data, batch_sizes, sorted_indices, unsorted_indices)

    @property
    def is_cuda(self) -> bool:
        return False

    def to(self, *args, **kwargs):
        """A PackedSequence whose ``data`` is ``data.to(...)`` (indices stay int64)."""
        return type(self)(self.data.to(*args, **kwargs), self.batch_sizes, self.sorted_indices, self.unsorted_indices)


def _ints(t) -> np.ndarray:
    """A 1-D int64 array from a tensor / list / ndarray of lengths or indices."""
    if isinstance(t, dlcore.Tensor) or hasattr(t, "numpy"):
        t = t.detach().numpy() if hasattr(t, "detach") else t.numpy()
    return np.asarray(t).astype(np.int64, copy=False)


def _invert(perm):
    p = _ints(perm)
    inv = np.empty_like(p)
    inv[p] = np.arange(len(p), dtype=np.int64)
    return dlcore.tensor(inv)


def _gather(flat, idx, shape):
    """``flat`` (N, *) rows picked by ``idx`` (an int64 array, -1 = padding row
    handled by the caller), viewed as ``shape`` + trailing dims."""
    out = flat.index_select(0, dlcore.tensor(np.ascontiguousarray(idx, dtype=np.int64)))
    return out.reshape(*shape, *flat.shape[1:])


def pack_padded_sequence(input, lengths, batch_first=False, enforce_sorted=True) -> PackedSequence:
    """Packs a padded batch (T, B, *) — (B, T, *) with ``batch_first`` — of
    sequences with the given ``lengths`` (list or 1-D int64 tensor). With
    ``enforce_sorted`` the lengths must be non-increasing; otherwise the
    batch is sorted here and ``sorted_indices`` records how."""
    lens = _ints(lengths)
    if lens.ndim != 1:
        raise RuntimeError(f"'lengths' argument should be a 1D CPU int64 tensor, but got {lens.ndim}D tensor")
    if input.dim() < 2:
        raise ValueError(f"pack_padded_sequence: expected an input of at least 2 dimensions, got {input.dim()}")
    t_dim, b_dim = (1, 0) if batch_first else (0, 1)
    T, B = input.shape[t_dim], input.shape[b_dim]
    if len(lens) != B:
        raise RuntimeError(f"Expected `len(lengths)` to be equal to batch_size, but got {len(lens)} (batch_size={B})")
    if enforce_sorted:
        if np.any(lens[1:] > lens[:-1]):
            raise RuntimeError(
                "`lengths` array must be sorted in decreasing order when `enforce_sorted` is True. You can pass "
                "`enforce_sorted=False` to pack_padded_sequence and/or pack_sequence to sidestep this requirement "
                "if you do not need ONNX exportability."
            )
        order, sorted_indices = np.arange(B), None
    else:
        order = np.argsort(-lens, kind="stable")
        sorted_indices = dlcore.tensor(order.astype(np.int64))
    if B and lens.min() <= 0:
        raise RuntimeError("Length of all samples has to be greater than 0, but found an element in 'lengths' that is <= 0")
    if B and lens.max() > T:
        raise RuntimeError(f"pack_padded_sequence: lengths must be at most the padded length {T}, got {int(lens.max())}")
    slens = lens[order]
    batch_sizes = np.array([(slens > t).sum() for t in range(int(slens[0]) if B else 0)], dtype=np.int64)
    # row of (t, sorted position k) in the flattened input
    idx = [t * B + order[:n] if t_dim == 0 else order[:n] * T + t for t, n in enumerate(batch_sizes)]
    idx = np.concatenate(idx) if idx else np.zeros(0, np.int64)
    flat = input.reshape(T * B, *input.shape[2:])
    data = flat.index_select(0, dlcore.tensor(idx.astype(np.int64)))
    return PackedSequence(data, dlcore.tensor(batch_sizes), sorted_indices, None)


def pad_packed_sequence(sequence, batch_first=False, padding_value=0.0, total_length=None):
    """Inverse of ``pack_padded_sequence``: returns ``(padded, lengths)`` with
    padded (T, B, *) — (B, T, *) with ``batch_first`` — in the original batch
    order, padding filled with ``padding_value``, T = ``total_length`` if
    given; ``lengths`` is an int64 tensor."""
    data, bs = sequence.data, _ints(sequence.batch_sizes)
    max_len, B = len(bs), int(bs[0]) if len(bs) else 0
    if total_length is not None:
        if total_length < max_len:
            raise ValueError(
                "Expected total_length to be at least the length of the longest sequence in input, but got "
                f"total_length={total_length} and max sequence length being {max_len}"
            )
        max_len = total_length
    off = np.concatenate([[0], np.cumsum(bs)]).astype(np.int64)
    slens = np.array([(bs > k).sum() for k in range(B)], dtype=np.int64)
    unsorted = _ints(sequence.unsorted_indices) if sequence.unsorted_indices is not None else np.arange(B)
    pad_row = data.shape[0]
    # k = sorted position of original sequence j; row of (t, j) or the pad row
    t_grid = np.arange(max_len)[:, None]
    k = unsorted[None, :]
    idx = np.where(t_grid < slens[k], off[np.minimum(t_grid, len(bs) - 1)] + k, pad_row)
    if batch_first:
        idx = idx.T
    pad = dlcore.full((1, *data.shape[1:]), padding_value, dtype=data.dtype, device=data.device)
    padded = _gather(dlcore.cat([data, pad], 0), idx.reshape(-1), idx.shape)
    return padded, dlcore.tensor(slens[unsorted])


def pad_sequence(sequences, batch_first=False, padding_value=0.0, padding_side="right"):
    """Stacks a list of (L_k, *) tensors into (T, B, *) — (B, T, *) with
    ``batch_first`` — padding with ``padding_value`` on ``padding_side``."""
    if isinstance(sequences, dlcore.Tensor):
        sequences = list(sequences.unbind(0))
    if len(sequences) == 0:
        raise RuntimeError("received an empty list of sequences")
    if padding_side not in ("left", "right"):
        raise ValueError(f"Expected padding_side to be one of left or right, but got {padding_side}.")
    lens = np.array([s.shape[0] for s in sequences], dtype=np.int64)
    T, B = int(lens.max()), len(sequences)
    starts = np.concatenate([[0], np.cumsum(lens)[:-1]])
    flat = dlcore.cat(list(sequences), 0)
    pad_row = flat.shape[0]
    t_grid = np.arange(T)[:, None]
    shift = (T - lens)[None, :] if padding_side == "left" else 0
    tt = t_grid - shift
    idx = np.where((tt >= 0) & (tt < lens[None, :]), starts[None, :] + tt, pad_row)
    if batch_first:
        idx = idx.T
    pad = dlcore.full((1, *flat.shape[1:]), padding_value, dtype=flat.dtype, device=flat.device)
    return _gather(dlcore.cat([flat, pad], 0), idx.reshape(-1), idx.shape)


def pack_sequence(sequences, enforce_sorted=True) -> PackedSequence:
    """Packs a list of (L_k, *) tensors (see ``pack_padded_sequence``)."""
    if len(sequences) == 0:
        raise RuntimeError("received an empty list of sequences")
    lengths = [s.shape[0] for s in sequences]
    return pack_padded_sequence(pad_sequence(sequences), lengths, enforce_sorted=enforce_sorted)
