"""Elementwise binary ops: arithmetic, broadcasting, type promotion,
comparisons, where / clamp / pow / maximum / minimum, in-place variants."""

import numpy as np
import pytest
from helpers import arg, check_op, nograd

INF, NAN = float("inf"), float("nan")

BROADCAST_SHAPES = [
    ((3, 4), (3, 4)),
    ((3, 4), (4,)),
    ((3, 1), (1, 4)),
    ((2, 1, 4), (3, 1)),
    ((), (3,)),
    ((5,), ()),
    ((), ()),
    ((1,), (5,)),
    ((1, 1, 1), (2, 3, 4)),
    ((0, 3), (1, 3)),
    ((2, 0), (2, 1)),
    ((4, 1, 0), (3, 1)),
    ((7, 33), (33,)),  # odd sizes: SIMD tails
]

BINARY = {
    "add": lambda m, a, b: m.add(a, b),
    "sub": lambda m, a, b: m.sub(a, b),
    "mul": lambda m, a, b: m.mul(a, b),
    "div": lambda m, a, b: m.div(a, b),
    "op+": lambda m, a, b: a + b,
    "op-": lambda m, a, b: a - b,
    "op*": lambda m, a, b: a * b,
    "op/": lambda m, a, b: a / b,
    "method_add": lambda m, a, b: a.add(b),
    "add_alpha": lambda m, a, b: m.add(a, b, alpha=2.5),
    "sub_alpha": lambda m, a, b: a.sub(b, alpha=-0.5),
    "maximum": lambda m, a, b: m.maximum(a, b),
    "minimum": lambda m, a, b: m.minimum(a, b),
}


@pytest.mark.parametrize("op", BINARY)
@pytest.mark.parametrize("shapes", BROADCAST_SHAPES, ids=str)
def test_binary_broadcast(op, shapes, device):
    # Keep divisors away from zero so gradients stay well conditioned.
    b = arg(shapes[1], low=0.5, high=2.0) if "div" in op or op == "op/" else shapes[1]
    check_op(BINARY[op], [shapes[0], b], device=device)


@pytest.mark.parametrize("op", ["add", "mul", "op/", "maximum"])
@pytest.mark.parametrize("shapes", [((3, 4), (3, 4)), ((5, 6), (6,)), ((4, 3, 2), (3, 1)), ((9,), (9,))], ids=str)
def test_binary_non_contiguous(op, shapes):
    b = arg(shapes[1], low=0.5, high=2.0) if op == "op/" else shapes[1]
    check_op(BINARY[op], [shapes[0], b], non_contiguous=True)


@pytest.mark.parametrize("op", ["add", "sub", "mul", "op/"])
def test_binary_float64(op):
    check_op(BINARY[op], [(3, 4), arg((4,), low=0.5, high=2.0)], dtype="float64")


@pytest.mark.parametrize(
    "fn",
    [
        lambda m, a: a + 2,
        lambda m, a: 2 + a,
        lambda m, a: a - 1.5,
        lambda m, a: 1.5 - a,
        lambda m, a: a * -3,
        lambda m, a: 0.5 * a,
        lambda m, a: a / 4,
        lambda m, a: 3 / a,
        lambda m, a: -a,
        lambda m, a: a + True,
    ],
    ids=["t+2", "2+t", "t-1.5", "1.5-t", "t*-3", "0.5*t", "t/4", "3/t", "neg", "t+True"],
)
@pytest.mark.parametrize("shape", [(), (5,), (2, 3), (0, 2)], ids=str)
def test_scalar_operands(fn, shape):
    check_op(fn, [arg(shape, low=0.5, high=2.0)])


@pytest.mark.parametrize(
    "a_dtype,b_dtype",
    [
        ("int32", "int64"),
        ("int64", "float32"),
        ("float32", "float64"),
        ("bool", "int64"),
        ("bool", "float32"),
        ("bool", "bool"),
        ("uint8", "int64"),
        ("int32", "int32"),
        ("float16", "float32"),
        ("int64", "int64"),
    ],
)
@pytest.mark.parametrize("op", ["add", "mul", "op-", "op/", "maximum"])
def test_type_promotion(a_dtype, b_dtype, op):
    if op == "op-" and "bool" in (a_dtype, b_dtype):
        pytest.skip("torch forbids subtracting bools (covered in test_errors)")
    rng = np.random.default_rng(1)
    a = (rng.integers(1, 5, size=(2, 3)) if a_dtype != "bool" else rng.random((2, 3)) < 0.5).astype(a_dtype)
    b = (rng.integers(1, 5, size=(3,)) if b_dtype != "bool" else rng.random(3) < 0.5).astype(b_dtype)
    check_op(BINARY[op], [nograd(a), nograd(b)], grad=False, rtol=1e-3, atol=1e-3)


@pytest.mark.parametrize("dtype", ["int32", "int64", "bool", "float64", "uint8"])
@pytest.mark.parametrize(
    "fn",
    [lambda m, a: a + 1, lambda m, a: a + 1.5, lambda m, a: a * 2, lambda m, a: a / 2, lambda m, a: a + True],
    ids=["+int", "+float", "*int", "/int", "+bool"],
)
def test_scalar_promotion(dtype, fn):
    """Python scalars never widen a tensor within its category (torch rules)."""
    check_op(fn, [arg((2, 3), dtype=dtype, low=0, high=5)], grad=False)


def test_int_true_division_gives_float():
    a = np.array([7, -7, 0, 9], dtype="int64")
    b = np.array([2, 2, 3, -4], dtype="int64")
    check_op(lambda m, x, y: x / y, [a, b], grad=False)


EXTREMES = np.array([0.0, -0.0, 1.0, -1.0, INF, -INF, NAN, 1e38, -1e38, 1e-45, 3.4e38], dtype="float32")


@pytest.mark.parametrize("op", ["add", "sub", "mul", "op/", "maximum", "minimum"])
def test_binary_extreme_values(op):
    a = EXTREMES[:, None] * np.ones((1, len(EXTREMES)), dtype="float32")
    b = EXTREMES[None, :] * np.ones((len(EXTREMES), 1), dtype="float32")
    check_op(BINARY[op], [nograd(a), nograd(b)], grad=False)


@pytest.mark.parametrize("op", ["maximum", "minimum"])
def test_maximum_minimum_ties_split_gradient(op):
    a = np.array([1.0, 2.0, 3.0, -1.0], dtype="float32")
    b = np.array([1.0, 0.0, 3.0, 5.0], dtype="float32")
    check_op(BINARY[op], [a, b])


# ---- pow ---------------------------------------------------------------------

@pytest.mark.parametrize("exponent", [2, 3, 0.5, -1, 0, 1, -2.5, 2.0])
@pytest.mark.parametrize("shape", [(), (4,), (2, 3), (0,)], ids=str)
def test_pow_tensor_scalar(exponent, shape):
    check_op(lambda m, a: a**exponent, [arg(shape, low=0.5, high=2.0)])
    check_op(lambda m, a: m.pow(a, exponent), [arg(shape, low=0.5, high=2.0)])


def test_pow_negative_base_integer_exponent():
    check_op(lambda m, a: a**3, [arg((3, 4), low=-2, high=2)])
    check_op(lambda m, a: a.pow(2), [arg((3, 4), low=-2, high=2)], non_contiguous=True)


@pytest.mark.parametrize("shapes", [((3, 4), (3, 4)), ((3, 1), (4,)), ((), (5,))], ids=str)
def test_pow_tensor_tensor(shapes):
    check_op(lambda m, a, b: m.pow(a, b), [arg(shapes[0], low=0.5, high=2.0), shapes[1]])


@pytest.mark.parametrize("base", [2, 0.5, 10.0])
def test_pow_scalar_tensor(base):
    check_op(lambda m, a: base**a, [(3, 4)])


def test_pow_extremes():
    a = np.array([0.0, -0.0, 1.0, -1.0, INF, -INF, NAN, 2.0, -2.0], dtype="float32")
    for e in [0, 0.5, 1, 2, 3, -1, -2, INF, NAN]:
        check_op(lambda m, x: x**e, [nograd(a)], grad=False)


def test_pow_int_tensor():
    check_op(lambda m, a: a**2, [arg((3, 4), dtype="int64")], grad=False)
    check_op(lambda m, a: a**0.5, [arg((3, 4), dtype="int64", low=0)], grad=False)


# ---- comparisons -------------------------------------------------------------

COMPARE = {
    "eq": lambda m, a, b: a == b,
    "ne": lambda m, a, b: a != b,
    "lt": lambda m, a, b: a < b,
    "le": lambda m, a, b: a <= b,
    "gt": lambda m, a, b: a > b,
    "ge": lambda m, a, b: a >= b,
    "m.eq": lambda m, a, b: m.eq(a, b),
    "m.gt": lambda m, a, b: m.gt(a, b),
    "a.lt": lambda m, a, b: a.lt(b),
}


@pytest.mark.parametrize("op", COMPARE)
@pytest.mark.parametrize("shapes", [((3, 4), (3, 4)), ((3, 1), (4,)), ((), (2, 2)), ((0, 3), (3,))], ids=str)
def test_comparisons(op, shapes):
    # Small integer-valued floats so that equality actually happens.
    a = arg(shapes[0], dtype="int64", low=-2, high=3)
    b = arg(shapes[1], dtype="int64", low=-2, high=3)
    check_op(lambda m, x, y: COMPARE[op](m, x.float(), y.float()), [a, b], grad=False)
    check_op(COMPARE[op], [a, b], grad=False)


@pytest.mark.parametrize("op", ["eq", "lt", "ge"])
def test_comparison_with_scalar_and_nan(op):
    check_op(lambda m, x: COMPARE[op](m, x, 0.0), [(4, 5)])
    a, b = EXTREMES, np.roll(EXTREMES, 3)
    check_op(COMPARE[op], [nograd(a), nograd(b)], grad=False)
    check_op(COMPARE[op], [nograd(a), nograd(a)], grad=False)


def test_comparison_output_does_not_require_grad():
    check_op(lambda m, a, b: a < b, [(3,), (3,)])


def test_comparison_mixed_dtypes():
    check_op(lambda m, a, b: a == b, [arg((4,), dtype="int32"), arg((4,), dtype="float32")], grad=False)


# ---- where / clamp -----------------------------------------------------------

@pytest.mark.parametrize(
    "shapes", [((3, 4), (3, 4), (3, 4)), ((3, 1), (4,), (3, 4)), ((2, 3), (), (1, 3)), ((0, 2), (2,), (1,))], ids=str
)
def test_where(shapes):
    check_op(lambda m, c, a, b: m.where(c, a, b), [arg(shapes[0], dtype="bool"), shapes[1], shapes[2]])


def test_where_method_and_scalar():
    check_op(lambda m, c, a: a.where(c, 0.0), [arg((3, 4), dtype="bool"), (3, 4)])
    check_op(lambda m, c, a: m.where(c, a, -1.0), [arg((3, 4), dtype="bool"), (3, 4)])
    check_op(lambda m, a: m.where(a > 0, a, 0.0 * a), [(5, 5)], non_contiguous=True)


def test_where_promotes():
    check_op(
        lambda m, c, a, b: m.where(c, a, b),
        [arg((4,), dtype="bool"), arg((4,), dtype="int64"), arg((4,), dtype="float32")],
        grad=False,
    )


@pytest.mark.parametrize(
    "fn",
    [
        lambda m, a: m.clamp(a, -0.5, 0.5),
        lambda m, a: a.clamp(min=0.0),
        lambda m, a: a.clamp(max=0.25),
        lambda m, a: a.clamp(-1, 1),
        lambda m, a: m.clamp(a, min=1.0, max=-1.0),  # min > max: result is max everywhere
        lambda m, a: a.clip(-0.3, 0.3),
    ],
    ids=["both", "min", "max", "int-bounds", "min>max", "clip"],
)
@pytest.mark.parametrize("shape", [(), (7,), (3, 4), (0, 3)], ids=str)
def test_clamp(fn, shape):
    check_op(fn, [shape])


def test_clamp_non_contiguous_and_extremes():
    check_op(lambda m, a: a.clamp(-1, 1), [(4, 6)], non_contiguous=True)
    check_op(lambda m, a: a.clamp(-1, 1), [nograd(EXTREMES)], grad=False)


def test_clamp_int_tensor():
    check_op(lambda m, a: a.clamp(-2, 2), [arg((10,), dtype="int64")], grad=False)


# ---- in-place ----------------------------------------------------------------

@pytest.mark.parametrize(
    "fn",
    [
        lambda m, a, b: (a * 1).add_(b),
        lambda m, a, b: (a * 1).mul_(b),
        lambda m, a, b: (a * 1).sub_(b, alpha=2),
        lambda m, a, b: (a + 0).div_(b.abs() + 1),
        lambda m, a, b: (a * 1).mul_(2.0).add_(b),
        lambda m, a, b: (a * 1).clamp_(-0.5, 0.5) + b,
    ],
    ids=["add_", "mul_", "sub_alpha", "div_", "chain", "clamp_"],
)
def test_inplace_non_leaf(fn):
    check_op(fn, [(3, 4), (4,)])


def test_inplace_returns_self():
    import dlcore

    a = dlcore.ones(3)
    assert a.add_(1) is a
    assert a.tolist() == [2.0, 2.0, 2.0]
