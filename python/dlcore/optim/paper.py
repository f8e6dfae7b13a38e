"""Optimizers PyTorch does not ship, implemented from their papers:
AdaBound, AdaBelief, AdamP and Lion. Each ``step()`` is one fused Rust call
per parameter group, like the PyTorch-compatible optimizers.
"""

from __future__ import annotations

from collections.abc import Iterable

from .optimizer import Optimizer, _check, _check_common

__all__ = ["AdaBelief", "AdaBound", "AdamP", "Lion"]


class AdaBound(Optimizer):
    r"""AdaBound: Adam whose per-element step size is clipped into a band that
    narrows towards SGD's learning rate.

    Luo, Xiong, Liu & Sun, "Adaptive Gradient Methods with Dynamic Bound of
    Learning Rate", ICLR 2019, Algorithm 2 (AMSBound: Algorithm 3), with the
    bounds of the authors' code::

        g = g + weight_decay * theta
        m = beta1 * m + (1 - beta1) * g
        v = beta2 * v + (1 - beta2) * g^2          (amsbound: v = max(v_max, v))
        f = final_lr * lr / base_lr                 (follows lr schedules)
        lower = f * (1 - 1 / (gamma * t + 1)) ;  upper = f * (1 + 1 / (gamma * t))
        eta = clip(lr * sqrt(1 - beta2^t) / (1 - beta1^t) / (sqrt(v) + eps), lower, upper)
        theta = theta - eta * m

    Args:
        params (iterable): parameters to optimize, or dicts defining groups.
        lr (float): Adam learning rate. Default: ``1e-3``.
        betas (tuple[float, float]): Default: ``(0.9, 0.999)``.
        final_lr (float): the SGD learning rate the bounds converge to. Default: 0.1.
        gamma (float): convergence speed of the bounds. Default: ``1e-3``.
        eps (float): Default: ``1e-8``.
        weight_decay (float): L2 penalty. Default: 0.
        amsbound (bool): use AMSBound. Default: ``False``.

    Each group remembers its initial learning rate as ``base_lr``.

    Examples::

        >>> import dlcore, dlcore.nn as nn
        >>> opt = dlcore.optim.AdaBound(nn.Linear(3, 1).parameters(), lr=1e-3, final_lr=0.1)
    """

    _kind = "adabound"

    def __init__(
        self,
        params: Iterable,
        lr: float = 1e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        final_lr: float = 0.1,
        gamma: float = 1e-3,
        eps: float = 1e-8,
        weight_decay: float = 0,
        amsbound: bool = False,
    ) -> None:
        _check_common(lr, eps, betas, weight_decay)
        _check(final_lr >= 0.0, f"Invalid final learning rate: {final_lr}")
        _check(0.0 <= gamma < 1.0, f"Invalid gamma parameter: {gamma}")
        defaults = {
            "lr": lr,
            "betas": betas,
            "final_lr": final_lr,
            "gamma": gamma,
            "eps": eps,
            "weight_decay": weight_decay,
            "amsbound": amsbound,
        }
        super().__init__(params, defaults)

    def add_param_group(self, param_group) -> None:
        super().add_param_group(param_group)
        group = self.param_groups[-1]
        group.setdefault("base_lr", group["lr"])


class AdaBelief(Optimizer):
    r"""AdaBelief: Adam whose second moment tracks the "belief" (g - m)^2.

    Zhuang, Tang, Ding, Tatikonda, Dvornek, Papademetris & Duncan,
    "AdaBelief Optimizer: Adapting Stepsizes by the Belief in Observed
    Gradients", NeurIPS 2020, Algorithm 2::

        theta = theta * (1 - lr * weight_decay)     (decoupled; else g += weight_decay * theta)
        m = beta1 * m + (1 - beta1) * g
        s = beta2 * s + (1 - beta2) * (g - m)^2 + eps    (amsgrad: s = max(s_max, s))
        theta = theta - lr * (m / (1 - beta1^t)) / (sqrt(s / (1 - beta2^t)) + eps)

    Args:
        params (iterable): parameters to optimize, or dicts defining groups.
        lr (float): Default: ``1e-3``.
        betas (tuple[float, float]): Default: ``(0.9, 0.999)``.
        eps (float): Default: ``1e-16`` (the authors' recommendation; the
            belief term is much smaller than Adam's second moment).
        weight_decay (float): Default: 0.
        decoupled_weight_decay (bool): AdamW-style decay (the authors'
            ``weight_decouple``). Default: ``True``.
        amsgrad (bool): keep the maximum of ``s``. Default: ``False``.

    The authors' optional RAdam-style rectification is not implemented.
    State: ``step``, ``exp_avg``, ``exp_avg_var`` (and ``max_exp_avg_var``).

    Examples::

        >>> import dlcore, dlcore.nn as nn
        >>> opt = dlcore.optim.AdaBelief(nn.Linear(3, 1).parameters(), lr=1e-3)
    """

    _kind = "adabelief"

    def __init__(
        self,
        params: Iterable,
        lr: float = 1e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-16,
        weight_decay: float = 0,
        amsgrad: bool = False,
        decoupled_weight_decay: bool = True,
    ) -> None:
        _check_common(lr, eps, betas, weight_decay)
        defaults = {
            "lr": lr,
            "betas": betas,
            "eps": eps,
            "weight_decay": weight_decay,
            "amsgrad": amsgrad,
            "decoupled_weight_decay": decoupled_weight_decay,
        }
        super().__init__(params, defaults)


class AdamP(Optimizer):
    r"""AdamP: Adam whose update is projected off the weight direction for
    scale-invariant weights (e.g. those followed by batch norm), which stops
    momentum from inflating their norm.

    Heo, Chun, Oh, Han, Yun, Kim, Uh & Ha, "AdamP: Slowing Down the Slowdown
    for Momentum Optimizers on Scale-invariant Weights", ICLR 2021,
    Algorithm 2 (as the authors' code)::

        m = beta1 * m + (1 - beta1) * g ;  v = beta2 * v + (1 - beta2) * g^2
        u = m / (sqrt(v) / sqrt(1 - beta2^t) + eps)     (nesterov: beta1 * m + (1 - beta1) * g on top)
        ratio = 1
        if theta.ndim > 1:
            for view in (rows of theta.view(theta.shape[0], -1), the whole tensor):
                if max over rows of |cos(g, theta)| < delta / sqrt(row length):
                    th = theta / (||theta||_row + eps)
                    u = u - th * sum_row(th * u) ;  ratio = wd_ratio ;  break
        theta = theta * (1 - lr * weight_decay * ratio) - lr / (1 - beta1^t) * u

    where cos(x, y) = x.y / max(||x|| ||y||, eps). The cosine similarities,
    the projection and the update are all computed in Rust (three passes
    over a tensor that may be projected, one pass for 1-d tensors).

    Args:
        params (iterable): parameters to optimize, or dicts defining groups.
        lr (float): Default: ``1e-3``.
        betas (tuple[float, float]): Default: ``(0.9, 0.999)``.
        eps (float): Default: ``1e-8``.
        weight_decay (float): decoupled weight decay. Default: 0.
        delta (float): cosine threshold for scale invariance. Default: 0.1.
        wd_ratio (float): weight decay multiplier for projected weights. Default: 0.1.
        nesterov (bool): Nesterov momentum. Default: ``False``.

    Examples::

        >>> import dlcore, dlcore.nn as nn
        >>> opt = dlcore.optim.AdamP(nn.Linear(3, 2).parameters(), lr=1e-3, weight_decay=1e-2)
    """

    _kind = "adamp"

    def __init__(
        self,
        params: Iterable,
        lr: float = 1e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 0,
        delta: float = 0.1,
        wd_ratio: float = 0.1,
        nesterov: bool = False,
    ) -> None:
        _check_common(lr, eps, betas, weight_decay)
        _check(delta >= 0.0, f"Invalid delta value: {delta}")
        _check(0.0 <= wd_ratio <= 1.0, f"Invalid wd_ratio value: {wd_ratio}")
        defaults = {
            "lr": lr,
            "betas": betas,
            "eps": eps,
            "weight_decay": weight_decay,
            "delta": delta,
            "wd_ratio": wd_ratio,
            "nesterov": nesterov,
        }
        super().__init__(params, defaults)


class Lion(Optimizer):
    r"""Lion (EvoLved Sign Momentum): the sign of an interpolated momentum.

    Chen, Liang, Huang, Real, Wang, Pham, Dong, Luong, Hsieh, Lu & Le,
    "Symbolic Discovery of Optimization Algorithms", NeurIPS 2023, Program 1::

        c = beta1 * m + (1 - beta1) * g
        theta = theta * (1 - lr * weight_decay) - lr * sign(c)
        m = beta2 * m + (1 - beta2) * g

    Every element moves by exactly ``lr`` (plus decay), so Lion wants a
    learning rate 3-10x smaller than AdamW's and a larger weight decay.

    Args:
        params (iterable): parameters to optimize, or dicts defining groups.
        lr (float): Default: ``1e-4``.
        betas (tuple[float, float]): Default: ``(0.9, 0.99)``.
        weight_decay (float): decoupled weight decay. Default: 0.
        maximize (bool): maximize the objective. Default: ``False``.

    Examples::

        >>> import dlcore, dlcore.nn as nn
        >>> opt = dlcore.optim.Lion(nn.Linear(3, 1).parameters(), lr=1e-4)
    """

    _kind = "lion"

    def __init__(
        self,
        params: Iterable,
        lr: float = 1e-4,
        betas: tuple[float, float] = (0.9, 0.99),
        weight_decay: float = 0,
        *,
        maximize: bool = False,
    ) -> None:
        _check_common(lr, None, betas, weight_decay)
        defaults = {
            "lr": lr,
            "betas": betas,
            "weight_decay": weight_decay,
            "maximize": maximize,
        }
        super().__init__(params, defaults)
