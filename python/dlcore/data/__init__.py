"""Datasets and data loading: ``Dataset``, ``TensorDataset``, ``DataLoader``,
samplers, splits (``random_split``, ``KFold``, ``StratifiedKFold``,
``bootstrap``), bundled synthetic datasets, MNIST / CIFAR-10 readers, and
batch transforms (:mod:`dlcore.data.transforms`)."""

from . import transforms
from .dataloader import DataLoader, Dataset, TensorDataset, default_collate
from .datasets import adding_problem, blobs, circles, moons, sine, sine_sequences, spiral, xor
from .digits import ColoredDigits, colored_digits, render_digits
from .samplers import (
    RandomSampler,
    Sampler,
    SequentialSampler,
    SubsetRandomSampler,
    WeightedRandomSampler,
)
from .splits import (
    ConcatDataset,
    KFold,
    StratifiedKFold,
    Subset,
    bootstrap,
    bootstrap_indices,
    random_split,
)
from .vision import CIFAR10, MNIST, read_idx

__all__ = [
    "CIFAR10",
    "ColoredDigits",
    "ConcatDataset",
    "DataLoader",
    "Dataset",
    "KFold",
    "MNIST",
    "RandomSampler",
    "Sampler",
    "SequentialSampler",
    "StratifiedKFold",
    "Subset",
    "SubsetRandomSampler",
    "TensorDataset",
    "WeightedRandomSampler",
    "adding_problem",
    "blobs",
    "bootstrap",
    "bootstrap_indices",
    "circles",
    "colored_digits",
    "default_collate",
    "moons",
    "random_split",
    "read_idx",
    "render_digits",
    "sine",
    "sine_sequences",
    "spiral",
    "transforms",
    "xor",
]
