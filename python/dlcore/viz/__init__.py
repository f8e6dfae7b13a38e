"""``dlcore.viz``: the pictures that explain training (matplotlib, headless Agg backend).

Every ``plot_*`` function builds a ``matplotlib.figure.Figure`` (never pyplot
state, so a Jupyter session's backend is left alone), returns it, and saves
it as PNG/SVG/PDF when given a path.

================================  =============================================
module                            plots
================================  =============================================
:mod:`~dlcore.viz.curves`         ``plot_history``, ``plot_loss_curve``
:mod:`~dlcore.viz.boundary`       ``plot_decision_boundary``
:mod:`~dlcore.viz.landscape`      ``plot_loss_landscape`` (+ ``loss_surface``, ``loss_interpolation``)
:mod:`~dlcore.viz.manifold`       ``plot_manifold``, ``ManifoldRecorder``
:mod:`~dlcore.viz.attention`      ``plot_attention``
:mod:`~dlcore.viz.cnn`            ``plot_filters``, ``plot_feature_maps``, ``grad_cam``, ``plot_grad_cam``
:mod:`~dlcore.viz.tables`         ``plot_confusion_matrix``, ``plot_param_counts``, ``plot_lr_schedule``,
                                  ``plot_benchmark``
================================  =============================================
"""

from .attention import plot_attention
from .boundary import plot_decision_boundary
from .cnn import feature_maps, grad_cam, plot_feature_maps, plot_filters, plot_grad_cam, resize_bilinear
from .curves import plot_history, plot_loss_curve, smooth
from .landscape import LossSurface, loss_interpolation, loss_surface, plot_loss_landscape, random_direction
from .manifold import ManifoldRecorder, hidden_representation, pca_2d, plot_manifold
from .tables import param_counts, plot_benchmark, plot_confusion_matrix, plot_lr_schedule, plot_param_counts

__all__ = [
    "plot_history", "plot_loss_curve", "smooth",
    "plot_decision_boundary",
    "plot_loss_landscape", "loss_surface", "loss_interpolation", "random_direction", "LossSurface",
    "plot_manifold", "ManifoldRecorder", "hidden_representation", "pca_2d",
    "plot_attention",
    "plot_filters", "feature_maps", "plot_feature_maps", "grad_cam", "plot_grad_cam", "resize_bilinear",
    "plot_confusion_matrix", "param_counts", "plot_param_counts", "plot_lr_schedule", "plot_benchmark",
]
