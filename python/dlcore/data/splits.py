"""Views and splits of datasets: ``Subset``, ``ConcatDataset``, ``random_split``,
``KFold`` / ``StratifiedKFold`` (scikit-learn's semantics) and bootstrap
resampling.

Index bookkeeping is NumPy; a ``Subset`` of a dataset with a batched fast path
(``TensorDataset``, the bundled datasets) keeps that fast path, so a batch of
a subset is still one gather per tensor.
"""

from __future__ import annotations

import math
import warnings
from typing import Any, Iterator, Sequence

import numpy as np

import dlcore  # noqa: F401  (doctest namespace)

from ._random import get_rng

__all__ = [
    "Subset",
    "ConcatDataset",
    "random_split",
    "KFold",
    "StratifiedKFold",
    "bootstrap",
    "bootstrap_indices",
]


def _fetch_batch(dataset, indices: np.ndarray):
    """One batch: the dataset's vectorised path if it has one, else collate samples."""
    if hasattr(dataset, "_get_batch"):
        return dataset._get_batch(indices)
    from .dataloader import default_collate

    return default_collate([dataset[int(i)] for i in indices])


class Subset:
    """The dataset restricted to ``indices`` (in that order).

    Args:
        dataset (Dataset): the whole dataset.
        indices (sequence of int): indices into ``dataset``.

    Examples::

        >>> ds = dlcore.data.TensorDataset(dlcore.arange(10))
        >>> sub = dlcore.data.Subset(ds, [7, 2])
        >>> len(sub), sub[0][0].item()
        (2, 7)
    """

    def __init__(self, dataset, indices: Sequence[int]) -> None:
        self.dataset = dataset
        self.indices = np.asarray(indices, dtype=np.int64).reshape(-1)

    def __getitem__(self, idx):
        if isinstance(idx, (list, np.ndarray)):
            return [self.dataset[int(self.indices[i])] for i in idx]
        return self.dataset[int(self.indices[idx])]

    def __len__(self) -> int:
        return len(self.indices)

    def _get_batch(self, indices: np.ndarray):
        return _fetch_batch(self.dataset, self.indices[np.asarray(indices)])


class ConcatDataset:
    """Several datasets one after another.

    Examples::

        >>> a = dlcore.data.TensorDataset(dlcore.zeros(3))
        >>> b = dlcore.data.TensorDataset(dlcore.ones(2))
        >>> ds = dlcore.data.ConcatDataset([a, b])
        >>> len(ds), ds[3][0].item()
        (5, 1.0)
    """

    def __init__(self, datasets) -> None:
        self.datasets = list(datasets)
        if not self.datasets:
            raise ValueError("datasets should not be an empty iterable")
        self.cumulative_sizes = np.cumsum([len(d) for d in self.datasets]).tolist()

    def __len__(self) -> int:
        return self.cumulative_sizes[-1]

    def __getitem__(self, idx: int):
        n = len(self)
        if not -n <= idx < n:
            raise IndexError(f"index {idx} out of range for ConcatDataset of length {n}")
        idx %= n
        d = int(np.searchsorted(self.cumulative_sizes, idx, side="right"))
        start = self.cumulative_sizes[d - 1] if d else 0
        return self.datasets[d][idx - start]


def random_split(dataset, lengths: Sequence[int | float], generator=None) -> list[Subset]:
    """Split ``dataset`` into non-overlapping random subsets.

    Args:
        dataset (Dataset): dataset to split.
        lengths (sequence): sizes summing to ``len(dataset)``, or fractions
            summing to 1 (floored, the remainder dealt one by one from the
            first split, as in PyTorch).
        generator (numpy.random.Generator or int, optional): source of the
            permutation; default: dlcore's global RNG.

    Examples::

        >>> ds = dlcore.data.TensorDataset(dlcore.arange(10))
        >>> train, val = dlcore.data.random_split(ds, [0.8, 0.2], generator=0)
        >>> len(train), len(val)
        (8, 2)
    """
    n = len(dataset)
    lengths = list(lengths)
    if math.isclose(sum(lengths), 1) and sum(lengths) <= 1 and not all(
        isinstance(x, int) and not isinstance(x, bool) for x in lengths
    ):
        if any(f < 0 or f > 1 for f in lengths):
            raise ValueError(f"Fraction at index must be between 0 and 1, got {lengths}")
        sizes = [int(math.floor(n * f)) for f in lengths]
        for i in range(n - sum(sizes)):
            sizes[i % len(sizes)] += 1
        lengths = sizes
    if sum(lengths) != n:
        raise ValueError("Sum of input lengths does not equal the length of the input dataset!")
    perm = get_rng(generator).permutation(n)
    bounds = np.cumsum([0, *lengths])
    return [Subset(dataset, perm[a:b]) for a, b in zip(bounds[:-1], bounds[1:])]


def _check_splits(n_splits, shuffle, random_state):
    if isinstance(n_splits, bool) or not isinstance(n_splits, (int, np.integer)) or n_splits < 2:
        raise ValueError(f"k-fold cross-validation requires at least one train/test split by setting n_splits=2 or more, got n_splits={n_splits}.")
    if not shuffle and random_state is not None:
        raise ValueError("Setting a random_state has no effect since shuffle is False. You should leave random_state to its default (None), or set shuffle=True.")


class KFold:
    """K-fold cross-validation indices (scikit-learn's ``KFold``).

    The data is cut into ``n_splits`` consecutive folds (after an optional
    shuffle); the first ``n % n_splits`` folds get one extra sample. Each
    fold is the test set once. Index arrays are sorted.

    Args:
        n_splits (int): number of folds, at least 2. Default: 5.
        shuffle (bool): shuffle before cutting. Default: ``False``.
        random_state (int or numpy.random.Generator, optional): shuffle seed.

    Examples::

        >>> for train, test in dlcore.data.KFold(3).split(range(5)):
        ...     print(train.tolist(), test.tolist())
        [2, 3, 4] [0, 1]
        [0, 1, 4] [2, 3]
        [0, 1, 2, 3] [4]
    """

    def __init__(self, n_splits: int = 5, *, shuffle: bool = False, random_state=None) -> None:
        _check_splits(n_splits, shuffle, random_state)
        self.n_splits, self.shuffle, self.random_state = int(n_splits), shuffle, random_state

    def get_n_splits(self, X=None, y=None, groups=None) -> int:
        return self.n_splits

    def _test_folds(self, n: int, y) -> np.ndarray:
        order = np.arange(n)
        if self.shuffle:
            order = get_rng(self.random_state).permutation(n)
        sizes = np.full(self.n_splits, n // self.n_splits) + (np.arange(self.n_splits) < n % self.n_splits)
        fold = np.empty(n, dtype=np.int64)
        fold[order] = np.repeat(np.arange(self.n_splits), sizes)
        return fold

    def split(self, X, y=None, groups=None) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        """Yield ``(train_indices, test_indices)`` for each fold."""
        n = len(X)
        if self.n_splits > n:
            raise ValueError(f"Cannot have number of splits n_splits={self.n_splits} greater than the number of samples: n_samples={n}.")
        fold = self._test_folds(n, y)
        idx = np.arange(n)
        for f in range(self.n_splits):
            yield idx[fold != f], idx[fold == f]


class StratifiedKFold(KFold):
    """K-fold splits that keep each class's proportion in every fold
    (scikit-learn's ``StratifiedKFold`` allocation: sorted labels are dealt
    round-robin to folds, so fold sizes differ by at most one).

    Args:
        n_splits (int): number of folds. Default: 5.
        shuffle (bool): shuffle each class's samples before assigning. Default: ``False``.
        random_state (int or numpy.random.Generator, optional): shuffle seed.

    Examples::

        >>> y = [0, 0, 0, 0, 1, 1]
        >>> [test.tolist() for _, test in dlcore.data.StratifiedKFold(2).split(y, y)]
        [[0, 1, 4], [2, 3, 5]]
    """

    def _test_folds(self, n: int, y) -> np.ndarray:
        if y is None:
            raise ValueError("StratifiedKFold.split needs the labels y")
        y = np.asarray(y.tolist() if hasattr(y, "tolist") else y)
        if y.ndim != 1 or len(y) != n:
            raise ValueError(f"StratifiedKFold: y must be 1-D with {n} labels, got shape {y.shape}")
        _, y_enc = np.unique(y, return_inverse=True)
        counts = np.bincount(y_enc)
        k = self.n_splits
        if np.all(counts < k):
            raise ValueError(f"n_splits={k} cannot be greater than the number of members in each class.")
        if counts.min() < k:
            warnings.warn(
                f"The least populated class in y has only {counts.min()} members, which is less than n_splits={k}.",
                UserWarning,
                stacklevel=3,
            )
        y_order = np.sort(y_enc)
        allocation = np.stack([np.bincount(y_order[i::k], minlength=len(counts)) for i in range(k)])  # (k, C)
        rng = get_rng(self.random_state) if self.shuffle else None
        fold = np.empty(n, dtype=np.int64)
        for c in range(len(counts)):
            folds_for_class = np.arange(k).repeat(allocation[:, c])
            if rng is not None:
                rng.shuffle(folds_for_class)
            fold[y_enc == c] = folds_for_class
        return fold


def bootstrap_indices(n: int, n_samples: int | None = None, generator=None) -> tuple[np.ndarray, np.ndarray]:
    """Bootstrap resampling of ``range(n)``: ``n_samples`` indices drawn with
    replacement (default ``n``), and the sorted out-of-bag indices never drawn
    (about :math:`e^{-1} \\approx 36.8\\%` of them for ``n_samples = n``).

    Examples::

        >>> idx, oob = dlcore.data.bootstrap_indices(10, generator=0)
        >>> len(idx), set(idx.tolist()).isdisjoint(oob.tolist())
        (10, True)
    """
    if n <= 0:
        raise ValueError(f"bootstrap: need at least one sample, got n={n}")
    m = n if n_samples is None else int(n_samples)
    if m <= 0:
        raise ValueError(f"bootstrap: n_samples must be positive, got {n_samples}")
    idx = get_rng(generator).integers(0, n, size=m, dtype=np.int64)
    in_bag = np.zeros(n, dtype=bool)
    in_bag[idx] = True
    return idx, np.flatnonzero(~in_bag)


def bootstrap(dataset: Any, n_samples: int | None = None, generator=None) -> tuple[Subset, Subset]:
    """Bootstrap sample of a dataset: ``(in_bag, out_of_bag)`` subsets (see
    :func:`bootstrap_indices`); the out-of-bag part is a free validation set
    (Breiman, "Bagging predictors", 1996).

    Examples::

        >>> ds = dlcore.data.TensorDataset(dlcore.arange(100))
        >>> bag, oob = dlcore.data.bootstrap(ds, generator=0)
        >>> len(bag), 20 < len(oob) < 50
        (100, True)
    """
    idx, oob = bootstrap_indices(len(dataset), n_samples, generator)
    return Subset(dataset, idx), Subset(dataset, oob)
