"""Kept for old imports (``from dlcore.viz.plots import ...``); the plots now
live in :mod:`dlcore.viz.curves` and :mod:`dlcore.viz.boundary`."""

from .boundary import plot_decision_boundary
from .curves import plot_loss_curve

__all__ = ["plot_decision_boundary", "plot_loss_curve"]
