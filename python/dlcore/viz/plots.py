"""Training-curve and decision-boundary plots.

Figures are built with matplotlib's object API (``matplotlib.figure.Figure``),
not pyplot, so plotting in a loop never accumulates open pyplot figures, and
rendering works on headless machines (Agg backend).
"""

from __future__ import annotations

import os
import sys
from typing import Any, Mapping, Sequence

import matplotlib
import numpy as np
from matplotlib.colors import ListedColormap, to_rgba
from matplotlib.figure import Figure

import dlcore

# Headless by default (must happen before anything imports pyplot; the imports
# above do not). A session that already imported pyplot chose its own backend,
# e.g. Jupyter's inline one, and switching it would break that session.
if "matplotlib.pyplot" not in sys.modules:
    matplotlib.use("Agg")

__all__ = ["plot_loss_curve", "plot_decision_boundary"]


def _to_numpy(a: Any) -> np.ndarray:
    if isinstance(a, dlcore.Tensor):
        return a.detach().numpy()
    if hasattr(a, "detach"):  # torch.Tensor
        return a.detach().cpu().numpy()
    return np.asarray(a)


def _series(values: Any) -> np.ndarray:
    # A list of 0-d tensors is common (losses appended without .item()).
    if isinstance(values, (list, tuple)):
        return np.array([float(_to_numpy(v)) for v in values], dtype=np.float64)
    return _to_numpy(values).astype(np.float64).reshape(-1)


def _save(fig: Figure, path: str | os.PathLike | None) -> None:
    if path is None:
        return
    parent = os.path.dirname(os.fspath(path))
    if parent:
        os.makedirs(parent, exist_ok=True)
    fig.savefig(path, dpi=150)


def _clean_axes(ax) -> None:
    ax.spines["top"].set_visible(False)
    ax.spines["right"].set_visible(False)


def plot_loss_curve(
    history: Sequence[float] | Mapping[str, Sequence[float]],
    path: str | os.PathLike | None = None,
    *,
    title: str = "Training loss",
    xlabel: str = "Epoch",
    ylabel: str = "Loss",
    logy: bool | None = None,
) -> Figure:
    """Plot one or more loss curves against epoch (or step).

    Args:
        history: a sequence of losses (floats or 0-d tensors), or a mapping
            from series name to sequence, e.g. ``{"train": [...], "val": [...]}``;
            every series is drawn on the same axes with a legend.
        path (str, optional): save the figure there as PNG (parent folders are
            created).
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
        series = {str(k): _series(v) for k, v in history.items()}
    else:
        series = {"loss": _series(history)}
    if not series or all(len(v) == 0 for v in series.values()):
        raise ValueError("plot_loss_curve: history is empty")

    fig = Figure(figsize=(6.4, 4.0), layout="constrained")
    ax = fig.add_subplot()
    for name, values in series.items():
        # Epochs count from 1: the first point is the loss after one epoch.
        ax.plot(np.arange(1, len(values) + 1), values, linewidth=1.5, label=name)

    finite = np.concatenate([v[np.isfinite(v)] for v in series.values()])
    if logy is None:
        positive = finite.size > 0 and finite.min() > 0
        logy = bool(positive and finite.max() / finite.min() > 100)
    if logy:
        ax.set_yscale("log")
    ax.set_title(title)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel + (" (log scale)" if logy else ""))
    ax.grid(True, which="major", alpha=0.3)
    _clean_axes(ax)
    if len(series) > 1:
        ax.legend(frameon=False)
    _save(fig, path)
    return fig


def _class_colors(n: int) -> list:
    name = "tab10" if n <= 10 else "tab20" if n <= 20 else "viridis"
    cmap = matplotlib.colormaps[name]
    if n > 20:
        return [cmap(i / max(n - 1, 1)) for i in range(n)]
    return [cmap(i) for i in range(n)]


def _predict(model, grid: np.ndarray, dtype, chunk: int = 65536) -> np.ndarray:
    preds = []
    with dlcore.no_grad():
        for start in range(0, len(grid), chunk):
            out = model(dlcore.tensor(grid[start : start + chunk], dtype=dtype))
            if out.ndim == 1 or out.shape[1] == 1:
                # One output unit: a binary classifier on logits, threshold 0.
                preds.append((out.reshape(-1).numpy() > 0).astype(np.int64))
            else:
                preds.append(out.argmax(1).numpy().astype(np.int64))
    return np.concatenate(preds)


def plot_decision_boundary(
    model,
    X: Any,
    y: Any,
    path: str | os.PathLike | None = None,
    *,
    resolution: int = 300,
    title: str = "Decision boundary",
    class_names: Sequence[str] | None = None,
) -> Figure:
    r"""Shade the plane by the class ``model`` predicts and overlay the data.

    The model is evaluated (in ``eval()`` mode, without gradients) on a
    ``resolution x resolution`` grid covering the data plus a 10 % margin.
    The title reports the model's accuracy on ``(X, y)``.

    Args:
        model (callable): maps an ``(M, 2)`` float tensor to ``(M, C)`` logits
            (argmax is the class) or ``(M, 1)`` / ``(M,)`` logits of a binary
            classifier (positive means class 1).
        X: points of shape ``(N, 2)`` (dlcore/torch tensor or array).
        y: integer labels of shape ``(N,)``.
        path (str, optional): save the figure there as PNG.
        resolution (int): grid points per axis. Default: 300.
        title (str): title; the accuracy is appended.
        class_names (sequence of str, optional): legend labels.

    Returns:
        matplotlib.figure.Figure: the figure.

    Examples::

        >>> X, y = dlcore.data.xor(n=50)
        >>> model = dlcore.nn.Linear(2, 2)
        >>> fig = dlcore.viz.plot_decision_boundary(model, X, y, resolution=20)
        >>> fig.axes[0].get_xlabel()
        '$x_1$'
    """
    X_np = _to_numpy(X).astype(np.float64)
    y_np = _to_numpy(y).astype(np.int64).reshape(-1)
    if X_np.ndim != 2 or X_np.shape[1] != 2:
        raise ValueError(
            f"plot_decision_boundary: X must have shape (N, 2), got {X_np.shape}"
        )
    if len(y_np) != len(X_np):
        raise ValueError(
            f"plot_decision_boundary: X has {len(X_np)} points but y has "
            f"{len(y_np)} labels"
        )
    params = list(model.parameters()) if hasattr(model, "parameters") else []
    dtype = params[0].dtype if params else dlcore.float32

    lo, hi = X_np.min(axis=0), X_np.max(axis=0)
    pad = 0.1 * np.maximum(hi - lo, 1e-6)
    xs = np.linspace(lo[0] - pad[0], hi[0] + pad[0], resolution)
    ys = np.linspace(lo[1] - pad[1], hi[1] + pad[1], resolution)
    gx, gy = np.meshgrid(xs, ys)  # (R, R) each
    grid = np.stack([gx.ravel(), gy.ravel()], axis=1)  # (R*R, 2)

    was_training = getattr(model, "training", None)
    if was_training is not None:
        model.eval()
    try:
        grid_pred = _predict(model, grid, dtype).reshape(gx.shape)
        data_pred = _predict(model, X_np, dtype)
    finally:
        if was_training is not None:
            model.train(was_training)

    n_classes = int(max(y_np.max(initial=0), grid_pred.max(initial=0))) + 1
    colors = _class_colors(n_classes)
    light = ListedColormap([to_rgba(c, alpha=0.25) for c in colors])

    fig = Figure(figsize=(5.5, 5.0), layout="constrained")
    ax = fig.add_subplot()
    levels = np.arange(n_classes + 1) - 0.5  # one band per class id
    ax.contourf(gx, gy, grid_pred, levels=levels, cmap=light, antialiased=True)
    for k in range(n_classes):
        mask = y_np == k
        if mask.any():
            label = class_names[k] if class_names is not None else f"class {k}"
            ax.scatter(
                X_np[mask, 0], X_np[mask, 1], s=14, color=colors[k],
                edgecolors="white", linewidths=0.4, label=label,
            )  # fmt: skip
    accuracy = float(np.mean(data_pred == y_np)) if len(y_np) else float("nan")
    ax.set_title(f"{title} (accuracy {accuracy:.1%})")
    ax.set_xlabel("$x_1$")
    ax.set_ylabel("$x_2$")
    ax.set_aspect("equal")
    ax.set_xlim(xs[0], xs[-1])
    ax.set_ylim(ys[0], ys[-1])
    _clean_axes(ax)
    ax.legend(frameon=False, loc="upper right", fontsize="small", markerscale=1.5)
    _save(fig, path)
    return fig
