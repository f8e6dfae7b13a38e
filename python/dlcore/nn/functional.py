"""Functional forms of the layers and losses (``import dlcore.nn.functional as F``).

Hot paths are single calls into the Rust core: :func:`linear` is one fused
``x @ W.T + b`` node and :func:`cross_entropy` one fused log-softmax + NLL node.
"""

from __future__ import annotations

import warnings

import numpy as np

import dlcore
from dlcore import Tensor, _core

from ._loss_distance import *  # noqa: F403  (kl_div, gaussian_nll_loss, triplet, ...)
from ._loss_distance import __all__ as _distance_all
from ._loss_functional import *  # noqa: F403  (l1_loss, nll_loss, bce, ...)
from ._loss_functional import __all__ as _loss_all
from ._loss_functional import _weighted_mean

__all__ = [
    "linear",
    "relu",
    "tanh",
    "sigmoid",
    "softmax",
    "log_softmax",
    "mse_loss",
    "cross_entropy",
    *_loss_all,
    *_distance_all,
]

_REDUCTIONS = ("mean", "sum", "none")


def linear(input: Tensor, weight: Tensor, bias: Tensor | None = None) -> Tensor:
    r"""Apply :math:`y = xA^T + b`.

    Shape:
        - input: :math:`(*, \text{in\_features})`
        - weight: :math:`(\text{out\_features}, \text{in\_features})`
        - bias: :math:`(\text{out\_features})` or ``None``
        - output: :math:`(*, \text{out\_features})`

    Examples::

        >>> import dlcore.nn.functional as F
        >>> x = dlcore.ones(4, 3)
        >>> F.linear(x, dlcore.ones(2, 3), dlcore.zeros(2)).tolist()[0]
        [3.0, 3.0]
    """
    return _core.linear(input, weight, bias)


def relu(input: Tensor, inplace: bool = False) -> Tensor:
    r"""Apply :math:`\max(0, x)` element-wise.

    ``inplace`` is accepted for PyTorch compatibility; the result is always a
    new tensor (an in-place ReLU saves no memory in the backward pass here).

    Examples::

        >>> import dlcore.nn.functional as F
        >>> F.relu(dlcore.tensor([-1.0, 2.0])).tolist()
        [0.0, 2.0]
    """
    return input.relu()


def tanh(input: Tensor) -> Tensor:
    """Apply the hyperbolic tangent element-wise."""
    return input.tanh()


def sigmoid(input: Tensor) -> Tensor:
    r"""Apply :math:`1 / (1 + e^{-x})` element-wise."""
    return input.sigmoid()


def _softmax_dim(name: str, ndim: int) -> int:
    # PyTorch's legacy rule for dim=None, kept so ported scripts behave the same.
    warnings.warn(
        f"Implicit dimension choice for {name} has been deprecated. "
        "Change the call to include dim=X as an argument.",
        stacklevel=3,
    )
    return 0 if ndim in (0, 1, 3) else 1


def softmax(
    input: Tensor, dim: int | None = None, _stacklevel: int = 3, dtype=None
) -> Tensor:
    r"""Apply :math:`\text{softmax}(x_i) = e^{x_i} / \sum_j e^{x_j}` along ``dim``.

    Args:
        input (Tensor): input.
        dim (int): dimension along which softmax is computed.
        dtype (dtype, optional): cast the input to this dtype first.

    Examples::

        >>> import dlcore.nn.functional as F
        >>> F.softmax(dlcore.zeros(2, 4), dim=1).tolist()[0]
        [0.25, 0.25, 0.25, 0.25]
    """
    if dim is None:
        dim = _softmax_dim("softmax", input.ndim)
    if dtype is not None:
        input = input.to(dtype)
    return input.softmax(dim)


def log_softmax(
    input: Tensor, dim: int | None = None, _stacklevel: int = 3, dtype=None
) -> Tensor:
    r"""Apply :math:`\log(\text{softmax}(x))` along ``dim``, computed stably."""
    if dim is None:
        dim = _softmax_dim("log_softmax", input.ndim)
    if dtype is not None:
        input = input.to(dtype)
    return input.log_softmax(dim)


def _legacy_reduction(size_average, reduce, reduction: str) -> str:
    if size_average is None and reduce is None:
        return reduction
    warnings.warn(
        "size_average and reduce args will be deprecated, please use "
        "reduction='...' instead.",
        stacklevel=3,
    )
    size_average = True if size_average is None else size_average
    reduce = True if reduce is None else reduce
    if not reduce:
        return "none"
    return "mean" if size_average else "sum"


def _check_reduction(reduction: str) -> None:
    if reduction not in _REDUCTIONS:
        raise ValueError(f"{reduction} is not a valid value for reduction")


def mse_loss(
    input: Tensor,
    target: Tensor,
    size_average=None,
    reduce=None,
    reduction: str = "mean",
    weight: Tensor | None = None,
) -> Tensor:
    r"""Mean squared error :math:`(x - y)^2`, reduced by ``reduction``.

    Args:
        input (Tensor): predictions.
        target (Tensor): targets, same shape as ``input`` (broadcasting is
            allowed but warns, as in PyTorch, because it is usually a bug).
        reduction (str): ``"mean"`` | ``"sum"`` | ``"none"``.
        weight (Tensor, optional): per-element weights, broadcast to ``input``.

    Shape:
        - input, target: :math:`(*)`
        - output: scalar, or :math:`(*)` with ``reduction="none"``

    Examples::

        >>> import dlcore.nn.functional as F
        >>> F.mse_loss(dlcore.tensor([1.0, 2.0]), dlcore.tensor([0.0, 0.0])).item()
        2.5
    """
    reduction = _legacy_reduction(size_average, reduce, reduction)
    _check_reduction(reduction)
    if tuple(target.shape) != tuple(input.shape):
        warnings.warn(
            f"Using a target size ({tuple(target.shape)}) that is different to the "
            f"input size ({tuple(input.shape)}). This will likely lead to incorrect "
            "results due to broadcasting. Please ensure they have the same size.",
            stacklevel=2,
        )
    if weight is None and input.dtype == target.dtype and _is_float(input) and tuple(target.shape) == tuple(input.shape):
        # one fused Rust kernel each way (no (x - y) and (x - y)^2 temporaries)
        return _core.mse_loss(input, target, reduction)
    diff = input - target
    loss = diff * diff
    if weight is not None:
        loss = loss * weight
    if reduction == "mean":
        return loss.mean()
    if reduction == "sum":
        return loss.sum()
    return loss


def cross_entropy(
    input: Tensor,
    target: Tensor,
    weight: Tensor | None = None,
    size_average=None,
    ignore_index: int = -100,
    reduce=None,
    reduction: str = "mean",
    label_smoothing: float = 0.0,
) -> Tensor:
    r"""Cross-entropy between logits and class indices (or class probabilities).

    With integer targets and no ``weight`` / ``label_smoothing`` this is one
    fused Rust kernel (log-softmax + NLL); the other variants are composed
    from tensor ops with PyTorch's exact formulas.

    Args:
        input (Tensor): unnormalised logits.
        target (Tensor): class indices (int64) in ``[0, C)``, or class
            probabilities with the same shape as ``input``.
        weight (Tensor, optional): manual rescaling weight per class, shape ``(C,)``.
        ignore_index (int): target value that contributes nothing (index targets
            only). ``"mean"`` averages over the non-ignored targets.
        reduction (str): ``"mean"`` | ``"sum"`` | ``"none"``.
        label_smoothing (float): in ``[0, 1]``; mixes the target with the
            uniform distribution (Szegedy et al., 2016).

    Shape:
        - input: :math:`(N, C)`, :math:`(C,)` or :math:`(N, C, d_1, ...)`
        - target: :math:`(N,)` / :math:`()` / :math:`(N, d_1, ...)` int64,
          or the same shape as input (probabilities)
        - output: scalar, or the target's shape with ``reduction="none"``

    Examples::

        >>> import dlcore.nn.functional as F
        >>> logits = dlcore.zeros(2, 4)
        >>> round(F.cross_entropy(logits, dlcore.tensor([0, 3])).item(), 4)
        1.3863
    """
    reduction = _legacy_reduction(size_average, reduce, reduction)
    _check_reduction(reduction)
    if not 0.0 <= label_smoothing <= 1.0:
        raise ValueError(
            f"label_smoothing must be between 0.0 and 1.0. Got: {label_smoothing}"
        )
    if not _is_float(target) and weight is None and label_smoothing == 0.0:
        # the fused kernel takes (C), (N, C) and (N, C, d1, ...) directly
        return _core.cross_entropy(input, target, reduction, ignore_index)
    unbatched = input.ndim == 1
    spatial = tuple(input.shape[2:]) if input.ndim > 2 else ()
    if unbatched:
        input = input.reshape(1, -1)
        target = target.reshape(1, -1) if _is_float(target) else target.reshape(1)
    elif spatial:
        # (N, C, d1, ...) -> (N*d1*..., C): the class dim last, then rows
        c = input.shape[1]
        last = (0, *range(2, input.ndim), 1)  # class dim last, the rest in order
        input = input.permute(*last).reshape(-1, c)
        target = target.permute(*last).reshape(-1, c) if _is_float(target) else target.reshape(-1)
    if _is_float(target):
        loss = _cross_entropy_probs(input, target, weight, reduction, label_smoothing)
    else:
        loss = _cross_entropy_weighted(
            input, target, weight, ignore_index, reduction, label_smoothing
        )
    if reduction == "none":
        if unbatched:
            loss = loss.reshape(())
        elif spatial:
            loss = loss.reshape(-1, *spatial)
    return loss


def _is_float(t: Tensor) -> bool:
    return t.dtype in (dlcore.float32, dlcore.float64)


def _cross_entropy_weighted(
    input, target, weight, ignore_index, reduction, label_smoothing
):
    # loss_i = -sum_c M[i, c] * log p[i, c], with the coefficients M built in numpy
    # from the (non-differentiable) targets, so autograd sees one mul + sum.
    n, c = tuple(input.shape)
    y = target.numpy().astype(np.int64)
    valid = y != ignore_index
    if np.any((y[valid] < 0) | (y[valid] >= c)):
        bad = y[valid][(y[valid] < 0) | (y[valid] >= c)][0]
        raise IndexError(
            f"cross_entropy: target {bad} is out of bounds for {c} classes"
        )
    y_safe = np.where(valid, y, 0)
    w = np.ones(c) if weight is None else weight.detach().numpy().astype(np.float64)
    if w.shape != (c,):
        raise ValueError(f"cross_entropy: weight must have shape ({c},), got {w.shape}")
    eps = label_smoothing
    coef = np.zeros((n, c))
    coef[np.arange(n), y_safe] = (1.0 - eps) * w[y_safe]
    coef += (eps / c) * w[None, :]
    coef *= valid[:, None]
    logp = input.log_softmax(1)  # (N, C)
    loss = -(logp * dlcore.tensor(coef, dtype=input.dtype)).sum(1)  # (N,)
    if reduction == "none":
        return loss
    if reduction == "sum":
        return loss.sum()
    # PyTorch divides by the total weight of the kept targets (0/0 -> nan).
    return _weighted_mean(loss.sum(), float(np.sum(w[y_safe] * valid)))


def _cross_entropy_probs(input, target, weight, reduction, label_smoothing):
    if tuple(target.shape) != tuple(input.shape):
        raise ValueError(
            f"cross_entropy: probability target shape {tuple(target.shape)} must match "
            f"input shape {tuple(input.shape)}"
        )
    c = input.shape[1]
    if label_smoothing > 0.0:
        target = target * (1.0 - label_smoothing) + label_smoothing / c
    logp = input.log_softmax(1)
    prod = logp * target
    if weight is not None:
        prod = prod * weight
    loss = -prod.sum(1)
    if reduction == "none":
        return loss
    if reduction == "sum":
        return loss.sum()
    return loss.mean()


def dropout(input: Tensor, p: float = 0.5, training: bool = True, inplace: bool = False) -> Tensor:
    """Zeroes each element with probability ``p`` and scales the rest by
    ``1 / (1 - p)`` (Srivastava et al., 2014); the identity when not training.

    >>> import dlcore.nn.functional as F
    >>> x = dlcore.ones(4)
    >>> F.dropout(x, 0.5, training=False) is x
    True
    """
    if not 0.0 <= p <= 1.0:
        raise ValueError(f"dropout probability has to be between 0 and 1, but got {p}")
    if not training or p == 0.0:
        return input
    out = _core.dropout(input, p)
    if inplace:
        return input.copy_(out)
    return out


def dropout2d(input: Tensor, p: float = 0.5, training: bool = True, inplace: bool = False) -> Tensor:
    """Zeroes whole channels of ``(N, C, H, W)`` (or ``(C, H, W)``) input with
    probability ``p`` (Tompson et al., 2015), scaling the rest by ``1 / (1 - p)``."""
    if not 0.0 <= p <= 1.0:
        raise ValueError(f"dropout probability has to be between 0 and 1, but got {p}")
    if input.ndim not in (3, 4):
        raise RuntimeError(f"dropout2d: expected 3-D or 4-D input, got shape {tuple(input.shape)}")
    if not training or p == 0.0:
        return input
    out = _core.dropout(input, p, input.ndim - 2)
    if inplace:
        return input.copy_(out)
    return out


from ._conv_functional import conv1d, conv2d, conv_transpose2d  # noqa: E402,F401
# CNN layers (pooling, batch norm, resampling, padding, activations) live in
# their own module; re-exported here so ``F.max_pool2d`` etc. work.
from .functional_cnn import *  # noqa: E402,F403
from .functional_cnn import __all__ as _cnn_all  # noqa: E402

__all__ += _cnn_all
from .functional_seq import *  # noqa: E402,F403  (embedding, layer_norm, scaled_dot_product_attention)
