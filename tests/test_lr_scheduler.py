"""Learning-rate schedulers: the lr (and momentum) sequences match
torch.optim.lr_scheduler's over many steps, with several param groups, and
state_dict round trips resume the same sequence."""

from __future__ import annotations

import copy

import dlcore
import numpy as np
import pytest
from dlcore import optim
from dlcore.optim import lr_scheduler as dls
from helpers import import_torch

torch = import_torch()
tls = torch.optim.lr_scheduler


def _pair(opt_name="SGD", opt_kw=None):
    opt_kw = opt_kw if opt_kw is not None else {"lr": 0.1, "momentum": 0.9}
    tp = [torch.zeros(2, requires_grad=True), torch.zeros(3, requires_grad=True)]
    dp = [dlcore.zeros(2, requires_grad=True), dlcore.zeros(3, requires_grad=True)]
    # two groups with different lrs, so per-group bookkeeping is exercised
    tg = [{"params": [tp[0]]}, {"params": [tp[1]], "lr": opt_kw["lr"] * 0.3}]
    dg = [{"params": [dp[0]]}, {"params": [dp[1]], "lr": opt_kw["lr"] * 0.3}]
    return getattr(torch.optim, opt_name)(tg, **opt_kw), getattr(optim, opt_name)(
        dg, **opt_kw
    )


SCHEDULES = [
    ("StepLR", {"step_size": 7, "gamma": 0.5}),
    ("MultiStepLR", {"milestones": [5, 12, 12, 40], "gamma": 0.3}),
    ("ExponentialLR", {"gamma": 0.95}),
    ("CosineAnnealingLR", {"T_max": 17, "eta_min": 1e-3}),
    ("CosineAnnealingLR", {"T_max": 10}),  # runs past T_max: the schedule comes back up
    ("CosineAnnealingWarmRestarts", {"T_0": 5}),
    ("CosineAnnealingWarmRestarts", {"T_0": 3, "T_mult": 2, "eta_min": 0.01}),
    ("LinearLR", {"start_factor": 0.1, "total_iters": 8}),
    ("LinearLR", {"start_factor": 1.0, "end_factor": 0.2, "total_iters": 30}),
    ("OneCycleLR", {"max_lr": 1.0, "total_steps": 80}),
    (
        "OneCycleLR",
        {
            "max_lr": [0.5, 0.2],
            "total_steps": 80,
            "anneal_strategy": "linear",
            "three_phase": True,
        },
    ),
    (
        "OneCycleLR",
        {
            "max_lr": 0.3,
            "epochs": 4,
            "steps_per_epoch": 20,
            "pct_start": 0.25,
            "cycle_momentum": False,
        },
    ),
]


def _check_same(topt, dopt, tsched, dsched, step):
    for i, (tg, dg) in enumerate(zip(topt.param_groups, dopt.param_groups)):
        assert dg["lr"] == pytest.approx(tg["lr"], rel=1e-12, abs=1e-15), (
            f"group {i} lr at step {step}"
        )
        if "momentum" in tg:
            assert dg["momentum"] == pytest.approx(tg["momentum"], rel=1e-12), (
                f"group {i} momentum at step {step}"
            )
        if "betas" in tg:
            assert dg["betas"][0] == pytest.approx(tg["betas"][0], rel=1e-12)
    np.testing.assert_allclose(
        dsched.get_last_lr(), tsched.get_last_lr(), rtol=1e-12, atol=1e-15
    )


@pytest.mark.parametrize("name,kw", SCHEDULES, ids=lambda v: str(v))
def test_schedule_matches_torch(name, kw):
    topt, dopt = _pair()
    tsched, dsched = getattr(tls, name)(topt, **kw), getattr(dls, name)(dopt, **kw)
    _check_same(topt, dopt, tsched, dsched, 0)
    for step in range(1, 80):
        topt.step()
        dopt.step()
        tsched.step()
        dsched.step()
        _check_same(topt, dopt, tsched, dsched, step)


def test_one_cycle_cycles_adam_beta1_like_torch():
    topt, dopt = _pair("Adam", {"lr": 0.01})
    tsched = tls.OneCycleLR(topt, max_lr=0.1, total_steps=30)
    dsched = dls.OneCycleLR(dopt, max_lr=0.1, total_steps=30)
    for step in range(29):
        topt.step()
        dopt.step()
        tsched.step()
        dsched.step()
        _check_same(topt, dopt, tsched, dsched, step)
    with pytest.raises(ValueError, match="Tried to step 31 times"):
        dsched.step()
        dsched.step()


def test_sequential_warmup_then_cosine_matches_torch():
    topt, dopt = _pair()
    t = tls.SequentialLR(
        topt,
        [tls.LinearLR(topt, 0.1, total_iters=5), tls.CosineAnnealingLR(topt, T_max=20)],
        milestones=[5],
    )
    d = dls.SequentialLR(
        dopt,
        [dls.LinearLR(dopt, 0.1, total_iters=5), dls.CosineAnnealingLR(dopt, T_max=20)],
        milestones=[5],
    )
    _check_same(topt, dopt, t, d, 0)
    for step in range(1, 40):
        topt.step()
        dopt.step()
        t.step()
        d.step()
        _check_same(topt, dopt, t, d, step)


def test_sequential_three_stages_matches_torch():
    topt, dopt = _pair()

    def make(lib, o):
        return lib.SequentialLR(
            o,
            [
                lib.ExponentialLR(o, 0.9),
                lib.StepLR(o, 3, 0.5),
                lib.LinearLR(o, 0.5, 0.8, 4),
            ],
            milestones=[4, 10],
        )

    t, d = make(tls, topt), make(dls, dopt)
    for step in range(1, 25):
        topt.step()
        dopt.step()
        t.step()
        d.step()
        _check_same(topt, dopt, t, d, step)


@pytest.mark.parametrize(
    "kw",
    [
        {},
        {
            "mode": "max",
            "factor": 0.5,
            "patience": 2,
            "threshold": 0.1,
            "threshold_mode": "abs",
            "cooldown": 3,
        },
        {"patience": 1, "min_lr": [0.05, 0.0], "eps": 1e-3},
    ],
    ids=str,
)
def test_reduce_lr_on_plateau_matches_torch(kw):
    topt, dopt = _pair()
    t, d = tls.ReduceLROnPlateau(topt, **kw), dls.ReduceLROnPlateau(dopt, **kw)
    rng = np.random.default_rng(0)
    metric = 1.0
    for step in range(60):
        metric = metric * (0.9 if step < 10 else 1.0) + 0.05 * rng.standard_normal()
        topt.step()
        dopt.step()
        t.step(metric)
        d.step(metric)
        for tg, dg in zip(topt.param_groups, dopt.param_groups):
            assert dg["lr"] == pytest.approx(tg["lr"], rel=1e-12), step
        assert (
            d.num_bad_epochs == t.num_bad_epochs
            and d.cooldown_counter == t.cooldown_counter
        )
    assert d.get_last_lr() == pytest.approx(t.get_last_lr())


@pytest.mark.parametrize(
    "name,kw",
    SCHEDULES[::2] + [("ReduceLROnPlateau", {"patience": 1})],
    ids=lambda v: str(v),
)
def test_state_dict_resumes_the_same_sequence(name, kw):
    _, opt = _pair()
    sched = getattr(dls, name)(opt, **kw)
    step = (
        (lambda s, i: s.step(1.0))
        if name == "ReduceLROnPlateau"
        else (lambda s, i: s.step())
    )
    for i in range(11):
        opt.step()
        step(sched, i)
    opt_sd, sched_sd = (
        copy.deepcopy(opt.state_dict()),
        copy.deepcopy(sched.state_dict()),
    )
    assert "optimizer" not in sched_sd
    expect = []
    for i in range(11, 30):
        opt.step()
        step(sched, i)
        expect.append(sched.get_last_lr())
    _, opt2 = _pair()
    opt2.load_state_dict(opt_sd)
    sched2 = getattr(dls, name)(opt2, **kw)
    sched2.load_state_dict(sched_sd)
    got = []
    for i in range(11, 30):
        opt2.step()
        step(sched2, i)
        got.append(sched2.get_last_lr())
    assert got == expect


def test_sequential_state_dict_round_trip():
    def make(o):
        return dls.SequentialLR(
            o,
            [dls.LinearLR(o, 0.1, total_iters=3), dls.ExponentialLR(o, 0.8)],
            milestones=[3],
        )

    _, opt = _pair()
    s = make(opt)
    for _ in range(2):
        s.step()
    sd, opt_sd = copy.deepcopy(s.state_dict()), copy.deepcopy(opt.state_dict())
    ref = [s.step() or s.get_last_lr() for _ in range(6)]  # crosses the milestone
    _, opt2 = _pair()
    s2 = make(opt2)
    opt2.load_state_dict(opt_sd)
    s2.load_state_dict(sd)
    assert [s2.step() or s2.get_last_lr() for _ in range(6)] == ref


def test_scheduler_errors():
    _, opt = _pair()
    with pytest.raises(TypeError, match="is not an Optimizer"):
        dls.StepLR(object(), 3)
    with pytest.raises(ValueError, match="Starting multiplicative factor"):
        dls.LinearLR(opt, start_factor=0)
    with pytest.raises(ValueError, match="Expected positive integer T_0"):
        dls.CosineAnnealingWarmRestarts(opt, T_0=0)
    with pytest.raises(ValueError, match="total_steps OR"):
        dls.OneCycleLR(opt, max_lr=0.1)
    with pytest.raises(ValueError, match="Factor should be < 1.0"):
        dls.ReduceLROnPlateau(opt, factor=1.0)
    with pytest.raises(ValueError, match="number of milestone points"):
        dls.SequentialLR(opt, [dls.StepLR(opt, 2)], milestones=[3])
    _, fresh = _pair()
    with pytest.raises(KeyError, match="initial_lr"):
        dls.StepLR(fresh, 3, last_epoch=4)
