"""Reductions over all / one / several dims, keepdim, softmax and friends."""

import numpy as np
import pytest
from helpers import arg, check_op, nograd

INF, NAN = float("inf"), float("nan")

# (shape, dim) pairs; dim None means a full reduction.
DIMS = [
    ((5,), None),
    ((5,), 0),
    ((3, 4), None),
    ((3, 4), 0),
    ((3, 4), 1),
    ((3, 4), -1),
    ((2, 3, 4), 1),
    ((2, 3, 4), (0, 2)),
    ((2, 3, 4), (-1, 0)),
    ((2, 3, 4), (0, 1, 2)),
    ((1, 4, 1), 0),
    ((1, 4, 1), 2),
    ((4, 1), (0, 1)),
    ((3, 0, 2), 0),
    ((3, 0, 2), 2),
    ((), None),
    ((), 0),
    ((6, 130), 1),  # long rows: vectorised path with tails
    ((130, 6), 0),
]

SUM_LIKE = {
    "sum": lambda m, a, d, k: a.sum() if d is None else a.sum(dim=d, keepdim=k),
    "m.sum": lambda m, a, d, k: m.sum(a) if d is None else m.sum(a, d, keepdim=k),
    "mean": lambda m, a, d, k: a.mean() if d is None else a.mean(dim=d, keepdim=k),
    "var": lambda m, a, d, k: a.var() if d is None else a.var(dim=d, keepdim=k),
    "var_c0": lambda m, a, d, k: a.var(correction=0) if d is None else a.var(dim=d, keepdim=k, correction=0),
    "std": lambda m, a, d, k: a.std() if d is None else a.std(dim=d, keepdim=k),
    "std_unbiased_false": lambda m, a, d, k: a.std(unbiased=False) if d is None else a.std(d, unbiased=False, keepdim=k),
    "prod": lambda m, a, d, k: a.prod() if d is None else a.prod(dim=d, keepdim=k),
    "logsumexp": lambda m, a, d, k: m.logsumexp(a, dim=tuple(range(a.ndim)) if d is None else d, keepdim=k),
    "amax": lambda m, a, d, k: a.amax() if d is None else a.amax(dim=d, keepdim=k),
    "amin": lambda m, a, d, k: m.amin(a) if d is None else m.amin(a, dim=d, keepdim=k),
}
# Ops that only take a single int dim.
SINGLE_DIM = {"prod"}
# Ops that refuse empty inputs in torch (tested in test_errors instead).
NO_EMPTY = {"amax", "amin", "prod_empty_ok"}


def _skip_unsupported(op, shape, dim):
    if op in SINGLE_DIM and isinstance(dim, tuple):
        pytest.skip(f"{op} takes a single dim")
    if op == "logsumexp" and dim is None and shape == ():
        pytest.skip("logsumexp dim=() on 0-d")
    if op in NO_EMPTY and 0 in shape:
        pytest.skip("torch refuses this reduction on empty inputs")


@pytest.mark.parametrize("op", SUM_LIKE)
@pytest.mark.parametrize("keepdim", [False, True])
@pytest.mark.parametrize("shape,dim", DIMS, ids=str)
def test_reduction(op, shape, dim, keepdim, device):
    _skip_unsupported(op, shape, dim)
    # prod: keep values near 1 so products stay well conditioned.
    lo, hi = (0.5, 1.5) if op == "prod" else (-2, 2)
    check_op(lambda m, a: SUM_LIKE[op](m, a, dim, keepdim), [arg(shape, low=lo, high=hi)], device=device)


@pytest.mark.parametrize("op", SUM_LIKE)
@pytest.mark.parametrize("shape,dim", [((4, 6), 0), ((4, 6), 1), ((3, 4, 5), (0, 2)), ((9,), 0), ((4, 6), None)], ids=str)
def test_reduction_non_contiguous(op, shape, dim):
    _skip_unsupported(op, shape, dim)
    lo, hi = (0.5, 1.5) if op == "prod" else (-2, 2)
    check_op(lambda m, a: SUM_LIKE[op](m, a, dim, True), [arg(shape, low=lo, high=hi)], non_contiguous=True)


@pytest.mark.parametrize("op", SUM_LIKE)
def test_reduction_float64(op):
    lo, hi = (0.5, 1.5) if op == "prod" else (-2, 2)
    check_op(lambda m, a: SUM_LIKE[op](m, a, 1, False), [arg((3, 7), low=lo, high=hi)], dtype="float64")


def test_large_sum_accuracy():
    """Summing 1e6 float32 values must not drift like a naive running sum."""
    x = np.full((1_000_000,), 0.1, dtype="float32")
    check_op(lambda m, a: a.sum(), [x], rtol=1e-5)
    check_op(lambda m, a: a.mean(), [x], rtol=1e-5)
    check_op(lambda m, a: a.var(), [x + np.float32(1000.0)], rtol=1e-3, atol=1e-5)


@pytest.mark.parametrize("dtype", ["int32", "int64", "bool", "uint8"])
def test_sum_integer_promotes_to_int64(dtype):
    check_op(lambda m, a: a.sum(), [arg((3, 4), dtype=dtype)], grad=False)
    check_op(lambda m, a: a.sum(dim=0), [arg((3, 4), dtype=dtype)], grad=False)
    check_op(lambda m, a: a.prod(dim=1), [arg((3, 4), dtype=dtype, low=1, high=3)], grad=False)


def test_sum_dtype_argument():
    check_op(lambda m, a: a.sum(dtype=m.float64), [(3, 4)])
    check_op(lambda m, a: a.sum(dim=1, dtype=m.float32), [arg((3, 4), dtype="int64")], grad=False)


def test_prod_with_zeros_gradient():
    x = np.array([[2.0, 0.0, 3.0], [0.0, 0.0, 1.5], [1.0, 2.0, 3.0]], dtype="float32")
    check_op(lambda m, a: a.prod(dim=1), [x])
    check_op(lambda m, a: a.prod(), [x[2]])
    check_op(lambda m, a: a.prod(), [x[0]])


def test_empty_reductions():
    e = np.zeros((0,), dtype="float32")
    check_op(lambda m, a: a.sum(), [e])
    check_op(lambda m, a: a.prod(), [e])
    check_op(lambda m, a: a.mean(), [e])  # nan, as in torch
    check_op(lambda m, a: m.logsumexp(a, 0), [e])  # -inf


# ---- max / min / argmax / argmin ----------------------------------------------

@pytest.mark.parametrize("op", ["max", "min"])
@pytest.mark.parametrize("keepdim", [False, True])
@pytest.mark.parametrize("shape,dim", [((5,), 0), ((3, 4), 0), ((3, 4), -1), ((2, 3, 4), 1), ((1, 4, 1), 2), ((3, 1), 1), ((), 0)], ids=str)
def test_max_min_dim_returns_values_and_indices(op, shape, dim, keepdim):
    dl, _ = check_op(lambda m, a: getattr(a, op)(dim=dim, keepdim=keepdim), [shape])
    assert len(dl) == 2
    assert dl.values is dl[0] and dl.indices is dl[1]
    check_op(lambda m, a: getattr(m, op)(a, dim, keepdim), [shape])


@pytest.mark.parametrize("op", ["max", "min"])
@pytest.mark.parametrize("shape", [(5,), (3, 4), (2, 3, 4), (), (1,)], ids=str)
def test_max_min_full(op, shape):
    check_op(lambda m, a: getattr(a, op)(), [shape])
    check_op(lambda m, a: getattr(a, op)(), [shape], non_contiguous=True)


@pytest.mark.parametrize("op", ["max", "min"])
def test_max_min_binary_form(op):
    check_op(lambda m, a, b: getattr(m, op)(a, b), [(3, 4), (4,)])


@pytest.mark.parametrize("op", ["max", "min", "amax", "amin"])
def test_max_ties_gradient(op):
    """max/min(dim) route the gradient to the returned index; amax/amin split it."""
    x = np.array([[1.0, 3.0, 3.0], [2.0, 2.0, 2.0], [-1.0, -5.0, -5.0]], dtype="float32")
    check_op(lambda m, a: getattr(a, op)(dim=1)[0] if op in ("max", "min") else getattr(a, op)(dim=1), [x])
    check_op(lambda m, a: getattr(a, op)(), [x])


@pytest.mark.parametrize("op", ["argmax", "argmin"])
@pytest.mark.parametrize("keepdim", [False, True])
@pytest.mark.parametrize("shape,dim", [((5,), 0), ((3, 4), 0), ((3, 4), 1), ((2, 3, 4), -2), ((1, 4, 1), 0), ((4, 6), None), ((), None)], ids=str)
def test_argmax_argmin(op, shape, dim, keepdim):
    check_op(lambda m, a: getattr(a, op)(dim=dim, keepdim=keepdim), [shape])
    check_op(lambda m, a: getattr(m, op)(a, dim), [shape], non_contiguous=True)


def test_argmax_ties_pick_first_and_nan_wins():
    x = np.array([[1.0, 3.0, 3.0, 0.0], [2.0, 2.0, 2.0, 2.0], [1.0, NAN, 5.0, NAN]], dtype="float32")
    check_op(lambda m, a: a.argmax(dim=1), [nograd(x)])
    check_op(lambda m, a: a.argmin(dim=1), [nograd(x)])
    check_op(lambda m, a: a.max(dim=1), [nograd(x)], grad=False)
    check_op(lambda m, a: a.max(), [nograd(x)], grad=False)
    check_op(lambda m, a: a.argmax(), [nograd(x[:2])])


def test_max_min_integer():
    check_op(lambda m, a: a.max(dim=0), [arg((4, 5), dtype="int64")], grad=False)
    check_op(lambda m, a: a.min(), [arg((4, 5), dtype="int32")], grad=False)
    check_op(lambda m, a: a.argmax(dim=1), [arg((4, 5), dtype="int64")], grad=False)


def test_reductions_extreme_values():
    x = np.array([[1.0, INF, 3.0], [-INF, 0.0, 1.0], [1e38, 1e38, 1e38], [NAN, 1.0, 2.0]], dtype="float32")
    for fn in [
        lambda m, a: a.sum(dim=1),
        lambda m, a: a.mean(dim=1),
        lambda m, a: a.amax(dim=1),
        lambda m, a: a.min(dim=1),
        lambda m, a: m.logsumexp(a, dim=1),
        lambda m, a: a.prod(dim=1),
    ]:
        check_op(fn, [nograd(x)], grad=False)


# ---- softmax / log_softmax / logsumexp stability --------------------------------

SOFTMAX = {
    "softmax": lambda m, a, d: m.softmax(a, dim=d),
    "log_softmax": lambda m, a, d: m.log_softmax(a, dim=d),
    "F.softmax": lambda m, a, d: m.nn.functional.softmax(a, dim=d),
    "F.log_softmax": lambda m, a, d: m.nn.functional.log_softmax(a, dim=d),
    "method": lambda m, a, d: a.softmax(d),
    "logsumexp": lambda m, a, d: m.logsumexp(a, d),
}


@pytest.fixture(scope="module", autouse=True)
def _import_nn():
    import dlcore.nn.functional  # noqa: F401


@pytest.mark.parametrize("op", SOFTMAX)
@pytest.mark.parametrize("shape,dim", [((5,), 0), ((3, 4), 1), ((3, 4), 0), ((2, 3, 4), -1), ((2, 3, 4), 1), ((1, 1), 1), ((4, 1), 1), ((0, 3), 1), ((3, 130), 1)], ids=str)
def test_softmax(op, shape, dim, device):
    check_op(lambda m, a: SOFTMAX[op](m, a, dim), [arg(shape, low=-4, high=4)], device=device)


@pytest.mark.parametrize("op", SOFTMAX)
def test_softmax_non_contiguous_and_float64(op):
    check_op(lambda m, a: SOFTMAX[op](m, a, 1), [(4, 6)], non_contiguous=True)
    check_op(lambda m, a: SOFTMAX[op](m, a, 0), [(4, 6)], non_contiguous=True)
    check_op(lambda m, a: SOFTMAX[op](m, a, -1), [(3, 5)], dtype="float64")


@pytest.mark.parametrize("op", SOFTMAX)
def test_softmax_large_logits_are_stable(op):
    x = np.array([[1000.0, 1000.0, 999.0], [-1000.0, -1000.0, -999.0], [80.0, -80.0, 0.0], [0.0, 0.0, 0.0]], dtype="float32")
    check_op(lambda m, a: SOFTMAX[op](m, a, 1), [x], rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("op", SOFTMAX)
def test_softmax_with_neg_inf(op):
    x = np.array([[0.0, -INF, 1.0], [-INF, 2.0, -INF]], dtype="float32")
    check_op(lambda m, a: SOFTMAX[op](m, a, 1), [nograd(x)], grad=False)


def test_softmax_of_int_tensor_needs_dtype():
    check_op(lambda m, a: m.softmax(a, dim=1, dtype=m.float32), [arg((3, 4), dtype="int64")], grad=False)
    check_op(lambda m, a: m.softmax(a, dim=1, dtype=m.float64), [(3, 4)])


# ---- cumulative ----------------------------------------------------------------

@pytest.mark.parametrize("shape,dim", [((5,), 0), ((3, 4), 1), ((3, 4), 0), ((2, 0), 1)], ids=str)
def test_cumsum(shape, dim):
    check_op(lambda m, a: a.cumsum(dim), [shape])
    check_op(lambda m, a: m.cumsum(a, dim=dim), [shape], non_contiguous=True)


def test_norm():
    check_op(lambda m, a: a.norm(), [(3, 4)])
    check_op(lambda m, a: a.norm(dim=1), [(3, 4)])
    check_op(lambda m, a: a.norm(p=1, dim=0, keepdim=True), [(3, 4)])
