"""Pooling: max/avg/adaptive/unpool, 1-d and 2-d, forward and backward vs torch,
over grids of kernels, strides, paddings, dilations and ceil_mode."""

import itertools

import numpy as np
import pytest
from helpers import arg, check_op, import_torch

import dlcore
import dlcore.nn as nn
import dlcore.nn.functional as F

torch = import_torch()

# (kernel, stride, padding, dilation) over odd and even sizes
GRID = [
    (k, s, p, d)
    for k, s, d in itertools.product([1, 2, 3], [1, 2, 3], [1, 2])
    for p in range(k // 2 + 1)
]
SHAPES = [(2, 3, 7, 9), (1, 2, 8, 8), (1, 1, 5, 4)]


def _fits(shape, k, p, d):
    return all(n + 2 * p >= d * (k - 1) + 1 for n in shape[-2:])


@pytest.mark.parametrize("k,s,p,d", GRID, ids=str)
@pytest.mark.parametrize("ceil_mode", [False, True])
def test_max_pool2d_grid(k, s, p, d, ceil_mode):
    for shape in SHAPES:
        if not _fits(shape, k, p, d):
            continue
        # distinct values: the argmax (and so the gradient) is unique
        x = np.random.default_rng(k * 100 + s * 10 + p).permutation(int(np.prod(shape))).reshape(shape).astype("float32")
        check_op(lambda m, a: m.nn.functional.max_pool2d(a, k, s, p, d, ceil_mode, return_indices=True), [x])


@pytest.mark.parametrize("k,s,p", [(2, 2, 0), (3, 1, 1), (3, 2, 1), ((2, 3), (1, 2), (1, 0))], ids=str)
def test_max_pool2d_non_contiguous_and_3d(k, s, p):
    check_op(lambda m, a: m.nn.functional.max_pool2d(a, k, s, p), [(2, 3, 9, 8)], non_contiguous=True)
    check_op(lambda m, a: m.nn.functional.max_pool2d(a, k, s, p), [(3, 9, 8)])
    check_op(lambda m, a: m.nn.functional.max_pool2d(a, k, s, p), [(2, 3, 9, 8)], dtype="float64")


def test_max_pool2d_ties_and_nan_follow_torch():
    x = np.array([[[[1.0, 1.0, 0.0], [1.0, np.nan, 2.0], [3.0, 3.0, np.nan]]]], dtype="float32")
    check_op(lambda m, a: m.nn.functional.max_pool2d(a, 2, 1, return_indices=True), [x], grad=False)
    ties = np.zeros((1, 1, 4, 4), dtype="float32")
    check_op(lambda m, a: m.nn.functional.max_pool2d(a, 3, 1, 1, return_indices=True), [ties])
    inf = np.full((1, 1, 3, 3), -np.inf, dtype="float32")
    check_op(lambda m, a: m.nn.functional.max_pool2d(a, 2, 1, 1, return_indices=True), [inf], grad=False)


@pytest.mark.parametrize("k,s,p", [(k, s, p) for k in (1, 2, 3) for s in (1, 2, 3) for p in range(k // 2 + 1)], ids=str)
@pytest.mark.parametrize("ceil_mode", [False, True])
@pytest.mark.parametrize("count_include_pad", [True, False])
def test_avg_pool2d_grid(k, s, p, ceil_mode, count_include_pad):
    for shape in SHAPES:
        check_op(lambda m, a: m.nn.functional.avg_pool2d(a, k, s, p, ceil_mode, count_include_pad), [shape])


@pytest.mark.parametrize("div", [1, 3, 7])
def test_avg_pool2d_divisor_override(div):
    check_op(lambda m, a: m.nn.functional.avg_pool2d(a, 3, 2, 1, True, False, div), [(2, 3, 7, 6)])
    check_op(lambda m, a: m.nn.functional.avg_pool2d(a, (2, 3), (1, 2), (1, 0), divisor_override=div), [(3, 5, 7)], non_contiguous=True)


@pytest.mark.parametrize("out", [1, 2, 3, (2, 4), (5, 3), (7, 6), (None, 2), (10, 9)], ids=str)
def test_adaptive_pools(out):
    for shape in [(2, 3, 7, 6), (1, 1, 5, 9)]:
        check_op(lambda m, a: m.nn.functional.adaptive_avg_pool2d(a, out), [shape])
        check_op(lambda m, a: m.nn.functional.adaptive_max_pool2d(a, out, return_indices=True), [shape])
    check_op(lambda m, a: m.nn.functional.adaptive_avg_pool2d(a, out), [(3, 7, 6)], non_contiguous=True)


@pytest.mark.parametrize("k,s,p,d", [(2, 2, 0, 1), (3, 1, 1, 1), (3, 2, 1, 2), (4, 3, 2, 1)], ids=str)
@pytest.mark.parametrize("ceil_mode", [False, True])
def test_pool1d(k, s, p, d, ceil_mode):
    x = np.random.default_rng(0).permutation(2 * 3 * 11).reshape(2, 3, 11).astype("float32")
    check_op(lambda m, a: m.nn.functional.max_pool1d(a, k, s, p, d, ceil_mode, return_indices=True), [x])
    check_op(lambda m, a: m.nn.functional.avg_pool1d(a, k, s, p, ceil_mode, False), [(2, 3, 11)])
    check_op(lambda m, a: m.nn.functional.avg_pool1d(a, k, s, p, ceil_mode), [(3, 11)], non_contiguous=True)
    check_op(lambda m, a: m.nn.functional.adaptive_avg_pool1d(a, 4), [(2, 3, 11)])
    check_op(lambda m, a: m.nn.functional.adaptive_max_pool1d(a, 4, True), [x])


@pytest.mark.parametrize("k,s,p,hw", [(2, 2, 0, (8, 8)), (3, 2, 1, (9, 8)), (3, 3, 0, (9, 7)), (3, 2, 1, (7, 7))], ids=str)
def test_max_unpool2d_roundtrip(k, s, p, hw):
    x = np.random.default_rng(1).permutation(2 * 3 * hw[0] * hw[1]).reshape(2, 3, *hw).astype("float32")

    def fn(m, a):
        F = m.nn.functional
        y, i = F.max_pool2d(a, k, s, p, return_indices=True)
        explicit = F.max_unpool2d(y, i, k, s, p, output_size=a.shape[-2:])
        default_fits = all((y.shape[d] - 1) * s - 2 * p + k == a.shape[d] for d in (2, 3))
        return (F.max_unpool2d(y, i, k, s, p), explicit) if default_fits else explicit

    check_op(fn, [x])


DOUBLE = {
    "avg": lambda m, a: m.nn.functional.avg_pool2d(a, 3, 2, 1, count_include_pad=False),
    "max": lambda m, a: m.nn.functional.max_pool2d(a, 3, 2, 1),
    "adaptive_avg": lambda m, a: m.nn.functional.adaptive_avg_pool2d(a, 4),
    "adaptive_max": lambda m, a: m.nn.functional.adaptive_max_pool2d(a, 4),
}


@pytest.mark.parametrize("name", DOUBLE)
def test_double_backward_through_pools(name):
    """grad of grad (create_graph=True) through every pool, vs torch."""

    def fn(m, a):
        (g,) = m.autograd.grad((DOUBLE[name](m, a) ** 3).sum(), a, create_graph=True)
        return g

    x = np.random.default_rng(3).permutation(2 * 7 * 6).reshape(1, 2, 7, 6).astype("float64") / 10
    check_op(fn, [x])


@pytest.mark.parametrize("mod,args", [
    ("MaxPool2d", (3, 2, 1)), ("AvgPool2d", (3, 2, 1)), ("AdaptiveAvgPool2d", ((2, 3),)),
    ("AdaptiveMaxPool2d", (2,)), ("MaxPool1d", (2,)), ("AvgPool1d", (3,)),
    ("AdaptiveAvgPool1d", (3,)), ("AdaptiveMaxPool1d", (3,)),
], ids=str)
def test_modules_match_torch(mod, args):
    shape = (2, 3, 9) if mod.endswith("1d") else (2, 3, 9, 8)
    check_op(lambda m, a: getattr(m.nn, mod)(*args)(a), [shape])
    assert repr(getattr(nn, mod)(*args)) == repr(getattr(torch.nn, mod)(*args))


def test_max_unpool_module():
    pool, unpool = nn.MaxPool2d(2, return_indices=True), nn.MaxUnpool2d(2)
    y, i = pool(dlcore.randn(1, 2, 5, 5))
    assert tuple(unpool(y, i, output_size=(5, 5)).shape) == (1, 2, 5, 5)
    y, i = pool(dlcore.randn(1, 2, 4, 4))
    assert tuple(unpool(y, i).shape) == (1, 2, 4, 4)


BAD = [
    ("max_pool2d", lambda m, x: m.nn.functional.max_pool2d(x, 3, 1, 2), "pad should be"),
    ("max_pool2d", lambda m, x: m.nn.functional.max_pool2d(x, 9), "too small"),
    ("max_pool2d", lambda m, x: m.nn.functional.max_pool2d(x, 2, 0), "stride should be greater than zero"),
    ("max_pool2d", lambda m, x: m.nn.functional.max_pool2d(x, 2, dilation=0), "dilation should be greater than zero"),
    ("max_pool2d", lambda m, x: m.nn.functional.max_pool2d(x, 0), "kernel_size should be greater than zero"),
    ("avg_pool2d", lambda m, x: m.nn.functional.avg_pool2d(x, 2, padding=2), "pad should be"),
    ("avg_pool2d", lambda m, x: m.nn.functional.avg_pool2d(x, 6), "too small"),
    ("avg_pool2d", lambda m, x: m.nn.functional.avg_pool2d(x, 2, divisor_override=0), "divisor must be not zero"),
]


@pytest.mark.parametrize("op,fn,msg", BAD, ids=[f"{b[0]}-{b[2]}" for b in BAD])
def test_bad_configurations(op, fn, msg):
    with pytest.raises(RuntimeError):
        fn(torch, torch.randn(1, 2, 5, 5))
    with pytest.raises(RuntimeError, match=msg) as e:
        fn(dlcore, dlcore.randn(1, 2, 5, 5))
    assert op in str(e.value) and "5" in str(e.value) or op in str(e.value)


@pytest.mark.parametrize("fn", [
    lambda m, x: m.nn.functional.max_pool2d(x, 2),
    lambda m, x: m.nn.functional.avg_pool2d(x, 2),
    lambda m, x: m.nn.functional.adaptive_avg_pool2d(x, 2),
    lambda m, x: m.nn.functional.adaptive_max_pool2d(x, 2),
])
def test_wrong_rank(fn):
    with pytest.raises((RuntimeError, ValueError, IndexError)):  # torch's kind varies by op
        fn(torch, torch.randn(4, 4))
    with pytest.raises(RuntimeError, match=r"pool2d.*\(4, 4\)|pool2d.*\[4, 4\]"):
        fn(dlcore, dlcore.randn(4, 4))


def test_unpool_bad_indices():
    y, i = F.max_pool2d(dlcore.randn(1, 1, 4, 4), 2, return_indices=True)
    with pytest.raises(RuntimeError, match=r"max_unpool2d: Found an invalid max index: 1[6-9]|max_unpool2d: Found an invalid max index: 2\d"):
        F.max_unpool2d(y, i + 16, 2)
    with pytest.raises(RuntimeError, match="max_unpool2d.*shape of indices"):
        F.max_unpool2d(y, i[..., :1], 2)


def test_batch_zero_and_grad_shape():
    x = dlcore.randn(0, 2, 4, 4, requires_grad=True)
    y = F.max_pool2d(x, 2)
    assert tuple(y.shape) == (0, 2, 2, 2)
    assert tuple(F.avg_pool2d(x, 2).shape) == (0, 2, 2, 2)
