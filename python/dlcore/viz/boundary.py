"""``plot_decision_boundary``: the class a 2-D classifier predicts everywhere."""

from __future__ import annotations

import os
from typing import Any, Sequence

import numpy as np
from matplotlib.colors import ListedColormap, to_rgba
from matplotlib.figure import Figure

import dlcore

from . import _style as S

__all__ = ["plot_decision_boundary"]


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
    X_np = S.to_numpy(X).astype(np.float64)
    y_np = S.to_numpy(y).astype(np.int64).reshape(-1)
    if X_np.ndim != 2 or X_np.shape[1] != 2:
        raise ValueError(
            f"plot_decision_boundary: X must have shape (N, 2), got {X_np.shape}"
        )
    if len(y_np) != len(X_np):
        raise ValueError(
            f"plot_decision_boundary: X has {len(X_np)} points but y has "
            f"{len(y_np)} labels"
        )
    dtype = S.model_dtype(model)

    lo, hi = X_np.min(axis=0), X_np.max(axis=0)
    pad = 0.1 * np.maximum(hi - lo, 1e-6)
    xs = np.linspace(lo[0] - pad[0], hi[0] + pad[0], resolution)
    ys = np.linspace(lo[1] - pad[1], hi[1] + pad[1], resolution)
    gx, gy = np.meshgrid(xs, ys)  # (R, R) each
    grid = np.stack([gx.ravel(), gy.ravel()], axis=1)  # (R*R, 2)

    with S.eval_mode(model):
        grid_pred = _predict(model, grid, dtype).reshape(gx.shape)
        data_pred = _predict(model, X_np, dtype)

    n_classes = int(max(y_np.max(initial=0), grid_pred.max(initial=0))) + 1
    colors = S.class_colors(n_classes)
    light = ListedColormap([to_rgba(c, alpha=0.25) for c in colors])

    fig = S.new_figure(5.5, 5.0)
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
    S.clean_axes(ax, grid=None)
    ax.legend(frameon=False, loc="upper right", fontsize="small", markerscale=1.5)
    return S.save(fig, path)
