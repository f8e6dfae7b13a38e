"""Small synthetic 2-D classification datasets, generated on the fly (no download).

Both functions return dlcore tensors ``(X, y)``: ``X`` of shape ``(N, 2)``,
dtype ``float32``, and ``y`` of shape ``(N,)``, dtype ``int64``, ready for
``nn.Linear`` and ``F.cross_entropy``. Use ``X.numpy()`` / ``y.numpy()`` for
plain arrays. The same ``seed`` always gives the same data.
"""

from __future__ import annotations

import math

import numpy as np

import dlcore
from dlcore import Tensor

__all__ = ["spiral", "xor"]


def _to_tensors(x: np.ndarray, y: np.ndarray) -> tuple[Tensor, Tensor]:
    x = np.ascontiguousarray(x, dtype=np.float32)
    y = np.ascontiguousarray(y, dtype=np.int64)
    return dlcore.from_numpy(x), dlcore.from_numpy(y)


def spiral(
    n_per_class: int = 100,
    n_classes: int = 3,
    noise: float = 0.2,
    seed: int | None = 0,
) -> tuple[Tensor, Tensor]:
    r"""Interleaved spiral arms, one per class (the CS231n toy problem).

    Arm :math:`k` has points at radius :math:`r \in [0, 1]` (evenly spaced)
    and angle :math:`\theta = 2\pi k / K + 4r + \epsilon`,
    :math:`\epsilon \sim \mathcal{N}(0, \text{noise}^2)`; the point is
    :math:`(r \sin\theta, r \cos\theta)`. The classes are not linearly
    separable; a small MLP fits them.

    Args:
        n_per_class (int): points per class. Default: 100.
        n_classes (int): number of arms / classes :math:`K`. Default: 3.
        noise (float): standard deviation of the angular jitter in radians.
            Default: 0.2.
        seed (int, optional): seed of the numpy generator; ``None`` draws
            fresh entropy. Default: 0.

    Returns:
        ``(X, y)``: ``X`` float32 of shape ``(n_per_class * n_classes, 2)``
        with coordinates in ``[-1, 1]``, ``y`` int64 of shape
        ``(n_per_class * n_classes,)``; samples are grouped by class.

    Examples::

        >>> X, y = dlcore.data.spiral(n_per_class=50, n_classes=3)
        >>> tuple(X.shape), tuple(y.shape), y.dtype == dlcore.int64
        ((150, 2), (150,), True)
    """
    if n_per_class < 1 or n_classes < 1:
        raise ValueError(
            "spiral: n_per_class and n_classes must be >= 1, got "
            f"{n_per_class}, {n_classes}"
        )
    if noise < 0:
        raise ValueError(f"spiral: noise must be >= 0, got {noise}")
    rng = np.random.default_rng(seed)
    r = np.linspace(0.0, 1.0, n_per_class)  # (n,)
    arm = np.arange(n_classes)[:, None]  # (K, 1)
    jitter = rng.standard_normal((n_classes, n_per_class)) * noise  # (K, n)
    theta = 2 * math.pi * arm / n_classes + 4.0 * r + jitter  # (K, n)
    x = np.stack([r * np.sin(theta), r * np.cos(theta)], axis=-1)  # (K, n, 2)
    x = x.reshape(-1, 2)  # (K*n, 2)
    y = np.repeat(np.arange(n_classes), n_per_class)  # (K*n,)
    return _to_tensors(x, y)


def xor(
    n: int = 400, noise: float = 0.1, seed: int | None = 0
) -> tuple[Tensor, Tensor]:
    r"""The XOR problem: label 1 where the two coordinates have opposite signs.

    Points are drawn uniformly from :math:`[-1, 1]^2`, labelled
    :math:`y = [x_1 > 0] \oplus [x_2 > 0]`, then jittered by Gaussian noise
    (so with ``noise > 0`` a few points cross the axes and the problem is not
    perfectly separable).

    Args:
        n (int): number of points. Default: 400.
        noise (float): standard deviation of the jitter added after
            labelling. Default: 0.1.
        seed (int, optional): seed of the numpy generator. Default: 0.

    Returns:
        ``(X, y)``: ``X`` float32 of shape ``(n, 2)``, ``y`` int64 of shape
        ``(n,)`` with values in ``{0, 1}``.

    Examples::

        >>> X, y = dlcore.data.xor(n=100)
        >>> tuple(X.shape), sorted(set(y.tolist())) == [0, 1]
        ((100, 2), True)
    """
    if n < 1:
        raise ValueError(f"xor: n must be >= 1, got {n}")
    if noise < 0:
        raise ValueError(f"xor: noise must be >= 0, got {noise}")
    rng = np.random.default_rng(seed)
    x = rng.uniform(-1.0, 1.0, size=(n, 2))
    y = (x[:, 0] > 0) ^ (x[:, 1] > 0)
    x = x + rng.standard_normal((n, 2)) * noise
    return _to_tensors(x, y)
