""""Colored digits": a harder MNIST generated on the fly, no download.

Digits 0-9 from a bundled 5x7 bitmap font are drawn at a random position,
size, aspect, slant and rotation, in a random ink colour, on textured paper
(a random tint with blotches, grain and sometimes ruled lines), as 3x64x64
float images in ``[0, 1]``.

Every random number is a counter-based hash of ``(seed, index, stream)``
(SplitMix64), so sample ``i`` is the same whichever batch, order or thread
produces it, and a whole batch is rendered with array operations: no Python
loop over samples or pixels.
"""

from __future__ import annotations

import numpy as np

import dlcore
from dlcore import Tensor

__all__ = ["FONT_5X7", "ColoredDigits", "colored_digits", "render_digits"]

_GLYPHS = """
.###. ..#.. .###. ##### ...#. ##### ..##. ##### .###. .###.
#...# .##.. #...# ...#. ..##. #.... .#... ....# #...# #...#
#..## ..#.. ....# ..#.. .#.#. ####. #.... ...#. #...# #...#
#.#.# ..#.. ...#. ...#. #..#. ....# ####. ..#.. .###. .####
##..# ..#.. ..#.. ....# ##### ....# #...# .#... #...# ....#
#...# ..#.. .#... #...# ...#. #...# #...# .#... #...# ...#.
.###. .###. ##### .###. ...#. .###. .###. .#... .###. .##..
"""
#: The bundled font: ``FONT_5X7[d]`` is digit ``d`` as a (7, 5) float32 bitmap.
FONT_5X7 = np.array(
    [[[c == "#" for c in row.split()[d]] for row in _GLYPHS.strip().splitlines()] for d in range(10)],
    dtype=np.float32,
)  # (10, 7, 5)
_PADDED = np.pad(FONT_5X7, ((0, 0), (1, 1), (1, 1)))  # (10, 9, 7): zero border for sampling

# parameter streams of the hash (one per random quantity)
(_S_LABEL, _S_SIZE, _S_ASPECT, _S_ROT, _S_SHEAR, _S_X, _S_Y, _S_INK, _S_PAPER,
 _S_INVERT, _S_BLOTCH, _S_GRAIN, _S_LINES, _S_LINE_GAP, _S_LINE_PHASE, _S_ALPHA) = range(16)  # fmt: skip


def _splitmix64(z: np.ndarray) -> np.ndarray:
    z = z + np.uint64(0x9E3779B97F4A7C15)
    z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return z ^ (z >> np.uint64(31))


def _uniform(seed: int, index: np.ndarray, stream: int, k: int = 1) -> np.ndarray:
    """(N, k) uniforms in [0, 1), a pure function of (seed, index, stream, 0..k-1)."""
    with np.errstate(over="ignore"):
        key = _splitmix64(np.uint64(seed % 2**64) ^ np.uint64(0xD1B54A32D192ED03))
        key = _splitmix64(key + index.astype(np.uint64)[:, None] * np.uint64(0x9E3779B97F4A7C15))
        key = _splitmix64(key + np.uint64(stream) * np.uint64(0xBF58476D1CE4E5B9) + np.arange(k, dtype=np.uint64)[None, :])
    return (key >> np.uint64(11)).astype(np.float64) * (1.0 / 2**53)


def _smoothstep(lo: float, hi: float, x: np.ndarray) -> np.ndarray:
    t = np.clip((x - lo) / (hi - lo), 0.0, 1.0)
    return t * t * (3.0 - 2.0 * t)


def render_digits(
    digits: np.ndarray,
    height: np.ndarray,
    center: np.ndarray,
    angle: np.ndarray | None = None,
    aspect: np.ndarray | None = None,
    shear: np.ndarray | None = None,
    size: int = 64,
) -> np.ndarray:
    """Coverage masks ``(N, size, size)`` in ``[0, 1]`` of the font's digits.

    Args:
        digits: ``(N,)`` ints in 0..9.
        height: ``(N,)`` glyph heights in pixels.
        center: ``(N, 2)`` glyph centres ``(x, y)`` in pixels.
        angle: ``(N,)`` rotations in radians (counter-clockwise). Default 0.
        aspect: ``(N,)`` width multipliers of the 5:7 glyph. Default 1.
        shear: ``(N,)`` horizontal slant (italic) factors. Default 0.

    Examples::

        >>> m = dlcore.data.render_digits(np.array([1]), np.array([56.0]), np.array([[32.0, 32.0]]))
        >>> m.shape, bool(m[0, 32, 32] > 0.9), bool(m[0, 2, 2] == 0)
        ((1, 64, 64), True, True)
    """
    digits = np.asarray(digits, dtype=np.int64)
    n = len(digits)
    angle = np.zeros(n) if angle is None else np.asarray(angle, dtype=np.float64)
    aspect = np.ones(n) if aspect is None else np.asarray(aspect, dtype=np.float64)
    shear = np.zeros(n) if shear is None else np.asarray(shear, dtype=np.float64)
    height = np.asarray(height, dtype=np.float64)
    center = np.asarray(center, dtype=np.float64)
    pix = np.arange(size) + 0.5
    dx = pix[None, None, :] - center[:, 0, None, None]  # (N, 1, S)
    dy = pix[None, :, None] - center[:, 1, None, None]  # (N, S, 1)
    c, s = np.cos(angle)[:, None, None], np.sin(angle)[:, None, None]
    u = c * dx - s * dy  # inverse rotation (image y points down)   (N, S, S)
    v = s * dx + c * dy
    u = u + shear[:, None, None] * v
    width = height * aspect * 5.0 / 7.0
    gu = u / width[:, None, None] * 5.0 + 2.5  # glyph column coordinate in [0, 5]
    gv = v / height[:, None, None] * 7.0 + 3.5  # glyph row coordinate in [0, 7]
    # bilinear sample of the zero-padded glyph at pixel-centre coordinates
    fx = np.clip(gu - 0.5 + 1.0, 0.0, 6.0 - 1e-9)
    fy = np.clip(gv - 0.5 + 1.0, 0.0, 8.0 - 1e-9)
    x0, y0 = np.floor(fx).astype(np.int64), np.floor(fy).astype(np.int64)
    wx, wy = fx - x0, fy - y0
    d = digits[:, None, None]
    g = _PADDED
    val = ((1 - wy) * ((1 - wx) * g[d, y0, x0] + wx * g[d, y0, x0 + 1])
           + wy * ((1 - wx) * g[d, y0 + 1, x0] + wx * g[d, y0 + 1, x0 + 1]))  # fmt: skip
    return _smoothstep(0.2, 0.5, val)  # round, anti-aliased strokes


def _luminance(rgb: np.ndarray) -> np.ndarray:
    return rgb @ np.array([0.299, 0.587, 0.114])


def _value_noise(u: np.ndarray, grid: int, size: int) -> np.ndarray:
    """(N, grid*grid) uniforms -> (N, size, size) bilinearly interpolated noise."""
    g = u.reshape(-1, grid, grid)
    t = np.linspace(0, grid - 1, size)
    i0 = np.minimum(np.floor(t).astype(np.int64), grid - 2)
    w = t - i0
    rows = g[:, i0, :] * (1 - w)[None, :, None] + g[:, i0 + 1, :] * w[None, :, None]  # (N, S, grid)
    return rows[:, :, i0] * (1 - w)[None, None, :] + rows[:, :, i0 + 1] * w[None, None, :]


def _generate(seed: int, index: np.ndarray, size: int = 64) -> tuple[np.ndarray, np.ndarray]:
    """Images (N, 3, size, size) float32 and labels (N,) int64 for dataset indices."""
    index = np.asarray(index, dtype=np.int64)
    n = len(index)
    U = lambda stream, k=1: _uniform(seed, index, stream, k)  # noqa: E731
    labels = np.minimum((U(_S_LABEL)[:, 0] * 10).astype(np.int64), 9)
    height = size * (0.38 + 0.45 * U(_S_SIZE)[:, 0])  # 24..53 px at 64
    aspect = 0.8 + 0.45 * U(_S_ASPECT)[:, 0]
    angle = np.deg2rad(-18 + 36 * U(_S_ROT)[:, 0])
    shear = -0.25 + 0.5 * U(_S_SHEAR)[:, 0]
    half_w = 0.5 * height * aspect * 5 / 7 + 0.15 * height  # room for slant / rotation
    half_h = 0.5 * height
    cx = half_w + (size - 2 * half_w) * U(_S_X)[:, 0]
    cy = half_h + (size - 2 * half_h) * U(_S_Y)[:, 0]
    mask = render_digits(labels, height, np.stack([cx, cy], 1), angle, aspect, shear, size)
    mask = mask * (0.8 + 0.2 * U(_S_ALPHA)[:, 0])[:, None, None]

    # paper: light tint (dark for ~20% "inverted" samples); ink: saturated colour with contrast
    paper = 0.75 + 0.25 * U(_S_PAPER, 3)
    ink = U(_S_INK, 3)
    invert = U(_S_INVERT)[:, 0] < 0.2
    paper = np.where(invert[:, None], 1.0 - paper, paper)
    lp, li = _luminance(paper), _luminance(ink)
    # push the ink's luminance at least 0.4 away from the paper's, keeping its hue
    dark_target = np.minimum(li, lp - 0.4)
    light_target = np.maximum(li, lp + 0.4)
    target = np.where(invert, light_target, dark_target)
    ink = np.where(invert[:, None], 1 - (1 - ink) * ((1 - target) / np.maximum(1 - li, 1e-6))[:, None],
                   ink * (target / np.maximum(li, 1e-6))[:, None])  # fmt: skip
    ink = np.clip(ink, 0.0, 1.0)

    blotch = _value_noise(U(_S_BLOTCH, 36), 6, size)  # (N, S, S) in [0, 1]
    grain = U(_S_GRAIN, 3 * size * size).reshape(n, 3, size, size)
    shade = 1.0 + 0.22 * (blotch - 0.5)  # (N, S, S)
    img = paper[:, :, None, None] * shade[:, None] + 0.08 * (grain - 0.5)
    # ruled lines on about half of the sheets
    ruled = U(_S_LINES)[:, 0] < 0.5
    gap = 7.0 + 6.0 * U(_S_LINE_GAP)[:, 0]
    phase = gap * U(_S_LINE_PHASE)[:, 0]
    rows = np.arange(size)[None, :] + phase[:, None]
    on_line = (np.mod(rows, gap[:, None]) < 1.0) & ruled[:, None]  # (N, S)
    line_rgb = np.array([0.35, 0.45, 0.85])
    img = np.where(on_line[:, None, :, None], 0.6 * img + 0.4 * line_rgb[None, :, None, None], img)
    a = mask[:, None]  # (N, 1, S, S)
    img = img * (1 - a) + ink[:, :, None, None] * a
    return np.clip(img, 0.0, 1.0).astype(np.float32), labels


class ColoredDigits:
    r"""A map-style dataset of ``n`` "colored digits" (see module docstring),
    rendered on demand; a batch is rendered in one vectorised pass.

    Args:
        n (int): number of samples. Default: 10000.
        seed (int): dataset seed; use different seeds for train and test sets.
        transform (callable, optional): applied to the image batch
            ``(N, 3, H, W)`` (e.g. :mod:`dlcore.data.transforms`).
        size (int): image side. Default: 64.

    Shape:
        - image: :math:`(3, \text{size}, \text{size})` float32 in :math:`[0, 1]`
        - label: int64 in 0..9

    Examples::

        >>> ds = dlcore.data.ColoredDigits(n=100, seed=0)
        >>> x, y = ds[3]
        >>> tuple(x.shape), 0 <= y.item() <= 9
        ((3, 64, 64), True)
        >>> xb, yb = next(iter(dlcore.data.DataLoader(ds, batch_size=16)))
        >>> tuple(xb.shape), bool((xb[3] == x).all())
        ((16, 3, 64, 64), True)
    """

    def __init__(self, n: int = 10000, seed: int = 0, transform=None, size: int = 64) -> None:
        if n < 0 or size < 8:
            raise ValueError(f"ColoredDigits: need n >= 0 and size >= 8, got n={n}, size={size}")
        self.n, self.seed, self.transform, self.size = n, seed, transform, size

    def __len__(self) -> int:
        return self.n

    def _check(self, idx: np.ndarray) -> np.ndarray:
        idx = np.asarray(idx, dtype=np.int64).reshape(-1)
        if idx.size and (idx.min() < -self.n or idx.max() >= self.n):
            raise IndexError(f"ColoredDigits: index out of range for a dataset of {self.n} samples")
        return idx % max(self.n, 1)

    def _get_batch(self, indices) -> list[Tensor]:
        images, labels = _generate(self.seed, self._check(indices), self.size)
        x = dlcore.from_numpy(images)
        if self.transform is not None:
            x = self.transform(x)
        return [x, dlcore.from_numpy(labels)]

    def __getitem__(self, index: int):
        x, y = self._get_batch([index])
        return x[0], y[0]


def colored_digits(n: int = 1000, seed: int = 0, size: int = 64) -> tuple[Tensor, Tensor]:
    """All ``n`` samples of ``ColoredDigits(n, seed)`` at once: ``(X, y)`` with
    ``X`` float32 ``(n, 3, size, size)`` and ``y`` int64 ``(n,)``.

    Examples::

        >>> X, y = dlcore.data.colored_digits(n=8, seed=1)
        >>> tuple(X.shape), X.dtype == dlcore.float32
        ((8, 3, 64, 64), True)
    """
    if n < 0:
        raise ValueError(f"colored_digits: n must be >= 0, got {n}")
    chunks = [_generate(seed, np.arange(s, min(s + 512, n)), size) for s in range(0, n, 512)]
    if not chunks:
        return dlcore.zeros(0, 3, size, size), dlcore.zeros(0, dtype=dlcore.int64)
    x = np.concatenate([c[0] for c in chunks])
    y = np.concatenate([c[1] for c in chunks])
    return dlcore.from_numpy(x), dlcore.from_numpy(y)
