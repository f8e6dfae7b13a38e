"""matmul in all its ranks (1-D, 2-D, batched with broadcasting), mm/bmm/mv/dot,
GEMM blocking edge sizes, non-contiguous operands."""

import numpy as np
import pytest
from helpers import arg, check_op

MATMUL_SHAPES = [
    ((4,), (4,)),  # dot -> 0-d
    ((3, 4), (4,)),  # matrix @ vector
    ((4,), (4, 5)),  # vector @ matrix
    ((3, 4), (4, 5)),
    ((1, 1), (1, 1)),
    ((1, 4), (4, 1)),
    ((5, 1), (1, 6)),  # outer product through K=1
    ((2, 3, 4), (2, 4, 5)),  # batched
    ((2, 3, 4), (4, 5)),  # batch @ matrix
    ((3, 4), (2, 4, 5)),  # matrix @ batch
    ((2, 1, 3, 4), (5, 4, 2)),  # broadcast batch dims
    ((1, 3, 4), (6, 4, 2)),
    ((4,), (2, 4, 5)),  # vector @ batch
    ((2, 3, 4), (4,)),  # batch @ vector
    ((3, 0), (0, 4)),  # K=0 -> zeros
    ((0, 3), (3, 4)),  # M=0
    ((3, 4), (4, 0)),  # N=0
    ((0, 3, 4), (4, 2)),  # empty batch
    ((0,), (0,)),
]


@pytest.mark.parametrize("shapes", MATMUL_SHAPES, ids=str)
def test_matmul(shapes, device):
    check_op(lambda m, a, b: m.matmul(a, b), list(shapes), device=device)
    check_op(lambda m, a, b: a @ b, list(shapes), device=device)


@pytest.mark.parametrize("shapes", MATMUL_SHAPES, ids=str)
def test_matmul_float64(shapes):
    check_op(lambda m, a, b: a.matmul(b), list(shapes), dtype="float64")


@pytest.mark.parametrize(
    "shapes", [((3, 4), (4, 5)), ((5, 7), (7, 3)), ((2, 3, 4), (2, 4, 5)), ((4,), (4, 6)), ((6, 4), (4,))], ids=str
)
def test_matmul_non_contiguous(shapes):
    check_op(lambda m, a, b: a @ b, list(shapes), non_contiguous=True)


def test_matmul_transposed_and_sliced_operands():
    check_op(lambda m, a, b: a.t() @ b.t(), [(8, 5), (7, 8)])
    check_op(lambda m, a, b: a[:, ::2] @ b[1::2], [(6, 10), (10, 4)])
    check_op(lambda m, a, b: a.transpose(0, 1) @ b, [(5, 2, 3), (2, 3, 4)])
    check_op(lambda m, a, b: a.expand(3, 4, 5) @ b, [(4, 5), (3, 5, 2)])  # stride-0 batch


# Sizes around typical register tiles / cache blocks; larger K needs looser tolerances.
GEMM_SIZES = [
    (1, 1, 1),
    (7, 13, 5),
    (16, 16, 16),
    (17, 33, 9),
    (31, 1, 47),
    (1, 300, 1),
    (48, 64, 8),
    (65, 129, 33),
    (6, 512, 16),
    (130, 70, 250),
    (257, 96, 129),
]


@pytest.mark.parametrize("mnk", GEMM_SIZES, ids=str)
def test_gemm_sizes(mnk):
    m_, n_, k_ = mnk
    tol = 1e-5 * max(1.0, np.sqrt(k_))
    check_op(lambda m, a, b: a @ b, [(m_, k_), (k_, n_)], rtol=tol, atol=tol)
    check_op(lambda m, a, b: a @ b, [(m_, k_), (k_, n_)], rtol=tol, atol=tol, non_contiguous=True)


def test_gemm_large_float64():
    check_op(lambda m, a, b: a @ b, [(200, 300), (300, 150)], dtype="float64", rtol=1e-9, atol=1e-9)


def test_gemm_large_float32():
    check_op(lambda m, a, b: a @ b, [(512, 512), (512, 512)], rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize(
    "fn,shapes",
    [
        (lambda m, a, b: m.mm(a, b), [(3, 4), (4, 5)]),
        (lambda m, a, b: a.mm(b), [(1, 4), (4, 1)]),
        (lambda m, a, b: m.bmm(a, b), [(2, 3, 4), (2, 4, 5)]),
        (lambda m, a, b: m.mv(a, b), [(3, 4), (4,)]),
        (lambda m, a, b: m.dot(a, b), [(5,), (5,)]),
        (lambda m, a, b: a.dot(b), [(1,), (1,)]),
        (lambda m, a, b: m.outer(a, b), [(3,), (4,)]),
        (lambda m, a, b, c: m.addmm(c, a, b), [(3, 4), (4, 5), (5,)]),
        (lambda m, a, b, c: m.nn.functional.linear(a, b, c), [(3, 4), (5, 4), (5,)]),
        (lambda m, a, b: m.nn.functional.linear(a, b), [(2, 3, 4), (5, 4)]),
        (lambda m, a, b: m.einsum("ij,jk->ik", a, b), [(3, 4), (4, 5)]),
    ],
    ids=["mm", "mm_1x1", "bmm", "mv", "dot", "dot1", "outer", "addmm", "linear", "linear_nobias_3d", "einsum"],
)
def test_matmul_variants(fn, shapes):
    import dlcore.nn.functional  # noqa: F401

    check_op(fn, shapes)


def test_matmul_integer():
    check_op(lambda m, a, b: a @ b, [arg((3, 4), dtype="int64"), arg((4, 2), dtype="int64")], grad=False)
    check_op(lambda m, a, b: a @ b, [arg((2, 3, 4), dtype="int32"), arg((4,), dtype="int32")], grad=False)


def test_matmul_extreme_values():
    inf, nan = float("inf"), float("nan")
    a = np.array([[1.0, inf], [0.0, 1.0], [nan, 0.0], [1e30, 1e30]], dtype="float32")
    b = np.array([[1.0, 0.0], [1.0, 1.0]], dtype="float32")
    check_op(lambda m, x, y: x @ y, [a, b], grad=False)


def test_matmul_chain_gradients():
    check_op(lambda m, a, b, c: ((a @ b).relu() @ c).sum(), [(4, 5), (5, 6), (6, 3)])
    check_op(lambda m, a: a @ a.t(), [(3, 4)])  # the same tensor on both sides
