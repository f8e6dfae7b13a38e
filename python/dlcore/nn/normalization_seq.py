"""``nn.Embedding`` and ``nn.LayerNorm`` with torch's parameters, defaults and
``state_dict`` keys (``weight``; ``weight`` / ``bias``)."""

from __future__ import annotations

import numbers

import dlcore

from . import functional as F
from . import init
from .module import Module, Parameter

__all__ = ["Embedding", "LayerNorm"]


class Embedding(Module):
    r"""A lookup table of ``num_embeddings`` vectors of size ``embedding_dim``.

    Args:
        num_embeddings: size of the dictionary.
        embedding_dim: size of each vector.
        padding_idx: this row is initialised to zeros and never gets a gradient.

    Shape:
        - Input: ``(*)`` int64 indices. Output: ``(*, embedding_dim)``.

    ``weight`` is initialised from N(0, 1), as torch.

    Examples::

        >>> emb = dlcore.nn.Embedding(10, 3, padding_idx=0)
        >>> tuple(emb(dlcore.tensor([[0, 2], [4, 9]])).shape)
        (2, 2, 3)
    """

    def __init__(self, num_embeddings, embedding_dim, padding_idx=None, max_norm=None, norm_type=2.0,
                 scale_grad_by_freq=False, sparse=False, _weight=None, _freeze=False, device=None, dtype=None):
        super().__init__()
        if padding_idx is not None:
            if not -num_embeddings <= padding_idx < num_embeddings:
                raise AssertionError("Padding_idx must be within num_embeddings")
            padding_idx %= num_embeddings
        self.num_embeddings, self.embedding_dim, self.padding_idx = num_embeddings, embedding_dim, padding_idx
        self.max_norm, self.norm_type = max_norm, norm_type
        self.scale_grad_by_freq, self.sparse = scale_grad_by_freq, sparse
        if _weight is None:
            self.weight = Parameter(dlcore.empty(num_embeddings, embedding_dim, dtype=dtype or dlcore.float32),
                                    requires_grad=not _freeze)
            self.reset_parameters()
        else:
            if tuple(_weight.shape) != (num_embeddings, embedding_dim):
                raise AssertionError("Shape of weight does not match num_embeddings and embedding_dim")
            self.weight = Parameter(_weight, requires_grad=not _freeze)

    def reset_parameters(self) -> None:
        init.normal_(self.weight)
        if self.padding_idx is not None:
            with dlcore.no_grad():
                self.weight[self.padding_idx].fill_(0)

    @classmethod
    def from_pretrained(cls, embeddings, freeze=True, padding_idx=None, **kw):
        rows, cols = embeddings.shape
        return cls(rows, cols, padding_idx=padding_idx, _weight=embeddings, _freeze=freeze, **kw)

    def forward(self, input):
        return F.embedding(input, self.weight, self.padding_idx, self.max_norm, self.norm_type,
                           self.scale_grad_by_freq, self.sparse)

    def extra_repr(self) -> str:
        s = f"{self.num_embeddings}, {self.embedding_dim}"
        return s + (f", padding_idx={self.padding_idx}" if self.padding_idx is not None else "")


class LayerNorm(Module):
    r"""Layer normalisation over the trailing ``normalized_shape`` dims (Ba et al., 2016).

    Args:
        normalized_shape: int or tuple: the trailing dims to normalise over.
        eps: added to the variance. Default ``1e-5``.
        elementwise_affine: learnable ``weight`` (ones) and ``bias`` (zeros).
        bias: whether to learn ``bias`` (with ``elementwise_affine``).

    Examples::

        >>> ln = dlcore.nn.LayerNorm(4)
        >>> tuple(ln(dlcore.randn(2, 3, 4)).shape)
        (2, 3, 4)
    """

    def __init__(self, normalized_shape, eps=1e-5, elementwise_affine=True, bias=True, device=None, dtype=None):
        super().__init__()
        if isinstance(normalized_shape, numbers.Integral):
            normalized_shape = (normalized_shape,)
        self.normalized_shape = tuple(int(d) for d in normalized_shape)
        self.eps, self.elementwise_affine = eps, elementwise_affine
        dtype = dtype or dlcore.float32
        if elementwise_affine:
            self.weight = Parameter(dlcore.ones(*self.normalized_shape, dtype=dtype))
            if bias:
                self.bias = Parameter(dlcore.zeros(*self.normalized_shape, dtype=dtype))
            else:
                self.register_parameter("bias", None)
        else:
            self.register_parameter("weight", None)
            self.register_parameter("bias", None)

    def reset_parameters(self) -> None:
        if self.elementwise_affine:
            init.ones_(self.weight)
            if self.bias is not None:
                init.zeros_(self.bias)

    def forward(self, input):
        return F.layer_norm(input, self.normalized_shape, self.weight, self.bias, self.eps)

    def extra_repr(self) -> str:
        return f"{self.normalized_shape}, eps={self.eps}, elementwise_affine={self.elementwise_affine}"
