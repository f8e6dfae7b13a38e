"""``Dataset``, ``TensorDataset`` and ``DataLoader``, shaped like ``torch.utils.data``.

A ``TensorDataset`` batch is built with one gather per tensor (``t[indices]``,
done in Rust), never by fetching samples one at a time in Python. Other
datasets fall back to per-sample ``__getitem__`` plus :func:`default_collate`.
"""

from __future__ import annotations

import math
from typing import Any, Callable, Iterator, Sequence

import numpy as np

import dlcore
from dlcore import Tensor

__all__ = ["Dataset", "TensorDataset", "DataLoader", "default_collate"]


class Dataset:
    """Abstract map-style dataset: implement ``__getitem__`` and ``__len__``."""

    def __getitem__(self, index: int) -> Any:
        raise NotImplementedError("Subclasses of Dataset should implement __getitem__.")

    def __len__(self) -> int:
        raise NotImplementedError("Subclasses of Dataset should implement __len__.")


class TensorDataset(Dataset):
    r"""Dataset wrapping tensors; sample ``i`` is ``tuple(t[i] for t in tensors)``.

    Args:
        *tensors (Tensor): tensors (or numpy arrays, converted once) that all
            have the same size in the first dimension.

    Examples::

        >>> X, y = dlcore.randn(10, 2), dlcore.zeros(10, dtype=dlcore.int64)
        >>> ds = dlcore.data.TensorDataset(X, y)
        >>> len(ds), tuple(ds[3][0].shape)
        (10, (2,))
    """

    def __init__(self, *tensors: Tensor) -> None:
        if not tensors:
            raise ValueError("TensorDataset needs at least one tensor")
        self.tensors = tuple(
            t if isinstance(t, Tensor) else dlcore.from_numpy(np.ascontiguousarray(t))
            for t in tensors
        )
        n = self.tensors[0].shape[0] if self.tensors[0].ndim else None
        if n is None or any(t.ndim == 0 or t.shape[0] != n for t in self.tensors):
            raise ValueError(
                "Size mismatch between tensors: "
                + ", ".join(str(tuple(t.shape)) for t in self.tensors)
            )

    def __getitem__(self, index):
        return tuple(t[index] for t in self.tensors)

    def __len__(self) -> int:
        return self.tensors[0].shape[0]

    def _get_batch(self, indices: np.ndarray) -> list[Tensor]:
        # One gather per tensor instead of len(indices) Python-level lookups.
        return [t[indices] for t in self.tensors]


def default_collate(batch: Sequence[Any]) -> Any:
    """Stack a list of samples into batched tensors, recursing into tuples/dicts.

    Tensors and numpy arrays are stacked along a new first dim; Python ints
    become int64 and floats float32 (dlcore's default), as in PyTorch.
    """
    elem = batch[0]
    if isinstance(elem, dict):
        return {k: default_collate([d[k] for d in batch]) for k in elem}
    if isinstance(elem, (tuple, list)):
        if any(len(s) != len(elem) for s in batch):
            raise RuntimeError("each element in list of batch should be of equal size")
        return [default_collate(list(samples)) for samples in zip(*batch)]
    if isinstance(elem, Tensor):
        return dlcore.from_numpy(np.stack([s.detach().numpy() for s in batch]))
    if isinstance(elem, np.ndarray):
        return dlcore.from_numpy(np.stack(batch))
    if isinstance(elem, (bool, np.bool_)):
        return dlcore.tensor(list(batch), dtype=dlcore.bool)
    if isinstance(elem, (int, np.integer)):
        return dlcore.tensor(list(batch), dtype=dlcore.int64)
    if isinstance(elem, (float, np.floating)):
        return dlcore.tensor(list(batch), dtype=dlcore.float32)
    return batch


class DataLoader:
    r"""Iterate over a dataset in (optionally shuffled) mini-batches.

    Args:
        dataset (Dataset): dataset to load from.
        batch_size (int, optional): samples per batch; ``None`` yields single
            samples, un-batched. Default: 1.
        shuffle (bool): reshuffle the order at the start of every epoch.
            Default: ``False``.
        drop_last (bool): drop the last batch if it is smaller than
            ``batch_size``. Default: ``False``.
        collate_fn (callable, optional): merges a list of samples into a batch.
            Default: :func:`default_collate` (``TensorDataset`` batches skip it
            and are gathered directly).
        generator (numpy.random.Generator, optional): source of the shuffling
            order.
        seed (int, optional): seed for a generator created once here, so every
            epoch gets a new but reproducible order. With neither ``generator``
            nor ``seed``, each epoch's order is drawn from dlcore's global
            generator, so ``dlcore.manual_seed`` makes it reproducible (as
            ``torch.manual_seed`` does for torch's DataLoader).

    Examples::

        >>> X, y = dlcore.data.spiral(n_per_class=10)
        >>> loader = dlcore.data.DataLoader(
        ...     dlcore.data.TensorDataset(X, y), batch_size=8, shuffle=True, seed=0)
        >>> len(loader), [tuple(xb.shape) for xb, yb in loader][-1]
        (4, (6, 2))
    """

    def __init__(
        self,
        dataset: Dataset,
        batch_size: int | None = 1,
        shuffle: bool = False,
        drop_last: bool = False,
        collate_fn: Callable[[list], Any] | None = None,
        generator: np.random.Generator | None = None,
        seed: int | None = None,
    ) -> None:
        if batch_size is not None and (
            isinstance(batch_size, bool)
            or not isinstance(batch_size, int)
            or batch_size <= 0
        ):
            raise ValueError(
                "batch_size should be a positive integer value, but got "
                f"batch_size={batch_size}"
            )
        if batch_size is None and drop_last:
            raise ValueError(
                "batch_size=None option disables auto-batching and is mutually "
                "exclusive with drop_last"
            )
        if generator is not None and seed is not None:
            raise ValueError("DataLoader: pass either generator or seed, not both")
        if generator is not None and not isinstance(generator, np.random.Generator):
            raise TypeError(
                f"DataLoader: generator must be a numpy.random.Generator, got "
                f"{type(generator).__name__}"
            )
        self.dataset = dataset
        self.batch_size = batch_size
        self.shuffle = shuffle
        self.drop_last = drop_last
        self.collate_fn = collate_fn
        self.generator = np.random.default_rng(seed) if seed is not None else generator

    def __len__(self) -> int:
        n = len(self.dataset)
        if self.batch_size is None:
            return n
        if self.drop_last:
            return n // self.batch_size
        return math.ceil(n / self.batch_size)

    def _order(self) -> np.ndarray:
        n = len(self.dataset)
        if not self.shuffle:
            return np.arange(n, dtype=np.int64)
        rng = self.generator
        if rng is None:
            # Derive this epoch's seed from dlcore's RNG so manual_seed governs it.
            seed = int(dlcore.randint(0, 2**62, (1,)).item())
            rng = np.random.default_rng(seed)
        return rng.permutation(n).astype(np.int64)

    def __iter__(self) -> Iterator[Any]:
        order = self._order()
        if self.batch_size is None:
            for i in order:
                yield self.dataset[int(i)]
            return
        n, bs = len(order), self.batch_size
        stop = n - n % bs if self.drop_last else n
        fast = isinstance(self.dataset, TensorDataset) and self.collate_fn is None
        collate = self.collate_fn or default_collate
        for start in range(0, stop, bs):
            idx = order[start : start + bs]
            if fast:
                yield self.dataset._get_batch(idx)
            else:
                yield collate([self.dataset[int(i)] for i in idx])
