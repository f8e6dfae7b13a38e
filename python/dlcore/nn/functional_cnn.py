"""Functional forms of the CNN layers: pooling, batch norm, resampling,
padding and activations. Re-exported by :mod:`dlcore.nn.functional` (use it
as ``F``). Each op is one Rust call with a fused backward.
"""

from __future__ import annotations

import math

import dlcore
from dlcore import Tensor, _core

__all__ = [
    "max_pool1d",
    "max_pool2d",
    "avg_pool1d",
    "avg_pool2d",
    "adaptive_avg_pool1d",
    "adaptive_avg_pool2d",
    "adaptive_max_pool1d",
    "adaptive_max_pool2d",
    "max_unpool2d",
    "batch_norm",
    "batch_norm_relu",
    "interpolate",
    "upsample",
    "pad",
    "leaky_relu",
    "prelu",
    "elu",
    "selu",
    "celu",
    "gelu",
    "silu",
    "mish",
    "softplus",
    "hardtanh",
    "relu6",
    "logsigmoid",
    "step",
]


def _pair(v, name: str = "argument", op: str = "pool") -> tuple[int, int]:
    if isinstance(v, int):
        return (v, v)
    v = tuple(v)
    if len(v) == 1:
        return (v[0], v[0])
    if len(v) != 2:
        raise ValueError(f"{op}: {name} must be an int or a pair of ints, got {v}")
    return (int(v[0]), int(v[1]))


def _single(v, name: str, op: str) -> int:
    if isinstance(v, int):
        return v
    v = tuple(v)
    if len(v) != 1:
        raise ValueError(f"{op}: {name} must be an int or a 1-tuple, got {v}")
    return int(v[0])


def _maybe_inplace(input: Tensor, out: Tensor, inplace: bool) -> Tensor:
    return input.copy_(out) if inplace else out


# ----------------------------------------------------------------- pooling


def max_pool2d(input, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False, return_indices=False):
    r"""2-d max pooling over ``(N, C, H, W)`` or ``(C, H, W)`` input.

    Output size per spatial dim:
    :math:`\lfloor (H + 2p - d(k-1) - 1)/s \rfloor + 1` (ceil with ``ceil_mode``,
    the last window must start inside the input). ``stride`` defaults to
    ``kernel_size``; ``padding`` must be at most half the kernel. Indices are
    flat positions within each ``H×W`` plane (torch's convention), usable by
    :func:`max_unpool2d`.

    Examples::

        >>> import dlcore.nn.functional as F
        >>> x = dlcore.arange(16.0).reshape(1, 1, 4, 4)
        >>> F.max_pool2d(x, 2).flatten().tolist()
        [5.0, 7.0, 13.0, 15.0]
    """
    k = _pair(kernel_size, "kernel_size", "max_pool2d")
    s = k if stride is None or (not isinstance(stride, int) and len(stride) == 0) else _pair(stride, "stride", "max_pool2d")
    out, idx = _core.max_pool2d(input, k, s, _pair(padding, "padding"), _pair(dilation, "dilation"), bool(ceil_mode))
    return (out, idx) if return_indices else out


def max_pool1d(input, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False, return_indices=False):
    """1-d max pooling over ``(N, C, L)`` or ``(C, L)`` input (a 2-d pool with height 1)."""
    op = "max_pool1d"
    if input.ndim not in (2, 3):
        raise RuntimeError(f"{op}: Expected 2D or 3D (batch mode) tensor for input, but got shape {tuple(input.shape)}")
    k = _single(kernel_size, "kernel_size", op)
    s = k if stride is None or (not isinstance(stride, int) and len(stride) == 0) else _single(stride, "stride", op)
    p, d = _single(padding, "padding", op), _single(dilation, "dilation", op)
    out, idx = _core.max_pool2d(input.unsqueeze(-2), (1, k), (1, s), (0, p), (1, d), bool(ceil_mode))
    out, idx = out.squeeze(-2), idx.squeeze(-2)
    return (out, idx) if return_indices else out


def avg_pool2d(input, kernel_size, stride=None, padding=0, ceil_mode=False, count_include_pad=True, divisor_override=None):
    r"""2-d average pooling. With ``count_include_pad`` the zero padding counts
    in the divisor; ``divisor_override`` replaces the divisor altogether.

    Examples::

        >>> import dlcore.nn.functional as F
        >>> F.avg_pool2d(dlcore.ones(1, 1, 3, 3), 2, padding=1).flatten().tolist()
        [0.25, 0.5, 0.5, 1.0]
    """
    k = _pair(kernel_size, "kernel_size", "avg_pool2d")
    s = k if stride is None or (not isinstance(stride, int) and len(stride) == 0) else _pair(stride, "stride", "avg_pool2d")
    return _core.avg_pool2d(input, k, s, _pair(padding, "padding"), bool(ceil_mode), bool(count_include_pad), divisor_override)


def avg_pool1d(input, kernel_size, stride=None, padding=0, ceil_mode=False, count_include_pad=True):
    """1-d average pooling over ``(N, C, L)`` or ``(C, L)`` input."""
    op = "avg_pool1d"
    if input.ndim not in (2, 3):
        raise RuntimeError(f"{op}: Expected 2D or 3D (batch mode) tensor for input, but got shape {tuple(input.shape)}")
    k = _single(kernel_size, "kernel_size", op)
    s = k if stride is None or (not isinstance(stride, int) and len(stride) == 0) else _single(stride, "stride", op)
    p = _single(padding, "padding", op)
    out = _core.avg_pool2d(input.unsqueeze(-2), (1, k), (1, s), (0, p), bool(ceil_mode), bool(count_include_pad), None)
    return out.squeeze(-2)


def _adaptive_size(input, output_size, op):
    if input.ndim not in (3, 4):
        raise RuntimeError(f"{op}: Expected 3D or 4D tensor for input, but got shape {tuple(input.shape)}")
    o = (output_size, output_size) if isinstance(output_size, int) or output_size is None else tuple(output_size)
    if len(o) != 2:
        raise ValueError(f"{op}: output_size must be an int or a pair, got {output_size}")
    return tuple(int(input.shape[-2 + i]) if v is None else int(v) for i, v in enumerate(o))


def adaptive_avg_pool2d(input, output_size):
    """Average pooling whose windows (torch's rule: ``[floor(i·H/h), ceil((i+1)·H/h))``)
    produce exactly ``output_size``; ``None`` keeps that input dim.

    Examples::

        >>> import dlcore.nn.functional as F
        >>> tuple(F.adaptive_avg_pool2d(dlcore.ones(2, 3, 7, 5), (1, 1)).shape)
        (2, 3, 1, 1)
    """
    return _core.adaptive_avg_pool2d(input, _adaptive_size(input, output_size, "adaptive_avg_pool2d"))


def adaptive_max_pool2d(input, output_size, return_indices=False):
    """Max pooling to exactly ``output_size`` (indices as :func:`max_pool2d`)."""
    out, idx = _core.adaptive_max_pool2d(input, _adaptive_size(input, output_size, "adaptive_max_pool2d"))
    return (out, idx) if return_indices else out


def adaptive_avg_pool1d(input, output_size):
    """:func:`adaptive_avg_pool2d` over the last dim of ``(N, C, L)`` input."""
    return adaptive_avg_pool2d(input.unsqueeze(-2), (1, _single(output_size, "output_size", "adaptive_avg_pool1d"))).squeeze(-2)


def adaptive_max_pool1d(input, output_size, return_indices=False):
    """:func:`adaptive_max_pool2d` over the last dim of ``(N, C, L)`` input."""
    o = _single(output_size, "output_size", "adaptive_max_pool1d")
    out, idx = _core.adaptive_max_pool2d(input.unsqueeze(-2), (1, o))
    out, idx = out.squeeze(-2), idx.squeeze(-2)
    return (out, idx) if return_indices else out


def max_unpool2d(input, indices, kernel_size, stride=None, padding=0, output_size=None):
    r"""Partial inverse of :func:`max_pool2d`: zeros everywhere except the
    positions in ``indices``. Default output size per dim:
    :math:`(H_{in} - 1)s - 2p + k`.

    Examples::

        >>> import dlcore.nn.functional as F
        >>> x = dlcore.arange(16.0).reshape(1, 1, 4, 4)
        >>> y, i = F.max_pool2d(x, 2, return_indices=True)
        >>> F.max_unpool2d(y, i, 2).flatten().tolist()[:8]
        [0.0, 0.0, 0.0, 0.0, 0.0, 5.0, 0.0, 7.0]
    """
    k = _pair(kernel_size, "kernel_size", "max_unpool2d")
    s = k if stride is None else _pair(stride, "stride", "max_unpool2d")
    p = _pair(padding, "padding", "max_unpool2d")
    if input.ndim not in (3, 4):
        raise RuntimeError(f"max_unpool2d: Expected 3D or 4D tensor for input, but got shape {tuple(input.shape)}")
    if output_size is None:
        out = tuple((int(input.shape[-2 + i]) - 1) * s[i] - 2 * p[i] + k[i] for i in range(2))
    else:
        out = tuple(int(v) for v in tuple(output_size)[-2:])
        if len(tuple(output_size)) not in (2, input.ndim):
            raise ValueError(f"max_unpool2d: output_size should have 2 or {input.ndim} elements, got {output_size}")
    return _core.max_unpool2d(input, indices, out)


# --------------------------------------------------------------- batch norm


def batch_norm(input, running_mean, running_var, weight=None, bias=None, training=False, momentum=0.1, eps=1e-5):
    r"""Batch normalisation over dim 1 of ``(N, C, *)`` (Ioffe & Szegedy, 2015).

    In training (or without running stats) normalises with the batch mean
    and biased variance and, when given, updates ``running_mean`` /
    ``running_var`` in place with ``momentum`` (the variance update uses the
    unbiased estimate, as torch). One fused Rust pass each way.

    Examples::

        >>> import dlcore.nn.functional as F
        >>> x = dlcore.tensor([[1.0], [3.0]])
        >>> F.batch_norm(x, None, None, training=True).flatten().tolist()
        [-0.9999949932098389, 0.9999949932098389]
    """
    if training and eps <= 0.0:
        raise ValueError(f"batch_norm eps must be positive during training, but got {eps}")
    if eps < 0.0:
        raise ValueError(f"batch_norm eps must be non-negative, but got {eps}")
    if not training and (running_mean is None or running_var is None):
        raise RuntimeError("batch_norm: running_mean and running_var must be defined in evaluation mode")
    return _core.batch_norm(input, running_mean, running_var, weight, bias, bool(training), float(momentum or 0.0), float(eps))


def batch_norm_relu(input, running_mean, running_var, weight=None, bias=None, eps=1e-5):
    """``relu(batch_norm(...))`` in eval mode, fused into one pass each way.

    A dlcore extension (torch has no functional form): inference of a
    Conv-BN-ReLU block reads and writes the activation once instead of twice.

    Examples::

        >>> import dlcore.nn.functional as F
        >>> F.batch_norm_relu(dlcore.tensor([[-1.0, 2.0]]), dlcore.zeros(2), dlcore.ones(2), eps=0.0).tolist()
        [[0.0, 2.0]]
    """
    return _core.batch_norm(input, running_mean, running_var, weight, bias, False, 0.0, float(eps), True)


# --------------------------------------------------------------- resampling


def interpolate(input, size=None, scale_factor=None, mode="nearest", align_corners=None, recompute_scale_factor=None, antialias=False):
    """Resample ``(N, C, L)`` or ``(N, C, H, W)`` input to ``size`` or by
    ``scale_factor``. Modes: ``'nearest'``, ``'linear'`` (3-D), ``'bilinear'``
    (4-D, with ``align_corners``). Index and weight rules are torch's,
    including its use of ``1/scale_factor`` for coordinates when a scale is
    given (unless ``recompute_scale_factor=True``).

    Examples::

        >>> import dlcore.nn.functional as F
        >>> F.interpolate(dlcore.tensor([[[1.0, 2.0]]]), scale_factor=2).tolist()
        [[[1.0, 1.0, 2.0, 2.0]]]
    """
    if antialias:
        raise NotImplementedError("interpolate: antialias=True is not supported")
    spatial = input.ndim - 2
    if mode not in ("nearest", "linear", "bilinear"):
        raise NotImplementedError(f"interpolate: mode '{mode}' is not supported (nearest, linear, bilinear)")
    if mode == "nearest":
        if align_corners is not None:
            raise ValueError(
                "align_corners option can only be set with the interpolating modes: linear | bilinear | bicubic | trilinear"
            )
        align_corners = False
    elif align_corners is None:
        align_corners = False
    if (mode == "linear" and input.ndim != 3) or (mode == "bilinear" and input.ndim != 4) or spatial not in (1, 2):
        raise NotImplementedError(
            f"interpolate: got {input.ndim}D input with mode '{mode}' "
            "(nearest takes 3D/4D, linear 3D, bilinear 4D input)"
        )
    if (size is None) == (scale_factor is None):
        raise ValueError("only one of size or scale_factor should be defined" if size is not None else "either size or scale_factor should be defined")
    if size is not None:
        sizes = [size] * spatial if isinstance(size, int) else list(size)
        if len(sizes) != spatial:
            raise ValueError(
                f"Input and output must have the same number of spatial dimensions, but got input with spatial dimensions of {list(input.shape[2:])} and output size of {sizes}."
            )
        scales = [None] * spatial
    else:
        fs = [scale_factor] * spatial if isinstance(scale_factor, (int, float)) else list(scale_factor)
        if len(fs) != spatial:
            raise ValueError(f"interpolate: scale_factor must have {spatial} entries, got {scale_factor}")
        sizes = [math.floor(float(input.shape[2 + i]) * fs[i]) for i in range(spatial)]
        scales = [None] * spatial if recompute_scale_factor else [float(f) for f in fs]
    if mode != "nearest" and align_corners:
        scales = [None] * spatial  # align_corners maps corners by sizes only
    return _core.interpolate(input, [int(s) for s in sizes], mode, bool(align_corners), scales)


def upsample(input, size=None, scale_factor=None, mode="nearest", align_corners=None):
    """Deprecated alias of :func:`interpolate` (kept for ported scripts)."""
    return interpolate(input, size, scale_factor, mode, align_corners)


def _pad_index(n: int, left: int, right: int, mode: str, dim: int, shape) -> list[int]:
    if mode == "reflect" and (left >= n or right >= n):
        raise RuntimeError(
            f"pad: Padding size should be less than the corresponding input dimension, "
            f"but got: padding ({left}, {right}) at dimension {dim} of input {list(shape)}"
        )
    if mode == "circular" and (left > n or right > n):
        raise RuntimeError(f"pad: Padding value causes wrapping around more than once (padding ({left}, {right}), size {n})")
    idx = []
    for i in range(-left, n + right):
        if mode == "reflect":
            j = -i if i < 0 else (2 * (n - 1) - i if i >= n else i)
        elif mode == "replicate":
            j = min(max(i, 0), n - 1)
        else:  # circular
            j = i % n
        idx.append(j)
    return idx


def pad(input, pad, mode="constant", value=None):
    """Pad the last ``len(pad) // 2`` dims: ``pad = (left_last, right_last,
    left_second_last, ...)`` as torch. Modes ``'constant'`` (negative pads
    crop), ``'reflect'``, ``'replicate'`` and ``'circular'``. Differentiable
    (cat / index_select).

    Examples::

        >>> import dlcore.nn.functional as F
        >>> F.pad(dlcore.tensor([[1.0, 2.0, 3.0]]), (2, 1), mode="reflect").tolist()
        [[3.0, 2.0, 1.0, 2.0, 3.0, 2.0]]
    """
    pad = tuple(int(p) for p in pad)
    if len(pad) % 2:
        raise ValueError("Padding length must be divisible by 2")
    k = len(pad) // 2
    if k > input.ndim:
        raise ValueError(
            f"Padding length should be less than or equal to two times the input dimension but got padding length {len(pad)} and input of dimension {input.ndim}"
        )
    if mode != "constant":
        if value not in (None, 0):
            raise ValueError(f'Padding mode "{mode}" doesn\'t take in value argument')
        if mode not in ("reflect", "replicate", "circular"):
            raise NotImplementedError(f"pad: unsupported padding mode '{mode}'")
        if not (k + 1 <= input.ndim <= k + 2) or k > 3:
            raise NotImplementedError(
                f"pad: padding {pad} with mode '{mode}' needs a {k + 1}-D or {k + 2}-D input, got shape {tuple(input.shape)}"
            )
    out = input
    for i in range(k):
        dim = input.ndim - 1 - i
        left, right = pad[2 * i], pad[2 * i + 1]
        n = int(out.shape[dim])
        if mode == "constant":
            if left < 0:
                out = out.narrow(dim, -left, n + left)
            if right < 0:
                out = out.narrow(dim, 0, int(out.shape[dim]) + right)
            if int(out.shape[dim]) < 0 or n + left + right < 0:
                raise RuntimeError(f"pad: the input size {n} at dim {dim} is too small for padding ({left}, {right})")
            parts = []
            for width in (left, None, right):
                if width is None:
                    parts.append(out)
                elif width > 0:
                    shape = list(out.shape)
                    shape[dim] = width
                    parts.append(dlcore.full(shape, 0 if value is None else value, dtype=input.dtype))
            out = dlcore.cat(parts, dim) if len(parts) > 1 else out
        elif left or right:
            idx = _pad_index(n, left, right, mode, dim, input.shape)
            out = out.index_select(dim, dlcore.tensor(idx, dtype=dlcore.int64))
    return out


# -------------------------------------------------------------- activations


def leaky_relu(input, negative_slope=0.01, inplace=False):
    r""":math:`\max(0, x) + \text{negative\_slope}\cdot\min(0, x)`, one fused kernel.

    Examples::

        >>> import dlcore.nn.functional as F
        >>> F.leaky_relu(dlcore.tensor([-2.0, 3.0]), 0.1).tolist()
        [-0.20000000298023224, 3.0]
    """
    return _maybe_inplace(input, _core.activation(input, "leaky_relu", float(negative_slope)), inplace)


def prelu(input, weight):
    """PReLU (He et al., 2015): ``x if x > 0 else a·x`` with learnable ``a``,
    one shared or one per channel (dim 1)."""
    return _core.prelu(input, weight)


def elu(input, alpha=1.0, inplace=False):
    r"""ELU (Clevert et al., 2016): :math:`x` for :math:`x>0`, else :math:`\alpha(e^x-1)`."""
    return _maybe_inplace(input, _core.activation(input, "elu", float(alpha), 1.0, 1.0), inplace)


_SELU_ALPHA = 1.6732632423543772848170429916717
_SELU_SCALE = 1.0507009873554804934193349852946


def selu(input, inplace=False):
    """SELU (Klambauer et al., 2017): ``scale · elu(x, alpha)`` with the self-normalising constants."""
    return _maybe_inplace(input, _core.activation(input, "elu", _SELU_ALPHA, _SELU_SCALE, 1.0), inplace)


def celu(input, alpha=1.0, inplace=False):
    r"""CELU (Barron, 2017): :math:`\max(0,x) + \min(0, \alpha(e^{x/\alpha}-1))`."""
    return _maybe_inplace(input, _core.activation(input, "elu", float(alpha), 1.0, 1.0 / alpha), inplace)


def gelu(input, approximate="none"):
    r"""GELU (Hendrycks & Gimpel, 2016): :math:`x\,\Phi(x)`; ``approximate='tanh'``
    uses :math:`0.5x(1+\tanh(\sqrt{2/\pi}(x+0.044715x^3)))`.

    Examples::

        >>> import dlcore.nn.functional as F
        >>> round(F.gelu(dlcore.tensor([1.0])).item(), 4)
        0.8413
    """
    if approximate not in ("none", "tanh"):
        raise RuntimeError(f"gelu: approximate argument must be either none or tanh, got '{approximate}'")
    return _core.activation(input, "gelu" if approximate == "none" else "gelu_tanh")


def silu(input, inplace=False):
    r"""SiLU / swish (Ramachandran et al., 2017; Elfwing et al., 2018): :math:`x\,\sigma(x)`."""
    return _maybe_inplace(input, _core.activation(input, "silu"), inplace)


def mish(input, inplace=False):
    r"""Mish (Misra, 2019): :math:`x\tanh(\text{softplus}(x))`."""
    return _maybe_inplace(input, _core.activation(input, "mish"), inplace)


def softplus(input, beta=1.0, threshold=20.0):
    r""":math:`\frac{1}{\beta}\log(1+e^{\beta x})`, linear where :math:`\beta x > \text{threshold}`."""
    return _core.activation(input, "softplus", float(beta), float(threshold))


def hardtanh(input, min_val=-1.0, max_val=1.0, inplace=False):
    """Clamp to ``[min_val, max_val]``; gradient 1 strictly inside, 0 outside."""
    if min_val > max_val:
        raise ValueError("min_val cannot be greater than max_val")
    return _maybe_inplace(input, _core.activation(input, "hardtanh", float(min_val), float(max_val)), inplace)


def relu6(input, inplace=False):
    """``min(max(0, x), 6)`` (MobileNet's activation)."""
    return hardtanh(input, 0.0, 6.0, inplace)


def logsigmoid(input):
    r""":math:`\log\sigma(x) = -\text{softplus}(-x)`, computed stably."""
    return _core.activation(input, "logsigmoid")


def step(input, surrogate="sigmoid", slope=5.0):
    r"""Heaviside step :math:`H(x) = [x > 0]` with a surrogate gradient.

    The true derivative is zero almost everywhere, so backward uses a surrogate:

    * ``'sigmoid'`` (default): :math:`k\,\sigma(kx)(1-\sigma(kx))`, the
      derivative of a sigmoid of slope ``k = slope`` — the surrogate-gradient
      method of Neftci, Mostafa & Zenke, "Surrogate Gradient Learning in
      Spiking Neural Networks", IEEE Signal Processing Magazine 36(6), 2019.
    * ``'ste'``: the straight-through estimator with the hard-tanh window,
      gradient 1 for :math:`|x| \le 1` else 0 (Bengio, Léonard & Courville,
      arXiv:1308.3432, 2013; Courbariaux et al., BinaryNet, 2016).

    Examples::

        >>> import dlcore.nn.functional as F
        >>> F.step(dlcore.tensor([-1.0, 0.0, 2.0])).tolist()
        [0.0, 0.0, 1.0]
    """
    if surrogate == "sigmoid":
        if slope <= 0:
            raise ValueError(f"step: slope must be positive, got {slope}")
        return _core.activation(input, "step_sigmoid", float(slope))
    if surrogate in ("ste", "straight_through"):
        return _core.activation(input, "step_ste")
    raise ValueError(f"step: surrogate must be 'sigmoid' or 'ste', got {surrogate!r}")
