"""Functional regression and classification losses beyond MSE / cross-entropy,
re-exported by ``dlcore.nn.functional`` (distribution and embedding losses are
in ``_loss_distance``).

Each loss is composed from Rust tensor ops with PyTorch's exact formulas
(including its clamps and epsilons), so values and gradients match
``torch.nn.functional``. Target-only bookkeeping (class weights, ignored
indices) is done once in NumPy on the non-differentiable targets, so autograd
records a handful of nodes per call.
"""

from __future__ import annotations

import warnings

import numpy as np

import dlcore
from dlcore import Tensor

__all__ = [
    "l1_loss",
    "smooth_l1_loss",
    "huber_loss",
    "nll_loss",
    "binary_cross_entropy",
    "binary_cross_entropy_with_logits",
]


def _legacy(size_average, reduce, reduction: str) -> str:
    from .functional import _legacy_reduction

    return _legacy_reduction(size_average, reduce, reduction)


def _check(reduction: str, allowed=("mean", "sum", "none")) -> None:
    if reduction not in allowed:
        raise ValueError(f"{reduction} is not a valid value for reduction")


def _reduce(loss: Tensor, reduction: str) -> Tensor:
    if reduction == "mean":
        return loss.mean()
    if reduction == "sum":
        return loss.sum()
    return loss


def _warn_size(input: Tensor, target: Tensor) -> None:
    if tuple(target.shape) != tuple(input.shape):
        warnings.warn(
            f"Using a target size ({tuple(target.shape)}) that is different to the "
            f"input size ({tuple(input.shape)}). This will likely lead to incorrect "
            "results due to broadcasting. Please ensure they have the same size.",
            stacklevel=3,
        )


def _check_weight_size(weight: Tensor | None, input: Tensor) -> None:
    if weight is not None and tuple(weight.shape) != tuple(input.shape):
        raise ValueError("Weights and input must have the same size.")


def l1_loss(
    input: Tensor,
    target: Tensor,
    size_average=None,
    reduce=None,
    reduction: str = "mean",
    weight: Tensor | None = None,
) -> Tensor:
    r"""Mean absolute error :math:`|x - y|`, reduced by ``reduction``.

    With ``weight``, ``"mean"`` is the weighted mean
    :math:`\sum w|x-y| / \sum w` (as in PyTorch).

    Args:
        input (Tensor): predictions.
        target (Tensor): targets, same shape as ``input``.
        reduction (str): ``"mean"`` | ``"sum"`` | ``"none"``.
        weight (Tensor, optional): per-element weights, same shape as ``input``.

    Shape:
        - input, target: :math:`(*)`; output: scalar, or :math:`(*)` with ``"none"``.

    Examples::

        >>> import dlcore.nn.functional as F
        >>> F.l1_loss(dlcore.tensor([1.0, -3.0]), dlcore.zeros(2)).item()
        2.0
    """
    reduction = _legacy(size_average, reduce, reduction)
    _check(reduction)
    _warn_size(input, target)
    _check_weight_size(weight, input)
    loss = (input - target).abs()
    if weight is None:
        return _reduce(loss, reduction)
    loss = loss * weight
    if reduction == "mean":
        return loss.sum() / weight.sum()
    return _reduce(loss, reduction)


def smooth_l1_loss(
    input: Tensor,
    target: Tensor,
    size_average=None,
    reduce=None,
    reduction: str = "mean",
    beta: float = 1.0,
) -> Tensor:
    r"""Smooth L1: :math:`0.5 d^2/\beta` where :math:`|d| < \beta`, else
    :math:`|d| - 0.5\beta` (Girshick, "Fast R-CNN", 2015). ``beta=0`` is L1.

    Examples::

        >>> import dlcore.nn.functional as F
        >>> F.smooth_l1_loss(dlcore.tensor([0.5, 3.0]), dlcore.zeros(2),
        ...                  reduction="none").tolist()
        [0.125, 2.5]
    """
    reduction = _legacy(size_average, reduce, reduction)
    _check(reduction)
    if beta < 0:
        raise RuntimeError(f"smooth_l1_loss does not support negative values for beta, got {beta}")
    _warn_size(input, target)
    d = input - target
    ad = d.abs()
    if beta == 0.0:
        return _reduce(ad, reduction)
    loss = dlcore.where(ad < beta, (0.5 / beta) * d * d, ad - 0.5 * beta)
    return _reduce(loss, reduction)


def huber_loss(
    input: Tensor,
    target: Tensor,
    reduction: str = "mean",
    delta: float = 1.0,
    weight: Tensor | None = None,
) -> Tensor:
    r"""Huber loss: :math:`0.5 d^2` where :math:`|d| < \delta`, else
    :math:`\delta(|d| - 0.5\delta)` (Huber, 1964). Equals
    ``delta * smooth_l1_loss(beta=delta)``.

    Examples::

        >>> import dlcore.nn.functional as F
        >>> F.huber_loss(dlcore.tensor([0.5, 3.0]), dlcore.zeros(2), delta=2.0,
        ...              reduction="none").tolist()
        [0.125, 4.0]
    """
    _check(reduction)
    if delta <= 0:
        raise RuntimeError(f"huber_loss does not support non-positive values for delta, got {delta}")
    _warn_size(input, target)
    _check_weight_size(weight, input)
    d = input - target
    ad = d.abs()
    loss = dlcore.where(ad < delta, 0.5 * d * d, delta * (ad - 0.5 * delta))
    if weight is not None:
        loss = loss * weight
    return _reduce(loss, reduction)


def _class_targets(name: str, target: Tensor, n_classes: int, ignore_index: int):
    """(safe indices, keep mask) in numpy; raises IndexError naming the bad target."""
    if target.dtype != dlcore.int64:
        raise RuntimeError(
            f"{name}: expected target of dtype int64 (class indices), got {target.dtype}"
        )
    y = target.numpy()
    keep = y != ignore_index
    bad = keep & ((y < 0) | (y >= n_classes))
    if bad.any():
        raise IndexError(f"{name}: Target {int(y[bad].flat[0])} is out of bounds for {n_classes} classes.")
    return np.where(keep, y, 0), keep


def nll_loss(
    input: Tensor,
    target: Tensor,
    weight: Tensor | None = None,
    size_average=None,
    ignore_index: int = -100,
    reduce=None,
    reduction: str = "mean",
) -> Tensor:
    r"""Negative log-likelihood of class indices given log-probabilities:
    :math:`\ell_n = -w_{y_n} x_{n, y_n}`.

    Args:
        input (Tensor): log-probabilities (e.g. from :func:`log_softmax`).
        target (Tensor): int64 class indices in ``[0, C)``.
        weight (Tensor, optional): per-class weights, shape ``(C,)``.
        ignore_index (int): target value that contributes nothing; ``"mean"``
            divides by the total weight of the kept targets.
        reduction (str): ``"mean"`` | ``"sum"`` | ``"none"``.

    Shape:
        - input: :math:`(N, C)`, :math:`(C)` or :math:`(N, C, d_1, ...)`
        - target: :math:`(N)`, :math:`()` or :math:`(N, d_1, ...)`
        - output: scalar, or the target's shape with ``"none"``

    Examples::

        >>> import dlcore.nn.functional as F
        >>> logp = dlcore.tensor([[-0.5, -1.0], [-2.0, -0.1]])
        >>> F.nll_loss(logp, dlcore.tensor([0, 1]), reduction="none").tolist()
        [0.5, 0.10000000149011612]
    """
    reduction = _legacy(size_average, reduce, reduction)
    _check(reduction)
    if input.ndim < 1:
        raise ValueError("nll_loss: input must have at least 1 dimension (the classes)")
    unbatched = input.ndim == 1
    cdim = 0 if unbatched else 1
    c = input.shape[cdim]
    want = () if unbatched else (input.shape[0], *input.shape[2:])
    if tuple(target.shape) != want:
        raise ValueError(
            f"nll_loss: expected target of shape {want} for input of shape "
            f"{tuple(input.shape)}, got {tuple(target.shape)}"
        )
    y, keep = _class_targets("nll_loss", target, c, ignore_index)
    w = np.ones(c) if weight is None else weight.detach().numpy().astype(np.float64)
    if w.shape != (c,):
        raise RuntimeError(f"nll_loss: weight tensor should be defined for all {c} classes, got shape {w.shape}")
    coef = w[y] * keep  # (N, d...) per-target weight, 0 where ignored
    idx = dlcore.from_numpy(np.ascontiguousarray(y.reshape(y.shape[:1] + (1,) + y.shape[1:]) if not unbatched else y.reshape(1)))
    picked = input.gather(cdim, idx)  # (N, 1, d...) or (1,)
    picked = picked.reshape(()) if unbatched else picked.squeeze(1)
    loss = -picked * dlcore.tensor(coef, dtype=input.dtype)
    if reduction == "none":
        return loss
    if reduction == "sum":
        return loss.sum()
    return _weighted_mean(loss.sum(), float(coef.sum()))


def _weighted_mean(total: Tensor, weight_sum: float) -> Tensor:
    """``total / weight_sum``; when every target is ignored the value is nan (as
    0/0 in PyTorch) but the gradient is 0, not nan."""
    if weight_sum == 0.0:
        return total * 0.0 + float("nan")
    return total / weight_sum


def binary_cross_entropy(
    input: Tensor,
    target: Tensor,
    weight: Tensor | None = None,
    size_average=None,
    reduce=None,
    reduction: str = "mean",
) -> Tensor:
    r"""Binary cross-entropy between probabilities and targets:
    :math:`-w[y\log x + (1-y)\log(1-x)]`, each log clamped to :math:`\ge -100`
    as in PyTorch (so a probability of exactly 0 or 1 gives a finite loss).

    Prefer :func:`binary_cross_entropy_with_logits` on raw scores: it is
    numerically stable where ``sigmoid`` saturates.

    Args:
        input (Tensor): probabilities in :math:`[0, 1]`.
        target (Tensor): targets in :math:`[0, 1]`, same shape as ``input``.
        weight (Tensor, optional): rescaling weight broadcast to ``input``.
        reduction (str): ``"mean"`` | ``"sum"`` | ``"none"``.

    Examples::

        >>> import dlcore.nn.functional as F
        >>> p = dlcore.tensor([0.5, 0.5])
        >>> round(F.binary_cross_entropy(p, dlcore.tensor([0.0, 1.0])).item(), 4)
        0.6931
    """
    reduction = _legacy(size_average, reduce, reduction)
    _check(reduction)
    if tuple(target.shape) != tuple(input.shape):
        raise ValueError(
            f"Using a target size ({tuple(target.shape)}) that is different to the input "
            f"size ({tuple(input.shape)}) is deprecated. Please ensure they have the same size."
        )
    if input.numel() and bool(((input < 0) | (input > 1)).any()):
        raise RuntimeError("binary_cross_entropy: all elements of input should be between 0 and 1")
    log_p = input.log().clamp(min=-100.0)
    log_q = (1.0 - input).log().clamp(min=-100.0)
    loss = -(target * log_p + (1.0 - target) * log_q)
    if weight is not None:
        loss = loss * weight
    return _reduce(loss, reduction)


def _softplus_neg(x: Tensor) -> Tensor:
    # softplus(-x) = log(1 + e^{-x}) = logsumexp([0, -x]): stable for any x, and its
    # gradient -sigmoid(-x) is exact everywhere (x = 0 included).
    return dlcore.stack([dlcore.zeros_like(x), -x], -1).logsumexp(-1)


def binary_cross_entropy_with_logits(
    input: Tensor,
    target: Tensor,
    weight: Tensor | None = None,
    size_average=None,
    reduce=None,
    reduction: str = "mean",
    pos_weight: Tensor | None = None,
) -> Tensor:
    r"""Sigmoid + binary cross-entropy in one numerically stable expression:
    :math:`\ell = w[(1-y)x + (1 + (p-1)y)\,\mathrm{softplus}(-x)]`, with
    :math:`p` the ``pos_weight`` (PyTorch's formula; exact for logits of any size).

    Args:
        input (Tensor): logits.
        target (Tensor): targets in :math:`[0, 1]`, same shape as ``input``.
        weight (Tensor, optional): rescaling weight broadcast to ``input``.
        reduction (str): ``"mean"`` | ``"sum"`` | ``"none"``.
        pos_weight (Tensor, optional): weight of positive examples, broadcast
            along the last (class) dim, e.g. ``n_negative / n_positive``.

    Examples::

        >>> import dlcore.nn.functional as F
        >>> x = dlcore.tensor([0.0, 100.0])
        >>> F.binary_cross_entropy_with_logits(x, dlcore.tensor([1.0, 0.0]),
        ...                                    reduction="none").tolist()
        [0.6931471824645996, 100.0]
    """
    reduction = _legacy(size_average, reduce, reduction)
    _check(reduction)
    if tuple(target.shape) != tuple(input.shape):
        raise ValueError(
            f"Target size ({tuple(target.shape)}) must be the same as input size "
            f"({tuple(input.shape)})"
        )
    sp = _softplus_neg(input)
    if pos_weight is not None:
        sp = sp * ((pos_weight - 1.0) * target + 1.0)
    loss = (1.0 - target) * input + sp
    if weight is not None:
        loss = loss * weight
    return _reduce(loss, reduction)
