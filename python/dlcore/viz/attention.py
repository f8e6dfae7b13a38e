"""``plot_attention``: attention weights as a grid of per-head heat-maps."""

from __future__ import annotations

import os
from typing import Any, Sequence

import matplotlib
import numpy as np
from matplotlib.figure import Figure

import dlcore  # noqa: F401  (doctest namespace)

from . import _style as S

__all__ = ["plot_attention"]


def plot_attention(
    weights: Any,
    tokens: Sequence[str] | None = None,
    path: str | os.PathLike | None = None,
    *,
    query_tokens: Sequence[str] | None = None,
    batch: int = 0,
    heads: Sequence[int] | None = None,
    max_cols: int = 4,
    title: str | None = "Attention weights",
) -> Figure:
    r"""One heat-map per attention head: row = query position, column = key position.

    All heads share one sequential colour scale from 0 to the largest weight
    (one colour bar), so heads are comparable at a glance.

    Args:
        weights: ``(T_q, T_k)``, ``(H, T_q, T_k)`` or ``(B, H, T_q, T_k)``
            (``nn.MultiheadAttention(..., average_attn_weights=False)``
            returns ``(B, H, T_q, T_k)``); a tensor or an array.
        tokens (sequence of str, optional): key tokens (x tick labels), and
            query tokens too unless ``query_tokens`` is given.
        path (str, optional): save the figure there (.png or .svg).
        query_tokens (sequence of str, optional): query tokens (y tick labels)
            for cross-attention.
        batch (int): which batch element of a 4-D input. Default: 0.
        heads (sequence of int, optional): heads to draw. Default: all.
        max_cols (int): heads per row. Default: 4.
        title (str, optional): figure title.

    Returns:
        matplotlib.figure.Figure: panel ``h``'s image data is head ``h``'s matrix.

    Examples::

        >>> import numpy as np
        >>> w = np.full((2, 3, 3), 1 / 3)
        >>> fig = dlcore.viz.plot_attention(w, tokens=["a", "b", "c"])
        >>> [ax.get_title() for ax in fig.axes[:2]]
        ['head 0', 'head 1']
    """
    w = S.to_numpy(weights).astype(np.float64)
    if w.ndim == 4:
        if not 0 <= batch < w.shape[0]:
            raise IndexError(f"plot_attention: batch {batch} out of range for weights of shape {w.shape}")
        w = w[batch]
    elif w.ndim == 2:
        w = w[None]
    elif w.ndim != 3:
        raise ValueError(f"plot_attention: weights must be 2-D, 3-D or 4-D, got shape {w.shape}")
    n_heads, tq, tk = w.shape
    heads = list(range(n_heads)) if heads is None else list(heads)
    keys = list(tokens) if tokens is not None else None
    queries = list(query_tokens) if query_tokens is not None else keys if tq == tk else None
    if keys is not None and len(keys) != tk:
        raise ValueError(f"plot_attention: {len(keys)} tokens for {tk} key positions")
    if queries is not None and len(queries) != tq:
        raise ValueError(f"plot_attention: {len(queries)} query tokens for {tq} query positions")

    rows, cols = S.grid_shape(len(heads), max_cols)
    cell = min(3.2, max(1.8, 0.28 * max(tq, tk)))
    fig = S.new_figure(cell * cols + 1.0, cell * rows + (0.5 if title else 0.1))
    axes = S.image_grid(fig, len(heads), max_cols)
    vmax = max(float(np.nanmax(w[heads])) if w.size else 1.0, 1e-12)
    cmap = matplotlib.colormaps["Blues"]
    image = None
    for ax, h in zip(axes, heads):
        image = ax.imshow(w[h], cmap=cmap, vmin=0.0, vmax=vmax, interpolation="nearest", aspect="auto")
        if len(heads) > 1 or n_heads > 1:
            ax.set_title(f"head {h}", fontsize="medium")
        if keys is not None:
            ax.set_xticks(range(tk), keys, rotation=90, fontsize="x-small")
        if queries is not None:
            ax.set_yticks(range(tq), queries, fontsize="x-small")
        for side in ax.spines.values():
            side.set_visible(False)
    axes[0].set_ylabel("query")
    for ax in axes[-cols:]:
        ax.set_xlabel("key")
    bar = fig.colorbar(image, ax=axes, shrink=0.8)
    bar.set_label("attention weight")
    if title:
        fig.suptitle(title)
    return S.save(fig, path)
