"""Gradient clipping, as ``torch.nn.utils``: one Rust call computes the
total norm over every gradient (chunks in parallel, f64 accumulation) and a
second scales them in place."""

from __future__ import annotations

import math
from collections.abc import Iterable

import dlcore
from dlcore import Tensor, _core

__all__ = ["clip_grad_norm_", "clip_grad_value_", "get_total_norm"]


def _grads(parameters) -> list[Tensor]:
    if isinstance(parameters, Tensor):
        parameters = [parameters]
    grads = []
    for p in parameters:
        g = p.grad
        if g is None:
            continue
        if not g.is_contiguous():
            with dlcore.no_grad():
                p.grad = g = g.contiguous()
        grads.append(g)
    return grads


def clip_grad_norm_(
    parameters: Tensor | Iterable[Tensor],
    max_norm: float,
    norm_type: float = 2.0,
    error_if_nonfinite: bool = False,
    foreach: bool | None = None,
) -> Tensor:
    r"""Scale the gradients of ``parameters`` so that their total norm is at
    most ``max_norm``.

    The total norm is the ``norm_type`` norm of the per-gradient norms (the
    norm of all gradients concatenated into one vector). Every gradient is
    multiplied by ``min(1, max_norm / (total_norm + 1e-6))`` in place.

    Args:
        parameters (Tensor or iterable of Tensors): tensors whose ``.grad``
            is clipped; those without a gradient are skipped.
        max_norm (float): the largest allowed total norm.
        norm_type (float): order of the norm: 2, 1, any p, ``inf`` or ``-inf``.
            Default: 2.
        error_if_nonfinite (bool): raise ``RuntimeError`` if the total norm
            is ``nan`` or ``inf`` instead of scaling by it. Default: ``False``.
        foreach: accepted for PyTorch compatibility.

    Returns:
        The total norm of the gradients before clipping (a 0-d tensor).

    Examples::

        >>> import dlcore, dlcore.nn as nn
        >>> model = nn.Linear(3, 1)
        >>> (model(dlcore.ones(2, 3)) * 100).sum().backward()
        >>> norm = nn.utils.clip_grad_norm_(model.parameters(), max_norm=1.0)
        >>> float(nn.utils.get_total_norm([p.grad for p in model.parameters()])) <= 1.0 + 1e-5
        True
    """
    return _core.clip_grad_norm(
        _grads(parameters), float(max_norm), float(norm_type), bool(error_if_nonfinite)
    )


def clip_grad_value_(
    parameters: Tensor | Iterable[Tensor],
    clip_value: float,
    foreach: bool | None = None,
) -> None:
    """Clamp every gradient of ``parameters`` into ``[-clip_value, clip_value]`` in place.

    Args:
        parameters (Tensor or iterable of Tensors): tensors whose ``.grad`` is clipped.
        clip_value (float): the bound.
        foreach: accepted for PyTorch compatibility.

    Examples::

        >>> import dlcore, dlcore.nn as nn
        >>> w = dlcore.tensor([1.0, -2.0], requires_grad=True)
        >>> (w * dlcore.tensor([5.0, -0.5])).sum().backward()
        >>> nn.utils.clip_grad_value_([w], 1.0)
        >>> w.grad.tolist()
        [1.0, -0.5]
    """
    _core.clip_grad_value(_grads(parameters), float(clip_value))


def get_total_norm(
    tensors: Tensor | Iterable[Tensor],
    norm_type: float = 2.0,
    error_if_nonfinite: bool = False,
    foreach=None,
) -> Tensor:
    """The ``norm_type`` norm of the norms of ``tensors`` (as ``torch.nn.utils.get_total_norm``)."""
    if isinstance(tensors, Tensor):
        tensors = [tensors]
    tensors = [t if t.is_contiguous() else t.contiguous() for t in tensors]
    total = _core.grad_total_norm(tensors, float(norm_type))
    if error_if_nonfinite and not math.isfinite(total):
        raise RuntimeError(
            f"The total norm of order {float(norm_type)} for gradients from `parameters` is non-finite, so it "
            "cannot be clipped. To disable this error and scale the gradients by the non-finite norm anyway, "
            "set `error_if_nonfinite=False`"
        )
    dtype = tensors[0].dtype if tensors else dlcore.float32
    return dlcore.tensor(total, dtype=dtype)
