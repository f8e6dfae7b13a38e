"""Adagrad and RMSprop, as ``torch.optim`` (one fused Rust call per group)."""

from __future__ import annotations

from collections.abc import Iterable

import dlcore

from .optimizer import Optimizer, _check, _check_common, _no_differentiable

__all__ = ["Adagrad", "RMSprop"]


class Adagrad(Optimizer):
    r"""Adagrad (Duchi et al., 2011), as ``torch.optim.Adagrad``::

        g = g + weight_decay * theta
        clr = lr / (1 + (t - 1) * lr_decay)
        sum = sum + g^2
        theta = theta - clr * g / (sqrt(sum) + eps)

    Args:
        params (iterable): parameters to optimize, or dicts defining groups.
        lr (float): learning rate. Default: ``1e-2``.
        lr_decay (float): learning rate decay. Default: 0.
        weight_decay (float): L2 penalty. Default: 0.
        initial_accumulator_value (float): initial value of ``sum``. Default: 0.
        eps (float): added to the denominator. Default: ``1e-10``.
        maximize (bool): maximize the objective. Default: ``False``.

    As in PyTorch the state (``step`` = 0 and ``sum``) is created when the
    optimizer is constructed.

    Examples::

        >>> import dlcore, dlcore.nn as nn
        >>> opt = dlcore.optim.Adagrad(nn.Linear(3, 1).parameters(), lr=0.1)
    """

    _kind = "adagrad"

    def __init__(
        self,
        params: Iterable,
        lr: float = 1e-2,
        lr_decay: float = 0,
        weight_decay: float = 0,
        initial_accumulator_value: float = 0,
        eps: float = 1e-10,
        foreach: bool | None = None,
        *,
        maximize: bool = False,
        differentiable: bool = False,
        fused: bool | None = None,
    ) -> None:
        _check_common(lr, eps, None, weight_decay)
        _check(lr_decay >= 0.0, f"Invalid lr_decay value: {lr_decay}")
        _check(
            initial_accumulator_value >= 0.0,
            f"Invalid initial_accumulator_value value: {initial_accumulator_value}",
        )
        _no_differentiable("Adagrad", differentiable)
        defaults = {
            "lr": lr,
            "lr_decay": lr_decay,
            "eps": eps,
            "weight_decay": weight_decay,
            "initial_accumulator_value": initial_accumulator_value,
            "foreach": foreach,
            "maximize": maximize,
            "differentiable": differentiable,
            "fused": fused,
        }
        super().__init__(params, defaults)  # add_param_group creates the state

    def _init_state(self, group) -> None:
        for p in group["params"]:
            state = self.state[p]
            state.setdefault("step", 0.0)
            if "sum" not in state:
                state["sum"] = dlcore.full_like(p, group["initial_accumulator_value"])

    def add_param_group(self, param_group) -> None:
        super().add_param_group(param_group)
        self._init_state(self.param_groups[-1])


class RMSprop(Optimizer):
    r"""RMSprop (Hinton, 2012), as ``torch.optim.RMSprop``::

        v = alpha * v + (1 - alpha) * g^2
        avg = sqrt(v - g_avg^2) if centered (g_avg = running mean of g) else sqrt(v)
        avg = avg + eps
        b = momentum * b + g / avg ; theta = theta - lr * b   (momentum > 0)
        theta = theta - lr * g / avg                          (otherwise)

    Args:
        params (iterable): parameters to optimize, or dicts defining groups.
        lr (float): learning rate. Default: ``1e-2``.
        alpha (float): smoothing constant. Default: 0.99.
        eps (float): added to the denominator. Default: ``1e-8``.
        weight_decay (float): L2 penalty. Default: 0.
        momentum (float): momentum factor. Default: 0.
        centered (bool): normalise by the estimated variance of the gradient.
        maximize (bool): maximize the objective. Default: ``False``.

    Examples::

        >>> import dlcore, dlcore.nn as nn
        >>> opt = dlcore.optim.RMSprop(nn.Linear(3, 1).parameters(), momentum=0.9)
    """

    _kind = "rmsprop"

    def __init__(
        self,
        params: Iterable,
        lr: float = 1e-2,
        alpha: float = 0.99,
        eps: float = 1e-8,
        weight_decay: float = 0,
        momentum: float = 0,
        centered: bool = False,
        capturable: bool = False,
        foreach: bool | None = None,
        maximize: bool = False,
        differentiable: bool = False,
    ) -> None:
        _check_common(lr, eps, None, weight_decay)
        _check(momentum >= 0.0, f"Invalid momentum value: {momentum}")
        _check(alpha >= 0.0, f"Invalid alpha value: {alpha}")
        _no_differentiable("RMSprop", differentiable, capturable)
        defaults = {
            "lr": lr,
            "momentum": momentum,
            "alpha": alpha,
            "eps": eps,
            "centered": centered,
            "weight_decay": weight_decay,
            "capturable": capturable,
            "foreach": foreach,
            "maximize": maximize,
            "differentiable": differentiable,
        }
        super().__init__(params, defaults)
