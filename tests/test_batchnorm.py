"""Batch norm: F.batch_norm and nn.BatchNorm1d/2d against torch — forward,
gradients of input/weight/bias, running statistics, train/eval, errors."""

import numpy as np
import pytest
from helpers import arg, check_op, import_torch, nograd

import dlcore
import dlcore.nn as nn
import dlcore.nn.functional as F

torch = import_torch()

SHAPES = [(4, 3), (2, 3, 5), (2, 3, 4, 5), (1, 3, 4, 4), (5, 2, 1, 1), (3, 70, 2, 2), (1, 2, 67)]


def _stats(c, seed=0):
    rng = np.random.default_rng(seed)
    return nograd(rng.normal(size=c).astype("float32")), nograd(rng.uniform(0.5, 2, size=c).astype("float32"))


@pytest.mark.parametrize("shape", SHAPES, ids=str)
@pytest.mark.parametrize("affine", [True, False])
def test_training_forward_backward_and_running_stats(shape, affine):
    c = shape[1]
    rm, rv = _stats(c)
    ins = [shape, rm, rv] + ([arg((c,), low=0.5, high=1.5), (c,)] if affine else [None, None])

    def fn(m, x, rm, rv, w, b):
        y = m.nn.functional.batch_norm(x, rm, rv, w, b, training=True, momentum=0.3, eps=1e-4)
        return y, rm, rv  # the running stats were updated in place

    check_op(fn, ins, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("shape", SHAPES, ids=str)
def test_eval_forward_backward(shape):
    c = shape[1]
    rm, rv = _stats(c, 1)
    check_op(
        lambda m, x, rm, rv, w, b: m.nn.functional.batch_norm(x, rm, rv, w, b, training=False),
        [shape, rm, rv, (c,), (c,)],
    )


def test_eval_without_running_stats_is_an_error():
    with pytest.raises(RuntimeError):
        torch.nn.functional.batch_norm(torch.randn(4, 3), None, None, training=False)
    with pytest.raises(RuntimeError, match="batch_norm: running_mean and running_var must be defined in evaluation mode"):
        F.batch_norm(dlcore.randn(4, 3), None, None, training=False)
    with pytest.raises(ValueError, match="eps must be positive"):
        F.batch_norm(dlcore.randn(4, 3), None, None, training=True, eps=0.0)


@pytest.mark.parametrize("training", [True, False])
def test_non_contiguous_and_float64(training):
    rm, rv = _stats(5)
    fn = lambda m, x, rm, rv, w, b: m.nn.functional.batch_norm(x, rm, rv, w, b, training)  # noqa: E731
    check_op(fn, [(3, 5, 4, 6), rm, rv, (5,), (5,)], non_contiguous=True, rtol=1e-4)
    rm64 = nograd(rm.value.astype("float64"))
    rv64 = nograd(rv.value.astype("float64"))
    check_op(fn, [(3, 5, 4, 6), rm64, rv64, (5,), (5,)], dtype="float64")


def test_large_offset_is_stable():
    """Values around 1e3 with unit spread: the shifted single-pass variance stays exact."""
    check_op(lambda m, x: m.nn.functional.batch_norm(x, None, None, training=True), [arg((8, 4, 6, 6), low=1000, high=1004)], rtol=1e-3, atol=1e-3)


def test_fused_eval_batch_norm_relu():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(2, 3, 4, 4)).astype("float32")
    rm, rv = rng.normal(size=3).astype("float32"), rng.uniform(0.5, 2, size=3).astype("float32")
    w, b = rng.normal(size=3).astype("float32"), rng.normal(size=3).astype("float32")

    def fn(m, x, rm, rv, w, b):
        if m is dlcore:
            return F.batch_norm_relu(x, rm, rv, w, b)
        return m.relu(m.nn.functional.batch_norm(x, rm, rv, w, b, False))

    check_op(fn, [x, nograd(rm), nograd(rv), w, b])
    with pytest.raises(RuntimeError, match="only available in eval mode"):
        dlcore._core.batch_norm(dlcore.tensor(x), None, None, None, None, True, 0.1, 1e-5, True)


@pytest.mark.parametrize("cls,shape", [("BatchNorm1d", (6, 4)), ("BatchNorm1d", (6, 4, 5)), ("BatchNorm2d", (3, 4, 5, 5))], ids=str)
@pytest.mark.parametrize("momentum", [0.1, 0.5, None])
def test_module_running_stats_follow_torch(cls, shape, momentum):
    tm = getattr(torch.nn, cls)(4, momentum=momentum)
    dm = getattr(nn, cls)(4, momentum=momentum)
    with torch.no_grad():
        tm.weight.uniform_(0.5, 1.5)
        tm.bias.uniform_(-1, 1)
    dm.load_state_dict({k: dlcore.tensor(v.numpy()) for k, v in tm.state_dict().items()})
    rng = np.random.default_rng(0)
    for step in range(5):
        x = (rng.normal(size=shape) * (step + 1) + step).astype("float32")
        yt, yd = tm(torch.tensor(x)), dm(dlcore.tensor(x))
        np.testing.assert_allclose(yd.detach().numpy(), yt.detach().numpy(), rtol=1e-4, atol=1e-4)
    for k, v in tm.state_dict().items():
        np.testing.assert_allclose(dm.state_dict()[k].numpy(), v.numpy(), rtol=1e-5, atol=1e-6, err_msg=k)
    assert int(dm.num_batches_tracked.item()) == 5
    tm.eval(), dm.eval()
    x = rng.normal(size=shape).astype("float32")
    np.testing.assert_allclose(dm(dlcore.tensor(x)).detach().numpy(), tm(torch.tensor(x)).detach().numpy(), rtol=1e-5, atol=1e-5)


def test_module_state_dict_keys_repr_and_options():
    assert list(nn.BatchNorm2d(3).state_dict()) == list(torch.nn.BatchNorm2d(3).state_dict())
    assert repr(nn.BatchNorm2d(3, momentum=None)) == repr(torch.nn.BatchNorm2d(3, momentum=None))
    assert repr(nn.BatchNorm1d(3, bias=False)) == repr(torch.nn.BatchNorm1d(3, bias=False))
    assert list(nn.BatchNorm1d(3, bias=False).state_dict()) == list(torch.nn.BatchNorm1d(3, bias=False).state_dict())
    assert list(nn.BatchNorm1d(3, affine=False).state_dict()) == list(torch.nn.BatchNorm1d(3, affine=False).state_dict())
    m = nn.BatchNorm1d(3, track_running_stats=False)
    assert list(m.state_dict()) == ["weight", "bias"] and m.running_mean is None
    m.eval()  # without running stats, eval still normalises with the batch
    y = m(dlcore.tensor([[1.0, 2.0, 3.0], [3.0, 4.0, 5.0]]))
    assert np.allclose(y.detach().numpy(), [[-1, -1, -1], [1, 1, 1]], atol=1e-4)
    m = nn.BatchNorm2d(2)
    m(dlcore.randn(2, 2, 3, 3) * 5 + 2)
    m.reset_running_stats()
    assert m.running_mean.tolist() == [0.0, 0.0] and m.running_var.tolist() == [1.0, 1.0] and m.num_batches_tracked.item() == 0


def test_module_gradients_match_torch():
    tm, dm = torch.nn.BatchNorm2d(3), nn.BatchNorm2d(3)
    x = np.random.default_rng(0).normal(size=(2, 3, 4, 4)).astype("float32")
    g = np.random.default_rng(1).normal(size=(2, 3, 4, 4)).astype("float32")
    xt, xd = torch.tensor(x, requires_grad=True), dlcore.tensor(x, requires_grad=True)
    tm(xt).backward(torch.tensor(g))
    dm(xd).backward(dlcore.tensor(g))
    for a, b in [(xd.grad, xt.grad), (dm.weight.grad, tm.weight.grad), (dm.bias.grad, tm.bias.grad)]:
        np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=1e-4, atol=1e-5)


def test_errors():
    with pytest.raises(ValueError, match=r"Expected more than 1 value per channel when training, got input size \[1, 3\]"):
        F.batch_norm(dlcore.randn(1, 3), None, None, training=True)
    with pytest.raises(ValueError):
        torch.nn.functional.batch_norm(torch.randn(1, 3), None, None, training=True)
    with pytest.raises(ValueError, match=r"expected 4D input \(got 3D input\)"):
        nn.BatchNorm2d(3)(dlcore.randn(2, 3, 4))
    with pytest.raises(ValueError, match=r"expected 2D or 3D input \(got 4D input\)"):
        nn.BatchNorm1d(3)(dlcore.randn(2, 3, 4, 4))
    with pytest.raises(RuntimeError, match=r"batch_norm: running_mean should contain 3 elements not 4"):
        F.batch_norm(dlcore.randn(2, 3), dlcore.zeros(4), dlcore.ones(4))
    with pytest.raises(RuntimeError, match=r"batch_norm: expected input with at least 2 dims"):
        F.batch_norm(dlcore.randn(3), None, None, training=True)


def test_double_backward_is_refused_not_wrong():
    x = dlcore.randn(4, 3, requires_grad=True)
    y = F.batch_norm(x, None, None, training=True)
    with pytest.raises(RuntimeError, match="double backward"):
        dlcore.autograd.grad((y**3).sum(), x, create_graph=True)
