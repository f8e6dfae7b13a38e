"""dlcore.viz.landscape: filter-normalised directions, 1-D / 2-D loss landscapes,
exact parameter restoration."""

import copy

import numpy as np
import pytest
from viz_check import check_image

import dlcore
import dlcore.nn as nn
import dlcore.nn.functional as F
from dlcore.viz import loss_interpolation, loss_surface, plot_loss_landscape, random_direction


class ConvWeight(nn.Module):
    """Holds a 4-D (out, in, kh, kw) weight like a convolution, used as a scale."""

    def __init__(self):
        super().__init__()
        self.weight = nn.Parameter(dlcore.randn(4, 2, 3, 3))

    def forward(self, x):
        return x * self.weight.sum()


def _setup(n=200, seed=0):
    dlcore.manual_seed(seed)
    X, y = dlcore.data.spiral(n_per_class=n // 2, n_classes=2, seed=seed)
    model = nn.Sequential(nn.Linear(2, 16), nn.Tanh(), nn.Linear(16, 2))
    opt = dlcore.optim.SGD(model.parameters(), lr=0.5, momentum=0.9)
    for _ in range(30):
        loss = F.cross_entropy(model(X), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
    return model, X, y


def _snapshot(model):
    return [(p, p.detach().numpy().copy()) for p in model.parameters()]


def _assert_restored(snap, model):
    params = list(model.parameters())
    assert all(a is b for (a, _), b in zip(snap, params)), "parameter objects were replaced"
    for (p, saved) in snap:
        now = p.detach().numpy()
        assert now.dtype == saved.dtype and now.tobytes() == saved.tobytes(), "parameters not restored bit-exactly"


@pytest.mark.parametrize("ignore_1d", [True, False])
def test_filter_normalisation_matches_weight_norms(ignore_1d):
    dlcore.manual_seed(1)
    model = nn.Sequential(nn.Linear(5, 7), ConvWeight())
    dirs = random_direction(model, seed=3, ignore_1d=ignore_1d)
    for (name, p), d in zip(model.named_parameters(), dirs):
        w, dn = p.detach().numpy().astype(np.float64), d.numpy().astype(np.float64)
        assert d.shape == p.shape and d.dtype == p.dtype
        if w.ndim == 1:
            np.testing.assert_array_equal(dn, 0 if ignore_1d else w, err_msg=name)
        else:  # every filter (row / output channel) of d has its weight's norm
            np.testing.assert_allclose(np.linalg.norm(dn.reshape(len(dn), -1), axis=1),
                                       np.linalg.norm(w.reshape(len(w), -1), axis=1), rtol=1e-5, err_msg=name)
            assert not np.allclose(dn, w)  # a random direction, not the weights
    again = random_direction(model, seed=3, ignore_1d=ignore_1d)
    assert all(np.array_equal(a.numpy(), b.numpy()) for a, b in zip(dirs, again))  # seeded


def test_surface_centre_is_the_model_and_parameters_are_restored():
    model, X, y = _setup()
    snap = _snapshot(model)
    with dlcore.no_grad():
        expected = F.cross_entropy(model(X), y).item()
    surf = loss_surface(model, F.cross_entropy, (X, y), resolution=11, span=0.5, seed=0)
    _assert_restored(snap, model)
    assert surf.losses.shape == (11, 11) and surf.alphas[5] == 0 and surf.betas[5] == 0
    assert surf.center_loss == expected
    assert surf.losses[5, 5] == expected  # grid centre equals the loss at the minimum, exactly
    assert surf.losses.std() > 0
    # an off-centre point equals an independent evaluation at theta + a d1 + b d2
    j, i = 2, 9
    a, b = surf.alphas[i], surf.betas[j]
    other = copy.deepcopy(model)
    with dlcore.no_grad():
        for p, d1, d2 in zip(other.parameters(), *surf.directions):
            p.copy_(p + d1 * float(a) + d2 * float(b))
        manual = F.cross_entropy(other(X), y).item()
    assert surf.losses[j, i] == pytest.approx(manual, rel=1e-5)


def test_restores_mode_grads_and_parameters_even_when_the_loss_fails():
    model, X, y = _setup()
    F.cross_entropy(model(X), y).backward()
    grads = [p.grad.numpy().copy() for p in model.parameters()]
    snap = _snapshot(model)
    calls = []

    def flaky(out, target):
        calls.append(1)
        if len(calls) == 7:
            raise RuntimeError("boom")
        return F.cross_entropy(out, target)

    with pytest.raises(RuntimeError, match="boom"):
        loss_surface(model, flaky, (X, y), resolution=5)
    _assert_restored(snap, model)
    assert model.training
    assert all(np.array_equal(p.grad.numpy(), g) for p, g in zip(model.parameters(), grads))


def test_batched_data_gives_the_sample_weighted_mean():
    model, X, y = _setup()
    full = loss_surface(model, F.cross_entropy, (X, y), resolution=3, seed=1)
    chunked = loss_surface(model, F.cross_entropy, (X, y), resolution=3, seed=1, batch_size=64)
    loader = dlcore.data.DataLoader(dlcore.data.TensorDataset(X, y), batch_size=50)
    batches = loss_surface(model, F.cross_entropy, loader, resolution=3, seed=1)
    np.testing.assert_allclose(chunked.losses, full.losses, rtol=1e-5)
    np.testing.assert_allclose(batches.losses, full.losses, rtol=1e-5)


def test_interpolation_endpoints():
    dlcore.manual_seed(0)
    model, X, y = _setup()
    start = nn.Sequential(nn.Linear(2, 16), nn.Tanh(), nn.Linear(16, 2))
    snap = _snapshot(model)
    alphas, losses = loss_interpolation(model, F.cross_entropy, (X, y), start.state_dict(), alphas=[0.0, 0.5, 1.0])
    _assert_restored(snap, model)
    with dlcore.no_grad():
        assert losses[0] == F.cross_entropy(start(X), y).item()
        assert losses[2] == F.cross_entropy(model(X), y).item()
    with pytest.raises(ValueError, match="shape"):
        loss_interpolation(model, F.cross_entropy, (X, y), [dlcore.zeros(3)] * 4)


def test_plot_landscape_panels_and_data(tmp_path):
    model, X, y = _setup()
    init = nn.Sequential(nn.Linear(2, 16), nn.Tanh(), nn.Linear(16, 2))
    snap = _snapshot(model)
    interp = loss_interpolation(model, F.cross_entropy, (X, y), init)
    surf = loss_surface(model, F.cross_entropy, (X, y), resolution=9)
    fig = plot_loss_landscape(model, F.cross_entropy, (X, y), tmp_path / "l.png", surface=surf,
                              interpolation=interp, log=False)
    check_image(tmp_path / "l.png")
    line_ax, contour_ax, surface_ax = fig.axes[0], fig.axes[1], fig.axes[-1]
    line = [ln for ln in line_ax.lines if ln.get_gid() == "interpolation"][0]
    np.testing.assert_array_equal(line.get_xdata(), interp[0])
    np.testing.assert_array_equal(line.get_ydata(), interp[1])
    star = [ln for ln in contour_ax.lines if ln.get_gid() == "minimum"][0]
    assert list(star.get_xdata()) == [0] and list(star.get_ydata()) == [0]
    levels = contour_ax.collections[0].levels  # the filled contour's levels span the grid's losses
    assert levels[0] == pytest.approx(surf.losses.min()) and levels[-1] == pytest.approx(surf.losses.max())
    assert surface_ax.name == "3d"
    # computing it inside the call restores the parameters too
    fig = plot_loss_landscape(model, F.cross_entropy, (X, y), tmp_path / "c.svg", kind="contour", resolution=5)
    _assert_restored(snap, model)
    assert len([ax for ax in fig.axes if ax.get_label() != "<colorbar>"]) == 1
    with pytest.raises(ValueError, match="kind"):
        plot_loss_landscape(model, F.cross_entropy, (X, y), kind="wire")
