"""``dlcore.summary(model, input_shape)``: per-layer output shapes, parameter
counts and multiply-adds, collected with forward hooks on one forward pass
(in eval mode, without grad, so running statistics are left untouched).

Multiply-adds (MACs) are counted where a layer does them:

* Conv (any module with ``in_channels``, ``out_channels``, ``kernel_size``,
  ``groups`` attributes, torch's names): ``numel(output) · in_channels/groups
  · prod(kernel_size)``; transposed conv: ``numel(input) ·
  out_channels/groups · prod(kernel_size)``.
* Linear: ``numel(output) · in_features``.
* BatchNorm: ``numel(output)`` (one multiply-add per element once folded).
* Everything else (pooling, activations, dropout…): 0.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import dlcore

__all__ = ["summary", "ModelSummary", "LayerInfo"]


@dataclass
class LayerInfo:
    name: str
    type: str
    output_shape: list
    params: int
    trainable: int
    macs: int


@dataclass
class ModelSummary:
    layers: list[LayerInfo] = field(default_factory=list)
    input_shape: tuple = ()

    @property
    def total_params(self) -> int:
        return sum(layer.params for layer in self.layers)

    @property
    def trainable_params(self) -> int:
        return sum(layer.trainable for layer in self.layers)

    @property
    def total_macs(self) -> int:
        return sum(layer.macs for layer in self.layers)

    def __str__(self) -> str:
        rows = [(f"{layer.name} ({layer.type})", _fmt_shape(layer.output_shape), f"{layer.params:,}", f"{layer.macs:,}") for layer in self.layers]
        head = ("Layer (type)", "Output Shape", "Param #", "Mult-Adds")
        w = [max(len(r[i]) for r in [head, *rows]) for i in range(4)]
        line = lambda r: "  ".join(c.ljust(w[i]) if i < 2 else c.rjust(w[i]) for i, c in enumerate(r))  # noqa: E731
        bar = "=" * len(line(head))
        out = [bar, line(head), bar, *map(line, rows), bar]
        out += [
            f"Input shape: {tuple(self.input_shape)}",
            f"Total params: {self.total_params:,}",
            f"Trainable params: {self.trainable_params:,}",
            f"Non-trainable params: {self.total_params - self.trainable_params:,}",
            f"Total mult-adds: {self.total_macs:,}",
            bar,
        ]
        return "\n".join(out)

    __repr__ = __str__


def _fmt_shape(s) -> str:
    if s and isinstance(s[0], (list, tuple)):
        return ", ".join(str(tuple(x)) for x in s)
    return str(tuple(s))


def _shapes(out):
    if isinstance(out, dlcore.Tensor):
        return list(out.shape)
    if isinstance(out, (tuple, list)):
        return [_shapes(o) for o in out if isinstance(o, (dlcore.Tensor, tuple, list))]
    return []


def _first_tensor(x):
    if isinstance(x, dlcore.Tensor):
        return x
    if isinstance(x, (tuple, list)):
        for o in x:
            t = _first_tensor(o)
            if t is not None:
                return t
    return None


def _prod(v) -> int:
    return math.prod(v) if isinstance(v, (tuple, list)) else int(v)


def layer_macs(module, inp, out) -> int:
    """Multiply-adds of one call of `module` (see the module docstring)."""
    y, x = _first_tensor(out), _first_tensor(inp)
    if y is None:
        return 0
    name = type(module).__name__
    if all(hasattr(module, a) for a in ("in_channels", "out_channels", "kernel_size", "groups")):
        k = _prod(module.kernel_size)
        if getattr(module, "transposed", False) or "Transpose" in name:
            return (x.numel() if x is not None else 0) * (module.out_channels // module.groups) * k
        return y.numel() * (module.in_channels // module.groups) * k
    if hasattr(module, "in_features") and hasattr(module, "out_features"):
        return y.numel() * module.in_features
    if name.startswith("BatchNorm"):
        return y.numel()
    return 0


def summary(model, input_shape, dtype=None, depth: int | None = None) -> ModelSummary:
    """Run one forward pass on zeros of ``input_shape`` (batch dim included)
    and tabulate every leaf layer: output shape, parameters, multiply-adds.

    Args:
        model: a ``dlcore.nn.Module``.
        input_shape: shape of the input, e.g. ``(1, 3, 32, 32)``; a list of
            shapes feeds several inputs.
        dtype: input dtype. Default: ``dlcore.float32``.
        depth: list modules up to this nesting depth (a non-leaf module at
            the limit is one row with everything below it). Default: leaves.

    Returns:
        A :class:`ModelSummary`; ``print()`` it for the table.

    Examples::

        >>> import dlcore, dlcore.nn as nn
        >>> m = nn.Sequential(nn.Flatten(), nn.Linear(4, 3), nn.ReLU(), nn.Linear(3, 2))
        >>> s = dlcore.summary(m, (1, 2, 2))
        >>> [layer.output_shape for layer in s.layers]
        [[1, 4], [1, 3], [1, 3], [1, 2]]
        >>> s.total_params, s.total_macs
        (23, 18)
    """
    dtype = dtype or dlcore.float32
    shapes = input_shape if input_shape and isinstance(input_shape[0], (tuple, list)) else [input_shape]
    inputs = [dlcore.zeros(*tuple(s), dtype=dtype) for s in shapes]
    chosen = []
    for name, m in model.named_modules():
        level = 0 if name == "" else name.count(".") + 1
        leaf = not any(True for _ in m.children())
        if (depth is None and leaf) or (depth is not None and (level == depth or (leaf and level < depth))):
            if depth is not None and any(name.startswith(c + ".") for c, _ in chosen if c):
                continue
            chosen.append((name, m))
    infos: list[LayerInfo] = []
    keys: list[str] = []
    leaf_macs: dict[str, int] = {}
    handles = []
    for name, m in model.named_modules():
        if not any(True for _ in m.children()):

            def count(mod, inp, out, name=name):
                leaf_macs[name] = leaf_macs.get(name, 0) + layer_macs(mod, inp, out)

            handles.append(m.register_forward_hook(count))
    for name, m in chosen:

        def hook(mod, inp, out, name=name):
            ps = list(mod.parameters())
            keys.append(name)
            infos.append(
                LayerInfo(
                    name=name or type(mod).__name__,
                    type=type(mod).__name__,
                    output_shape=_shapes(out),
                    params=sum(p.numel() for p in ps),
                    trainable=sum(p.numel() for p in ps if p.requires_grad),
                    macs=0,
                )
            )

        handles.append(m.register_forward_hook(hook))
    was_training = [(m, m.training) for m in model.modules()]
    model.eval()
    try:
        with dlcore.no_grad():
            model(*inputs)
    finally:
        for h in handles:
            h.remove()
        for m, t in was_training:
            m.training = t
    # a row's MACs: its own leaves (a leaf is its own subtree); summed after
    # the pass because a parent's hook fires after its children's
    # (a module called k times gets k rows, each with 1/k of its total)
    for key, info in zip(keys, infos):
        under = [v for n, v in leaf_macs.items() if key == "" or n == key or n.startswith(key + ".")]
        info.macs = sum(under) // max(1, sum(1 for x in keys if x == key))
    return ModelSummary(infos, tuple(shapes[0]) if len(shapes) == 1 else tuple(map(tuple, shapes)))
