"""Dropout layers: active in ``train()`` mode, the identity in ``eval()``."""

from __future__ import annotations

from . import functional as F
from .module import Module


class _DropoutNd(Module):
    def __init__(self, p: float = 0.5, inplace: bool = False) -> None:
        super().__init__()
        if not 0.0 <= p <= 1.0:
            raise ValueError(f"dropout probability has to be between 0 and 1, but got {p}")
        self.p = p
        self.inplace = inplace

    def extra_repr(self) -> str:
        return f"p={self.p}, inplace={self.inplace}"


class Dropout(_DropoutNd):
    """Randomly zeroes elements with probability ``p`` during training and
    scales the survivors by ``1 / (1 - p)``; the mask is one Rust call.

    Args:
        p (float): probability of an element to be zeroed. Default: 0.5.
        inplace (bool): write the result into the input. Default: False.

    Shape:
        - Input: any. Output: same shape.

    Examples::

        >>> import dlcore, dlcore.nn as nn
        >>> m = nn.Dropout(0.2)
        >>> m.eval()(dlcore.ones(3)).tolist()
        [1.0, 1.0, 1.0]
    """

    def forward(self, input):
        return F.dropout(input, self.p, self.training, self.inplace)


class Dropout2d(_DropoutNd):
    """Zeroes whole channels of ``(N, C, H, W)`` input during training.

    Examples::

        >>> import dlcore, dlcore.nn as nn
        >>> y = nn.Dropout2d(0.5)(dlcore.ones(2, 8, 4, 4))
        >>> all(v in (0.0, 32.0) for v in y.sum((2, 3)).flatten().tolist())
        True
    """

    def forward(self, input):
        return F.dropout2d(input, self.p, self.training, self.inplace)
