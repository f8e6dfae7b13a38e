"""Plots of training runs and models (matplotlib, headless Agg backend)."""

from .plots import plot_decision_boundary, plot_loss_curve

__all__ = ["plot_decision_boundary", "plot_loss_curve"]
