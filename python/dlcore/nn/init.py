"""Parameter initialisation, same names and formulas as ``torch.nn.init``.

Every function fills its argument in place (under ``no_grad``, since
parameters are autograd leaves) from dlcore's global generator, so
``dlcore.manual_seed`` makes model initialisation reproducible.
"""

from __future__ import annotations

import math
import warnings

import numpy as np

import dlcore
from dlcore import Tensor

__all__ = [
    "calculate_gain",
    "uniform_",
    "normal_",
    "constant_",
    "ones_",
    "zeros_",
    "xavier_uniform_",
    "xavier_normal_",
    "kaiming_uniform_",
    "kaiming_normal_",
    "eye_",
    "dirac_",
    "orthogonal_",
    "trunc_normal_",
    "sparse_",
]


def calculate_gain(nonlinearity: str, param=None) -> float:
    r"""Return the recommended gain for a nonlinearity.

    ==========================  ================================================
    nonlinearity                gain
    ==========================  ================================================
    Linear / ConvNd / Sigmoid   :math:`1`
    Tanh                        :math:`\frac{5}{3}`
    ReLU                        :math:`\sqrt{2}`
    Leaky ReLU                  :math:`\sqrt{\frac{2}{1 + \text{negative\_slope}^2}}`
    SELU                        :math:`\frac{3}{4}`
    ==========================  ================================================

    Args:
        nonlinearity (str): the non-linear function name, e.g. ``"relu"``.
        param (float, optional): negative slope for ``"leaky_relu"``
            (default 0.01).

    Examples::

        >>> round(dlcore.nn.init.calculate_gain("tanh"), 4)
        1.6667
    """
    linear_fns = [
        "linear", "conv1d", "conv2d", "conv3d",
        "conv_transpose1d", "conv_transpose2d", "conv_transpose3d",
    ]  # fmt: skip
    if nonlinearity in linear_fns or nonlinearity == "sigmoid":
        return 1.0
    if nonlinearity == "tanh":
        return 5.0 / 3
    if nonlinearity == "relu":
        return math.sqrt(2.0)
    if nonlinearity == "leaky_relu":
        if param is None:
            negative_slope = 0.01
        elif not isinstance(param, bool) and isinstance(param, (int, float)):
            negative_slope = param
        else:
            raise ValueError(f"negative_slope {param} not a valid number")
        return math.sqrt(2.0 / (1 + negative_slope**2))
    if nonlinearity == "selu":
        return 3.0 / 4
    raise ValueError(f"Unsupported nonlinearity {nonlinearity}")


def _calculate_fan_in_and_fan_out(tensor: Tensor) -> tuple[int, int]:
    shape = tuple(tensor.shape)
    if len(shape) < 2:
        raise ValueError(
            "Fan in and fan out can not be computed for tensor with fewer than 2 "
            "dimensions"
        )
    # Conv weights are (out, in, *kernel): each fan counts the receptive field.
    receptive_field_size = math.prod(shape[2:])
    return shape[1] * receptive_field_size, shape[0] * receptive_field_size


def _calculate_correct_fan(tensor: Tensor, mode: str) -> int:
    mode = mode.lower()
    if mode not in ("fan_in", "fan_out"):
        raise ValueError(
            f"Mode {mode} not supported, please use one of fan_in, fan_out"
        )
    fan_in, fan_out = _calculate_fan_in_and_fan_out(tensor)
    return fan_in if mode == "fan_in" else fan_out


def uniform_(tensor: Tensor, a: float = 0.0, b: float = 1.0) -> Tensor:
    r"""Fill ``tensor`` with values drawn from :math:`\mathcal{U}(a, b)`.

    Examples::

        >>> w = dlcore.empty(3, 5)
        >>> _ = dlcore.nn.init.uniform_(w, -1.0, 1.0)
        >>> bool((abs(w.numpy()) <= 1).all())
        True
    """
    with dlcore.no_grad():
        return tensor.uniform_(a, b)


def normal_(tensor: Tensor, mean: float = 0.0, std: float = 1.0) -> Tensor:
    r"""Fill ``tensor`` with values drawn from :math:`\mathcal{N}(\text{mean},
    \text{std}^2)`."""
    with dlcore.no_grad():
        return tensor.normal_(mean, std)


def constant_(tensor: Tensor, val: float) -> Tensor:
    """Fill ``tensor`` with the value ``val``."""
    with dlcore.no_grad():
        return tensor.fill_(val)


def ones_(tensor: Tensor) -> Tensor:
    """Fill ``tensor`` with ones."""
    return constant_(tensor, 1.0)


def zeros_(tensor: Tensor) -> Tensor:
    """Fill ``tensor`` with zeros."""
    with dlcore.no_grad():
        return tensor.zero_()


def xavier_uniform_(tensor: Tensor, gain: float = 1.0) -> Tensor:
    r"""Glorot uniform: :math:`\mathcal{U}(-a, a)` with
    :math:`a = \text{gain}\sqrt{6/(\text{fan\_in}+\text{fan\_out})}`.

    Glorot & Bengio, "Understanding the difficulty of training deep feedforward
    neural networks" (2010).
    """
    fan_in, fan_out = _calculate_fan_in_and_fan_out(tensor)
    std = gain * math.sqrt(2.0 / float(fan_in + fan_out))
    a = math.sqrt(3.0) * std  # a uniform on [-a, a] has standard deviation a / sqrt(3)
    return uniform_(tensor, -a, a)


def xavier_normal_(tensor: Tensor, gain: float = 1.0) -> Tensor:
    r"""Glorot normal: :math:`\mathcal{N}(0, \text{std}^2)` with
    :math:`\text{std} = \text{gain}\sqrt{2/(\text{fan\_in}+\text{fan\_out})}`.
    """
    fan_in, fan_out = _calculate_fan_in_and_fan_out(tensor)
    std = gain * math.sqrt(2.0 / float(fan_in + fan_out))
    return normal_(tensor, 0.0, std)


def kaiming_uniform_(
    tensor: Tensor, a: float = 0, mode: str = "fan_in", nonlinearity: str = "leaky_relu"
) -> Tensor:
    r"""He uniform: :math:`\mathcal{U}(-\text{bound}, \text{bound})` with
    :math:`\text{bound} = \text{gain}\sqrt{3/\text{fan\_mode}}`.

    He et al., "Delving deep into rectifiers" (2015).

    Args:
        tensor (Tensor): an n-dimensional tensor, ``n >= 2``.
        a (float): negative slope of the rectifier following this layer
            (only used with ``"leaky_relu"``).
        mode (str): ``"fan_in"`` (default) preserves the forward variance,
            ``"fan_out"`` the backward one.
        nonlinearity (str): ``"relu"`` or ``"leaky_relu"`` (default).

    Examples::

        >>> w = dlcore.empty(3, 5)
        >>> _ = dlcore.nn.init.kaiming_uniform_(w, mode="fan_in", nonlinearity="relu")
    """
    if 0 in tuple(tensor.shape):
        warnings.warn("Initializing zero-element tensors is a no-op", stacklevel=2)
        return tensor
    fan = _calculate_correct_fan(tensor, mode)
    gain = calculate_gain(nonlinearity, a)
    bound = math.sqrt(3.0) * gain / math.sqrt(fan)
    return uniform_(tensor, -bound, bound)


def kaiming_normal_(
    tensor: Tensor, a: float = 0, mode: str = "fan_in", nonlinearity: str = "leaky_relu"
) -> Tensor:
    r"""He normal: :math:`\mathcal{N}(0, \text{std}^2)` with
    :math:`\text{std} = \text{gain}/\sqrt{\text{fan\_mode}}`.
    """
    if 0 in tuple(tensor.shape):
        warnings.warn("Initializing zero-element tensors is a no-op", stacklevel=2)
        return tensor
    fan = _calculate_correct_fan(tensor, mode)
    std = calculate_gain(nonlinearity, a) / math.sqrt(fan)
    return normal_(tensor, 0.0, std)


def _fill_from_numpy(tensor: Tensor, values: np.ndarray) -> Tensor:
    src = dlcore.from_numpy(np.ascontiguousarray(values.reshape(tuple(tensor.shape))))
    with dlcore.no_grad():
        return tensor.copy_(src.to(tensor.dtype))


def eye_(tensor: Tensor) -> Tensor:
    r"""Fill the 2-D ``tensor`` with the identity matrix (ones on the main
    diagonal, zeros elsewhere); preserves the identity of the inputs in Linear
    layers.

    Examples::

        >>> w = dlcore.empty(2, 3)
        >>> dlcore.nn.init.eye_(w).tolist()
        [[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]]
    """
    if tensor.ndim != 2:
        raise ValueError("Only tensors with 2 dimensions are supported")
    return _fill_from_numpy(tensor, np.eye(*tuple(tensor.shape)))


def dirac_(tensor: Tensor, groups: int = 1) -> Tensor:
    r"""Fill the 3-, 4- or 5-D ``tensor`` with the Dirac delta: a convolution with
    it is the identity (as many input channels as fit are kept per group).

    Args:
        tensor (Tensor): conv weight ``(out, in, *kernel)``.
        groups (int): number of conv groups. Default: 1.

    Examples::

        >>> w = dlcore.empty(2, 2, 3)
        >>> dlcore.nn.init.dirac_(w)[1, 1].tolist()
        [0.0, 1.0, 0.0]
    """
    shape = tuple(tensor.shape)
    if len(shape) not in (3, 4, 5):
        raise ValueError("Only tensors with 3, 4, or 5 dimensions are supported")
    if shape[0] % groups != 0:
        raise ValueError("dim 0 must be divisible by groups")
    out_per_group = shape[0] // groups
    n = min(out_per_group, shape[1])
    w = np.zeros(shape)
    g, d = np.meshgrid(np.arange(groups), np.arange(n), indexing="ij")
    centre = tuple(k // 2 for k in shape[2:])
    w[(g * out_per_group + d).ravel(), d.ravel(), *centre] = 1.0
    return _fill_from_numpy(tensor, w)


def orthogonal_(tensor: Tensor, gain: float = 1.0) -> Tensor:
    r"""Fill ``tensor`` with a (semi-)orthogonal matrix, uniformly distributed
    over the orthogonal group (Saxe et al., "Exact solutions to the nonlinear
    dynamics of learning in deep linear neural networks", 2013).

    The tensor is viewed as ``(shape[0], prod(shape[1:]))``; its rows (or
    columns, whichever are fewer) are orthonormal, then scaled by ``gain``.
    Computed as the QR decomposition of a Gaussian matrix with the signs of
    ``diag(R)`` folded into ``Q``, as PyTorch does.

    Examples::

        >>> import numpy as np
        >>> w = dlcore.nn.init.orthogonal_(dlcore.empty(3, 5)).numpy()
        >>> bool(np.allclose(w @ w.T, np.eye(3), atol=1e-5))
        True
    """
    if tensor.ndim < 2:
        raise ValueError("Only tensors with 2 or more dimensions are supported")
    if tensor.numel() == 0:
        return tensor
    rows = tensor.shape[0]
    cols = tensor.numel() // rows
    flat = dlcore.randn(rows, cols, dtype=dlcore.float64).numpy()
    if rows < cols:
        flat = flat.T
    q, r = np.linalg.qr(flat)  # (max, min), (min, min)
    q = q * np.sign(np.diag(r))  # make the decomposition unique -> Haar measure
    if rows < cols:
        q = q.T
    return _fill_from_numpy(tensor, gain * q)


# Acklam's rational approximation of the standard normal quantile (relative
# error < 1.2e-9), so trunc_normal_ can use the inverse-CDF method without scipy.
_A = (-3.969683028665376e01, 2.209460984245205e02, -2.759285104469687e02,
      1.383577518672690e02, -3.066479806614716e01, 2.506628277459239e00)
_B = (-5.447609879822406e01, 1.615858368580409e02, -1.556989798598866e02,
      6.680131188771972e01, -1.328068155288572e01)
_C = (-7.784894002430293e-03, -3.223964580411365e-01, -2.400758277161838e00,
      -2.549732539343734e00, 4.374664141464968e00, 2.938163982698783e00)
_D = (7.784695709041462e-03, 3.224671290700398e-01, 2.445134137142996e00,
      3.754408661907416e00)  # fmt: skip


def _ndtri(p: np.ndarray) -> np.ndarray:
    """Standard normal quantile of probabilities ``p`` in (0, 1), vectorised."""
    p = np.asarray(p, dtype=np.float64)
    out = np.empty_like(p)
    lo, hi = p < 0.02425, p > 1 - 0.02425
    mid = ~(lo | hi)
    q = p[mid] - 0.5
    r = q * q
    num = ((((_A[0] * r + _A[1]) * r + _A[2]) * r + _A[3]) * r + _A[4]) * r + _A[5]
    den = ((((_B[0] * r + _B[1]) * r + _B[2]) * r + _B[3]) * r + _B[4]) * r + 1.0
    out[mid] = num * q / den
    for mask, pp, sign in ((lo, p[lo], 1.0), (hi, 1.0 - p[hi], -1.0)):
        q = np.sqrt(-2.0 * np.log(pp))
        num = ((((_C[0] * q + _C[1]) * q + _C[2]) * q + _C[3]) * q + _C[4]) * q + _C[5]
        den = (((_D[0] * q + _D[1]) * q + _D[2]) * q + _D[3]) * q + 1.0
        out[mask] = sign * num / den
    return out


def _norm_cdf(x: float) -> float:
    return (1.0 + math.erf(x / math.sqrt(2.0))) / 2.0


def trunc_normal_(
    tensor: Tensor, mean: float = 0.0, std: float = 1.0, a: float = -2.0, b: float = 2.0
) -> Tensor:
    r"""Fill ``tensor`` from :math:`\mathcal{N}(\text{mean}, \text{std}^2)`
    truncated to :math:`[a, b]` (absolute bounds, as in PyTorch), by inverse
    CDF sampling: :math:`x = \mu + \sigma\,\Phi^{-1}(U(\Phi(\alpha), \Phi(\beta)))`
    with :math:`\alpha = (a-\mu)/\sigma`, :math:`\beta = (b-\mu)/\sigma`.

    Args:
        tensor (Tensor): tensor to fill.
        mean (float): mean of the normal. Default: 0.
        std (float): standard deviation of the normal. Default: 1.
        a (float): lower cutoff. Default: -2.
        b (float): upper cutoff. Default: 2.

    Examples::

        >>> w = dlcore.nn.init.trunc_normal_(dlcore.empty(1000), std=0.02, a=-0.04, b=0.04)
        >>> bool((abs(w.numpy()) <= 0.04).all())
        True
    """
    if not a < b:
        raise ValueError(f"trunc_normal_: need a < b, got a={a}, b={b}")
    if mean < a - 2 * std or mean > b + 2 * std:
        warnings.warn(
            "mean is more than 2 std from [a, b] in nn.init.trunc_normal_. "
            "The distribution of values may be incorrect.",
            stacklevel=2,
        )
    n = tensor.numel()
    if n == 0:
        return tensor
    lo, hi = _norm_cdf((a - mean) / std), _norm_cdf((b - mean) / std)
    u = dlcore.rand(n, dtype=dlcore.float64).numpy()
    p = np.clip(lo + (hi - lo) * u, 1e-300, 1.0 - 1e-16)  # keep the quantile finite
    x = np.clip(mean + std * _ndtri(p), a, b)
    return _fill_from_numpy(tensor, x)


def sparse_(tensor: Tensor, sparsity: float, std: float = 0.01) -> Tensor:
    r"""Fill the 2-D ``tensor`` as a sparse matrix: entries from
    :math:`\mathcal{N}(0, \text{std}^2)`, then :math:`\lceil \text{sparsity}
    \cdot \text{rows}\rceil` entries of every column set to zero (Martens,
    "Deep learning via Hessian-free optimization", 2010).

    Examples::

        >>> w = dlcore.nn.init.sparse_(dlcore.empty(10, 4), sparsity=0.3)
        >>> (w.numpy() == 0).sum(axis=0).tolist()
        [3, 3, 3, 3]
    """
    if tensor.ndim != 2:
        raise ValueError("Only tensors with 2 dimensions are supported")
    rows, cols = tuple(tensor.shape)
    num_zeros = int(math.ceil(sparsity * rows))
    w = dlcore.randn(rows, cols, dtype=dlcore.float64).numpy() * std
    # per column, the rows with the num_zeros smallest random keys are zeroed
    keys = dlcore.rand(rows, cols, dtype=dlcore.float64).numpy()
    zero_rows = np.argsort(keys, axis=0)[:num_zeros]  # (num_zeros, cols)
    w[zero_rows, np.arange(cols)[None, :]] = 0.0
    return _fill_from_numpy(tensor, w)
