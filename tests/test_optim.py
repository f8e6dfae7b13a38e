"""Optimizers: trajectories against torch.optim (identical gradients fed to
both, and real training of a small model), the paper optimizers against
float64 NumPy transcriptions of their papers' algorithms, state_dict
round trips, param groups and error paths."""

from __future__ import annotations

import copy
import os
import subprocess
import sys
import textwrap

import dlcore
import dlcore.nn.functional as F
import numpy as np
import pytest
from dlcore import nn, optim
from helpers import import_torch

torch = import_torch()

# ragged shapes; (300, 300) spans two 64K-element chunks
SHAPES = [(5, 4), (7,), (3, 2, 2), (1,), (300, 300)]
STEPS = 50


def grads_for(step: int, shapes=SHAPES, dtype=np.float32, scale=1.0):
    rng = np.random.default_rng(1000 + step)
    return [(scale * rng.standard_normal(s)).astype(dtype) for s in shapes]


def init_params(shapes=SHAPES, dtype=np.float32):
    rng = np.random.default_rng(0)
    return [rng.standard_normal(s).astype(dtype) for s in shapes]


def to_np(t):
    return t.detach().numpy() if hasattr(t, "detach") else np.asarray(t)


def run_pair(name, cfg, dtype=np.float32, steps=STEPS, compare_state=True):
    """Feed both libraries the same gradients; compare params (and state) each step."""
    tp = [torch.tensor(a, requires_grad=True) for a in init_params(dtype=dtype)]
    dp = [dlcore.tensor(a, requires_grad=True) for a in init_params(dtype=dtype)]
    topt = getattr(torch.optim, name)(tp, **cfg, foreach=False)
    dopt = getattr(optim, name)(dp, **cfg)
    rtol, atol = (2e-5, 2e-6) if dtype == np.float32 else (1e-12, 1e-13)
    for step in range(steps):
        for t, d, g in zip(tp, dp, grads_for(step, dtype=dtype)):
            t.grad = torch.tensor(g)
            d.grad = dlcore.tensor(g)
        topt.step()
        dopt.step()
        for i, (t, d) in enumerate(zip(tp, dp)):
            np.testing.assert_allclose(
                to_np(d),
                to_np(t),
                rtol=rtol,
                atol=atol,
                err_msg=f"param {i} step {step + 1}",
            )
    if compare_state:
        for t, d in zip(tp, dp):
            ts, ds = topt.state[t], dopt.state[d]
            assert set(ts) == set(ds), (set(ts), set(ds))
            for k, v in ts.items():
                if k in ("step", "mu_product"):
                    assert float(v) == pytest.approx(ds[k], rel=1e-6), k
                else:
                    np.testing.assert_allclose(
                        to_np(ds[k]), to_np(v), rtol=rtol, atol=atol, err_msg=k
                    )
    return tp, dp


TORCH_CONFIGS = [
    ("SGD", {"lr": 0.1}),
    ("SGD", {"lr": 0.05, "momentum": 0.9}),
    ("SGD", {"lr": 0.05, "momentum": 0.9, "nesterov": True, "weight_decay": 0.05}),
    ("SGD", {"lr": 0.05, "momentum": 0.8, "dampening": 0.3, "maximize": True}),
    ("Adam", {}),
    ("Adam", {"lr": 0.01, "amsgrad": True}),
    ("Adam", {"lr": 0.01, "weight_decay": 0.1, "maximize": True}),
    (
        "Adam",
        {
            "lr": 0.02,
            "betas": (0.8, 0.9),
            "eps": 1e-6,
            "decoupled_weight_decay": True,
            "weight_decay": 0.1,
        },
    ),
    ("AdamW", {}),
    ("AdamW", {"lr": 0.01, "weight_decay": 0.05, "amsgrad": True}),
    ("RAdam", {}),
    ("RAdam", {"lr": 0.01, "betas": (0.9, 0.99), "weight_decay": 0.1}),
    (
        "RAdam",
        {
            "lr": 0.01,
            "weight_decay": 0.1,
            "decoupled_weight_decay": True,
            "maximize": True,
        },
    ),
    ("NAdam", {}),
    ("NAdam", {"lr": 0.01, "momentum_decay": 0.01, "weight_decay": 0.1}),
    ("NAdam", {"lr": 0.01, "weight_decay": 0.1, "decoupled_weight_decay": True}),
    ("Adamax", {}),
    ("Adamax", {"lr": 0.01, "weight_decay": 0.1, "maximize": True}),
    ("Adagrad", {}),
    (
        "Adagrad",
        {
            "lr": 0.05,
            "lr_decay": 0.01,
            "weight_decay": 0.1,
            "initial_accumulator_value": 0.5,
        },
    ),
    ("Adagrad", {"lr": 0.05, "eps": 1e-6, "maximize": True}),
    ("RMSprop", {}),
    ("RMSprop", {"lr": 0.001, "centered": True}),
    ("RMSprop", {"lr": 0.001, "momentum": 0.9}),
    (
        "RMSprop",
        {
            "lr": 0.001,
            "alpha": 0.9,
            "centered": True,
            "momentum": 0.5,
            "weight_decay": 0.1,
            "maximize": True,
        },
    ),
]


@pytest.mark.parametrize("name,cfg", TORCH_CONFIGS, ids=lambda v: str(v))
def test_trajectory_matches_torch_float32(name, cfg):
    run_pair(name, cfg)


@pytest.mark.parametrize("name,cfg", TORCH_CONFIGS[::2], ids=lambda v: str(v))
def test_trajectory_matches_torch_float64(name, cfg):
    run_pair(name, cfg, dtype=np.float64, steps=20)


@pytest.mark.parametrize(
    "name,cfg",
    [("SGD", {"lr": 0.05, "momentum": 0.9}), ("Adam", {"lr": 3e-3}), ("AdamW", {"lr": 3e-3}), ("RMSprop", {"lr": 1e-3}),
     ("NAdam", {}), ("RAdam", {}), ("Adagrad", {}), ("Adamax", {})],
    ids=lambda v: str(v),
)  # fmt: skip
def test_real_training_matches_torch(name, cfg):
    """A small MLP trained on the same batches from the same weights follows torch's trajectory."""
    torch.manual_seed(0)
    tm = torch.nn.Sequential(
        torch.nn.Linear(6, 16), torch.nn.Tanh(), torch.nn.Linear(16, 3)
    )
    dm = nn.Sequential(nn.Linear(6, 16), nn.Tanh(), nn.Linear(16, 3))
    dm.load_state_dict(
        {k: dlcore.tensor(v.detach().numpy()) for k, v in tm.state_dict().items()}
    )
    topt = getattr(torch.optim, name)(tm.parameters(), **cfg, foreach=False)
    dopt = getattr(optim, name)(dm.parameters(), **cfg)
    rng = np.random.default_rng(0)
    losses = []
    for step in range(STEPS):
        x = rng.standard_normal((32, 6)).astype(np.float32)
        y = rng.integers(0, 3, size=32)
        pair = []
        for m_, opt, mod, fn in (
            (tm, topt, torch, torch.nn.functional),
            (dm, dopt, dlcore, F),
        ):
            opt.zero_grad()
            loss = fn.cross_entropy(m_(mod.tensor(x)), mod.tensor(y))
            loss.backward()
            opt.step()
            pair.append(float(loss))
        losses.append(pair)
        for (k, pt), pd in zip(tm.named_parameters(), dm.parameters()):
            np.testing.assert_allclose(
                to_np(pd),
                to_np(pt),
                rtol=1e-4,
                atol=1e-5,
                err_msg=f"{k} step {step + 1}",
            )
    np.testing.assert_allclose(
        np.array(losses)[:, 1], np.array(losses)[:, 0], rtol=1e-5
    )


# ---- optimizer API ---------------------------------------------------------------------

ALL = [
    ("SGD", {"lr": 0.05, "momentum": 0.9}),
    ("Adam", {"amsgrad": True}),
    ("AdamW", {}),
    ("RAdam", {}),
    ("NAdam", {}),
    ("Adamax", {}),
    ("Adagrad", {}),
    ("RMSprop", {"centered": True, "momentum": 0.5}),
    ("AdaBound", {"amsbound": True}),
    ("AdaBelief", {}),
    ("AdamP", {"weight_decay": 0.1}),
    ("Lion", {}),
]


def _fresh(name, cfg, lr_scale=1.0):
    ps = [dlcore.tensor(a, requires_grad=True) for a in init_params()]
    return ps, getattr(optim, name)(ps, **cfg)


def _steps(ps, opt, start, n):
    for s in range(start, start + n):
        for p, g in zip(ps, grads_for(s)):
            p.grad = dlcore.tensor(g)
        opt.step()


@pytest.mark.parametrize("name,cfg", ALL, ids=lambda v: str(v))
def test_state_dict_round_trip_resumes_bit_identically(name, cfg):
    ps, opt = _fresh(name, cfg)
    _steps(ps, opt, 0, 7)
    sd = copy.deepcopy(opt.state_dict())
    saved = [p.detach().numpy().copy() for p in ps]
    _steps(ps, opt, 7, 8)
    ps2 = [dlcore.tensor(a, requires_grad=True) for a in saved]
    opt2 = getattr(optim, name)(ps2, lr=123.0)  # lr comes back from the state dict
    opt2.load_state_dict(sd)
    _steps(ps2, opt2, 7, 8)
    for a, b in zip(ps, ps2):
        assert np.array_equal(a.detach().numpy(), b.detach().numpy())


@pytest.mark.parametrize(
    "name,cfg",
    [c for c in TORCH_CONFIGS if c[0] in ("Adam", "NAdam", "RMSprop", "Adagrad")][:6],
)
def test_loads_torch_state_dict_and_continues_like_torch(name, cfg):
    tp = [torch.tensor(a, requires_grad=True) for a in init_params()]
    topt = getattr(torch.optim, name)(tp, **cfg, foreach=False)
    for s in range(5):
        for t, g in zip(tp, grads_for(s)):
            t.grad = torch.tensor(g)
        topt.step()
    dp = [dlcore.tensor(t.detach().numpy().copy(), requires_grad=True) for t in tp]
    dopt = getattr(optim, name)(dp, **cfg)
    dopt.load_state_dict(topt.state_dict())
    for s in range(5, 15):
        for t, d, g in zip(tp, dp, grads_for(s)):
            t.grad, d.grad = torch.tensor(g), dlcore.tensor(g)
        topt.step()
        dopt.step()
    for t, d in zip(tp, dp):
        np.testing.assert_allclose(to_np(d), to_np(t), rtol=2e-5, atol=2e-6)


def test_state_dict_layout_matches_torch():
    tp = [torch.tensor(a, requires_grad=True) for a in init_params()[:2]]
    dp = [dlcore.tensor(a, requires_grad=True) for a in init_params()[:2]]
    for cls in ("Adam", "SGD", "RMSprop", "Adagrad", "NAdam"):
        cfg = {"lr": 0.1, "momentum": 0.9} if cls in ("SGD", "RMSprop") else {}
        topt, dopt = (
            getattr(torch.optim, cls)(tp, **cfg),
            getattr(optim, cls)(dp, **cfg),
        )
        for t, d, g in zip(tp, dp, grads_for(0)):
            t.grad, d.grad = torch.tensor(g), dlcore.tensor(g)
        topt.step()
        dopt.step()
        ts, ds = topt.state_dict(), dopt.state_dict()
        assert set(ts["state"]) == set(ds["state"]), cls
        assert {k: set(v) for k, v in ts["state"].items()} == {
            k: set(v) for k, v in ds["state"].items()
        }, cls
        tg, dg = ts["param_groups"][0], ds["param_groups"][0]
        assert set(tg) == set(dg), (cls, set(tg) ^ set(dg))
        for k in tg:
            if k != "params":
                assert tg[k] == dg[k], (cls, k)


def test_param_groups_add_param_group_and_zero_grad():
    a = dlcore.tensor([1.0, 1.0], requires_grad=True)
    b = dlcore.tensor([1.0, 1.0], requires_grad=True)
    c = dlcore.tensor([1.0], requires_grad=True)
    opt = optim.Adam([{"params": [a], "lr": 0.1}, {"params": [b]}], lr=0.01)
    assert [g["lr"] for g in opt.param_groups] == [0.1, 0.01]
    assert opt.param_groups[1]["betas"] == (0.9, 0.999)
    for p in (a, b):
        p.grad = dlcore.tensor([1.0, -1.0])
    opt.step()
    # first Adam step moves each element by lr (m/sqrt(v) = ±1 after bias correction)
    np.testing.assert_allclose(a.tolist(), [0.9, 1.1], rtol=1e-6)
    np.testing.assert_allclose(b.tolist(), [0.99, 1.01], rtol=1e-6)
    opt.add_param_group({"params": [c], "lr": 1.0})
    c.grad = dlcore.tensor([2.0])
    opt.zero_grad(set_to_none=False)
    assert a.grad.tolist() == [0.0, 0.0] and c.grad.tolist() == [0.0]
    c.grad = dlcore.tensor([2.0])
    opt.step()  # zero grads for a, b still step their moments; c takes its first step
    assert opt.state[c]["step"] == 1.0 and opt.state[a]["step"] == 2.0
    np.testing.assert_allclose(c.tolist(), [0.0], atol=1e-6)
    opt.zero_grad()
    assert a.grad is None and b.grad is None and c.grad is None
    with pytest.raises(ValueError, match="more than one parameter group"):
        opt.add_param_group({"params": [a]})


def test_params_without_grad_are_skipped_and_keep_no_state():
    a = dlcore.tensor([1.0], requires_grad=True)
    b = dlcore.tensor([1.0], requires_grad=True)
    opt = optim.AdamW([a, b])
    a.grad = dlcore.tensor([1.0])
    opt.step()
    assert b.tolist() == [1.0] and b not in opt.state
    assert list(opt.state_dict()["state"]) == [0]


def test_step_closure_and_version_bump():
    w = dlcore.tensor([2.0], requires_grad=True)
    opt = optim.SGD([w], lr=0.25)

    def closure():
        opt.zero_grad()
        loss = (w * w).sum()
        loss.backward()
        return loss

    assert opt.step(closure).item() == 4.0
    assert w.tolist() == [1.0]
    # an in-place update bumps the version: a graph that saved w cannot backprop
    y = (w * w).sum()
    opt.step(closure)
    with pytest.raises(RuntimeError):
        y.backward()


@pytest.mark.parametrize(
    "make,match",
    [
        (
            lambda: optim.Adam([dlcore.ones(1, requires_grad=True)], lr=-1),
            "Invalid learning rate",
        ),
        (
            lambda: optim.Adam([dlcore.ones(1, requires_grad=True)], betas=(1.0, 0.9)),
            "Invalid beta parameter at index 0",
        ),
        (
            lambda: optim.RMSprop([dlcore.ones(1, requires_grad=True)], alpha=-1),
            "Invalid alpha value",
        ),
        (
            lambda: optim.Adagrad([dlcore.ones(1, requires_grad=True)], lr_decay=-1),
            "Invalid lr_decay value",
        ),
        (
            lambda: optim.NAdam(
                [dlcore.ones(1, requires_grad=True)], momentum_decay=-1
            ),
            "Invalid momentum_decay",
        ),
        (
            lambda: optim.SGD(
                [dlcore.ones(1, requires_grad=True)], lr=0.1, nesterov=True
            ),
            "Nesterov momentum requires",
        ),
        (lambda: optim.AdamW([], lr=0.1), "empty parameter list"),
    ],
)
def test_bad_hyper_parameters(make, match):
    with pytest.raises(ValueError, match=match):
        make()


def test_step_errors_name_the_op():
    a = dlcore.ones(3, requires_grad=True)
    opt = optim.Adam([a])
    group = opt.param_groups[0]
    # .grad's setter already refuses these; the Rust step checks them again
    with pytest.raises(RuntimeError, match=r"adam: gradient 0 has shape \[4\]"):
        dlcore._core.optim_step("adam", [a], [dlcore.ones(4)], [{}], group)
    with pytest.raises(RuntimeError, match="adam: gradient 0 .* dtype float64"):
        dlcore._core.optim_step(
            "adam", [a], [dlcore.ones(3, dtype=dlcore.float64)], [{}], group
        )
    with pytest.raises(ValueError, match="adam: got 1 parameters, 2 gradients"):
        dlcore._core.optim_step("adam", [a], [dlcore.ones(3)] * 2, [{}], group)
    with pytest.raises(ValueError, match="the parameter group has no 'betas'"):
        dlcore._core.optim_step("adam", [a], [dlcore.ones(3)], [{}], {"lr": 0.1})
    with pytest.raises(ValueError, match="unknown optimizer 'adamx'"):
        dlcore._core.optim_step("adamx", [a], [dlcore.ones(3)], [{}], group)
    a.grad = dlcore.ones(3)
    opt.state[a]["exp_avg"] = dlcore.ones(2)
    with pytest.raises(
        RuntimeError, match="adam: state 'exp_avg' of parameter 0 has shape"
    ):
        opt.step()
    opt.state[a]["exp_avg"] = a  # state aliasing the parameter would race
    with pytest.raises(ValueError, match="shares memory"):
        opt.step()
    # a parameter given twice (through two views of one buffer)
    base = dlcore.zeros(4, requires_grad=True)
    with dlcore.no_grad():
        v1, v2 = base[:3], base[1:]
    v1.grad, v2.grad = dlcore.ones(3), dlcore.ones(3)
    with pytest.raises(
        ValueError, match="lion: parameter 1 shares memory with parameter 0"
    ):
        optim.Lion([v1, v2]).step()
    # disjoint views of one buffer are fine
    w1, w2 = base[:2].detach(), base[2:].detach()
    w1.grad, w2.grad = dlcore.ones(2), dlcore.ones(2)
    optim.SGD([w1, w2], lr=1.0).step()
    assert base.tolist() == [-1.0] * 4
    i = dlcore.tensor([1, 2])
    i.grad = dlcore.tensor([1, 2])
    with pytest.raises(TypeError, match="sgd: parameter 0 has dtype int64"):
        optim.SGD([i], lr=0.1).step()


def test_non_contiguous_gradient_is_accepted():
    p = dlcore.zeros(3, 2, requires_grad=True)
    g = dlcore.tensor(np.arange(6, dtype=np.float32).reshape(2, 3)).t()
    p.grad = g
    optim.SGD([p], lr=1.0).step()
    assert p.tolist() == (-np.arange(6, dtype=np.float32).reshape(2, 3).T).tolist()


SIMD_SCRIPT = textwrap.dedent(
    """
    import sys, numpy as np, dlcore
    from dlcore import optim
    rng = np.random.default_rng(0)
    out = {}
    for name, cfg in [("Adam", {"amsgrad": True, "weight_decay": 0.1}), ("SGD", {"lr": 0.1, "momentum": 0.9,
                      "nesterov": True}), ("RMSprop", {"centered": True}), ("NAdam", {}), ("Lion", {}),
                      ("AdamP", {}), ("AdaBelief", {})]:
        ps = [dlcore.tensor(rng.standard_normal(s).astype(np.float32), requires_grad=True)
              for s in [(37, 41), (1000,), (3,)]]
        opt = getattr(optim, name)(ps, **cfg)
        for _ in range(5):
            for p in ps:
                p.grad = dlcore.tensor(rng.standard_normal(p.shape).astype(np.float32))
            opt.step()
        for i, p in enumerate(ps):
            out[f"{name}{i}"] = p.detach().numpy()
    np.savez(sys.argv[1], **out)
    """
)


def test_simd_paths_give_identical_bits(tmp_path):
    results = {}
    for path in ("scalar", "avx2", "avx512"):
        f = tmp_path / f"{path}.npz"
        env = dict(os.environ, DLCORE_SIMD=path)
        subprocess.run([sys.executable, "-c", SIMD_SCRIPT, str(f)], check=True, env=env)
        results[path] = np.load(f)
    for path in ("avx2", "avx512"):
        for k in results["scalar"].files:
            assert np.array_equal(results[path][k], results["scalar"][k]), (path, k)


def test_weight_decay_equals_l2_penalty_for_sgd():
    """SGD(weight_decay=lam) and loss + l2_penalty(params, lam) take the same steps."""
    rng = np.random.default_rng(0)
    x, y = (
        dlcore.tensor(rng.standard_normal((8, 3)).astype(np.float32)),
        dlcore.tensor(rng.standard_normal((8, 1)).astype(np.float32)),
    )
    w0 = rng.standard_normal((1, 3)).astype(np.float32)
    ws = [dlcore.tensor(w0, requires_grad=True) for _ in range(2)]
    opt_wd = optim.SGD([ws[0]], lr=0.1, weight_decay=0.3)
    opt_pen = optim.SGD([ws[1]], lr=0.1)
    for _ in range(10):
        for w, opt, pen in ((ws[0], opt_wd, False), (ws[1], opt_pen, True)):
            opt.zero_grad()
            loss = F.mse_loss(x @ w.t(), y)
            if pen:
                loss = loss + nn.utils.l2_penalty([w], 0.3)
            loss.backward()
            opt.step()
    np.testing.assert_allclose(ws[0].tolist(), ws[1].tolist(), rtol=1e-6)
