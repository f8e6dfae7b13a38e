"""Resampling and padding layers: ``Upsample`` and friends, ``*Pad1d/2d``."""

from __future__ import annotations

from . import functional as F
from .module import Module

__all__ = [
    "Upsample",
    "UpsamplingNearest2d",
    "UpsamplingBilinear2d",
    "ZeroPad2d",
    "ConstantPad1d",
    "ConstantPad2d",
    "ReflectionPad1d",
    "ReflectionPad2d",
    "ReplicationPad1d",
    "ReplicationPad2d",
]


class Upsample(Module):
    """Upsample ``(N, C, L)`` / ``(N, C, H, W)`` input to ``size`` or by
    ``scale_factor`` with ``mode`` ``'nearest'``, ``'linear'`` or
    ``'bilinear'`` — the decoder step of FCN / U-Net style networks.

    Examples::

        >>> import dlcore, dlcore.nn as nn
        >>> tuple(nn.Upsample(scale_factor=2, mode="bilinear")(dlcore.randn(1, 3, 4, 5)).shape)
        (1, 3, 8, 10)
    """

    def __init__(self, size=None, scale_factor=None, mode="nearest", align_corners=None, recompute_scale_factor=None):
        super().__init__()
        self.size = size
        self.scale_factor = float(scale_factor) if isinstance(scale_factor, (int, float)) else scale_factor
        self.mode = mode
        self.align_corners = align_corners
        self.recompute_scale_factor = recompute_scale_factor

    def forward(self, input):
        return F.interpolate(input, self.size, self.scale_factor, self.mode, self.align_corners, self.recompute_scale_factor)

    def extra_repr(self) -> str:
        what = f"scale_factor={self.scale_factor}" if self.scale_factor is not None else f"size={self.size}"
        return f"{what}, mode='{self.mode}'"


class UpsamplingNearest2d(Upsample):
    """``Upsample(mode='nearest')``."""

    def __init__(self, size=None, scale_factor=None):
        super().__init__(size, scale_factor, mode="nearest")


class UpsamplingBilinear2d(Upsample):
    """``Upsample(mode='bilinear', align_corners=True)`` (as torch)."""

    def __init__(self, size=None, scale_factor=None):
        super().__init__(size, scale_factor, mode="bilinear", align_corners=True)


class _PadNd(Module):
    _mode = "constant"
    _n = 2

    def __init__(self, padding, value: float = 0.0):
        super().__init__()
        self.padding = (padding,) * (2 * self._n) if isinstance(padding, int) else tuple(padding)
        self.value = value

    def forward(self, input):
        if self._mode == "constant":
            return F.pad(input, self.padding, "constant", self.value)
        return F.pad(input, self.padding, self._mode)

    def extra_repr(self) -> str:
        return f"{self.padding}" + (f", value={self.value}" if self._mode == "constant" else "")


class ConstantPad1d(_PadNd):
    """Pad the last dim with ``value``: ``padding = (left, right)`` or an int."""

    _n = 1

    def __init__(self, padding, value: float):
        super().__init__(padding, value)


class ConstantPad2d(_PadNd):
    """Pad the last two dims with ``value``: ``(left, right, top, bottom)`` or an int."""

    def __init__(self, padding, value: float):
        super().__init__(padding, value)


class ZeroPad2d(_PadNd):
    """Zero padding of the last two dims.

    Examples::

        >>> import dlcore, dlcore.nn as nn
        >>> tuple(nn.ZeroPad2d((1, 1, 2, 0))(dlcore.ones(1, 1, 3, 3)).shape)
        (1, 1, 5, 5)
    """

    def __init__(self, padding):
        super().__init__(padding, 0.0)


class ReflectionPad1d(_PadNd):
    """Mirror padding (edge not repeated) of the last dim."""

    _mode, _n = "reflect", 1


class ReflectionPad2d(_PadNd):
    """Mirror padding (edge not repeated) of the last two dims."""

    _mode = "reflect"


class ReplicationPad1d(_PadNd):
    """Edge-repeating padding of the last dim."""

    _mode, _n = "replicate", 1


class ReplicationPad2d(_PadNd):
    """Edge-repeating padding of the last two dims."""

    _mode = "replicate"
