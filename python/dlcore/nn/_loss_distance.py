"""Functional distribution and embedding losses (KL divergence, Gaussian NLL,
cosine-embedding, margin-ranking, triplet), re-exported by
``dlcore.nn.functional``. PyTorch's formulas, epsilons and clamps, composed
from Rust tensor ops.
"""

from __future__ import annotations

import math
import warnings

import dlcore
from dlcore import Tensor

from ._loss_functional import _check, _legacy, _reduce

__all__ = [
    "kl_div",
    "gaussian_nll_loss",
    "cosine_embedding_loss",
    "margin_ranking_loss",
    "pairwise_distance",
    "triplet_margin_loss",
]


def kl_div(
    input: Tensor,
    target: Tensor,
    size_average=None,
    reduce=None,
    reduction: str = "mean",
    log_target: bool = False,
) -> Tensor:
    r"""Kullback-Leibler divergence :math:`y(\log y - x)` with ``input`` given
    as log-probabilities (terms with :math:`y = 0` are 0).

    Args:
        input (Tensor): log-probabilities.
        target (Tensor): probabilities, or log-probabilities with ``log_target=True``.
        reduction (str): ``"batchmean"`` (the KL divergence proper: sum / batch
            size), ``"sum"``, ``"mean"`` (over all elements; warns, as PyTorch)
            or ``"none"``.
        log_target (bool): ``target`` is given in log space.

    Examples::

        >>> import dlcore.nn.functional as F
        >>> logq = dlcore.tensor([[0.5, 0.5]]).log()
        >>> F.kl_div(logq, dlcore.tensor([[0.5, 0.5]]), reduction="batchmean").item()
        0.0
    """
    if size_average is not None or reduce is not None:
        reduction = _legacy(size_average, reduce, reduction)
    elif reduction == "mean":
        warnings.warn(
            "reduction: 'mean' divides the total loss by both the batch size and the "
            "support size.'batchmean' divides only by the batch size, and aligns with "
            "the KL div math definition.'mean' will be changed to behave the same as "
            "'batchmean' in the next major release.",
            stacklevel=2,
        )
    _check(reduction, ("mean", "sum", "none", "batchmean"))
    if log_target:
        loss = target.exp() * (target - input)
    else:
        # where() on a safe argument keeps log(0) = -inf out of both value and gradient
        pos = target > 0
        safe = dlcore.where(pos, target, dlcore.ones_like(target))
        loss = dlcore.where(pos, target * (safe.log() - input), -target * input)
    if reduction == "batchmean":
        return loss.sum() / input.shape[0] if input.ndim else loss.sum()
    return _reduce(loss, reduction)


def gaussian_nll_loss(
    input: Tensor,
    target: Tensor,
    var: Tensor | float,
    full: bool = False,
    eps: float = 1e-6,
    reduction: str = "mean",
) -> Tensor:
    r"""Gaussian negative log-likelihood
    :math:`\tfrac12(\log\max(\sigma^2,\epsilon) + (x-y)^2/\max(\sigma^2,\epsilon))`
    (+ :math:`\tfrac12\log 2\pi` with ``full``) (Nix & Weigend, 1994).

    The clamp to ``eps`` is invisible to autograd (the gradient reaches ``var``
    unchanged), as in PyTorch.

    Args:
        input (Tensor): predicted means.
        target (Tensor): samples.
        var (Tensor or float): predicted variances, same shape as ``input``
            (heteroscedastic), or with one dim of size 1 / the last dim
            missing (homoscedastic). Must be non-negative.
        full (bool): include the constant term. Default: ``False``.
        eps (float): clamp of ``var`` for stability. Default: ``1e-6``.
        reduction (str): ``"mean"`` | ``"sum"`` | ``"none"``.

    Examples::

        >>> import dlcore.nn.functional as F
        >>> F.gaussian_nll_loss(dlcore.zeros(3), dlcore.ones(3), dlcore.ones(3)).item()
        0.5
    """
    if isinstance(var, (int, float)):
        if var < 0:
            raise ValueError("var has negative entry/entries")
        var = dlcore.full(tuple(input.shape), float(var), dtype=input.dtype)
    elif var.numel() and bool((var < 0).any()):
        raise ValueError("var has negative entry/entries")
    ishape, vshape = tuple(input.shape), tuple(var.shape)
    if vshape != ishape:
        if ishape[:-1] == vshape:
            var = var.unsqueeze(-1)
        elif not (
            len(ishape) == len(vshape)
            and sum(v for i, v in zip(ishape, vshape) if i != v) == 1
        ):
            raise ValueError("var is of incorrect size")
    if reduction not in ("mean", "sum", "none"):
        raise ValueError(reduction + " is not valid")
    var = var + (var.detach().clamp(min=eps) - var.detach())  # clamp, identity gradient
    d = input - target
    loss = 0.5 * (var.log() + d * d / var)
    if full:
        loss = loss + 0.5 * math.log(2 * math.pi)
    return _reduce(loss, reduction)


def cosine_embedding_loss(
    input1: Tensor,
    input2: Tensor,
    target: Tensor,
    margin: float = 0,
    size_average=None,
    reduce=None,
    reduction: str = "mean",
) -> Tensor:
    r"""Cosine embedding loss: :math:`1 - \cos(x_1, x_2)` where :math:`y = 1`,
    :math:`\max(0, \cos(x_1, x_2) - \text{margin})` where :math:`y = -1`.

    Shape:
        - input1, input2: :math:`(N, D)` or :math:`(D)`
        - target: :math:`(N)` or :math:`()`, values in :math:`\{1, -1\}`
        - output: scalar, or :math:`(N)` with ``"none"``

    Examples::

        >>> import dlcore.nn.functional as F
        >>> a = dlcore.tensor([[1.0, 0.0], [1.0, 0.0]])
        >>> b = dlcore.tensor([[1.0, 0.0], [0.0, 1.0]])
        >>> F.cosine_embedding_loss(a, b, dlcore.tensor([1, -1]), reduction="none").tolist()
        [0.0, 0.0]
    """
    reduction = _legacy(size_average, reduce, reduction)
    _check(reduction)
    if input1.ndim not in (1, 2) or tuple(input1.shape) != tuple(input2.shape):
        raise RuntimeError(
            "cosine_embedding_loss: expected 1D or 2D inputs of equal shape, got "
            f"{tuple(input1.shape)} and {tuple(input2.shape)}"
        )
    if tuple(target.shape) != tuple(input1.shape[:-1]):
        raise RuntimeError(
            f"cosine_embedding_loss: expected target of shape {tuple(input1.shape[:-1])}, "
            f"got {tuple(target.shape)}"
        )
    dim = input1.ndim - 1
    eps = 1e-12  # PyTorch's EPSILON, added to both squared magnitudes
    prod = (input1 * input2).sum(dim)
    mag = ((input1 * input1).sum(dim) + eps) * ((input2 * input2).sum(dim) + eps)
    cos = prod / mag.sqrt()
    zero = dlcore.zeros_like(cos)
    loss = dlcore.where(target == 1, 1.0 - cos, zero) + dlcore.where(
        target == -1, (cos - margin).clamp(min=0.0), zero
    )
    return _reduce(loss, reduction)


def margin_ranking_loss(
    input1: Tensor,
    input2: Tensor,
    target: Tensor,
    margin: float = 0,
    size_average=None,
    reduce=None,
    reduction: str = "mean",
) -> Tensor:
    r"""Margin ranking loss :math:`\max(0, -y(x_1 - x_2) + \text{margin})`:
    ``y = 1`` asks for :math:`x_1` to rank higher than :math:`x_2`.

    Examples::

        >>> import dlcore.nn.functional as F
        >>> F.margin_ranking_loss(dlcore.tensor([2.0, 0.0]), dlcore.tensor([1.0, 1.0]),
        ...                       dlcore.tensor([1.0, 1.0]), margin=0.5,
        ...                       reduction="none").tolist()
        [0.0, 1.5]
    """
    reduction = _legacy(size_average, reduce, reduction)
    _check(reduction)
    if not (input1.ndim == input2.ndim == target.ndim):
        raise RuntimeError(
            "margin_ranking_loss : All input tensors should have same dimension but got "
            f"sizes: input1: {tuple(input1.shape)}, input2: {tuple(input2.shape)}, "
            f"target: {tuple(target.shape)} "
        )
    loss = (-target * (input1 - input2) + margin).clamp(min=0.0)
    return _reduce(loss, reduction)


def pairwise_distance(
    x1: Tensor, x2: Tensor, p: float = 2.0, eps: float = 1e-6, keepdim: bool = False
) -> Tensor:
    r"""p-norm of :math:`x_1 - x_2 + \epsilon` over the last dim.

    Examples::

        >>> import dlcore.nn.functional as F
        >>> F.pairwise_distance(dlcore.tensor([[3.0, 0.0]]), dlcore.tensor([[0.0, 4.0]]),
        ...                     eps=0.0).tolist()
        [5.0]
    """
    d = x1 - x2 + eps
    dim = max(x1.ndim, x2.ndim) - 1
    if p == 2:
        return (d * d).sum(dim, keepdim=keepdim).sqrt()
    if p == 1:
        return d.abs().sum(dim, keepdim=keepdim)
    if p == math.inf:
        return d.abs().amax(dim, keepdim=keepdim)
    if p <= 0:
        raise ValueError(f"pairwise_distance: p must be positive, got {p}")
    return d.abs().pow(p).sum(dim, keepdim=keepdim).pow(1.0 / p)


def triplet_margin_loss(
    anchor: Tensor,
    positive: Tensor,
    negative: Tensor,
    margin: float = 1.0,
    p: float = 2,
    eps: float = 1e-6,
    swap: bool = False,
    size_average=None,
    reduce=None,
    reduction: str = "mean",
) -> Tensor:
    r"""Triplet margin loss :math:`\max(d(a, p) - d(a, n) + \text{margin}, 0)` with
    :math:`d` the :func:`pairwise_distance` (Schroff et al., "FaceNet", 2015).
    ``swap`` uses :math:`\min(d(a,n), d(p,n))` as the negative distance
    (Balntas et al., 2016).

    Shape:
        - anchor, positive, negative: :math:`(N, D)` or :math:`(D)`
        - output: scalar, or :math:`(N)` with ``"none"``

    Examples::

        >>> import dlcore.nn.functional as F
        >>> a, p, n = dlcore.zeros(1, 2), dlcore.zeros(1, 2), dlcore.ones(1, 2)
        >>> F.triplet_margin_loss(a, p, n, margin=2.0, eps=0.0).item() > 0
        True
    """
    reduction = _legacy(size_average, reduce, reduction)
    _check(reduction)
    dims = (anchor.ndim, positive.ndim, negative.ndim)
    if len(set(dims)) != 1:
        raise RuntimeError(
            "The anchor, positive, and negative tensors are expected to have the same "
            f"number of dimensions, but got: anchor {dims[0]}D, positive {dims[1]}D, "
            f"and negative {dims[2]}D inputs"
        )
    d_pos = pairwise_distance(anchor, positive, p, eps)
    d_neg = pairwise_distance(anchor, negative, p, eps)
    if swap:
        d_neg = dlcore.minimum(d_neg, pairwise_distance(positive, negative, p, eps))
    loss = (margin + d_pos - d_neg).clamp(min=0.0)
    return _reduce(loss, reduction)
