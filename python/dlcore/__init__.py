"""dlcore: deep learning with Rust kernels and a PyTorch-shaped API.

>>> import dlcore
>>> x = dlcore.tensor([[1.0, 2.0], [3.0, 4.0]], requires_grad=True)
>>> (x @ x).sum().backward()
>>> x.grad.tolist()
[[7.0, 11.0], [9.0, 13.0]]
"""

from __future__ import annotations

import builtins as _builtins
import contextlib as _contextlib
import functools as _functools

import numpy as _np

from . import _core
from ._core import (  # noqa: F401  (re-exported API)
    Tensor,
    arange,
    bool,
    cat,
    device,
    dtype,
    empty,
    eye,
    float32,
    float64,
    from_numpy,
    full,
    get_num_threads,
    int64,
    is_grad_enabled,
    linspace,
    manual_seed,
    ones,
    rand,
    randint,
    randn,
    randperm,
    set_num_threads,
    stack,
    zeros,
)

float = float32  # noqa: A001  (torch.float)
double = float64
long = int64

__version__ = "0.1.0"

_PY_FLOAT = type(1.0)


def tensor(data, dtype=None, device=None, requires_grad=False):
    """Builds a tensor from (nested) Python lists, scalars or NumPy arrays.

    Python floats become float32 and ints int64 (as in torch); NumPy arrays
    keep their dtype. The data is always copied (use ``from_numpy`` to share).
    """
    from .convert import check_device

    check_device(device)
    if isinstance(data, Tensor):
        out = data.detach().clone()
        if dtype is not None:
            out = out.to(dtype)
        if requires_grad:
            out.requires_grad_(True)
        return out
    if isinstance(data, _np.ndarray):
        arr = data
    else:
        if isinstance(data, (list, tuple)) and _builtins.any(isinstance(x, Tensor) for x in data):
            data = [x.tolist() if isinstance(x, Tensor) else x for x in data]
        try:
            arr = _np.asarray(data)
        except ValueError as e:  # ragged nested lists
            raise ValueError(f"tensor(): expected a sequence of equal-length sequences: {e}") from None
        # Python floats become float32 (torch's default); NumPy scalars keep their dtype
        if arr.dtype.kind == "f" and not isinstance(data, _np.generic):
            arr = arr.astype(_np.float32)
        elif arr.dtype.kind in "USO":
            raise ValueError(
                f"tensor(): could not convert {type(data).__name__} data of NumPy kind '{arr.dtype}' "
                "(str and other non-numeric values are not supported)"
            )
        elif arr.size == 0 and dtype is None:
            arr = arr.astype(_np.float32)
    return _core.from_array_copy(arr, dtype, requires_grad)


def as_tensor(data, dtype=None, device=None):
    """Like ``tensor`` but returns ``data`` itself when it already fits."""
    if isinstance(data, Tensor) and (dtype is None or data.dtype == dtype):
        return data
    return tensor(data, dtype=dtype, device=device)


def _like(name):
    def make(input, *, dtype=None, device=None, requires_grad=False):
        return globals()[name](*input.shape, dtype=dtype or input.dtype, device=device, requires_grad=requires_grad)

    make.__name__ = f"{name}_like"
    make.__doc__ = f"``{name}`` with the shape (and by default dtype) of ``input``."
    return make


zeros_like = _like("zeros")
ones_like = _like("ones")
empty_like = _like("empty")
rand_like = _like("rand")
randn_like = _like("randn")


def full_like(input, fill_value, *, dtype=None, device=None, requires_grad=False):
    return full(input.shape, fill_value, dtype=dtype or input.dtype, device=device, requires_grad=requires_grad)


class no_grad(_contextlib.ContextDecorator):
    """Context manager / decorator that disables gradient recording."""

    def __enter__(self):
        self._prev = _core.set_grad_enabled(False)

    def __exit__(self, *exc):
        _core.set_grad_enabled(self._prev)
        return False


class enable_grad(_contextlib.ContextDecorator):
    """Context manager / decorator that enables gradient recording."""

    def __enter__(self):
        self._prev = _core.set_grad_enabled(True)

    def __exit__(self, *exc):
        _core.set_grad_enabled(self._prev)
        return False


class set_grad_enabled(_contextlib.ContextDecorator):
    """``set_grad_enabled(mode)``: sets grad mode now; as a context manager,
    restores the previous mode on exit."""

    def __init__(self, mode):
        self._prev = _core.set_grad_enabled(mode)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        _core.set_grad_enabled(self._prev)
        return False


def _method(name):
    """A module-level function form of a Tensor method (``dlcore.exp(x)``)."""

    @_functools.wraps(getattr(Tensor, name))
    def fn(input, *args, **kwargs):
        return getattr(input, name)(*args, **kwargs)

    fn.__name__ = name
    return fn


for _name in (
    "exp log sqrt rsqrt abs sin cos tanh sigmoid relu neg clamp clip sum mean var std prod "
    "max min amax amin argmax argmin logsumexp softmax log_softmax matmul mm bmm reshape permute transpose t "
    "squeeze unsqueeze flatten narrow select split chunk unbind gather scatter scatter_add index_select "
    "masked_fill nonzero add sub mul div pow maximum minimum eq ne lt le gt ge all any logical_not "
    "numel clone detach isnan isinf isfinite topk sort argsort"
).split():
    globals()[_name] = _method(_name)
del _name


def where(condition, input=None, other=None):
    """``where(cond, a, b)`` picks from a where cond holds, else b;
    ``where(cond)`` is ``cond.nonzero(as_tuple=True)``."""
    if input is None and other is None:
        return tuple(condition.nonzero().unbind(1))
    return _core.where(condition, input, other)


def equal(a, b):
    """True when both tensors have the same shape and elements."""
    return tuple(a.shape) == tuple(b.shape) and _builtins.bool((a == b).all().item())


def isclose(input, other, rtol=1e-05, atol=1e-08, equal_nan=False):
    """Element-wise ``|input - other| <= atol + rtol * |other|`` (bool tensor)."""
    a, b = input.double(), as_tensor(other).double()
    close = (a - b).abs() <= atol + rtol * b.abs()
    close = close | (a == b)  # equal infinities
    if equal_nan:
        close = close | ((a != a) & (b != b))
    return close


def allclose(input, other, rtol=1e-05, atol=1e-08, equal_nan=False):
    """True when every element is close (see ``isclose``).

    >>> import dlcore
    >>> dlcore.allclose(dlcore.tensor([1.0, 2.0]), dlcore.tensor([1.0, 2.0 + 1e-9]))
    True
    """
    return _builtins.bool(isclose(input, other, rtol, atol, equal_nan).all().item())


def dot(a, b):
    """Inner product of two 1-D tensors."""
    if a.ndim != 1 or b.ndim != 1:
        raise RuntimeError(f"dot: 1D tensors expected, but got {a.ndim}D and {b.ndim}D tensors")
    return a @ b


def mv(mat, vec):
    """Matrix-vector product."""
    if mat.ndim != 2 or vec.ndim != 1:
        raise RuntimeError(f"mv: expected a 2-D matrix and a 1-D vector, got {tuple(mat.shape)} and {tuple(vec.shape)}")
    return mat @ vec


def outer(a, b):
    """Outer product of two 1-D tensors."""
    return a.unsqueeze(1) * b.unsqueeze(0)


def get_rng_state():
    """The global generator's state: an int64 tensor ``[seed, steps]``
    (PCG jumps ahead ``steps`` on restore, so two numbers are the whole state)."""
    seed, steps = _core.get_rng_state()
    return tensor([seed - (1 << 64) if seed >= 1 << 63 else seed, steps], dtype=int64)


def set_rng_state(state):
    """Restores a state returned by ``get_rng_state``.

    >>> import dlcore
    >>> s = dlcore.get_rng_state(); a = dlcore.rand(3)
    >>> dlcore.set_rng_state(s); dlcore.equal(a, dlcore.rand(3))
    True
    """
    seed, steps = (int(v) for v in state.tolist())
    _core.set_rng_state(seed % (1 << 64), steps)


def is_tensor(obj):
    return isinstance(obj, Tensor)


def is_floating_point(t):
    return t.is_floating_point()


def get_default_dtype():
    return float32


from . import autograd, cuda, data, nn, optim  # noqa: E402,F401
from .nn.summary import summary  # noqa: E402,F401


class inference_mode(no_grad):
    """Like ``no_grad`` (dlcore has no separate inference tensors)."""

    def __init__(self, mode=True):
        self._mode = mode

    def __enter__(self):
        self._prev = _core.set_grad_enabled(not self._mode and _core.is_grad_enabled())


from .serialization import load, load_torch_state_dict, save  # noqa: E402,F401
