"""Hidden-representation manifolds: how training untangles the data.

The representation a classifier's last linear layer sees must be linearly
separable for the classifier to be right; recording it at a few epochs
(0, a few, many) shows the network pulling the classes apart, the
"spiral unrolling" picture of Olah's "Neural Networks, Manifolds, and
Topology" (2014). Representations wider than two units are projected on
their first two principal components (PCA by NumPy SVD).
"""

from __future__ import annotations

import os
from typing import Any, Callable, Sequence

import numpy as np
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

import dlcore
from dlcore.train.callbacks import Callback

from . import _style as S

__all__ = ["ManifoldRecorder", "hidden_representation", "pca_2d", "plot_manifold"]


def _last_linear(model) -> Any:
    last = None
    for m in model.modules():
        w = getattr(m, "_parameters", {}).get("weight")
        if w is not None and w.ndim == 2:
            last = m
    if last is None:
        raise ValueError(f"plot_manifold: {type(model).__name__} has no layer with a 2-D weight; pass layer=")
    return last


def hidden_representation(model, layer, X: Any, which: str = "input") -> np.ndarray:
    """What ``layer`` receives (``which="input"``) or produces (``"output"``)
    when ``model`` runs on ``X`` (eval mode, no gradients), as an ``(N, D)``
    NumPy array (trailing dimensions are flattened).

    Examples::

        >>> net = dlcore.nn.Sequential(dlcore.nn.Linear(2, 4), dlcore.nn.Tanh(), dlcore.nn.Linear(4, 3))
        >>> dlcore.viz.hidden_representation(net, net[2], dlcore.zeros(5, 2)).shape
        (5, 4)
    """
    layer = _last_linear(model) if layer is None else layer
    with S.capture(layer, which) as seen, S.eval_mode(model), dlcore.no_grad():
        model(S.as_input(X, S.model_dtype(model)))
    if not seen:
        raise RuntimeError(f"hidden_representation: {type(layer).__name__} was not called by the model's forward")
    h = S.to_numpy(seen[-1]).astype(np.float64)
    return h.reshape(h.shape[0], -1)


def pca_2d(h: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Project ``(N, D)`` points on their first two principal components.

    Returns ``(points (N, 2), explained variance ratio (2,))``. Signs are
    fixed so each component's largest loading is positive (deterministic
    across runs). ``D <= 2`` is returned as is (padded with zeros for D=1).
    """
    h = np.asarray(h, dtype=np.float64)
    if h.shape[1] <= 2:
        pts = np.pad(h, ((0, 0), (0, 2 - h.shape[1])))
        var = pts.var(axis=0)
        return pts, var / max(var.sum(), 1e-300)
    centred = h - h.mean(axis=0)
    # SVD of the (D, D) scatter matrix rather than of the (N, D) data: the same
    # components, and much cheaper (and steadier under threaded BLAS) for N >> D.
    _, var, vt = np.linalg.svd(centred.T @ centred)
    comps = vt[:2]
    signs = np.sign(comps[np.arange(2), np.abs(comps).argmax(axis=1)])
    comps = comps * signs[:, None]
    return centred @ comps.T, var[:2] / max(var.sum(), 1e-300)


class ManifoldRecorder(Callback):
    r"""Snapshot a hidden representation at chosen epochs.

    Use it as a :class:`dlcore.train.Trainer` callback (it records before
    training for epoch 0 and after each listed epoch), or call
    :meth:`snapshot` from your own loop. Epoch ``e`` means "after ``e``
    epochs of training".

    Args:
        X: inputs to represent (e.g. the training set or a subset).
        y: their labels (colours the plot).
        epochs (sequence of int): when to record. Default: ``(0, 10, 100)``.
        layer (nn.Module, optional): whose input (default) or output to
            record; default the last layer with a 2-D weight (the final
            Linear), i.e. the representation the classifier separates.
        which (str): ``"input"`` or ``"output"`` of ``layer``.
        model (nn.Module, optional): needed for :meth:`snapshot` calls
            outside a Trainer (a Trainer supplies its model).

    Attributes:
        snapshots (dict[int, ndarray]): epoch -> ``(N, D)`` representation.

    Examples::

        >>> from dlcore.train import Trainer
        >>> X, y = dlcore.data.spiral(n_per_class=20, n_classes=2)
        >>> net = dlcore.nn.Sequential(dlcore.nn.Linear(2, 8), dlcore.nn.Tanh(), dlcore.nn.Linear(8, 2))
        >>> rec = dlcore.viz.ManifoldRecorder(X, y, epochs=[0, 2])
        >>> loader = dlcore.data.DataLoader(dlcore.data.TensorDataset(X, y), batch_size=10)
        >>> _ = Trainer(net, dlcore.optim.SGD(net.parameters(), lr=0.1), dlcore.nn.CrossEntropyLoss(),
        ...             callbacks=[rec], progress_bar=False).fit(loader, epochs=3)
        >>> sorted(rec.snapshots), rec.snapshots[2].shape
        ([0, 2], (40, 8))
    """

    def __init__(self, X: Any, y: Any, epochs: Sequence[int] = (0, 10, 100), layer: Any = None,
                 which: str = "input", model: Any = None) -> None:
        self.X, self.y = X, S.to_numpy(y).astype(np.int64).reshape(-1)
        self.epochs = sorted({int(e) for e in epochs})
        self.layer, self.which, self.model = layer, which, model
        self.snapshots: dict[int, np.ndarray] = {}

    def snapshot(self, epoch: int, model: Any = None) -> np.ndarray:
        """Record the representation now, labelled ``epoch``; returns it."""
        model = model if model is not None else self.model
        if model is None:
            raise ValueError("ManifoldRecorder.snapshot: no model (pass model= here or to the constructor)")
        self.model = model
        self.snapshots[int(epoch)] = h = hidden_representation(model, self.layer, self.X, self.which)
        return h

    def on_train_begin(self, trainer) -> None:
        if trainer.epoch in self.epochs and trainer.epoch not in self.snapshots:
            self.snapshot(trainer.epoch, trainer.model)

    def on_epoch_end(self, trainer, epoch: int, logs: dict) -> None:
        if epoch + 1 in self.epochs:
            self.snapshot(epoch + 1, trainer.model)


def plot_manifold(
    model,
    layer: Any,
    data: Any,
    epochs: Sequence[int] | None = None,
    path: str | os.PathLike | None = None,
    *,
    recorder: ManifoldRecorder | None = None,
    train: Callable[[int], Any] | None = None,
    which: str = "input",
    class_names: Sequence[str] | None = None,
    title: str | None = "Hidden representation during training",
) -> Figure:
    r"""The hidden representation at several epochs, side by side.

    Snapshots come from, in order of preference: ``recorder`` (a
    :class:`ManifoldRecorder` that watched training), or ``train``, a
    function ``train(n)`` that trains the model ``n`` more epochs; then the
    model is recorded now (epoch 0), trained up to each of ``epochs`` in
    turn and recorded again. Without either, the current model is drawn.
    Each panel is projected on its own first two principal components when
    the layer is wider than two units (axes show the explained variance).

    Args:
        model (nn.Module): the model.
        layer (nn.Module, optional): see :class:`ManifoldRecorder`; ``None``
            picks the last layer with a 2-D weight.
        data: ``(X, y)``: the points and their labels.
        epochs (sequence of int, optional): which snapshots to draw.
        path (str, optional): save the figure there (.png or .svg).
        recorder, train: snapshot sources, see above.
        which (str): record the layer's ``"input"`` (default) or ``"output"``.
        class_names (sequence of str, optional): legend labels.
        title (str, optional): figure title.

    Returns:
        matplotlib.figure.Figure: one panel per epoch; panel ``k``'s scatter
        offsets are the 2-D points drawn (``pca_2d`` of the snapshot).

    Examples::

        >>> X, y = dlcore.data.spiral(n_per_class=20, n_classes=2)
        >>> net = dlcore.nn.Sequential(dlcore.nn.Linear(2, 2), dlcore.nn.Tanh(), dlcore.nn.Linear(2, 2))
        >>> len(dlcore.viz.plot_manifold(net, None, (X, y)).axes)
        1
    """
    X, y = data
    y_np = S.to_numpy(y).astype(np.int64).reshape(-1)
    if recorder is not None:
        snaps = dict(recorder.snapshots)
        if epochs is not None:
            missing = [e for e in epochs if e not in snaps]
            if missing:
                raise KeyError(f"plot_manifold: the recorder has no snapshot for epochs {missing} "
                               f"(it has {sorted(snaps)})")
            snaps = {e: snaps[e] for e in epochs}
    elif train is not None:
        snaps, done = {}, 0
        for e in sorted(set(epochs if epochs is not None else (0,)) | {0}):
            if e > done:
                train(e - done)
                done = e
            if epochs is None or e in epochs:
                snaps[e] = hidden_representation(model, layer, X, which)
    else:
        snaps = {0: hidden_representation(model, layer, X, which)}
        if epochs is not None and len(epochs) == 1:
            snaps = {int(epochs[0]): snaps[0]}
    if not snaps:
        raise ValueError("plot_manifold: nothing to draw (no snapshots)")

    order = sorted(snaps)
    n_classes = int(y_np.max(initial=0)) + 1
    colors = S.class_colors(n_classes)
    fig = S.new_figure(3.6 * len(order) + 0.4, 3.9)
    axes = fig.subplots(1, len(order), squeeze=False)[0]
    for ax, e in zip(axes, order):
        h = snaps[e]
        pts, ratio = pca_2d(h)
        # One collection in data order: its offsets are exactly ``pts``.
        ax.scatter(pts[:, 0], pts[:, 1], s=9, c=[colors[k] for k in y_np], alpha=0.85, linewidths=0)
        ax.set_title(f"epoch {e}")
        if h.shape[1] > 2:
            ax.set_xlabel(f"PC 1 ({ratio[0]:.0%} of variance)")
            ax.set_ylabel(f"PC 2 ({ratio[1]:.0%} of variance)")
        else:
            ax.set_xlabel("unit 1")
            ax.set_ylabel("unit 2")
        ax.tick_params(labelsize="x-small")
        S.clean_axes(ax, grid=None)
    handles = [Line2D([], [], marker="o", linestyle="none", color=colors[k], markersize=5,
                      label=class_names[k] if class_names is not None else f"class {k}")
               for k in range(n_classes)]
    axes[-1].legend(handles=handles, frameon=False, fontsize="small", loc="best")
    if title:
        width = next(iter(snaps.values())).shape[1]
        fig.suptitle(f"{title} ({width} units" + (", PCA)" if width > 2 else ")"))
    return S.save(fig, path)
