"""topk / sort / argsort, isnan / isinf / isfinite and randperm."""

import numpy as np
import pytest
from helpers import check_op, nograd

import dlcore

INF, NAN = float("inf"), float("nan")


@pytest.mark.parametrize("shape,k,dim", [((7,), 3, 0), ((4, 6), 2, 1), ((4, 6), 4, 0), ((2, 3, 5), 5, -1), ((3, 1), 1, 1)])
@pytest.mark.parametrize("largest", [True, False])
def test_topk_values_indices_and_grad(shape, k, dim, largest):
    check_op(lambda m, a: a.topk(k, dim=dim, largest=largest).values, [shape])
    check_op(lambda m, a: a.topk(k, dim=dim, largest=largest).indices, [shape], grad=False)


@pytest.mark.parametrize("dim", [0, 1, -1])
@pytest.mark.parametrize("descending", [True, False])
def test_sort_and_argsort(dim, descending):
    check_op(lambda m, a: a.sort(dim=dim, descending=descending).values, [(5, 6)])
    check_op(lambda m, a: a.sort(dim=dim, descending=descending, stable=True).indices, [(5, 6)], grad=False)
    check_op(lambda m, a: a.argsort(dim=dim, descending=descending, stable=True), [(5, 6)], grad=False)


def test_sort_is_stable_and_puts_nan_last():
    x = np.array([3.0, 1.0, NAN, 1.0, -INF, 3.0], dtype="float32")
    check_op(lambda m, a: a.sort(stable=True).indices, [nograd(x)], grad=False)
    check_op(lambda m, a: a.sort(stable=True).values, [nograd(x)], grad=False)


def test_topk_k_too_large_is_an_error():
    with pytest.raises(RuntimeError, match="topk"):
        dlcore.ones(3).topk(4)


def test_isnan_isinf_isfinite():
    x = np.array([0.0, NAN, INF, -INF, 1e38], dtype="float32")
    for name in ["isnan", "isinf", "isfinite"]:
        check_op(lambda m, a, n=name: getattr(a, n)(), [nograd(x)], grad=False)
    assert dlcore.ones(2, dtype=dlcore.int64).isfinite().all().item()


def test_randperm_is_a_seeded_permutation():
    dlcore.manual_seed(3)
    p = dlcore.randperm(50)
    assert p.dtype == dlcore.int64 and sorted(p.tolist()) == list(range(50))
    dlcore.manual_seed(3)
    assert dlcore.equal(p, dlcore.randperm(50))
