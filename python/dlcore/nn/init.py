"""Parameter initialisation, same names and formulas as ``torch.nn.init``.

Every function fills its argument in place (under ``no_grad``, since
parameters are autograd leaves) from dlcore's global generator, so
``dlcore.manual_seed`` makes model initialisation reproducible.
"""

from __future__ import annotations

import math
import warnings

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
