"""Elementwise unary ops: values, gradients, edge shapes, extreme values."""

import numpy as np
import pytest
from helpers import arg, check_op, nograd

INF, NAN = float("inf"), float("nan")

# name -> (fn, low, high): the input range keeps each op inside its domain.
UNARY = {
    "neg": (lambda m, a: m.neg(a), -3, 3),
    "abs": (lambda m, a: a.abs(), -3, 3),
    "exp": (lambda m, a: m.exp(a), -3, 3),
    "log": (lambda m, a: m.log(a), 0.1, 5),
    "log2": (lambda m, a: a.log2(), 0.1, 5),
    "log10": (lambda m, a: a.log10(), 0.1, 5),
    "log1p": (lambda m, a: m.log1p(a), -0.9, 5),
    "expm1": (lambda m, a: a.expm1(), -3, 3),
    "sqrt": (lambda m, a: m.sqrt(a), 0.1, 5),
    "rsqrt": (lambda m, a: a.rsqrt(), 0.1, 5),
    "sin": (lambda m, a: m.sin(a), -4, 4),
    "cos": (lambda m, a: a.cos(), -4, 4),
    "tan": (lambda m, a: m.tan(a), -1.2, 1.2),
    "tanh": (lambda m, a: m.tanh(a), -4, 4),
    "sigmoid": (lambda m, a: m.sigmoid(a), -6, 6),
    "relu": (lambda m, a: m.relu(a), -3, 3),
    "reciprocal": (lambda m, a: a.reciprocal(), 0.5, 3),
    "square": (lambda m, a: m.square(a), -3, 3),
    "erf": (lambda m, a: m.erf(a), -3, 3),
    "sign": (lambda m, a: m.sign(a), -3, 3),
    "floor": (lambda m, a: m.floor(a), -3, 3),
    "ceil": (lambda m, a: a.ceil(), -3, 3),
    "round": (lambda m, a: m.round(a), -3, 3),
    "trunc": (lambda m, a: a.trunc(), -3, 3),
    "asin": (lambda m, a: a.asin(), -0.9, 0.9),
    "atan": (lambda m, a: m.atan(a), -3, 3),
    "sinh": (lambda m, a: a.sinh(), -3, 3),
    "cosh": (lambda m, a: a.cosh(), -3, 3),
    "gelu": (lambda m, a: m.nn.functional.gelu(a), -4, 4),
    "gelu_tanh": (lambda m, a: m.nn.functional.gelu(a, approximate="tanh"), -4, 4),
    "silu": (lambda m, a: m.nn.functional.silu(a), -4, 4),
    "softplus": (lambda m, a: m.nn.functional.softplus(a), -4, 4),
    "leaky_relu": (lambda m, a: m.nn.functional.leaky_relu(a, 0.1), -3, 3),
    "elu": (lambda m, a: m.nn.functional.elu(a), -3, 3),
    "relu6": (lambda m, a: m.nn.functional.relu6(a * 4), -3, 3),
    "hardtanh": (lambda m, a: m.nn.functional.hardtanh(a), -3, 3),
    "logsigmoid": (lambda m, a: m.nn.functional.logsigmoid(a), -5, 5),
}
CORE = ["neg", "abs", "exp", "log", "sqrt", "sin", "cos", "tanh", "sigmoid", "relu"]
SHAPES = [(), (1,), (5,), (3, 4), (2, 1, 3), (0,), (2, 0, 3), (4, 37)]


@pytest.fixture(autouse=True, scope="module")
def _import_nn():
    import dlcore.nn.functional  # noqa: F401  (m.nn.functional must resolve)


@pytest.mark.parametrize("name", UNARY)
@pytest.mark.parametrize("shape", SHAPES, ids=str)
def test_unary(name, shape, device):
    fn, lo, hi = UNARY[name]
    check_op(fn, [arg(shape, low=lo, high=hi)], device=device)


@pytest.mark.parametrize("name", UNARY)
def test_unary_float64(name):
    fn, lo, hi = UNARY[name]
    check_op(fn, [arg((3, 5), low=lo, high=hi)], dtype="float64", rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("name", UNARY)
@pytest.mark.parametrize("shape", [(4, 6), (9,), (3, 2, 5)], ids=str)
def test_unary_non_contiguous(name, shape):
    fn, lo, hi = UNARY[name]
    check_op(fn, [arg(shape, low=lo, high=hi)], non_contiguous=True)


@pytest.mark.parametrize("name", CORE)
def test_unary_method_and_function_agree(name):
    fn, lo, hi = UNARY[name]
    check_op(lambda m, a: getattr(a, name)(), [arg((3, 4), low=lo, high=hi)])
    check_op(lambda m, a: getattr(m, name)(a), [arg((3, 4), low=lo, high=hi)])


EXTREMES = np.array(
    [0.0, -0.0, 1.0, -1.0, INF, -INF, NAN, 88.0, 89.0, -88.0, -104.0, 1e38, -1e38, 1e-40, 20.0, -20.0, 100.0, -100.0],
    dtype="float32",
)


@pytest.mark.parametrize("name", UNARY)
def test_unary_extreme_values_forward(name):
    fn, _, _ = UNARY[name]
    x = EXTREMES
    if name == "gelu":
        # torch's vectorised float32 erf gives gelu(+inf) = NaN (float64: +inf);
        # dlcore returns the limit +inf for both (checked in test_activations.py)
        x = x[x != INF]
    check_op(fn, [nograd(x)], grad=False, rtol=1e-5, atol=1e-6)


# Finite but saturating inputs: gradients must be exact zeros / finite, never NaN.
SATURATING = np.array([-100.0, -30.0, -20.0, 0.0, 20.0, 30.0, 100.0], dtype="float32")


@pytest.mark.parametrize("name", ["tanh", "sigmoid", "relu", "abs", "softplus", "silu", "gelu", "logsigmoid", "sign"])
def test_unary_saturating_gradients(name):
    fn, _, _ = UNARY[name]
    check_op(fn, [SATURATING.copy()], rtol=1e-5, atol=1e-6)


def test_relu_and_abs_gradient_at_zero_is_zero():
    x = np.array([0.0, -0.0, 1.0, -1.0], dtype="float32")
    check_op(lambda m, a: a.relu(), [x])
    check_op(lambda m, a: a.abs(), [x])


@pytest.mark.parametrize("name", ["neg", "abs", "sign", "square", "relu"])
@pytest.mark.parametrize("dtype", ["int32", "int64"])
def test_unary_integer_keeps_dtype(name, dtype):
    fn, _, _ = UNARY[name]
    check_op(fn, [arg((3, 4), dtype=dtype)], grad=False)


@pytest.mark.parametrize("name", ["exp", "sqrt", "sin", "sigmoid", "log", "tanh"])
@pytest.mark.parametrize("dtype", ["int64", "int32", "bool"])
def test_unary_integer_promotes_to_float(name, dtype):
    """Floating ops on integer tensors return the default float dtype (float32)."""
    fn, _, _ = UNARY[name]
    check_op(fn, [arg((3, 4), dtype=dtype, low=1, high=6)], grad=False)


@pytest.mark.parametrize("name", ["round"])
def test_round_half_to_even(name):
    x = np.array([0.5, 1.5, 2.5, -0.5, -1.5, -2.5, 0.49999997], dtype="float32")
    check_op(UNARY[name][0], [x])


def test_logical_not_and_bitwise_on_bool():
    check_op(lambda m, a: m.logical_not(a), [arg((3, 4), dtype="bool")])
    check_op(lambda m, a: ~a, [arg((3, 4), dtype="bool")])
    check_op(lambda m, a, b: a & b, [arg((3, 4), dtype="bool"), arg((4,), dtype="bool")])
    check_op(lambda m, a, b: a | b, [arg((3, 4), dtype="bool"), arg((4,), dtype="bool")])


def test_isnan_isinf_isfinite():
    check_op(lambda m, a: m.isnan(a), [nograd(EXTREMES)])
    check_op(lambda m, a: m.isinf(a), [nograd(EXTREMES)])
    check_op(lambda m, a: a.isfinite(), [nograd(EXTREMES)])
    check_op(lambda m, a: m.nan_to_num(a), [nograd(EXTREMES)], grad=False)


@pytest.mark.parametrize(
    "fn",
    [lambda m, a: (a * 1).exp_(), lambda m, a: (a * 1).relu_(), lambda m, a: (a * 1).neg_(), lambda m, a: (a * 1).abs_()],
    ids=["exp_", "relu_", "neg_", "abs_"],
)
def test_unary_inplace(fn):
    check_op(fn, [(3, 4)])


def test_chain_of_unaries():
    check_op(lambda m, a: a.exp().log1p().tanh().sigmoid() * a.sin(), [(4, 5)])
    check_op(lambda m, a: a.exp().log1p().tanh().sigmoid() * a.sin(), [(4, 5)], dtype="float64")
