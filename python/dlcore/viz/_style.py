"""Shared plumbing and styling for every ``dlcore.viz`` plot.

Figures are built with matplotlib's object API (``matplotlib.figure.Figure``),
never pyplot, so plotting in a loop does not accumulate open pyplot figures
and rendering works on headless machines. The conventions every plot follows:

* colour means something: ``CATEGORICAL`` (tab10) tells series / classes
  apart, ``SEQUENTIAL`` (viridis) encodes magnitude, ``DIVERGING`` (RdBu_r,
  centred on zero) encodes signed values such as weights;
* bars start at zero; categories are sorted; every axis has a label (with
  units where there are units);
* no chart-junk: no top/right spines, a faint grid on the value axis only.
"""

from __future__ import annotations

import contextlib
import os
import sys
from typing import Any, Iterator

import matplotlib
import numpy as np
from matplotlib.figure import Figure

import dlcore

# Headless by default (must happen before anything imports pyplot; the imports
# above do not). A session that already imported pyplot chose its own backend,
# e.g. Jupyter's inline one, and switching it would break that session.
if "matplotlib.pyplot" not in sys.modules:
    matplotlib.use("Agg")

CATEGORICAL = "tab10"
SEQUENTIAL = "viridis"
DIVERGING = "RdBu_r"
#: Colours of the training and validation series, the same in every plot.
TRAIN_COLOR, VAL_COLOR = "C0", "C1"
FAINT = "0.55"  # grey for secondary ink: reference lines, annotations


def to_numpy(a: Any) -> np.ndarray:
    """A dlcore / torch tensor, array or nested list as a NumPy array."""
    if isinstance(a, dlcore.Tensor):
        return a.detach().numpy()
    if hasattr(a, "detach"):  # torch.Tensor
        return a.detach().cpu().numpy()
    return np.asarray(a)


def series(values: Any) -> np.ndarray:
    """A 1-D float64 array from floats, 0-d tensors or an array."""
    if isinstance(values, (list, tuple)):  # a list of 0-d tensors is common
        return np.array([float(to_numpy(v)) for v in values], dtype=np.float64)
    return to_numpy(values).astype(np.float64).reshape(-1)


def new_figure(width: float, height: float) -> Figure:
    return Figure(figsize=(width, height), layout="constrained")


def save(fig: Figure, path: str | os.PathLike | None, dpi: int = 150) -> Figure:
    """Write ``fig`` to ``path`` (format from the extension: .png, .svg, .pdf;
    PNG without one); parent folders are created. Returns ``fig``."""
    if path is not None:
        parent = os.path.dirname(os.fspath(path))
        if parent:
            os.makedirs(parent, exist_ok=True)
        fig.savefig(path, dpi=dpi)
    return fig


def clean_axes(ax, grid: str | None = "y") -> None:
    """Drop the top/right spines; a faint grid on ``grid`` ('x', 'y', 'both' or None)."""
    ax.spines["top"].set_visible(False)
    ax.spines["right"].set_visible(False)
    if grid:
        ax.grid(True, axis=grid, alpha=0.3, linewidth=0.8)
        ax.set_axisbelow(True)


def class_colors(n: int) -> list:
    """``n`` categorical colours (tab10, tab20, then evenly spaced viridis)."""
    name = "tab10" if n <= 10 else "tab20" if n <= 20 else SEQUENTIAL
    cmap = matplotlib.colormaps[name]
    if n > 20:
        return [cmap(i / max(n - 1, 1)) for i in range(n)]
    return [cmap(i) for i in range(n)]


def grid_shape(n: int, max_cols: int) -> tuple[int, int]:
    cols = max(1, min(n, max_cols))
    return (n + cols - 1) // cols, cols


def image_grid(fig: Figure, n: int, max_cols: int) -> list:
    """``n`` image axes in a grid (ticks off); unused cells are removed."""
    rows, cols = grid_shape(n, max_cols)
    axes = fig.subplots(rows, cols, squeeze=False).ravel()
    for ax in axes[n:]:
        ax.remove()
    for ax in axes[:n]:
        ax.set_xticks([])
        ax.set_yticks([])
    return list(axes[:n])


def model_dtype(model: Any):
    params = list(model.parameters()) if hasattr(model, "parameters") else []
    return params[0].dtype if params else dlcore.float32


def as_input(x: Any, dtype) -> dlcore.Tensor:
    """``x`` as a dlcore tensor; arrays get the model's dtype."""
    if isinstance(x, dlcore.Tensor):
        return x
    return dlcore.tensor(np.ascontiguousarray(to_numpy(x)), dtype=dtype)


@contextlib.contextmanager
def eval_mode(model: Any) -> Iterator[None]:
    """Evaluate ``model`` in ``eval()`` mode; restore its mode afterwards."""
    was_training = getattr(model, "training", None)
    if was_training is not None:
        model.eval()
    try:
        yield
    finally:
        if was_training is not None:
            model.train(was_training)


@contextlib.contextmanager
def capture(module: Any, which: str = "output") -> Iterator[list]:
    """Record what ``module`` sees: a list that collects its output (or its
    first positional input, ``which="input"``) on every call, via a forward
    hook that is removed on exit."""
    if which not in ("input", "output"):
        raise ValueError(f"capture: which must be 'input' or 'output', got {which!r}")
    if not callable(getattr(module, "register_forward_hook", None)):
        raise TypeError(f"{type(module).__name__} is not a Module with register_forward_hook()")
    seen: list = []

    def hook(mod, args, out):
        seen.append(args[0] if which == "input" else out)

    handle = module.register_forward_hook(hook)
    try:
        yield seen
    finally:
        handle.remove()


def end_labels(ax, items: list[tuple[float, float, str, Any]], min_gap: float = 0.07) -> None:
    """Label lines at their right ends instead of a legend.

    ``items`` holds ``(x, y, text, color)`` of each line's last point; labels
    are nudged apart vertically (``min_gap`` in axes fractions) so they never
    overlap, and drawn just right of the axes.
    """
    ax.autoscale_view()
    to_axes = ax.transData + ax.transAxes.inverted()
    placed = []
    for x, y, text, color in items:
        if not np.isfinite(y):
            continue
        placed.append([float(to_axes.transform((x, y))[1]), text, color])
    placed.sort(key=lambda p: p[0])
    for i in range(1, len(placed)):  # push upwards, then shift the block back into range
        placed[i][0] = max(placed[i][0], placed[i - 1][0] + min_gap)
    overflow = placed[-1][0] - 1.0 if placed else 0.0
    for p in placed:
        p[0] -= max(overflow, 0.0)
    for y, text, color in placed:
        ax.text(1.02, y, text, transform=ax.transAxes, color=color, va="center",
                ha="left", fontsize="small", clip_on=False)


def fmt(v: float) -> str:
    """Compact number for annotations: 3 significant digits."""
    return f"{v:.3g}"
