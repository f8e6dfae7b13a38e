"""Pooling layers. Each ``forward`` calls its functional form (one Rust call)."""

from __future__ import annotations

from . import functional as F
from .module import Module

__all__ = [
    "MaxPool1d",
    "MaxPool2d",
    "AvgPool1d",
    "AvgPool2d",
    "AdaptiveAvgPool1d",
    "AdaptiveAvgPool2d",
    "AdaptiveMaxPool1d",
    "AdaptiveMaxPool2d",
    "MaxUnpool2d",
]


class _MaxPoolNd(Module):
    def __init__(self, kernel_size, stride=None, padding=0, dilation=1, return_indices=False, ceil_mode=False):
        super().__init__()
        self.kernel_size = kernel_size
        self.stride = stride if (stride is not None) else kernel_size
        self.padding = padding
        self.dilation = dilation
        self.return_indices = return_indices
        self.ceil_mode = ceil_mode

    def extra_repr(self) -> str:
        return (
            f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}, "
            f"dilation={self.dilation}, ceil_mode={self.ceil_mode}"
        )


class MaxPool2d(_MaxPoolNd):
    r"""2-d max pooling over ``(N, C, H, W)`` (or ``(C, H, W)``) input.

    Args:
        kernel_size: window size (int or pair).
        stride: window step. Default: ``kernel_size``.
        padding: implicit ``-inf`` padding on both sides, at most half the kernel.
        dilation: spacing between window elements.
        return_indices: also return the argmax positions (for :class:`MaxUnpool2d`).
        ceil_mode: round the output size up instead of down.

    Shape:
        :math:`H_{out} = \lfloor (H_{in} + 2p - d(k-1) - 1)/s \rfloor + 1`, same for W.

    Examples::

        >>> import dlcore, dlcore.nn as nn
        >>> tuple(nn.MaxPool2d(3, stride=2)(dlcore.randn(2, 4, 9, 8)).shape)
        (2, 4, 4, 3)
    """

    def forward(self, input):
        return F.max_pool2d(input, self.kernel_size, self.stride, self.padding, self.dilation, self.ceil_mode, self.return_indices)


class MaxPool1d(_MaxPoolNd):
    """1-d max pooling over ``(N, C, L)`` input (see :class:`MaxPool2d`)."""

    def forward(self, input):
        return F.max_pool1d(input, self.kernel_size, self.stride, self.padding, self.dilation, self.ceil_mode, self.return_indices)


class _AvgPoolNd(Module):
    def __init__(self, kernel_size, stride=None, padding=0, ceil_mode=False, count_include_pad=True):
        super().__init__()
        self.kernel_size = kernel_size
        self.stride = stride if (stride is not None) else kernel_size
        self.padding = padding
        self.ceil_mode = ceil_mode
        self.count_include_pad = count_include_pad

    def extra_repr(self) -> str:
        return f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}"


class AvgPool2d(_AvgPoolNd):
    r"""2-d average pooling.

    Args:
        kernel_size, stride, padding, ceil_mode: as :class:`MaxPool2d` (no dilation).
        count_include_pad: count the zero padding in the divisor. Default: True.
        divisor_override: divide every window sum by this instead.

    Examples::

        >>> import dlcore, dlcore.nn as nn
        >>> nn.AvgPool2d(2)(dlcore.ones(1, 1, 4, 4)).flatten().tolist()
        [1.0, 1.0, 1.0, 1.0]
    """

    def __init__(self, kernel_size, stride=None, padding=0, ceil_mode=False, count_include_pad=True, divisor_override=None):
        super().__init__(kernel_size, stride, padding, ceil_mode, count_include_pad)
        self.divisor_override = divisor_override

    def forward(self, input):
        return F.avg_pool2d(
            input, self.kernel_size, self.stride, self.padding, self.ceil_mode, self.count_include_pad, self.divisor_override
        )


class AvgPool1d(_AvgPoolNd):
    """1-d average pooling over ``(N, C, L)`` input."""

    def __init__(self, kernel_size, stride=None, padding=0, ceil_mode=False, count_include_pad=True):
        one = lambda v: (v,) if isinstance(v, int) else tuple(v)  # noqa: E731  (torch stores 1-tuples)
        super().__init__(one(kernel_size), one(stride if stride is not None else kernel_size), one(padding), ceil_mode, count_include_pad)

    def forward(self, input):
        return F.avg_pool1d(input, self.kernel_size, self.stride, self.padding, self.ceil_mode, self.count_include_pad)


class _AdaptivePool(Module):
    def __init__(self, output_size, return_indices=False):
        super().__init__()
        self.output_size = output_size
        self.return_indices = return_indices

    def extra_repr(self) -> str:
        return f"output_size={self.output_size}"


class AdaptiveAvgPool2d(_AdaptivePool):
    """Average pooling to a fixed ``output_size`` whatever the input size
    (``None`` keeps that dim) — the global pooling before a classifier head.

    Examples::

        >>> import dlcore, dlcore.nn as nn
        >>> tuple(nn.AdaptiveAvgPool2d((1, 1))(dlcore.randn(2, 8, 7, 7)).shape)
        (2, 8, 1, 1)
    """

    def __init__(self, output_size):
        super().__init__(output_size)

    def forward(self, input):
        return F.adaptive_avg_pool2d(input, self.output_size)


class AdaptiveAvgPool1d(_AdaptivePool):
    """Average pooling of ``(N, C, L)`` input to ``output_size``."""

    def __init__(self, output_size):
        super().__init__(output_size)

    def forward(self, input):
        return F.adaptive_avg_pool1d(input, self.output_size)


class AdaptiveMaxPool2d(_AdaptivePool):
    """Max pooling to a fixed ``output_size``; ``return_indices`` as :class:`MaxPool2d`."""

    def forward(self, input):
        return F.adaptive_max_pool2d(input, self.output_size, self.return_indices)


class AdaptiveMaxPool1d(_AdaptivePool):
    """Max pooling of ``(N, C, L)`` input to ``output_size``."""

    def forward(self, input):
        return F.adaptive_max_pool1d(input, self.output_size, self.return_indices)


class MaxUnpool2d(Module):
    """Partial inverse of :class:`MaxPool2d` (needs its indices): the
    "unpooling" of SegNet-style decoders.

    Examples::

        >>> import dlcore, dlcore.nn as nn
        >>> pool, unpool = nn.MaxPool2d(2, return_indices=True), nn.MaxUnpool2d(2)
        >>> y, i = pool(dlcore.randn(1, 1, 4, 4))
        >>> tuple(unpool(y, i).shape)
        (1, 1, 4, 4)
    """

    def __init__(self, kernel_size, stride=None, padding=0):
        super().__init__()
        self.kernel_size = kernel_size
        self.stride = stride if (stride is not None) else kernel_size
        self.padding = padding

    def extra_repr(self) -> str:
        return f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}"

    def forward(self, input, indices, output_size=None):
        return F.max_unpool2d(input, indices, self.kernel_size, self.stride, self.padding, output_size)
