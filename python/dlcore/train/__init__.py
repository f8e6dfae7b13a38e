"""Training: ``Trainer``, callbacks, metrics, ``History``, cross-validation
and ensembles (bagging, SAMME boosting)."""

from . import metrics
from .callbacks import (
    Callback,
    EarlyStopping,
    GradientClipping,
    LRScheduler,
    ModelCheckpoint,
    ProgressBar,
    TerminateOnNaN,
)
from .crossval import CrossValidationResult, cross_validate
from .ensemble import AdaBoostClassifier, BaggingEnsemble
from .history import History
from .trainer import Trainer

__all__ = [
    "AdaBoostClassifier",
    "BaggingEnsemble",
    "Callback",
    "CrossValidationResult",
    "EarlyStopping",
    "GradientClipping",
    "History",
    "LRScheduler",
    "ModelCheckpoint",
    "ProgressBar",
    "TerminateOnNaN",
    "Trainer",
    "cross_validate",
    "metrics",
]
