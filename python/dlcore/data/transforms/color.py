"""Photometric batch transforms: ``ColorJitter`` and ``RandomErasing``.

Images are float in :math:`[0, 1]`. The ``adjust_*`` functions take one
factor per image and follow torchvision's formulas (blend with black, the
mean grey level, or the per-pixel grey image; hue via HSV), vectorised over
the batch.
"""

from __future__ import annotations

import math

import numpy as np

import dlcore  # noqa: F401  (doctest namespace)

from ._base import RandomTransform, to_batch

__all__ = [
    "ColorJitter",
    "RandomErasing",
    "adjust_brightness",
    "adjust_contrast",
    "adjust_saturation",
    "adjust_hue",
    "rgb_to_grayscale",
]


def _per_image(f, n: int) -> np.ndarray:
    return np.broadcast_to(np.asarray(f, dtype=np.float64), (n,))[:, None, None, None]


def rgb_to_grayscale(arr: np.ndarray) -> np.ndarray:
    """(N, 3, H, W) -> (N, 1, H, W) with ITU-R 601 luma weights (as torchvision);
    one-channel input is returned as is."""
    if arr.shape[1] == 1:
        return arr
    if arr.shape[1] != 3:
        raise ValueError(f"expected 1 or 3 channels, got {arr.shape[1]}")
    r, g, b = arr[:, 0:1], arr[:, 1:2], arr[:, 2:3]
    return 0.2989 * r + 0.587 * g + 0.114 * b


def _blend(a, b, ratio):
    return np.clip(ratio * a + (1.0 - ratio) * b, 0.0, 1.0)


def adjust_brightness(arr: np.ndarray, factor) -> np.ndarray:
    """Multiply by ``factor`` (per image), clamp to [0, 1]."""
    return _blend(arr, 0.0, _per_image(factor, len(arr)))


def adjust_contrast(arr: np.ndarray, factor) -> np.ndarray:
    """Blend with each image's mean grey level."""
    mean = rgb_to_grayscale(arr).mean(axis=(1, 2, 3), keepdims=True)
    return _blend(arr, mean, _per_image(factor, len(arr)))


def adjust_saturation(arr: np.ndarray, factor) -> np.ndarray:
    """Blend with the per-pixel grey image (0 = greyscale, 1 = unchanged)."""
    if arr.shape[1] == 1:
        return arr
    return _blend(arr, rgb_to_grayscale(arr), _per_image(factor, len(arr)))


def _rgb_to_hsv(arr: np.ndarray) -> np.ndarray:
    r, g, b = arr[:, 0], arr[:, 1], arr[:, 2]
    maxc, minc = arr.max(axis=1), arr.min(axis=1)
    delta = maxc - minc
    s = np.where(maxc > 0, delta / np.where(maxc > 0, maxc, 1.0), 0.0)
    d = np.where(delta > 0, delta, 1.0)
    rc, gc, bc = (maxc - r) / d, (maxc - g) / d, (maxc - b) / d
    h = np.where(maxc == r, bc - gc, np.where(maxc == g, 2.0 + rc - bc, 4.0 + gc - rc))
    h = np.where(delta > 0, (h / 6.0) % 1.0, 0.0)
    return np.stack([h, s, maxc], axis=1)


def _hsv_to_rgb(hsv: np.ndarray) -> np.ndarray:
    h, s, v = hsv[:, 0], hsv[:, 1], hsv[:, 2]
    i = np.floor(h * 6.0)
    f = h * 6.0 - i
    i = i.astype(np.int64) % 6
    p, q, t = v * (1 - s), v * (1 - s * f), v * (1 - s * (1 - f))
    choices = [(v, t, p), (q, v, p), (p, v, t), (p, q, v), (t, p, v), (v, p, q)]
    out = np.zeros(hsv.shape)
    for ch in range(3):
        out[:, ch] = np.choose(i, [c[ch] for c in choices])
    return out


def adjust_hue(arr: np.ndarray, shift) -> np.ndarray:
    """Rotate the hue by ``shift`` (per image, in turns, within [-0.5, 0.5])."""
    if arr.shape[1] == 1:
        return arr
    hsv = _rgb_to_hsv(arr)
    hsv[:, 0] = (hsv[:, 0] + np.broadcast_to(np.asarray(shift, dtype=np.float64), (len(arr),))[:, None, None]) % 1.0
    return _hsv_to_rgb(hsv)


def _range(value, name: str, center: float = 1.0, bound=(0.0, math.inf), clip_first: bool = True):
    if value is None:
        return None
    if isinstance(value, (int, float)):
        if value < 0:
            raise ValueError(f"If {name} is a single number, it must be non negative.")
        value = (center - float(value), center + float(value))
        if clip_first:
            value = (max(value[0], 0.0), value[1])
    elif len(value) != 2:
        raise ValueError(f"{name} should be a single number or a list/tuple with length 2.")
    lo, hi = float(value[0]), float(value[1])
    if not bound[0] <= lo <= hi <= bound[1]:
        raise ValueError(f"{name} values should be between {bound}, but got {(lo, hi)}.")
    return None if lo == hi == center else (lo, hi)


class ColorJitter(RandomTransform):
    r"""Randomly change brightness, contrast, saturation and hue, per image.

    Each factor is drawn per image: brightness/contrast/saturation from
    :math:`[\max(0, 1-v), 1+v]` (or a given ``(min, max)``), hue shift from
    :math:`[-v, v]` with :math:`v \le 0.5`. The four adjustments are applied
    in a random order, drawn once per batch.

    Args:
        brightness, contrast, saturation (float or (min, max)): jitter amounts.
        hue (float or (min, max)): hue jitter, within ``[-0.5, 0.5]``.

    Examples::

        >>> import dlcore.data.transforms as T
        >>> x = dlcore.rand(4, 3, 8, 8)
        >>> y = T.ColorJitter(0.4, 0.4, 0.4, 0.1)(x)
        >>> tuple(y.shape), 0.0 <= y.min().item() and y.max().item() <= 1.0
        ((4, 3, 8, 8), True)
    """

    def __init__(self, brightness=0, contrast=0, saturation=0, hue=0, generator=None) -> None:
        super().__init__(generator)
        self.brightness = _range(brightness, "brightness")
        self.contrast = _range(contrast, "contrast")
        self.saturation = _range(saturation, "saturation")
        self.hue = _range(hue, "hue", center=0.0, bound=(-0.5, 0.5), clip_first=False)

    def __call__(self, x):
        arr, restore = to_batch(x, "ColorJitter")
        if not np.issubdtype(arr.dtype, np.floating):
            raise TypeError(f"ColorJitter: expected float images in [0, 1], got {arr.dtype}")
        rng = self._rng()
        n = len(arr)
        ops = [
            (adjust_brightness, self.brightness),
            (adjust_contrast, self.contrast),
            (adjust_saturation, self.saturation),
            (adjust_hue, self.hue),
        ]
        out = arr.astype(np.float64)
        for k in rng.permutation(4):
            fn, rg = ops[k]
            if rg is not None:
                out = fn(out, rng.uniform(rg[0], rg[1], size=n))
        return restore(out)


class RandomErasing(RandomTransform):
    r"""Erase a random rectangle in each image with probability ``p``
    (Zhong et al., "Random Erasing Data Augmentation", 2017).

    The rectangle's area is a fraction in ``scale`` of the image and its
    aspect ratio is log-uniform in ``ratio``; as in torchvision, up to 10
    candidates are drawn and the first that fits is used (none: unchanged).

    Args:
        p (float): probability per image. Default: 0.5.
        scale ((min, max)): area fraction range. Default: ``(0.02, 0.33)``.
        ratio ((min, max)): aspect ratio range. Default: ``(0.3, 3.3)``.
        value (float, sequence or "random"): fill: a constant, one per
            channel, or standard-normal noise per pixel. Default: 0.

    Examples::

        >>> import dlcore.data.transforms as T
        >>> y = T.RandomErasing(p=1.0, value=0.0)(dlcore.ones(4, 3, 16, 16))
        >>> bool((y.numpy() == 0).any(axis=(1, 2, 3)).all())
        True
    """

    def __init__(self, p: float = 0.5, scale=(0.02, 0.33), ratio=(0.3, 3.3), value=0, inplace: bool = False,
                 generator=None) -> None:  # fmt: skip
        super().__init__(generator)
        if not 0 <= p <= 1:
            raise ValueError("Random erasing probability should be between 0 and 1")
        if scale[0] > scale[1] or ratio[0] > ratio[1]:
            raise ValueError("Scale and ratio should be of kind (min, max)")
        if scale[0] < 0 or scale[1] > 1:
            raise ValueError("Scale should be between 0 and 1")
        if isinstance(value, str) and value != "random":
            raise ValueError(f"RandomErasing: value must be a number, a sequence or 'random', got {value!r}")
        self.p, self.scale, self.ratio, self.value, self.inplace = p, tuple(scale), tuple(ratio), value, inplace

    def __call__(self, x):
        arr, restore = to_batch(x, "RandomErasing")
        n, c, h, w = arr.shape
        rng = self._rng()
        tries = 10
        area = h * w * rng.uniform(self.scale[0], self.scale[1], size=(n, tries))
        log_r = np.log(self.ratio)
        aspect = np.exp(rng.uniform(log_r[0], log_r[1], size=(n, tries)))
        eh = np.rint(np.sqrt(area * aspect)).astype(np.int64)
        ew = np.rint(np.sqrt(area / aspect)).astype(np.int64)
        fits = (eh < h) & (ew < w) & (eh > 0) & (ew > 0)
        first = np.argmax(fits, axis=1)  # first fitting candidate per image
        rows = np.arange(n)
        ok = fits[rows, first] & (rng.random(n) < self.p)
        eh, ew = eh[rows, first], ew[rows, first]
        top = (rng.random(n) * (h - eh + 1)).astype(np.int64)
        left = (rng.random(n) * (w - ew + 1)).astype(np.int64)
        yy, xx = np.arange(h)[None, :, None], np.arange(w)[None, None, :]
        box = ((yy >= top[:, None, None]) & (yy < (top + eh)[:, None, None])
               & (xx >= left[:, None, None]) & (xx < (left + ew)[:, None, None]) & ok[:, None, None])  # fmt: skip
        if isinstance(self.value, str):
            fill = rng.standard_normal(arr.shape)
        else:
            v = np.asarray(self.value, dtype=np.float64).reshape(-1)
            if len(v) not in (1, c):
                raise ValueError(f"RandomErasing: {len(v)} fill values for {c} channels")
            fill = v[None, :, None, None] if len(v) == c else v[0]
        return restore(np.where(box[:, None], fill, arr))
