"""Activation layers. Element-wise ones are single fused Rust kernels
(forward and backward); ``forward`` just calls the functional form."""

from __future__ import annotations

import dlcore

from . import functional as F
from .module import Module, Parameter

__all__ = [
    "LeakyReLU",
    "PReLU",
    "ELU",
    "SELU",
    "CELU",
    "GELU",
    "SiLU",
    "Mish",
    "Softplus",
    "Hardtanh",
    "ReLU6",
    "LogSigmoid",
    "Softmax",
    "LogSoftmax",
    "Step",
]


class LeakyReLU(Module):
    r""":math:`\max(0, x) + \text{negative\_slope}\cdot\min(0, x)`.

    Examples::

        >>> import dlcore, dlcore.nn as nn
        >>> nn.LeakyReLU(0.5)(dlcore.tensor([-2.0, 2.0])).tolist()
        [-1.0, 2.0]
    """

    def __init__(self, negative_slope: float = 0.01, inplace: bool = False) -> None:
        super().__init__()
        self.negative_slope, self.inplace = negative_slope, inplace

    def forward(self, input):
        return F.leaky_relu(input, self.negative_slope, self.inplace)

    def extra_repr(self) -> str:
        return f"negative_slope={self.negative_slope}" + (", inplace=True" if self.inplace else "")


class PReLU(Module):
    r"""Leaky ReLU with a learnable slope ``weight`` (He et al., 2015), one
    shared (``num_parameters=1``) or one per channel (dim 1 of the input).

    Examples::

        >>> import dlcore, dlcore.nn as nn
        >>> m = nn.PReLU(3)
        >>> tuple(m.weight.shape), round(m.weight[0].item(), 2)
        ((3,), 0.25)
    """

    def __init__(self, num_parameters: int = 1, init: float = 0.25, device=None, dtype=None) -> None:
        super().__init__()
        self.num_parameters = num_parameters
        self.init = init
        self.weight = Parameter(dlcore.full((num_parameters,), init, dtype=dtype or dlcore.float32))

    def reset_parameters(self) -> None:
        with dlcore.no_grad():
            self.weight.fill_(self.init)

    def forward(self, input):
        return F.prelu(input, self.weight)

    def extra_repr(self) -> str:
        return f"num_parameters={self.num_parameters}"


class _Simple(Module):
    """An activation whose forward is ``F.<name>(input, **kwargs)``."""

    _fn = staticmethod(lambda x: x)
    _args: tuple[str, ...] = ()

    def forward(self, input):
        return type(self)._fn(input, *[getattr(self, a) for a in self._args])

    def extra_repr(self) -> str:
        return ", ".join(f"{a}={getattr(self, a)}" for a in self._args if a != "inplace" or getattr(self, a))


class ELU(_Simple):
    r"""ELU (Clevert et al., 2016): :math:`x` if :math:`x>0` else :math:`\alpha(e^x - 1)`."""

    _fn = staticmethod(F.elu)
    _args = ("alpha", "inplace")

    def __init__(self, alpha: float = 1.0, inplace: bool = False) -> None:
        super().__init__()
        self.alpha, self.inplace = alpha, inplace


class CELU(_Simple):
    r"""CELU (Barron, 2017): :math:`\max(0,x)+\min(0,\alpha(e^{x/\alpha}-1))`."""

    _fn = staticmethod(F.celu)
    _args = ("alpha", "inplace")

    def __init__(self, alpha: float = 1.0, inplace: bool = False) -> None:
        super().__init__()
        self.alpha, self.inplace = alpha, inplace


class SELU(_Simple):
    """SELU (Klambauer et al., 2017), the self-normalising ELU."""

    _fn = staticmethod(F.selu)
    _args = ("inplace",)

    def __init__(self, inplace: bool = False) -> None:
        super().__init__()
        self.inplace = inplace


class GELU(_Simple):
    r"""GELU (Hendrycks & Gimpel, 2016): :math:`x\Phi(x)`, or its tanh
    approximation with ``approximate='tanh'``.

    Examples::

        >>> import dlcore, dlcore.nn as nn
        >>> [round(v, 4) for v in nn.GELU()(dlcore.tensor([-1.0, 0.0, 1.0])).tolist()]
        [-0.1587, 0.0, 0.8413]
    """

    _fn = staticmethod(F.gelu)
    _args = ("approximate",)

    def __init__(self, approximate: str = "none") -> None:
        super().__init__()
        self.approximate = approximate

    def extra_repr(self) -> str:
        return f"approximate={self.approximate!r}"


class SiLU(_Simple):
    r"""SiLU / swish: :math:`x\sigma(x)`."""

    _fn = staticmethod(F.silu)
    _args = ("inplace",)

    def __init__(self, inplace: bool = False) -> None:
        super().__init__()
        self.inplace = inplace


class Mish(_Simple):
    r"""Mish (Misra, 2019): :math:`x\tanh(\text{softplus}(x))`."""

    _fn = staticmethod(F.mish)
    _args = ("inplace",)

    def __init__(self, inplace: bool = False) -> None:
        super().__init__()
        self.inplace = inplace


class Softplus(_Simple):
    r""":math:`\frac1\beta\log(1+e^{\beta x})`, linear above ``threshold``."""

    _fn = staticmethod(F.softplus)
    _args = ("beta", "threshold")

    def __init__(self, beta: float = 1.0, threshold: float = 20.0) -> None:
        super().__init__()
        self.beta, self.threshold = beta, threshold


class Hardtanh(_Simple):
    """Clamp to ``[min_val, max_val]``."""

    _fn = staticmethod(F.hardtanh)
    _args = ("min_val", "max_val", "inplace")

    def __init__(self, min_val: float = -1.0, max_val: float = 1.0, inplace: bool = False) -> None:
        super().__init__()
        self.min_val, self.max_val, self.inplace = min_val, max_val, inplace


class ReLU6(_Simple):
    """``min(max(0, x), 6)``."""

    _fn = staticmethod(F.relu6)
    _args = ("inplace",)

    def __init__(self, inplace: bool = False) -> None:
        super().__init__()
        self.inplace = inplace


class LogSigmoid(_Simple):
    r""":math:`\log\sigma(x)`."""

    _fn = staticmethod(F.logsigmoid)


class Softmax(Module):
    """Softmax along ``dim`` (torch's legacy implicit dim when None).

    Examples::

        >>> import dlcore, dlcore.nn as nn
        >>> nn.Softmax(dim=1)(dlcore.zeros(1, 4)).tolist()
        [[0.25, 0.25, 0.25, 0.25]]
    """

    def __init__(self, dim: int | None = None) -> None:
        super().__init__()
        self.dim = dim

    def forward(self, input):
        return F.softmax(input, self.dim, _stacklevel=5)

    def extra_repr(self) -> str:
        return f"dim={self.dim}"


class LogSoftmax(Softmax):
    """Log-softmax along ``dim``, computed stably."""

    def forward(self, input):
        return F.log_softmax(input, self.dim, _stacklevel=5)


class Step(Module):
    r"""Heaviside step :math:`H(x) = [x > 0]` with a surrogate gradient, for
    binary / spiking units.

    Args:
        surrogate: ``'sigmoid'`` (default) backpropagates
            :math:`k\sigma(kx)(1-\sigma(kx))`, the derivative of a sigmoid of
            slope ``k`` (Neftci, Mostafa & Zenke, "Surrogate Gradient Learning
            in Spiking Neural Networks", 2019); ``'ste'`` is the
            straight-through estimator, gradient 1 on :math:`|x|\le 1`
            (Bengio et al., 2013; Courbariaux et al., BinaryNet, 2016).
        slope: ``k`` of the sigmoid surrogate. Default: 5.

    Examples::

        >>> import dlcore, dlcore.nn as nn
        >>> x = dlcore.tensor([-1.0, 0.0, 1.0], requires_grad=True)
        >>> y = nn.Step()(x)
        >>> y.tolist()
        [0.0, 0.0, 1.0]
        >>> y.sum().backward()
        >>> round(x.grad[1].item(), 4)  # k/4 at 0
        1.25
    """

    def __init__(self, surrogate: str = "sigmoid", slope: float = 5.0) -> None:
        super().__init__()
        self.surrogate, self.slope = surrogate, slope

    def forward(self, input):
        return F.step(input, self.surrogate, self.slope)

    def extra_repr(self) -> str:
        return f"surrogate={self.surrogate!r}, slope={self.slope}"
