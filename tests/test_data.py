"""dlcore.data against torch.utils.data: batching, lengths, drop_last,
shuffling (a permutation, reproducible under a seed), collation, datasets."""

import numpy as np
import pytest
from helpers import import_torch, to_numpy

import dlcore
import dlcore.data as data

torch = import_torch()
import torch.utils.data as tdata  # noqa: E402


def _pair(n=10, d=3):
    x = np.arange(n * d, dtype=np.float32).reshape(n, d)
    y = np.arange(n, dtype=np.int64)
    return x, y


@pytest.mark.parametrize("n,bs,drop_last", [(10, 3, False), (10, 3, True), (9, 3, False), (2, 5, False), (2, 5, True), (0, 4, False), (7, 1, False)])
def test_sequential_batches_match_torch(n, bs, drop_last):
    x, y = _pair(n)
    dl = data.DataLoader(data.TensorDataset(dlcore.tensor(x), dlcore.tensor(y)), batch_size=bs, drop_last=drop_last)
    tl = tdata.DataLoader(tdata.TensorDataset(torch.tensor(x), torch.tensor(y)), batch_size=bs, drop_last=drop_last)
    assert len(dl) == len(tl)
    got, want = list(dl), list(tl)
    assert len(got) == len(want)
    for (xb, yb), (txb, tyb) in zip(got, want):
        np.testing.assert_array_equal(to_numpy(xb), txb.numpy())
        np.testing.assert_array_equal(to_numpy(yb), tyb.numpy())
        assert xb.dtype == dlcore.float32 and yb.dtype == dlcore.int64


def test_shuffle_is_a_permutation_and_reproducible():
    x, y = _pair(50)
    ds = data.TensorDataset(dlcore.tensor(x), dlcore.tensor(y))
    orders = []
    for _ in range(2):
        loader = data.DataLoader(ds, batch_size=8, shuffle=True, seed=123)
        epoch1 = np.concatenate([to_numpy(yb) for _, yb in loader])
        epoch2 = np.concatenate([to_numpy(yb) for _, yb in loader])
        assert sorted(epoch1.tolist()) == list(range(50)) and sorted(epoch2.tolist()) == list(range(50))
        assert epoch1.tolist() != list(range(50)) and epoch1.tolist() != epoch2.tolist()  # reshuffled per epoch
        orders.append((epoch1.tolist(), epoch2.tolist()))
    assert orders[0] == orders[1]
    dlcore.manual_seed(5)
    a = [to_numpy(yb).tolist() for _, yb in data.DataLoader(ds, batch_size=50, shuffle=True)]
    dlcore.manual_seed(5)
    b = [to_numpy(yb).tolist() for _, yb in data.DataLoader(ds, batch_size=50, shuffle=True)]
    assert a == b


def test_batch_rows_stay_aligned_under_shuffle():
    x, y = _pair(30)
    for xb, yb in data.DataLoader(data.TensorDataset(dlcore.tensor(x), dlcore.tensor(y)), batch_size=7, shuffle=True, seed=0):
        np.testing.assert_array_equal(to_numpy(xb)[:, 0], to_numpy(yb) * 3)


class Squares(data.Dataset):
    def __len__(self):
        return 5

    def __getitem__(self, i):
        return dlcore.tensor([float(i), float(i * i)]), i


def test_custom_dataset_default_collate_matches_torch():
    class TSquares(tdata.Dataset):
        def __len__(self):
            return 5

        def __getitem__(self, i):
            return torch.tensor([float(i), float(i * i)]), i

    got = list(data.DataLoader(Squares(), batch_size=2))
    want = list(tdata.DataLoader(TSquares(), batch_size=2))
    assert len(got) == len(want) == 3
    for (xb, ib), (txb, tib) in zip(got, want):
        np.testing.assert_array_equal(to_numpy(xb), txb.numpy())
        np.testing.assert_array_equal(to_numpy(ib), tib.numpy())  # ints collate to an int64 tensor
        assert ib.dtype == dlcore.int64


def test_batch_size_none_yields_samples():
    samples = list(data.DataLoader(Squares(), batch_size=None))
    assert len(samples) == 5 and samples[2][1] == 2


def test_tensor_dataset_validation_and_indexing():
    x, y = _pair(4)
    ds = data.TensorDataset(dlcore.tensor(x), dlcore.tensor(y))
    assert len(ds) == 4
    xi, yi = ds[1]
    assert xi.tolist() == [3.0, 4.0, 5.0] and yi.item() == 1
    with pytest.raises((ValueError, RuntimeError, AssertionError)):
        data.TensorDataset(dlcore.zeros(3, 2), dlcore.zeros(4))


@pytest.mark.parametrize("bad", [0, -1, 2.5, True])
def test_bad_batch_size(bad):
    with pytest.raises(ValueError, match="batch_size"):
        data.DataLoader(Squares(), batch_size=bad)


def test_datasets_shapes_and_determinism():
    X, y = data.datasets.spiral(n_per_class=20, n_classes=4)
    assert tuple(X.shape) == (80, 2) and tuple(y.shape) == (80,)
    assert X.dtype == dlcore.float32 and y.dtype == dlcore.int64
    assert sorted(set(y.tolist())) == [0, 1, 2, 3]
    X2, _ = data.datasets.spiral(n_per_class=20, n_classes=4)
    np.testing.assert_array_equal(to_numpy(X), to_numpy(X2))
    assert np.abs(to_numpy(X)).max() <= 1.0 + 1e-6
    Xx, yx = data.datasets.xor(n=64)
    assert tuple(Xx.shape) == (64, 2) and set(yx.tolist()) <= {0, 1}
    with pytest.raises(ValueError):
        data.datasets.spiral(n_per_class=0)
