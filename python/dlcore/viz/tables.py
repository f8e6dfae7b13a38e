"""Plots of tables: confusion matrix, parameter counts, LR schedule, benchmarks."""

from __future__ import annotations

import copy
import os
import warnings
from typing import Any, Sequence

import matplotlib
import numpy as np
from matplotlib.figure import Figure

import dlcore

from . import _style as S

__all__ = ["plot_confusion_matrix", "param_counts", "plot_param_counts", "plot_lr_schedule", "plot_benchmark"]


def _labels(a: Any) -> np.ndarray:
    a = S.to_numpy(a)
    return (a.argmax(axis=1) if a.ndim == 2 else a.reshape(-1)).astype(np.int64)  # logits -> classes


def plot_confusion_matrix(
    y_true: Any,
    y_pred: Any = None,
    path: str | os.PathLike | None = None,
    *,
    class_names: Sequence[str] | None = None,
    normalize: str | None = None,
    num_classes: int | None = None,
    title: str | None = "Confusion matrix",
) -> Figure:
    r"""Confusion matrix as a heat-map with the value in every cell.

    Rows are true classes, columns predicted classes; the diagonal is what
    the model got right. Sequential colour (darker = more).

    Args:
        y_true: true labels ``(N,)``, or a precomputed ``(C, C)`` matrix when
            ``y_pred`` is ``None``.
        y_pred: predicted labels ``(N,)`` or logits ``(N, C)`` (argmax is taken).
        path (str, optional): save the figure there (.png or .svg).
        class_names (sequence of str, optional): tick labels.
        normalize (str, optional): ``"true"`` (rows sum to 1: recall per
            class), ``"pred"`` (columns sum to 1: precision) or ``"all"``.
        num_classes (int, optional): matrix size (default: largest label + 1).
        title (str, optional): title; overall accuracy is appended.

    Returns:
        matplotlib.figure.Figure: the image data is the (normalised) matrix.

    Examples::

        >>> fig = dlcore.viz.plot_confusion_matrix([0, 1, 1], [0, 1, 0])
        >>> fig.axes[0].images[0].get_array().tolist()
        [[1, 0], [1, 1]]
    """
    if y_pred is None:
        cm = S.to_numpy(y_true)
        if cm.ndim != 2 or cm.shape[0] != cm.shape[1]:
            raise ValueError(f"plot_confusion_matrix: expected a square matrix, got shape {cm.shape}")
    else:
        t, p = _labels(y_true), _labels(y_pred)
        if t.shape != p.shape:
            raise ValueError(f"plot_confusion_matrix: {t.size} true labels but {p.size} predictions")
        n = num_classes or int(max(t.max(initial=-1), p.max(initial=-1))) + 1
        cm = np.zeros((n, n), dtype=np.int64)
        np.add.at(cm, (t, p), 1)
    if normalize not in (None, "true", "pred", "all"):
        raise ValueError(f"plot_confusion_matrix: normalize must be None, 'true', 'pred' or 'all', got {normalize!r}")
    total = cm.sum()
    accuracy = np.trace(cm) / total if total else float("nan")
    shown = cm
    if normalize:
        axis = {"true": 1, "pred": 0, "all": None}[normalize]
        sums = cm.sum(axis=axis, keepdims=axis is not None).astype(np.float64)
        shown = cm / np.where(sums == 0, 1, sums)
    n = cm.shape[0]
    size = min(9.0, max(3.8, 0.55 * n + 1.8))
    fig = S.new_figure(size + 0.8, size)
    ax = fig.add_subplot()
    cmap = matplotlib.colormaps["Blues"]
    image = ax.imshow(shown, cmap=cmap, vmin=0, interpolation="nearest")
    if n <= 30:  # values in the cells, white on dark
        limit = shown.max() / 2 if shown.size else 0
        for i in range(n):
            for j in range(n):
                v = shown[i, j]
                text = f"{v:.2f}" if normalize else f"{int(v)}"
                ax.text(j, i, text, ha="center", va="center", fontsize="small" if n <= 12 else "xx-small",
                        color="white" if v > limit else "0.15")
    names = list(class_names) if class_names is not None else [str(i) for i in range(n)]
    ax.set_xticks(range(n), names, rotation=45 if max(map(len, names)) > 3 else 0, ha="right" if
                  max(map(len, names)) > 3 else "center")
    ax.set_yticks(range(n), names)
    ax.set_xlabel("predicted class")
    ax.set_ylabel("true class")
    for side in ax.spines.values():
        side.set_visible(False)
    bar = fig.colorbar(image, ax=ax, shrink=0.8)
    bar.set_label({None: "count", "true": "fraction of true class", "pred": "fraction of predicted class",
                   "all": "fraction of all samples"}[normalize])
    if title:
        ax.set_title(f"{title} (accuracy {accuracy:.1%})")
    return S.save(fig, path)


def param_counts(model) -> list[tuple[str, str, int]]:
    """``[(module name, class name, parameters it owns), ...]`` for every
    module that owns parameters, in model order (shared parameters counted
    once). Uses ``dlcore.summary(model)`` when that exists and returns rows
    with ``name`` and ``params`` entries; otherwise counts directly."""
    summary = getattr(dlcore, "summary", None)
    if callable(summary):
        try:
            rows = getattr(summary(model), "rows", None)
            if rows and all("name" in r and "params" in r for r in rows):
                return [(r["name"], r.get("type", ""), int(r["params"])) for r in rows if int(r["params"])]
        except Exception:  # an unexpected summary() format: count ourselves
            pass
    out, seen = [], set()
    for name, module in model.named_modules():
        n = 0
        for p in module._parameters.values():
            if p is not None and id(p) not in seen:
                seen.add(id(p))
                n += p.numel()
        if n:
            out.append((name or type(module).__name__, type(module).__name__, int(n)))
    return out


def plot_param_counts(
    model,
    path: str | os.PathLike | None = None,
    *,
    top: int | None = 30,
    title: str | None = "Parameters per layer",
) -> Figure:
    r"""Horizontal bar chart of the parameters each layer owns, largest first.

    Args:
        model (nn.Module): the model (see :func:`param_counts`).
        path (str, optional): save the figure there (.png or .svg).
        top (int, optional): show the largest ``top`` layers (the rest are
            summed into one "other" bar). Default: 30.
        title (str, optional): title; the total is appended.

    Returns:
        matplotlib.figure.Figure: bar ``i`` (top to bottom) has width = count.

    Examples::

        >>> net = dlcore.nn.Sequential(dlcore.nn.Linear(2, 8), dlcore.nn.Linear(8, 1))
        >>> [float(p.get_width()) for p in dlcore.viz.plot_param_counts(net).axes[0].patches]
        [24.0, 9.0]
    """
    rows = sorted(param_counts(model), key=lambda r: -r[2])
    if not rows:
        raise ValueError(f"plot_param_counts: {type(model).__name__} has no parameters")
    total = sum(r[2] for r in rows)
    if top is not None and len(rows) > top:
        rest = rows[top - 1:]
        rows = rows[: top - 1] + [(f"other ({len(rest)} layers)", "", sum(r[2] for r in rest))]
    labels = [f"{name} ({kind})" if kind and kind != name else name for name, kind, _ in rows]
    counts = np.array([r[2] for r in rows], dtype=np.float64)
    fig = S.new_figure(6.8, 1.2 + 0.32 * len(rows))
    ax = fig.add_subplot()
    ypos = np.arange(len(rows))
    ax.barh(ypos, counts, color=S.TRAIN_COLOR, height=0.7)
    ax.set_yticks(ypos, labels, fontsize="small")
    ax.invert_yaxis()  # largest on top
    ax.set_xlim(0, counts.max() * 1.18)
    for y, c in zip(ypos, counts):
        ax.text(c, y, f" {int(c):,} ({c / total:.0%})", va="center", fontsize="x-small", color="0.25")
    ax.set_xlabel("parameters")
    S.clean_axes(ax, grid="x")
    if title:
        ax.set_title(f"{title} (total {total:,})")
    return S.save(fig, path)


def _lr_trace(scheduler, steps: int) -> np.ndarray:
    """Step ``scheduler`` ``steps`` times recording each group's lr (the rate the
    step uses), then restore scheduler and optimizer exactly."""
    opt = getattr(scheduler, "optimizer", None)
    if opt is None or not hasattr(opt, "param_groups"):
        raise TypeError(f"plot_lr_schedule: {type(scheduler).__name__} has no .optimizer with param_groups")
    groups_saved = [{k: copy.deepcopy(v) for k, v in g.items() if k != "params"} for g in opt.param_groups]
    if callable(getattr(scheduler, "state_dict", None)):
        sched_saved, restore = copy.deepcopy(scheduler.state_dict()), scheduler.load_state_dict
    else:
        sched_saved = {k: copy.deepcopy(v) for k, v in vars(scheduler).items() if k != "optimizer"}
        restore = vars(scheduler).update
    out = np.empty((steps, len(opt.param_groups)))
    try:
        with warnings.catch_warnings():  # torch warns about step() before optimizer.step()
            warnings.simplefilter("ignore")
            for i in range(steps):
                out[i] = [float(g["lr"]) for g in opt.param_groups]
                scheduler.step()
    except TypeError as e:
        raise TypeError(f"plot_lr_schedule: {type(scheduler).__name__}.step() needs arguments "
                        f"(a metric-driven scheduler has no fixed schedule to plot): {e}") from None
    finally:
        restore(sched_saved)
        for g, saved in zip(opt.param_groups, groups_saved):
            for k in [k for k in g if k != "params" and k not in saved]:
                del g[k]
            g.update(saved)
    return out


def plot_lr_schedule(
    scheduler,
    steps: int,
    path: str | os.PathLike | None = None,
    *,
    xlabel: str = "step",
    logy: bool | None = None,
    title: str | None = None,
) -> Figure:
    r"""The learning rate a scheduler will produce over ``steps`` calls of ``step()``.

    The scheduler is stepped for real and then put back exactly as it was
    (its ``state_dict`` and the optimizer's param-group settings), so it is
    safe to call before or during training.

    Args:
        scheduler: an LR scheduler with ``.optimizer`` and ``step()``
            (``dlcore.optim.lr_scheduler``, torch's, or your own).
        steps (int): how many ``step()`` calls to trace.
        path (str, optional): save the figure there (.png or .svg).
        xlabel (str): "step" or "epoch", whichever your ``step()`` calls are.
        logy (bool, optional): log y axis; ``None``: when the range exceeds 100x.
        title (str, optional): default the scheduler's class name.

    Returns:
        matplotlib.figure.Figure: line ``g``'s y data is group ``g``'s lr per step.
    """
    if steps < 1:
        raise ValueError(f"plot_lr_schedule: steps must be >= 1, got {steps}")
    lrs = _lr_trace(scheduler, steps)
    x = np.arange(steps)
    fig = S.new_figure(6.4, 3.6)
    ax = fig.add_subplot()
    colors = S.class_colors(lrs.shape[1])
    ends = []
    for g in range(lrs.shape[1]):
        ax.plot(x, lrs[:, g], color=colors[g], linewidth=1.8, gid=f"group:{g}")
        ends.append((x[-1], lrs[-1, g], f"group {g}", colors[g]))
    positive = lrs[lrs > 0]
    if logy is None:
        logy = bool(positive.size == lrs.size and positive.max() / positive.min() > 100)
    if logy:
        ax.set_yscale("log")
    else:
        ax.set_ylim(bottom=0)
    if lrs.shape[1] > 1:
        S.end_labels(ax, ends)
    ax.set_xlabel(xlabel)
    ax.set_ylabel("learning rate" + (" (log scale)" if logy else ""))
    ax.set_title(title or f"{type(scheduler).__name__}: learning rate over {steps} {xlabel}s")
    S.clean_axes(ax, grid="y")
    return S.save(fig, path)


def plot_benchmark(
    results: Sequence[dict],
    path: str | os.PathLike | None = None,
    *,
    relative: bool | None = None,
    title: str | None = "dlcore vs PyTorch",
) -> Figure:
    r"""Grouped horizontal bars, dlcore vs PyTorch, for every benchmark case.

    Two scales, both starting at zero: absolute time per step (one unit for
    all cases), or, when the cases' times span more than 10x (``relative``
    ``None``), time relative to PyTorch (PyTorch = 1; dlcore's bar shorter
    than 1 means dlcore is faster). Cases are sorted by speed-up, and each
    is annotated with ``torch/dlcore``.

    Args:
        results (list of dict): rows of ``dlcore.bench.run()``: ``case``,
            ``dlcore_s``, ``torch_s`` (``None`` without torch), ``threads``.
        path (str, optional): save the figure there (.png or .svg).
        relative (bool, optional): force the relative (``True``) or absolute scale.
        title (str, optional): title; thread count and CPU are appended.

    Returns:
        matplotlib.figure.Figure: the first container's bar widths are dlcore's
        values, the second's (if any) PyTorch's, in plotted order.

    Examples::

        >>> rows = [{"case": "add", "dlcore_s": 2e-6, "torch_s": 3e-6},
        ...         {"case": "mlp", "dlcore_s": 4e-6, "torch_s": 2e-6}]
        >>> fig = dlcore.viz.plot_benchmark(rows)
        >>> float(fig.axes[0].get_xlim()[0])
        0.0
    """
    rows = [r for r in results if r.get("dlcore_s") is not None]
    if not rows:
        raise ValueError("plot_benchmark: no results")
    has_torch = all(r.get("torch_s") is not None for r in rows)
    dl = np.array([r["dlcore_s"] for r in rows], dtype=np.float64)
    th = np.array([r["torch_s"] for r in rows], dtype=np.float64) if has_torch else None
    if relative is None:
        relative = bool(has_torch and max(dl.max(), th.max()) / min(dl.min(), th.min()) > 10)
    if relative and not has_torch:
        raise ValueError("plot_benchmark: relative=True needs torch_s in every row")
    order = np.argsort(-(th / dl)) if has_torch else np.argsort(dl)  # biggest dlcore win first
    rows, dl = [rows[i] for i in order], dl[order]
    th = th[order] if has_torch else None
    if relative:
        dl_v, th_v, unit, label = dl / th, np.ones_like(th), 1.0, "time per step relative to PyTorch (PyTorch = 1)"
    else:
        top = max(dl.max(), th.max() if has_torch else 0)
        unit, name = next(((s, n) for s, n in ((1.0, "s"), (1e-3, "ms"), (1e-6, "µs")) if top >= s), (1e-9, "ns"))
        dl_v, th_v, label = dl / unit, (th / unit if has_torch else None), f"time per step ({name})"
    y = np.arange(len(rows))
    h = 0.38 if has_torch else 0.7
    fig = S.new_figure(7.2, 1.3 + 0.5 * len(rows))
    ax = fig.add_subplot()
    ax.barh(y - (h / 2 if has_torch else 0), dl_v, height=h, color=S.TRAIN_COLOR, label="dlcore")
    if has_torch:
        ax.barh(y + h / 2, th_v, height=h, color=S.FAINT, label="PyTorch")
        for yi, a, b, r in zip(y, dl_v, th_v, th / dl):
            ax.text(max(a, b), yi, f"  {r:.2f}x", va="center", fontsize="x-small",
                    color="0.2", fontweight="bold" if r > 1 else "normal")
    ax.set_yticks(y, [r["case"] for r in rows], fontsize="small")
    ax.invert_yaxis()
    right = max(dl_v.max(), th_v.max() if has_torch else 0)
    ax.set_xlim(0, right * 1.18)
    if relative:
        ax.axvline(1.0, color="0.3", linewidth=0.8, linestyle=":")
    ax.set_xlabel(label)
    ax.legend(frameon=False, loc="lower left", bbox_to_anchor=(0.0, 1.0), ncols=2, fontsize="small",
              borderaxespad=0.2)
    S.clean_axes(ax, grid="x")
    if title:
        threads = rows[0].get("threads")
        extra = f"{threads} threads" if threads else ""
        cpu = rows[0].get("cpu")
        if cpu is None:
            try:  # rows of dlcore.bench.run() were measured on this machine
                from dlcore.bench import cpu_model

                cpu = cpu_model()
            except Exception:  # bench helpers are optional here
                cpu = None
        if cpu:
            extra = f"{cpu}, {extra}" if extra else cpu
        sub = "; torch/dlcore > 1: dlcore faster" if has_torch else ""
        fig.suptitle(f"{title}" + (f"\n{extra}{sub}" if extra or sub else ""), fontsize="medium")
    return S.save(fig, path)
