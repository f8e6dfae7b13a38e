"""dlcore.viz.tables (confusion matrix, parameter counts, LR schedule,
benchmark bars) and dlcore.viz.attention."""

import numpy as np
import pytest
from helpers import import_torch
from viz_check import check_image

import dlcore
import dlcore.nn as nn
from dlcore.viz import (param_counts, plot_attention, plot_benchmark, plot_confusion_matrix, plot_lr_schedule,
                        plot_param_counts)


def test_confusion_matrix_counts_and_normalisation(tmp_path):
    t = np.array([0, 0, 1, 1, 1, 2, 2, 2, 2])
    p = np.array([0, 1, 1, 1, 0, 2, 2, 1, 2])
    fig = plot_confusion_matrix(t, p, tmp_path / "cm.png", class_names=["cat", "dog", "bird"])
    check_image(tmp_path / "cm.png")
    expected = np.array([[1, 1, 0], [1, 2, 0], [0, 1, 3]])
    ax = fig.axes[0]
    np.testing.assert_array_equal(ax.images[0].get_array(), expected)
    assert sorted(int(x.get_text()) for x in ax.texts) == sorted(expected.ravel().tolist())
    assert "66.7%" in ax.get_title()
    assert [x.get_text() for x in ax.get_yticklabels()] == ["cat", "dog", "bird"]
    logits = np.eye(3)[p] * 5.0  # (N, C) logits are argmaxed
    fig = plot_confusion_matrix(dlcore.tensor(t), dlcore.tensor(logits), normalize="true")
    np.testing.assert_allclose(fig.axes[0].images[0].get_array().sum(1), 1.0)
    fig = plot_confusion_matrix(expected)  # a precomputed matrix
    np.testing.assert_array_equal(fig.axes[0].images[0].get_array(), expected)
    with pytest.raises(ValueError, match="normalize"):
        plot_confusion_matrix(t, p, normalize="rows")


def test_param_counts_per_layer_sorted_from_zero(tmp_path):
    shared = nn.Linear(8, 8)
    model = nn.Sequential(nn.Linear(2, 8), nn.ReLU(), shared, shared, nn.Linear(8, 100))
    counts = param_counts(model)
    assert counts == [("0", "Linear", 24), ("2", "Linear", 72), ("4", "Linear", 900)]  # shared counted once
    fig = plot_param_counts(model, tmp_path / "p.png")
    check_image(tmp_path / "p.png")
    ax = fig.axes[0]
    widths = [bar.get_width() for bar in ax.patches]
    assert widths == [900, 72, 24]  # largest first
    assert ax.get_xlim()[0] == 0
    assert "996" in ax.get_title()
    assert [t.get_text() for t in ax.get_yticklabels()] == ["4 (Linear)", "2 (Linear)", "0 (Linear)"]
    fig = plot_param_counts(model, top=2)
    assert [bar.get_width() for bar in fig.axes[0].patches] == [900, 96]


class HalveEvery:
    """A scheduler without state_dict: halves the lr every `every` steps."""

    def __init__(self, optimizer, every=3):
        self.optimizer, self.every, self.count = optimizer, every, 0

    def step(self):
        self.count += 1
        if self.count % self.every == 0:
            for g in self.optimizer.param_groups:
                g["lr"] /= 2


def test_lr_schedule_records_and_restores(tmp_path):
    opt = dlcore.optim.SGD(nn.Linear(2, 2).parameters(), lr=0.8)
    sched = HalveEvery(opt)
    fig = plot_lr_schedule(sched, 10, tmp_path / "lr.png")
    check_image(tmp_path / "lr.png")
    expected = [0.8] * 3 + [0.4] * 3 + [0.2] * 3 + [0.1]
    np.testing.assert_allclose(fig.axes[0].lines[0].get_ydata(), expected)
    assert sched.count == 0 and opt.param_groups[0]["lr"] == 0.8  # untouched
    with pytest.raises(ValueError, match="steps"):
        plot_lr_schedule(sched, 0)


def test_lr_schedule_of_torch_and_dlcore_schedulers():
    torch = import_torch()
    if torch is None:
        pytest.skip("torch not installed")
    p = torch.nn.Parameter(torch.zeros(2))
    opt = torch.optim.SGD([{"params": [p]}, {"params": [torch.nn.Parameter(torch.zeros(1))], "lr": 0.01}], lr=0.1,
                          momentum=0.9)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=[0.1, 0.01], total_steps=50)
    state = sched.state_dict()
    fig = plot_lr_schedule(sched, 50)
    assert sched.state_dict() == state and opt.param_groups[0]["momentum"] == pytest.approx(0.95)
    ref = []  # the same schedule, stepped for real
    opt2 = torch.optim.SGD([{"params": [p]}, {"params": [torch.nn.Parameter(torch.zeros(1))], "lr": 0.01}],
                           lr=0.1, momentum=0.9)
    sched2 = torch.optim.lr_scheduler.OneCycleLR(opt2, max_lr=[0.1, 0.01], total_steps=50)
    for _ in range(50):
        ref.append([g["lr"] for g in opt2.param_groups])
        opt2.step()
        sched2.step()
    ys = np.stack([ln.get_ydata() for ln in fig.axes[0].lines], axis=1)
    np.testing.assert_allclose(ys, ref, rtol=1e-12)
    plateau = torch.optim.lr_scheduler.ReduceLROnPlateau(opt)
    with pytest.raises(TypeError, match="metric"):
        plot_lr_schedule(plateau, 5)
    lr_scheduler = getattr(dlcore.optim, "lr_scheduler", None)
    if lr_scheduler is not None and hasattr(lr_scheduler, "StepLR"):
        dopt = dlcore.optim.SGD(nn.Linear(2, 2).parameters(), lr=1.0)
        step = lr_scheduler.StepLR(dopt, step_size=2, gamma=0.5)
        fig = plot_lr_schedule(step, 6)
        np.testing.assert_allclose(fig.axes[0].lines[0].get_ydata(), [1, 1, 0.5, 0.5, 0.25, 0.25])
        assert dopt.param_groups[0]["lr"] == 1.0 and step.last_epoch == 0


def _rows():
    return [
        {"case": "small", "dlcore_s": 2e-6, "torch_s": 6e-6, "threads": 2},
        {"case": "big", "dlcore_s": 3e-3, "torch_s": 1.5e-3, "threads": 2},
        {"case": "mid", "dlcore_s": 1e-4, "torch_s": 1e-4, "threads": 2},
    ]


def test_benchmark_bars(tmp_path):
    fig = plot_benchmark(_rows(), tmp_path / "b.png")  # times span > 10x: relative to torch
    check_image(tmp_path / "b.png")
    ax = fig.axes[0]
    assert [t.get_text() for t in ax.get_yticklabels()] == ["small", "mid", "big"]  # biggest speed-up first
    dl, th = ax.containers
    np.testing.assert_allclose([b.get_width() for b in dl], [1 / 3, 1.0, 2.0])
    np.testing.assert_allclose([b.get_width() for b in th], [1, 1, 1])
    assert ax.get_xlim()[0] == 0
    fig = plot_benchmark(_rows(), relative=False)
    ax = fig.axes[0]
    assert "ms" in ax.get_xlabel() and ax.get_xlim()[0] == 0
    np.testing.assert_allclose([b.get_width() for b in ax.containers[0]], [0.002, 0.1, 3.0])
    no_torch = [dict(r, torch_s=None) for r in _rows()]
    fig = plot_benchmark(no_torch)
    assert len(fig.axes[0].containers) == 1
    with pytest.raises(ValueError, match="no results"):
        plot_benchmark([])


def test_benchmark_of_real_bench_rows(tmp_path):
    from dlcore.bench import run

    rows = run(["add16_nograd"], repeat=1, min_time=0.001)
    fig = plot_benchmark(rows, tmp_path / "r.png")
    check_image(tmp_path / "r.png")
    assert fig.axes[0].get_xlim()[0] == 0


def test_attention_heads(tmp_path):
    rng = np.random.default_rng(0)
    w = rng.random((2, 3, 4, 4))
    w /= w.sum(-1, keepdims=True)
    tokens = ["<s>", "a", "cat", "sat"]
    fig = plot_attention(dlcore.tensor(w), tokens=tokens, path=tmp_path / "a.png", batch=1)
    check_image(tmp_path / "a.png")
    heads = [ax for ax in fig.axes if ax.images]
    assert [ax.get_title() for ax in heads] == ["head 0", "head 1", "head 2"]
    for h, ax in enumerate(heads):
        np.testing.assert_allclose(ax.images[0].get_array(), w[1, h])
        assert ax.images[0].get_clim() == (0.0, pytest.approx(w[1].max()))
    assert [t.get_text() for t in heads[0].get_xticklabels()] == tokens
    fig = plot_attention(w[0, 0][:3], tokens=tokens, query_tokens=tokens[:3])  # cross-attention, one head
    assert [t.get_text() for t in fig.axes[0].get_yticklabels()] == tokens[:3]
    with pytest.raises(ValueError, match="tokens"):
        plot_attention(w, tokens=tokens[:2])
    with pytest.raises(ValueError, match="2-D, 3-D or 4-D"):
        plot_attention(np.zeros(3))
