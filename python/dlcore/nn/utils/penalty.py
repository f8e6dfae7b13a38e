r"""Explicit L1 / L2 weight penalties, to add to a loss.

Weight decay and an L2 penalty are two ways to pull weights towards zero:

* **L2 penalty in the loss**: ``loss + l2_penalty(params, lam)`` adds
  :math:`\frac{\lambda}{2}\sum_i \|w_i\|^2`, whose gradient :math:`\lambda w`
  joins the data gradient *before* the optimizer sees it. With plain SGD this
  is exactly ``SGD(weight_decay=lam)``. With adaptive optimizers (Adam,
  RMSprop, …) the penalty's gradient is divided by the adaptive denominator
  like any other gradient, so weights with large gradient history are
  regularised less.
* **Decoupled weight decay** (``AdamW``, ``Lion``, ``AdaBelief``' default):
  the optimizer shrinks the weights directly, ``w <- w (1 - lr * lam)``,
  independent of the gradient scale (Loshchilov & Hutter, 2019). Not
  expressible as a loss term for adaptive methods.
* **L1 penalty**: :math:`\lambda\sum_i |w_i|` has gradient
  :math:`\lambda\,\mathrm{sign}(w)`, a constant pull that drives small
  weights to exactly zero (sparsity), unlike L2's proportional pull.

The penalties are ordinary differentiable dlcore expressions (no optimizer
state), so they show up in the loss curve — which weight decay does not.
"""

from __future__ import annotations

from collections.abc import Iterable

import dlcore
from dlcore import Tensor

__all__ = ["l1_penalty", "l2_penalty"]


def _params(params) -> list[Tensor]:
    if isinstance(params, Tensor):
        return [params]
    return list(params)


def l1_penalty(params: Tensor | Iterable[Tensor], weight: float = 1.0) -> Tensor:
    r"""``weight * sum_i sum(|p_i|)`` over ``params``, differentiable.

    Args:
        params (Tensor or iterable of Tensors): e.g. ``model.parameters()``
            (often only the weights, not the biases).
        weight (float): the coefficient :math:`\lambda`. Default: 1.

    Examples::

        >>> import dlcore
        >>> w = dlcore.tensor([1.0, -2.0, 0.5], requires_grad=True)
        >>> round(dlcore.nn.utils.l1_penalty([w], weight=0.1).item(), 6)
        0.35
    """
    terms = [p.abs().sum() for p in _params(params)]
    if not terms:
        return dlcore.tensor(0.0)
    total = terms[0]
    for t in terms[1:]:
        total = total + t
    return total * weight


def l2_penalty(params: Tensor | Iterable[Tensor], weight: float = 1.0) -> Tensor:
    r"""``weight / 2 * sum_i sum(p_i ** 2)`` over ``params``, differentiable.

    The factor 1/2 makes the gradient ``weight * p``: adding this to the loss
    and stepping with ``SGD(lr)`` is exactly ``SGD(lr, weight_decay=weight)``.

    Args:
        params (Tensor or iterable of Tensors): e.g. ``model.parameters()``.
        weight (float): the coefficient :math:`\lambda`. Default: 1.

    Examples::

        >>> import dlcore
        >>> w = dlcore.tensor([1.0, -2.0], requires_grad=True)
        >>> round(dlcore.nn.utils.l2_penalty([w], weight=0.1).item(), 6)
        0.25
    """
    terms = [(p * p).sum() for p in _params(params)]
    if not terms:
        return dlcore.tensor(0.0)
    total = terms[0]
    for t in terms[1:]:
        total = total + t
    return total * (0.5 * weight)
