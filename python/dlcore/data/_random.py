"""Where random data-pipeline code (shuffling, augmentation) gets its numbers.

Precedence: an explicit ``generator`` argument; else the per-batch generator
the :class:`~dlcore.data.DataLoader` installs (thread-locally) while it builds
a batch; else a fresh generator seeded from dlcore's global RNG, so
``dlcore.manual_seed`` makes a pipeline reproducible. The per-batch generator
is seeded from ``(epoch seed, batch index)``, so augmented batches are the
same whether they are built in the main thread or in prefetch threads.
"""

from __future__ import annotations

import contextlib
import threading

import numpy as np

import dlcore

_local = threading.local()


def global_seed() -> int:
    """A seed drawn from dlcore's global generator (advances it)."""
    return int(dlcore.randint(0, 2**62, (1,)).item())


def get_rng(generator: np.random.Generator | int | None = None) -> np.random.Generator:
    """The generator a random transform should draw from (see module docstring)."""
    if isinstance(generator, np.random.Generator):
        return generator
    if generator is not None:
        return np.random.default_rng(generator)
    current = getattr(_local, "rng", None)
    if current is not None:
        return current
    return np.random.default_rng(global_seed())


@contextlib.contextmanager
def batch_rng(seed):
    """Install ``default_rng(seed)`` as this thread's generator for the block."""
    previous = getattr(_local, "rng", None)
    _local.rng = np.random.default_rng(seed)
    try:
        yield _local.rng
    finally:
        _local.rng = previous
