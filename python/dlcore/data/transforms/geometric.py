"""Geometric batch transforms: flips, crops (with padding) and rotations.

Per-sample random parameters; the pixels move by one fancy-indexing gather
over the whole batch.
"""

from __future__ import annotations

import numpy as np

import dlcore  # noqa: F401  (doctest namespace)

from ._base import RandomTransform, _pair, to_batch

__all__ = [
    "RandomHorizontalFlip",
    "RandomVerticalFlip",
    "RandomCrop",
    "CenterCrop",
    "RandomRotation",
    "hflip",
    "vflip",
    "rotate",
]


def hflip(x):
    """Mirror images left-right (last dim). Keeps a dlcore ``Tensor`` on its
    device and differentiable (``index_select``).

    Examples::

        >>> import dlcore.data.transforms as T
        >>> T.hflip(dlcore.tensor([[[1.0, 2.0, 3.0]]])).tolist()
        [[[3.0, 2.0, 1.0]]]
    """
    if isinstance(x, dlcore.Tensor):
        w = x.shape[-1]
        return x.index_select(x.ndim - 1, dlcore.arange(w - 1, -1, -1))
    return np.ascontiguousarray(np.asarray(x)[..., ::-1])


def vflip(x):
    """Mirror images top-bottom (second-to-last dim)."""
    if isinstance(x, dlcore.Tensor):
        h = x.shape[-2]
        return x.index_select(x.ndim - 2, dlcore.arange(h - 1, -1, -1))
    return np.ascontiguousarray(np.asarray(x)[..., ::-1, :])


class RandomHorizontalFlip(RandomTransform):
    """Mirror each image left-right with probability ``p``.

    Examples::

        >>> import dlcore.data.transforms as T
        >>> T.RandomHorizontalFlip(p=1.0)(dlcore.tensor([[[[1.0, 2.0]]]])).tolist()
        [[[[2.0, 1.0]]]]
    """

    _axis = -1

    def __init__(self, p: float = 0.5, generator=None) -> None:
        super().__init__(generator)
        if not 0.0 <= p <= 1.0:
            raise ValueError(f"{type(self).__name__}: p must be in [0, 1], got {p}")
        self.p = p

    def __call__(self, x):
        arr, restore = to_batch(x, type(self).__name__)
        flip = self._rng().random(len(arr)) < self.p  # (N,)
        out = arr.copy()
        out[flip] = np.flip(arr[flip], axis=self._axis)
        return restore(out)


class RandomVerticalFlip(RandomHorizontalFlip):
    """Mirror each image top-bottom with probability ``p``."""

    _axis = -2


def _padding4(padding) -> tuple[int, int, int, int]:
    """torchvision's padding forms -> (left, top, right, bottom)."""
    if isinstance(padding, (int, np.integer)):
        return (int(padding),) * 4
    padding = tuple(int(p) for p in padding)
    if len(padding) == 1:
        return padding * 4
    if len(padding) == 2:
        return padding[0], padding[1], padding[0], padding[1]
    if len(padding) == 4:
        return padding
    raise ValueError(f"Padding must be an int or a 1, 2, or 4 element tuple, not a {len(padding)} element tuple")


_NP_PAD_MODES = {"constant": "constant", "edge": "edge", "reflect": "reflect", "symmetric": "symmetric"}


class RandomCrop(RandomTransform):
    r"""Crop a random ``size`` window from each image, after optional padding
    (the standard CIFAR augmentation is ``RandomCrop(32, padding=4)``).

    Args:
        size (int or (h, w)): output size.
        padding (int or sequence, optional): pad first: an int for all sides,
            ``(left/right, top/bottom)`` or ``(left, top, right, bottom)``.
        pad_if_needed (bool): pad images smaller than ``size``. Default: ``False``.
        fill (float): value for ``padding_mode="constant"``. Default: 0.
        padding_mode (str): ``"constant"``, ``"edge"``, ``"reflect"`` or ``"symmetric"``.

    Examples::

        >>> import dlcore.data.transforms as T
        >>> x = dlcore.ones(8, 3, 32, 32)
        >>> tuple(T.RandomCrop(32, padding=4)(x).shape)
        (8, 3, 32, 32)
    """

    def __init__(self, size, padding=None, pad_if_needed: bool = False, fill: float = 0,
                 padding_mode: str = "constant", generator=None) -> None:  # fmt: skip
        super().__init__(generator)
        self.size = _pair(size, "RandomCrop size")
        self.padding = None if padding is None else _padding4(padding)
        if padding_mode not in _NP_PAD_MODES:
            raise ValueError(f"RandomCrop: padding_mode should be one of {list(_NP_PAD_MODES)}, got {padding_mode!r}")
        self.pad_if_needed, self.fill, self.padding_mode = pad_if_needed, fill, padding_mode

    def _pad(self, arr: np.ndarray, left: int, top: int, right: int, bottom: int) -> np.ndarray:
        if not (left or top or right or bottom):
            return arr
        kw = {"constant_values": self.fill} if self.padding_mode == "constant" else {}
        return np.pad(arr, ((0, 0), (0, 0), (top, bottom), (left, right)), mode=_NP_PAD_MODES[self.padding_mode], **kw)

    def __call__(self, x):
        arr, restore = to_batch(x, "RandomCrop")
        if self.padding is not None:
            arr = self._pad(arr, *self.padding)
        th, tw = self.size
        h, w = arr.shape[-2:]
        if self.pad_if_needed and (h < th or w < tw):
            dw, dh = max(tw - w, 0), max(th - h, 0)
            arr = self._pad(arr, dw, dh, dw, dh)
            h, w = arr.shape[-2:]
        if h < th or w < tw:
            raise ValueError(f"RandomCrop: required crop size {(th, tw)} is larger than the (padded) image {(h, w)}")
        rng = self._rng()
        n = len(arr)
        oy = rng.integers(0, h - th + 1, size=n)
        ox = rng.integers(0, w - tw + 1, size=n)
        windows = np.lib.stride_tricks.sliding_window_view(arr, (th, tw), axis=(2, 3))  # (N, C, h', w', th, tw)
        return restore(windows[np.arange(n), :, oy, ox])  # advanced dims first: (N, C, th, tw)


class CenterCrop:
    """Crop the central ``size`` window (deterministic; useful for evaluation and TTA).

    Examples::

        >>> import dlcore.data.transforms as T
        >>> T.CenterCrop(2)(dlcore.arange(16.0).reshape(1, 4, 4)).tolist()
        [[[5.0, 6.0], [9.0, 10.0]]]
    """

    def __init__(self, size) -> None:
        self.size = _pair(size, "CenterCrop size")

    def __call__(self, x):
        arr, restore = to_batch(x, "CenterCrop")
        th, tw = self.size
        h, w = arr.shape[-2:]
        if h < th or w < tw:
            raise ValueError(f"CenterCrop: crop size {(th, tw)} is larger than the image {(h, w)}")
        top, left = int(round((h - th) / 2.0)), int(round((w - tw) / 2.0))
        return restore(arr[..., top : top + th, left : left + tw].copy())


def _sample(arr: np.ndarray, sx: np.ndarray, sy: np.ndarray, mode: str, fill) -> np.ndarray:
    """Sample arr (N, C, H, W) at source coords (N, H', W') -> (N, C, H', W')."""
    n, c, h, w = arr.shape
    nidx = np.arange(n)[:, None, None]
    fill = np.broadcast_to(np.asarray(fill, dtype=np.float64), (c,))[None, :, None, None]

    def gather(ix, iy):
        inside = (ix >= 0) & (ix < w) & (iy >= 0) & (iy < h)
        vals = arr[nidx, :, np.clip(iy, 0, h - 1), np.clip(ix, 0, w - 1)]  # (N, H', W', C)
        vals = np.moveaxis(vals, -1, 1).astype(np.float64)
        return np.where(inside[:, None], vals, fill)

    if mode == "nearest":
        return gather(np.floor(sx + 0.5).astype(np.int64), np.floor(sy + 0.5).astype(np.int64))
    x0, y0 = np.floor(sx).astype(np.int64), np.floor(sy).astype(np.int64)
    wx, wy = (sx - x0)[:, None], (sy - y0)[:, None]
    top = gather(x0, y0) * (1 - wx) + gather(x0 + 1, y0) * wx
    bottom = gather(x0, y0 + 1) * (1 - wx) + gather(x0 + 1, y0 + 1) * wx
    return top * (1 - wy) + bottom * wy


def rotate(x, angle, interpolation: str = "nearest", center=None, fill=0):
    """Rotate images counter-clockwise by ``angle`` degrees (a scalar, or one
    per image) about ``center`` (``(x, y)`` in pixels; default: the image centre).
    Pixels from outside the image get ``fill``.

    Examples::

        >>> import numpy as np
        >>> import dlcore.data.transforms as T
        >>> img = np.arange(9.0).reshape(1, 3, 3)
        >>> bool((T.rotate(img, 90) == np.rot90(img, axes=(1, 2))).all())
        True
    """
    if interpolation not in ("nearest", "bilinear"):
        raise ValueError(f"rotate: interpolation must be 'nearest' or 'bilinear', got {interpolation!r}")
    arr, restore = to_batch(x, "rotate")
    n, _, h, w = arr.shape
    theta = np.deg2rad(np.broadcast_to(np.asarray(angle, dtype=np.float64), (n,)))
    cx, cy = ((w - 1) / 2.0, (h - 1) / 2.0) if center is None else center
    cos, sin = np.cos(theta)[:, None, None], np.sin(theta)[:, None, None]
    dx = (np.arange(w) - cx)[None, None, :]
    dy = (np.arange(h) - cy)[None, :, None]
    # inverse map: output pixel (cx + dx, cy + dy) takes the input pixel that a visual
    # counter-clockwise turn (image y points down) carries onto it
    sx = cos * dx - sin * dy + cx
    sy = sin * dx + cos * dy + cy
    out = _sample(arr, sx, sy, interpolation, fill)
    if np.issubdtype(arr.dtype, np.integer):
        out = np.rint(out)
    return restore(out)


class RandomRotation(RandomTransform):
    r"""Rotate each image by an angle drawn uniformly from ``degrees``.

    Args:
        degrees (float or (min, max)): range of angles in degrees; a number
            ``d`` means ``(-d, d)``.
        interpolation (str): ``"nearest"`` (default, as torchvision) or ``"bilinear"``.
        center ((x, y), optional): rotation centre in pixels. Default: image centre.
        fill (float or sequence): value for pixels rotated in from outside.

    Examples::

        >>> import dlcore.data.transforms as T
        >>> tuple(T.RandomRotation(15)(dlcore.rand(4, 3, 16, 16)).shape)
        (4, 3, 16, 16)
    """

    def __init__(self, degrees, interpolation: str = "nearest", expand: bool = False, center=None,
                 fill=0, generator=None) -> None:  # fmt: skip
        super().__init__(generator)
        if isinstance(degrees, (int, float)):
            if degrees < 0:
                raise ValueError("If degrees is a single number, it must be positive.")
            degrees = (-float(degrees), float(degrees))
        elif len(degrees) != 2:
            raise ValueError("If degrees is a sequence, it must be of len 2.")
        if expand:
            raise NotImplementedError("RandomRotation: expand=True is not supported (batches keep one size)")
        self.degrees = (float(degrees[0]), float(degrees[1]))
        self.interpolation, self.center, self.fill = interpolation, center, fill

    def __call__(self, x):
        n = x.shape[0] if len(x.shape) == 4 else 1
        angles = self._rng().uniform(self.degrees[0], self.degrees[1], size=n)
        return rotate(x, angles, self.interpolation, self.center, self.fill)
