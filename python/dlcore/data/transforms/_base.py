"""Plumbing shared by the batch transforms, plus ``Compose``, ``ToTensor``,
``Normalize`` and ``Lambda``.

Every transform takes a batch ``(N, C, H, W)`` or a single image ``(C, H, W)``,
as a dlcore ``Tensor`` or a NumPy array, and returns the same kind and rank.
Random parameters are drawn per sample, and the work is whole-batch NumPy
(fancy indexing, broadcasting): no Python loop over samples or pixels.
"""

from __future__ import annotations

from typing import Callable, Sequence

import numpy as np

import dlcore
from dlcore import Tensor

from .._random import get_rng
from ..samplers import _as_generator

__all__ = ["Compose", "ToTensor", "Normalize", "Lambda", "RandomTransform"]


def to_batch(x, name: str) -> tuple[np.ndarray, Callable[[np.ndarray], object]]:
    """(array (N, C, H, W), function mapping a result back to the input's kind and rank)."""
    is_tensor = isinstance(x, Tensor)
    arr = x.detach().numpy() if is_tensor else np.asarray(x)
    if arr.ndim not in (3, 4):
        raise ValueError(f"{name}: expected an image (C, H, W) or a batch (N, C, H, W), got shape {arr.shape}")
    single = arr.ndim == 3
    if single:
        arr = arr[None]

    def restore(out: np.ndarray):
        out = out[0] if single else out
        if is_tensor:
            return dlcore.from_numpy(np.ascontiguousarray(out, dtype=arr.dtype))
        return out.astype(arr.dtype, copy=False)

    return arr, restore


def _pair(v, name: str) -> tuple[int, int]:
    if isinstance(v, (int, np.integer)):
        return int(v), int(v)
    if len(v) == 1:
        return int(v[0]), int(v[0])
    if len(v) != 2:
        raise ValueError(f"{name}: expected an int or a (h, w) pair, got {v!r}")
    return int(v[0]), int(v[1])


class RandomTransform:
    """Base of the random transforms: keeps the ``generator`` argument."""

    def __init__(self, generator=None) -> None:
        self.generator = _as_generator(generator)

    def _rng(self) -> np.random.Generator:
        return get_rng(self.generator)

    def __repr__(self) -> str:
        skip = {"generator"}
        args = ", ".join(f"{k}={v!r}" for k, v in vars(self).items() if k not in skip and not k.startswith("_"))
        return f"{type(self).__name__}({args})"


class Compose:
    """Apply transforms one after another.

    Examples::

        >>> import dlcore.data.transforms as T
        >>> t = T.Compose([T.RandomHorizontalFlip(p=1.0), T.Normalize([0.5], [0.5])])
        >>> t(dlcore.tensor([[[[0.0, 1.0]]]])).tolist()
        [[[[1.0, -1.0]]]]
    """

    def __init__(self, transforms: Sequence[Callable]) -> None:
        self.transforms = list(transforms)

    def __call__(self, x):
        for t in self.transforms:
            x = t(x)
        return x

    def __repr__(self) -> str:
        inner = "".join(f"\n    {t!r}" for t in self.transforms)
        return f"Compose({inner}\n)"


class Lambda:
    """Wrap a function as a transform."""

    def __init__(self, fn: Callable) -> None:
        if not callable(fn):
            raise TypeError(f"Lambda: argument should be callable, got {type(fn).__name__}")
        self.fn = fn

    def __call__(self, x):
        return self.fn(x)


class ToTensor:
    r"""Convert images to a float32 dlcore ``Tensor`` in channels-first layout.

    A NumPy ``(H, W, C)`` image or ``(N, H, W, C)`` batch (channels last, as
    image files decode) becomes ``(C, H, W)`` / ``(N, C, H, W)``; ``(H, W)``
    becomes ``(1, H, W)``. ``uint8`` data is scaled to :math:`[0, 1]`; float
    data keeps its values. A dlcore ``Tensor`` passes through unchanged.

    Examples::

        >>> import numpy as np
        >>> import dlcore.data.transforms as T
        >>> x = T.ToTensor()(np.full((2, 4, 4, 3), 255, dtype=np.uint8))
        >>> tuple(x.shape), x.max().item()
        ((2, 3, 4, 4), 1.0)
    """

    def __call__(self, pic):
        if isinstance(pic, Tensor):
            return pic
        arr = np.asarray(pic)
        if arr.ndim == 2:
            arr = arr[:, :, None]
        if arr.ndim not in (3, 4):
            raise ValueError(f"ToTensor: expected (H, W), (H, W, C) or (N, H, W, C), got shape {arr.shape}")
        scale = 1.0 / 255 if arr.dtype == np.uint8 else 1.0
        if arr.dtype == np.bool_:
            arr = arr.astype(np.float32)
        arr = np.moveaxis(arr, -1, -3).astype(np.float32) * np.float32(scale)
        return dlcore.from_numpy(np.ascontiguousarray(arr))

    def __repr__(self) -> str:
        return "ToTensor()"


class Normalize:
    r"""Normalize each channel: :math:`(x_c - \text{mean}_c) / \text{std}_c`.

    On a dlcore ``Tensor`` this is two broadcast tensor ops (kept on its
    device, differentiable); on a NumPy array, NumPy.

    Args:
        mean (sequence): per-channel means.
        std (sequence): per-channel standard deviations (non-zero).

    Examples::

        >>> import dlcore.data.transforms as T
        >>> x = dlcore.ones(2, 3, 4, 4)
        >>> T.Normalize([0.5, 0.5, 0.5], [0.5, 0.25, 1.0])(x)[0, :, 0, 0].tolist()
        [1.0, 2.0, 0.5]
    """

    def __init__(self, mean: Sequence[float], std: Sequence[float], inplace: bool = False) -> None:
        self.mean = np.asarray(mean, dtype=np.float64).reshape(-1)
        self.std = np.asarray(std, dtype=np.float64).reshape(-1)
        if (self.std == 0).any():
            raise ValueError(f"std evaluated to zero after conversion to float, leading to division by zero: {std}")
        self.inplace = inplace

    def __call__(self, x):
        c = x.shape[-3] if len(x.shape) >= 3 else None
        if c is None or len(self.mean) not in (1, c) or len(self.std) not in (1, c):
            raise ValueError(
                f"Normalize: {len(self.mean)} means / {len(self.std)} stds for input of shape {tuple(x.shape)}"
            )
        shape = (-1, 1, 1)
        if isinstance(x, Tensor):
            mean = dlcore.tensor(self.mean.reshape(shape), dtype=x.dtype)
            std = dlcore.tensor(self.std.reshape(shape), dtype=x.dtype)
            return (x - mean) / std
        arr = np.asarray(x)
        return ((arr - self.mean.reshape(shape)) / self.std.reshape(shape)).astype(arr.dtype, copy=False)

    def __repr__(self) -> str:
        return f"Normalize(mean={self.mean.tolist()}, std={self.std.tolist()})"
