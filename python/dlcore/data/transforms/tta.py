"""Test-time augmentation: average a model's predictions over transformed views."""

from __future__ import annotations

from typing import Callable, Sequence

import dlcore
from dlcore import Tensor

from .geometric import hflip, vflip

__all__ = ["tta_predict", "TTA_VIEWS"]

#: Named deterministic views for :func:`tta_predict`.
TTA_VIEWS: dict[str, Callable] = {"identity": lambda x: x, "hflip": hflip, "vflip": vflip}


def tta_predict(
    model: Callable[[Tensor], Tensor],
    x: Tensor,
    views: Sequence[str | Callable] = ("identity", "hflip"),
    activation: str | Callable | None = "softmax",
    reduce: str = "mean",
) -> Tensor:
    r"""Predict with test-time augmentation: run ``model`` on each view of ``x``
    and combine the (activated) outputs.

    Runs under ``no_grad``; the model's mode is left alone, so call
    ``model.eval()`` first (dropout, batch norm).

    Args:
        model (callable): maps a batch to outputs ``(N, ...)``.
        x (Tensor): input batch, e.g. images ``(N, C, H, W)``.
        views (sequence): view names from :data:`TTA_VIEWS` (``"identity"``,
            ``"hflip"``, ``"vflip"``) or callables (any deterministic
            transform, e.g. ``CenterCrop``, or a random one for Monte-Carlo
            TTA). Default: identity and horizontal flip.
        activation (str, callable or None): applied to each output before
            combining: ``"softmax"`` (over dim 1; averaging probabilities, not
            logits), ``"sigmoid"``, a callable, or ``None``. Default: ``"softmax"``.
        reduce (str): ``"mean"`` or ``"max"`` over views. Default: ``"mean"``.

    Returns:
        Tensor: combined predictions, the shape of one model output.

    Examples::

        >>> import dlcore.nn as nn
        >>> import dlcore.data.transforms as T
        >>> model = nn.Sequential(nn.Flatten(), nn.Linear(3 * 4 * 4, 5)).eval()
        >>> p = T.tta_predict(model, dlcore.rand(2, 3, 4, 4))
        >>> tuple(p.shape), [round(v, 5) for v in p.sum(1).tolist()]
        ((2, 5), [1.0, 1.0])
    """
    if not views:
        raise ValueError("tta_predict: need at least one view")
    if reduce not in ("mean", "max"):
        raise ValueError(f"tta_predict: reduce must be 'mean' or 'max', got {reduce!r}")
    fns = []
    for v in views:
        if isinstance(v, str):
            if v not in TTA_VIEWS:
                raise ValueError(f"tta_predict: unknown view {v!r}; known: {sorted(TTA_VIEWS)}")
            v = TTA_VIEWS[v]
        fns.append(v)
    if activation == "softmax":
        act = lambda o: o.softmax(1)  # noqa: E731
    elif activation == "sigmoid":
        act = lambda o: o.sigmoid()  # noqa: E731
    elif activation is None:
        act = lambda o: o  # noqa: E731
    elif callable(activation):
        act = activation
    else:
        raise ValueError(f"tta_predict: unknown activation {activation!r}")
    with dlcore.no_grad():
        outs = [act(model(fn(x))) for fn in fns]
        stacked = dlcore.stack(outs, 0)  # (V, N, ...)
        return stacked.mean(0) if reduce == "mean" else stacked.amax(0)
