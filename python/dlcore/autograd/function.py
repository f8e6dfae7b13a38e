"""User-defined differentiable ops: subclass ``Function`` and write static
``forward(ctx, *args)`` and ``backward(ctx, grad_output)``.

>>> import dlcore
>>> class Square(dlcore.autograd.Function):
...     @staticmethod
...     def forward(ctx, x):
...         ctx.save_for_backward(x)
...         return x * x
...     @staticmethod
...     def backward(ctx, g):
...         (x,) = ctx.saved_tensors
...         return 2 * x * g
>>> x = dlcore.tensor([3.0], requires_grad=True)
>>> Square.apply(x).backward(dlcore.ones(1))
>>> x.grad.tolist()
[6.0]
"""

from .. import _core


class FunctionCtx:
    """The ``ctx`` passed to forward and backward."""

    def __init__(self):
        self.saved_tensors = ()
        self.needs_input_grad = ()

    def save_for_backward(self, *tensors):
        self.saved_tensors = tensors

    def mark_non_differentiable(self, *tensors):
        pass

    def set_materialize_grads(self, value):
        pass


class Function:
    """Base class for custom autograd ops; ``forward`` returns a tensor or a
    tuple (non-tensor items pass through without gradients)."""

    @staticmethod
    def forward(ctx, *args, **kwargs):
        raise NotImplementedError("You must implement the forward function for custom autograd.Function.")

    @staticmethod
    def backward(ctx, *grad_outputs):
        raise NotImplementedError("You must implement the backward function for custom autograd.Function.")

    @classmethod
    def apply(cls, *args):
        from .. import Tensor, no_grad

        ctx = FunctionCtx()
        ctx.needs_input_grad = tuple(isinstance(a, Tensor) and a.requires_grad for a in args)
        with no_grad():
            out = cls.forward(ctx, *args)
        single = isinstance(out, Tensor)
        outs = (out,) if single else tuple(out) if isinstance(out, (tuple, list)) else None
        if outs is None:
            raise TypeError(f"{cls.__name__}.forward must return a Tensor or a tuple (got {type(out).__name__})")
        positions = [i for i, a in enumerate(args) if isinstance(a, Tensor)]
        out_positions = [i for i, o in enumerate(outs) if isinstance(o, Tensor)]

        def run_backward(*grads):
            grads = cls.backward(ctx, *grads)
            if not isinstance(grads, tuple):
                grads = (grads,)
            if len(grads) != len(args):
                raise RuntimeError(
                    f"function {cls.__name__}Backward returned an incorrect number of gradients "
                    f"(expected {len(args)}, got {len(grads)})"
                )
            return [grads[i] for i in positions]

        inputs = [args[i] for i in positions]
        attached = _core.attach_function([outs[i] for i in out_positions], inputs, run_backward, cls.__name__)
        result = list(outs)
        for i, t in zip(out_positions, attached):
            result[i] = t
        return result[0] if single else tuple(result)
