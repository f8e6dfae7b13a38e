"""Property tests: random shapes, broadcasts and strides thrown at binary ops,
unary ops, reductions, matmul and views, each compared with torch through
check_op (forward and backward)."""

import numpy as np
import pytest
from helpers import check_op
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])

dims = st.integers(min_value=0, max_value=5)
shapes = st.lists(dims, min_size=0, max_size=4).map(tuple)
seeds = st.integers(min_value=0, max_value=2**31 - 1)


@st.composite
def broadcastable_pair(draw):
    """Two shapes that broadcast: each dim of b is the dim of a, 1, or dropped."""
    a = draw(st.lists(st.integers(1, 5), min_size=0, max_size=4))
    if draw(st.booleans()) and a:
        a[draw(st.integers(0, len(a) - 1))] = draw(st.sampled_from([0, 1]))
    b = [draw(st.sampled_from([d, 1])) for d in a]
    b = b[draw(st.integers(0, len(b))):]  # drop leading dims
    if draw(st.booleans()):
        a, b = b, a
    return tuple(a), tuple(b)


@st.composite
def strided_view(draw, max_rank=4):
    """A shape plus a view recipe (permutation + per-dim slice) to reach odd strides."""
    shape = tuple(draw(st.lists(st.integers(1, 6), min_size=1, max_size=max_rank)))
    perm = draw(st.permutations(range(len(shape))))
    slices = []
    for d in shape:
        start = draw(st.integers(0, d - 1))
        step = draw(st.integers(1, 3))
        slices.append(slice(start, None, step))
    return shape, tuple(perm), tuple(slices)


BINARY = {
    "add": lambda m, a, b: a + b,
    "sub": lambda m, a, b: a - b,
    "mul": lambda m, a, b: a * b,
    "div": lambda m, a, b: a / (b.abs() + 0.5),
    "maximum": lambda m, a, b: m.maximum(a, b),
    "pow": lambda m, a, b: (a.abs() + 0.5) ** b,
    "where": lambda m, a, b: m.where(a > b, a, b * 2),
}


@pytest.mark.parametrize("op", BINARY)
@SETTINGS
@given(pair=broadcastable_pair(), seed=seeds, non_contiguous=st.booleans())
def test_binary_random_broadcast(op, pair, seed, non_contiguous):
    check_op(BINARY[op], list(pair), seed=seed, non_contiguous=non_contiguous)


@SETTINGS
@given(pair=broadcastable_pair(), seed=seeds, dtypes=st.tuples(*[st.sampled_from(["int64", "float32", "float64", "bool"])] * 2))
def test_binary_random_dtypes(pair, seed, dtypes):
    rng = np.random.default_rng(seed)
    arrays = [
        np.asarray(rng.integers(-3, 4, size=s) if dt != "bool" else rng.random(s) < 0.5).astype(dt)
        for s, dt in zip(pair, dtypes)
    ]
    check_op(lambda m, a, b: a * b + a, arrays, grad=False)


REDUCE = {
    "sum": lambda m, a, d, k: a.sum(dim=d, keepdim=k),
    "mean": lambda m, a, d, k: a.mean(dim=d, keepdim=k),
    "amax": lambda m, a, d, k: a.amax(dim=d, keepdim=k),
    "var": lambda m, a, d, k: a.var(dim=d, keepdim=k, correction=0),
    "logsumexp": lambda m, a, d, k: m.logsumexp(a, dim=d, keepdim=k),
}


@st.composite
def shape_and_dims(draw):
    shape = tuple(draw(st.lists(st.integers(1, 6), min_size=1, max_size=4)))
    n = draw(st.integers(1, len(shape)))
    d = tuple(draw(st.permutations(range(len(shape))))[:n])
    d = tuple(x - len(shape) if draw(st.booleans()) else x for x in d)  # negative dims too
    return shape, (d[0] if len(d) == 1 and draw(st.booleans()) else d)


@pytest.mark.parametrize("op", REDUCE)
@SETTINGS
@given(sd=shape_and_dims(), keepdim=st.booleans(), seed=seeds, non_contiguous=st.booleans())
def test_reduction_random(op, sd, keepdim, seed, non_contiguous):
    shape, dim = sd
    check_op(lambda m, a: REDUCE[op](m, a, dim, keepdim), [shape], seed=seed, non_contiguous=non_contiguous)


@SETTINGS
@given(sd=shape_and_dims(), seed=seeds)
def test_softmax_and_argmax_random(sd, seed):
    shape, dim = sd
    d = dim if isinstance(dim, int) else dim[0]
    check_op(lambda m, a: m.log_softmax(a * 10, dim=d), [shape], seed=seed)
    check_op(lambda m, a: a.argmax(dim=d), [shape], seed=seed)
    check_op(lambda m, a: a.max(dim=d), [shape], seed=seed)


@SETTINGS
@given(view=strided_view(), seed=seeds)
def test_ops_on_random_strided_views(view, seed):
    shape, perm, slices = view

    def fn(m, a):
        v = a.permute(perm)[slices]
        return (v.exp() * 2 + v).sum(dim=0) + v.mean()

    check_op(fn, [shape], seed=seed)

    def fn2(m, a):
        v = a.permute(perm)[slices]
        return v.contiguous().view(-1) * 3

    check_op(fn2, [shape], seed=seed)


@SETTINGS
@given(view=strided_view(max_rank=3), seed=seeds)
def test_reshape_random_strided(view, seed):
    shape, perm, slices = view
    check_op(lambda m, a: a.permute(perm)[slices].reshape(-1).sigmoid(), [shape], seed=seed)


@st.composite
def matmul_shapes(draw):
    m_, k, n = draw(st.integers(0, 9)), draw(st.integers(0, 9)), draw(st.integers(0, 9))
    batch_a = tuple(draw(st.lists(st.integers(1, 3), max_size=2)))
    batch_b = tuple(draw(st.sampled_from([d, 1])) for d in batch_a)[draw(st.integers(0, len(batch_a))):]
    a = batch_a + (m_, k) if draw(st.integers(0, 4)) else (k,)
    b = batch_b + (k, n) if draw(st.integers(0, 4)) else (k,)
    return a, b


@SETTINGS
@given(shapes=matmul_shapes(), seed=seeds, non_contiguous=st.booleans())
def test_matmul_random(shapes, seed, non_contiguous):
    check_op(lambda m, a, b: a @ b, list(shapes), seed=seed, non_contiguous=non_contiguous)


@SETTINGS
@given(shape=shapes, seed=seeds)
def test_unary_chain_random_shapes(shape, seed):
    check_op(lambda m, a: a.tanh() * a.sigmoid() + a.relu() - a.abs().sqrt(), [shape], seed=seed)


@SETTINGS
@given(
    data=st.lists(
        st.floats(allow_nan=True, allow_infinity=True, width=32), min_size=1, max_size=40
    ),
)
def test_arbitrary_float_values_forward(data):
    x = np.array(data, dtype="float32")
    for fn in (
        lambda m, a: a * 2 + 1,
        lambda m, a: a.exp(),
        lambda m, a: a.tanh(),
        lambda m, a: a.sigmoid(),
        lambda m, a: a.relu(),
        lambda m, a: a.amax(),
        lambda m, a: a.softmax(0),
        lambda m, a: a.clamp(-1, 1),
    ):
        check_op(fn, [x], grad=False, rtol=1e-5, atol=1e-6)
    # dlcore accumulates float32 sums in float64; torch in float32 lanes. They
    # agree except where torch's partial sums overflow (|x| near FLT_MAX),
    # where torch's answer depends on its summation order.
    finite = x[np.isfinite(x)]
    if finite.size == 0 or np.abs(finite).max() < 1e36:
        check_op(lambda m, a: a.sum(), [x], grad=False, rtol=1e-5, atol=1e-6)
