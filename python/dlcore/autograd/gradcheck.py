"""Finite-difference check of analytical gradients (float64 inputs)."""

import numpy as np


def _flat_outputs(out):
    from .. import Tensor

    return [out] if isinstance(out, Tensor) else [o for o in out if isinstance(o, Tensor)]


def gradcheck(fn, inputs, eps=1e-6, atol=1e-5, rtol=1e-3, raise_exception=True):
    """Compares the Jacobian from autograd with central differences.

    ``inputs``: a tensor or tuple; every float64 tensor with
    ``requires_grad=True`` is checked. Returns True, or raises
    ``RuntimeError`` naming the input and the worst element (or returns False
    when ``raise_exception=False``).

    >>> import dlcore
    >>> x = dlcore.randn(3, dtype=dlcore.float64, requires_grad=True)
    >>> dlcore.autograd.gradcheck(lambda t: (t * t).sum(), (x,))
    True
    """
    from .. import Tensor, no_grad, tensor
    from . import grad

    inputs = (inputs,) if isinstance(inputs, Tensor) else tuple(inputs)
    checked = [i for i, t in enumerate(inputs) if isinstance(t, Tensor) and t.requires_grad]
    for i in checked:
        if inputs[i].dtype.name != "float64":
            raise RuntimeError(f"gradcheck: input {i} is {inputs[i].dtype!r}; use float64 for a meaningful check")
    outs = _flat_outputs(fn(*inputs))
    for k, out in enumerate(outs):
        n_out = out.numel()
        for i in checked:
            x = inputs[i]
            base = x.detach().numpy().copy()
            # analytical: one backward per output element
            analytic = np.zeros((n_out, base.size))
            for j in range(n_out):
                onehot = np.zeros(n_out)
                onehot[j] = 1.0
                go = tensor(onehot.reshape(out.shape), dtype=out.dtype)
                o = _flat_outputs(fn(*inputs))[k]
                (g,) = grad([o], [x], [go], allow_unused=True)
                if g is not None:
                    analytic[j] = g.detach().numpy().reshape(-1)
            # numerical: central differences, written into x's memory
            numeric = np.zeros_like(analytic)
            view = x.detach()
            for e in range(base.size):
                for sign in (1, -1):
                    pert = base.copy().reshape(-1)
                    pert[e] += sign * eps
                    with no_grad():
                        view.copy_(tensor(pert.reshape(base.shape), dtype=x.dtype))
                        val = _flat_outputs(fn(*inputs))[k].detach().numpy().reshape(-1).astype(np.float64)
                    numeric[:, e] += sign * val / (2 * eps)
            with no_grad():
                view.copy_(tensor(base, dtype=x.dtype))
            if not np.allclose(analytic, numeric, atol=atol, rtol=rtol):
                worst = np.unravel_index(np.argmax(np.abs(analytic - numeric)), analytic.shape)
                msg = (
                    f"gradcheck: Jacobian mismatch for output {k} with respect to input {i}: "
                    f"analytical {analytic[worst]:.6g} vs numerical {numeric[worst]:.6g} at (out, in) = {worst}"
                )
                if raise_exception:
                    raise RuntimeError(msg)
                return False
    return True
