"""Batch normalisation layers (Ioffe & Szegedy, 2015) with torch's
parameters, buffers and ``state_dict`` keys: ``weight``, ``bias``,
``running_mean``, ``running_var``, ``num_batches_tracked``."""

from __future__ import annotations

import dlcore

from . import functional as F
from .module import Module, Parameter

__all__ = ["BatchNorm1d", "BatchNorm2d"]


class _BatchNorm(Module):
    _expected_dims: tuple[int, ...] = ()

    def __init__(
        self,
        num_features: int,
        eps: float = 1e-5,
        momentum: float | None = 0.1,
        affine: bool = True,
        track_running_stats: bool = True,
        device=None,
        dtype=None,
        *,
        bias: bool = True,
    ) -> None:
        super().__init__()
        self.num_features = num_features
        self.eps = eps
        self.momentum = momentum
        self.affine = affine
        self.track_running_stats = track_running_stats
        dtype = dtype or dlcore.float32
        if affine:
            self.weight = Parameter(dlcore.ones(num_features, dtype=dtype))
            if bias:
                self.bias = Parameter(dlcore.zeros(num_features, dtype=dtype))
            else:
                self.register_parameter("bias", None)
        else:
            self.register_parameter("weight", None)
            self.register_parameter("bias", None)
        if track_running_stats:
            self.register_buffer("running_mean", dlcore.zeros(num_features, dtype=dtype))
            self.register_buffer("running_var", dlcore.ones(num_features, dtype=dtype))
            self.register_buffer("num_batches_tracked", dlcore.tensor(0, dtype=dlcore.int64))
        else:
            self.register_buffer("running_mean", None)
            self.register_buffer("running_var", None)
            self.register_buffer("num_batches_tracked", None)

    def reset_running_stats(self) -> None:
        if self.track_running_stats:
            self.running_mean.zero_()
            self.running_var.fill_(1)
            self.num_batches_tracked.zero_()

    def reset_parameters(self) -> None:
        self.reset_running_stats()
        if self.affine:
            with dlcore.no_grad():
                self.weight.fill_(1)
                if self.bias is not None:
                    self.bias.zero_()

    def _check_input_dim(self, input) -> None:
        if input.ndim not in self._expected_dims:
            want = " or ".join(f"{d}D" for d in self._expected_dims)
            raise ValueError(f"expected {want} input (got {input.ndim}D input)")

    def extra_repr(self) -> str:
        return (
            f"{self.num_features}, eps={self.eps}, momentum={self.momentum}, "
            f"affine={self.affine}, bias={self.bias is not None}, track_running_stats={self.track_running_stats}"
        )

    def forward(self, input):
        self._check_input_dim(input)
        # torch's rule: momentum None means a cumulative moving average
        factor = 0.0 if self.momentum is None else self.momentum
        if self.training and self.track_running_stats and self.num_batches_tracked is not None:
            self.num_batches_tracked.add_(1)
            factor = 1.0 / float(self.num_batches_tracked.item()) if self.momentum is None else self.momentum
        bn_training = self.training or (self.running_mean is None and self.running_var is None)
        use_running = not self.training or self.track_running_stats
        return F.batch_norm(
            input,
            self.running_mean if use_running else None,
            self.running_var if use_running else None,
            self.weight,
            self.bias,
            bn_training,
            factor,
            self.eps,
        )


class BatchNorm1d(_BatchNorm):
    r"""Batch norm over ``(N, C)`` or ``(N, C, L)`` input, per channel C.

    :math:`y = \frac{x - \mathrm{E}[x]}{\sqrt{\mathrm{Var}[x] + \epsilon}}\gamma + \beta`
    with batch statistics in training (biased variance) and the running
    estimates in ``eval()``. ``momentum=None`` makes the running estimates a
    cumulative average over all batches seen.

    Args:
        num_features: C.
        eps: added to the variance. Default: 1e-5.
        momentum: running-estimate update factor, or None. Default: 0.1.
        affine: learnable γ (``weight``) and β (``bias``). Default: True.
        track_running_stats: keep ``running_mean`` / ``running_var``. Default: True.
        bias: (keyword) learnable β when ``affine``. Default: True.

    Examples::

        >>> import dlcore, dlcore.nn as nn
        >>> bn = nn.BatchNorm1d(3)
        >>> y = bn(dlcore.randn(8, 3))
        >>> sorted(bn.state_dict())
        ['bias', 'num_batches_tracked', 'running_mean', 'running_var', 'weight']
    """

    _expected_dims = (2, 3)


class BatchNorm2d(_BatchNorm):
    r"""Batch norm over ``(N, C, H, W)`` input, per channel C (statistics over
    N, H, W). Same arguments as :class:`BatchNorm1d`.

    Examples::

        >>> import dlcore, dlcore.nn as nn
        >>> bn = nn.BatchNorm2d(4)
        >>> y = bn(dlcore.randn(2, 4, 5, 5))
        >>> [round(v, 4) for v in y.mean((0, 2, 3)).tolist()] == [0.0] * 4
        True
    """

    _expected_dims = (4,)
