"""Stochastic gradient descent (optionally with momentum), as ``torch.optim.SGD``."""

from __future__ import annotations

from collections.abc import Iterable

from .optimizer import Optimizer, _no_differentiable, required

__all__ = ["SGD"]


class SGD(Optimizer):
    r"""Stochastic gradient descent, optionally with (Nesterov) momentum.

    For each parameter :math:`\theta` with gradient :math:`g` (PyTorch's
    formulation, where the learning rate multiplies the momentum buffer)::

        g = g + weight_decay * theta                      (if weight_decay != 0)
        b = g                      on the first step     (if momentum != 0)
        b = momentum * b + (1 - dampening) * g            afterwards
        g = g + momentum * b  if nesterov  else  b
        theta = theta - lr * g     (or + lr * g when maximize)

    The whole update, over every parameter of a group, is one Rust call.

    Args:
        params (iterable): parameters to optimize, or dicts defining groups.
        lr (float): learning rate. Default: ``1e-3``.
        momentum (float): momentum factor. Default: 0.
        dampening (float): dampening for momentum. Default: 0.
        weight_decay (float): L2 penalty. Default: 0.
        nesterov (bool): use Nesterov momentum (Sutskever et al., 2013).
            Needs ``momentum > 0`` and ``dampening == 0``. Default: ``False``.
        maximize (bool): maximize the objective instead of minimizing it.
            Default: ``False``.
        foreach, fused: accepted for PyTorch compatibility; dlcore's step is
            always one fused call.

    Examples::

        >>> import dlcore, dlcore.nn as nn
        >>> model = nn.Linear(3, 1)
        >>> opt = dlcore.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
        >>> opt.zero_grad()
        >>> model(dlcore.ones(4, 3)).sum().backward()
        >>> opt.step()
    """

    def __init__(
        self,
        params: Iterable,
        lr: float = 1e-3,
        momentum: float = 0,
        dampening: float = 0,
        weight_decay: float = 0,
        nesterov: bool = False,
        *,
        maximize: bool = False,
        foreach: bool | None = None,
        differentiable: bool = False,
        fused: bool | None = None,
    ) -> None:
        if lr is not required and lr < 0.0:
            raise ValueError(f"Invalid learning rate: {lr}")
        if momentum < 0.0:
            raise ValueError(f"Invalid momentum value: {momentum}")
        if weight_decay < 0.0:
            raise ValueError(f"Invalid weight_decay value: {weight_decay}")
        if nesterov and (momentum <= 0 or dampening != 0):
            raise ValueError("Nesterov momentum requires a momentum and zero dampening")
        _no_differentiable("SGD", differentiable)
        defaults = {
            "lr": lr,
            "momentum": momentum,
            "dampening": dampening,
            "weight_decay": weight_decay,
            "nesterov": nesterov,
            "maximize": maximize,
            "foreach": foreach,
            "differentiable": differentiable,
            "fused": fused,
        }
        super().__init__(params, defaults)

    _kind = "sgd"
