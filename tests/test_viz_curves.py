"""dlcore.viz.curves: plot_history / plot_loss_curve / smooth, and the backend rules."""

import subprocess
import sys

import numpy as np
import pytest
from viz_check import check_image

import dlcore
from dlcore.train import History
from dlcore.viz import plot_history, plot_loss_curve, smooth


def _history(n=12, seed=0):
    rng = np.random.default_rng(seed)
    h = History()
    for e in range(n):
        h.log_epoch(e, loss=2.0 / (e + 1) + 0.05 * rng.random(), accuracy=0.5 + 0.04 * e,
                    val_loss=2.2 / (e + 1) + 0.1, val_accuracy=0.45 + 0.04 * e, lr=0.1 * 0.9**e)
    return h


def _line(fig, gid):
    lines = [ln for ax in fig.axes for ln in ax.lines if ln.get_gid() == gid]
    assert len(lines) == 1, f"expected one line {gid!r}, found {len(lines)}"
    return lines[0]


def test_history_facets_and_line_data(tmp_path):
    h = _history()
    fig = plot_history(h, tmp_path / "h.png")
    check_image(tmp_path / "h.png")
    assert [ax.get_title() for ax in fig.axes] == ["loss", "accuracy", "lr"]
    for name in ["loss", "val_loss", "accuracy", "val_accuracy", "lr"]:
        line = _line(fig, f"raw:{name}")
        np.testing.assert_array_equal(line.get_ydata(), h[name])
        np.testing.assert_array_equal(line.get_xdata(), np.array(h.epoch) + 1)  # epochs completed
    # Labels at the line ends instead of a legend, with the best value.
    loss_ax = fig.axes[0]
    assert loss_ax.get_legend() is None
    texts = [t.get_text() for t in loss_ax.texts]
    best = int(np.argmin(h["val_loss"]))
    assert any(t.startswith("validation") and f"@ {best + 1}" in t for t in texts), texts
    assert any(t.startswith("train") for t in texts)
    dot = _line(fig, "best:val_accuracy")  # accuracy: the maximum is best
    assert dot.get_ydata()[0] == max(h["val_accuracy"])
    assert "log" in fig.axes[2].get_yscale() or min(h["lr"]) * 100 > max(h["lr"])


def test_history_smoothing_draws_faded_raw_under_smoothed(tmp_path):
    h = _history()
    fig = plot_history(h, tmp_path / "s.svg", smoothing=0.7, metrics=["loss"])
    assert (tmp_path / "s.svg").read_text().lstrip().startswith("<?xml")
    raw, smoothed = _line(fig, "raw:loss"), _line(fig, "smooth:loss")
    np.testing.assert_array_equal(raw.get_ydata(), h["loss"])
    np.testing.assert_allclose(smoothed.get_ydata(), smooth(h["loss"], 0.7))
    assert raw.get_alpha() < 0.5 and (smoothed.get_alpha() or 1.0) == 1.0


def test_history_from_dicts_lists_and_trainer(tmp_path):
    fig = plot_history({"epoch": [5, 10, 15], "loss": [3.0, 2.0, 1.0]}, annotate=False)
    np.testing.assert_array_equal(_line(fig, "raw:loss").get_xdata(), [5, 10, 15])
    fig = plot_history([0.9, 0.5, 0.4])
    np.testing.assert_array_equal(_line(fig, "raw:loss").get_xdata(), [1, 2, 3])
    # a constant lr is not worth a facet
    fig = plot_history({"loss": [1.0, 0.5], "lr": [0.1, 0.1]})
    assert [ax.get_title() for ax in fig.axes] == ["loss"]
    # a real Trainer history
    X, y = dlcore.data.spiral(n_per_class=20, n_classes=2, seed=0)
    net = dlcore.nn.Sequential(dlcore.nn.Linear(2, 8), dlcore.nn.Tanh(), dlcore.nn.Linear(8, 2))
    loader = dlcore.data.DataLoader(dlcore.data.TensorDataset(X, y), batch_size=10)
    hist = dlcore.train.Trainer(net, dlcore.optim.SGD(net.parameters(), lr=0.1), dlcore.nn.CrossEntropyLoss(),
                                metrics=["accuracy"], progress_bar=False).fit(loader, val_loader=loader, epochs=3)
    fig = plot_history(hist, tmp_path / "t.png")
    check_image(tmp_path / "t.png")
    np.testing.assert_array_equal(_line(fig, "raw:val_loss").get_ydata(), hist["val_loss"])


def test_history_errors():
    with pytest.raises(ValueError, match="empty"):
        plot_history({})
    with pytest.raises(KeyError, match="no series"):
        plot_history({"loss": [1.0]}, metrics=["f1"])
    with pytest.raises(ValueError, match="weight"):
        smooth([1.0], 1.0)


def test_smooth():
    x = np.array([1.0, 3.0, np.nan, 2.0])
    np.testing.assert_array_equal(smooth(x, 0.0)[[0, 1, 3]], x[[0, 1, 3]])
    np.testing.assert_allclose(smooth(np.full(5, 4.0), 0.9), 4.0)  # bias-corrected: no pull towards 0
    s = smooth(x, 0.5)
    assert np.isnan(s[2]) and s[3] == pytest.approx((0.125 * 1 + 0.25 * 3 + 0.5 * 2) / (1 - 0.5**3))


def test_loss_curve_still_works(tmp_path):
    fig = plot_loss_curve({"train": [1.0, 0.5], "val": [1.2, 0.7]}, tmp_path / "c.png")
    check_image(tmp_path / "c.png")
    assert [ln.get_label() for ln in fig.axes[0].lines] == ["train", "val"]
    np.testing.assert_array_equal(fig.axes[0].lines[1].get_ydata(), [1.2, 0.7])


def _python(code):
    env = {k: v for k, v in __import__("os").environ.items() if k != "MPLBACKEND"}
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, env=env)


def test_agg_by_default_and_pyplot_sessions_keep_their_backend():
    proc = _python("import matplotlib, dlcore.viz; print(matplotlib.get_backend().lower())")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "agg"
    code = ("import matplotlib; matplotlib.use('svg'); import matplotlib.pyplot as plt; import dlcore.viz; "
            "dlcore.viz.plot_history([1.0, 0.5]); print(matplotlib.get_backend().lower(), plt.get_fignums())")
    proc = _python(code)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "svg []"  # backend untouched, no pyplot figures left open
