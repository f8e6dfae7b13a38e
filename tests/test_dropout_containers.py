"""Dropout layers (statistics, scaling, gradient, eval mode) and ModuleList/ModuleDict."""

import numpy as np
import pytest
from helpers import import_torch

import dlcore
import dlcore.nn as nn
import dlcore.nn.functional as F


@pytest.mark.parametrize("p", [0.1, 0.5, 0.9])
def test_dropout_rate_scale_and_gradient(p):
    dlcore.manual_seed(0)
    x = dlcore.ones(200_000, requires_grad=True)
    y = F.dropout(x, p)
    v = y.detach().numpy()
    kept = v != 0
    # 200k Bernoulli draws: the drop rate is within 6 standard errors of p
    assert abs((1 - kept.mean()) - p) < 6 * np.sqrt(p * (1 - p) / v.size)
    np.testing.assert_allclose(v[kept], 1 / (1 - p), rtol=1e-6)
    y.sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), v, rtol=1e-6)


def test_dropout_edges_and_eval_mode():
    x = dlcore.randn(5, 7)
    assert F.dropout(x, 0.0) is x
    assert F.dropout(x, 0.7, training=False) is x
    assert float(F.dropout(x, 1.0).abs().sum().item()) == 0.0
    m = nn.Dropout(0.5).eval()
    assert m(x) is x
    with pytest.raises(ValueError, match="between 0 and 1"):
        nn.Dropout(1.5)
    with pytest.raises(RuntimeError, match="floating point"):
        F.dropout(dlcore.ones(3, dtype=dlcore.int64), 0.5)


def test_dropout_is_seeded():
    dlcore.manual_seed(7)
    a = F.dropout(dlcore.ones(100), 0.5)
    dlcore.manual_seed(7)
    assert dlcore.equal(a, F.dropout(dlcore.ones(100), 0.5))


def test_dropout2d_drops_whole_channels():
    dlcore.manual_seed(1)
    y = nn.Dropout2d(0.5)(dlcore.ones(4, 16, 3, 3)).numpy()
    per_channel = y.reshape(4, 16, 9)
    assert np.all((per_channel == 0).all(-1) | (per_channel == 2.0).all(-1))
    assert 0 < (per_channel == 0).all(-1).sum() < 64
    with pytest.raises(RuntimeError, match="3-D or 4-D"):
        F.dropout2d(dlcore.ones(2, 3), 0.5)


def test_module_list_matches_torch_layout():
    torch = import_torch()
    ours = nn.ModuleList([nn.Linear(3, 4), nn.ReLU(), nn.Linear(4, 2)])
    keys = list(ours.state_dict())
    if torch is not None:
        theirs = torch.nn.ModuleList([torch.nn.Linear(3, 4), torch.nn.ReLU(), torch.nn.Linear(4, 2)])
        assert keys == list(theirs.state_dict())
        ours.load_state_dict({k: v.detach().numpy() for k, v in theirs.state_dict().items()})
        np.testing.assert_array_equal(ours[2].weight.detach().numpy(), theirs[2].weight.detach().numpy())
    assert len(ours) == 3 and isinstance(ours[-1], nn.Linear) and len(ours[1:]) == 2
    ours.insert(1, nn.Tanh())
    assert [type(m).__name__ for m in ours] == ["Linear", "Tanh", "ReLU", "Linear"]
    del ours[0]
    assert list(ours.state_dict()) == ["2.weight", "2.bias"]
    with pytest.raises(IndexError):
        ours[10]


def test_module_dict():
    d = nn.ModuleDict({"a": nn.Linear(2, 2)})
    d["b"] = nn.Linear(2, 1)
    assert list(d.keys()) == ["a", "b"] and "b" in d and len(d) == 2
    assert sorted(d.state_dict()) == ["a.bias", "a.weight", "b.bias", "b.weight"]
    assert len(list(d.parameters())) == 4
