"""Functional convolutions (``F.conv1d``, ``F.conv2d``, ``F.conv_transpose2d``).

The Rust core does 2-D NCHW convolution; 1-D is the 2-D case with H = 1, and
unbatched inputs get a batch dim of 1 around the call.
"""

from __future__ import annotations

from dlcore import Tensor, _core


def _tuple(v, n: int, name: str) -> tuple:
    if isinstance(v, int):
        return (v,) * n
    v = tuple(int(x) for x in v)
    if len(v) != n:
        raise ValueError(f"{name} must be an int or a tuple of {n} ints, got {v}")
    return v


def _padding(padding, kernel: tuple, stride: tuple, dilation: tuple, op: str):
    """(begin, end) per dim; 'same' pads d·(k-1) in total, the odd one after."""
    n = len(kernel)
    if isinstance(padding, str):
        if padding == "valid":
            return (0,) * n, (0,) * n
        if padding == "same":
            if any(s != 1 for s in stride):
                raise ValueError(f"{op}: padding='same' is not supported for strided convolutions")
            total = [d * (k - 1) for k, d in zip(kernel, dilation)]
            begin = tuple(t // 2 for t in total)
            return begin, tuple(t - b for t, b in zip(total, begin))
        raise ValueError(f"{op}: invalid padding string {padding!r}, should be one of 'valid', 'same'")
    p = _tuple(padding, n, "padding")
    if any(x < 0 for x in p):
        raise RuntimeError(f"{op}: negative padding is not supported, got {p}")
    return p, p


def _batched(input: Tensor, ndim: int, op: str):
    if input.ndim == ndim:
        return input, False
    if input.ndim == ndim - 1:
        return input.unsqueeze(0), True
    raise RuntimeError(
        f"{op}: expected {ndim - 1}D (unbatched) or {ndim}D (batched) input, but got input of shape {tuple(input.shape)}"
    )


def conv2d(input: Tensor, weight: Tensor, bias: Tensor | None = None, stride=1, padding=0, dilation=1, groups: int = 1) -> Tensor:
    """2-D convolution over ``(N, C, H, W)`` (or unbatched ``(C, H, W)``) input.

    Args:
        weight: ``(out_channels, in_channels / groups, kH, kW)``.
        bias: ``(out_channels,)`` or None.
        stride, dilation: int or (sH, sW).
        padding: int, (pH, pW), ``'valid'`` or ``'same'`` (stride 1 only).
        groups: split channels into this many independent convolutions
            (``groups == in_channels`` is a depthwise convolution).

    Examples::

        >>> import dlcore, dlcore.nn.functional as F
        >>> F.conv2d(dlcore.ones(1, 1, 4, 4), dlcore.ones(1, 1, 3, 3), padding=1)[0, 0, 0].tolist()
        [4.0, 6.0, 6.0, 4.0]
    """
    x, unbatched = _batched(input, 4, "conv2d")
    if weight.ndim != 4:
        raise RuntimeError(f"conv2d: expected a 4-D weight (O, C/groups, kH, kW), got {tuple(weight.shape)}")
    kernel = tuple(weight.shape[2:])
    stride, dilation = _tuple(stride, 2, "stride"), _tuple(dilation, 2, "dilation")
    begin, end = _padding(padding, kernel, stride, dilation, "conv2d")
    out = _core.conv2d(x, weight, bias, stride, begin, end, dilation, groups)
    return out.squeeze(0) if unbatched else out


def conv1d(input: Tensor, weight: Tensor, bias: Tensor | None = None, stride=1, padding=0, dilation=1, groups: int = 1) -> Tensor:
    """1-D convolution over ``(N, C, L)`` (or unbatched ``(C, L)``) input;
    weight ``(out_channels, in_channels / groups, k)``.

    >>> import dlcore, dlcore.nn.functional as F
    >>> F.conv1d(dlcore.ones(1, 1, 5), dlcore.ones(1, 1, 2)).tolist()
    [[[2.0, 2.0, 2.0, 2.0]]]
    """
    x, unbatched = _batched(input, 3, "conv1d")
    if weight.ndim != 3:
        raise RuntimeError(f"conv1d: expected a 3-D weight (O, C/groups, k), got {tuple(weight.shape)}")
    (s,), (d,) = _tuple(stride, 1, "stride"), _tuple(dilation, 1, "dilation")
    begin, end = _padding(padding if isinstance(padding, str) else _tuple(padding, 1, "padding"), tuple(weight.shape[2:]), (s,), (d,), "conv1d")
    out = _core.conv2d(x.unsqueeze(2), weight.unsqueeze(2), bias, (1, s), (0, begin[0]), (0, end[0]), (1, d), groups)
    out = out.squeeze(2)
    return out.squeeze(0) if unbatched else out


def conv_transpose2d(
    input: Tensor, weight: Tensor, bias: Tensor | None = None, stride=1, padding=0, output_padding=0, groups: int = 1, dilation=1
) -> Tensor:
    """2-D transposed convolution ("deconvolution"): the gradient of
    ``conv2d`` with respect to its input, used to upsample (FCN, GAN generators).

    Output size per dim: ``(in - 1)·stride - 2·padding + dilation·(k - 1) + output_padding + 1``.

    Args:
        weight: ``(in_channels, out_channels / groups, kH, kW)``.

    Examples::

        >>> import dlcore, dlcore.nn.functional as F
        >>> F.conv_transpose2d(dlcore.ones(1, 1, 2, 2), dlcore.ones(1, 1, 2, 2), stride=2).shape
        (1, 1, 4, 4)
    """
    x, unbatched = _batched(input, 4, "conv_transpose2d")
    if weight.ndim != 4:
        raise RuntimeError(f"conv_transpose2d: expected a 4-D weight (Cin, Cout/groups, kH, kW), got {tuple(weight.shape)}")
    out = _core.conv_transpose2d(
        x,
        weight,
        bias,
        _tuple(stride, 2, "stride"),
        _tuple(padding, 2, "padding"),
        _tuple(output_padding, 2, "output_padding"),
        _tuple(dilation, 2, "dilation"),
        groups,
    )
    return out.squeeze(0) if unbatched else out
