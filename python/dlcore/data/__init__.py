"""Datasets and data loading: ``Dataset``, ``TensorDataset``, ``DataLoader`` and
bundled toy datasets (``spiral``, ``xor``) returned as dlcore tensors."""

from .dataloader import DataLoader, Dataset, TensorDataset, default_collate
from .datasets import spiral, xor

__all__ = ["DataLoader", "Dataset", "TensorDataset", "default_collate", "spiral", "xor"]
