"""Batch-mixing augmentations: mixup and CutMix, with the mixed-label loss.

Two interfaces:

* functional, as in the papers' reference code: :func:`mixup` / :func:`cutmix`
  return ``(mixed_x, y_a, y_b, lam)`` and :func:`mixed_loss` combines a
  criterion on both label sets, ``lam * loss(out, y_a) + (1 - lam) * loss(out, y_b)``;
* :class:`MixUp` / :class:`CutMix` (shaped like ``torchvision.transforms.v2``)
  return ``(mixed_x, soft_targets)``, for ``CrossEntropyLoss`` with
  probability targets.

Inputs may be dlcore tensors (mixed with tensor ops, on their device) or
NumPy arrays; partner samples are a random permutation of the batch.
"""

from __future__ import annotations

from typing import Callable

import numpy as np

import dlcore
from dlcore import Tensor

from .._random import get_rng
from ..samplers import _as_generator

__all__ = ["mixup", "cutmix", "mixed_loss", "MixUp", "CutMix", "rand_bbox"]


def _take(a, perm: np.ndarray):
    if isinstance(a, Tensor):
        return a[dlcore.from_numpy(perm)]
    return np.asarray(a)[perm]


def _lam(rng: np.random.Generator, alpha: float) -> float:
    if alpha < 0:
        raise ValueError(f"alpha must be >= 0, got {alpha}")
    return float(rng.beta(alpha, alpha)) if alpha > 0 else 1.0


def mixup(x, y, alpha: float = 1.0, generator=None):
    r"""mixup (Zhang et al., "mixup: Beyond Empirical Risk Minimization", 2018):
    :math:`\tilde x = \lambda x + (1-\lambda) x_{\pi}`, :math:`\lambda \sim
    \text{Beta}(\alpha, \alpha)`, :math:`\pi` a random permutation of the batch.

    Args:
        x (Tensor or ndarray): inputs ``(N, ...)``.
        y: labels ``(N, ...)`` (class indices, one-hot, anything indexable).
        alpha (float): Beta parameter; 0 disables mixing (``lam = 1``). Default: 1.
        generator (numpy.random.Generator or int, optional): randomness source.

    Returns:
        ``(mixed_x, y_a, y_b, lam)``: train with :func:`mixed_loss`.

    Examples::

        >>> import dlcore.data.transforms as T
        >>> x, y = dlcore.randn(8, 3), dlcore.arange(8)
        >>> xm, ya, yb, lam = T.mixup(x, y, alpha=0.4, generator=0)
        >>> tuple(xm.shape), 0.0 <= lam <= 1.0
        ((8, 3), True)
    """
    rng = get_rng(_as_generator(generator))
    lam = _lam(rng, alpha)
    perm = rng.permutation(len(x))
    x_b = _take(x, perm)
    mixed = x * lam + x_b * (1.0 - lam)
    return mixed, y, _take(y, perm), lam


def rand_bbox(h: int, w: int, lam: float, rng: np.random.Generator) -> tuple[int, int, int, int]:
    """CutMix box ``(top, left, bottom, right)``: side ratio :math:`\\sqrt{1-\\lambda}`,
    uniformly placed centre, clipped to the image."""
    r = np.sqrt(1.0 - lam)
    ch, cw = int(h * r), int(w * r)
    cy, cx = int(rng.integers(h)), int(rng.integers(w))
    return (int(np.clip(cy - ch // 2, 0, h)), int(np.clip(cx - cw // 2, 0, w)),
            int(np.clip(cy + ch // 2, 0, h)), int(np.clip(cx + cw // 2, 0, w)))  # fmt: skip


def cutmix(x, y, alpha: float = 1.0, generator=None):
    r"""CutMix (Yun et al., "CutMix: Regularization Strategy to Train Strong
    Classifiers with Localizable Features", 2019): paste a box from a partner
    image; :math:`\lambda` becomes the kept area fraction.

    Args:
        x (Tensor or ndarray): images ``(N, C, H, W)``.
        y: labels ``(N, ...)``.
        alpha (float): Beta parameter of the box size. Default: 1.
        generator (numpy.random.Generator or int, optional): randomness source.

    Returns:
        ``(mixed_x, y_a, y_b, lam)`` with ``lam`` = 1 - box area / image area.

    Examples::

        >>> import dlcore.data.transforms as T
        >>> x = dlcore.zeros(4, 3, 8, 8)
        >>> xm, ya, yb, lam = T.cutmix(x, dlcore.arange(4), generator=0)
        >>> tuple(xm.shape)
        (4, 3, 8, 8)
    """
    if len(x.shape) != 4:
        raise ValueError(f"cutmix: expected images (N, C, H, W), got shape {tuple(x.shape)}")
    rng = get_rng(_as_generator(generator))
    lam = _lam(rng, alpha)
    perm = rng.permutation(x.shape[0])
    h, w = x.shape[-2:]
    top, left, bottom, right = rand_bbox(h, w, lam, rng)
    box = np.zeros((1, 1, h, w), dtype=bool)
    box[..., top:bottom, left:right] = True
    x_b = _take(x, perm)
    if isinstance(x, Tensor):
        mixed = dlcore.where(dlcore.from_numpy(box), x_b, x)
    else:
        mixed = np.where(box, x_b, x)
    lam = 1.0 - (bottom - top) * (right - left) / float(h * w)
    return mixed, y, _take(y, perm), lam


def mixed_loss(criterion: Callable, output, y_a, y_b, lam: float):
    r"""The mixup / CutMix objective:
    :math:`\lambda\,\ell(\hat y, y_a) + (1-\lambda)\,\ell(\hat y, y_b)`.

    Examples::

        >>> import dlcore.data.transforms as T
        >>> ce = dlcore.nn.CrossEntropyLoss()
        >>> out = dlcore.zeros(2, 4)
        >>> round(T.mixed_loss(ce, out, dlcore.tensor([0, 1]), dlcore.tensor([1, 0]), 0.3).item(), 4)
        1.3863
    """
    return criterion(output, y_a) * lam + criterion(output, y_b) * (1.0 - lam)


def _one_hot(y, num_classes: int) -> np.ndarray:
    labels = np.asarray(y.tolist() if isinstance(y, Tensor) else y)
    if labels.ndim != 1 or not np.issubdtype(labels.dtype, np.integer):
        raise ValueError(f"expected integer class labels of shape (N,), got {labels.dtype} {labels.shape}")
    if labels.size and (labels.min() < 0 or labels.max() >= num_classes):
        raise ValueError(f"labels must be in [0, {num_classes}), got range [{labels.min()}, {labels.max()}]")
    return np.eye(num_classes, dtype=np.float32)[labels]


class _Mixer:
    _fn = staticmethod(mixup)

    def __init__(self, *, alpha: float = 1.0, num_classes: int, generator=None) -> None:
        if alpha <= 0:
            raise ValueError(f"{type(self).__name__}: alpha must be positive, got {alpha}")
        if num_classes < 1:
            raise ValueError(f"{type(self).__name__}: num_classes must be >= 1, got {num_classes}")
        self.alpha, self.num_classes = alpha, num_classes
        self.generator = _as_generator(generator)

    def __call__(self, x, y):
        onehot = _one_hot(y, self.num_classes)
        mixed, _, y_b, lam = type(self)._fn(x, np.arange(len(onehot)), self.alpha, get_rng(self.generator))
        soft = lam * onehot + (1.0 - lam) * onehot[y_b]
        return mixed, (dlcore.from_numpy(soft.astype(np.float32)) if isinstance(x, Tensor) else soft)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(alpha={self.alpha}, num_classes={self.num_classes})"


class MixUp(_Mixer):
    r"""mixup on a batch with soft labels (``torchvision.transforms.v2.MixUp``'s interface).

    Args:
        alpha (float): Beta parameter. Default: 1.
        num_classes (int): number of classes for the one-hot targets.

    Returns from ``__call__(x, y)``: ``(mixed_x, soft_targets)``, the targets
    float32 ``(N, num_classes)`` for ``CrossEntropyLoss``.

    Examples::

        >>> import dlcore.data.transforms as T
        >>> xm, t = T.MixUp(num_classes=3, generator=0)(dlcore.randn(4, 2), dlcore.tensor([0, 1, 2, 0]))
        >>> tuple(t.shape), [round(v, 5) for v in t.sum(1).tolist()]
        ((4, 3), [1.0, 1.0, 1.0, 1.0])
    """


class CutMix(_Mixer):
    r"""CutMix on a batch of images with soft labels (``torchvision.transforms.v2.CutMix``'s
    interface; see :func:`cutmix`).

    Examples::

        >>> import dlcore.data.transforms as T
        >>> xm, t = T.CutMix(num_classes=10, generator=0)(dlcore.rand(4, 3, 8, 8), dlcore.arange(4))
        >>> tuple(xm.shape), tuple(t.shape)
        ((4, 3, 8, 8), (4, 10))
    """

    _fn = staticmethod(cutmix)
