"""F.layer_norm / nn.LayerNorm vs torch (forward and every gradient), the
fused Rust kernel vs its scalar reference (cargo test), and the error paths."""

import numpy as np
import pytest
from helpers import check_op, import_torch

import dlcore
import dlcore.nn as nn
import dlcore.nn.functional as F

CASES = [
    ((4, 7), (7,)),
    ((2, 3, 5), (3, 5)),
    ((1, 1), (1,)),
    ((3, 1, 17), (17,)),
    ((64, 130), (130,)),  # large enough for the parallel path
    ((2, 0, 4), (4,)),  # empty
]


@pytest.mark.parametrize("xs,ns", CASES, ids=[str(i) for i in range(len(CASES))])
@pytest.mark.parametrize("affine", ["both", "weight", "none"])
def test_layer_norm(xs, ns, affine):
    args = [xs] + ([ns] if affine != "none" else []) + ([ns] if affine == "both" else [])
    check_op(lambda m, x, *wb: m.nn.functional.layer_norm(x, ns, *wb), args, rtol=1e-4, atol=1e-4)


def test_layer_norm_float64_non_contiguous_and_offset():
    check_op(lambda m, x, w, b: m.nn.functional.layer_norm(x, (6,), w, b), [(3, 6), (6,), (6,)], dtype="float64")
    check_op(lambda m, x, w, b: m.nn.functional.layer_norm(x, (5,), w, b, eps=1e-3),
             [(4, 5), (5,), (5,)], non_contiguous=True, rtol=1e-4, atol=1e-4)
    # a large offset must not cancel the variance (shifted sums)
    check_op(lambda m, x: m.nn.functional.layer_norm(x + 1000.0, (8,)), [(4, 8)], dtype="float64")


def test_layer_norm_module_matches_torch_state_dict():
    torch = import_torch()
    tm = torch.nn.LayerNorm((3, 4), eps=1e-6)
    with torch.no_grad():
        tm.weight.normal_()
        tm.bias.normal_()
    m = nn.LayerNorm((3, 4), eps=1e-6)
    assert set(m.state_dict()) == {"weight", "bias"}
    m.load_state_dict({k: dlcore.tensor(v.numpy()) for k, v in tm.state_dict().items()})
    x = np.random.default_rng(0).standard_normal((2, 3, 4)).astype("float32")
    np.testing.assert_allclose(m(dlcore.tensor(x)).detach().numpy(), tm(torch.tensor(x)).detach().numpy(), rtol=1e-5, atol=1e-5)
    assert nn.LayerNorm(5, elementwise_affine=False).weight is None
    assert nn.LayerNorm(5, bias=False).bias is None
    assert list(nn.LayerNorm(5, bias=False).state_dict()) == ["weight"]


def test_layer_norm_errors():
    with pytest.raises(RuntimeError, match=r"layer_norm: given normalized_shape=\[4\].*\[2, 3\]"):
        F.layer_norm(dlcore.randn(2, 3), (4,))
    with pytest.raises(RuntimeError, match=r"layer_norm: weight of shape \[2\] does not match"):
        F.layer_norm(dlcore.randn(2, 3), (3,), dlcore.ones(2))
    with pytest.raises(RuntimeError, match="layer_norm: expected a floating point input"):
        F.layer_norm(dlcore.tensor([[1, 2]]), (2,))
