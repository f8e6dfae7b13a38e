"""Autograd entry points: ``grad``, custom ``Function``s and ``gradcheck``.

The graph and the backward pass live in Rust; this module only adapts
Python callables to it.
"""

from .function import Function, FunctionCtx  # noqa: F401
from .gradcheck import gradcheck  # noqa: F401
from .. import _core


def grad(outputs, inputs, grad_outputs=None, retain_graph=None, create_graph=False, allow_unused=False):
    """Gradients of ``outputs`` with respect to ``inputs`` (a tuple), without
    touching any ``.grad`` — as ``torch.autograd.grad``."""
    from .. import Tensor

    outs = [outputs] if isinstance(outputs, Tensor) else list(outputs)
    ins = [inputs] if isinstance(inputs, Tensor) else list(inputs)
    if grad_outputs is not None and isinstance(grad_outputs, Tensor):
        grad_outputs = [grad_outputs]
    return _core.autograd_grad(outs, ins, grad_outputs, retain_graph, create_graph, allow_unused)


def backward(tensors, grad_tensors=None, retain_graph=None, create_graph=False):
    """``torch.autograd.backward``: backward from several roots."""
    from .. import Tensor

    tensors = [tensors] if isinstance(tensors, Tensor) else list(tensors)
    if grad_tensors is None:
        grad_tensors = [None] * len(tensors)
    elif isinstance(grad_tensors, Tensor):
        grad_tensors = [grad_tensors]
    for i, (t, g) in enumerate(zip(tensors, grad_tensors)):
        keep = retain_graph if retain_graph is not None else create_graph
        t.backward(g, retain_graph=keep or i < len(tensors) - 1, create_graph=create_graph)
