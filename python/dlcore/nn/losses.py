"""Loss modules, shaped like ``torch.nn``'s: each ``forward`` calls its
functional form in :mod:`dlcore.nn.functional`.

``MSELoss`` and ``CrossEntropyLoss`` live in :mod:`dlcore.nn.layers`; all are
exported from :mod:`dlcore.nn`. Class weights are registered as buffers
(``weight``, ``pos_weight``) so ``state_dict()`` keys match PyTorch's.
"""

from __future__ import annotations

import dlcore  # noqa: F401  (doctest namespace)
from dlcore import Tensor

from . import functional as F
from .module import Module

__all__ = [
    "L1Loss",
    "SmoothL1Loss",
    "HuberLoss",
    "NLLLoss",
    "BCELoss",
    "BCEWithLogitsLoss",
    "KLDivLoss",
    "GaussianNLLLoss",
    "CosineEmbeddingLoss",
    "MarginRankingLoss",
    "TripletMarginLoss",
]


class _Loss(Module):
    def __init__(self, size_average=None, reduce=None, reduction: str = "mean") -> None:
        super().__init__()
        self.reduction = F._legacy_reduction(size_average, reduce, reduction)

    def extra_repr(self) -> str:
        return "" if self.reduction == "mean" else f"reduction={self.reduction!r}"


class _WeightedLoss(_Loss):
    def __init__(self, weight: Tensor | None = None, size_average=None, reduce=None, reduction="mean"):
        super().__init__(size_average, reduce, reduction)
        self.register_buffer("weight", weight)


class L1Loss(_Loss):
    r"""Mean absolute error; see :func:`dlcore.nn.functional.l1_loss`.

    Args:
        reduction (str): ``"mean"`` | ``"sum"`` | ``"none"``. Default: ``"mean"``.

    Shape:
        - Input, Target: :math:`(*)`; Output: scalar, or :math:`(*)` with ``"none"``.

    Examples::

        >>> loss = dlcore.nn.L1Loss()
        >>> loss(dlcore.tensor([1.0, -1.0]), dlcore.zeros(2)).item()
        1.0
    """

    def forward(self, input: Tensor, target: Tensor) -> Tensor:
        return F.l1_loss(input, target, reduction=self.reduction)


class SmoothL1Loss(_Loss):
    r"""Smooth L1 loss (quadratic below ``beta``, linear above); see
    :func:`dlcore.nn.functional.smooth_l1_loss`.

    Args:
        reduction (str): ``"mean"`` | ``"sum"`` | ``"none"``.
        beta (float): the switch point. Default: 1.0.

    Examples::

        >>> dlcore.nn.SmoothL1Loss(beta=1.0)(dlcore.tensor([0.5]), dlcore.zeros(1)).item()
        0.125
    """

    def __init__(self, size_average=None, reduce=None, reduction: str = "mean", beta: float = 1.0):
        super().__init__(size_average, reduce, reduction)
        self.beta = beta

    def forward(self, input: Tensor, target: Tensor) -> Tensor:
        return F.smooth_l1_loss(input, target, reduction=self.reduction, beta=self.beta)


class HuberLoss(_Loss):
    r"""Huber loss (quadratic below ``delta``, linear with slope ``delta`` above);
    see :func:`dlcore.nn.functional.huber_loss`.

    Args:
        reduction (str): ``"mean"`` | ``"sum"`` | ``"none"``.
        delta (float): the switch point. Default: 1.0.

    Examples::

        >>> dlcore.nn.HuberLoss(delta=2.0)(dlcore.tensor([3.0]), dlcore.zeros(1)).item()
        4.0
    """

    def __init__(self, reduction: str = "mean", delta: float = 1.0) -> None:
        super().__init__(reduction=reduction)
        self.delta = delta

    def forward(self, input: Tensor, target: Tensor) -> Tensor:
        return F.huber_loss(input, target, reduction=self.reduction, delta=self.delta)


class NLLLoss(_WeightedLoss):
    r"""Negative log-likelihood of class indices given log-probabilities; see
    :func:`dlcore.nn.functional.nll_loss`. ``LogSoftmax`` + ``NLLLoss`` equals
    ``CrossEntropyLoss``.

    Args:
        weight (Tensor, optional): per-class weights of shape ``(C,)``.
        ignore_index (int): target value to skip. Default: -100.
        reduction (str): ``"mean"`` | ``"sum"`` | ``"none"``.

    Shape:
        - Input: :math:`(N, C)`, :math:`(C)` or :math:`(N, C, d_1, ...)`
        - Target: :math:`(N)`, :math:`()` or :math:`(N, d_1, ...)`, int64

    Examples::

        >>> logp = dlcore.zeros(2, 3).log_softmax(1)
        >>> round(dlcore.nn.NLLLoss()(logp, dlcore.tensor([0, 2])).item(), 4)
        1.0986
    """

    def __init__(self, weight=None, size_average=None, ignore_index: int = -100, reduce=None, reduction="mean"):
        super().__init__(weight, size_average, reduce, reduction)
        self.ignore_index = ignore_index

    def forward(self, input: Tensor, target: Tensor) -> Tensor:
        return F.nll_loss(input, target, weight=self.weight, ignore_index=self.ignore_index, reduction=self.reduction)


class BCELoss(_WeightedLoss):
    r"""Binary cross-entropy on probabilities; see
    :func:`dlcore.nn.functional.binary_cross_entropy`. Prefer
    :class:`BCEWithLogitsLoss` on raw scores.

    Args:
        weight (Tensor, optional): rescaling weight broadcast to the input.
        reduction (str): ``"mean"`` | ``"sum"`` | ``"none"``.

    Examples::

        >>> p = dlcore.tensor([0.5])
        >>> round(dlcore.nn.BCELoss()(p, dlcore.tensor([1.0])).item(), 4)
        0.6931
    """

    def forward(self, input: Tensor, target: Tensor) -> Tensor:
        return F.binary_cross_entropy(input, target, weight=self.weight, reduction=self.reduction)


class BCEWithLogitsLoss(_Loss):
    r"""Sigmoid + binary cross-entropy, numerically stable; see
    :func:`dlcore.nn.functional.binary_cross_entropy_with_logits`.

    Args:
        weight (Tensor, optional): rescaling weight broadcast to the input.
        reduction (str): ``"mean"`` | ``"sum"`` | ``"none"``.
        pos_weight (Tensor, optional): weight of positives per class (last dim).

    Examples::

        >>> loss = dlcore.nn.BCEWithLogitsLoss(pos_weight=dlcore.tensor([3.0]))
        >>> round(loss(dlcore.zeros(1, 1), dlcore.ones(1, 1)).item(), 4)
        2.0794
    """

    def __init__(self, weight=None, size_average=None, reduce=None, reduction="mean", pos_weight=None):
        super().__init__(size_average, reduce, reduction)
        self.register_buffer("weight", weight)
        self.register_buffer("pos_weight", pos_weight)

    def forward(self, input: Tensor, target: Tensor) -> Tensor:
        return F.binary_cross_entropy_with_logits(
            input, target, self.weight, pos_weight=self.pos_weight, reduction=self.reduction
        )


class KLDivLoss(_Loss):
    r"""Kullback-Leibler divergence with log-probability inputs; see
    :func:`dlcore.nn.functional.kl_div`.

    Args:
        reduction (str): ``"batchmean"`` (the true KL divergence), ``"sum"``,
            ``"mean"`` or ``"none"``. Default ``"mean"`` as in PyTorch.
        log_target (bool): the target is given as log-probabilities.

    Examples::

        >>> loss = dlcore.nn.KLDivLoss(reduction="batchmean", log_target=True)
        >>> logp = dlcore.zeros(2, 4).log_softmax(1)
        >>> loss(logp, logp).item()
        0.0
    """

    def __init__(self, size_average=None, reduce=None, reduction="mean", log_target: bool = False):
        super().__init__(size_average, reduce, reduction)
        self.log_target = log_target

    def forward(self, input: Tensor, target: Tensor) -> Tensor:
        return F.kl_div(input, target, reduction=self.reduction, log_target=self.log_target)


class GaussianNLLLoss(_Loss):
    r"""Gaussian negative log-likelihood with predicted variance; see
    :func:`dlcore.nn.functional.gaussian_nll_loss`.

    Args:
        full (bool): include the constant :math:`\tfrac12\log 2\pi`.
        eps (float): clamp of the variance. Default: 1e-6.
        reduction (str): ``"mean"`` | ``"sum"`` | ``"none"``.

    Shape:
        - Input, Target: :math:`(N, *)`; Var: same, or one dim of size 1.

    Examples::

        >>> loss = dlcore.nn.GaussianNLLLoss()
        >>> loss(dlcore.zeros(2, 3), dlcore.zeros(2, 3), dlcore.ones(2, 1)).item()
        0.0
    """

    def __init__(self, *, full: bool = False, eps: float = 1e-6, reduction: str = "mean") -> None:
        super().__init__(reduction=reduction)
        self.full = full
        self.eps = eps

    def forward(self, input: Tensor, target: Tensor, var) -> Tensor:
        return F.gaussian_nll_loss(input, target, var, full=self.full, eps=self.eps, reduction=self.reduction)


class CosineEmbeddingLoss(_Loss):
    r"""Pull pairs with :math:`y=1` to cosine 1, push pairs with :math:`y=-1`
    below ``margin``; see :func:`dlcore.nn.functional.cosine_embedding_loss`.

    Examples::

        >>> a = dlcore.tensor([[1.0, 0.0]])
        >>> dlcore.nn.CosineEmbeddingLoss()(a, a, dlcore.tensor([1])).item()
        0.0
    """

    def __init__(self, margin: float = 0.0, size_average=None, reduce=None, reduction="mean"):
        super().__init__(size_average, reduce, reduction)
        self.margin = margin

    def forward(self, input1: Tensor, input2: Tensor, target: Tensor) -> Tensor:
        return F.cosine_embedding_loss(input1, input2, target, margin=self.margin, reduction=self.reduction)


class MarginRankingLoss(_Loss):
    r"""Ranking hinge :math:`\max(0, -y(x_1 - x_2) + \text{margin})`; see
    :func:`dlcore.nn.functional.margin_ranking_loss`.

    Examples::

        >>> loss = dlcore.nn.MarginRankingLoss(margin=1.0)
        >>> loss(dlcore.tensor([3.0]), dlcore.tensor([1.0]), dlcore.tensor([1.0])).item()
        0.0
    """

    def __init__(self, margin: float = 0.0, size_average=None, reduce=None, reduction="mean"):
        super().__init__(size_average, reduce, reduction)
        self.margin = margin

    def forward(self, input1: Tensor, input2: Tensor, target: Tensor) -> Tensor:
        return F.margin_ranking_loss(input1, input2, target, margin=self.margin, reduction=self.reduction)


class TripletMarginLoss(_Loss):
    r"""Triplet loss on anchor / positive / negative embeddings; see
    :func:`dlcore.nn.functional.triplet_margin_loss`.

    Args:
        margin (float): required gap between the distances. Default: 1.0.
        p (float): norm degree of the distance. Default: 2.
        eps (float): added to the difference before the norm. Default: 1e-6.
        swap (bool): distance swap (Balntas et al., 2016). Default: ``False``.
        reduction (str): ``"mean"`` | ``"sum"`` | ``"none"``.

    Shape:
        - Inputs: :math:`(N, D)` or :math:`(D)`; Output: scalar or :math:`(N)`.

    Examples::

        >>> loss = dlcore.nn.TripletMarginLoss(margin=1.0)
        >>> a = dlcore.zeros(4, 8)
        >>> round(loss(a, a, a + 10).item(), 4)
        0.0
    """

    def __init__(self, margin=1.0, p=2.0, eps=1e-6, swap=False, size_average=None, reduce=None, reduction="mean"):
        super().__init__(size_average, reduce, reduction)
        if margin <= 0:
            raise ValueError(f"TripletMarginLoss: expected margin to be greater than 0, got {margin} instead")
        self.margin, self.p, self.eps, self.swap = margin, p, eps, swap

    def forward(self, anchor: Tensor, positive: Tensor, negative: Tensor) -> Tensor:
        return F.triplet_margin_loss(
            anchor, positive, negative, margin=self.margin, p=self.p, eps=self.eps,
            swap=self.swap, reduction=self.reduction,
        )
