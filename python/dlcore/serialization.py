"""Saving and loading tensors and checkpoints in the safetensors format.

Files are always safetensors (a JSON header, then raw little-endian tensor
bytes): loading one never executes code, unlike pickle. Every write goes to a
temporary file in the destination's directory, is flushed to disk, and is then
renamed over the destination with :func:`os.replace`, so a crash mid-save
leaves the previous file intact.

File layout
-----------
``dlcore.save(obj, path)`` accepts any nesting of ``dict`` / ``list`` /
``tuple`` whose leaves are tensors (dlcore, NumPy or torch) or JSON-like
values (``None``, ``bool``, ``int``, ``float``, ``str``):

* every tensor leaf is stored as a safetensors tensor named by its path in
  the tree, components joined by ``"/"``. A flat ``state_dict`` therefore keeps
  its own keys (``"0.weight"``), so the file is an ordinary safetensors file
  that ``safetensors.torch.load_file`` reads; a checkpoint's tensors are named
  ``"model/0.weight"``, ``"optimizer/state/0/momentum_buffer"`` and so on.
* the tree itself, with each tensor replaced by ``{"$tensor": name}``, is JSON
  in the header metadata under ``"dlcore.tree"`` (metadata is ``str -> str``).
  Other JSON tags keep what JSON alone would lose: ``{"$tuple": [...]}``,
  ``{"$float": "nan" | "inf" | "-inf"}``, and ``{"$dict": [[key, value], ...]}``
  for dicts with non-``str`` keys (optimizer state is keyed by ``int``) or with
  a single ``"$"``-prefixed key that would read as a tag.

A file without ``"dlcore.tree"`` (e.g. written by PyTorch) loads as a flat
``OrderedDict`` of its tensors. dlcore has four dtypes, so on load ``F16`` and
``BF16`` widen to ``float32`` and every integer type to ``int64`` (all exact).
"""

from __future__ import annotations

import json
import math
import os
import struct
import tempfile
from collections import OrderedDict
from typing import Any

import numpy as np

import dlcore

__all__ = ["save", "load", "load_torch_state_dict"]

_TREE_KEY = "dlcore.tree"
_FORMAT_VERSION = "1"
# safetensors dtype names -> numpy dtypes (BF16 has no numpy dtype: special-cased)
_NP_DTYPES = {
    "F64": np.float64, "F32": np.float32, "F16": np.float16, "I64": np.int64,
    "I32": np.int32, "I16": np.int16, "I8": np.int8, "U8": np.uint8,
    "U16": np.uint16, "U32": np.uint32, "U64": np.uint64, "BOOL": np.bool_,
}
_ITEMSIZE = {"BF16": 2, **{k: np.dtype(v).itemsize for k, v in _NP_DTYPES.items()}}


# ----------------------------------------------------------------------- save
def _to_numpy(value: Any) -> np.ndarray | None:
    """The array behind a tensor-like leaf, or ``None`` for other values."""
    if isinstance(value, dlcore.Tensor):
        arr = value.detach().cpu().numpy()
    elif isinstance(value, np.ndarray):
        arr = value
    elif type(value).__module__.startswith("torch") and hasattr(value, "detach"):
        t = value.detach().cpu()
        if str(t.dtype) == "torch.bfloat16":
            t = t.float()
        arr = t.numpy()
    else:
        return None
    if arr.dtype.kind not in "biuf":
        raise TypeError(f"dlcore.save: cannot store an array of dtype {arr.dtype}")
    return np.require(arr, requirements="C")  # (ascontiguousarray would turn 0-d into 1-d)


def _encode(value: Any, path: list[str], tensors: dict[str, np.ndarray]) -> Any:
    arr = _to_numpy(value)
    if arr is not None:
        name = "/".join(path) if path else "tensor"
        base, n = name, 1
        while name in tensors:  # e.g. {"a/b": x, "a": {"b": y}}
            name, n = f"{base}#{n}", n + 1
        tensors[name] = arr
        return {"$tensor": name}
    if value is None or isinstance(value, (bool, str)):
        return value
    if isinstance(value, np.bool_):
        return bool(value)
    if isinstance(value, (int, np.integer)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        value = float(value)
        return value if math.isfinite(value) else {"$float": repr(value)}
    if isinstance(value, tuple):
        return {"$tuple": [_encode(v, path + [str(i)], tensors) for i, v in enumerate(value)]}
    if isinstance(value, list):
        return [_encode(v, path + [str(i)], tensors) for i, v in enumerate(value)]
    if isinstance(value, dict):
        plain = all(isinstance(k, str) for k in value) and not (
            len(value) == 1 and next(iter(value)).startswith("$")
        )
        if plain:
            return {k: _encode(v, path + [k], tensors) for k, v in value.items()}
        for k in value:
            if not isinstance(k, (str, int, bool)) and k is not None:
                raise TypeError(
                    f"dlcore.save: dict key {k!r} at '{'/'.join(path) or '<root>'}' "
                    "must be str, int, bool or None"
                )
        return {"$dict": [[k, _encode(v, path + [str(k)], tensors)] for k, v in value.items()]}
    raise TypeError(
        f"dlcore.save: cannot store a value of type {type(value).__name__} at "
        f"'{'/'.join(path) or '<root>'}' (only tensors, arrays, dict/list/tuple, "
        "None, bool, int, float and str; dlcore never pickles)"
    )


def save(obj: Any, f: str | os.PathLike) -> None:
    r"""Save a state dict (or any tree of tensors and plain values) to ``f``.

    The file is safetensors; the write is atomic (temporary file in the same
    directory, fsync, then :func:`os.replace`). See the module docstring for
    how nested dicts and non-tensor values are stored.

    Args:
        obj: a tensor, or a ``dict`` / ``list`` / ``tuple`` tree whose leaves
            are tensors (dlcore, NumPy or torch) or ``None``/``bool``/``int``/
            ``float``/``str``.
        f (str or os.PathLike): destination path. Its directory must exist.

    Examples::

        >>> import os, tempfile
        >>> model = dlcore.nn.Linear(3, 2)
        >>> path = os.path.join(tempfile.mkdtemp(), "linear.safetensors")
        >>> dlcore.save(model.state_dict(), path)
        >>> sd = dlcore.load(path)
        >>> list(sd), dlcore.equal(sd["weight"], model.weight)
        (['weight', 'bias'], True)
        >>> dlcore.save({"step": 3, "lr": [0.1], "buf": dlcore.ones(2)}, path)
        >>> dlcore.load(path)["lr"]
        [0.1]
    """
    if isinstance(f, (str, os.PathLike)):
        path = os.fspath(f)
    else:
        raise TypeError(f"dlcore.save: expected a file path, got {type(f).__name__}")
    tensors: dict[str, np.ndarray] = {}
    tree = _encode(obj, [], tensors)
    metadata = {_TREE_KEY: json.dumps(tree, allow_nan=False), "dlcore.version": _FORMAT_VERSION}
    if isinstance(obj, dict) and all(_to_numpy(v) is not None for v in obj.values()):
        metadata["format"] = "pt"  # a flat state_dict: what HF/torch loaders expect
    from safetensors.numpy import save_file

    directory = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(prefix="." + os.path.basename(path) + ".", suffix=".tmp", dir=directory)
    os.close(fd)
    try:
        save_file(tensors, tmp, metadata=metadata)
        with open(tmp, "rb+") as fh:  # data on disk before the rename publishes it
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    try:  # make the rename itself durable (POSIX; not possible on Windows)
        dfd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(dfd)
        finally:
            os.close(dfd)
    except OSError:
        pass


# ----------------------------------------------------------------------- load
def _read_header(path: str) -> tuple[dict, int]:
    """Parse and validate the header; raise ``ValueError`` naming the problem."""
    size = os.path.getsize(path)
    if size < 8:
        raise ValueError(f"{path}: not a safetensors file ({size} bytes; the 8-byte header length is missing)")
    with open(path, "rb") as fh:
        (n,) = struct.unpack("<Q", fh.read(8))
        if n > size - 8:
            raise ValueError(
                f"{path}: truncated or not a safetensors file (header says {n} bytes of "
                f"JSON but the file has {size - 8} after the length prefix)"
            )
        raw = fh.read(n)
    try:
        header = json.loads(raw.decode("utf-8"))
        if not isinstance(header, dict):
            raise ValueError("header is not a JSON object")
    except ValueError as e:
        raise ValueError(f"{path}: malformed safetensors header ({e})") from None
    end = 0
    for name, info in header.items():
        if name == "__metadata__":
            continue
        try:
            dtype, shape, (begin, stop) = info["dtype"], info["shape"], info["data_offsets"]
            want = _ITEMSIZE[dtype] * math.prod(shape)
        except (KeyError, TypeError, ValueError):
            raise ValueError(f"{path}: malformed safetensors header entry for tensor '{name}': {info!r}") from None
        if stop - begin != want:
            raise ValueError(
                f"{path}: tensor '{name}' of dtype {dtype} and shape {shape} needs {want} bytes "
                f"but its offsets [{begin}, {stop}) span {stop - begin}"
            )
        end = max(end, stop)
    if 8 + n + end > size:
        raise ValueError(
            f"{path}: file is truncated: its header declares {end} bytes of tensor data "
            f"but only {size - 8 - n} are present"
        )
    return header, 8 + n


def _read_tensors(path: str) -> tuple[dict[str, np.ndarray], dict[str, str]]:
    header, data_start = _read_header(path)
    metadata = header.pop("__metadata__", None) or {}
    from safetensors import SafetensorError, safe_open

    arrays: dict[str, np.ndarray] = {}
    try:
        with safe_open(path, framework="np") as fh:
            # file order (by data offset) is the order the writer gave the tensors
            for name, info in sorted(header.items(), key=lambda kv: kv[1]["data_offsets"][0]):
                if info["dtype"] == "BF16":  # numpy has no bfloat16: widen the raw bits
                    begin, stop = info["data_offsets"]
                    bits = np.fromfile(path, dtype="<u2", count=(stop - begin) // 2, offset=data_start + begin)
                    arr = (bits.astype(np.uint32) << 16).view(np.float32).reshape(info["shape"])
                else:
                    arr = fh.get_tensor(name)
                arrays[name] = arr
    except SafetensorError as e:
        raise ValueError(f"{path}: malformed safetensors file ({e})") from None
    return arrays, metadata


def _to_dlcore(arr: np.ndarray, name: str) -> dlcore.Tensor:
    kind = arr.dtype.kind
    if kind == "f":
        arr = arr.astype(np.float64 if arr.dtype == np.float64 else np.float32, copy=False)
    elif kind == "u" and arr.dtype.itemsize == 8:
        if arr.size and arr.max() > np.iinfo(np.int64).max:
            raise ValueError(f"tensor '{name}': uint64 values above 2**63-1 do not fit dlcore's int64")
        arr = arr.astype(np.int64)
    elif kind in "iu":
        arr = arr.astype(np.int64, copy=False)
    return dlcore.tensor(np.require(arr, requirements="C"))


def _decode(node: Any, tensors: dict[str, dlcore.Tensor], path: str) -> Any:
    if isinstance(node, list):
        return [_decode(v, tensors, path) for v in node]
    if not isinstance(node, dict):
        return node
    if len(node) == 1:
        (tag, val), = node.items()
        if tag == "$tensor":
            if val not in tensors:
                raise ValueError(f"{path}: metadata refers to tensor '{val}' that the file does not contain")
            return tensors[val]
        if tag == "$float":
            return float(val)
        if tag == "$tuple":
            return tuple(_decode(v, tensors, path) for v in val)
        if tag == "$dict":
            return {k: _decode(v, tensors, path) for k, v in val}
    return {k: _decode(v, tensors, path) for k, v in node.items()}


def load(f: str | os.PathLike, map_location: Any = None) -> Any:
    r"""Load what :func:`save` wrote (or any safetensors file).

    Args:
        f (str or os.PathLike): path of a safetensors file.
        map_location: accepted for PyTorch compatibility; tensors load on the
            CPU (move a model with ``.to(device)`` after loading its state).

    Returns:
        The saved tree with dlcore tensors at the leaves; for a plain
        safetensors file, an ``OrderedDict`` of its tensors.

    Raises:
        FileNotFoundError: when ``f`` does not exist.
        ValueError: when the file is truncated or not valid safetensors.

    Examples::

        >>> import os, tempfile
        >>> path = os.path.join(tempfile.mkdtemp(), "ckpt.safetensors")
        >>> dlcore.save({"state": {0: {"step": 2}}, "betas": (0.9, 0.999)}, path)
        >>> ckpt = dlcore.load(path)
        >>> ckpt["state"][0]["step"], ckpt["betas"]
        (2, (0.9, 0.999))
    """
    if not isinstance(f, (str, os.PathLike)):
        raise TypeError(f"dlcore.load: expected a file path, got {type(f).__name__}")
    path = os.fspath(f)
    if not os.path.isfile(path):
        raise FileNotFoundError(f"dlcore.load: no such file: '{path}'")
    arrays, metadata = _read_tensors(path)
    tensors = {name: _to_dlcore(arr, name) for name, arr in arrays.items()}
    if _TREE_KEY not in metadata:
        return OrderedDict(tensors)
    try:
        tree = json.loads(metadata[_TREE_KEY])
    except ValueError as e:
        raise ValueError(f"{path}: malformed '{_TREE_KEY}' metadata ({e})") from None
    return _decode(tree, tensors, path)


# ---------------------------------------------------------------------- torch
def load_torch_state_dict(source: Any, model: Any = None, strict: bool = True) -> OrderedDict:
    r"""Convert a PyTorch ``state_dict`` into dlcore tensors, matched by key name.

    dlcore layers use PyTorch's parameter names and layouts, so the tensors
    need no reshaping. A ``"module."`` prefix on every key (left by
    ``nn.DataParallel`` / DDP) is stripped. ``float16``/``bfloat16`` widen to
    ``float32``, every integer type becomes ``int64``.

    Args:
        source: a path to a safetensors file (as written by
            ``safetensors.torch.save_file``), or an in-memory mapping of names
            to torch tensors / NumPy arrays. Pickle files (``.pt``, ``.bin``)
            are refused: convert them with ``safetensors.torch.save_file``.
        model (nn.Module, optional): if given, the converted dict is loaded
            into it with ``model.load_state_dict(sd, strict=strict)``.
        strict (bool): passed to ``load_state_dict``. Default: ``True``.

    Returns:
        ``OrderedDict`` of name to dlcore tensor.

    Examples::

        >>> import numpy as np
        >>> sd = {"module.weight": np.ones((2, 3), np.float16), "module.bias": np.zeros(2)}
        >>> model = dlcore.nn.Linear(3, 2)
        >>> out = dlcore.load_torch_state_dict(sd, model)
        >>> list(out), out["weight"].dtype, model.weight.sum().item()
        (['weight', 'bias'], dlcore.float32, 6.0)
    """
    if isinstance(source, (str, os.PathLike)):
        path = os.fspath(source)
        if not os.path.isfile(path):
            raise FileNotFoundError(f"load_torch_state_dict: no such file: '{path}'")
        with open(path, "rb") as fh:
            head = fh.read(2)
        if head[:1] == b"\x80" or head == b"PK":  # pickle protocol / torch zip archive
            raise ValueError(
                f"load_torch_state_dict: '{path}' is a pickle / torch.save file, which dlcore never "
                "loads (unpickling can run arbitrary code). Convert it once in PyTorch with "
                "safetensors.torch.save_file(torch.load(path, weights_only=True), 'model.safetensors')."
            )
        arrays, _ = _read_tensors(path)
        items = list(arrays.items())
    elif hasattr(source, "items"):
        items = []
        for k, v in source.items():
            arr = _to_numpy(v)
            if arr is None:
                raise TypeError(
                    f"load_torch_state_dict: value for key '{k}' is a {type(v).__name__}, not a tensor"
                )
            items.append((str(k), arr))
    else:
        raise TypeError(
            "load_torch_state_dict: expected a path or a mapping of tensors, got "
            f"{type(source).__name__}"
        )
    if items and all(k.startswith("module.") for k, _ in items):
        items = [(k[len("module."):], v) for k, v in items]
    out = OrderedDict((k, _to_dlcore(v, k)) for k, v in items)
    if model is not None:
        model.load_state_dict(out, strict=strict)
    return out
