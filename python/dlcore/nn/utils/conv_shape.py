"""Shape arithmetic for convolution and pooling layers.

The formula every CNN course starts from, :math:`W_2 = (W_1 - F + 2P)/S + 1`,
generalised per spatial dim with dilation :math:`D` (effective kernel
:math:`D(F-1)+1`) and floor/ceil rounding:

.. math:: W_2 = \\left\\lfloor \\frac{W_1 + 2P - D(F - 1) - 1}{S} \\right\\rfloor + 1
"""

from __future__ import annotations

import math

__all__ = ["conv_output_shape", "conv_transpose_output_shape"]


def _per_dim(v, n: int, name: str):
    if isinstance(v, (int, str)):
        return [v] * n
    v = list(v)
    if len(v) == 1:
        return v * n
    if len(v) != n:
        raise ValueError(f"conv_output_shape: {name} has {len(v)} entries for {n} spatial dims: {v}")
    return v


def conv_output_shape(input_size, kernel_size, stride=1, padding=0, dilation=1, ceil_mode=False):
    """Spatial output size of a convolution or pooling layer.

    Args:
        input_size: int (one dim) or sequence of spatial sizes, e.g. ``(H, W)``.
        kernel_size, stride, dilation: int or one value per dim.
        padding: int, one value per dim, ``'valid'`` (0) or ``'same'``
            (output = input; stride must be 1).
        ceil_mode: round up as pooling layers do with ``ceil_mode=True``
            (the last window must start inside the input or left padding).

    Returns:
        An int for an int ``input_size``, else a tuple.

    Raises:
        ValueError: a non-positive size/kernel/stride, or an output size <= 0.

    Examples::

        >>> from dlcore.nn.utils import conv_output_shape
        >>> conv_output_shape(227, 11, stride=4)  # AlexNet conv1: (227 - 11)/4 + 1
        55
        >>> conv_output_shape((32, 32), 3, padding=1)
        (32, 32)
        >>> conv_output_shape((28, 28), 3, dilation=2)
        (24, 24)
    """
    scalar = isinstance(input_size, int)
    sizes = [input_size] if scalar else list(input_size)
    n = len(sizes)
    ks, ss, ds = _per_dim(kernel_size, n, "kernel_size"), _per_dim(stride, n, "stride"), _per_dim(dilation, n, "dilation")
    if padding == "valid":
        ps = [0] * n
    elif padding == "same":
        if any(s != 1 for s in ss):
            raise ValueError("conv_output_shape: padding='same' is not supported for strided convolutions")
        return input_size if scalar else tuple(sizes)
    else:
        ps = _per_dim(padding, n, "padding")
    out = []
    for w, k, s, p, d in zip(sizes, ks, ss, ps, ds):
        if w <= 0 or k <= 0 or s <= 0 or d <= 0 or p < 0:
            raise ValueError(
                f"conv_output_shape: sizes, kernel, stride and dilation must be positive and padding non-negative; "
                f"got input={w}, kernel={k}, stride={s}, padding={p}, dilation={d}"
            )
        num = w + 2 * p - d * (k - 1) - 1
        o = (math.ceil(num / s) if ceil_mode else num // s) + 1
        if ceil_mode and (o - 1) * s >= w + p:
            o -= 1
        if o <= 0:
            raise ValueError(
                f"conv_output_shape: output size {o} <= 0 for input {w}, kernel {k} (dilation {d}, "
                f"effective {d * (k - 1) + 1}), padding {p}, stride {s}"
            )
        out.append(o)
    return out[0] if scalar else tuple(out)


def conv_transpose_output_shape(input_size, kernel_size, stride=1, padding=0, output_padding=0, dilation=1):
    """Spatial output size of a transposed convolution:
    :math:`(W_1 - 1)S - 2P + D(F - 1) + \\text{output\\_padding} + 1`.

    Examples::

        >>> from dlcore.nn.utils import conv_transpose_output_shape
        >>> conv_transpose_output_shape((16, 16), 4, stride=2, padding=1)  # DCGAN upsampling
        (32, 32)
    """
    scalar = isinstance(input_size, int)
    sizes = [input_size] if scalar else list(input_size)
    n = len(sizes)
    vals = zip(
        sizes,
        _per_dim(kernel_size, n, "kernel_size"),
        _per_dim(stride, n, "stride"),
        _per_dim(padding, n, "padding"),
        _per_dim(output_padding, n, "output_padding"),
        _per_dim(dilation, n, "dilation"),
    )
    out = []
    for w, k, s, p, op, d in vals:
        o = (w - 1) * s - 2 * p + d * (k - 1) + op + 1
        if o <= 0:
            raise ValueError(f"conv_transpose_output_shape: output size {o} <= 0 for input {w}, kernel {k}, stride {s}, padding {p}")
        out.append(o)
    return out[0] if scalar else tuple(out)
