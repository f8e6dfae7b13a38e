"""Noise-injection regularizers: active in ``train()`` mode, the identity in ``eval()``.

PyTorch has no such layers; these follow Keras' ``GaussianNoise`` /
``GaussianDropout`` and the papers cited in each docstring.
"""

from __future__ import annotations

import math

import dlcore
from dlcore import Tensor

from .module import Module

__all__ = ["GaussianNoise", "GaussianDropout"]


class GaussianNoise(Module):
    r"""Add zero-mean Gaussian noise during training:
    :math:`y = x + \sigma\epsilon`, :math:`\epsilon \sim \mathcal{N}(0, 1)`.

    Training with input noise is equivalent to Tikhonov regularization
    (Bishop, "Training with noise is equivalent to Tikhonov regularization",
    1995). The noise is not differentiated through (gradient of ``y`` with
    respect to ``x`` is the identity). In ``eval()`` mode the layer returns its
    input unchanged.

    Args:
        std (float): standard deviation :math:`\sigma` of the noise. Default: 0.1.
        relative (bool): scale the noise by :math:`|x|` (detached), i.e.
            :math:`y = x + \sigma|x|\epsilon`, so the noise follows the
            activation's magnitude. Default: ``False``.

    Shape:
        - Input: :math:`(*)`; Output: same shape.

    Examples::

        >>> noise = dlcore.nn.GaussianNoise(std=0.5)
        >>> x = dlcore.zeros(1000)
        >>> 0.4 < noise(x).std().item() < 0.6
        True
        >>> noise.eval()(x).abs().sum().item()
        0.0
    """

    def __init__(self, std: float = 0.1, relative: bool = False) -> None:
        super().__init__()
        if std < 0:
            raise ValueError(f"GaussianNoise: std must be >= 0, got {std}")
        self.std = std
        self.relative = relative

    def forward(self, input: Tensor) -> Tensor:
        if not self.training or self.std == 0:
            return input
        eps = dlcore.randn(*input.shape, dtype=input.dtype) * self.std
        if self.relative:
            eps = eps * input.detach().abs()
        return input + eps

    def extra_repr(self) -> str:
        return f"std={self.std}" + (", relative=True" if self.relative else "")


class GaussianDropout(Module):
    r"""Multiplicative Gaussian noise during training:
    :math:`y = x \cdot \epsilon`, :math:`\epsilon \sim \mathcal{N}(1, p/(1-p))`.

    The Gaussian counterpart of (inverted) dropout with drop probability
    :math:`p`: same mean and variance of the multiplier (Srivastava et al.,
    "Dropout: a simple way to prevent neural networks from overfitting",
    2014, §10). The identity in ``eval()`` mode.

    Args:
        p (float): equivalent drop probability, in :math:`[0, 1)`. Default: 0.5.

    Shape:
        - Input: :math:`(*)`; Output: same shape.

    Examples::

        >>> drop = dlcore.nn.GaussianDropout(p=0.2)
        >>> y = drop(dlcore.ones(10000))
        >>> 0.95 < y.mean().item() < 1.05 and 0.45 < y.std().item() < 0.55
        True
    """

    def __init__(self, p: float = 0.5) -> None:
        super().__init__()
        if not 0.0 <= p < 1.0:
            raise ValueError(f"GaussianDropout: p must be in [0, 1), got {p}")
        self.p = p

    def forward(self, input: Tensor) -> Tensor:
        if not self.training or self.p == 0:
            return input
        sigma = math.sqrt(self.p / (1.0 - self.p))
        return input * (dlcore.randn(*input.shape, dtype=input.dtype) * sigma + 1.0)

    def extra_repr(self) -> str:
        return f"p={self.p}"
