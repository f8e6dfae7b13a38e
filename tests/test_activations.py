"""Activations: F.* and nn.* against torch, forward, backward and double
backward; PReLU; softmax modules; the surrogate-gradient step."""

import numpy as np
import pytest
from helpers import arg, check_op, import_torch

import dlcore
import dlcore.nn as nn
import dlcore.nn.functional as F

torch = import_torch()

# name -> (fn(m, x), low, high); ranges avoid the kinks (grad at a kink is a convention)
ACTS = {
    "leaky_relu": (lambda m, a: m.nn.functional.leaky_relu(a, 0.2), -3, 3),
    "leaky_relu_default": (lambda m, a: m.nn.functional.leaky_relu(a), -3, 3),
    "elu": (lambda m, a: m.nn.functional.elu(a, 0.7), -3, 3),
    "selu": (lambda m, a: m.nn.functional.selu(a), -3, 3),
    "celu": (lambda m, a: m.nn.functional.celu(a, 1.5), -3, 3),
    "gelu": (lambda m, a: m.nn.functional.gelu(a), -5, 5),
    "gelu_tanh": (lambda m, a: m.nn.functional.gelu(a, approximate="tanh"), -5, 5),
    "silu": (lambda m, a: m.nn.functional.silu(a), -6, 6),
    "mish": (lambda m, a: m.nn.functional.mish(a), -6, 6),
    "softplus": (lambda m, a: m.nn.functional.softplus(a), -6, 6),
    "softplus_beta": (lambda m, a: m.nn.functional.softplus(a * 10, beta=2.0, threshold=5.0), -3, 3),
    "hardtanh": (lambda m, a: m.nn.functional.hardtanh(a, -0.5, 1.5), -3, 3),
    "relu6": (lambda m, a: m.nn.functional.relu6(a * 4), -3, 3),
    "logsigmoid": (lambda m, a: m.nn.functional.logsigmoid(a * 10), -3, 3),
}
SMOOTH = ["elu", "selu", "celu", "gelu", "gelu_tanh", "silu", "mish", "softplus", "logsigmoid"]
SHAPES = [(), (1,), (7,), (3, 4), (2, 3, 5, 4), (0, 3), (4, 37)]


@pytest.mark.parametrize("name", ACTS)
@pytest.mark.parametrize("shape", SHAPES, ids=str)
def test_activation(name, shape):
    fn, lo, hi = ACTS[name]
    check_op(fn, [arg(shape, low=lo, high=hi)])


@pytest.mark.parametrize("name", ACTS)
def test_activation_float64_and_non_contiguous(name):
    fn, lo, hi = ACTS[name]
    check_op(fn, [arg((5, 6), low=lo, high=hi)], dtype="float64", rtol=1e-9, atol=1e-12)
    check_op(fn, [arg((4, 6, 3), low=lo, high=hi)], non_contiguous=True)


def test_large_inputs_take_the_parallel_path():
    for name in ("gelu", "silu", "leaky_relu"):
        fn, lo, hi = ACTS[name]
        check_op(fn, [arg((64, 1031), low=lo, high=hi)])


@pytest.mark.parametrize("name", SMOOTH)
def test_double_backward(name):
    fn, lo, hi = ACTS[name]

    def second(m, a):
        (g,) = m.autograd.grad((fn(m, a) ** 2).sum(), a, create_graph=True)
        return g

    check_op(second, [arg((4, 5), low=lo, high=hi)], dtype="float64", rtol=1e-8, atol=1e-10)


def test_extreme_values():
    x = np.array([-np.inf, -100.0, -1e-3, 0.0, 1e-3, 100.0, np.inf, np.nan], dtype="float32")
    for name, (fn, _, _) in ACTS.items():
        # torch's vectorised erf makes gelu(+inf) NaN; dlcore returns +inf (the limit)
        check_op(fn, [x[:-2] if name == "gelu" else x], grad=False)
    assert F.gelu(dlcore.tensor([float("inf")])).tolist() == [float("inf")]
    check_op(lambda m, a: m.nn.functional.gelu(a), [np.array([-30.0, -8.0, 8.0, 30.0], dtype="float32")])
    check_op(lambda m, a: m.nn.functional.silu(a), [np.array([-80.0, -30.0, 30.0, 80.0], dtype="float32")])


@pytest.mark.parametrize("shape,num", [((4, 3), 3), ((2, 3, 5, 5), 3), ((2, 3, 5, 5), 1), ((6,), 1), ((2, 4, 7), 4), ((), 1)], ids=str)
def test_prelu(shape, num):
    check_op(lambda m, x, w: m.nn.functional.prelu(x, w), [shape, arg((num,), low=0.0, high=0.5)])
    check_op(lambda m, x, w: m.nn.functional.prelu(x, w), [shape, arg((num,), low=0.0, high=0.5)], dtype="float64", non_contiguous=True)


def test_prelu_double_backward():
    def second(m, x, w):
        (gx, gw) = m.autograd.grad((m.nn.functional.prelu(x, w) ** 2).sum(), (x, w), create_graph=True)
        return gx, gw

    check_op(second, [(2, 3, 4), arg((3,), low=0.1, high=0.5)], dtype="float64")


def test_prelu_module_and_errors():
    check_op(lambda m, x: m.nn.PReLU(3, init=0.1)(x), [(2, 3, 4, 4)])
    m = nn.PReLU(3)
    assert [k for k, _ in m.named_parameters()] == ["weight"] and repr(m) == repr(torch.nn.PReLU(3))
    with pytest.raises(RuntimeError, match=r"prelu: Mismatch of parameter numbers and input channel size"):
        F.prelu(dlcore.randn(2, 4), dlcore.ones(3))
    with pytest.raises(RuntimeError):
        torch.nn.functional.prelu(torch.randn(2, 4), torch.ones(3))


MODULES = [
    ("LeakyReLU", (0.3,)), ("ELU", (0.5,)), ("SELU", ()), ("CELU", (2.0,)), ("GELU", ()), ("GELU", ("tanh",)),
    ("SiLU", ()), ("Mish", ()), ("Softplus", (2.0, 10.0)), ("Hardtanh", (-2.0, 2.0)), ("ReLU6", ()),
    ("LogSigmoid", ()), ("Softmax", (1,)), ("LogSoftmax", (-1,)), ("Identity", ()),
]


@pytest.mark.parametrize("name,args", MODULES, ids=str)
def test_modules(name, args):
    check_op(lambda m, x: getattr(m.nn, name)(*args)(x * 3), [(3, 4, 5)])
    assert repr(getattr(nn, name)(*args)) == repr(getattr(torch.nn, name)(*args))


def test_inplace_flag_writes_into_input():
    x = dlcore.tensor([-1.0, 2.0])
    y = F.leaky_relu(x, 0.5, inplace=True)
    assert x.tolist() == [-0.5, 2.0] and y.tolist() == [-0.5, 2.0]


@pytest.mark.parametrize("surrogate,slope", [("sigmoid", 5.0), ("sigmoid", 1.0), ("ste", None)])
def test_step_surrogate_gradients(surrogate, slope):
    xs = np.linspace(-3, 3, 13)
    x = dlcore.tensor(xs, requires_grad=True)
    kw = {"slope": slope} if slope else {}
    y = F.step(x, surrogate, **kw)
    assert y.tolist() == [1.0 if v > 0 else 0.0 for v in xs]
    y.sum().backward()
    if surrogate == "sigmoid":
        s = 1 / (1 + np.exp(-slope * xs))
        want = slope * s * (1 - s)
    else:
        want = (np.abs(xs) <= 1).astype(float)
    np.testing.assert_allclose(x.grad.numpy(), want, rtol=1e-12)
    m = nn.Step(surrogate, **kw)
    assert m(dlcore.tensor([0.5])).tolist() == [1.0]
    # the sigmoid surrogate is the derivative of torch.sigmoid(k x)
    if surrogate == "sigmoid":
        xt = torch.tensor(xs, requires_grad=True)
        torch.sigmoid(slope * xt).sum().backward()
        np.testing.assert_allclose(x.grad.numpy(), xt.grad.numpy(), rtol=1e-12)


def test_errors():
    with pytest.raises(RuntimeError, match="gelu: approximate argument must be either none or tanh"):
        F.gelu(dlcore.randn(3), approximate="fast")
    with pytest.raises(RuntimeError, match="gelu: expected a floating point tensor, got int64"):
        F.gelu(dlcore.tensor([1, 2]))
    with pytest.raises(ValueError, match="step: surrogate must be"):
        F.step(dlcore.randn(3), "magic")
    with pytest.raises(ValueError, match="min_val cannot be greater than max_val"):
        F.hardtanh(dlcore.randn(3), 2.0, 1.0)
