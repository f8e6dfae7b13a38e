"""dlcore.data beyond the basics: prefetching DataLoader, samplers, splits
(random_split, KFold, StratifiedKFold, bootstrap), bundled datasets including
"colored digits", and the MNIST / CIFAR-10 readers on small files made here."""

import gzip
import hashlib
import io
import math
import tarfile
import threading

import numpy as np
import pytest
from helpers import import_torch, to_numpy

import dlcore
import dlcore.data as data
import dlcore.data.transforms as T

torch = import_torch()
import torch.utils.data as tdata  # noqa: E402


def _ds(n=50, d=3):
    x = np.arange(n * d, dtype=np.float32).reshape(n, d)
    return data.TensorDataset(dlcore.tensor(x), dlcore.arange(n))


def _collect(loader):
    return [[to_numpy(t) for t in batch] for batch in loader]


# ---- DataLoader: prefetch threads, samplers ---------------------------------------

@pytest.mark.parametrize("workers", [1, 3])
def test_prefetch_gives_identical_batches(workers):
    ds = _ds(53)
    a = _collect(data.DataLoader(ds, batch_size=8, shuffle=True, seed=4))
    b = _collect(data.DataLoader(ds, batch_size=8, shuffle=True, seed=4, num_workers=workers, prefetch_factor=3))
    assert len(a) == len(b) == 7
    for x, y in zip(a, b):
        for u, v in zip(x, y):
            np.testing.assert_array_equal(u, v)


def test_random_augmentation_is_identical_for_any_worker_count():
    tf = T.Compose([T.RandomCrop(64, padding=4), T.RandomHorizontalFlip(), T.ColorJitter(0.3, 0.3)])
    ds = data.ColoredDigits(n=40, seed=2, transform=tf)
    runs = [_collect(data.DataLoader(ds, batch_size=16, shuffle=True, seed=9, num_workers=w)) for w in (0, 2, 4)]
    for other in runs[1:]:
        for x, y in zip(runs[0], other):
            np.testing.assert_array_equal(x[0], y[0])
            np.testing.assert_array_equal(x[1], y[1])


class _Recorder(data.Dataset):
    """Records which threads fetch samples; the first fetch past index 0 signals."""

    def __init__(self, n=64):
        self.n, self.threads, self.fetched = n, set(), threading.Event()
        self.lock = threading.Lock()
        self.count = 0

    def __len__(self):
        return self.n

    def __getitem__(self, i):
        with self.lock:
            self.threads.add(threading.current_thread().name)
            self.count += 1
        if i >= 8:
            self.fetched.set()
        return np.float32(i)


def test_prefetch_runs_ahead_in_background_threads_and_stops_cleanly():
    ds = _Recorder()
    before = threading.active_count()
    it = iter(data.DataLoader(ds, batch_size=8, num_workers=2))
    first = next(it)
    assert to_numpy(first).tolist() == list(range(8))
    assert ds.fetched.wait(timeout=10)  # batch 2 built before anyone asked for it
    assert all(name.startswith("dlcore-loader") for name in ds.threads)
    it.close()  # early exit: the pool shuts down
    assert ds.count <= 64
    for _ in range(100):
        if threading.active_count() <= before:
            break
        threading.Event().wait(0.05)
    assert threading.active_count() <= before


def test_worker_errors_propagate():
    class Bad(data.Dataset):
        def __len__(self):
            return 10

        def __getitem__(self, i):
            if i == 7:
                raise KeyError("sample 7 is broken")
            return np.float32(i)

    with pytest.raises(KeyError, match="sample 7"):
        list(data.DataLoader(Bad(), batch_size=4, num_workers=2))


def test_dataloader_argument_errors():
    ds = _ds(10)
    with pytest.raises(ValueError, match="num_workers"):
        data.DataLoader(ds, num_workers=-1)
    with pytest.raises(ValueError, match="prefetch_factor"):
        data.DataLoader(ds, prefetch_factor=2)
    with pytest.raises(ValueError, match="mutually exclusive with shuffle"):
        data.DataLoader(ds, shuffle=True, sampler=data.SequentialSampler(ds))
    with pytest.raises(ValueError, match="batch_sampler"):
        data.DataLoader(ds, batch_size=4, batch_sampler=[[0, 1]])
    with pytest.raises(TypeError, match="generator"):
        data.DataLoader(ds, shuffle=True, generator="seed")


def test_sampler_and_batch_sampler():
    ds = _ds(10)
    got = [to_numpy(y).tolist() for _, y in data.DataLoader(ds, batch_size=3, sampler=[9, 8, 7, 0, 1])]
    assert got == [[9, 8, 7], [0, 1]]
    got = [to_numpy(y).tolist() for _, y in data.DataLoader(ds, batch_sampler=[[1, 2], [5], [0, 9, 3]])]
    assert got == [[1, 2], [5], [0, 9, 3]]
    s = data.SubsetRandomSampler([3, 5, 7], generator=0)
    loader = data.DataLoader(ds, batch_size=2, sampler=s)
    assert len(loader) == 2 and sorted(np.concatenate([to_numpy(y) for _, y in loader]).tolist()) == [3, 5, 7]


def test_random_sampler_matches_torch_lengths():
    for replacement, num in [(False, None), (False, 23), (True, 7)]:
        d = data.RandomSampler(range(10), replacement=replacement, num_samples=num, generator=0)
        t = tdata.RandomSampler(range(10), replacement=replacement, num_samples=num)
        idx = list(d)
        assert len(d) == len(t) == len(idx)
        if not replacement and num is None:
            assert sorted(idx) == list(range(10))
        if not replacement and num == 23:  # whole permutations back to back
            assert sorted(idx[:10]) == sorted(idx[10:20]) == list(range(10))


def test_weighted_random_sampler():
    w = np.array([0.0, 1.0, 3.0, 6.0])
    idx = data.WeightedRandomSampler(w, 100_000, generator=0).indices()
    freq = np.bincount(idx, minlength=4) / 100_000
    assert freq[0] == 0 and np.allclose(freq, w / w.sum(), atol=0.01)
    no_rep = data.WeightedRandomSampler(w, 3, replacement=False, generator=0).indices()
    assert sorted(no_rep.tolist()) == [1, 2, 3]
    with pytest.raises(ValueError):
        data.WeightedRandomSampler([1.0, -1.0], 2)
    with pytest.raises(ValueError):
        data.WeightedRandomSampler([1.0, 0.0], 2, replacement=False)
    with pytest.raises(ValueError):
        data.WeightedRandomSampler([[1.0]], 1)


# ---- splits ------------------------------------------------------------------------

def test_subset_keeps_the_fast_path_and_concat():
    ds = _ds(20)
    sub = data.Subset(data.Subset(ds, np.arange(20)[::-1]), [0, 1, 2, 3])
    assert len(sub) == 4 and sub[1][1].item() == 18
    xb, yb = next(iter(data.DataLoader(sub, batch_size=4)))
    assert to_numpy(yb).tolist() == [19, 18, 17, 16]
    cat = data.ConcatDataset([ds, _ds(5)])
    assert len(cat) == 25 and cat[21][1].item() == 1 and cat[-1][1].item() == 4
    assert len(ds + ds) == 40 if hasattr(ds, "__add__") else True
    with pytest.raises(IndexError):
        cat[25]


@pytest.mark.parametrize("n,lengths", [(10, [0.8, 0.2]), (11, [0.5, 0.3, 0.2]), (7, [0.34, 0.33, 0.33]), (10, [3, 7])])
def test_random_split_sizes_match_torch(n, lengths):
    ours = data.random_split(_ds(n), lengths, generator=0)
    theirs = tdata.random_split(range(n), lengths)
    assert [len(s) for s in ours] == [len(s) for s in theirs]
    allidx = np.concatenate([s.indices for s in ours])
    assert sorted(allidx.tolist()) == list(range(n))
    with pytest.raises(ValueError, match="Sum of input lengths"):
        data.random_split(_ds(n), [n, 1])


def _check_partition(folds, n):
    tests = [t for _, t in folds]
    assert sorted(np.concatenate(tests).tolist()) == list(range(n))
    for tr, te in folds:
        assert sorted(np.concatenate([tr, te]).tolist()) == list(range(n))
        assert np.all(np.diff(tr) > 0) and np.all(np.diff(te) > 0)  # sorted, as scikit-learn


@pytest.mark.parametrize("n,k", [(10, 3), (7, 7), (100, 5), (11, 2)])
def test_kfold(n, k):
    folds = list(data.KFold(k).split(np.zeros(n)))
    _check_partition(folds, n)
    sizes = [len(t) for _, t in folds]
    assert sizes == [n // k + (i < n % k) for i in range(k)]  # scikit-learn's rule
    assert folds[0][1].tolist() == list(range(sizes[0]))  # contiguous without shuffle
    a = [t.tolist() for _, t in data.KFold(k, shuffle=True, random_state=1).split(range(n))]
    b = [t.tolist() for _, t in data.KFold(k, shuffle=True, random_state=1).split(range(n))]
    assert a == b
    _check_partition(list(data.KFold(k, shuffle=True, random_state=1).split(range(n))), n)


def test_kfold_errors():
    with pytest.raises(ValueError, match="n_splits=2 or more"):
        data.KFold(1)
    with pytest.raises(ValueError, match="random_state"):
        data.KFold(3, random_state=0)
    with pytest.raises(ValueError, match="greater than the number of samples"):
        list(data.KFold(5).split(range(3)))


@pytest.mark.parametrize("shuffle", [False, True])
def test_stratified_kfold(shuffle):
    y = np.array([0] * 50 + [1] * 30 + [2] * 13 + [3] * 7)
    k = 5
    folds = list(data.StratifiedKFold(k, shuffle=shuffle, random_state=0 if shuffle else None).split(y, y))
    _check_partition(folds, len(y))
    sizes = [len(t) for _, t in folds]
    assert max(sizes) - min(sizes) <= 1
    for c, count in enumerate([50, 30, 13, 7]):
        per_fold = [np.sum(y[t] == c) for _, t in folds]
        assert max(per_fold) - min(per_fold) <= 1 and sum(per_fold) == count
    with pytest.warns(UserWarning, match="least populated class"):
        list(data.StratifiedKFold(8).split(y, y))
    with pytest.raises(ValueError, match="cannot be greater"):
        list(data.StratifiedKFold(3).split(range(4), [0, 0, 1, 1]))
    with pytest.raises(ValueError, match="labels"):
        list(data.StratifiedKFold(3).split(range(9)))


def test_bootstrap():
    idx, oob = data.bootstrap_indices(20_000, generator=0)
    assert len(idx) == 20_000 and idx.min() >= 0 and idx.max() < 20_000
    assert set(idx.tolist()).isdisjoint(oob.tolist())
    assert len(set(idx.tolist())) + len(oob) == 20_000
    assert abs(len(oob) / 20_000 - math.exp(-1)) < 0.015
    bag, out = data.bootstrap(_ds(30), n_samples=10, generator=1)
    assert len(bag) == 10 and len(out) >= 20
    with pytest.raises(ValueError):
        data.bootstrap_indices(0)


# ---- bundled datasets ----------------------------------------------------------------

def test_two_dimensional_datasets():
    for fn in (data.moons, data.circles, data.blobs):
        X, y = fn(n=101, seed=3)
        X2, y2 = fn(n=101, seed=3)
        assert tuple(X.shape) == (101, 2) and X.dtype == dlcore.float32 and y.dtype == dlcore.int64
        np.testing.assert_array_equal(to_numpy(X), to_numpy(X2))
        counts = np.bincount(to_numpy(y))
        assert counts.max() - counts.min() <= 1
    X, y = data.moons(n=200, noise=0.0, shuffle=False)
    x = to_numpy(X)
    np.testing.assert_allclose(np.linalg.norm(x[:100], axis=1), 1.0, atol=1e-6)  # outer moon on the unit circle
    X, y = data.blobs(n=400, centers=[[0.0, 0.0, 0.0], [20.0, 0.0, 0.0]], cluster_std=[0.5, 2.0], seed=0)
    x, lab = to_numpy(X), to_numpy(y)
    assert x.shape == (400, 3)
    assert abs(x[lab == 0].std(axis=0).mean() - 0.5) < 0.1 and abs(x[lab == 1].std(axis=0).mean() - 2.0) < 0.3
    np.testing.assert_allclose(x[lab == 1].mean(axis=0), [20.0, 0.0, 0.0], atol=0.6)
    with pytest.raises(ValueError):
        data.circles(factor=1.5)
    with pytest.raises(ValueError):
        data.moons(n=0)


def test_sequence_datasets():
    X, y = data.sine(n=300, noise=0.0, seed=1)
    assert tuple(X.shape) == (300, 1) and np.allclose(np.sin(to_numpy(X)), to_numpy(y), atol=1e-6)
    X, Y = data.sine_sequences(n=16, seq_len=30, seed=0)
    x, yy = to_numpy(X), to_numpy(Y)
    assert x.shape == yy.shape == (16, 30, 1)
    np.testing.assert_array_equal(x[:, 1:], yy[:, :-1])
    X, y = data.adding_problem(n=500, seq_len=40, seed=0)
    x, t = to_numpy(X), to_numpy(y)
    assert x.shape == (500, 40, 2) and t.shape == (500, 1)
    assert (x[..., 1].sum(1) == 2).all() and (x[:, :20, 1].sum(1) == 1).all()
    np.testing.assert_allclose((x[..., 0] * x[..., 1]).sum(1), t[:, 0], rtol=1e-6)
    assert abs(((t - 1.0) ** 2).mean() - 1 / 6) < 0.03  # the always-1 baseline


def test_colored_digits_determinism_and_content():
    ds = data.ColoredDigits(n=300, seed=5)
    xb, yb = ds._get_batch(np.array([7, 3, 250]))
    x7, y7 = ds[7]
    np.testing.assert_array_equal(to_numpy(xb)[0], to_numpy(x7))
    assert to_numpy(yb)[0] == y7.item()
    X, y = data.colored_digits(n=300, seed=5)
    np.testing.assert_array_equal(to_numpy(X)[[7, 3, 250]], to_numpy(xb))
    other, _ = data.colored_digits(n=8, seed=6)
    assert not np.array_equal(to_numpy(other), to_numpy(X)[:8])
    x = to_numpy(X)
    assert x.shape == (300, 3, 64, 64) and x.dtype == np.float32 and x.min() >= 0 and x.max() <= 1
    counts = np.bincount(to_numpy(y), minlength=10)
    assert counts.min() >= 15  # roughly balanced labels
    # every image has a drawn digit: a blob of pixels far from the paper's median colour
    far = np.abs(x - np.median(x, axis=(2, 3), keepdims=True)).max(axis=1) > 0.25
    frac = far.mean(axis=(1, 2))
    assert (frac > 0.01).all() and (frac < 0.5).all()
    with pytest.raises(IndexError):
        ds[300]


def test_render_digits_matches_the_font():
    # a big upright digit: sampling the mask on the glyph's 5x7 cell centres gives back the bitmap
    for d in range(10):
        m = data.render_digits(np.array([d]), np.array([56.0]), np.array([[32.0, 32.0]]))[0]
        cell_w, cell_h = 40.0 / 5, 56.0 / 7
        ys = (4 + cell_h * (np.arange(7) + 0.5)).astype(int)
        xs = (12 + cell_w * (np.arange(5) + 0.5)).astype(int)
        np.testing.assert_array_equal(m[np.ix_(ys, xs)] > 0.5, data.digits.FONT_5X7[d] > 0)


# ---- MNIST / CIFAR-10 readers ---------------------------------------------------------

def _idx_bytes(arr):
    code = {np.uint8: 0x08, np.int32: 0x0C}[arr.dtype.type]
    header = bytes([0, 0, code, arr.ndim]) + b"".join(int(d).to_bytes(4, "big") for d in arr.shape)
    return header + arr.astype(arr.dtype.newbyteorder(">")).tobytes()


def _write_mnist(root, n=12, gz=False, prefix="train"):
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (n, 28, 28), dtype=np.uint8)
    labels = rng.integers(0, 10, n).astype(np.uint8)
    paths = []
    for kind, arr in (("images-idx3", images), ("labels-idx1", labels)):
        raw = _idx_bytes(arr)
        p = root / (f"{prefix}-{kind}-ubyte" + (".gz" if gz else ""))
        p.write_bytes(gzip.compress(raw) if gz else raw)
        paths.append(p)
    return images, labels, paths


def test_read_idx_formats(tmp_path):
    arr = np.arange(24, dtype=np.int32).reshape(2, 3, 4) - 5
    (tmp_path / "a").write_bytes(_idx_bytes(arr))
    np.testing.assert_array_equal(data.read_idx(tmp_path / "a"), arr)
    (tmp_path / "b").write_bytes(gzip.compress(_idx_bytes(arr)))
    np.testing.assert_array_equal(data.read_idx(tmp_path / "b"), arr)
    (tmp_path / "c").write_bytes(_idx_bytes(arr)[:-3])
    with pytest.raises(ValueError, match="truncated or corrupt"):
        data.read_idx(tmp_path / "c")
    (tmp_path / "d").write_bytes(b"\x01\x02\x03\x04")
    with pytest.raises(ValueError, match="not an IDX file"):
        data.read_idx(tmp_path / "d")


@pytest.mark.parametrize("gz", [False, True])
def test_mnist_reader(tmp_path, gz):
    images, labels, paths = _write_mnist(tmp_path, gz=gz)
    _write_mnist(tmp_path, n=5, gz=gz, prefix="t10k")
    # fake .gz files cannot match the official MD5s: verification must catch that
    if gz:
        with pytest.raises(ValueError, match="does not match the official"):
            data.MNIST(tmp_path)
    ds = data.MNIST(tmp_path, checksums=False)
    assert len(ds) == 12 and len(data.MNIST(tmp_path, train=False, checksums=False)) == 5
    x, y = ds[3]
    assert tuple(x.shape) == (1, 28, 28) and x.dtype == dlcore.float32 and y.item() == labels[3]
    np.testing.assert_allclose(to_numpy(x)[0], images[3] / 255.0, rtol=1e-6)
    xb, yb = next(iter(data.DataLoader(ds, batch_size=5, shuffle=True, seed=0)))
    assert tuple(xb.shape) == (5, 1, 28, 28) and yb.dtype == dlcore.int64
    sha = {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in paths}
    data.MNIST(tmp_path, checksums=sha)  # user-provided sha256: passes
    md5 = {p.name: "md5:" + hashlib.md5(p.read_bytes()).hexdigest() for p in paths}
    data.MNIST(tmp_path, checksums=md5)
    bad = dict(sha, **{paths[0].name: "0" * 64})
    with pytest.raises(ValueError, match="does not match the given"):
        data.MNIST(tmp_path, checksums=bad)
    with pytest.raises(ValueError, match="hex digits"):
        data.MNIST(tmp_path, checksums={paths[0].name: "abc"})
    flipped = data.MNIST(tmp_path, checksums=False, transform=T.RandomHorizontalFlip(1.0))
    np.testing.assert_array_equal(to_numpy(flipped[0][0]), to_numpy(ds[0][0])[..., ::-1])


def test_mnist_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="train-images-idx3-ubyte"):
        data.MNIST(tmp_path)
    raw = tmp_path / "MNIST" / "raw"  # torchvision's layout is found too
    raw.mkdir(parents=True)
    _write_mnist(raw, n=4)
    assert len(data.MNIST(tmp_path)) == 4
    (raw / "train-labels-idx1-ubyte").write_bytes(_idx_bytes(np.zeros(3, np.uint8)))
    with pytest.raises(ValueError, match="expected 4 labels"):
        data.MNIST(tmp_path)
    (raw / "train-images-idx3-ubyte").write_bytes(_idx_bytes(np.zeros((4, 28, 28), np.uint8))[:100])
    with pytest.raises(ValueError, match="train-images-idx3-ubyte"):
        data.MNIST(tmp_path)


def _cifar_bytes(n, seed):
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 10, n).astype(np.uint8)
    pixels = rng.integers(0, 256, (n, 3072), dtype=np.uint8)
    return np.concatenate([labels[:, None], pixels], 1).tobytes(), labels, pixels.reshape(n, 3, 32, 32)


def test_cifar10_reader(tmp_path):
    d = tmp_path / "cifar-10-batches-bin"
    d.mkdir()
    want = []
    for i in range(1, 6):
        raw, labels, pixels = _cifar_bytes(3, i)
        (d / f"data_batch_{i}.bin").write_bytes(raw)
        want.append((labels, pixels))
    (d / "test_batch.bin").write_bytes(_cifar_bytes(4, 9)[0])
    ds = data.CIFAR10(tmp_path)
    assert len(ds) == 15 and len(data.CIFAR10(tmp_path, train=False)) == 4
    np.testing.assert_array_equal(ds.data[3:6], want[1][1])
    np.testing.assert_array_equal(ds.targets[3:6], want[1][0])
    x, y = ds[4]
    np.testing.assert_allclose(to_numpy(x), want[1][1][1] / 255.0, rtol=1e-6)
    assert ds.classes[0] == "airplane"
    sha = {"test_batch.bin": hashlib.sha256((d / "test_batch.bin").read_bytes()).hexdigest()}
    data.CIFAR10(tmp_path, train=False, checksums=sha)
    with pytest.raises(ValueError, match="checksum"):
        data.CIFAR10(tmp_path, train=False, checksums={"test_batch.bin": "f" * 32})
    (d / "test_batch.bin").write_bytes(_cifar_bytes(4, 9)[0][:-1])
    with pytest.raises(ValueError, match="3073-byte"):
        data.CIFAR10(tmp_path, train=False)
    bad = bytearray(_cifar_bytes(2, 1)[0])
    bad[0] = 12
    (d / "test_batch.bin").write_bytes(bytes(bad))
    with pytest.raises(ValueError, match="label 12"):
        data.CIFAR10(tmp_path, train=False)


def test_cifar10_from_archive_and_missing(tmp_path):
    with pytest.raises(FileNotFoundError, match="test_batch.bin"):
        data.CIFAR10(tmp_path, train=False)
    raw, labels, _ = _cifar_bytes(6, 3)
    with tarfile.open(tmp_path / "cifar-10-binary.tar.gz", "w:gz") as tar:
        info = tarfile.TarInfo("cifar-10-batches-bin/test_batch.bin")
        info.size = len(raw)
        tar.addfile(info, io.BytesIO(raw))
    with pytest.raises(ValueError, match="official"):
        data.CIFAR10(tmp_path, train=False)  # not the real archive
    ds = data.CIFAR10(tmp_path, train=False, checksums=False)
    np.testing.assert_array_equal(ds.targets, labels)
    with pytest.raises(FileNotFoundError, match="data_batch_1.bin"):
        data.CIFAR10(tmp_path, train=True, checksums=False)
