"""Optimizers. Each ``step()`` is one Rust call over all parameters of a group."""

from .optimizer import Optimizer
from .sgd import SGD

__all__ = ["Optimizer", "SGD"]
