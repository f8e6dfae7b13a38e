"""Printing tensors (called from the Rust ``__repr__``) and small result types."""

from collections import namedtuple

import numpy as np

_ReturnTypes = {
    "max": namedtuple("max", ["values", "indices"]),
    "min": namedtuple("min", ["values", "indices"]),
    "topk": namedtuple("topk", ["values", "indices"]),
    "sort": namedtuple("sort", ["values", "indices"]),
}


def return_type(kind, values, indices):
    """``t.max(dim)`` returns ``(values, indices)`` with named fields, as torch."""
    return _ReturnTypes[kind](values, indices)


def tensor_repr(t):
    arr = t.detach().numpy()
    if arr.dtype.kind == "f":
        finite = arr[np.isfinite(arr)]
        integral = finite.size == 0 or bool(np.all(finite == np.round(finite)))
        # torch's style: whole numbers as "1.", otherwise four decimals
        mode = "maxprec_equal" if integral else "fixed"
        body = np.array2string(arr, separator=", ", prefix="tensor(", precision=4, floatmode=mode)
    else:
        body = np.array2string(arr, separator=", ", prefix="tensor(")
    extras = []
    default_dtypes = ("float32", "int64", "bool")
    if t.dtype.name not in default_dtypes or arr.size == 0:
        extras.append(f"dtype={t.dtype!r}")
    gf = t.grad_fn
    if gf is not None:
        extras.append(f"grad_fn=<{gf.name()}>")
    elif t.requires_grad:
        extras.append("requires_grad=True")
    return "tensor(" + body + "".join(", " + e for e in extras) + ")"


def rebuild_tensor(array, requires_grad):
    """Inverse of ``Tensor.__reduce__`` (pickling through NumPy)."""
    from . import _core

    t = _core.from_array_copy(array)
    if requires_grad:
        t.requires_grad_(True)
    return t
