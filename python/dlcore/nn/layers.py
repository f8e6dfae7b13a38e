"""Basic layers: ``Linear``, activations, ``Flatten``, ``Sequential`` and losses.

Each ``forward`` just calls its functional form (``dlcore.nn.functional``).
"""

from __future__ import annotations

import math
from collections import OrderedDict
from typing import Iterator

import dlcore
from dlcore import Tensor

from . import functional as F
from . import init
from .module import Module, Parameter

__all__ = [
    "Identity",
    "Linear",
    "ReLU",
    "Tanh",
    "Sigmoid",
    "Flatten",
    "Sequential",
    "MSELoss",
    "CrossEntropyLoss",
]


class Identity(Module):
    r"""A placeholder that returns its input unchanged; any arguments are ignored.

    Examples::

        >>> m = dlcore.nn.Identity(54, unused="x")
        >>> tuple(m(dlcore.zeros(128, 20)).shape)
        (128, 20)
    """

    def __init__(self, *args, **kwargs) -> None:
        super().__init__()

    def forward(self, input: Tensor) -> Tensor:
        return input


class Linear(Module):
    r"""Apply an affine transformation :math:`y = xA^T + b`.

    Args:
        in_features (int): size of each input sample.
        out_features (int): size of each output sample.
        bias (bool): if ``False``, the layer has no additive bias. Default: ``True``.
        device: device of the parameters. Default: CPU.
        dtype: dtype of the parameters. Default: ``dlcore.float32``.

    Shape:
        - Input: :math:`(*, H_{in})` with :math:`H_{in} = \text{in\_features}`.
        - Output: :math:`(*, H_{out})` with :math:`H_{out} = \text{out\_features}`.

    Attributes:
        weight: learnable weights of shape ``(out_features, in_features)``,
            initialised from :math:`\mathcal{U}(-\sqrt{k}, \sqrt{k})`,
            :math:`k = 1/\text{in\_features}`.
        bias: learnable bias of shape ``(out_features,)``, same distribution.

    Examples::

        >>> m = dlcore.nn.Linear(20, 30)
        >>> tuple(m(dlcore.randn(128, 20)).shape)
        (128, 30)
    """

    def __init__(
        self,
        in_features: int,
        out_features: int,
        bias: bool = True,
        device=None,
        dtype=None,
    ) -> None:
        super().__init__()
        self.in_features = in_features
        self.out_features = out_features
        factory = {"device": device, "dtype": dtype}
        self.weight = Parameter(dlcore.empty(out_features, in_features, **factory))
        if bias:
            self.bias = Parameter(dlcore.empty(out_features, **factory))
        else:
            self.register_parameter("bias", None)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        # kaiming_uniform_(a=sqrt(5)) is U(-1/sqrt(fan_in), 1/sqrt(fan_in)): PyTorch's
        # historical default, kept so fresh models match torch in distribution.
        init.kaiming_uniform_(self.weight, a=math.sqrt(5))
        if self.bias is not None:
            fan_in, _ = init._calculate_fan_in_and_fan_out(self.weight)
            bound = 1 / math.sqrt(fan_in) if fan_in > 0 else 0
            init.uniform_(self.bias, -bound, bound)

    def forward(self, input: Tensor) -> Tensor:
        return F.linear(input, self.weight, self.bias)

    def extra_repr(self) -> str:
        return (
            f"in_features={self.in_features}, out_features={self.out_features}, "
            f"bias={self.bias is not None}"
        )


class ReLU(Module):
    r"""Apply :math:`\text{ReLU}(x) = \max(0, x)` element-wise.

    Shape:
        - Input: :math:`(*)`; Output: same shape.

    Examples::

        >>> dlcore.nn.ReLU()(dlcore.tensor([-1.0, 1.0])).tolist()
        [0.0, 1.0]
    """

    def __init__(self, inplace: bool = False) -> None:
        super().__init__()
        self.inplace = inplace

    def forward(self, input: Tensor) -> Tensor:
        return F.relu(input, inplace=self.inplace)

    def extra_repr(self) -> str:
        return "inplace=True" if self.inplace else ""


class Tanh(Module):
    r"""Apply :math:`\tanh(x)` element-wise.

    Shape:
        - Input: :math:`(*)`; Output: same shape.

    Examples::

        >>> dlcore.nn.Tanh()(dlcore.zeros(2)).tolist()
        [0.0, 0.0]
    """

    def forward(self, input: Tensor) -> Tensor:
        return F.tanh(input)


class Sigmoid(Module):
    r"""Apply :math:`\sigma(x) = 1 / (1 + e^{-x})` element-wise.

    Shape:
        - Input: :math:`(*)`; Output: same shape.

    Examples::

        >>> dlcore.nn.Sigmoid()(dlcore.zeros(2)).tolist()
        [0.5, 0.5]
    """

    def forward(self, input: Tensor) -> Tensor:
        return F.sigmoid(input)


class Flatten(Module):
    r"""Flatten the contiguous range of dims ``start_dim..end_dim`` into one.

    Args:
        start_dim (int): first dim to flatten. Default: 1 (keeps the batch dim).
        end_dim (int): last dim to flatten. Default: -1.

    Shape:
        - Input: :math:`(*, S_{start}, ..., S_{end}, *)`
        - Output: :math:`(*, \prod_{i=start}^{end} S_i, *)`

    Examples::

        >>> tuple(dlcore.nn.Flatten()(dlcore.zeros(32, 1, 5, 5)).shape)
        (32, 25)
    """

    def __init__(self, start_dim: int = 1, end_dim: int = -1) -> None:
        super().__init__()
        self.start_dim = start_dim
        self.end_dim = end_dim

    def forward(self, input: Tensor) -> Tensor:
        shape = tuple(input.shape)
        nd = max(len(shape), 1)  # a 0-d tensor flattens like a 1-element 1-d one
        start = self.start_dim + nd if self.start_dim < 0 else self.start_dim
        end = self.end_dim + nd if self.end_dim < 0 else self.end_dim
        if not (0 <= start < nd and 0 <= end < nd):
            raise IndexError(
                f"Flatten: dims ({self.start_dim}, {self.end_dim}) out of range for a "
                f"tensor with {len(shape)} dims"
            )
        if start > end:
            raise RuntimeError(
                "flatten() has invalid args: start_dim cannot come after end_dim"
            )
        if not shape:
            return input.reshape(1)
        # An explicit product (not -1) keeps zero-size batches well defined.
        merged = math.prod(shape[start : end + 1])
        return input.reshape(shape[:start] + (merged,) + shape[end + 1 :])

    def extra_repr(self) -> str:
        return f"start_dim={self.start_dim}, end_dim={self.end_dim}"


class Sequential(Module):
    r"""A chain of modules, each fed the previous one's output.

    Modules can be passed positionally (named ``"0"``, ``"1"``, ...) or as
    one ``OrderedDict`` of name -> module.

    Examples::

        >>> import dlcore.nn as nn
        >>> model = nn.Sequential(nn.Linear(2, 8), nn.ReLU(), nn.Linear(8, 3))
        >>> tuple(model(dlcore.zeros(5, 2)).shape)
        (5, 3)
        >>> len(model), type(model[1]).__name__
        (3, 'ReLU')
    """

    def __init__(self, *args) -> None:
        super().__init__()
        if len(args) == 1 and isinstance(args[0], OrderedDict):
            for key, module in args[0].items():
                self.add_module(key, module)
        else:
            for idx, module in enumerate(args):
                self.add_module(str(idx), module)

    def _index(self, idx: int) -> str:
        n = len(self)
        if not -n <= idx < n:
            raise IndexError(f"index {idx} is out of range")
        return list(self._modules)[idx % n]

    def __getitem__(self, idx):
        if isinstance(idx, slice):
            return Sequential(OrderedDict(list(self._modules.items())[idx]))
        return self._modules[self._index(idx)]

    def __setitem__(self, idx: int, module: Module) -> None:
        self.add_module(self._index(idx), module)

    def __delitem__(self, idx) -> None:
        if isinstance(idx, slice):
            keys = list(self._modules)[idx]
        else:
            keys = [self._index(idx)]
        for key in keys:
            del self._modules[key]
        # Renumber so positional names stay "0".."n-1", as torch does.
        if all(k.isdigit() for k in self._modules):
            items = list(self._modules.values())
            self._modules.clear()
            for i, m in enumerate(items):
                self._modules[str(i)] = m

    def __len__(self) -> int:
        return len(self._modules)

    def __iter__(self) -> Iterator[Module]:
        return iter(self._modules.values())

    def append(self, module: Module) -> Sequential:
        self.add_module(str(len(self)), module)
        return self

    def forward(self, input):
        for module in self._modules.values():
            input = module(input)
        return input


class MSELoss(Module):
    r"""Mean squared error loss; see :func:`dlcore.nn.functional.mse_loss`.

    Examples::

        >>> loss = dlcore.nn.MSELoss()
        >>> loss(dlcore.ones(3), dlcore.zeros(3)).item()
        1.0
    """

    def __init__(self, size_average=None, reduce=None, reduction: str = "mean") -> None:
        super().__init__()
        self.reduction = F._legacy_reduction(size_average, reduce, reduction)

    def forward(self, input: Tensor, target: Tensor) -> Tensor:
        return F.mse_loss(input, target, reduction=self.reduction)


class CrossEntropyLoss(Module):
    r"""Cross-entropy loss on logits; see :func:`dlcore.nn.functional.cross_entropy`.

    Examples::

        >>> loss = dlcore.nn.CrossEntropyLoss()
        >>> round(loss(dlcore.zeros(2, 4), dlcore.tensor([1, 2])).item(), 4)
        1.3863
    """

    def __init__(
        self,
        weight: Tensor | None = None,
        size_average=None,
        ignore_index: int = -100,
        reduce=None,
        reduction: str = "mean",
        label_smoothing: float = 0.0,
    ) -> None:
        super().__init__()
        self.register_buffer("weight", weight)
        self.ignore_index = ignore_index
        self.reduction = F._legacy_reduction(size_average, reduce, reduction)
        self.label_smoothing = label_smoothing

    def forward(self, input: Tensor, target: Tensor) -> Tensor:
        return F.cross_entropy(
            input,
            target,
            weight=self.weight,
            ignore_index=self.ignore_index,
            reduction=self.reduction,
            label_smoothing=self.label_smoothing,
        )
