"""Training curves: ``plot_history`` (one facet per metric) and ``plot_loss_curve``."""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any, Sequence

import numpy as np
from matplotlib.figure import Figure

import dlcore  # noqa: F401  (doctest namespace)

from . import _style as S

__all__ = ["plot_history", "plot_loss_curve", "smooth"]

_MAX_WORDS = ("acc", "f1", "iou", "precision", "recall", "auc", "score")


def smooth(values: Any, weight: float) -> np.ndarray:
    r"""Exponential moving average with bias correction (TensorBoard's smoothing).

    :math:`s_t = w s_{t-1} + (1 - w) x_t`, divided by :math:`1 - w^t` so the
    first points are not pulled towards zero. NaNs are skipped (the average
    carries over them and they stay NaN in the output).

    Args:
        values: the raw series.
        weight (float): ``w`` in ``[0, 1)``; 0 returns the series unchanged.

    Examples::

        >>> smooth([1.0, 1.0, 4.0], 0.5).round(3).tolist()
        [1.0, 1.0, 2.714]
    """
    if not 0.0 <= weight < 1.0:
        raise ValueError(f"smooth: weight must be in [0, 1), got {weight}")
    x = S.series(values)
    out = np.full_like(x, np.nan)
    avg, n = 0.0, 0
    for i, v in enumerate(x):
        if np.isfinite(v):
            avg, n = weight * avg + (1.0 - weight) * v, n + 1
            out[i] = avg / (1.0 - weight**n)
    return out


def _higher_is_better(name: str) -> bool:
    return any(w in name.lower() for w in _MAX_WORDS)


def _split(history: Any) -> tuple[np.ndarray | None, dict[str, np.ndarray]]:
    """``(x values or None, {name: series})`` of a History, a mapping or a sequence."""
    if isinstance(history, Mapping):
        table = {str(k): S.series(v) for k, v in history.items() if str(k) != "epoch"}
        x = getattr(history, "epoch", None)
        if x is None and "epoch" in history:
            x = history["epoch"]
        # History.epoch is 0-based: the value logged at epoch e is after e + 1 epochs.
        xs = None if x is None else S.series(x) + (1 if hasattr(history, "epoch") else 0)
        return xs, table
    return None, {"loss": S.series(history)}


def _facets(table: dict[str, np.ndarray], metrics: Sequence[str] | None) -> list[tuple[str, list[str]]]:
    """Group ``x`` and ``val_x`` into one facet ``x``; loss first, lr last."""
    groups: dict[str, list[str]] = {}
    for name in table:
        base = name[4:] if name.startswith("val_") else name
        groups.setdefault(base, []).append(name)
    if metrics is not None:
        missing = [m for m in metrics if m not in groups]
        if missing:
            raise KeyError(f"plot_history: no series {missing}; available: {sorted(groups)}")
        return [(m, sorted(groups[m], key=len)) for m in metrics]
    out = []
    for base, names in groups.items():
        if base == "lr":
            v = table["lr"]
            if np.nanmax(v) == np.nanmin(v):  # a constant lr is a flat line: not worth a facet
                continue
        out.append((base, sorted(names, key=len)))  # "x" before "val_x"
    out.sort(key=lambda g: (g[0] != "loss", g[0] == "lr"))
    return out


def _best(x: np.ndarray, y: np.ndarray, name: str) -> tuple[int, str] | None:
    """Index of the best point (min, or max for accuracy-like names) and its label."""
    finite = np.isfinite(y)
    if not finite.any():
        return None
    if _higher_is_better(name):
        i = int(np.argmax(np.where(finite, y, -np.inf)))
        return i, f"max {S.fmt(y[i])}"
    i = int(np.argmin(np.where(finite, y, np.inf)))
    return i, f"min {S.fmt(y[i])}"


def plot_history(
    history: Any,
    path: str | os.PathLike | None = None,
    *,
    metrics: Sequence[str] | None = None,
    smoothing: float = 0.0,
    annotate: bool = True,
    logy: bool | None = None,
    max_cols: int = 3,
    title: str | None = "Training history",
    xlabel: str = "Epoch",
) -> Figure:
    r"""Training and validation curves, one facet per metric.

    ``loss`` and ``val_loss`` share a facet (training blue, validation
    orange in every facet), as do ``accuracy`` and ``val_accuracy`` and so
    on; a changing ``lr`` gets its own facet. Lines are labelled at their
    right ends instead of with a legend. The best point of each series (the
    minimum, or the maximum for accuracy-like names; raw, not smoothed) is
    marked with a dot and its value and epoch are added to the line's label.

    Args:
        history: a :class:`dlcore.train.History` (x = epochs completed), a
            mapping from name to per-epoch list (an optional ``"epoch"``
            entry gives the x values, else 1, 2, ...), or one list of losses.
        path (str, optional): save the figure there (.png or .svg).
        metrics (sequence of str, optional): facets to draw, by base name
            (``["loss", "accuracy"]``). Default: every series.
        smoothing (float): EMA weight in ``[0, 1)`` (see :func:`smooth`); when
            positive the raw curve is drawn faded under the smoothed one.
        annotate (bool): mark the best point of each series. Default: ``True``.
        logy (bool, optional): log y axis for the loss facet; ``None`` picks
            it when the losses span more than two orders of magnitude.
        max_cols (int): facets per row. Default: 3.
        title (str, optional): figure title.
        xlabel (str): x axis label. Default: ``"Epoch"``.

    Returns:
        matplotlib.figure.Figure: the figure. Raw lines have the gid
        ``"raw:<series>"``, smoothed ones ``"smooth:<series>"``.

    Examples::

        >>> fig = dlcore.viz.plot_history({"loss": [1.0, 0.5], "val_loss": [1.1, 0.7]})
        >>> [ax.get_title() for ax in fig.axes]
        ['loss']
    """
    xs, table = _split(history)
    if not table or all(len(v) == 0 for v in table.values()):
        raise ValueError("plot_history: history is empty")
    facets = _facets(table, metrics)
    rows, cols = S.grid_shape(len(facets), max_cols)
    fig = S.new_figure(4.2 * cols + 0.6, 3.2 * rows + (0.4 if title else 0))
    axes = fig.subplots(rows, cols, squeeze=False).ravel()
    for ax in axes[len(facets):]:
        ax.remove()
    for ax, (base, names) in zip(axes, facets):
        labels = []
        for name in names:
            y = table[name]
            x = xs[: len(y)] if xs is not None and len(xs) >= len(y) else np.arange(1, len(y) + 1, dtype=float)
            color = S.VAL_COLOR if name.startswith("val_") else S.TRAIN_COLOR
            if len(names) == 1 and base == "lr":
                color = "0.3"
            shown = y
            if smoothing > 0:
                ax.plot(x, y, color=color, alpha=0.25, linewidth=1.0, gid=f"raw:{name}")
                shown = smooth(y, smoothing)
                ax.plot(x, shown, color=color, linewidth=1.8, gid=f"smooth:{name}")
            else:
                ax.plot(x, y, color=color, linewidth=1.6, gid=f"raw:{name}")
            finite = np.flatnonzero(np.isfinite(shown))
            if not finite.size:
                continue
            label = "validation" if name.startswith("val_") else ("train" if len(names) > 1 else name)
            best = _best(x, y, name) if annotate and base != "lr" else None
            if best is not None:  # a dot on the raw value; value and epoch go in the end label
                i, text = best
                ax.plot([x[i]], [y[i]], "o", color=color, markersize=4.5, zorder=3, gid=f"best:{name}")
                label += f"\n{text} @ {x[i]:g}"
            labels.append((x[finite[-1]], shown[finite[-1]], label, color))
        values = np.concatenate([table[n][np.isfinite(table[n])] for n in names])
        if base == "loss" and logy is not None:
            use_log = logy
        else:
            wide = bool(values.size and values.min() > 0 and values.max() / values.min() > 100)
            use_log = base in ("loss", "lr") and wide
        if use_log:
            ax.set_yscale("log")
        ax.set_title(base)
        ax.set_xlabel(xlabel)
        ax.set_ylabel(base + (" (log scale)" if use_log else ""))
        S.clean_axes(ax, grid="y")
        S.end_labels(ax, labels, min_gap=0.16 if annotate else 0.07)
    if title:
        fig.suptitle(title)
    return S.save(fig, path)


def plot_loss_curve(
    history: Sequence[float] | Mapping[str, Sequence[float]],
    path: str | os.PathLike | None = None,
    *,
    title: str = "Training loss",
    xlabel: str = "Epoch",
    ylabel: str = "Loss",
    logy: bool | None = None,
) -> Figure:
    """Plot one or more loss curves against epoch (or step) on one axes.

    Args:
        history: a sequence of losses (floats or 0-d tensors), or a mapping
            from series name to sequence, e.g. ``{"train": [...], "val": [...]}``;
            every series is drawn on the same axes with a legend.
        path (str, optional): save the figure there (.png or .svg).
        title, xlabel, ylabel (str): text of the title and axis labels.
        logy (bool, optional): logarithmic y axis. ``None`` picks it when all
            values are positive and span more than two orders of magnitude.

    Returns:
        matplotlib.figure.Figure: the figure (displayed inline by Jupyter).

    Examples::

        >>> fig = dlcore.viz.plot_loss_curve([1.0, 0.5, 0.25])
        >>> fig.axes[0].get_xlabel()
        'Epoch'
    """
    if isinstance(history, Mapping):
        table = {str(k): S.series(v) for k, v in history.items()}
    else:
        table = {"loss": S.series(history)}
    if not table or all(len(v) == 0 for v in table.values()):
        raise ValueError("plot_loss_curve: history is empty")

    fig = S.new_figure(6.4, 4.0)
    ax = fig.add_subplot()
    for name, values in table.items():
        # Epochs count from 1: the first point is the loss after one epoch.
        ax.plot(np.arange(1, len(values) + 1), values, linewidth=1.5, label=name)
    finite = np.concatenate([v[np.isfinite(v)] for v in table.values()])
    if logy is None:
        logy = bool(finite.size and finite.min() > 0 and finite.max() / finite.min() > 100)
    if logy:
        ax.set_yscale("log")
    ax.set_title(title)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel + (" (log scale)" if logy else ""))
    S.clean_axes(ax, grid="both")
    if len(table) > 1:
        ax.legend(frameon=False)
    return S.save(fig, path)
