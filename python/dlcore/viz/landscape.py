"""Loss landscapes: 1-D interpolation between parameter sets and the 2-D
surface around a minimum along filter-normalised random directions.

References:
    Goodfellow, Vinyals & Saxe, "Qualitatively characterizing neural network
    optimization problems", ICLR 2015 (the 1-D linear interpolation).
    Li, Xu, Taylor, Studer & Goldstein, "Visualizing the Loss Landscape of
    Neural Nets", NeurIPS 2018 (filter-wise normalisation, 2-D surfaces).

Evaluation reuses the model's own parameter tensors: each grid point is an
in-place ``copy_`` + ``add_`` per parameter (two Rust calls, no allocation)
followed by one no-grad forward pass over the data, so a 31x31 grid costs
961 forward passes and nothing else. The parameters (and buffers) are
copied back bit-exactly afterwards, even when the loss function raises.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Mapping
from typing import Any, Iterator, NamedTuple, Sequence

import matplotlib
import numpy as np
from matplotlib.figure import Figure

import dlcore

from . import _style as S

__all__ = ["LossSurface", "random_direction", "loss_surface", "loss_interpolation", "plot_loss_landscape"]


class LossSurface(NamedTuple):
    """Result of :func:`loss_surface`: ``losses[j, i]`` is the loss at
    ``theta + alphas[i] * d1 + betas[j] * d2``; ``center_loss`` is the loss of
    the unperturbed model; ``directions`` is ``(d1, d2)``."""

    alphas: np.ndarray
    betas: np.ndarray
    losses: np.ndarray
    center_loss: float
    directions: tuple


def _params(model) -> list:
    return [p for _, p in model.named_parameters()]


def _param_set(theta: Any, model, who: str) -> list:
    """``theta`` (a Module, a state_dict or a sequence) as tensors aligned with
    ``model``'s parameters."""
    names = [n for n, _ in model.named_parameters()]
    params = _params(model)
    if hasattr(theta, "named_parameters"):
        theta = dict(theta.named_parameters())
    if isinstance(theta, Mapping):
        missing = [n for n in names if n not in theta]
        if missing:
            raise KeyError(f"{who}: parameter set has no entries {missing}")
        theta = [theta[n] for n in names]
    theta = list(theta)
    if len(theta) != len(params):
        raise ValueError(f"{who}: expected {len(params)} tensors, got {len(theta)}")
    out = []
    for name, p, t in zip(names, params, theta):
        t = S.as_input(t, p.dtype).detach()
        if tuple(t.shape) != tuple(p.shape):
            raise ValueError(f"{who}: '{name}' has shape {tuple(t.shape)}, the model's is {tuple(p.shape)}")
        out.append(t.to(p.dtype) if t.dtype != p.dtype else t)
    return out


def random_direction(model, seed: int | np.random.Generator | None = None, *, ignore_1d: bool = True) -> list:
    r"""A random direction in parameter space, normalised filter-wise (Li et al., 2018).

    Each parameter gets a Gaussian direction ``d``; for every filter (slice
    along dim 0: an output neuron of a Linear layer, an output channel of a
    convolution) ``d[i] *= ||w[i]|| / ||d[i]||``, so the direction has the
    same per-filter scale as the weights and plots of different networks (or
    layers) are comparable. 1-D parameters (biases, norm scales) get a zero
    direction (``ignore_1d``, the paper's default) or a copy of themselves.

    Args:
        model (nn.Module): the model whose parameters set the shapes and norms.
        seed (int or numpy Generator, optional): randomness source.
        ignore_1d (bool): zero direction for 1-D parameters. Default: ``True``.

    Returns:
        list[Tensor]: one tensor per parameter (``model.named_parameters()`` order).

    Examples::

        >>> lin = dlcore.nn.Linear(3, 2)
        >>> d = dlcore.viz.random_direction(lin, seed=0)
        >>> import numpy as np
        >>> w = lin.weight.detach().numpy()
        >>> np.allclose(np.linalg.norm(d[0].numpy(), axis=1), np.linalg.norm(w, axis=1))
        True
    """
    rng = seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)
    out = []
    for p in _params(model):
        w = S.to_numpy(p).astype(np.float64)
        d = rng.standard_normal(w.shape)
        if w.ndim <= 1:
            d = np.zeros_like(w) if ignore_1d else w.copy()
        else:
            w2, d2 = w.reshape(w.shape[0], -1), d.reshape(d.shape[0], -1)  # (filters, fan_in)
            d2 *= (np.linalg.norm(w2, axis=1) / (np.linalg.norm(d2, axis=1) + 1e-10))[:, None]
        out.append(dlcore.tensor(d, dtype=p.dtype))
    return out


def _batches(data: Any, dtype, batch_size: int | None) -> list[tuple[tuple, Any]]:
    """``[(inputs, target), ...]`` from ``(X, y)`` or an iterable of batches."""
    if isinstance(data, (tuple, list)) and len(data) == 2 and not isinstance(data[0], (tuple, list)):
        X, y = S.as_input(data[0], dtype), data[1]
        y = y if isinstance(y, dlcore.Tensor) else dlcore.tensor(S.to_numpy(y))
        n = X.shape[0]
        step = batch_size or n
        return [((X[i : i + step],), y[i : i + step]) for i in range(0, n, step)] if step < n else [((X,), y)]
    out = []
    for batch in data:
        if not isinstance(batch, (tuple, list)) or len(batch) < 2:
            raise TypeError("loss landscape: data must be (X, y) or an iterable of (inputs..., target) batches")
        out.append((tuple(batch[:-1]), batch[-1]))
    if not out:
        raise ValueError("loss landscape: data is empty")
    return out


def _evaluator(model, loss_fn, batches):
    sizes = [int(t.shape[0]) if len(getattr(t, "shape", ())) else 1 for _, t in batches]
    total = float(sum(sizes))

    def loss() -> float:
        acc = 0.0
        for (inputs, target), n in zip(batches, sizes):
            acc += float(loss_fn(model(*inputs), target).item()) * n
        return acc / total

    return loss


@contextlib.contextmanager
def _restoring(model) -> Iterator[list]:
    """Evaluate without gradients in eval mode; put every parameter and
    buffer back bit-exactly on exit (the tensors keep their identity, so an
    optimizer holding them is unaffected)."""
    params = _params(model)
    buffers = list(model.buffers()) if hasattr(model, "buffers") else []
    saved = [t.detach().clone() for t in params + buffers]
    try:
        with dlcore.no_grad(), S.eval_mode(model):
            yield params
    finally:
        with dlcore.no_grad():
            for t, s in zip(params + buffers, saved):
                t.copy_(s)


def loss_surface(
    model,
    loss_fn,
    data: Any,
    directions: Sequence | None = None,
    *,
    resolution: int = 31,
    span: float = 1.0,
    seed: int | None = 0,
    batch_size: int | None = None,
) -> LossSurface:
    r"""Evaluate the loss on a ``resolution x resolution`` grid around the model.

    The grid is :math:`\theta + \alpha d_1 + \beta d_2` for
    :math:`\alpha, \beta \in [-\text{span}, \text{span}]` (an odd resolution
    puts the model itself exactly at the centre), with filter-normalised random
    directions (:func:`random_direction`) unless ``directions`` are given.

    Args:
        model (nn.Module): the trained model (its parameters are restored exactly).
        loss_fn (callable): ``loss_fn(output, target)`` returning a scalar tensor.
        data: ``(X, y)`` tensors/arrays, or an iterable of ``(inputs..., target)``
            batches; the loss is the sample-weighted mean over batches.
        directions (pair of lists of tensors, optional): ``(d1, d2)``.
        resolution (int): grid points per axis. Default: 31.
        span (float): half-width of the grid in direction units. Default: 1.
        seed (int, optional): seed of the random directions. Default: 0.
        batch_size (int, optional): split ``(X, y)`` into batches of this size.

    Returns:
        LossSurface: ``alphas``, ``betas``, ``losses`` (shape ``(len(betas), len(alphas))``),
        ``center_loss`` and ``directions``.
    """
    if resolution < 2:
        raise ValueError(f"loss_surface: resolution must be >= 2, got {resolution}")
    if directions is None:
        rng = np.random.default_rng(seed)
        directions = (random_direction(model, rng), random_direction(model, rng))
    d1, d2 = (_param_set(d, model, "loss_surface") for d in directions)
    if resolution % 2:  # exact zero in the middle, so the centre is the model itself
        k = resolution // 2
        coords = span * np.arange(-k, k + 1) / k
    else:
        coords = np.linspace(-span, span, resolution)
    batches = _batches(data, S.model_dtype(model), batch_size)
    losses = np.empty((resolution, resolution))
    with _restoring(model) as params:
        evaluate = _evaluator(model, loss_fn, batches)
        center = evaluate()
        base = [p.detach().clone() for p in params]
        rows = [b.clone() for b in base]
        for j, beta in enumerate(coords):
            for r, b, d in zip(rows, base, d2):  # row = theta + beta * d2, once per row
                r.copy_(b)
                if beta:
                    r.add_(d, alpha=float(beta))
            for i, alpha in enumerate(coords):
                for p, r, d in zip(params, rows, d1):
                    p.copy_(r)
                    if alpha:
                        p.add_(d, alpha=float(alpha))
                losses[j, i] = evaluate()
    return LossSurface(coords, coords.copy(), losses, center, (d1, d2))


def loss_interpolation(
    model,
    loss_fn,
    data: Any,
    start: Any,
    end: Any = None,
    *,
    alphas: Sequence[float] | None = None,
    batch_size: int | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    r"""Loss along the line :math:`\theta(\alpha) = (1-\alpha)\theta_0 + \alpha\theta_1`
    (Goodfellow et al., 2015).

    Args:
        model (nn.Module): evaluated at each point (parameters restored exactly).
        loss_fn, data, batch_size: as in :func:`loss_surface`.
        start: :math:`\theta_0`, e.g. the initial weights: a Module, a
            ``state_dict`` or a list of tensors in ``named_parameters()`` order.
        end: :math:`\theta_1`; default the model's current parameters.
        alphas (sequence of float): default 41 points on ``[-0.5, 1.5]``.

    Returns:
        ``(alphas, losses)`` as NumPy arrays; ``alpha = 0`` is ``start`` and
        ``alpha = 1`` is ``end`` exactly.
    """
    alphas = np.linspace(-0.5, 1.5, 41) if alphas is None else np.asarray(alphas, dtype=np.float64)
    theta0 = _param_set(start, model, "loss_interpolation")
    theta1 = _param_set(end if end is not None else model, model, "loss_interpolation")
    theta1 = [t.clone() for t in theta1]  # end may be the model's own tensors
    diff = [b - a for a, b in zip(theta0, theta1)]
    batches = _batches(data, S.model_dtype(model), batch_size)
    losses = np.empty(len(alphas))
    with _restoring(model) as params:
        evaluate = _evaluator(model, loss_fn, batches)
        for k, a in enumerate(alphas):
            for p, t0, t1, d in zip(params, theta0, theta1, diff):
                if a == 1.0:
                    p.copy_(t1)
                else:
                    p.copy_(t0)
                    if a:
                        p.add_(d, alpha=float(a))
            losses[k] = evaluate()
    return alphas, losses


def _log_ticks(lo: float, hi: float) -> np.ndarray:
    """1-2-5 ticks inside ``[lo, hi]`` (at least the two ends)."""
    k0, k1 = int(np.floor(np.log10(lo))), int(np.ceil(np.log10(hi)))
    for mults in ((1, 2, 5), (1, 3), (1,)):  # the densest set with at most 6 ticks
        t = np.array([m * 10.0**k for k in range(k0, k1 + 1) for m in mults])
        t = t[(t >= lo * 0.999) & (t <= hi * 1.001)]
        if t.size <= 6:
            break
    return t if t.size >= 2 else np.array([lo, hi])


def _wide(z: np.ndarray) -> bool:
    z = z[np.isfinite(z)]
    return bool(z.size and z.min() > 0 and z.max() / z.min() > 100)


def plot_loss_landscape(
    model,
    loss_fn,
    data: Any,
    path: str | os.PathLike | None = None,
    *,
    start: Any = None,
    surface: LossSurface | None = None,
    interpolation: tuple | None = None,
    kind: str = "both",
    resolution: int = 31,
    span: float = 1.0,
    seed: int | None = 0,
    batch_size: int | None = None,
    log: bool | None = None,
    title: str | None = "Loss landscape",
) -> Figure:
    r"""Loss landscape around a trained model (Li et al., 2018).

    Panels, left to right: the 1-D interpolation from ``start`` to the model
    (Goodfellow et al., 2015; only when ``start`` or ``interpolation`` is
    given), the 2-D landscape as a filled contour plot, and as a 3-D surface.

    Args:
        model, loss_fn, data: see :func:`loss_surface`.
        path (str, optional): save the figure there (.png or .svg).
        start (optional): parameter set for the 1-D panel, e.g. the initial
            ``state_dict`` saved before training.
        surface (LossSurface, optional): a precomputed :func:`loss_surface`.
        interpolation (optional): precomputed ``(alphas, losses)``.
        kind (str): ``"contour"``, ``"surface"`` or ``"both"``. Default: both.
        resolution, span, seed, batch_size: passed to :func:`loss_surface`.
        log (bool, optional): logarithmic colour / z scale; ``None`` picks it
            when the losses span more than two orders of magnitude.
        title (str, optional): figure title.

    Returns:
        matplotlib.figure.Figure: the figure.

    Examples::

        >>> X, y = dlcore.data.xor(n=40)
        >>> model = dlcore.nn.Linear(2, 2)
        >>> fig = dlcore.viz.plot_loss_landscape(model, dlcore.nn.CrossEntropyLoss(), (X, y),
        ...                                      resolution=5, kind="contour")
        >>> fig.axes[0].get_xlabel()
        'direction 1 ($\\alpha$)'
    """
    if kind not in ("contour", "surface", "both"):
        raise ValueError(f"plot_loss_landscape: kind must be 'contour', 'surface' or 'both', got {kind!r}")
    if interpolation is None and start is not None:
        interpolation = loss_interpolation(model, loss_fn, data, start, batch_size=batch_size)
    if surface is None:
        surface = loss_surface(model, loss_fn, data, resolution=resolution, span=span, seed=seed,
                               batch_size=batch_size)
    Z = surface.losses
    use_log = _wide(Z) if log is None else log
    n_panels = (interpolation is not None) + (kind in ("contour", "both")) + (kind in ("surface", "both"))
    fig = S.new_figure(4.4 * n_panels, 4.2)
    cmap = matplotlib.colormaps[S.SEQUENTIAL]
    A, B = np.meshgrid(surface.alphas, surface.betas)
    panel = 1

    if interpolation is not None:
        alphas, losses = (np.asarray(v, dtype=np.float64) for v in interpolation)
        ax = fig.add_subplot(1, n_panels, panel)
        panel += 1
        ax.plot(alphas, losses, color=S.TRAIN_COLOR, linewidth=1.8, gid="interpolation")
        for a, text in ((0.0, "start"), (1.0, "trained")):
            ax.axvline(a, color=S.FAINT, linewidth=0.8, linestyle="--")
            ax.text(a, 1.01, text, transform=ax.get_xaxis_transform(), ha="center", va="bottom",
                    fontsize="small", color="0.35")
        if _wide(losses):
            ax.set_yscale("log")
        ax.set_xlabel(r"interpolation coefficient $\alpha$")
        ax.set_ylabel("loss" + (" (log scale)" if _wide(losses) else ""))
        ax.set_title("1-D interpolation", pad=16)
        S.clean_axes(ax, grid="y")

    finite = Z[np.isfinite(Z)]
    lo, hi = (float(finite.min()), float(finite.max())) if finite.size else (0.0, 1.0)
    # Log scale: draw log10(loss) with ticks labelled in loss units.
    Zs = np.log10(np.clip(Z, lo, None)) if use_log else Z
    zlo, zhi = (np.log10(lo), np.log10(hi)) if use_log else (lo, hi)
    ticks = _log_ticks(lo, hi) if use_log else None
    if kind in ("contour", "both"):
        ax = fig.add_subplot(1, n_panels, panel)
        panel += 1
        levels = np.linspace(zlo, zhi if zhi > zlo else zlo + 1e-12, 25)
        filled = ax.contourf(A, B, Zs, levels=levels, cmap=cmap)
        ax.contour(A, B, Zs, levels=levels[::3], colors="white", linewidths=0.4, alpha=0.6,
                   linestyles="solid")
        ax.plot([0], [0], marker="*", markersize=12, color="white", markeredgecolor="black",
                linestyle="none", gid="minimum")
        ax.set_aspect("equal")
        ax.set_xlabel(r"direction 1 ($\alpha$)")
        ax.set_ylabel(r"direction 2 ($\beta$)")
        ax.set_title("2-D landscape (star: trained model)")
        bar = fig.colorbar(filled, ax=ax, shrink=0.85)
        bar.set_label("loss" + (" (log scale)" if use_log else ""))
        if use_log:
            bar.set_ticks(np.log10(ticks), labels=[f"{t:g}" for t in ticks])
    if kind in ("surface", "both"):
        ax = fig.add_subplot(1, n_panels, panel, projection="3d")
        ax.plot_surface(A, B, Zs, cmap=cmap, vmin=zlo, vmax=zhi, linewidth=0, antialiased=True,
                        rcount=len(surface.betas), ccount=len(surface.alphas))
        ax.set_xlabel(r"$\alpha$")
        ax.set_ylabel(r"$\beta$")
        ax.set_zlabel("loss" + (" (log scale)" if use_log else ""))
        if use_log:
            ax.set_zticks(np.log10(ticks), labels=[f"{t:g}" for t in ticks])
        ax.set_title("3-D surface")
        ax.view_init(elev=35, azim=-60)
        ax.set_box_aspect(None, zoom=0.82)  # room for the z label
    if title:
        fig.suptitle(f"{title} (filter-normalised directions, Li et al. 2018)")
    return S.save(fig, path)
