"""dlcore.viz.cnn: filters, feature maps and Grad-CAM, on a small CNN whose
3x3 convolution is built from shifted slices and matmuls (so these tests run
before nn.Conv2d exists; the same calls work with nn.Conv2d)."""

import numpy as np
import pytest
from helpers import import_torch
from viz_check import check_image

import dlcore
import dlcore.nn as nn
from dlcore.viz import feature_maps, grad_cam, plot_feature_maps, plot_filters, plot_grad_cam, resize_bilinear


class SliceConv(nn.Module):
    """A real 3x3 'valid' convolution: sum over the 9 taps of shifted slices @ weight[:, :, i, j].T."""

    def __init__(self, cin, cout, k=3):
        super().__init__()
        self.k = k
        self.weight = nn.Parameter(dlcore.randn(cout, cin, k, k) * (1.0 / (cin * k * k) ** 0.5))
        self.bias = nn.Parameter(dlcore.zeros(cout))

    def forward(self, x):  # (N, C, H, W) -> (N, O, H-k+1, W-k+1)
        _, _, h, w = x.shape
        ho, wo = h - self.k + 1, w - self.k + 1
        out = None
        for i in range(self.k):
            for j in range(self.k):
                patch = x[:, :, i : i + ho, j : j + wo].permute(0, 2, 3, 1)  # (N, ho, wo, C)
                term = patch.matmul(self.weight[:, :, i, j].t())  # (N, ho, wo, O)
                out = term if out is None else out + term
        return (out + self.bias).permute(0, 3, 1, 2)


class GlobalAvgPool(nn.Module):
    def forward(self, x):
        return x.mean((2, 3))


class SmallCNN(nn.Module):
    def __init__(self, conv=SliceConv):
        super().__init__()
        self.conv1, self.act1 = conv(3, 6, 3), nn.ReLU()
        self.conv2, self.act2 = conv(6, 5, 3), nn.ReLU()
        self.pool, self.fc = GlobalAvgPool(), nn.Linear(5, 4)

    def forward(self, x):
        return self.fc(self.pool(self.act2(self.conv2(self.act1(self.conv1(x))))))


@pytest.fixture
def cnn():
    dlcore.manual_seed(0)
    return SmallCNN(), dlcore.randn(3, 12, 10)


def test_forward_hook_handles():
    lin = nn.Linear(2, 2)
    seen = []
    handle = lin.register_forward_hook(lambda m, args, out: seen.append((m, args[0].shape)))
    replace = lin.register_forward_hook(lambda m, args, out: out * 0)
    out = lin(dlcore.ones(3, 2))
    assert seen == [(lin, (3, 2))] and float(out.abs().sum().item()) == 0.0  # a returned value replaces the output
    handle.remove()
    replace.remove()
    handle.remove()  # removing twice is harmless
    assert float(lin(dlcore.ones(1, 2)).abs().sum().item()) > 0 and len(seen) == 1
    with lin.register_forward_hook(lambda m, a, o: seen.append(1)):
        lin(dlcore.ones(1, 2))
    lin(dlcore.ones(1, 2))
    assert len(seen) == 2


def test_resize_bilinear_matches_torch():
    a = np.random.default_rng(0).random((5, 7))
    np.testing.assert_array_equal(resize_bilinear(a, (5, 7)), a)
    torch = import_torch()
    if torch is None:
        pytest.skip("torch not installed")
    for size in [(12, 10), (9, 20), (3, 4)]:
        ref = torch.nn.functional.interpolate(torch.tensor(a)[None, None], size=size, mode="bilinear",
                                              align_corners=False)[0, 0].numpy()
        np.testing.assert_allclose(resize_bilinear(a, size), ref, rtol=1e-12, atol=1e-12)


def test_grad_cam_equals_closed_form_cam(cnn, tmp_path):
    model, image = cnn
    cam = grad_cam(model, model.act2, image, class_idx=2)
    assert cam.shape == (12, 10)  # the input's spatial size
    assert cam.min() >= 0 and cam.max() == pytest.approx(1.0)
    # With global average pooling then Linear, dscore/dA_k(i,j) = W[c, k] / (h w), so Grad-CAM is
    # CAM (Zhou et al., 2016): ReLU(sum_k W[c, k] A_k), here checked independently of autograd.
    with dlcore.no_grad():
        acts = model.act2(model.conv2(model.act1(model.conv1(image.unsqueeze(0))))).numpy()[0]
    w = model.fc.weight.detach().numpy()[2]
    ref = resize_bilinear(np.maximum(np.tensordot(w, acts, axes=1), 0), (12, 10))
    np.testing.assert_allclose(cam, ref / ref.max(), rtol=1e-5, atol=1e-6)
    # default class = the prediction; nothing about the model changed
    with dlcore.no_grad():
        pred = int(model(image.unsqueeze(0)).argmax(1).item())
    np.testing.assert_allclose(grad_cam(model, model.act2, image.numpy()), grad_cam(model, model.act2, image, pred))
    assert all(p.grad is None for p in model.parameters()) and model.training
    assert not model.act2._forward_hooks
    assert grad_cam(model, model.act2, image, 0, size=(3, 3)).shape == (3, 3)


def test_grad_cam_errors(cnn):
    model, image = cnn
    with pytest.raises(ValueError, match=r"\(N, C, H, W\)"):
        grad_cam(model, model.pool, image)
    with pytest.raises(IndexError, match="class_idx"):
        grad_cam(model, model.act2, image, class_idx=9)
    with pytest.raises(ValueError, match="one image"):
        grad_cam(model, model.act2, dlcore.randn(2, 3, 12, 10))


def test_plot_grad_cam(cnn, tmp_path):
    model, image = cnn
    fig = plot_grad_cam(model, model.act2, image, 1, tmp_path / "g.png", class_names=list("abcd"))
    check_image(tmp_path / "g.png")
    np.testing.assert_allclose(fig.axes[1].images[0].get_array(), grad_cam(model, model.act2, image, 1))
    assert fig.axes[2].images[1].get_alpha() == 0.5 and "b" in fig._suptitle.get_text()


def test_plot_filters(cnn, tmp_path):
    model, _ = cnn
    fig = plot_filters(model.conv1, tmp_path / "f.png")  # 3 input channels: RGB
    check_image(tmp_path / "f.png")
    w = model.conv1.weight.detach().numpy().astype(np.float64)
    scaled = (w - w.min()) / (w.max() - w.min())
    for i in range(6):
        np.testing.assert_allclose(fig.axes[i].images[0].get_array(), np.moveaxis(scaled[i], 0, -1), rtol=1e-6)
    fig = plot_filters(model.conv2, tmp_path / "f2.png", max_filters=4)  # 6 input channels: mean, signed
    check_image(tmp_path / "f2.png", min_size=60)
    w2 = model.conv2.weight.detach().numpy().astype(np.float64)
    images = [ax.images[0] for ax in fig.axes if ax.images]
    assert len(images) == 4
    np.testing.assert_allclose(images[3].get_array(), w2[3].mean(0), rtol=1e-6)
    lo, hi = images[0].get_clim()
    assert lo == -hi  # diverging scale centred on zero
    with pytest.raises(ValueError, match="4-D"):
        plot_filters(nn.Linear(3, 3))


def test_feature_maps(cnn, tmp_path):
    model, image = cnn
    maps = feature_maps(model, model.act1, image)
    with dlcore.no_grad():
        ref = model.conv1(image.unsqueeze(0)).relu().numpy()[0]
    np.testing.assert_allclose(maps, ref, rtol=1e-6)
    fig = plot_feature_maps(model, model.act1, image, tmp_path / "fm.png")
    check_image(tmp_path / "fm.png")
    images = [ax.images[0] for ax in fig.axes if ax.images]
    assert len(images) == 6 and "act1" in fig._suptitle.get_text()
    for c, im in enumerate(images):
        np.testing.assert_allclose(im.get_array(), maps[c])
        assert im.get_clim() == images[0].get_clim()  # one shared colour scale


def test_with_nn_conv2d_when_available(tmp_path):
    if not hasattr(nn, "Conv2d"):
        pytest.skip("nn.Conv2d is not in this build yet")
    dlcore.manual_seed(0)
    model = SmallCNN(conv=lambda cin, cout, k: nn.Conv2d(cin, cout, k))
    image = dlcore.randn(3, 12, 10)
    cam = grad_cam(model, model.act2, image, 1)
    assert cam.shape == (12, 10) and cam.min() >= 0
    plot_filters(model.conv1, tmp_path / "f.png")
    plot_feature_maps(model, model.conv2, image, tmp_path / "m.png")
    check_image(tmp_path / "f.png", min_size=60)
    check_image(tmp_path / "m.png")
