"""``Optimizer`` base class: parameter groups, per-parameter state, (de)serialisation.

Follows ``torch.optim.Optimizer`` so that ``state_dict()`` has the same layout
(``{"state": {index: {...}}, "param_groups": [{..., "params": [index, ...]}]}``)
and optimizer checkpoints move between the two libraries.
"""

from __future__ import annotations

import warnings
from collections import defaultdict
from collections.abc import Callable, Iterable
from typing import Any

import numpy as np

import dlcore
from dlcore import Tensor, _core
from dlcore._utils import zero_grads

__all__ = ["Optimizer", "required"]


class _RequiredParameter:
    """Marks a hyper-parameter with no default (e.g. a group must set ``lr``)."""

    def __repr__(self) -> str:
        return "<required parameter>"


required = _RequiredParameter()


class Optimizer:
    r"""Base class for all optimizers.

    Args:
        params (iterable): an iterable of Tensors, or of dicts defining
            parameter groups (each with a ``"params"`` key and optional
            per-group hyper-parameters overriding ``defaults``).
        defaults (dict): default hyper-parameters for the groups.

    Subclasses either set ``_kind`` (the name of a fused Rust rule: the
    inherited :meth:`step` then updates each group with one Rust call) or
    implement :meth:`step` themselves. Per-parameter state lives in
    ``self.state[param]`` (a dict, created on first access) under PyTorch's
    keys; ``"step"`` is kept as a Python float.
    """

    _kind: str = ""

    def __init__(self, params: Iterable, defaults: dict[str, Any]) -> None:
        self.defaults = defaults
        self.state: defaultdict = defaultdict(dict)
        self.param_groups: list[dict[str, Any]] = []
        if isinstance(params, Tensor):
            raise TypeError(
                "params argument given to the optimizer should be an iterable of "
                f"Tensors or dicts, but got {type(params).__name__}"
            )
        param_groups = list(params)
        if len(param_groups) == 0:
            raise ValueError("optimizer got an empty parameter list")
        if not isinstance(param_groups[0], dict):
            param_groups = [{"params": param_groups}]
        for group in param_groups:
            self.add_param_group(group)

    def add_param_group(self, param_group: dict[str, Any]) -> None:
        """Add a group of parameters (e.g. a layer unfrozen during fine-tuning)."""
        if not isinstance(param_group, dict):
            raise TypeError(
                f"param_group must be a dict, but got {type(param_group).__name__}"
            )
        params = param_group["params"]
        if isinstance(params, Tensor):
            param_group["params"] = [params]
        elif isinstance(params, set):
            raise TypeError(
                "optimizer parameters need to be organized in ordered collections, "
                "but the ordering of tensors in sets will change between runs. Please "
                "use a list instead."
            )
        else:
            param_group["params"] = list(params)
        for p in param_group["params"]:
            if not isinstance(p, Tensor):
                raise TypeError(
                    f"optimizer can only optimize Tensors, but one of the params is "
                    f"{type(p).__name__}"
                )
            if not getattr(p, "is_leaf", True):
                raise ValueError("can't optimize a non-leaf Tensor")
        for name, default in self.defaults.items():
            if default is required and name not in param_group:
                raise ValueError(
                    f"parameter group didn't specify a value of required optimization "
                    f"parameter {name}"
                )
            param_group.setdefault(name, default)
        seen = {id(p) for group in self.param_groups for p in group["params"]}
        if len({id(p) for p in param_group["params"]}) != len(param_group["params"]):
            warnings.warn(
                "optimizer contains a parameter group with duplicate parameters; "
                "in future, this will cause an error",
                stacklevel=3,
            )
        if any(id(p) in seen for p in param_group["params"]):
            raise ValueError("some parameters appear in more than one parameter group")
        self.param_groups.append(param_group)

    def zero_grad(self, set_to_none: bool = True) -> None:
        """Reset the gradients of all optimized tensors.

        Args:
            set_to_none (bool): set grads to ``None`` instead of zeroing them,
                which frees memory and lets the next backward write instead of add.
        """
        for group in self.param_groups:
            zero_grads(group["params"], set_to_none)

    def step(self, closure: Callable[[], Any] | None = None):
        """Perform a single optimization step.

        Args:
            closure (callable, optional): re-evaluates the model and returns
                the loss; run with gradients enabled.

        Returns:
            The closure's loss, or ``None``.
        """
        if not self._kind:
            raise NotImplementedError(
                f"{type(self).__name__} does not implement step()"
            )
        loss = None
        if closure is not None:
            with dlcore.enable_grad():
                loss = closure()
        for group in self.param_groups:
            params, grads, states = [], [], []
            for p in group["params"]:
                g = p.grad
                if g is None:
                    continue
                params.append(p)
                grads.append(g)
                states.append(self.state[p])
            if params:
                # one Rust call: every parameter of the group, state updated in place
                _core.optim_step(self._kind, params, grads, states, group)
        return loss

    # --------------------------------------------------------------- state dict
    def state_dict(self) -> dict[str, Any]:
        """Return the state as ``{"state": ..., "param_groups": ...}``.

        Parameters are referred to by their position across all groups, so the
        dict is independent of object identity (and matches PyTorch's layout).
        """
        index_of: dict[int, int] = {}
        groups = []
        next_index = 0
        for group in self.param_groups:
            packed = {k: v for k, v in group.items() if k != "params"}
            for p in group["params"]:
                if id(p) not in index_of:
                    index_of[id(p)] = next_index
                    next_index += 1
            packed["params"] = [index_of[id(p)] for p in group["params"]]
            groups.append(packed)
        state = {
            index_of[id(p)]: dict(s)
            for p, s in self.state.items()
            if id(p) in index_of and s
        }
        return {"state": state, "param_groups": groups}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Load a state produced by :meth:`state_dict` (dlcore's or PyTorch's).

        Tensor-valued state (e.g. momentum buffers) is copied and cast to the
        dtype of its parameter; numpy arrays and torch tensors are accepted.
        """
        groups = self.param_groups
        saved_groups = state_dict["param_groups"]
        if len(groups) != len(saved_groups):
            raise ValueError(
                "loaded state dict has a different number of parameter groups"
            )
        pairs = list(zip(groups, saved_groups))
        if any(len(g["params"]) != len(s["params"]) for g, s in pairs):
            raise ValueError(
                "loaded state dict contains a parameter group that doesn't match the "
                "size of optimizer's group"
            )
        id_map = {
            old: p
            for g, s in zip(groups, saved_groups)
            for old, p in zip(s["params"], g["params"])
        }
        self.state = defaultdict(dict)
        for key, value in state_dict["state"].items():
            key = int(key)
            if key not in id_map:
                continue
            param = id_map[key]
            self.state[param] = {k: _cast_state(k, v, param) for k, v in value.items()}
        self.param_groups = [
            {**{k: v for k, v in saved.items() if k != "params"}, "params": g["params"]}
            for g, saved in zip(groups, saved_groups)
        ]

    def __repr__(self) -> str:
        lines = [type(self).__name__ + " ("]
        for i, group in enumerate(self.param_groups):
            lines.append(f"Parameter Group {i}")
            for key in sorted(group):
                if key != "params":
                    lines.append(f"    {key}: {group[key]}")
        lines.append(")")
        return "\n".join(lines)


def _cast_state(key: str, value: Any, param: Tensor) -> Any:
    # scalar state (PyTorch keeps these as 0-d float32 tensors) becomes a float
    if key in ("step", "mu_product"):
        return float(value)
    if isinstance(value, Tensor):
        if value.dtype in (dlcore.float32, dlcore.float64):
            value = value.to(param.dtype)
        return value.clone()
    if hasattr(value, "detach") and hasattr(value, "cpu"):  # torch.Tensor
        value = value.detach().cpu().numpy()
    if isinstance(value, np.ndarray):
        dtype = param.dtype if value.dtype.kind == "f" else None
        return dlcore.tensor(value, dtype=dtype)
    return value


def _check(cond: bool, msg: str) -> None:
    if not cond:
        raise ValueError(msg)


def _check_common(lr, eps=None, betas=None, weight_decay=None) -> None:
    """PyTorch's argument checks (and messages) shared by the optimizers."""
    _check(lr is required or lr >= 0.0, f"Invalid learning rate: {lr}")
    if eps is not None:
        _check(eps >= 0.0, f"Invalid epsilon value: {eps}")
    if betas is not None:
        _check(0.0 <= betas[0] < 1.0, f"Invalid beta parameter at index 0: {betas[0]}")
        _check(0.0 <= betas[1] < 1.0, f"Invalid beta parameter at index 1: {betas[1]}")
    if weight_decay is not None:
        _check(weight_decay >= 0.0, f"Invalid weight_decay value: {weight_decay}")


def _no_differentiable(
    name: str, differentiable: bool, capturable: bool = False
) -> None:
    if differentiable:
        raise NotImplementedError(f"dlcore {name} does not support differentiable=True")
    if capturable:
        raise NotImplementedError(
            f"dlcore {name} does not support capturable=True (CPU only)"
        )
