"""dlcore.save / dlcore.load / dlcore.load_torch_state_dict: safetensors round
trips, nested checkpoints, atomic writes, torch interchange, malformed files."""

import json
import math
import os
import struct

import numpy as np
import pytest

import dlcore
import dlcore.nn as nn
from dlcore import serialization


def _torch():
    from helpers import import_torch

    return import_torch()


def _mlp():
    return nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.Linear(4, 2))


def test_state_dict_round_trip_keeps_keys_order_dtypes_and_bits(tmp_path):
    model = _mlp()
    path = tmp_path / "m.safetensors"
    dlcore.save(model.state_dict(), path)
    sd = dlcore.load(path)
    assert list(sd) == list(model.state_dict())
    for k, v in model.state_dict().items():
        assert sd[k].dtype == v.dtype and tuple(sd[k].shape) == tuple(v.shape)
        np.testing.assert_array_equal(sd[k].numpy(), v.numpy())
    other = _mlp()
    other.load_state_dict(sd)
    x = dlcore.randn(5, 3)
    assert dlcore.equal(other(x), model(x))


@pytest.mark.parametrize("value", [
    dlcore.tensor([1.5, -2.0]),
    dlcore.tensor([[1.0, 2.0]], dtype=dlcore.float64),
    dlcore.tensor([3, -4]),
    dlcore.tensor([True, False]),
    dlcore.tensor(2.5),
    dlcore.zeros(0, 3),
    dlcore.arange(12.0).reshape(3, 4).t(),  # non-contiguous view
])
def test_every_dtype_and_layout_round_trips(tmp_path, value):
    dlcore.save({"t": value}, tmp_path / "t.st")
    out = dlcore.load(tmp_path / "t.st")["t"]
    assert out.dtype == value.dtype and tuple(out.shape) == tuple(value.shape)
    np.testing.assert_array_equal(out.numpy(), value.numpy())


def test_nested_tree_with_plain_values(tmp_path):
    tree = {
        "model": {"0.weight": dlcore.ones(2, 2)},
        "optimizer": {"state": {0: {"step": 3, "buf": dlcore.zeros(2)}, 1: {}},
                      "param_groups": [{"lr": 0.1, "betas": (0.9, 0.999), "params": [0, 1], "name": None}]},
        "floats": [math.inf, -math.inf, 1e-300, 0.1],
        "flags": (True, False),
        "$odd": {"$tensor": "not a tensor"},
        "empty": {},
        "numpy": np.arange(3, dtype=np.int32),
        "np_scalar": np.float32(0.5),
    }
    dlcore.save(tree, tmp_path / "c.st")
    out = dlcore.load(tmp_path / "c.st")
    assert out["optimizer"]["state"][0]["step"] == 3
    assert set(out["optimizer"]["state"]) == {0, 1}
    assert out["optimizer"]["param_groups"][0]["betas"] == (0.9, 0.999)
    assert out["optimizer"]["param_groups"][0]["name"] is None
    assert out["floats"] == [math.inf, -math.inf, 1e-300, 0.1]
    assert out["flags"] == (True, False)
    assert out["$odd"] == {"$tensor": "not a tensor"}
    assert out["empty"] == {}
    assert out["numpy"].dtype == dlcore.int64 and out["numpy"].tolist() == [0, 1, 2]
    assert out["np_scalar"] == 0.5
    nan = dlcore.load(_save(tmp_path, {"x": math.nan}))["x"]
    assert math.isnan(nan)


def _save(tmp_path, obj, name="x.st"):
    dlcore.save(obj, tmp_path / name)
    return tmp_path / name


def test_colliding_tensor_names_are_disambiguated(tmp_path):
    obj = {"a/b": dlcore.ones(1), "a": {"b": dlcore.zeros(1)}}
    out = dlcore.load(_save(tmp_path, obj))
    assert out["a/b"].tolist() == [1.0] and out["a"]["b"].tolist() == [0.0]


def test_bare_tensor_and_list_round_trip(tmp_path):
    assert dlcore.load(_save(tmp_path, dlcore.arange(3))).tolist() == [0, 1, 2]
    out = dlcore.load(_save(tmp_path, [dlcore.ones(1), 2]))
    assert out[0].tolist() == [1.0] and out[1] == 2


def test_unsupported_values_raise_type_error_naming_the_path(tmp_path):
    with pytest.raises(TypeError, match="object.*'model/fn'.*never pickles"):
        dlcore.save({"model": {"fn": object()}}, tmp_path / "x.st")
    with pytest.raises(TypeError, match="dict key"):
        dlcore.save({(1, 2): 3}, tmp_path / "x.st")
    with pytest.raises(TypeError, match="file path"):
        dlcore.save({}, 3)
    assert not (tmp_path / "x.st").exists()


def test_file_is_plain_safetensors(tmp_path):
    from safetensors.numpy import load_file
    from safetensors import safe_open

    path = _save(tmp_path, _mlp().state_dict())
    assert set(load_file(str(path))) == {"0.weight", "0.bias", "2.weight", "2.bias"}
    with safe_open(str(path), framework="np") as f:
        meta = f.metadata()
    assert meta["format"] == "pt"
    assert json.loads(meta["dlcore.tree"])["0.weight"] == {"$tensor": "0.weight"}
    ckpt = _save(tmp_path, {"model": _mlp().state_dict(), "epoch": 1}, "ckpt.st")
    assert "model/0.weight" in load_file(str(ckpt))


def test_foreign_safetensors_file_loads_as_flat_dict(tmp_path):
    from safetensors.numpy import save_file

    save_file({"b": np.ones(2, np.float16), "a": np.arange(2, dtype=np.uint8)}, str(tmp_path / "f.st"))
    out = dlcore.load(tmp_path / "f.st")
    assert set(out) == {"a", "b"}
    assert out["b"].dtype == dlcore.float32 and out["a"].dtype == dlcore.int64


def test_save_is_atomic_when_the_write_fails(tmp_path, monkeypatch):
    path = _save(tmp_path, {"w": dlcore.ones(3)}, "keep.st")
    before = path.read_bytes()
    import safetensors.numpy as snp

    def crash(tensors, filename, metadata=None):
        with open(filename, "wb") as fh:
            fh.write(b"half a file")
        raise KeyboardInterrupt("killed mid-save")

    monkeypatch.setattr(snp, "save_file", crash)
    with pytest.raises(KeyboardInterrupt):
        dlcore.save({"w": dlcore.zeros(3)}, path)
    assert path.read_bytes() == before
    assert os.listdir(tmp_path) == ["keep.st"]  # the temporary file is gone


def test_save_replaces_an_existing_file(tmp_path):
    path = _save(tmp_path, {"w": dlcore.ones(3)})
    _save(tmp_path, {"v": dlcore.zeros(1)})
    assert list(dlcore.load(path)) == ["v"]


# ------------------------------------------------------------------ bad files
def test_missing_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="no such file"):
        dlcore.load(tmp_path / "nope.st")
    with pytest.raises(TypeError, match="file path"):
        dlcore.load(123)


@pytest.mark.parametrize("cut", [1, 8, 20, -1, -5])
def test_truncated_files_raise_value_error(tmp_path, cut):
    data = _save(tmp_path, {"w": dlcore.ones(4, 4), "b": dlcore.ones(4)}).read_bytes()
    bad = tmp_path / "bad.st"
    bad.write_bytes(data[:cut] if cut > 0 else data[:cut])
    with pytest.raises(ValueError, match="truncated|safetensors"):
        dlcore.load(bad)


def test_truncated_data_message_names_the_sizes(tmp_path):
    data = _save(tmp_path, {"w": dlcore.ones(4)}).read_bytes()
    (tmp_path / "bad.st").write_bytes(data[:-4])
    with pytest.raises(ValueError, match=r"truncated: its header declares 16 bytes of tensor data but only 12"):
        dlcore.load(tmp_path / "bad.st")


def _raw(header: bytes, body: bytes = b"") -> bytes:
    return struct.pack("<Q", len(header)) + header + body


@pytest.mark.parametrize("blob,match", [
    (b"not a safetensors file at all", "truncated or not a safetensors"),
    (_raw(b"{not json"), "malformed safetensors header"),
    (_raw(b"[1, 2]"), "not a JSON object"),
    (_raw(b'{"w": {"dtype": "F32", "shape": [2]}}'), "malformed safetensors header entry for tensor 'w'"),
    (_raw(b'{"w": {"dtype": "Q7", "shape": [2], "data_offsets": [0, 8]}}'), "entry for tensor 'w'"),
    (_raw(b'{"w": {"dtype": "F32", "shape": [3], "data_offsets": [0, 8]}}', b"\0" * 8), "needs 12 bytes"),
    (_raw(b'{"__metadata__": {"dlcore.tree": "{bad"}}'), "malformed 'dlcore.tree'"),
    (_raw(b'{"__metadata__": {"dlcore.tree": "{\\"$tensor\\": \\"x\\"}"}}'), "tensor 'x' that the file does not"),
    (b"\x01\x02", "not a safetensors file"),
])
def test_malformed_files_raise_value_error(tmp_path, blob, match):
    (tmp_path / "bad.st").write_bytes(blob)
    with pytest.raises(ValueError, match=match):
        dlcore.load(tmp_path / "bad.st")


# ---------------------------------------------------------------------- torch
def _torch_mlp(torch):
    return torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.ReLU(), torch.nn.Linear(4, 2))


def test_load_torch_state_dict_in_memory_gives_identical_outputs():
    torch = _torch()
    tm, dm = _torch_mlp(torch), _mlp()
    out = dlcore.load_torch_state_dict(tm.state_dict(), dm)
    assert list(out) == list(tm.state_dict())
    for k, v in tm.state_dict().items():
        np.testing.assert_array_equal(dm.state_dict()[k].numpy(), v.numpy())
    x = np.random.default_rng(0).standard_normal((5, 3)).astype(np.float32)
    np.testing.assert_allclose(dm(dlcore.tensor(x)).detach().numpy(), tm(torch.tensor(x)).detach().numpy(),
                               rtol=1e-5, atol=1e-6)


def test_load_torch_state_dict_from_file_with_torch_dtypes(tmp_path):
    torch = _torch()
    from safetensors.torch import save_file

    sd = {
        "module.weight": torch.randn(2, 3).to(torch.bfloat16),
        "module.bias": torch.randn(2).half(),
        "module.count": torch.tensor([7], dtype=torch.int32),
    }
    save_file(sd, str(tmp_path / "t.safetensors"))
    out = dlcore.load_torch_state_dict(tmp_path / "t.safetensors")
    assert set(out) == {"weight", "bias", "count"}  # "module." stripped
    np.testing.assert_array_equal(out["weight"].numpy(), sd["module.weight"].float().numpy())
    np.testing.assert_array_equal(out["bias"].numpy(), sd["module.bias"].float().numpy())
    assert out["count"].dtype == dlcore.int64 and out["count"].tolist() == [7]
    # torch's in-memory bfloat16 works too
    mem = dlcore.load_torch_state_dict({"w": sd["module.weight"]})
    np.testing.assert_array_equal(mem["w"].numpy(), out["weight"].numpy())


def test_dlcore_file_loads_into_torch(tmp_path):
    torch = _torch()
    from safetensors.torch import load_file

    dm, tm = _mlp(), _torch_mlp(torch)
    dlcore.save(dm.state_dict(), tmp_path / "d.safetensors")
    tm.load_state_dict(load_file(str(tmp_path / "d.safetensors")))
    for k, v in tm.state_dict().items():
        np.testing.assert_array_equal(dm.state_dict()[k].numpy(), v.numpy())


def test_load_torch_state_dict_strict_and_errors(tmp_path):
    torch = _torch()
    with pytest.raises(RuntimeError, match="Missing key"):
        dlcore.load_torch_state_dict({"0.weight": torch.zeros(4, 3)}, _mlp())
    res = dlcore.load_torch_state_dict({"0.weight": torch.ones(4, 3)}, model := _mlp(), strict=False)
    assert model[0].weight.sum().item() == 12.0 and len(res) == 1
    torch.save({"w": torch.ones(1)}, tmp_path / "w.pt")
    with pytest.raises(ValueError, match="pickle.*never loads"):
        dlcore.load_torch_state_dict(tmp_path / "w.pt")
    with pytest.raises(FileNotFoundError):
        dlcore.load_torch_state_dict(tmp_path / "missing.safetensors")
    with pytest.raises(TypeError, match="not a tensor"):
        dlcore.load_torch_state_dict({"w": "text"})
    with pytest.raises(TypeError, match="path or a mapping"):
        dlcore.load_torch_state_dict(42)


def test_uint64_beyond_int64_is_refused(tmp_path):
    from safetensors.numpy import save_file

    save_file({"u": np.array([2**63 + 1], np.uint64)}, str(tmp_path / "u.st"))
    with pytest.raises(ValueError, match="uint64"):
        dlcore.load(tmp_path / "u.st")


def test_optimizer_state_round_trip(tmp_path):
    model = _mlp()
    opt = dlcore.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    model(dlcore.ones(2, 3)).sum().backward()
    opt.step()
    dlcore.save(opt.state_dict(), tmp_path / "o.st")
    sd = dlcore.load(tmp_path / "o.st")
    assert sd["param_groups"] == opt.state_dict()["param_groups"]
    opt2 = dlcore.optim.SGD(model.parameters(), lr=0.5)
    opt2.load_state_dict(sd)
    for p in model.parameters():
        np.testing.assert_array_equal(opt2.state[p]["momentum_buffer"].numpy(), opt.state[p]["momentum_buffer"].numpy())
    assert opt2.param_groups[0]["lr"] == 0.1


def test_module_exports():
    assert dlcore.save is serialization.save and dlcore.load is serialization.load
    assert dlcore.load_torch_state_dict is serialization.load_torch_state_dict
