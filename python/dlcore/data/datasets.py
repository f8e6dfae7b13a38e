"""Small synthetic datasets, generated on the fly (no download).

Classification sets (``spiral``, ``xor``, ``moons``, ``circles``, ``blobs``)
return dlcore tensors ``(X, y)``: ``X`` of shape ``(N, 2)`` (``blobs``:
``(N, n_features)``), dtype ``float32``, and ``y`` of shape ``(N,)``, dtype
``int64``, ready for ``nn.Linear`` and ``F.cross_entropy``. Regression and
sequence sets (``sine``, ``sine_sequences``, ``adding_problem``) return float32
inputs and targets. Use ``X.numpy()`` for plain arrays. The same ``seed``
always gives the same data.
"""

from __future__ import annotations

import math

import numpy as np

import dlcore
from dlcore import Tensor

__all__ = ["spiral", "xor", "moons", "circles", "blobs", "sine", "sine_sequences", "adding_problem"]


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


def _check(name: str, n: int, noise: float) -> None:
    if n < 1:
        raise ValueError(f"{name}: n must be >= 1, got {n}")
    if noise < 0:
        raise ValueError(f"{name}: noise must be >= 0, got {noise}")


def _shuffled(rng, x, y, shuffle):
    if shuffle:
        p = rng.permutation(len(y))
        x, y = x[p], y[p]
    return _to_tensors(x, y)


def moons(
    n: int = 200, noise: float = 0.1, shuffle: bool = True, seed: int | None = 0
) -> tuple[Tensor, Tensor]:
    r"""Two interleaving half circles (scikit-learn's ``make_moons``).

    Class 0 lies on :math:`(\cos t, \sin t)`, class 1 on
    :math:`(1 - \cos t, 0.5 - \sin t)`, :math:`t \in [0, \pi]`, plus
    Gaussian noise of standard deviation ``noise``.

    Args:
        n (int): total points (class 0 gets ``n // 2``). Default: 200.
        noise (float): standard deviation of the noise. Default: 0.1.
        shuffle (bool): shuffle the points (else grouped by class). Default: ``True``.
        seed (int, optional): numpy seed. Default: 0.

    Examples::

        >>> X, y = dlcore.data.moons(n=100)
        >>> tuple(X.shape), y.sum().item()
        ((100, 2), 50)
    """
    _check("moons", n, noise)
    rng = np.random.default_rng(seed)
    n_out = n // 2
    t_out, t_in = np.linspace(0, math.pi, n_out), np.linspace(0, math.pi, n - n_out)
    x = np.concatenate([
        np.stack([np.cos(t_out), np.sin(t_out)], 1),
        np.stack([1 - np.cos(t_in), 1 - np.sin(t_in) - 0.5], 1),
    ])  # fmt: skip
    y = np.repeat([0, 1], [n_out, n - n_out])
    x = x + rng.standard_normal(x.shape) * noise
    return _shuffled(rng, x, y, shuffle)


def circles(
    n: int = 200, noise: float = 0.05, factor: float = 0.5, shuffle: bool = True, seed: int | None = 0
) -> tuple[Tensor, Tensor]:
    r"""A small circle (class 1, radius ``factor``) inside a unit circle
    (class 0) (scikit-learn's ``make_circles``); separable only non-linearly.

    Examples::

        >>> X, y = dlcore.data.circles(n=100, noise=0.0)
        >>> import numpy as np
        >>> r = np.linalg.norm(X.numpy(), axis=1)
        >>> bool(np.allclose(r[y.numpy() == 1], 0.5, atol=1e-6))
        True
    """
    _check("circles", n, noise)
    if not 0 <= factor < 1:
        raise ValueError(f"circles: factor must be in [0, 1), got {factor}")
    rng = np.random.default_rng(seed)
    n_out = n // 2
    t_out = np.linspace(0, 2 * math.pi, n_out, endpoint=False)
    t_in = np.linspace(0, 2 * math.pi, n - n_out, endpoint=False)
    x = np.concatenate([
        np.stack([np.cos(t_out), np.sin(t_out)], 1),
        factor * np.stack([np.cos(t_in), np.sin(t_in)], 1),
    ])  # fmt: skip
    y = np.repeat([0, 1], [n_out, n - n_out])
    x = x + rng.standard_normal(x.shape) * noise
    return _shuffled(rng, x, y, shuffle)


def blobs(
    n: int = 300,
    centers=3,
    n_features: int = 2,
    cluster_std: float = 1.0,
    center_box: tuple[float, float] = (-10.0, 10.0),
    shuffle: bool = True,
    seed: int | None = 0,
) -> tuple[Tensor, Tensor]:
    r"""Isotropic Gaussian blobs (scikit-learn's ``make_blobs``).

    Args:
        n (int): total points, split evenly (the first ``n % k`` blobs get one more).
        centers (int or array-like): number of blobs, drawn uniformly in
            ``center_box``, or their coordinates ``(k, n_features)``.
        n_features (int): dimension. Default: 2.
        cluster_std (float or sequence): standard deviation per blob. Default: 1.
        shuffle (bool): shuffle the points. Default: ``True``.
        seed (int, optional): numpy seed. Default: 0.

    Examples::

        >>> X, y = dlcore.data.blobs(n=90, centers=[[0, 0], [5, 5], [-5, 5]], cluster_std=0.5)
        >>> tuple(X.shape), sorted(set(y.tolist()))
        ((90, 2), [0, 1, 2])
    """
    _check("blobs", n, 0.0)
    rng = np.random.default_rng(seed)
    if isinstance(centers, (int, np.integer)):
        if centers < 1:
            raise ValueError(f"blobs: centers must be >= 1, got {centers}")
        c = rng.uniform(center_box[0], center_box[1], size=(int(centers), n_features))
    else:
        c = np.asarray(centers, dtype=np.float64)
        if c.ndim != 2:
            raise ValueError(f"blobs: centers must be an int or a (k, n_features) array, got shape {c.shape}")
    k = len(c)
    std = np.broadcast_to(np.asarray(cluster_std, dtype=np.float64), (k,))
    sizes = np.full(k, n // k) + (np.arange(k) < n % k)
    y = np.repeat(np.arange(k), sizes)
    x = c[y] + rng.standard_normal((n, c.shape[1])) * std[y, None]
    return _shuffled(rng, x, y, shuffle)


def sine(
    n: int = 200, noise: float = 0.1, x_range: tuple[float, float] = (-math.pi, math.pi), seed: int | None = 0
) -> tuple[Tensor, Tensor]:
    r"""1-D regression: :math:`y = \sin x + \epsilon`, :math:`x` uniform in ``x_range``.

    Returns:
        ``(X, y)``, both float32 of shape ``(n, 1)`` (ready for ``nn.Linear(1, ...)``
        and ``MSELoss``).

    Examples::

        >>> X, y = dlcore.data.sine(n=50, noise=0.0)
        >>> import numpy as np
        >>> bool(np.allclose(np.sin(X.numpy()), y.numpy(), atol=1e-6))
        True
    """
    _check("sine", n, noise)
    rng = np.random.default_rng(seed)
    x = rng.uniform(x_range[0], x_range[1], size=(n, 1))
    y = np.sin(x) + rng.standard_normal((n, 1)) * noise
    return dlcore.from_numpy(x.astype(np.float32)), dlcore.from_numpy(y.astype(np.float32))


def sine_sequences(
    n: int = 256,
    seq_len: int = 50,
    noise: float = 0.0,
    freq_range: tuple[float, float] = (0.5, 2.0),
    seed: int | None = 0,
) -> tuple[Tensor, Tensor]:
    r"""Next-step prediction on sine waves of random amplitude, frequency and phase.

    Series :math:`i` is :math:`s_t = a_i \sin(2\pi f_i t / 10 + \phi_i)` for
    :math:`t = 0..T`; the input is :math:`s_{0..T-1}` (plus noise), the target
    :math:`s_{1..T}`. A first RNN / LSTM exercise.

    Returns:
        ``(X, Y)``, float32 of shape ``(n, seq_len, 1)`` each (batch first; use
        ``batch_first=True`` or transpose to ``(T, N, 1)``).

    Examples::

        >>> X, Y = dlcore.data.sine_sequences(n=4, seq_len=20)
        >>> tuple(X.shape), bool((X.numpy()[:, 1:] == Y.numpy()[:, :-1]).all())
        ((4, 20, 1), True)
    """
    _check("sine_sequences", n, noise)
    if seq_len < 1:
        raise ValueError(f"sine_sequences: seq_len must be >= 1, got {seq_len}")
    rng = np.random.default_rng(seed)
    amp = rng.uniform(0.5, 1.5, size=(n, 1))
    freq = rng.uniform(freq_range[0], freq_range[1], size=(n, 1))
    phase = rng.uniform(0, 2 * math.pi, size=(n, 1))
    t = np.arange(seq_len + 1)[None, :]  # (1, T+1)
    s = amp * np.sin(2 * math.pi * freq * t / 10.0 + phase)  # (n, T+1)
    x = s[:, :-1] + rng.standard_normal((n, seq_len)) * noise
    return (dlcore.from_numpy(np.ascontiguousarray(x[..., None], dtype=np.float32)),
            dlcore.from_numpy(np.ascontiguousarray(s[:, 1:, None], dtype=np.float32)))  # fmt: skip


def adding_problem(n: int = 1000, seq_len: int = 50, seed: int | None = 0) -> tuple[Tensor, Tensor]:
    r"""The adding problem (Hochreiter & Schmidhuber, "Long short-term memory",
    1997): a long-range-dependency benchmark for recurrent networks.

    Each step carries two channels: a value uniform in :math:`[0, 1]` and a
    marker that is 1 at exactly two steps (one in each half of the sequence).
    The target is the sum of the two marked values; predicting 1 always gives
    an MSE of about 0.167, the baseline a model must beat.

    Returns:
        ``(X, y)``: ``X`` float32 ``(n, seq_len, 2)``, ``y`` float32 ``(n, 1)``.

    Examples::

        >>> X, y = dlcore.data.adding_problem(n=8, seq_len=10)
        >>> x = X.numpy()
        >>> bool(((x[..., 0] * x[..., 1]).sum(1) == y.numpy()[:, 0]).all())
        True
    """
    if n < 1 or seq_len < 2:
        raise ValueError(f"adding_problem: need n >= 1 and seq_len >= 2, got n={n}, seq_len={seq_len}")
    rng = np.random.default_rng(seed)
    values = rng.uniform(0, 1, size=(n, seq_len)).astype(np.float32)
    half = seq_len // 2
    first = rng.integers(0, half, size=n)
    second = rng.integers(half, seq_len, size=n)
    marks = np.zeros((n, seq_len), dtype=np.float32)
    marks[np.arange(n), first] = 1.0
    marks[np.arange(n), second] = 1.0
    x = np.stack([values, marks], -1)  # (n, T, 2)
    y = (values * marks).sum(1, keepdims=True, dtype=np.float32)
    return dlcore.from_numpy(np.ascontiguousarray(x)), dlcore.from_numpy(y)
