"""dlcore.viz.manifold (hidden representations, ManifoldRecorder, plot_manifold)
and dlcore.viz.boundary (plot_decision_boundary)."""

import numpy as np
import pytest
from viz_check import check_image

import dlcore
import dlcore.nn as nn
from dlcore.train import Trainer
from dlcore.viz import ManifoldRecorder, hidden_representation, pca_2d, plot_decision_boundary, plot_manifold


def _data(n=30):
    return dlcore.data.spiral(n_per_class=n, n_classes=3, seed=0)


def _net(width=2):
    dlcore.manual_seed(0)
    return nn.Sequential(nn.Linear(2, 16), nn.Tanh(), nn.Linear(16, width), nn.Tanh(), nn.Linear(width, 3))


def _offsets(ax):
    return np.asarray(ax.collections[0].get_offsets())


def test_hidden_representation_is_the_last_linear_layers_input():
    X, _ = _data()
    net = _net(width=4)
    with dlcore.no_grad():
        manual = net[3](net[2](net[1](net[0](X)))).numpy()
    np.testing.assert_allclose(hidden_representation(net, None, X), manual, rtol=1e-6)
    np.testing.assert_allclose(hidden_representation(net, net[2], X, which="output"),
                               net[2](net[1](net[0](X))).detach().numpy(), rtol=1e-6)
    assert not net[4]._forward_hooks  # the capture hook was removed


def test_pca_matches_numpy_svd():
    rng = np.random.default_rng(0)
    h = rng.normal(size=(200, 6)) @ rng.normal(size=(6, 6))
    pts, ratio = pca_2d(h)
    c = h - h.mean(0)
    _, s, vt = np.linalg.svd(c, full_matrices=False)
    np.testing.assert_allclose(np.abs(pts), np.abs(c @ vt[:2].T), rtol=1e-6, atol=1e-9)
    np.testing.assert_allclose(ratio, s[:2] ** 2 / np.sum(s**2), rtol=1e-6)
    assert ratio[0] >= ratio[1]
    two = rng.normal(size=(10, 2))
    np.testing.assert_array_equal(pca_2d(two)[0], two)  # 2-D is drawn as is


def test_recorder_in_a_trainer_and_plot(tmp_path):
    X, y = _data()
    net = _net(width=2)
    before = hidden_representation(net, None, X)
    rec = ManifoldRecorder(X, y, epochs=[0, 1, 4])
    loader = dlcore.data.DataLoader(dlcore.data.TensorDataset(X, y), batch_size=30, shuffle=True, seed=0)
    Trainer(net, dlcore.optim.SGD(net.parameters(), lr=0.2, momentum=0.9), nn.CrossEntropyLoss(),
            callbacks=[rec], progress_bar=False).fit(loader, epochs=4)
    assert sorted(rec.snapshots) == [0, 1, 4]
    np.testing.assert_array_equal(rec.snapshots[0], before)
    np.testing.assert_allclose(rec.snapshots[4], hidden_representation(net, None, X))
    assert not np.allclose(rec.snapshots[0], rec.snapshots[4])

    fig = plot_manifold(net, None, (X, y), path=tmp_path / "m.png", recorder=rec)
    check_image(tmp_path / "m.png")
    assert [ax.get_title() for ax in fig.axes] == ["epoch 0", "epoch 1", "epoch 4"]
    for ax, e in zip(fig.axes, [0, 1, 4]):  # 2 units wide: the raw representation is drawn
        np.testing.assert_allclose(_offsets(ax), rec.snapshots[e])
    fig = plot_manifold(net, None, (X, y), epochs=[4], recorder=rec)
    assert len(fig.axes) == 1
    with pytest.raises(KeyError, match="no snapshot"):
        plot_manifold(net, None, (X, y), epochs=[2], recorder=rec)


def test_plot_manifold_with_train_callback_and_pca(tmp_path):
    X, y = _data()
    net = _net(width=8)
    opt = dlcore.optim.SGD(net.parameters(), lr=0.2, momentum=0.9)
    done = []

    def train(n):
        done.append(n)
        for _ in range(n):
            loss = nn.functional.cross_entropy(net(X), y)
            opt.zero_grad()
            loss.backward()
            opt.step()

    fig = plot_manifold(net, net[4], (X, y), epochs=[0, 3, 10], train=train, path=tmp_path / "p.png")
    check_image(tmp_path / "p.png")
    assert done == [3, 7]  # trained up to each requested epoch in turn
    np.testing.assert_allclose(_offsets(fig.axes[-1]), pca_2d(hidden_representation(net, None, X))[0],
                               rtol=1e-5, atol=1e-6)
    assert "PC 1" in fig.axes[0].get_xlabel() and "%" in fig.axes[0].get_xlabel()


def test_decision_boundary(tmp_path):
    X, y = _data()
    net = _net()
    fig = plot_decision_boundary(net, X, y, tmp_path / "b.png", resolution=40)
    check_image(tmp_path / "b.png")
    with dlcore.no_grad():
        acc = float(np.mean(net(X).argmax(1).numpy() == y.numpy()))
    assert f"{acc:.1%}" in fig.axes[0].get_title()
    assert net.training
    with pytest.raises(ValueError, match=r"\(N, 2\)"):
        plot_decision_boundary(net, dlcore.zeros(4, 3), y[:4])
