"""Optimizers. Each ``step()`` is one Rust call over all parameters of a group.

PyTorch's: SGD, Adam, AdamW, RAdam, NAdam, Adamax, Adagrad, RMSprop (same
arguments, defaults, state keys and formulas). From papers: AdaBound,
AdaBelief, AdamP, Lion. Learning-rate schedules live in
:mod:`dlcore.optim.lr_scheduler`.
"""

from . import lr_scheduler
from .adagrad import Adagrad, RMSprop
from .adam import Adam, Adamax, AdamW, NAdam, RAdam
from .optimizer import Optimizer
from .paper import AdaBelief, AdaBound, AdamP, Lion
from .sgd import SGD

__all__ = [
    "SGD",
    "AdaBelief",
    "AdaBound",
    "Adagrad",
    "Adam",
    "AdamP",
    "AdamW",
    "Adamax",
    "Lion",
    "NAdam",
    "Optimizer",
    "RAdam",
    "RMSprop",
    "lr_scheduler",
]
