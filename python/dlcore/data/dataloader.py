"""``Dataset``, ``TensorDataset`` and ``DataLoader``, shaped like ``torch.utils.data``.

A dataset with a ``_get_batch(indices)`` method (``TensorDataset``,
``Subset`` of one, the bundled image datasets) builds a whole batch at once,
e.g. one gather per tensor (``t[indices]``, done in Rust), never by fetching
samples one at a time in Python. Other datasets fall back to per-sample
``__getitem__`` plus :func:`default_collate`.

With ``num_workers > 0`` batches are built by background threads and queued
ahead (``prefetch_factor`` per worker), so loading and augmentation overlap
the training step; the Rust kernels release the GIL, so threads suffice.
Batches still arrive in order, and random transforms draw from a per-batch
generator, so the result is identical for any ``num_workers``.
"""

from __future__ import annotations

import math
from collections import deque
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Callable, Iterable, Iterator, Sequence

import numpy as np

import dlcore
from dlcore import Tensor

from ._random import batch_rng, global_seed
from .samplers import RandomSampler, Sampler, SequentialSampler, _as_generator
from .splits import _fetch_batch

__all__ = ["Dataset", "TensorDataset", "DataLoader", "default_collate"]


class Dataset:
    """Abstract map-style dataset: implement ``__getitem__`` and ``__len__``."""

    def __getitem__(self, index: int) -> Any:
        raise NotImplementedError("Subclasses of Dataset should implement __getitem__.")

    def __len__(self) -> int:
        raise NotImplementedError("Subclasses of Dataset should implement __len__.")

    def __add__(self, other: Dataset):
        from .splits import ConcatDataset

        return ConcatDataset([self, other])


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
        sampler (Sampler or iterable, optional): the order of indices; excludes
            ``shuffle``.
        batch_sampler (iterable of index lists, optional): yields whole batches of
            indices; excludes ``batch_size``, ``shuffle``, ``sampler``, ``drop_last``.
        num_workers (int): background threads that build batches ahead of the
            consumer; 0 builds them in the calling thread. Default: 0.
        collate_fn (callable, optional): merges a list of samples into a batch.
            Default: :func:`default_collate` (datasets with a batched fast path
            skip it).
        pin_memory (bool): accepted for PyTorch compatibility; no effect.
        drop_last (bool): drop the last batch if it is smaller than
            ``batch_size``. Default: ``False``.
        generator (numpy.random.Generator or int, optional): source of the
            shuffling order and of the per-batch augmentation seeds.
        prefetch_factor (int, optional): batches queued per worker. Default: 2
            when ``num_workers > 0``.
        seed (int, optional): seed for a generator created once here, so every
            epoch gets a new but reproducible order. With neither ``generator``
            nor ``seed``, each epoch's order is drawn from dlcore's global
            generator, so ``dlcore.manual_seed`` makes it reproducible (as
            ``torch.manual_seed`` does for torch's DataLoader).

    Examples::

        >>> X, y = dlcore.data.spiral(n_per_class=10)
        >>> loader = dlcore.data.DataLoader(
        ...     dlcore.data.TensorDataset(X, y), batch_size=8, shuffle=True, seed=0,
        ...     num_workers=2)
        >>> len(loader), [tuple(xb.shape) for xb, yb in loader][-1]
        (4, (6, 2))
    """

    def __init__(
        self,
        dataset: Dataset,
        batch_size: int | None = 1,
        shuffle: bool | None = None,
        sampler: Sampler | Iterable[int] | None = None,
        batch_sampler: Iterable[Sequence[int]] | None = None,
        num_workers: int = 0,
        collate_fn: Callable[[list], Any] | None = None,
        pin_memory: bool = False,
        drop_last: bool = False,
        timeout: float = 0,
        worker_init_fn: Callable[[int], None] | None = None,
        multiprocessing_context=None,
        generator: np.random.Generator | int | None = None,
        *,
        prefetch_factor: int | None = None,
        persistent_workers: bool = False,
        pin_memory_device: str = "",
        seed: int | None = None,
    ) -> None:
        if batch_size is not None and (
            isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size <= 0
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
        if isinstance(num_workers, bool) or not isinstance(num_workers, int) or num_workers < 0:
            raise ValueError(
                "num_workers option should be non-negative; use num_workers=0 to disable "
                f"multiprocessing, got {num_workers!r}"
            )
        if num_workers == 0 and prefetch_factor is not None:
            raise ValueError(
                "prefetch_factor option could only be specified in multiprocessing."
                "let num_workers > 0 to enable multiprocessing, otherwise set prefetch_factor to None."
            )
        if prefetch_factor is not None and prefetch_factor < 1:
            raise ValueError(f"prefetch_factor must be a positive integer, got {prefetch_factor}")
        if sampler is not None and shuffle:
            raise ValueError("sampler option is mutually exclusive with shuffle")
        if batch_sampler is not None and (
            batch_size != 1 or shuffle or sampler is not None or drop_last
        ):
            raise ValueError(
                "batch_sampler option is mutually exclusive with batch_size, shuffle, "
                "sampler, and drop_last"
            )
        if generator is not None and seed is not None:
            raise ValueError("DataLoader: pass either generator or seed, not both")
        self.dataset = dataset
        self.batch_size = None if batch_sampler is not None else batch_size
        self.shuffle = bool(shuffle)
        self.drop_last = drop_last
        self.collate_fn = collate_fn
        self.num_workers = num_workers
        self.prefetch_factor = prefetch_factor if prefetch_factor is not None else (2 if num_workers else None)
        self.pin_memory = pin_memory
        self.timeout = timeout
        self.worker_init_fn = worker_init_fn
        self.generator = np.random.default_rng(seed) if seed is not None else _as_generator(generator)
        if sampler is None:
            sampler = (RandomSampler(dataset, generator=self.generator) if self.shuffle
                       else SequentialSampler(dataset))  # fmt: skip
        self.sampler = sampler
        self.batch_sampler = batch_sampler

    def __len__(self) -> int:
        if self.batch_sampler is not None:
            return len(self.batch_sampler)
        n = len(self.sampler)
        if self.batch_size is None:
            return n
        if self.drop_last:
            return n // self.batch_size
        return math.ceil(n / self.batch_size)

    def _order(self) -> np.ndarray:
        if isinstance(self.sampler, Sampler):
            return self.sampler.indices()
        return np.fromiter(iter(self.sampler), dtype=np.int64)

    def _batches(self) -> list[np.ndarray]:
        if self.batch_sampler is not None:
            return [np.asarray(b, dtype=np.int64) for b in self.batch_sampler]
        order = self._order()
        n, bs = len(order), self.batch_size
        stop = n - n % bs if self.drop_last else n
        return [order[i : i + bs] for i in range(0, stop, bs)]

    def _fetch(self, idx: np.ndarray, seed) -> Any:
        with batch_rng(seed):
            if self.collate_fn is None:
                return _fetch_batch(self.dataset, idx)
            return self.collate_fn([self.dataset[int(i)] for i in idx])

    def __iter__(self) -> Iterator[Any]:
        if self.batch_size is None and self.batch_sampler is None:
            for i in self._order():
                yield self.dataset[int(i)]
            return
        batches = self._batches()
        # per-batch augmentation seeds: (epoch seed, batch index), identical for any num_workers
        base = int(self.generator.integers(0, 2**62)) if self.generator is not None else global_seed()
        if self.num_workers == 0:
            for b, idx in enumerate(batches):
                yield self._fetch(idx, (base, b))
            return
        yield from self._prefetched(batches, base)

    def _prefetched(self, batches: list[np.ndarray], base: int) -> Iterator[Any]:
        window = self.num_workers * self.prefetch_factor
        init = self.worker_init_fn
        counter = iter(range(self.num_workers))
        pool = ThreadPoolExecutor(
            self.num_workers,
            thread_name_prefix="dlcore-loader",
            initializer=(lambda: init(next(counter))) if init is not None else None,
        )
        pending: deque = deque()
        try:
            for b, idx in enumerate(batches):
                pending.append(pool.submit(self._fetch, idx, (base, b)))
                if len(pending) >= window:
                    yield pending.popleft().result(timeout=self.timeout or None)
            while pending:
                yield pending.popleft().result(timeout=self.timeout or None)
        finally:  # early exit (break, exception): drop queued work, let running batches finish
            for fut in pending:
                fut.cancel()
            pool.shutdown(wait=True)
