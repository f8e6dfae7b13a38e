"""The Adam family, as ``torch.optim``: Adam, AdamW, RAdam, NAdam, Adamax.

Same arguments, defaults, state keys and update formulas as PyTorch's
single-tensor implementation; each ``step()`` is one fused Rust call per
parameter group (one pass over parameter, gradient and moments).
"""

from __future__ import annotations

from collections.abc import Iterable

from .optimizer import Optimizer, _check, _check_common, _no_differentiable

__all__ = ["Adam", "AdamW", "Adamax", "NAdam", "RAdam"]


class Adam(Optimizer):
    r"""Adam (Kingma & Ba, 2015), optionally AMSGrad (Reddi et al., 2018).

    For each parameter, at step :math:`t` (PyTorch's formulation)::

        g = -g if maximize
        g = g + weight_decay * theta          (L2; or, if decoupled_weight_decay,
                                                theta = theta * (1 - lr * weight_decay))
        m = m + (1 - beta1) * (g - m)
        v = beta2 * v + (1 - beta2) * g^2
        v_max = max(v_max, v)                 (amsgrad; then v_max replaces v)
        theta = theta - lr / (1 - beta1^t) * m / (sqrt(v) / sqrt(1 - beta2^t) + eps)

    Args:
        params (iterable): parameters to optimize, or dicts defining groups.
        lr (float): learning rate. Default: ``1e-3``.
        betas (tuple[float, float]): coefficients of the running averages of
            the gradient and its square. Default: ``(0.9, 0.999)``.
        eps (float): added to the denominator. Default: ``1e-8``.
        weight_decay (float): weight decay (L2 penalty). Default: 0.
        amsgrad (bool): use the AMSGrad variant. Default: ``False``.
        maximize (bool): maximize the objective. Default: ``False``.
        decoupled_weight_decay (bool): decay the weights directly (AdamW)
            instead of adding an L2 term to the gradient. Default: ``False``.
        foreach, fused: accepted for PyTorch compatibility; dlcore's step is
            always one fused call.

    State per parameter: ``step`` (float), ``exp_avg``, ``exp_avg_sq`` and,
    with amsgrad, ``max_exp_avg_sq``.

    Examples::

        >>> import dlcore, dlcore.nn as nn
        >>> model = nn.Linear(3, 1)
        >>> opt = dlcore.optim.Adam(model.parameters(), lr=1e-3)
        >>> model(dlcore.ones(4, 3)).sum().backward()
        >>> opt.step()
        >>> sorted(opt.state[model.weight])
        ['exp_avg', 'exp_avg_sq', 'step']
    """

    _kind = "adam"

    def __init__(
        self,
        params: Iterable,
        lr: float = 1e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 0,
        amsgrad: bool = False,
        *,
        foreach: bool | None = None,
        maximize: bool = False,
        capturable: bool = False,
        differentiable: bool = False,
        fused: bool | None = None,
        decoupled_weight_decay: bool = False,
    ) -> None:
        _check_common(lr, eps, betas, weight_decay)
        _no_differentiable(type(self).__name__, differentiable, capturable)
        defaults = {
            "lr": lr,
            "betas": betas,
            "eps": eps,
            "weight_decay": weight_decay,
            "amsgrad": amsgrad,
            "maximize": maximize,
            "foreach": foreach,
            "capturable": capturable,
            "differentiable": differentiable,
            "fused": fused,
            "decoupled_weight_decay": decoupled_weight_decay,
        }
        super().__init__(params, defaults)


class AdamW(Adam):
    r"""Adam with decoupled weight decay (Loshchilov & Hutter, 2019).

    Identical to :class:`Adam` with ``decoupled_weight_decay=True``: each step
    first shrinks the weights, ``theta = theta * (1 - lr * weight_decay)``,
    so the decay is not rescaled by the adaptive denominator as an L2 term
    in the gradient would be. Default ``weight_decay`` is ``1e-2``.

    Examples::

        >>> import dlcore, dlcore.nn as nn
        >>> opt = dlcore.optim.AdamW(nn.Linear(3, 1).parameters(), lr=1e-3, weight_decay=0.01)
    """

    def __init__(
        self,
        params: Iterable,
        lr: float = 1e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 1e-2,
        amsgrad: bool = False,
        *,
        maximize: bool = False,
        foreach: bool | None = None,
        capturable: bool = False,
        differentiable: bool = False,
        fused: bool | None = None,
    ) -> None:
        super().__init__(
            params,
            lr,
            betas,
            eps,
            weight_decay,
            amsgrad,
            foreach=foreach,
            maximize=maximize,
            capturable=capturable,
            differentiable=differentiable,
            fused=fused,
            decoupled_weight_decay=True,
        )


class RAdam(Optimizer):
    r"""RAdam, rectified Adam (Liu et al., 2020), as ``torch.optim.RAdam``.

    Adam's moments; with :math:`\rho_\infty = 2/(1-\beta_2) - 1` and
    :math:`\rho_t = \rho_\infty - 2t\beta_2^t/(1-\beta_2^t)`, the step is the
    bias-corrected momentum times ``lr``, and, once :math:`\rho_t > 5`, also
    times the adaptive term :math:`\sqrt{1-\beta_2^t}/(\sqrt{v}+\epsilon)` and
    the variance rectification
    :math:`r_t = \sqrt{(\rho_t-4)(\rho_t-2)\rho_\infty / ((\rho_\infty-4)(\rho_\infty-2)\rho_t)}`.

    Args:
        params, lr (default ``1e-3``), betas (``(0.9, 0.999)``), eps
        (``1e-8``), weight_decay (0), decoupled_weight_decay (``False``:
        L2; ``True``: AdamW-style), maximize: as :class:`Adam`.

    Examples::

        >>> import dlcore, dlcore.nn as nn
        >>> opt = dlcore.optim.RAdam(nn.Linear(3, 1).parameters())
    """

    _kind = "radam"

    def __init__(
        self,
        params: Iterable,
        lr: float = 1e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 0,
        decoupled_weight_decay: bool = False,
        *,
        foreach: bool | None = None,
        maximize: bool = False,
        capturable: bool = False,
        differentiable: bool = False,
    ) -> None:
        _check_common(lr, eps, betas, weight_decay)
        _no_differentiable("RAdam", differentiable, capturable)
        defaults = {
            "lr": lr,
            "betas": betas,
            "eps": eps,
            "weight_decay": weight_decay,
            "maximize": maximize,
            "foreach": foreach,
            "capturable": capturable,
            "decoupled_weight_decay": decoupled_weight_decay,
            "differentiable": differentiable,
        }
        super().__init__(params, defaults)


class NAdam(Optimizer):
    r"""NAdam, Adam with Nesterov momentum (Dozat, 2016), as ``torch.optim.NAdam``.

    With the momentum schedule :math:`\mu_t = \beta_1(1 - 0.5\cdot0.96^{t\psi})`
    (:math:`\psi` = ``momentum_decay``) and :math:`\Pi_t = \prod_{i\le t}\mu_i`
    (state ``mu_product``, kept in float32 as PyTorch does)::

        denom = sqrt(v / (1 - beta2^t)) + eps
        theta -= lr * (1 - mu_t) / (1 - Pi_t) * g / denom
        theta -= lr * mu_{t+1} / (1 - Pi_t * mu_{t+1}) * m / denom

    Args:
        params, lr (default ``2e-3``), betas (``(0.9, 0.999)``), eps
        (``1e-8``), weight_decay (0), momentum_decay (``4e-3``),
        decoupled_weight_decay (``False``), maximize.

    Examples::

        >>> import dlcore, dlcore.nn as nn
        >>> opt = dlcore.optim.NAdam(nn.Linear(3, 1).parameters())
    """

    _kind = "nadam"

    def __init__(
        self,
        params: Iterable,
        lr: float = 2e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 0,
        momentum_decay: float = 4e-3,
        decoupled_weight_decay: bool = False,
        *,
        foreach: bool | None = None,
        maximize: bool = False,
        capturable: bool = False,
        differentiable: bool = False,
    ) -> None:
        _check_common(lr, eps, betas, weight_decay)
        _check(momentum_decay >= 0.0, f"Invalid momentum_decay value: {momentum_decay}")
        _no_differentiable("NAdam", differentiable, capturable)
        defaults = {
            "lr": lr,
            "betas": betas,
            "eps": eps,
            "weight_decay": weight_decay,
            "momentum_decay": momentum_decay,
            "decoupled_weight_decay": decoupled_weight_decay,
            "maximize": maximize,
            "foreach": foreach,
            "capturable": capturable,
            "differentiable": differentiable,
        }
        super().__init__(params, defaults)


class Adamax(Optimizer):
    r"""Adamax, Adam with the infinity norm (Kingma & Ba, 2015), as ``torch.optim.Adamax``::

        m = m + (1 - beta1) * (g - m)
        u = max(beta2 * u, |g| + eps)
        theta = theta - lr / (1 - beta1^t) * m / u

    Args:
        params, lr (default ``2e-3``), betas (``(0.9, 0.999)``), eps
        (``1e-8``), weight_decay (0, L2), maximize.

    Examples::

        >>> import dlcore, dlcore.nn as nn
        >>> opt = dlcore.optim.Adamax(nn.Linear(3, 1).parameters())
    """

    _kind = "adamax"

    def __init__(
        self,
        params: Iterable,
        lr: float = 2e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 0,
        foreach: bool | None = None,
        *,
        maximize: bool = False,
        differentiable: bool = False,
        capturable: bool = False,
    ) -> None:
        _check_common(lr, eps, betas, weight_decay)
        _no_differentiable("Adamax", differentiable, capturable)
        defaults = {
            "lr": lr,
            "betas": betas,
            "eps": eps,
            "weight_decay": weight_decay,
            "foreach": foreach,
            "maximize": maximize,
            "differentiable": differentiable,
            "capturable": capturable,
        }
        super().__init__(params, defaults)
