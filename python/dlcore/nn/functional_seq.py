"""Functional forms for sequence models (issue 5): ``embedding``,
``layer_norm`` and ``scaled_dot_product_attention``.

``layer_norm`` is one fused Rust kernel each way (``cpu/layernorm.rs``);
``embedding`` is a gather (``index_select``) whose backward is a scatter-add
(``index_add``).
"""

from __future__ import annotations

import math
import numbers

import dlcore
from dlcore import Tensor, _core

__all__ = ["embedding", "layer_norm", "scaled_dot_product_attention"]


def embedding(
    input: Tensor,
    weight: Tensor,
    padding_idx: int | None = None,
    max_norm: float | None = None,
    norm_type: float = 2.0,
    scale_grad_by_freq: bool = False,
    sparse: bool = False,
) -> Tensor:
    r"""Looks up rows of ``weight`` (``(num_embeddings, embedding_dim)``) at the
    integer indices ``input`` (any shape): the output is ``(*input.shape, embedding_dim)``.

    The backward scatter-adds the upstream gradient into the rows that were
    read; rows at ``padding_idx`` get no gradient (their value is returned
    unchanged in the forward, as torch).

    Examples::

        >>> import dlcore.nn.functional as F
        >>> w = dlcore.tensor([[0.0, 0.0], [1.0, 2.0], [3.0, 4.0]])
        >>> F.embedding(dlcore.tensor([[2, 1]]), w).tolist()
        [[[3.0, 4.0], [1.0, 2.0]]]
    """
    if max_norm is not None or scale_grad_by_freq or sparse:
        raise NotImplementedError("embedding: max_norm, scale_grad_by_freq and sparse are not supported")
    if weight.ndim != 2:
        raise RuntimeError(f"embedding: weight must be 2-D (num_embeddings, embedding_dim), got shape {tuple(weight.shape)}")
    if input.dtype != dlcore.int64:
        raise RuntimeError(
            f"embedding: expected indices of dtype int64 (Long), got {input.dtype} with shape {tuple(input.shape)}"
        )
    num = weight.shape[0]
    if padding_idx is not None:
        if not -num <= padding_idx < num:
            raise AssertionError(f"embedding: padding_idx {padding_idx} must be within num_embeddings {num}")
        padding_idx = padding_idx % num
    flat = input.reshape(-1)
    out = weight.index_select(0, flat)  # (N, D)
    if padding_idx is not None and weight.requires_grad:
        # Same values, but rows read at padding_idx come from a detached copy,
        # so the scatter-add backward never touches weight[padding_idx].
        pad = (flat == padding_idx).unsqueeze(1)
        out = dlcore.where(pad, out.detach(), out)
    return out.reshape(*input.shape, weight.shape[1])


def layer_norm(input: Tensor, normalized_shape, weight: Tensor | None = None, bias: Tensor | None = None, eps: float = 1e-5) -> Tensor:
    r"""Layer normalisation (Ba et al., 2016) over the trailing ``normalized_shape``
    dims: ``y = (x - mean) / sqrt(var + eps) * weight + bias`` with the biased
    variance. One fused single-pass Rust kernel forward and one backward.

    Examples::

        >>> import dlcore.nn.functional as F
        >>> F.layer_norm(dlcore.tensor([[1.0, 3.0]]), (2,), eps=0.0).tolist()
        [[-1.0, 1.0]]
    """
    if isinstance(normalized_shape, numbers.Integral):
        normalized_shape = (int(normalized_shape),)
    return _core.layer_norm(input, [int(d) for d in normalized_shape], weight, bias, float(eps))


def _sdpa_mask(attn_mask, is_causal, L, S, q):
    """The additive float mask (or None) for SDPA, broadcastable to (..., L, S)."""
    if is_causal:
        if attn_mask is not None:
            raise RuntimeError("scaled_dot_product_attention: explicit attn_mask should not be set when is_causal=True")
        i = dlcore.arange(L).reshape(L, 1)
        j = dlcore.arange(S).reshape(1, S)
        attn_mask = j <= i  # (L, S), top-left aligned
    if attn_mask is None:
        return None
    if attn_mask.dtype == dlcore.bool:
        zero = dlcore.zeros(1, dtype=q.dtype)
        ninf = dlcore.full((1,), float("-inf"), dtype=q.dtype)
        return dlcore.where(attn_mask, zero, ninf)
    return attn_mask


def sdpa_reference(query, key, value, attn_mask=None, dropout_p=0.0, is_causal=False, scale=None):
    """The materialised ``softmax(Q Kᵀ · scale + mask) V`` (used by tests)."""
    L, S, E = query.shape[-2], key.shape[-2], query.shape[-1]
    scale = 1.0 / math.sqrt(E) if scale is None else scale
    attn = query.matmul(key.transpose(-2, -1)) * scale  # (..., L, S)
    mask = _sdpa_mask(attn_mask, is_causal, L, S, query)
    if mask is not None:
        attn = attn + mask
    attn = attn.softmax(-1)
    if dropout_p > 0.0:
        from .functional import dropout

        attn = dropout(attn, dropout_p, training=True)
    return attn.matmul(value)  # (..., L, Ev)


def scaled_dot_product_attention(query, key, value, attn_mask=None, dropout_p=0.0, is_causal=False, scale=None):
    r"""``softmax(Q Kᵀ · scale + attn_mask) V`` with torch's signature.

    ``query`` is ``(..., L, E)``, ``key`` ``(..., S, E)``, ``value``
    ``(..., S, Ev)``; the output is ``(..., L, Ev)``. A boolean ``attn_mask``
    marks the positions that take part (True = attend); a float mask is added
    to the scores; both broadcast like torch. ``is_causal`` applies the
    top-left aligned lower-triangular mask. ``scale`` defaults to ``1/sqrt(E)``.

    Examples::

        >>> import dlcore.nn.functional as F
        >>> q = k = v = dlcore.ones(1, 2, 4)
        >>> F.scaled_dot_product_attention(q, k, v).shape
        (1, 2, 4)
    """
    for name, t in (("query", query), ("key", key), ("value", value)):
        if t.ndim < 2:
            raise RuntimeError(f"scaled_dot_product_attention: {name} must have at least 2 dims, got shape {tuple(t.shape)}")
    if query.shape[-1] != key.shape[-1] or key.shape[-2] != value.shape[-2]:
        raise RuntimeError(
            "scaled_dot_product_attention: shape mismatch: query "
            f"{tuple(query.shape)}, key {tuple(key.shape)}, value {tuple(value.shape)}"
        )
    return sdpa_reference(query, key, value, attn_mask, dropout_p, is_causal, scale)
