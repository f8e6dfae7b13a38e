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

__all__ = ["embedding", "layer_norm", "scaled_dot_product_attention", "multi_head_attention_forward"]


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

    Runs the tiled FlashAttention kernel (online softmax over key tiles,
    O(T·d) memory, fully masked causal tiles skipped; backward recomputes the
    tiles from the saved row logsumexp). Falls back to the materialised
    reference for ``dropout_p > 0``, batch dims that differ between q/k/v,
    empty sizes, or a float mask that requires grad.

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
    lead = tuple(query.shape[:-2])
    L, S, E, Ev = query.shape[-2], key.shape[-2], query.shape[-1], value.shape[-1]
    flash = (
        dropout_p == 0.0
        and tuple(key.shape[:-2]) == lead
        and tuple(value.shape[:-2]) == lead
        and min(L, S, E, Ev) > 0
        and query.dtype == key.dtype == value.dtype
        and query.is_floating_point()
        and not (attn_mask is not None and attn_mask.dtype != dlcore.bool and attn_mask.requires_grad)
    )
    if not flash:
        return sdpa_reference(query, key, value, attn_mask, dropout_p, is_causal, scale)
    if is_causal and attn_mask is not None:
        raise RuntimeError("scaled_dot_product_attention: explicit attn_mask should not be set when is_causal=True")
    bh = math.prod(lead)
    mask = None
    if attn_mask is not None:
        mask = _sdpa_mask(attn_mask, False, L, S, query)
        if mask.ndim > len(lead) + 2:
            raise RuntimeError(
                f"scaled_dot_product_attention: attn_mask of shape {tuple(attn_mask.shape)} does not broadcast to {(*lead, L, S)}"
            )
        if all(d == 1 for d in mask.shape[:-2]):
            mask = mask.expand(L, S) if mask.ndim <= 2 else mask.reshape(*mask.shape[-2:]).expand(L, S)
            mask = mask.reshape(1, L, S)
        else:
            mask = mask.expand(*lead, L, S).reshape(bh, L, S)  # the user's mask, per batch·head
    scale = 1.0 / math.sqrt(E) if scale is None else float(scale)
    q = query.reshape(bh, L, E)
    k = key.reshape(bh, S, E)
    v = value.reshape(bh, S, Ev)
    return _core.flash_attention(q, k, v, mask, bool(is_causal), scale).reshape(*lead, L, Ev)


def _with_key_padding(mask, key_padding_mask, dtype, batch, source_len):
    """`mask` (additive, broadcastable to (batch, heads, L, S), or None) plus a
    (batch, S) key padding mask as an additive (batch, 1, 1, S) term."""
    kp = _additive(key_padding_mask, dtype, "key_padding_mask")
    if kp is None:
        return mask
    if tuple(kp.shape) != (batch, source_len):
        raise AssertionError(f"expecting key_padding_mask shape of {(batch, source_len)}, but got {tuple(kp.shape)}")
    kp = kp.reshape(batch, 1, 1, source_len)
    return kp if mask is None else mask + kp


def _additive(mask, dtype, name):
    """A bool mask (True = masked out, torch's MHA convention) or a float mask as an additive float mask."""
    if mask is None:
        return None
    if mask.dtype == dlcore.bool:
        return dlcore.where(mask, dlcore.full((1,), float("-inf"), dtype=dtype), dlcore.zeros(1, dtype=dtype))
    if not mask.is_floating_point():
        raise RuntimeError(f"multi_head_attention_forward: only bool and float {name} are supported, got {mask.dtype}")
    return mask


def multi_head_attention_forward(
    query, key, value, embed_dim_to_check, num_heads, in_proj_weight, in_proj_bias, bias_k, bias_v,
    add_zero_attn, dropout_p, out_proj_weight, out_proj_bias, training=True, key_padding_mask=None,
    need_weights=True, attn_mask=None, use_separate_proj_weight=False, q_proj_weight=None,
    k_proj_weight=None, v_proj_weight=None, static_k=None, static_v=None, average_attn_weights=True,
    is_causal=False,
):
    r"""Multi-head attention on sequence-first ``(L, N, E)`` (or unbatched
    ``(L, E)``) input, with torch's signature and parameter layouts:
    ``in_proj_weight`` ``(3E, E)`` stacks the q, k, v projections.

    Masks follow torch's MHA convention: a bool ``attn_mask`` ``(L, S)`` or
    ``(N·heads, L, S)`` / ``key_padding_mask`` ``(N, S)`` is True where a
    position must NOT be attended; float masks are added to the scores.
    Returns ``(output (L, N, E), weights)``, weights ``(N, L, S)`` averaged
    over heads, ``(N, heads, L, S)`` with ``average_attn_weights=False``, or
    ``None`` when ``need_weights=False`` (which runs the tiled flash kernel).
    """
    from .functional import dropout, linear

    if bias_k is not None or bias_v is not None or add_zero_attn or use_separate_proj_weight or static_k is not None or static_v is not None:
        raise NotImplementedError("multi_head_attention_forward: bias_k/bias_v, add_zero_attn, separate projection weights and static_k/v are not supported")
    unbatched = query.ndim == 2
    if unbatched:
        query, key, value = query.unsqueeze(1), key.unsqueeze(1), value.unsqueeze(1)
        if key_padding_mask is not None:
            key_padding_mask = key_padding_mask.unsqueeze(0)
    if query.ndim != 3 or key.ndim != 3 or value.ndim != 3:
        raise RuntimeError(
            f"multi_head_attention_forward: query, key, value must all be 2-D or 3-D, got {tuple(query.shape)}, {tuple(key.shape)}, {tuple(value.shape)}"
        )
    L, N, E = query.shape
    S = key.shape[0]
    if E != embed_dim_to_check or E % num_heads != 0:
        raise AssertionError(f"was expecting embedding dimension of {embed_dim_to_check} divisible by num_heads={num_heads}, but got {E}")
    if key.shape != value.shape or key.shape[1] != N or key.shape[2] != E:
        raise AssertionError(f"key {tuple(key.shape)} and value {tuple(value.shape)} must be (S, {N}, {E})")
    if is_causal and attn_mask is None:
        raise RuntimeError("Need attn_mask if specifying the is_causal hint.")
    H, D = num_heads, E // num_heads
    w_q, w_k, w_v = in_proj_weight.chunk(3)
    b_q, b_k, b_v = in_proj_bias.chunk(3) if in_proj_bias is not None else (None, None, None)

    def heads(x, w, b, T):  # (T, N, E) -> (N, H, T, D)
        return linear(x, w, b).reshape(T, N, H, D).permute(1, 2, 0, 3)

    q, k, v = heads(query, w_q, b_q, L), heads(key, w_k, b_k, S), heads(value, w_v, b_v, S)
    mask = None
    am = _additive(attn_mask, q.dtype, "attn_mask")
    if am is not None:
        if am.ndim == 2:
            if tuple(am.shape) != (L, S):
                raise RuntimeError(f"The shape of the 2D attn_mask is {tuple(am.shape)}, but should be {(L, S)}.")
            mask = am.reshape(1, 1, L, S)
        elif am.ndim == 3:
            if tuple(am.shape) != (N * H, L, S):
                raise RuntimeError(f"The shape of the 3D attn_mask is {tuple(am.shape)}, but should be {(N * H, L, S)}.")
            mask = am.reshape(N, H, L, S)
        else:
            raise RuntimeError(f"attn_mask's dimension {am.ndim} is not supported")
    mask = _with_key_padding(mask, key_padding_mask, q.dtype, N, S)
    if not training:
        dropout_p = 0.0
    if need_weights:
        attn = q.matmul(k.transpose(-2, -1)) * (1.0 / math.sqrt(D))  # (N, H, L, S)
        if mask is not None:
            attn = attn + mask
        attn = attn.softmax(-1)
        if dropout_p > 0.0:
            attn = dropout(attn, dropout_p)
        out = attn.matmul(v)  # (N, H, L, D)
        weights = attn.mean(1) if average_attn_weights else attn
    else:
        out = scaled_dot_product_attention(q, k, v, mask, dropout_p)
        weights = None
    out = linear(out.permute(2, 0, 1, 3).reshape(L, N, E), out_proj_weight, out_proj_bias)  # (L, N, E)
    if unbatched:
        out = out.squeeze(1)
        weights = weights.squeeze(0) if weights is not None else None
    return out, weights
