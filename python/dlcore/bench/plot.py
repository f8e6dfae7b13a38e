"""Bar chart of a ``python -m dlcore.bench`` run: one bar per case, the
speed-up torch_time / dlcore_time on a log axis, so 2× faster and 2× slower
are the same length on either side of the 1× line. The README shows it.
"""

from __future__ import annotations

import os

import numpy as np

from dlcore.viz._style import clean_axes, new_figure, save


def plot_speedups(rows: list[dict], path: str | os.PathLike | None = None, title: str | None = None):
    """Draw (and with ``path`` write) the speed-up of every row that has a
    torch time. Returns the matplotlib Figure.

    Example::

        rows = dlcore.bench.run(["mlp"], threads=2)
        dlcore.bench.plot.plot_speedups(rows, "bench.png")
    """
    rows = [r for r in rows if r.get("ratio")]
    if not rows:
        raise ValueError("plot_speedups: no row has a torch timing (is torch installed?)")
    names = [r["case"] for r in rows]
    ratios = np.array([r["ratio"] for r in rows], dtype=np.float64)
    fig = new_figure(7.0, 0.28 * len(rows) + 1.2)
    ax = fig.add_subplot()
    y = np.arange(len(rows))[::-1]
    colors = ["#2a9d8f" if q >= 1 else "#e76f51" for q in ratios]
    ax.barh(y, np.log2(ratios), color=colors, height=0.7)
    ax.axvline(0.0, color="black", linewidth=0.8)
    for yi, q in zip(y, ratios):
        ax.text(np.log2(q), yi, f" {q:.2f}x ", va="center",
                ha="left" if q >= 1 else "right", fontsize=7)
    ax.set_yticks(y, names, fontsize=7)
    lo, hi = np.floor(min(np.log2(ratios).min(), -1)), np.ceil(max(np.log2(ratios).max(), 1))
    ticks = np.arange(lo, hi + 1)
    ax.set_xticks(ticks, [f"{2.0 ** t:g}x" for t in ticks])
    ax.set_xlim(lo - 0.3, hi + 0.3)
    ax.set_xlabel("torch time / dlcore time (> 1x: dlcore faster)")
    threads = rows[0].get("threads")
    ax.set_title(title or f"dlcore vs torch, {threads} threads", fontsize=9)
    clean_axes(ax, grid="x")
    return save(fig, path)
