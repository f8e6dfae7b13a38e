"""Samplers: the order in which a :class:`~dlcore.data.DataLoader` visits indices.

Shaped like ``torch.utils.data``'s samplers. Each draws a whole epoch's
indices at once as a NumPy array (:meth:`Sampler.indices`); iterating yields
Python ints. ``generator`` may be a ``numpy.random.Generator``, an int seed
(one generator created up front, so epochs differ but are reproducible) or
``None`` (each epoch seeded from dlcore's global RNG).
"""

from __future__ import annotations

from typing import Iterator, Sequence

import numpy as np

import dlcore  # noqa: F401  (doctest namespace)

from ._random import get_rng

__all__ = [
    "Sampler",
    "SequentialSampler",
    "RandomSampler",
    "SubsetRandomSampler",
    "WeightedRandomSampler",
]


def _as_generator(generator):
    if generator is None or isinstance(generator, np.random.Generator):
        return generator
    if isinstance(generator, (int, np.integer)) and not isinstance(generator, bool):
        return np.random.default_rng(int(generator))
    raise TypeError(f"generator must be a numpy.random.Generator, an int seed or None, got {type(generator).__name__}")


class Sampler:
    """Base class: implement :meth:`indices` (one epoch, as an int64 array)."""

    def indices(self) -> np.ndarray:
        raise NotImplementedError

    def __iter__(self) -> Iterator[int]:
        return iter(self.indices().tolist())

    def __len__(self) -> int:
        raise NotImplementedError


class SequentialSampler(Sampler):
    """``0, 1, ..., len(data_source) - 1``.

    Examples::

        >>> list(dlcore.data.SequentialSampler(range(3)))
        [0, 1, 2]
    """

    def __init__(self, data_source: Sequence) -> None:
        self.data_source = data_source

    def indices(self) -> np.ndarray:
        return np.arange(len(self.data_source), dtype=np.int64)

    def __len__(self) -> int:
        return len(self.data_source)


class RandomSampler(Sampler):
    """A random permutation, or ``num_samples`` draws with replacement.

    Args:
        data_source (Dataset): the dataset (only its length is used).
        replacement (bool): draw with replacement. Default: ``False``.
        num_samples (int, optional): samples per epoch. Default: ``len(data_source)``.
        generator: see the module docstring.

    Examples::

        >>> s = dlcore.data.RandomSampler(range(5), generator=0)
        >>> sorted(s)
        [0, 1, 2, 3, 4]
    """

    def __init__(self, data_source, replacement: bool = False, num_samples: int | None = None, generator=None):
        self.data_source = data_source
        self.replacement = replacement
        self._num_samples = num_samples
        self.generator = _as_generator(generator)
        if not isinstance(self.num_samples, int) or self.num_samples < 0:
            raise ValueError(f"num_samples should be a non-negative integer value, but got num_samples={self.num_samples}")

    @property
    def num_samples(self) -> int:
        return len(self.data_source) if self._num_samples is None else self._num_samples

    def indices(self) -> np.ndarray:
        rng, n, m = get_rng(self.generator), len(self.data_source), self.num_samples
        if self.replacement:
            return rng.integers(0, n, size=m, dtype=np.int64)
        # like torch: whole permutations, concatenated, cut to num_samples
        reps = -(-m // n) if n else 0
        perm = [rng.permutation(n) for _ in range(reps)]
        return np.concatenate(perm)[:m].astype(np.int64) if perm else np.zeros(0, np.int64)

    def __len__(self) -> int:
        return self.num_samples


class SubsetRandomSampler(Sampler):
    """The given indices in a random order each epoch.

    Examples::

        >>> sorted(dlcore.data.SubsetRandomSampler([4, 7, 9], generator=1))
        [4, 7, 9]
    """

    def __init__(self, indices: Sequence[int], generator=None) -> None:
        self._idx = np.asarray(indices, dtype=np.int64)
        self.generator = _as_generator(generator)

    def indices(self) -> np.ndarray:
        return self._idx[get_rng(self.generator).permutation(len(self._idx))]

    def __len__(self) -> int:
        return len(self._idx)


class WeightedRandomSampler(Sampler):
    r"""Draw ``num_samples`` indices with probability proportional to ``weights``
    (e.g. inverse class frequency for imbalanced data, or boosting weights).

    Args:
        weights (sequence): non-negative weights, one per sample (not necessarily summing to 1).
        num_samples (int): draws per epoch.
        replacement (bool): with replacement. Default: ``True``.
        generator: see the module docstring.

    Examples::

        >>> s = dlcore.data.WeightedRandomSampler([0.0, 0.0, 1.0], 4, generator=0)
        >>> list(s)
        [2, 2, 2, 2]
    """

    def __init__(self, weights, num_samples: int, replacement: bool = True, generator=None) -> None:
        w = np.asarray(weights.tolist() if hasattr(weights, "tolist") else weights, dtype=np.float64)
        if w.ndim != 1:
            raise ValueError(f"weights should be a 1d sequence but given weights have shape {w.shape}")
        if isinstance(num_samples, bool) or not isinstance(num_samples, int) or num_samples <= 0:
            raise ValueError(f"num_samples should be a positive integer value, but got num_samples={num_samples}")
        if (w < 0).any() or not np.isfinite(w).all() or w.sum() <= 0:
            raise ValueError("WeightedRandomSampler: weights must be finite, non-negative and not all zero")
        if not replacement and num_samples > np.count_nonzero(w):
            raise ValueError("WeightedRandomSampler: cannot draw more samples than non-zero weights without replacement")
        self.weights, self.num_samples, self.replacement = w, num_samples, replacement
        self.generator = _as_generator(generator)

    def indices(self) -> np.ndarray:
        rng = get_rng(self.generator)
        p = self.weights / self.weights.sum()
        return rng.choice(len(p), size=self.num_samples, replace=self.replacement, p=p).astype(np.int64)

    def __len__(self) -> int:
        return self.num_samples
