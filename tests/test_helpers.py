"""The checker checks: check_op must catch wrong values, dtypes, shapes and
gradients, really feed non-contiguous views, and fall back correctly
without torch."""

import numpy as np
import pytest

import helpers
from helpers import check_op


def test_catches_wrong_values():
    with pytest.raises(AssertionError):
        check_op(lambda m, a: a * 2, [(3,)], fn_torch=lambda m, a: a * 3)


def test_catches_wrong_gradient():
    # same forward values, different graph: x*x vs detached(x)*x
    with pytest.raises(AssertionError, match="grad"):
        check_op(lambda m, a: a * a, [(3, 2)], fn_torch=lambda m, a: a.detach() * a)


def test_catches_wrong_dtype_and_shape():
    with pytest.raises(AssertionError, match="dtype"):
        check_op(lambda m, a: a * 2, [(3,)], fn_torch=lambda m, a: a.double() * 2)
    with pytest.raises(AssertionError, match="shape"):
        check_op(lambda m, a: a.sum(0), [(3, 2)], fn_torch=lambda m, a: a.sum(0, keepdim=True))


def test_catches_missing_requires_grad():
    with pytest.raises(AssertionError, match="requires_grad"):
        check_op(lambda m, a: a.detach() * 2, [(3,)], fn_torch=lambda m, a: a * 2)


def test_tuple_outputs_and_integer_inputs():
    dl, th = check_op(lambda m, a, i: (a[i], a.sum()), [(5,), np.array([0, 4, 4])])
    assert len(dl) == 2 and len(th) == 2


@pytest.mark.parametrize("shape", [(4,), (3, 5), (2, 3, 4)])
def test_non_contiguous_inputs_really_are(shape):
    seen = {}

    def fn(m, a):
        seen[m.__name__] = a.is_contiguous()
        return a * 1

    check_op(fn, [shape], non_contiguous=True)
    assert seen == {"dlcore": False, "torch": False}


def test_same_data_in_both_libraries():
    seen = {}

    def fn(m, a):
        seen[m.__name__] = a.detach().numpy().copy()
        return a

    check_op(fn, [(3, 4)], seed=7)
    np.testing.assert_array_equal(seen["dlcore"], seen["torch"])


def test_fallback_without_torch(monkeypatch):
    monkeypatch.setattr(helpers, "torch", None)
    monkeypatch.setattr(helpers, "REQUIRE_TORCH", False)
    check_op(lambda m, a, b: m.maximum(a, b), [(3, 1), (1, 4)], ref=np.maximum)
    check_op(lambda m, a: a.tanh().sum(1), [(3, 4)])  # gradcheck only, float64
    with pytest.raises(AssertionError):
        check_op(lambda m, a: a * 2, [(3,)], ref=lambda a: a * 3, grad=False)


def test_require_torch_fails_loudly(monkeypatch):
    monkeypatch.setattr(helpers, "torch", None)
    monkeypatch.setattr(helpers, "REQUIRE_TORCH", True)
    with pytest.raises(pytest.fail.Exception, match="DLCORE_REQUIRE_TORCH"):
        check_op(lambda m, a: a * 2, [(3,)])
