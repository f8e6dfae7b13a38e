"""Transformer layers (Vaswani et al., 2017, "Attention Is All You Need") with
PyTorch's names, arguments, defaults and ``state_dict`` keys:
``TransformerEncoderLayer``, ``TransformerDecoderLayer``,
``TransformerEncoder``, ``TransformerDecoder`` and ``Transformer``.

The layers keep torch's submodules (``self_attn`` / ``multihead_attn`` are
``nn.MultiheadAttention``, ``linear1``, ``linear2``, ``norm1..3``,
``dropout*``) so a torch checkpoint loads by name, but the attention block
does not go through ``MultiheadAttention.forward``: q, k and v are GEMMs on
row slices of ``in_proj_weight`` ``(3E, E)``, the heads are strided views of
their products, and the attention itself is always the tiled
``F.scaled_dot_product_attention`` (no T×T weights are built because the
layers never return them). A causal mask — ``is_causal=True`` or a square
mask equal to :func:`generate_square_subsequent_mask`, float or bool — runs
the causal flash path, which skips the masked tiles instead of adding -inf.
"""

from __future__ import annotations

import copy

import dlcore

from . import functional as F
from . import init
from .attention import MultiheadAttention
from .containers import ModuleList
from .dropout import Dropout
from .functional_seq import _additive, _with_key_padding
from .layers import Linear
from .module import Module
from .normalization_seq import LayerNorm

__all__ = [
    "Transformer",
    "TransformerDecoder",
    "TransformerDecoderLayer",
    "TransformerEncoder",
    "TransformerEncoderLayer",
    "generate_square_subsequent_mask",
]


def generate_square_subsequent_mask(sz: int, device=None, dtype=None):
    r"""The ``(sz, sz)`` causal mask of torch's Transformer convention: float
    (default float32) with ``-inf`` above the diagonal and ``0`` elsewhere,
    or, with ``dtype=dlcore.bool``, True above the diagonal (True = may not
    attend; the same tensor torch builds for ``dtype=torch.bool``).

    Examples::

        >>> dlcore.nn.Transformer.generate_square_subsequent_mask(3).tolist()
        [[0.0, -inf, -inf], [0.0, 0.0, -inf], [0.0, 0.0, 0.0]]
    """
    dtype = dtype or dlcore.float32
    i = dlcore.arange(sz).reshape(sz, 1)
    j = dlcore.arange(sz).reshape(1, sz)
    upper = j > i  # (sz, sz): strictly above the diagonal = the future
    if dtype == dlcore.bool:
        return upper
    return dlcore.where(upper, dlcore.full((1,), float("-inf"), dtype=dtype), dlcore.zeros(1, dtype=dtype))


def _is_causal_mask(mask, L, S) -> bool:
    """True when ``mask`` is exactly the square causal mask (float or bool).
    One O(T²) compare, far below the O(T²·d) attention it lets us skip half of;
    a mask that requires grad is never replaced (its gradient must flow)."""
    if mask is None or L != S or mask.ndim != 2 or tuple(mask.shape) != (L, L) or mask.requires_grad:
        return False
    if mask.dtype != dlcore.bool and not mask.is_floating_point():
        return False
    ref = generate_square_subsequent_mask(L, dtype=mask.dtype)
    return bool((mask == ref).all().item())


def _attention(mha, query, key, attn_mask, key_padding_mask, is_causal, batch_first, training):
    """Multi-head attention of ``query`` over ``key`` (``key is query`` for
    self-attention) with ``mha``'s parameters. Inputs are batched, laid out
    ``(B, T, E)`` if ``batch_first`` else ``(T, B, E)``; so is the output.

    Masks follow torch's MHA convention (bool True = masked out, float added).
    As in torch's ``multi_head_attention_forward``, ``is_causal`` with no key
    padding mask replaces ``attn_mask`` by the causal flash path; unlike torch,
    ``is_causal=True`` with no mask at all applies the causal mask instead of
    raising.
    """
    E, H = mha.embed_dim, mha.num_heads
    D = E // H
    w, b = mha.in_proj_weight, mha.in_proj_bias
    tdim, bdim = (1, 0) if batch_first else (0, 1)
    B, L, S = query.shape[bdim], query.shape[tdim], key.shape[tdim]
    if query.shape[-1] != E or key.shape[-1] != E:
        raise RuntimeError(f"attention: expected feature size {E}, got query {tuple(query.shape)} and key {tuple(key.shape)}")
    if key.shape[bdim] != B:
        raise RuntimeError(f"attention: batch size of query {tuple(query.shape)} and key {tuple(key.shape)} differ")
    split = (0, 2, 1, 3) if batch_first else (1, 2, 0, 3)

    def proj(x, i):  # i-th of the q, k, v projections: (B|T, T|B, E) -> (B, H, T, D), a strided view
        y = F.linear(x, w[i * E:(i + 1) * E], None if b is None else b[i * E:(i + 1) * E])
        return y.reshape(*y.shape[:2], H, D).permute(*split)

    # Three GEMMs on row slices of in_proj_weight rather than one (3E, E) GEMM
    # split afterwards: a split's backward (select/chunk) writes each gradient
    # into zeros of the full (…, 3E) shape and sums the three, which cost ~10%
    # of a training step of TransformerEncoderLayer(256, 4, 1024); the weight
    # slices' zero-embedding is only (3E, E).
    q, k, v = proj(query, 0), proj(key, 1), proj(key, 2)

    causal = key_padding_mask is None and (is_causal or _is_causal_mask(attn_mask, L, S))
    mask = None
    if not causal:
        if is_causal and attn_mask is None:  # top-left aligned, as SDPA's is_causal
            attn_mask = dlcore.arange(S).reshape(1, S) > dlcore.arange(L).reshape(L, 1)  # (L, S) bool, True = future
        am = _additive(attn_mask, q.dtype, "attn_mask")
        if am is not None:
            if am.ndim == 2 and tuple(am.shape) == (L, S):
                mask = am
            elif am.ndim == 3 and tuple(am.shape) == (B * H, L, S):
                mask = am.reshape(B, H, L, S)
            else:
                raise RuntimeError(f"attn_mask of shape {tuple(am.shape)} should be {(L, S)} or {(B * H, L, S)}")
        mask = _with_key_padding(mask, key_padding_mask, q.dtype, B, S)
    p = mha.dropout if training else 0.0
    out = F.scaled_dot_product_attention(q, k, v, attn_mask=mask, dropout_p=p, is_causal=causal)  # (B, H, L, D)
    out = out.transpose(1, 2) if batch_first else out.permute(2, 0, 1, 3)  # (B, L, H, D) | (L, B, H, D)
    return F.linear(out.reshape(*out.shape[:2], E), mha.out_proj.weight, mha.out_proj.bias)


def _get_activation_fn(activation):
    if activation == "relu":
        return F.relu
    if activation == "gelu":
        return F.gelu
    if callable(activation):
        return activation
    raise RuntimeError(f"activation should be relu/gelu, not {activation}")


def _batched(x, batch_first, masks):
    """Unbatched ``(T, E)`` input -> batch of one; key padding masks ``(S,)`` -> ``(1, S)``."""
    if x.ndim == 3:
        return x, masks, False
    if x.ndim != 2:
        raise RuntimeError(f"expected a 2-D (unbatched) or 3-D input, got shape {tuple(x.shape)}")
    return x.unsqueeze(0 if batch_first else 1), [m.unsqueeze(0) if m is not None and m.ndim == 1 else m for m in masks], True


class _LayerBase(Module):
    def _mlp(self, x):
        return self.linear2(self.dropout(self.activation(self.linear1(x))))

    def _sa_block(self, x, attn_mask, key_padding_mask, is_causal):
        out = _attention(self.self_attn, x, x, attn_mask, key_padding_mask, is_causal, self.self_attn.batch_first, self.training)
        return self.dropout1(out)


class TransformerEncoderLayer(_LayerBase):
    r"""Self-attention + feed-forward block (Vaswani et al., 2017), as torch.

    Args:
        d_model: width E. nhead: attention heads (E must divide by it).
        dim_feedforward: hidden width of the feed-forward MLP. Default 2048.
        dropout: dropout on attention weights, after each sub-block and inside
            the MLP. Default 0.1.
        activation: ``"relu"``, ``"gelu"`` or a callable. Default relu.
        layer_norm_eps: LayerNorm eps. Default 1e-5.
        batch_first: input ``(N, T, E)`` instead of ``(T, N, E)``.
        norm_first: pre-norm ``x + sa(norm1(x))`` instead of post-norm
            ``norm1(x + sa(x))``.
        bias: biases in the linear layers and the LayerNorms.

    ``forward(src, src_mask=None, src_key_padding_mask=None, is_causal=False)``;
    bool masks are True where attention is NOT allowed, float masks are added
    to the scores. ``is_causal=True`` uses the causal flash kernel (with no
    ``src_mask`` it applies the causal mask itself, where torch raises).

    Examples::

        >>> layer = dlcore.nn.TransformerEncoderLayer(16, 4, 32, batch_first=True)
        >>> tuple(layer(dlcore.randn(2, 5, 16)).shape)
        (2, 5, 16)
    """

    def __init__(self, d_model, nhead, dim_feedforward=2048, dropout=0.1, activation="relu", layer_norm_eps=1e-5,
                 batch_first=False, norm_first=False, bias=True, device=None, dtype=None):
        super().__init__()
        self.self_attn = MultiheadAttention(d_model, nhead, dropout=dropout, bias=bias, batch_first=batch_first, dtype=dtype)
        self.linear1 = Linear(d_model, dim_feedforward, bias=bias, dtype=dtype)
        self.dropout = Dropout(dropout)
        self.linear2 = Linear(dim_feedforward, d_model, bias=bias, dtype=dtype)
        self.norm_first = norm_first
        self.norm1 = LayerNorm(d_model, eps=layer_norm_eps, bias=bias, dtype=dtype)
        self.norm2 = LayerNorm(d_model, eps=layer_norm_eps, bias=bias, dtype=dtype)
        self.dropout1 = Dropout(dropout)
        self.dropout2 = Dropout(dropout)
        self.activation = _get_activation_fn(activation)

    def forward(self, src, src_mask=None, src_key_padding_mask=None, is_causal=False):
        x, (src_key_padding_mask,), unbatched = _batched(src, self.self_attn.batch_first, [src_key_padding_mask])
        if self.norm_first:
            x = x + self._sa_block(self.norm1(x), src_mask, src_key_padding_mask, is_causal)
            x = x + self.dropout2(self._mlp(self.norm2(x)))
        else:
            x = self.norm1(x + self._sa_block(x, src_mask, src_key_padding_mask, is_causal))
            x = self.norm2(x + self.dropout2(self._mlp(x)))
        return x.squeeze(0 if self.self_attn.batch_first else 1) if unbatched else x


class TransformerDecoderLayer(_LayerBase):
    r"""Self-attention, cross-attention over ``memory``, feed-forward; as torch.

    Same arguments as :class:`TransformerEncoderLayer`. ``forward(tgt, memory,
    tgt_mask=None, memory_mask=None, tgt_key_padding_mask=None,
    memory_key_padding_mask=None, tgt_is_causal=False, memory_is_causal=False)``.

    Examples::

        >>> layer = dlcore.nn.TransformerDecoderLayer(16, 4, 32)
        >>> tgt, mem = dlcore.randn(5, 2, 16), dlcore.randn(7, 2, 16)
        >>> tuple(layer(tgt, mem).shape)
        (5, 2, 16)
    """

    def __init__(self, d_model, nhead, dim_feedforward=2048, dropout=0.1, activation="relu", layer_norm_eps=1e-5,
                 batch_first=False, norm_first=False, bias=True, device=None, dtype=None):
        super().__init__()
        self.self_attn = MultiheadAttention(d_model, nhead, dropout=dropout, bias=bias, batch_first=batch_first, dtype=dtype)
        self.multihead_attn = MultiheadAttention(d_model, nhead, dropout=dropout, bias=bias, batch_first=batch_first, dtype=dtype)
        self.linear1 = Linear(d_model, dim_feedforward, bias=bias, dtype=dtype)
        self.dropout = Dropout(dropout)
        self.linear2 = Linear(dim_feedforward, d_model, bias=bias, dtype=dtype)
        self.norm_first = norm_first
        self.norm1 = LayerNorm(d_model, eps=layer_norm_eps, bias=bias, dtype=dtype)
        self.norm2 = LayerNorm(d_model, eps=layer_norm_eps, bias=bias, dtype=dtype)
        self.norm3 = LayerNorm(d_model, eps=layer_norm_eps, bias=bias, dtype=dtype)
        self.dropout1 = Dropout(dropout)
        self.dropout2 = Dropout(dropout)
        self.dropout3 = Dropout(dropout)
        self.activation = _get_activation_fn(activation)

    def _mha_block(self, x, mem, attn_mask, key_padding_mask, is_causal):
        out = _attention(self.multihead_attn, x, mem, attn_mask, key_padding_mask, is_causal, self.multihead_attn.batch_first, self.training)
        return self.dropout2(out)

    def forward(self, tgt, memory, tgt_mask=None, memory_mask=None, tgt_key_padding_mask=None,
                memory_key_padding_mask=None, tgt_is_causal=False, memory_is_causal=False):
        bf = self.self_attn.batch_first
        x, (tgt_key_padding_mask,), unbatched = _batched(tgt, bf, [tgt_key_padding_mask])
        if unbatched:
            memory, (memory_key_padding_mask,), _ = _batched(memory, bf, [memory_key_padding_mask])
        if self.norm_first:
            x = x + self._sa_block(self.norm1(x), tgt_mask, tgt_key_padding_mask, tgt_is_causal)
            x = x + self._mha_block(self.norm2(x), memory, memory_mask, memory_key_padding_mask, memory_is_causal)
            x = x + self.dropout3(self._mlp(self.norm3(x)))
        else:
            x = self.norm1(x + self._sa_block(x, tgt_mask, tgt_key_padding_mask, tgt_is_causal))
            x = self.norm2(x + self._mha_block(x, memory, memory_mask, memory_key_padding_mask, memory_is_causal))
            x = self.norm3(x + self.dropout3(self._mlp(x)))
        return x.squeeze(0 if bf else 1) if unbatched else x


def _get_clones(module, n):
    return ModuleList([copy.deepcopy(module) for _ in range(n)])


class TransformerEncoder(Module):
    r"""A stack of ``num_layers`` deep copies of ``encoder_layer`` (keys
    ``layers.{i}.…``), then the optional final ``norm``.

    ``enable_nested_tensor`` and ``mask_check`` are accepted for torch
    compatibility and ignored: dlcore has no nested tensors, padded
    positions are computed like any other (their values differ from torch's
    nested-tensor inference fast path, which writes zeros there).
    ``forward(src, mask=None, src_key_padding_mask=None, is_causal=None)``.

    Examples::

        >>> layer = dlcore.nn.TransformerEncoderLayer(8, 2, 16)
        >>> enc = dlcore.nn.TransformerEncoder(layer, num_layers=2)
        >>> tuple(enc(dlcore.randn(5, 3, 8)).shape)
        (5, 3, 8)
    """

    def __init__(self, encoder_layer, num_layers, norm=None, enable_nested_tensor=True, mask_check=True):
        super().__init__()
        self.layers = _get_clones(encoder_layer, num_layers)
        self.num_layers = num_layers
        self.norm = norm
        self.enable_nested_tensor = False  # accepted, ignored (see the docstring)
        self.mask_check = mask_check

    def forward(self, src, mask=None, src_key_padding_mask=None, is_causal=None):
        out = src
        if is_causal is None:  # detect once here, not once per layer (torch's _detect_is_causal_mask)
            T = src.shape[1 if self.layers[0].self_attn.batch_first and src.ndim == 3 else 0] if len(self.layers) else 0
            is_causal = _is_causal_mask(mask, T, T)
        for mod in self.layers:
            out = mod(out, src_mask=mask, src_key_padding_mask=src_key_padding_mask, is_causal=bool(is_causal))
        return self.norm(out) if self.norm is not None else out


class TransformerDecoder(Module):
    r"""A stack of ``num_layers`` deep copies of ``decoder_layer``, then the
    optional final ``norm``. ``forward(tgt, memory, tgt_mask=None,
    memory_mask=None, tgt_key_padding_mask=None, memory_key_padding_mask=None,
    tgt_is_causal=None, memory_is_causal=False)``.

    Examples::

        >>> layer = dlcore.nn.TransformerDecoderLayer(8, 2, 16)
        >>> dec = dlcore.nn.TransformerDecoder(layer, num_layers=2)
        >>> tuple(dec(dlcore.randn(4, 3, 8), dlcore.randn(6, 3, 8)).shape)
        (4, 3, 8)
    """

    def __init__(self, decoder_layer, num_layers, norm=None):
        super().__init__()
        self.layers = _get_clones(decoder_layer, num_layers)
        self.num_layers = num_layers
        self.norm = norm

    def forward(self, tgt, memory, tgt_mask=None, memory_mask=None, tgt_key_padding_mask=None,
                memory_key_padding_mask=None, tgt_is_causal=None, memory_is_causal=False):
        out = tgt
        if tgt_is_causal is None:
            T = tgt.shape[1 if self.layers[0].self_attn.batch_first and tgt.ndim == 3 else 0] if len(self.layers) else 0
            tgt_is_causal = _is_causal_mask(tgt_mask, T, T)
        for mod in self.layers:
            out = mod(out, memory, tgt_mask=tgt_mask, memory_mask=memory_mask, tgt_key_padding_mask=tgt_key_padding_mask,
                      memory_key_padding_mask=memory_key_padding_mask, tgt_is_causal=bool(tgt_is_causal),
                      memory_is_causal=memory_is_causal)
        return self.norm(out) if self.norm is not None else out


class Transformer(Module):
    r"""The encoder–decoder Transformer (Vaswani et al., 2017), as torch:
    ``encoder`` = :class:`TransformerEncoder` with a final LayerNorm,
    ``decoder`` = :class:`TransformerDecoder` with a final LayerNorm; every
    parameter with more than one dim is Xavier-uniform initialised.

    ``forward(src, tgt, src_mask=None, tgt_mask=None, memory_mask=None,
    src_key_padding_mask=None, tgt_key_padding_mask=None,
    memory_key_padding_mask=None, src_is_causal=None, tgt_is_causal=None,
    memory_is_causal=False)`` returns ``(T, N, E)`` (``(N, T, E)`` with
    ``batch_first``). Use :meth:`generate_square_subsequent_mask` for ``tgt_mask``.

    Examples::

        >>> model = dlcore.nn.Transformer(16, 2, 1, 1, 32)
        >>> src, tgt = dlcore.randn(6, 2, 16), dlcore.randn(4, 2, 16)
        >>> mask = dlcore.nn.Transformer.generate_square_subsequent_mask(4)
        >>> tuple(model(src, tgt, tgt_mask=mask).shape)
        (4, 2, 16)
    """

    def __init__(self, d_model=512, nhead=8, num_encoder_layers=6, num_decoder_layers=6, dim_feedforward=2048,
                 dropout=0.1, activation="relu", custom_encoder=None, custom_decoder=None, layer_norm_eps=1e-5,
                 batch_first=False, norm_first=False, bias=True, device=None, dtype=None):
        super().__init__()
        kw = dict(dim_feedforward=dim_feedforward, dropout=dropout, activation=activation, layer_norm_eps=layer_norm_eps,
                  batch_first=batch_first, norm_first=norm_first, bias=bias, dtype=dtype)
        if custom_encoder is not None:
            self.encoder = custom_encoder
        else:
            layer = TransformerEncoderLayer(d_model, nhead, **kw)
            self.encoder = TransformerEncoder(layer, num_encoder_layers, LayerNorm(d_model, eps=layer_norm_eps, bias=bias, dtype=dtype))
        if custom_decoder is not None:
            self.decoder = custom_decoder
        else:
            layer = TransformerDecoderLayer(d_model, nhead, **kw)
            self.decoder = TransformerDecoder(layer, num_decoder_layers, LayerNorm(d_model, eps=layer_norm_eps, bias=bias, dtype=dtype))
        self._reset_parameters()
        self.d_model, self.nhead, self.batch_first = d_model, nhead, batch_first

    def _reset_parameters(self):
        for p in self.parameters():
            if p.ndim > 1:
                init.xavier_uniform_(p)

    def forward(self, src, tgt, src_mask=None, tgt_mask=None, memory_mask=None, src_key_padding_mask=None,
                tgt_key_padding_mask=None, memory_key_padding_mask=None, src_is_causal=None, tgt_is_causal=None,
                memory_is_causal=False):
        if src.ndim == 3:
            bdim = 0 if self.batch_first else 1
            if src.shape[bdim] != tgt.shape[bdim]:
                raise RuntimeError("the batch number of src and tgt must be equal")
        if src.shape[-1] != self.d_model or tgt.shape[-1] != self.d_model:
            raise RuntimeError("the feature number of src and tgt must be equal to d_model")
        memory = self.encoder(src, mask=src_mask, src_key_padding_mask=src_key_padding_mask, is_causal=src_is_causal)
        return self.decoder(tgt, memory, tgt_mask=tgt_mask, memory_mask=memory_mask, tgt_key_padding_mask=tgt_key_padding_mask,
                            memory_key_padding_mask=memory_key_padding_mask, tgt_is_causal=tgt_is_causal,
                            memory_is_causal=memory_is_causal)

    generate_square_subsequent_mask = staticmethod(generate_square_subsequent_mask)
