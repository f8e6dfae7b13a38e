"""Neural-network building blocks: ``Module``, layers, ``functional`` and ``init``."""

from . import functional, init, utils
from .layers import (
    CrossEntropyLoss,
    Flatten,
    Identity,
    Linear,
    MSELoss,
    ReLU,
    Sequential,
    Sigmoid,
    Tanh,
)
from .losses import *  # noqa: F403  (L1Loss, NLLLoss, BCEWithLogitsLoss, ...)
from .losses import __all__ as _losses_all
from .containers import ModuleDict, ModuleList
from .conv import Conv1d, Conv2d, ConvTranspose2d
from .dropout import Dropout, Dropout2d
from .module import Module, Parameter
from .noise import GaussianDropout, GaussianNoise

__all__ = [
    "CrossEntropyLoss",
    "Flatten",
    "Identity",
    "Linear",
    "MSELoss",
    "Module",
    "Parameter",
    "ReLU",
    "Sequential",
    "Sigmoid",
    "Tanh",
    "functional",
    "init",
    "utils",
]
__all__ += [*_losses_all, "GaussianDropout", "GaussianNoise", "Dropout", "Dropout2d", "ModuleList", "ModuleDict", "Conv1d", "Conv2d", "ConvTranspose2d"]
