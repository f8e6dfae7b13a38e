"""``Module`` and ``Parameter``: the containers every layer is built from.

Mirrors ``torch.nn.Module``: parameters, buffers and submodules live in three
ordered dicts filled by ``__setattr__``, so ``state_dict()`` keys (``"0.weight"``,
``"encoder.fc.bias"`` ...) are exactly PyTorch's and weights move between the two
libraries by name.
"""

from __future__ import annotations

from collections import OrderedDict, namedtuple
from typing import Any, Callable, Iterator

import numpy as np

import dlcore
from dlcore._utils import zero_grads
from dlcore import Tensor

__all__ = ["Module", "Parameter"]


class Parameter(Tensor):
    r"""A Tensor that is a module parameter.

    Assigning a ``Parameter`` as a ``Module`` attribute registers it, so it shows
    up in :meth:`Module.parameters` and :meth:`Module.state_dict`.

    Args:
        data (Tensor): parameter tensor. Default: an empty float32 tensor.
        requires_grad (bool): whether the parameter requires gradient.
            Default: ``True``.

    Examples::

        >>> p = dlcore.nn.Parameter(dlcore.zeros(2))
        >>> p.requires_grad
        True
    """

    def __new__(cls, data=None, requires_grad=True):
        if data is None:
            data = dlcore.empty(0)
        return Tensor._make_subclass(cls, data, requires_grad)

    def __init__(self, data=None, requires_grad=True):
        # __new__ built the object; this stops a Tensor.__init__ from re-running on it.
        pass

    def __deepcopy__(self, memo):
        # The default protocol would rebuild via __new__() with no data.
        if id(self) not in memo:
            memo[id(self)] = type(self)(self.detach().clone(), self.requires_grad)
        return memo[id(self)]

    def __repr__(self):
        return "Parameter containing:\n" + super().__repr__()


class _IncompatibleKeys(
    namedtuple("IncompatibleKeys", ["missing_keys", "unexpected_keys"])
):
    __slots__ = ()

    def __repr__(self):
        if not self.missing_keys and not self.unexpected_keys:
            return "<All keys matched successfully>"
        return super().__repr__()

    __str__ = __repr__


class RemovableHandle:
    """Handle returned by ``register_forward_hook`` & co.: ``remove()`` (or
    leaving a ``with`` block) unregisters the hook."""

    _next_id = 0

    def __init__(self, hooks: OrderedDict) -> None:
        self.hooks_dict = hooks
        self.id = RemovableHandle._next_id
        RemovableHandle._next_id += 1

    def remove(self) -> None:
        self.hooks_dict.pop(self.id, None)

    def __enter__(self) -> RemovableHandle:
        return self

    def __exit__(self, *exc) -> None:
        self.remove()


def _addindent(s: str, num_spaces: int) -> str:
    lines = s.split("\n")
    if len(lines) == 1:
        return s
    first = lines.pop(0)
    return first + "\n" + "\n".join(num_spaces * " " + line for line in lines)


def _as_tensor_like(value: Any, like: Tensor) -> Tensor:
    """Convert a loaded value (dlcore / numpy / torch tensor) to ``like``'s dtype."""
    if isinstance(value, Tensor):
        return value.detach()
    if hasattr(value, "detach"):  # torch.Tensor: np.asarray needs no autograd graph
        value = value.detach().cpu()
    return dlcore.tensor(np.asarray(value), dtype=like.dtype)


class Module:
    r"""Base class for all neural network modules.

    Subclasses create their parameters and submodules in ``__init__`` (after
    calling ``super().__init__()``) and implement :meth:`forward`.

    Examples::

        >>> import dlcore.nn as nn
        >>> class MLP(nn.Module):
        ...     def __init__(self):
        ...         super().__init__()
        ...         self.fc1 = nn.Linear(2, 8)
        ...         self.fc2 = nn.Linear(8, 3)
        ...     def forward(self, x):
        ...         return self.fc2(self.fc1(x).relu())
        >>> list(MLP().state_dict())
        ['fc1.weight', 'fc1.bias', 'fc2.weight', 'fc2.bias']
    """

    training: bool

    def __init__(self) -> None:
        # object.__setattr__ bypasses our __setattr__, which needs these dicts.
        object.__setattr__(self, "training", True)
        object.__setattr__(self, "_parameters", OrderedDict())
        object.__setattr__(self, "_buffers", OrderedDict())
        object.__setattr__(self, "_non_persistent_buffers_set", set())
        object.__setattr__(self, "_modules", OrderedDict())
        object.__setattr__(self, "_forward_hooks", OrderedDict())

    def forward(self, *args, **kwargs):
        raise NotImplementedError(
            f'Module [{type(self).__name__}] is missing the required "forward" function'
        )

    def __call__(self, *args, **kwargs):
        d = self.__dict__
        if not d.get("_forward_pre_hooks") and not d.get("_forward_hooks"):
            return self.forward(*args, **kwargs)
        for hook in list(d.get("_forward_pre_hooks", {}).values()):
            r = hook(self, args)
            if r is not None:
                args = r if isinstance(r, tuple) else (r,)
        out = self.forward(*args, **kwargs)
        for hook in list(d.get("_forward_hooks", {}).values()):
            r = hook(self, args, out)
            if r is not None:
                out = r
        return out

    # ---------------------------------------------------------------- hooks
    def _add_hook(self, store: str, hook: Callable, prepend: bool) -> RemovableHandle:
        # created on first use: modules built before (or unpickled) have none
        hooks = self.__dict__.setdefault(store, OrderedDict())
        handle = RemovableHandle(hooks)
        hooks[handle.id] = hook
        if prepend:
            hooks.move_to_end(handle.id, last=False)
        return handle

    def register_forward_pre_hook(self, hook: Callable, *, prepend: bool = False) -> RemovableHandle:
        """Call ``hook(module, args)`` before every ``forward``; a non-None
        return value replaces ``args`` (a single value is wrapped in a tuple).
        Returns a handle whose ``remove()`` unregisters the hook.

        Examples::

            >>> m = dlcore.nn.Identity()
            >>> h = m.register_forward_pre_hook(lambda mod, args: (args[0] * 2,))
            >>> m(dlcore.ones(2)).tolist()
            [2.0, 2.0]
            >>> h.remove()
            >>> m(dlcore.ones(2)).tolist()
            [1.0, 1.0]
        """
        return self._add_hook("_forward_pre_hooks", hook, prepend)

    def register_forward_hook(self, hook: Callable, *, prepend: bool = False) -> RemovableHandle:
        """Call ``hook(module, args, output)`` after every ``forward``; a
        non-None return value replaces the output. Returns a removable handle.

        Examples::

            >>> m, seen = dlcore.nn.Identity(), []
            >>> with m.register_forward_hook(lambda mod, args, out: seen.append(tuple(out.shape))):
            ...     _ = m(dlcore.ones(3))
            >>> seen
            [(3,)]
        """
        return self._add_hook("_forward_hooks", hook, prepend)

    # ---------------------------------------------------------------- registration
    def _check_name(self, kind: str, name: str, store: str) -> None:
        if store not in self.__dict__:
            raise AttributeError(f"cannot assign {kind} before Module.__init__() call")
        if not isinstance(name, str):
            raise TypeError(
                f"{kind} name should be a string. Got {type(name).__name__}"
            )
        if "." in name or name == "":
            raise KeyError(f'{kind} name can\'t contain "." or be empty, got "{name}"')
        if hasattr(self, name) and name not in self.__dict__[store]:
            raise KeyError(f"attribute '{name}' already exists")

    def register_parameter(self, name: str, param: Parameter | None) -> None:
        self._check_name("parameter", name, "_parameters")
        if param is not None and not isinstance(param, Parameter):
            raise TypeError(
                f"cannot assign '{type(param).__name__}' object to parameter "
                f"'{name}' (dlcore.nn.Parameter or None required)"
            )
        self._parameters[name] = param

    def register_buffer(
        self, name: str, tensor: Tensor | None, persistent: bool = True
    ) -> None:
        self._check_name("buffer", name, "_buffers")
        if tensor is not None and not isinstance(tensor, Tensor):
            raise TypeError(
                f"cannot assign '{type(tensor).__name__}' object to buffer '{name}' "
                "(dlcore Tensor or None required)"
            )
        self._buffers[name] = tensor
        if persistent:
            self._non_persistent_buffers_set.discard(name)
        else:
            self._non_persistent_buffers_set.add(name)

    def add_module(self, name: str, module: Module | None) -> None:
        if module is not None and not isinstance(module, Module):
            raise TypeError(f"{type(module).__name__} is not a Module subclass")
        self._check_name("module", name, "_modules")
        self._modules[name] = module

    register_module = add_module

    def __setattr__(self, name: str, value: Any) -> None:
        d = self.__dict__
        params = d.get("_parameters")
        buffers, modules = d.get("_buffers"), d.get("_modules")
        if isinstance(value, Parameter):
            self._remove_from(name, d, buffers, modules)
            self.register_parameter(name, value)
        elif isinstance(value, Module):
            if modules is None:
                raise AttributeError(
                    "cannot assign module before Module.__init__() call"
                )
            self._remove_from(name, d, params, buffers)
            modules[name] = value
        elif params is not None and name in params:
            _expect_none_or(value, Parameter, "parameter", name)
            params[name] = None
        elif modules is not None and name in modules:
            _expect_none_or(value, Module, "child module", name)
            modules[name] = None
        elif buffers is not None and name in buffers:
            _expect_none_or(value, Tensor, "buffer", name)
            buffers[name] = value
        else:
            object.__setattr__(self, name, value)

    @staticmethod
    def _remove_from(name: str, *dicts) -> None:
        for d in dicts:
            if d is not None and name in d:
                del d[name]

    # Only reached when normal lookup fails, so plain attributes stay fast.
    def __getattr__(self, name: str) -> Any:
        d = self.__dict__
        for store in ("_parameters", "_buffers", "_modules"):
            if store in d and name in d[store]:
                return d[store][name]
        raise AttributeError(
            f"'{type(self).__name__}' object has no attribute '{name}'"
        )

    def __delattr__(self, name: str) -> None:
        for store in (self._parameters, self._buffers, self._modules):
            if name in store:
                del store[name]
                self._non_persistent_buffers_set.discard(name)
                return
        object.__delattr__(self, name)

    def __dir__(self):
        keys = list(super().__dir__())
        keys += list(self._parameters) + list(self._buffers) + list(self._modules)
        return sorted(set(keys))

    # ------------------------------------------------------------------ traversal
    def named_modules(self, memo=None, prefix: str = "", remove_duplicate: bool = True):
        if memo is None:
            memo = set()
        if self in memo:
            return
        if remove_duplicate:
            memo.add(self)
        yield prefix, self
        for name, module in self._modules.items():
            if module is None:
                continue
            sub = prefix + ("." if prefix else "") + name
            yield from module.named_modules(memo, sub, remove_duplicate)

    def modules(self) -> Iterator[Module]:
        for _, m in self.named_modules():
            yield m

    def named_children(self) -> Iterator[tuple[str, Module]]:
        seen = set()
        for name, module in self._modules.items():
            if module is not None and module not in seen:
                seen.add(module)
                yield name, module

    def children(self) -> Iterator[Module]:
        for _, m in self.named_children():
            yield m

    def _named_members(
        self, get_members, prefix="", recurse=True, remove_duplicate=True
    ):
        # Shared parameters are yielded once, as in torch; membership is by identity.
        seen = set()
        modules = self.named_modules(prefix=prefix) if recurse else [(prefix, self)]
        for mod_prefix, module in modules:
            for k, v in get_members(module):
                if v is None or (remove_duplicate and id(v) in seen):
                    continue
                if remove_duplicate:
                    seen.add(id(v))
                yield mod_prefix + ("." if mod_prefix else "") + k, v

    def named_parameters(
        self, prefix: str = "", recurse: bool = True, remove_duplicate: bool = True
    ) -> Iterator[tuple[str, Parameter]]:
        yield from self._named_members(
            lambda m: m._parameters.items(), prefix, recurse, remove_duplicate
        )

    def parameters(self, recurse: bool = True) -> Iterator[Parameter]:
        for _, p in self.named_parameters(recurse=recurse):
            yield p

    def named_buffers(
        self, prefix: str = "", recurse: bool = True, remove_duplicate: bool = True
    ) -> Iterator[tuple[str, Tensor]]:
        yield from self._named_members(
            lambda m: m._buffers.items(), prefix, recurse, remove_duplicate
        )

    def buffers(self, recurse: bool = True) -> Iterator[Tensor]:
        for _, b in self.named_buffers(recurse=recurse):
            yield b

    # -------------------------------------------------------------- mode / grads
    def train(self, mode: bool = True) -> Module:
        if not isinstance(mode, bool):
            raise ValueError("training mode is expected to be boolean")
        self.training = mode
        for module in self.children():
            module.train(mode)
        return self

    def eval(self) -> Module:
        return self.train(False)

    def requires_grad_(self, requires_grad: bool = True) -> Module:
        for p in self.parameters():
            p.requires_grad_(requires_grad)
        return self

    def zero_grad(self, set_to_none: bool = True) -> None:
        zero_grads(self.parameters(), set_to_none)

    # ----------------------------------------------------------------- transforms
    def apply(self, fn: Callable[[Module], None]) -> Module:
        for module in self.children():
            module.apply(fn)
        fn(self)
        return self

    def _apply(self, fn: Callable[[Tensor], Tensor]) -> Module:
        # New Parameter objects replace the old ones, so build optimizers *after*
        # calling .to(); converted grads follow their parameter.
        for module in self.children():
            module._apply(fn)
        with dlcore.no_grad():
            for key, p in self._parameters.items():
                if p is None:
                    continue
                new = Parameter(fn(p.detach()), p.requires_grad)
                if p.grad is not None:
                    new.grad = fn(p.grad)
                self._parameters[key] = new
            for key, b in self._buffers.items():
                if b is not None:
                    self._buffers[key] = fn(b)
        return self

    def to(self, *args, **kwargs) -> Module:
        """Convert parameters and buffers, e.g. ``model.to(dlcore.float64)``.

        Integer buffers keep their dtype when converting to a floating dtype,
        as in PyTorch.
        """
        dtype = kwargs.get("dtype")
        for a in args:
            if isinstance(a, type(dlcore.float32)):
                dtype = a

        def convert(t: Tensor) -> Tensor:
            if dtype is not None and not _is_floating(t.dtype):
                rest = [a for a in args if a is not dtype]
                kw = {k: v for k, v in kwargs.items() if k != "dtype"}
                return t.to(*rest, **kw) if rest or kw else t
            return t.to(*args, **kwargs)

        return self._apply(convert)

    def float(self) -> Module:
        return self.to(dlcore.float32)

    def double(self) -> Module:
        return self.to(dlcore.float64)

    # ----------------------------------------------------------------- state dict
    def state_dict(self, destination=None, prefix: str = "", keep_vars: bool = False):
        if destination is None:
            destination = OrderedDict()
        for name, p in self._parameters.items():
            if p is not None:
                destination[prefix + name] = p if keep_vars else p.detach()
        for name, b in self._buffers.items():
            if b is not None and name not in self._non_persistent_buffers_set:
                destination[prefix + name] = b if keep_vars else b.detach()
        for name, module in self._modules.items():
            if module is not None:
                module.state_dict(destination, prefix + name + ".", keep_vars)
        return destination

    def load_state_dict(self, state_dict, strict: bool = True):
        """Copy parameters and buffers from ``state_dict`` into this module.

        Values may be dlcore tensors, numpy arrays or torch tensors. Shape
        mismatches always raise; missing / unexpected keys raise when ``strict``.

        Returns:
            ``NamedTuple`` with ``missing_keys`` and ``unexpected_keys`` lists.
        """
        if not hasattr(state_dict, "items"):
            raise TypeError(
                f"Expected state_dict to be dict-like, got {type(state_dict)}."
            )
        own = self.state_dict(keep_vars=True)
        missing = [k for k in own if k not in state_dict]
        unexpected = [k for k in state_dict if k not in own]
        errors = []
        with dlcore.no_grad():
            for key, target in own.items():
                if key not in state_dict:
                    continue
                src = _as_tensor_like(state_dict[key], target)
                if tuple(src.shape) != tuple(target.shape):
                    errors.append(
                        f"size mismatch for {key}: copying a param with shape "
                        f"{tuple(src.shape)} from checkpoint, the shape in "
                        f"current model is {tuple(target.shape)}."
                    )
                    continue
                target.copy_(src)
        if strict:  # torch's order: missing keys, unexpected keys, size mismatches
            for label, keys in (("Unexpected", unexpected), ("Missing", missing)):
                if keys:
                    names = ", ".join(f'"{k}"' for k in keys)
                    errors.insert(0, f"{label} key(s) in state_dict: {names}. ")
        if errors:
            raise RuntimeError(
                f"Error(s) in loading state_dict for {type(self).__name__}:\n\t"
                + "\n\t".join(errors)
            )
        return _IncompatibleKeys(missing, unexpected)

    # ---------------------------------------------------------------------- repr
    def extra_repr(self) -> str:
        return ""

    def _get_name(self) -> str:
        return type(self).__name__

    def __repr__(self) -> str:
        lines = []
        extra = self.extra_repr()
        if extra:
            lines = extra.split("\n")
        for key, module in self._modules.items():
            lines.append(f"({key}): " + _addindent(repr(module), 2))
        main = self._get_name() + "("
        if lines:
            if len(lines) == 1 and not self._modules:
                main += lines[0]
            else:
                main += "\n  " + "\n  ".join(lines) + "\n"
        return main + ")"


def _expect_none_or(value: Any, cls: type, kind: str, name: str) -> None:
    if value is not None and not isinstance(value, cls):
        raise TypeError(
            f"cannot assign '{type(value).__name__}' as {kind} '{name}' "
            f"({cls.__module__}.{cls.__name__} or None expected)"
        )


def _is_floating(dtype) -> bool:
    if dtype in (dlcore.float32, dlcore.float64):
        return True
    return bool(getattr(dtype, "is_floating_point", False))
