"""dlcore.data.transforms: each batch transform against a plain per-image /
per-pixel NumPy reference (torchvision's formulas), on tensors and arrays;
mixup / CutMix and their loss; test-time augmentation."""

import colorsys
import math

import numpy as np
import pytest

import dlcore
import dlcore.data.transforms as T
import dlcore.nn as nn


def _img(n=4, c=3, h=6, w=5, seed=0):
    return np.random.default_rng(seed).random((n, c, h, w)).astype(np.float32)


# ---- plumbing: kinds, ranks, Compose, ToTensor, Normalize ----------------------

@pytest.mark.parametrize("tf", [T.RandomHorizontalFlip(1.0), T.RandomVerticalFlip(1.0), T.RandomCrop(4, padding=1),
                                T.RandomRotation(30), T.ColorJitter(0.3, 0.3, 0.3, 0.1), T.RandomErasing(1.0),
                                T.CenterCrop(3)], ids=lambda t: type(t).__name__)
def test_kinds_and_ranks_are_preserved(tf):
    x = _img()
    out = tf(x)
    assert isinstance(out, np.ndarray) and out.dtype == np.float32 and out.shape[:2] == (4, 3)
    out = tf(dlcore.tensor(x))
    assert isinstance(out, dlcore.Tensor) and out.dtype == dlcore.float32 and tuple(out.shape[:2]) == (4, 3)
    single = tf(x[0])
    assert single.ndim == 3 and single.shape[0] == 3
    with pytest.raises(ValueError, match="expected an image"):
        tf(np.zeros((3, 4)))


def test_random_transforms_are_reproducible_with_a_seed():
    x = _img(16)
    for make in (lambda g: T.RandomCrop(4, padding=2, generator=g), lambda g: T.RandomRotation(40, generator=g),
                 lambda g: T.ColorJitter(0.5, 0.5, 0.5, 0.2, generator=g), lambda g: T.RandomErasing(0.7, generator=g)):
        a, b = make(3)(x), make(3)(x)
        np.testing.assert_array_equal(a, b)
        t = make(3)
        assert not np.array_equal(t(x), t(x))  # a seeded transform still varies call to call
    dlcore.manual_seed(11)
    a = T.RandomHorizontalFlip()(x)
    dlcore.manual_seed(11)
    np.testing.assert_array_equal(a, T.RandomHorizontalFlip()(x))


def test_compose_lambda_repr():
    t = T.Compose([T.Lambda(lambda x: x * 2), T.Normalize([1.0], [2.0])])
    np.testing.assert_allclose(t(np.ones((1, 1, 2, 2), np.float32)), 0.5)
    assert "Normalize" in repr(t)
    with pytest.raises(TypeError):
        T.Lambda(3)


def test_to_tensor():
    hwc = np.random.default_rng(0).integers(0, 256, (5, 4, 3), dtype=np.uint8)
    x = T.ToTensor()(hwc)
    assert tuple(x.shape) == (3, 5, 4) and x.dtype == dlcore.float32
    np.testing.assert_allclose(x.numpy(), hwc.transpose(2, 0, 1) / 255.0, rtol=1e-6)
    assert tuple(T.ToTensor()(np.zeros((2, 5, 4, 3), np.uint8)).shape) == (2, 3, 5, 4)
    assert tuple(T.ToTensor()(np.zeros((5, 4), np.float64)).shape) == (1, 5, 4)
    t = dlcore.zeros(3, 2, 2)
    assert T.ToTensor()(t) is t


def test_normalize_numpy_and_tensor_with_grad():
    x = _img()
    mean, std = [0.1, 0.2, 0.3], [0.5, 1.0, 2.0]
    want = (x - np.array(mean)[:, None, None]) / np.array(std)[:, None, None]
    np.testing.assert_allclose(T.Normalize(mean, std)(x), want, rtol=1e-6)
    xt = dlcore.tensor(x, requires_grad=True)
    out = T.Normalize(mean, std)(xt)
    np.testing.assert_allclose(out.detach().numpy(), want, rtol=1e-5, atol=1e-7)
    out.sum().backward()
    np.testing.assert_allclose(xt.grad.numpy()[0, :, 0, 0], 1 / np.array(std), rtol=1e-6)
    with pytest.raises(ValueError, match="division by zero"):
        T.Normalize([0.0], [0.0])
    with pytest.raises(ValueError, match="means"):
        T.Normalize([0.0, 0.0], [1.0, 1.0])(x)


# ---- geometric -------------------------------------------------------------------

def test_flips():
    x = _img(64)
    out = T.RandomHorizontalFlip(0.5, generator=0)(x)
    flipped = np.array([np.array_equal(o, i[..., ::-1]) for o, i in zip(out, x)])
    kept = np.array([np.array_equal(o, i) for o, i in zip(out, x)])
    assert (flipped ^ kept).all() and 15 < flipped.sum() < 49
    np.testing.assert_array_equal(T.RandomHorizontalFlip(0.0)(x), x)
    np.testing.assert_array_equal(T.RandomVerticalFlip(1.0)(x), x[..., ::-1, :])
    xt = dlcore.tensor(x, requires_grad=True)
    T.hflip(xt).sum().backward()  # differentiable on tensors
    np.testing.assert_array_equal(T.hflip(xt).detach().numpy(), x[..., ::-1])
    with pytest.raises(ValueError):
        T.RandomHorizontalFlip(1.5)


@pytest.mark.parametrize("mode", ["constant", "edge", "reflect", "symmetric"])
def test_random_crop_is_a_window_of_the_padded_image(mode):
    n, c, h, w = 32, 2, 6, 7
    x = np.arange(n * c * h * w, dtype=np.float64).reshape(n, c, h, w)
    out = T.RandomCrop((5, 6), padding=(1, 2, 3, 0), padding_mode=mode, fill=-1, generator=0)(x)
    kw = {"constant_values": -1} if mode == "constant" else {}
    padded = np.pad(x, ((0, 0), (0, 0), (2, 0), (1, 3)), mode=mode, **kw)
    offsets = set()
    for i in range(n):
        hits = [(a, b) for a in range(padded.shape[2] - 4) for b in range(padded.shape[3] - 5)
                if np.array_equal(out[i], padded[i, :, a : a + 5, b : b + 6])]
        assert hits, f"sample {i} is not a window of its padded image"
        offsets.add(hits[0])
    assert len(offsets) > 5  # offsets vary per sample


def test_random_crop_sizes_and_errors():
    x = _img(2, 3, 4, 4)
    np.testing.assert_array_equal(T.RandomCrop(4)(x), x)
    assert T.RandomCrop(6, pad_if_needed=True)(x).shape == (2, 3, 6, 6)
    with pytest.raises(ValueError, match="larger than"):
        T.RandomCrop(5)(x)
    with pytest.raises(ValueError, match="padding_mode"):
        T.RandomCrop(2, padding_mode="wrap")
    with pytest.raises(ValueError, match="Padding"):
        T.RandomCrop(2, padding=(1, 2, 3))
    np.testing.assert_array_equal(T.CenterCrop((2, 3))(x), x[..., 1:3, 0:3])


@pytest.mark.parametrize("k", [1, 2, 3])
@pytest.mark.parametrize("interpolation", ["nearest", "bilinear"])
def test_rotate_quarter_turns_are_exact(k, interpolation):
    x = _img(2, 3, 5, 5)
    np.testing.assert_allclose(T.rotate(x, 90 * k, interpolation), np.rot90(x, k, axes=(2, 3)), atol=1e-6)
    np.testing.assert_allclose(T.rotate(x, 0, interpolation), x, atol=1e-7)


def _rotate_reference(img, deg, fill):
    """Per-pixel nearest-neighbour reference: visual counter-clockwise turn about the centre."""
    c, h, w = img.shape
    out = np.empty_like(img)
    t = math.radians(deg)
    cx, cy = (w - 1) / 2, (h - 1) / 2
    for i in range(h):
        for j in range(w):
            dx, dy = j - cx, i - cy
            sx = math.cos(t) * dx - math.sin(t) * dy + cx
            sy = math.sin(t) * dx + math.cos(t) * dy + cy
            xi, yi = math.floor(sx + 0.5), math.floor(sy + 0.5)
            out[:, i, j] = img[:, yi, xi] if 0 <= xi < w and 0 <= yi < h else fill
    return out


def test_rotate_matches_per_pixel_reference_and_direction():
    x = _img(3, 2, 7, 9)
    angles = [30.0, -45.0, 123.0]
    got = T.rotate(x, angles, fill=0.5)
    for i, a in enumerate(angles):
        np.testing.assert_allclose(got[i], _rotate_reference(x[i], a, 0.5))
    # counter-clockwise: a dot right of centre moves above it
    img = np.zeros((1, 5, 5))
    img[0, 2, 4] = 1.0
    assert T.rotate(img, 90)[0, 0, 2] == 1.0
    out = T.RandomRotation((10, 20), generator=0)(x)
    assert out.shape == x.shape
    with pytest.raises(ValueError):
        T.RandomRotation(-5)
    with pytest.raises(NotImplementedError):
        T.RandomRotation(5, expand=True)


# ---- photometric -----------------------------------------------------------------

def _gray(img):
    return 0.2989 * img[0] + 0.587 * img[1] + 0.114 * img[2]


def test_adjust_functions_match_reference():
    x = _img(3, 3, 4, 5).astype(np.float64)
    f = np.array([0.5, 1.0, 1.7])
    for i in range(3):
        np.testing.assert_allclose(T.adjust_brightness(x, f)[i], np.clip(x[i] * f[i], 0, 1))
        m = _gray(x[i]).mean()
        np.testing.assert_allclose(T.adjust_contrast(x, f)[i], np.clip(f[i] * x[i] + (1 - f[i]) * m, 0, 1))
        g = _gray(x[i])[None]
        np.testing.assert_allclose(T.adjust_saturation(x, f)[i], np.clip(f[i] * x[i] + (1 - f[i]) * g, 0, 1))
    shifts = np.array([-0.3, 0.0, 0.45])
    got = T.adjust_hue(x, shifts)
    for i in range(3):
        for r in range(4):
            for c in range(5):
                hh, s, v = colorsys.rgb_to_hsv(*x[i, :, r, c])
                want = colorsys.hsv_to_rgb((hh + shifts[i]) % 1.0, s, v)
                np.testing.assert_allclose(got[i, :, r, c], want, atol=1e-9)
    grey = np.full((1, 3, 2, 2), 0.4)
    np.testing.assert_allclose(T.adjust_hue(grey, [0.3]), grey)  # no hue to rotate
    np.testing.assert_allclose(T.adjust_brightness(x[:, :1], [2.0, 2.0, 2.0]), np.clip(2 * x[:, :1], 0, 1))


def test_color_jitter():
    x = _img(64) * 0.5  # headroom: brightness stays unclipped
    out = T.ColorJitter(brightness=0.5, generator=0)(x)
    ratio = out.reshape(64, -1) / x.reshape(64, -1)
    assert np.allclose(ratio, ratio[:, :1], rtol=1e-4)  # one factor per image
    assert ratio[:, 0].min() >= 0.5 - 1e-6 and ratio[:, 0].max() <= 1.5 + 1e-6 and ratio[:, 0].std() > 0.1
    np.testing.assert_allclose(T.ColorJitter()(x), x, rtol=1e-6)
    y = T.ColorJitter(0.8, 0.8, 0.8, 0.5, generator=1)(_img(8))
    assert y.min() >= 0 and y.max() <= 1
    with pytest.raises(ValueError):
        T.ColorJitter(hue=0.7)
    with pytest.raises(ValueError):
        T.ColorJitter(brightness=-1)
    with pytest.raises(TypeError, match="float"):
        T.ColorJitter(0.1)(np.zeros((1, 3, 2, 2), np.int64))


def test_random_erasing():
    x = np.ones((200, 3, 20, 30), np.float32)
    out = T.RandomErasing(p=1.0, scale=(0.05, 0.2), ratio=(0.5, 2.0), value=(0.0, 0.5, 0.25), generator=0)(x)
    erased = out[:, 0] == 0.0  # (N, H, W)
    assert erased.any(axis=(1, 2)).all()
    for i in range(200):
        rows, cols = np.nonzero(erased[i])
        h, w = np.ptp(rows) + 1, np.ptp(cols) + 1
        assert erased[i].sum() == h * w  # one solid rectangle
        assert 0.03 <= h * w / 600 <= 0.23 and 0.3 <= h / w <= 3.5
        np.testing.assert_array_equal(out[i, 1][erased[i]], 0.5)
    np.testing.assert_array_equal(T.RandomErasing(p=0.0)(x), x)
    some = T.RandomErasing(p=0.5, generator=0)(x)
    frac = (some != 1).any(axis=(1, 2, 3)).mean()
    assert 0.35 < frac < 0.65
    noisy = T.RandomErasing(p=1.0, value="random", generator=0)(x)
    assert (noisy != 1).any()
    with pytest.raises(ValueError):
        T.RandomErasing(value="blue")
    with pytest.raises(ValueError):
        T.RandomErasing(scale=(0.5, 0.1))


# ---- mixup / CutMix ----------------------------------------------------------------

def test_mixup_functional():
    x = dlcore.tensor(_img(8))
    y = dlcore.arange(8)
    xm, ya, yb, lam = T.mixup(x, y, alpha=0.4, generator=0)
    perm = yb.numpy()
    assert sorted(perm.tolist()) == list(range(8)) and ya is y
    np.testing.assert_allclose(xm.numpy(), lam * x.numpy() + (1 - lam) * x.numpy()[perm], rtol=1e-6)
    xm, _, _, lam = T.mixup(x.numpy(), y.numpy(), alpha=0.0, generator=0)
    assert lam == 1.0 and np.array_equal(xm, x.numpy())


def test_cutmix_functional():
    x = np.arange(16 * 3 * 10 * 12, dtype=np.float32).reshape(16, 3, 10, 12)  # all values distinct
    for seed in range(5):
        xm, _, yb, lam = T.cutmix(x, np.arange(16), alpha=1.0, generator=seed)
        kept = (xm == x).all(axis=1)  # (N, H, W)
        from_partner = (xm == x[yb]).all(axis=1)
        moved = yb != np.arange(16)
        assert (kept | from_partner).all()
        np.testing.assert_allclose(kept[moved].mean(axis=(1, 2)), lam)
    xt = dlcore.tensor(x)
    xm, _, _, lam = T.cutmix(xt, dlcore.arange(16), generator=1)
    assert isinstance(xm, dlcore.Tensor) and 0 <= lam <= 1
    with pytest.raises(ValueError, match="images"):
        T.cutmix(dlcore.zeros(4, 3), dlcore.arange(4))


@pytest.mark.parametrize("cls", [T.MixUp, T.CutMix])
def test_mixers_soft_targets_and_loss_identity(cls):
    x, y = dlcore.tensor(_img(6, 3, 8, 8)), dlcore.tensor([0, 1, 2, 3, 4, 0])
    xm, soft = cls(num_classes=5, generator=0)(x, y)
    s = soft.numpy()
    assert s.shape == (6, 5) and np.allclose(s.sum(1), 1) and (s >= 0).all()
    # cross-entropy is linear in the target: CE(out, soft) == mixed_loss on the hard labels
    out = dlcore.randn(6, 5)
    rng = np.random.default_rng(0)
    lam = float(rng.beta(1.0, 1.0))
    ce = nn.CrossEntropyLoss()
    a, b = dlcore.tensor([0, 1, 2, 3, 4, 0]), dlcore.tensor([1, 1, 0, 2, 3, 4])
    mixed_soft = dlcore.tensor(lam * np.eye(5)[a.numpy()] + (1 - lam) * np.eye(5)[b.numpy()], dtype=dlcore.float32)
    np.testing.assert_allclose(T.mixed_loss(ce, out, a, b, lam).item(), ce(out, mixed_soft).item(), rtol=1e-5)
    with pytest.raises(ValueError):
        cls(num_classes=3)(x, y)  # label 4 out of range
    with pytest.raises(ValueError):
        cls(alpha=0.0, num_classes=3)


def test_mixup_training_step_backpropagates():
    dlcore.manual_seed(0)
    model = nn.Sequential(nn.Flatten(), nn.Linear(3 * 8 * 8, 4))
    x, y = dlcore.tensor(_img(8, 3, 8, 8)), dlcore.tensor([0, 1, 2, 3] * 2)
    xm, ya, yb, lam = T.mixup(x, y, generator=0)
    T.mixed_loss(nn.CrossEntropyLoss(), model(xm), ya, yb, lam).backward()
    assert all(p.grad is not None for p in model.parameters())


# ---- test-time augmentation -------------------------------------------------------

def test_tta_predict():
    dlcore.manual_seed(0)
    model = nn.Sequential(nn.Flatten(), nn.Linear(2 * 4 * 4, 3)).eval()
    x = dlcore.tensor(_img(5, 2, 4, 4))
    plain = model(x).softmax(1).detach().numpy()
    np.testing.assert_allclose(T.tta_predict(model, x, views=["identity"]).numpy(), plain, rtol=1e-6)
    flipped = model(T.hflip(x)).softmax(1).detach().numpy()
    np.testing.assert_allclose(T.tta_predict(model, x).numpy(), (plain + flipped) / 2, rtol=1e-5)
    np.testing.assert_allclose(T.tta_predict(model, x, reduce="max").numpy(), np.maximum(plain, flipped), rtol=1e-6)
    logits = T.tta_predict(model, x, views=[lambda v: v, T.vflip], activation=None)
    assert tuple(logits.shape) == (5, 3) and not logits.requires_grad
    with pytest.raises(ValueError, match="unknown view"):
        T.tta_predict(model, x, views=["rot45"])
    with pytest.raises(ValueError, match="reduce"):
        T.tta_predict(model, x, reduce="median")


# ---- noise-injection layers (train-only regularizers) --------------------------------

def test_gaussian_noise_layer():
    dlcore.manual_seed(0)
    layer = nn.GaussianNoise(std=0.3)
    x = dlcore.zeros(200_000, requires_grad=True)
    y = layer(x)
    noise = y.detach().numpy()
    assert abs(noise.mean()) < 6 * 0.3 / math.sqrt(2e5) and abs(noise.std() - 0.3) < 0.005
    y.sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), 1.0)  # identity gradient
    layer.eval()
    assert layer(x) is x
    rel = nn.GaussianNoise(std=0.1, relative=True)
    big = dlcore.full((100_000,), 10.0)
    assert abs((rel(big) - big).numpy().std() - 1.0) < 0.02
    assert rel(dlcore.zeros(5)).abs().sum().item() == 0.0
    assert "std=0.1" in repr(rel)
    with pytest.raises(ValueError):
        nn.GaussianNoise(std=-1.0)


def test_gaussian_dropout_layer():
    dlcore.manual_seed(0)
    layer = nn.GaussianDropout(p=0.5)  # multiplier ~ N(1, 1)
    x = dlcore.ones(200_000, requires_grad=True)
    y = layer(x)
    m = y.detach().numpy()
    assert abs(m.mean() - 1.0) < 0.02 and abs(m.std() - 1.0) < 0.02
    y.sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), m)  # d(x * eps)/dx = eps
    assert layer.eval()(x) is x
    with pytest.raises(ValueError):
        nn.GaussianDropout(p=1.0)
