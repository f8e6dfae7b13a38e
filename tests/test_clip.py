"""Gradient clipping (clip_grad_norm_, clip_grad_value_, get_total_norm)
against torch.nn.utils, and the L1/L2 penalty helpers."""

from __future__ import annotations

import math

import dlcore
import numpy as np
import pytest
from dlcore import nn
from helpers import import_torch

torch = import_torch()

SHAPES = [(5, 4), (7,), (300, 300), (1,), (0,)]


def _pair(scale=1.0, dtype=np.float32, seed=0):
    rng = np.random.default_rng(seed)
    gs = [(scale * rng.standard_normal(s)).astype(dtype) for s in SHAPES]
    tp, dp = [], []
    for g in gs:
        t = torch.zeros(g.shape, dtype=torch.from_numpy(g).dtype, requires_grad=True)
        t.grad = torch.tensor(g)
        d = dlcore.zeros(
            *g.shape,
            dtype=dlcore.float64 if dtype == np.float64 else dlcore.float32,
            requires_grad=True,
        )
        d.grad = dlcore.tensor(g)
        tp.append(t)
        dp.append(d)
    return tp, dp


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("norm_type", [2.0, 1.0, 3.0, 0.5, math.inf, -math.inf, 0.0])
@pytest.mark.parametrize("max_norm,scale", [(1.0, 1.0), (1e4, 1.0), (0.5, 1e-3)])
def test_clip_grad_norm_matches_torch(norm_type, max_norm, scale, dtype):
    tp, dp = _pair(scale, dtype)
    if math.isinf(
        norm_type
    ):  # torch refuses the inf norm of an empty tensor (no identity)
        with pytest.raises(
            RuntimeError,
            match=f"cannot compute the {norm_type} norm of gradient 4, which is empty",
        ):
            nn.utils.clip_grad_norm_(dp, max_norm, norm_type=norm_type)
        tp, dp = tp[:-1], dp[:-1]
    tn = torch.nn.utils.clip_grad_norm_(
        tp, max_norm, norm_type=norm_type, foreach=False
    )
    dn = nn.utils.clip_grad_norm_(dp, max_norm, norm_type=norm_type)
    assert (
        dn.dtype == (dlcore.float64 if dtype == np.float64 else dlcore.float32)
        and dn.shape == ()
    )
    # dlcore accumulates in float64; torch sums float32 in float32, which for
    # fractional p over 90k elements drifts by ~1e-5
    rtol = (1e-5 if norm_type in (1.0, 2.0) else 1e-4) if dtype == np.float32 else 1e-12
    assert float(dn) == pytest.approx(float(tn), rel=rtol)
    for t, d in zip(tp, dp):
        np.testing.assert_allclose(d.grad.numpy(), t.grad.numpy(), rtol=rtol, atol=1e-7)


def test_clip_grad_norm_result_has_max_norm_and_skips_missing_grads():
    _tp, dp = _pair(10.0)
    extra = dlcore.zeros(3, requires_grad=True)  # no grad: skipped
    total = nn.utils.clip_grad_norm_(dp + [extra], max_norm=2.0)
    assert float(total) > 2.0
    after = nn.utils.get_total_norm([p.grad for p in dp])
    assert float(after) == pytest.approx(2.0, rel=1e-5)
    assert extra.grad is None
    # a single tensor is accepted too
    w = dlcore.zeros(3, requires_grad=True)
    w.grad = dlcore.tensor([3.0, 4.0, 0.0])
    assert float(nn.utils.clip_grad_norm_(w, 1.0)) == 5.0
    np.testing.assert_allclose(w.grad.tolist(), [0.6, 0.8, 0.0], rtol=1e-5)


def test_clip_grad_norm_nonfinite():
    tp, dp = _pair()
    dp[0].grad = dlcore.tensor(np.full((5, 4), np.inf, dtype=np.float32))
    with pytest.raises(
        RuntimeError,
        match="The total norm of order 2.0 for gradients from `parameters` is non-finite",
    ):
        nn.utils.clip_grad_norm_(dp, 1.0, error_if_nonfinite=True)
    with pytest.raises(RuntimeError, match="non-finite"):
        nn.utils.get_total_norm([p.grad for p in dp], error_if_nonfinite=True)
    # without the flag: scaled by the non-finite norm, as torch does
    tp[0].grad = torch.full((5, 4), math.inf)
    tn = torch.nn.utils.clip_grad_norm_(tp, 1.0, foreach=False)
    dn = nn.utils.clip_grad_norm_(dp, 1.0)
    assert math.isinf(float(dn)) and math.isinf(float(tn))
    for t, d in zip(tp, dp):
        np.testing.assert_array_equal(
            np.isnan(d.grad.numpy()), np.isnan(t.grad.numpy())
        )
        np.testing.assert_array_equal(
            d.grad.numpy()[~np.isnan(d.grad.numpy())],
            t.grad.numpy()[~np.isnan(t.grad.numpy())],
        )


def test_clip_grad_norm_empty_and_errors():
    assert (
        float(nn.utils.clip_grad_norm_([dlcore.zeros(2, requires_grad=True)], 1.0))
        == 0.0
    )
    w = dlcore.zeros(4, requires_grad=True)
    w.grad = dlcore.ones(4)
    with pytest.raises(ValueError, match="clip_grad_norm_: norm_type must be a number"):
        nn.utils.clip_grad_norm_([w], 1.0, norm_type=float("nan"))
    with pytest.raises(
        ValueError, match="clip_grad_norm_: gradient 1 shares memory with gradient 0"
    ):
        dlcore._core.clip_grad_norm([w.grad, w.grad], 1.0)


def test_non_contiguous_grad_is_made_contiguous():
    w = dlcore.zeros(3, 2, requires_grad=True)
    w.grad = dlcore.tensor(np.arange(6, dtype=np.float32).reshape(2, 3)).t()
    nn.utils.clip_grad_value_([w], 2.5)
    np.testing.assert_array_equal(
        w.grad.numpy(),
        np.clip(np.arange(6, dtype=np.float32).reshape(2, 3).T, -2.5, 2.5),
    )


@pytest.mark.parametrize("clip", [0.5, 1e-3, 10.0])
def test_clip_grad_value_matches_torch(clip):
    tp, dp = _pair()
    tp[1].grad[0] = float("nan")
    dp[1].grad = dlcore.tensor(tp[1].grad.numpy())
    torch.nn.utils.clip_grad_value_(tp, clip, foreach=False)
    assert nn.utils.clip_grad_value_(dp, clip) is None
    for t, d in zip(tp, dp):
        np.testing.assert_array_equal(d.grad.numpy(), t.grad.numpy())


def test_get_total_norm_matches_torch():
    tp, dp = _pair()
    tp, dp = tp[:-1], dp[:-1]  # torch has no inf norm of an empty tensor
    for nt in (2.0, 1.0, math.inf):
        tn = torch.nn.utils.get_total_norm([t.grad for t in tp], norm_type=nt)
        assert float(
            nn.utils.get_total_norm([d.grad for d in dp], norm_type=nt)
        ) == pytest.approx(float(tn), rel=1e-5)


def test_clipping_bumps_version():
    w = dlcore.ones(3, requires_grad=True)
    w.grad = dlcore.full((3,), 10.0)
    g = w.grad
    v = g._version if hasattr(g, "_version") else None
    nn.utils.clip_grad_norm_([w], 1.0)
    if v is not None:
        assert g._version > v


# ---- penalties ---------------------------------------------------------------------------


def test_l1_l2_penalty_values_and_gradients():
    a = dlcore.tensor([1.0, -2.0, 0.5], requires_grad=True)
    b = dlcore.tensor([[3.0], [-4.0]], requires_grad=True)
    l1 = nn.utils.l1_penalty([a, b], weight=0.1)
    assert l1.item() == pytest.approx(0.1 * (3.5 + 7.0))
    l1.backward()
    np.testing.assert_allclose(a.grad.tolist(), [0.1, -0.1, 0.1])
    np.testing.assert_allclose(b.grad.tolist(), [[0.1], [-0.1]])
    a.grad = b.grad = None
    l2 = nn.utils.l2_penalty([a, b], weight=0.2)
    assert l2.item() == pytest.approx(0.1 * (1 + 4 + 0.25 + 9 + 16))
    l2.backward()
    np.testing.assert_allclose(
        a.grad.tolist(), [0.2, -0.4, 0.1], rtol=1e-6
    )  # = weight * p
    assert nn.utils.l2_penalty([]).item() == 0.0


def test_l1_penalty_drives_weights_to_zero_unlike_l2():
    """Proximal view: L1's constant pull zeroes small weights; L2 only shrinks them."""
    rng = np.random.default_rng(0)
    w0 = rng.standard_normal(20).astype(np.float32) * 0.1
    out = {}
    for kind in ("l1", "l2"):
        w = dlcore.tensor(w0.copy(), requires_grad=True)
        opt = dlcore.optim.SGD([w], lr=0.01)
        for _ in range(400):
            opt.zero_grad()
            pen = (
                nn.utils.l1_penalty([w], 1.0)
                if kind == "l1"
                else nn.utils.l2_penalty([w], 1.0)
            )
            pen.backward()
            opt.step()
        out[kind] = np.abs(w.detach().numpy())
    assert (out["l1"] < 0.011).all()  # within one step of zero
    assert (out["l2"] > 0).all() and out["l2"].max() > 0.001
