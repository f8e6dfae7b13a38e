"""Convolution layers: ``Conv1d``, ``Conv2d``, ``ConvTranspose2d`` with
PyTorch's arguments, parameter shapes, initialisation and state_dict keys."""

from __future__ import annotations

import math

import dlcore
from dlcore import Tensor

from . import functional as F
from . import init
from ._conv_functional import _tuple
from .module import Module, Parameter


class _ConvNd(Module):
    def __init__(self, in_channels, out_channels, kernel_size, stride, padding, dilation, groups, bias, padding_mode, n, transposed, output_padding=0, device=None, dtype=None):
        super().__init__()
        if groups <= 0:
            raise ValueError("groups must be a positive integer")
        if in_channels % groups != 0:
            raise ValueError("in_channels must be divisible by groups")
        if out_channels % groups != 0:
            raise ValueError("out_channels must be divisible by groups")
        if padding_mode not in ("zeros", "reflect", "replicate", "circular"):
            raise ValueError(f"padding_mode must be one of 'zeros', 'reflect', 'replicate', 'circular', got {padding_mode!r}")
        if isinstance(padding, str) and padding not in ("same", "valid"):
            raise ValueError(f"Invalid padding string {padding!r}, should be one of 'valid', 'same'")
        self.in_channels, self.out_channels = in_channels, out_channels
        self.kernel_size = _tuple(kernel_size, n, "kernel_size")
        self.stride = _tuple(stride, n, "stride")
        self.padding = padding if isinstance(padding, str) else _tuple(padding, n, "padding")
        if padding == "same" and any(s != 1 for s in self.stride):
            raise ValueError("padding='same' is not supported for strided convolutions")
        self.dilation = _tuple(dilation, n, "dilation")
        self.output_padding = _tuple(output_padding, n, "output_padding")
        self.groups, self.padding_mode, self.transposed = groups, padding_mode, transposed
        factory = {"device": device, "dtype": dtype}
        shape = (in_channels, out_channels // groups) if transposed else (out_channels, in_channels // groups)
        self.weight = Parameter(dlcore.empty(*shape, *self.kernel_size, **factory))
        if bias:
            self.bias = Parameter(dlcore.empty(out_channels, **factory))
        else:
            self.register_parameter("bias", None)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        # torch's _ConvNd.reset_parameters: kaiming_uniform_(a=√5), bias U(±1/√fan_in)
        init.kaiming_uniform_(self.weight, a=math.sqrt(5))
        if self.bias is not None:
            fan_in, _ = init._calculate_fan_in_and_fan_out(self.weight)
            if fan_in != 0:
                bound = 1 / math.sqrt(fan_in)
                init.uniform_(self.bias, -bound, bound)

    def _pad_input(self, input: Tensor) -> tuple[Tensor, object]:
        """Non-zero padding modes pad explicitly, then convolve unpadded."""
        if self.padding_mode == "zeros":
            return input, self.padding
        pad = getattr(F, "pad", None)
        if pad is None:
            raise NotImplementedError(f"padding_mode={self.padding_mode!r} needs F.pad, which this build lacks")
        if isinstance(self.padding, str):
            raise ValueError("padding_mode other than 'zeros' needs numeric padding")
        amounts = []
        for p in reversed(self.padding):
            amounts += [p, p]
        return pad(input, tuple(amounts), mode=self.padding_mode), 0

    def extra_repr(self) -> str:
        s = f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, stride={self.stride}"
        if self.padding not in ((0,) * len(self.kernel_size), "valid"):
            s += f", padding={self.padding!r}" if isinstance(self.padding, str) else f", padding={self.padding}"
        if self.dilation != (1,) * len(self.dilation):
            s += f", dilation={self.dilation}"
        if self.transposed and self.output_padding != (0,) * len(self.output_padding):
            s += f", output_padding={self.output_padding}"
        if self.groups != 1:
            s += f", groups={self.groups}"
        if self.bias is None:
            s += ", bias=False"
        if self.padding_mode != "zeros":
            s += f", padding_mode={self.padding_mode!r}"
        return s


class Conv2d(_ConvNd):
    r"""2-D convolution over ``(N, C_in, H, W)`` input.

    Args:
        in_channels, out_channels (int): channels in and out.
        kernel_size, stride, dilation: int or tuple.
        padding: int, tuple, ``'valid'`` or ``'same'``. Default: 0.
        groups (int): channel groups (``groups == in_channels``: depthwise). Default: 1.
        bias (bool): learnable bias. Default: True.
        padding_mode: ``'zeros'`` (default), ``'reflect'``, ``'replicate'`` or ``'circular'``.

    Shape:
        - Input: :math:`(N, C_{in}, H, W)` or :math:`(C_{in}, H, W)`
        - Output: :math:`(N, C_{out}, H_{out}, W_{out})` with
          :math:`H_{out} = \lfloor (H + 2p - d(k-1) - 1) / s \rfloor + 1`.

    Attributes:
        weight: ``(out_channels, in_channels / groups, kH, kW)``.
        bias: ``(out_channels,)``.

    Examples::

        >>> import dlcore, dlcore.nn as nn
        >>> m = nn.Conv2d(3, 8, 3, padding=1)
        >>> m(dlcore.randn(2, 3, 16, 16)).shape
        (2, 8, 16, 16)
    """

    def __init__(self, in_channels, out_channels, kernel_size, stride=1, padding=0, dilation=1, groups=1, bias=True, padding_mode="zeros", device=None, dtype=None):
        super().__init__(in_channels, out_channels, kernel_size, stride, padding, dilation, groups, bias, padding_mode, 2, False, device=device, dtype=dtype)

    def forward(self, input: Tensor) -> Tensor:
        x, padding = self._pad_input(input)
        return F.conv2d(x, self.weight, self.bias, self.stride, padding, self.dilation, self.groups)


class Conv1d(_ConvNd):
    """1-D convolution over ``(N, C_in, L)`` input; weight ``(out, in / groups, k)``.

    Examples::

        >>> import dlcore, dlcore.nn as nn
        >>> nn.Conv1d(4, 6, 3, padding="same")(dlcore.randn(2, 4, 10)).shape
        (2, 6, 10)
    """

    def __init__(self, in_channels, out_channels, kernel_size, stride=1, padding=0, dilation=1, groups=1, bias=True, padding_mode="zeros", device=None, dtype=None):
        super().__init__(in_channels, out_channels, kernel_size, stride, padding, dilation, groups, bias, padding_mode, 1, False, device=device, dtype=dtype)

    def forward(self, input: Tensor) -> Tensor:
        x, padding = self._pad_input(input)
        return F.conv1d(x, self.weight, self.bias, self.stride, padding, self.dilation, self.groups)


class ConvTranspose2d(_ConvNd):
    r"""2-D transposed convolution ("deconvolution"), the upsampling layer of
    FCN decoders and DCGAN generators.

    Output size per dim: :math:`(H - 1)s - 2p + d(k - 1) + \text{output\_padding} + 1`;
    ``forward(input, output_size=...)`` picks ``output_padding`` to hit a size.

    Attributes:
        weight: ``(in_channels, out_channels / groups, kH, kW)``.

    Examples::

        >>> import dlcore, dlcore.nn as nn
        >>> up = nn.ConvTranspose2d(8, 4, 4, stride=2, padding=1)
        >>> up(dlcore.randn(1, 8, 5, 5)).shape
        (1, 4, 10, 10)
    """

    def __init__(self, in_channels, out_channels, kernel_size, stride=1, padding=0, output_padding=0, groups=1, bias=True, dilation=1, padding_mode="zeros", device=None, dtype=None):
        if padding_mode != "zeros":
            raise ValueError('Only "zeros" padding mode is supported for ConvTranspose2d')
        if isinstance(padding, str):
            raise ValueError("ConvTranspose2d does not accept string padding")
        super().__init__(in_channels, out_channels, kernel_size, stride, padding, dilation, groups, bias, padding_mode, 2, True, output_padding, device=device, dtype=dtype)

    def _output_padding(self, input: Tensor, output_size) -> tuple:
        if output_size is None:
            return self.output_padding
        size = tuple(output_size)[-2:]
        pads = []
        for i, want in enumerate(size):
            base = (input.shape[-2 + i] - 1) * self.stride[i] - 2 * self.padding[i] + self.dilation[i] * (self.kernel_size[i] - 1) + 1
            extra = want - base
            if not 0 <= extra < max(self.stride[i], self.dilation[i]):
                raise ValueError(f"requested an output size of {size}, but valid sizes start at {base} (dim {i})")
            pads.append(extra)
        return tuple(pads)

    def forward(self, input: Tensor, output_size=None) -> Tensor:
        return F.conv_transpose2d(
            input, self.weight, self.bias, self.stride, self.padding, self._output_padding(input, output_size), self.groups, self.dilation
        )
