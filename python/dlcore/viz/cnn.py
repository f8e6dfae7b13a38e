"""What a convolutional network looks at: filters, feature maps, Grad-CAM.

Everything here is generic over the layer: ``plot_filters`` needs a module
(or tensor) with a 4-D ``weight`` ``(out, in, kh, kw)``; ``plot_feature_maps``
and ``grad_cam`` need a target module whose output is ``(N, C, H, W)``. The
activations are captured with a forward hook, and Grad-CAM's gradient comes
from ``dlcore.autograd.grad(score, activation)`` (no ``.grad`` is touched).
"""

from __future__ import annotations

import os
from typing import Any, Sequence

import matplotlib
import numpy as np
from matplotlib.figure import Figure

import dlcore

from . import _style as S

__all__ = ["plot_filters", "feature_maps", "plot_feature_maps", "grad_cam", "plot_grad_cam", "resize_bilinear"]


def resize_bilinear(a: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Bilinear resize of a 2-D array to ``size = (H, W)``, matching
    ``F.interpolate(mode="bilinear", align_corners=False)`` (half-pixel centres).

    Examples::

        >>> import numpy as np
        >>> dlcore.viz.resize_bilinear(np.array([[0.0, 1.0]]), (1, 4)).tolist()
        [[0.0, 0.25, 0.75, 1.0]]
    """
    a = np.asarray(a, dtype=np.float64)
    h, w = a.shape
    H, W = int(size[0]), int(size[1])

    def coords(n_in: int, n_out: int):
        src = np.clip((np.arange(n_out) + 0.5) * (n_in / n_out) - 0.5, 0.0, None)
        lo = np.minimum(np.floor(src).astype(np.int64), n_in - 1)
        hi = np.minimum(lo + 1, n_in - 1)
        return lo, hi, src - lo

    y0, y1, fy = coords(h, H)
    x0, x1, fx = coords(w, W)
    top = a[y0][:, x0] * (1 - fx) + a[y0][:, x1] * fx  # (H, W)
    bottom = a[y1][:, x0] * (1 - fx) + a[y1][:, x1] * fx
    return top * (1 - fy)[:, None] + bottom * fy[:, None]


def _batch_of_one(image: Any, dtype) -> dlcore.Tensor:
    x = S.as_input(image, dtype)
    if x.ndim == 3:
        x = x.unsqueeze(0)  # (1, C, H, W)
    if x.ndim != 4 or x.shape[0] != 1:
        raise ValueError(f"expected one image (C, H, W) or (1, C, H, W), got shape {tuple(x.shape)}")
    return x


def _nchw(t: Any, who: str, layer: Any) -> None:
    if t.ndim != 4:
        raise ValueError(f"{who}: {type(layer).__name__} output has shape {tuple(t.shape)}; "
                         "expected (N, C, H, W)")


def _layer_name(model, layer) -> str:
    kind = type(layer).__name__
    for name, m in getattr(model, "named_modules", lambda: [])():
        if m is layer and name:
            return f"'{name}' ({kind})"
    return kind


def _display(image: np.ndarray) -> np.ndarray:
    """(C, H, W) -> (H, W, 3) or (H, W) in [0, 1] for imshow."""
    img = image.astype(np.float64)
    img = np.moveaxis(img, 0, -1) if img.shape[0] in (1, 3) else img.mean(axis=0)[..., None]
    lo, hi = img.min(), img.max()
    img = (img - lo) / (hi - lo) if hi > lo else np.zeros_like(img)
    return img[..., 0] if img.shape[-1] == 1 else img


def plot_filters(
    layer: Any,
    path: str | os.PathLike | None = None,
    *,
    max_filters: int = 64,
    max_cols: int = 8,
    title: str | None = None,
) -> Figure:
    r"""Draw the kernels of a convolution, one small image per output channel.

    With 3 input channels each filter is an RGB image (min-max scaled over
    all filters, as in AlexNet's first-layer figure); otherwise each filter
    is averaged over its input channels and drawn with a diverging colour map
    centred on zero (red positive, blue negative, shared scale).

    Args:
        layer: a module with a 4-D ``weight`` ``(out, in, kh, kw)`` (e.g.
            ``nn.Conv2d``), or that weight itself.
        path (str, optional): save the figure there (.png or .svg).
        max_filters (int): draw at most this many filters. Default: 64.
        max_cols (int): filters per row. Default: 8.
        title (str, optional): figure title (default names the shape).

    Returns:
        matplotlib.figure.Figure: panel ``i``'s image data is filter ``i``.

    Examples::

        >>> import numpy as np
        >>> fig = dlcore.viz.plot_filters(np.zeros((4, 1, 3, 3)))
        >>> fig.axes[0].images[0].get_array().shape
        (3, 3)
    """
    w = S.to_numpy(getattr(layer, "weight", layer)).astype(np.float64)
    if w.ndim != 4:
        raise ValueError(f"plot_filters: expected a 4-D weight (out, in, kh, kw), got shape {w.shape}")
    n = min(w.shape[0], max_filters)
    rgb = w.shape[1] == 3
    fig = S.new_figure(min(n, max_cols) * 0.9 + 1.4, S.grid_shape(n, max_cols)[0] * 0.9 + 1.2)
    axes = S.image_grid(fig, n, max_cols)
    if rgb:
        lo, hi = w[:n].min(), w[:n].max()
        scaled = (w[:n] - lo) / (hi - lo) if hi > lo else np.zeros_like(w[:n])
        for i, ax in enumerate(axes):
            ax.imshow(np.moveaxis(scaled[i], 0, -1), interpolation="nearest")
    else:
        maps = w[:n].mean(axis=1)  # (n, kh, kw)
        lim = max(float(np.abs(maps).max()), 1e-12)
        image = None
        for i, ax in enumerate(axes):
            image = ax.imshow(maps[i], cmap=S.DIVERGING, vmin=-lim, vmax=lim, interpolation="nearest")
        bar = fig.colorbar(image, ax=axes, shrink=0.8)
        bar.set_label("mean weight" if w.shape[1] > 1 else "weight")
    shape = "x".join(str(s) for s in w.shape)
    fig.suptitle(title or f"Filters ({shape}{', first %d' % n if n < w.shape[0] else ''})")
    return S.save(fig, path)


def feature_maps(model, layer, image: Any) -> np.ndarray:
    """The output of ``layer`` when ``model`` runs on one image, as a ``(C, H, W)``
    array (eval mode, no gradients)."""
    x = _batch_of_one(image, S.model_dtype(model))
    with S.capture(layer) as seen, S.eval_mode(model), dlcore.no_grad():
        model(x)
    if not seen:
        raise RuntimeError(f"feature_maps: {type(layer).__name__} was not called by the model's forward")
    _nchw(seen[-1], "feature_maps", layer)
    return S.to_numpy(seen[-1])[0].astype(np.float64)


def plot_feature_maps(
    model,
    layer,
    image: Any,
    path: str | os.PathLike | None = None,
    *,
    max_maps: int = 32,
    max_cols: int = 8,
    title: str | None = None,
) -> Figure:
    r"""The activations of ``layer`` for one image, one panel per channel.

    All maps share one sequential colour scale (one colour bar), so dead or
    weak channels show as uniformly dark instead of being stretched.

    Args:
        model (nn.Module): the network.
        layer (nn.Module): a module inside ``model`` whose output is ``(N, C, H, W)``.
        image: ``(C, H, W)`` or ``(1, C, H, W)`` tensor or array.
        path (str, optional): save the figure there (.png or .svg).
        max_maps (int): draw at most this many channels. Default: 32.
        max_cols (int): maps per row. Default: 8.
        title (str, optional): figure title.

    Returns:
        matplotlib.figure.Figure: panel ``c``'s image data is channel ``c``.
    """
    maps = feature_maps(model, layer, image)
    n = min(maps.shape[0], max_maps)
    fig = S.new_figure(min(n, max_cols) * 1.1 + 1.4, S.grid_shape(n, max_cols)[0] * 1.1 + 1.0)
    axes = S.image_grid(fig, n, max_cols)
    lo, hi = float(maps[:n].min()), float(maps[:n].max())
    image_artist = None
    for c, ax in enumerate(axes):
        image_artist = ax.imshow(maps[c], cmap=S.SEQUENTIAL, vmin=lo, vmax=hi if hi > lo else lo + 1e-12,
                                 interpolation="nearest")
        ax.set_title(str(c), fontsize="x-small", pad=2)
    bar = fig.colorbar(image_artist, ax=axes, shrink=0.8)
    bar.set_label("activation")
    shape = "x".join(str(s) for s in maps.shape)
    fig.suptitle(title or f"Feature maps of {_layer_name(model, layer)} ({shape})")
    return S.save(fig, path)


def grad_cam(model, target_layer, image: Any, class_idx: int | None = None, *,
             size: tuple[int, int] | None = None) -> np.ndarray:
    r"""Grad-CAM heat-map: where in the image the evidence for a class is.

    Selvaraju et al., "Grad-CAM: Visual Explanations from Deep Networks via
    Gradient-based Localization", ICCV 2017. With :math:`A^k` the target
    layer's feature maps and :math:`y^c` the class score (logit),
    :math:`\alpha_k = \operatorname{mean}_{ij} \partial y^c / \partial A^k_{ij}`
    and the map is :math:`\mathrm{ReLU}(\sum_k \alpha_k A^k)`, upsampled
    bilinearly to the image and scaled to a maximum of 1 (all zeros when
    nothing speaks for the class).

    Args:
        model (nn.Module): maps ``(1, C, H, W)`` to ``(1, num_classes)`` scores.
        target_layer (nn.Module): a module inside ``model`` with ``(N, K, h, w)``
            output, usually the last convolutional block.
        image: ``(C, H, W)`` or ``(1, C, H, W)`` tensor or array.
        class_idx (int, optional): the class to explain; default the predicted one.
        size ((H, W), optional): output size; default the image's.

    Returns:
        numpy.ndarray: ``(H, W)`` map in ``[0, 1]``.
    """
    x = _batch_of_one(image, S.model_dtype(model))
    with S.capture(target_layer) as seen, S.eval_mode(model), dlcore.enable_grad():
        scores = model(x)
        if not seen:
            raise RuntimeError(f"grad_cam: {type(target_layer).__name__} was not called by the model's forward")
        acts = seen[-1]  # (1, K, h, w)
        _nchw(acts, "grad_cam", target_layer)
        if scores.ndim != 2 or scores.shape[0] != 1:
            raise ValueError(f"grad_cam: model output must be (1, num_classes), got {tuple(scores.shape)}")
        if class_idx is None:
            class_idx = int(scores.argmax(1).item())
        if not 0 <= class_idx < scores.shape[1]:
            raise IndexError(f"grad_cam: class_idx {class_idx} out of range for {scores.shape[1]} classes")
        if not acts.requires_grad:
            raise RuntimeError("grad_cam: the target layer's output does not require grad "
                               "(are the model's parameters frozen?)")
        (grads,) = dlcore.autograd.grad(scores[0, class_idx], acts)
    a = S.to_numpy(acts)[0].astype(np.float64)  # (K, h, w)
    g = S.to_numpy(grads)[0].astype(np.float64)
    weights = g.mean(axis=(1, 2))  # (K,)
    cam = np.maximum(np.tensordot(weights, a, axes=1), 0.0)  # (h, w)
    out = resize_bilinear(cam, size or tuple(x.shape[-2:]))
    out = np.maximum(out, 0.0)
    top = out.max()
    return out / top if top > 0 else out


def plot_grad_cam(
    model,
    target_layer,
    image: Any,
    class_idx: int | None = None,
    path: str | os.PathLike | None = None,
    *,
    alpha: float = 0.5,
    class_names: Sequence[str] | None = None,
    title: str | None = "Grad-CAM",
) -> Figure:
    """Three panels: the image, the :func:`grad_cam` heat-map, and the heat-map
    overlaid on the image (``alpha`` opacity).

    Returns:
        matplotlib.figure.Figure: the heat-map panel's image data is the map.
    """
    x = S.to_numpy(image)
    x = x[0] if x.ndim == 4 else x
    if class_idx is None:
        with S.eval_mode(model), dlcore.no_grad():
            class_idx = int(model(_batch_of_one(image, S.model_dtype(model))).argmax(1).item())
    cam = grad_cam(model, target_layer, image, class_idx)
    shown = _display(x)
    gray = shown.ndim == 2
    cmap = matplotlib.colormaps["inferno"]
    fig = S.new_figure(9.6, 3.6)
    axes = S.image_grid(fig, 3, 3)
    axes[0].imshow(shown, cmap="gray" if gray else None, interpolation="nearest")
    axes[0].set_title("input")
    heat = axes[1].imshow(cam, cmap=cmap, vmin=0.0, vmax=1.0, interpolation="nearest")
    axes[1].set_title("Grad-CAM")
    axes[2].imshow(shown, cmap="gray" if gray else None, interpolation="nearest")
    axes[2].imshow(cam, cmap=cmap, vmin=0.0, vmax=1.0, alpha=alpha, interpolation="bilinear")
    axes[2].set_title("overlay")
    fig.colorbar(heat, ax=axes, shrink=0.8).set_label("relevance (max = 1)")
    name = class_names[class_idx] if class_names is not None else f"class {class_idx}"
    if title:
        fig.suptitle(f"{title}: evidence for {name}")
    return S.save(fig, path)
