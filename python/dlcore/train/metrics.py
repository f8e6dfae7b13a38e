"""Evaluation metrics: functions for one batch, and ``Metric`` objects that
accumulate over an epoch (what :class:`~dlcore.train.Trainer` uses).

Counting metrics (accuracy, precision/recall/F1, IoU) accumulate a confusion
matrix or hit counts, so the epoch value is exact, not an average of batch
values. Arithmetic runs in NumPy on detached outputs (vectorised; no Python
loop over samples). Inputs may be dlcore tensors, NumPy arrays or torch tensors.

Classification inputs follow torchmetrics: ``input`` is either scores of shape
``(N, C, *)`` (logits or probabilities; the prediction is the arg-max over
dim 1) or labels of the target's shape ``(N, *)``; floating labels of the
target's shape are probabilities of a binary problem, thresholded at 0.5.
"""

from __future__ import annotations

from typing import Any, Callable

import numpy as np

import dlcore

__all__ = [
    "accuracy", "top_k_accuracy", "confusion_matrix", "precision", "recall", "f1_score",
    "mean_squared_error", "mean_absolute_error", "iou", "box_iou",
    "Metric", "Accuracy", "ConfusionMatrix", "Precision", "Recall", "F1Score",
    "MeanSquaredError", "MeanAbsoluteError", "IoU", "MeanMetric", "get_metric",
]


def _np(x: Any) -> np.ndarray:
    if isinstance(x, dlcore.Tensor):
        return x.detach().cpu().numpy()
    if hasattr(x, "detach") and hasattr(x, "cpu"):  # torch.Tensor
        return x.detach().cpu().numpy()
    return np.asarray(x)


def _labels(input: Any, target: Any) -> tuple[np.ndarray, np.ndarray]:
    pred, tgt = _np(input), _np(target)
    if pred.ndim == tgt.ndim + 1:
        if pred.shape[:1] + pred.shape[2:] != tgt.shape:
            raise ValueError(
                f"metrics: scores of shape {pred.shape} do not match target of shape {tgt.shape} "
                "(expected (N, C, *) scores for an (N, *) target)"
            )
        pred = pred.argmax(axis=1)
    elif pred.shape != tgt.shape:
        raise ValueError(f"metrics: input of shape {pred.shape} does not match target of shape {tgt.shape}")
    elif pred.dtype.kind == "f":
        pred = pred >= 0.5
    if tgt.dtype.kind == "f" and not np.all(tgt == np.round(tgt)):
        raise ValueError("metrics: classification targets must be integer class labels")
    return pred.astype(np.int64).ravel(), tgt.astype(np.int64).ravel()


def _confusion(pred: np.ndarray, tgt: np.ndarray, num_classes: int | None) -> np.ndarray:
    k = num_classes or int(max(pred.max(initial=-1), tgt.max(initial=-1)) + 1)
    if pred.size and (min(pred.min(), tgt.min()) < 0 or max(pred.max(), tgt.max()) >= k):
        raise ValueError(f"metrics: class labels must lie in [0, {k}), got values in "
                         f"[{min(pred.min(), tgt.min())}, {max(pred.max(), tgt.max())}]")
    return np.bincount(tgt * k + pred, minlength=k * k).reshape(k, k)


def _check_average(average: str | None) -> None:
    if average not in ("macro", "micro", "none", None):
        raise ValueError(f"metrics: average must be 'macro', 'micro' or 'none', got {average!r}")


def _prf_from_confusion(cm: np.ndarray, which: str, average: str | None) -> Any:
    # Rows are true classes, columns predicted ones.
    _check_average(average)
    tp = np.diag(cm).astype(np.float64)
    pred_pos, true_pos = cm.sum(axis=0), cm.sum(axis=1)
    if average == "micro":
        tp, pred_pos, true_pos = tp.sum(), pred_pos.sum(), true_pos.sum()
    with np.errstate(divide="ignore", invalid="ignore"):
        p = np.where(pred_pos > 0, tp / np.maximum(pred_pos, 1), 0.0)
        r = np.where(true_pos > 0, tp / np.maximum(true_pos, 1), 0.0)
        f = np.where(p + r > 0, 2 * p * r / np.where(p + r > 0, p + r, 1), 0.0)
    value = {"precision": p, "recall": r, "f1": f}[which]
    if average == "micro":
        return float(value)
    if average in ("none", None):
        return dlcore.tensor(np.asarray(value, dtype=np.float32))
    present = (pred_pos + true_pos) > 0  # sklearn: average over labels that occur
    return float(value[present].mean()) if present.any() else 0.0


# ------------------------------------------------------------------ functions
def accuracy(input: Any, target: Any, top_k: int = 1) -> float:
    r"""Fraction of samples whose target is among the ``top_k`` predictions.

    Args:
        input: scores ``(N, C, *)`` or predicted labels ``(N, *)``.
        target: integer labels ``(N, *)``.
        top_k (int): count a hit when the target is among the ``top_k``
            highest scores (needs scores). Default: 1.

    Examples::

        >>> from dlcore.train import metrics
        >>> metrics.accuracy(dlcore.tensor([[0.1, 0.9], [0.8, 0.2]]), dlcore.tensor([1, 1]))
        0.5
    """
    if top_k != 1:
        return top_k_accuracy(input, target, k=top_k)
    pred, tgt = _labels(input, target)
    return float((pred == tgt).mean()) if tgt.size else 0.0


def top_k_accuracy(input: Any, target: Any, k: int = 5) -> float:
    r"""Fraction of samples whose target is among the ``k`` highest scores.

    Ties are broken by class index (the lower index wins), as ``torch.topk``
    does on CPU in practice.

    Args:
        input: scores of shape ``(N, C, *)``.
        target: integer labels of shape ``(N, *)``.
        k (int): how many top classes count. Default: 5.

    Examples::

        >>> from dlcore.train import metrics
        >>> scores = dlcore.tensor([[0.5, 0.3, 0.2], [0.1, 0.2, 0.7]])
        >>> metrics.top_k_accuracy(scores, dlcore.tensor([1, 0]), k=2)
        0.5
    """
    hits, n = _topk_hits(input, target, k)
    return hits / n if n else 0.0


def _topk_hits(input: Any, target: Any, k: int) -> tuple[int, int]:
    scores, tgt = _np(input), _np(target).astype(np.int64)
    if scores.ndim != tgt.ndim + 1:
        raise ValueError(f"top_k_accuracy: expected (N, C, *) scores for a target of shape {tgt.shape}, got {scores.shape}")
    c = scores.shape[1]
    if not 1 <= k <= c:
        raise ValueError(f"top_k_accuracy: k={k} must be between 1 and the number of classes {c}")
    scores = np.moveaxis(scores, 1, -1).reshape(-1, c)
    tgt = tgt.ravel()
    # rank of the target = number of classes scoring strictly higher (plus ties
    # at a lower index), so no sort is needed
    s_t = scores[np.arange(tgt.size), tgt][:, None]
    idx = np.arange(c)[None, :]
    rank = ((scores > s_t) | ((scores == s_t) & (idx < tgt[:, None]))).sum(axis=1)
    return int((rank < k).sum()), int(tgt.size)


def confusion_matrix(input: Any, target: Any, num_classes: int | None = None) -> dlcore.Tensor:
    r"""Confusion matrix ``C`` with ``C[i, j]`` = samples of class ``i`` predicted ``j``.

    Args:
        input: scores ``(N, C, *)`` or predicted labels ``(N, *)``.
        target: integer labels ``(N, *)``.
        num_classes (int, optional): matrix size; inferred from the largest label.

    Examples::

        >>> from dlcore.train import metrics
        >>> metrics.confusion_matrix(dlcore.tensor([0, 1, 1]), dlcore.tensor([0, 0, 1])).tolist()
        [[1, 1], [0, 1]]
    """
    pred, tgt = _labels(input, target)
    return dlcore.tensor(_confusion(pred, tgt, num_classes))


def _prf(which: str):
    def fn(input: Any, target: Any, num_classes: int | None = None, average: str | None = "macro"):
        pred, tgt = _labels(input, target)
        return _prf_from_confusion(_confusion(pred, tgt, num_classes), which, average)

    fn.__name__ = {"f1": "f1_score"}.get(which, which)
    fn.__doc__ = f"""{which.capitalize()} of a classification, from the confusion matrix.

    Args:
        input: scores ``(N, C, *)`` or predicted labels ``(N, *)``.
        target: integer labels ``(N, *)``.
        num_classes (int, optional): number of classes; inferred if omitted.
        average (str): ``'macro'`` (unweighted mean over the classes that occur
            in ``target`` or predictions, as scikit-learn), ``'micro'`` (from
            the pooled counts; equals accuracy for single-label problems) or
            ``'none'`` (a per-class tensor). A class with no predicted (for
            precision) or no true (for recall) samples scores 0.

    Examples::

        >>> from dlcore.train import metrics
        >>> pred, target = dlcore.tensor([0, 1, 1, 2]), dlcore.tensor([0, 1, 2, 2])
        >>> round(metrics.{fn.__name__}(pred, target), 4)
        {round(float(_prf_from_confusion(_confusion(np.array([0, 1, 1, 2]), np.array([0, 1, 2, 2]), None), which, "macro")), 4)}
    """
    return fn


precision = _prf("precision")
recall = _prf("recall")
f1_score = _prf("f1")


def mean_squared_error(input: Any, target: Any) -> float:
    r"""Mean of ``(input - target) ** 2`` over all elements.

    Examples::

        >>> from dlcore.train import metrics
        >>> metrics.mean_squared_error(dlcore.tensor([1.0, 2.0]), dlcore.tensor([1.0, 4.0]))
        2.0
    """
    a, b = _np(input).astype(np.float64), _np(target).astype(np.float64)
    return float(np.mean((a - b) ** 2)) if a.size else 0.0


def mean_absolute_error(input: Any, target: Any) -> float:
    r"""Mean of ``|input - target|`` over all elements.

    Examples::

        >>> from dlcore.train import metrics
        >>> metrics.mean_absolute_error(dlcore.tensor([1.0, 2.0]), dlcore.tensor([1.0, 4.0]))
        1.0
    """
    a, b = _np(input).astype(np.float64), _np(target).astype(np.float64)
    return float(np.mean(np.abs(a - b))) if a.size else 0.0


def _iou_from_confusion(cm: np.ndarray, average: str | None, ignore_index: int | None) -> Any:
    tp = np.diag(cm).astype(np.float64)
    union = cm.sum(axis=0) + cm.sum(axis=1) - tp
    per_class = np.where(union > 0, tp / np.maximum(union, 1), 0.0)
    valid = union > 0
    if ignore_index is not None and 0 <= ignore_index < len(valid):
        valid[ignore_index] = False
    if average in ("none", None):
        return dlcore.tensor(per_class.astype(np.float32))
    return float(per_class[valid].mean()) if valid.any() else 0.0


def iou(input: Any, target: Any, num_classes: int | None = None, average: str | None = "macro",
        ignore_index: int | None = None) -> Any:
    r"""Intersection over union (Jaccard index) of label maps, e.g. segmentation.

    Per class, ``|pred == c and target == c| / |pred == c or target == c|``.

    Args:
        input: scores ``(N, C, *)`` or predicted labels ``(N, *)``.
        target: integer labels ``(N, *)``.
        num_classes (int, optional): number of classes; inferred if omitted.
        average (str): ``'macro'`` = mean IoU over classes present in either
            map (mIoU); ``'none'`` = per-class tensor.
        ignore_index (int, optional): a class left out of the mean (e.g. background).

    Examples::

        >>> from dlcore.train import metrics
        >>> pred = dlcore.tensor([[0, 1], [1, 1]])
        >>> target = dlcore.tensor([[0, 1], [0, 1]])
        >>> metrics.iou(pred, target, average="none").tolist()
        [0.5, 0.6666666865348816]
    """
    pred, tgt = _labels(input, target)
    return _iou_from_confusion(_confusion(pred, tgt, num_classes), average, ignore_index)


def box_iou(boxes1: Any, boxes2: Any) -> dlcore.Tensor:
    r"""Pairwise IoU of boxes in ``(x1, y1, x2, y2)`` form, as ``torchvision.ops.box_iou``.

    Args:
        boxes1: ``(N, 4)`` boxes.
        boxes2: ``(M, 4)`` boxes.

    Returns:
        ``(N, M)`` tensor of IoU values.

    Examples::

        >>> from dlcore.train import metrics
        >>> a = dlcore.tensor([[0.0, 0.0, 2.0, 2.0]])
        >>> b = dlcore.tensor([[1.0, 1.0, 3.0, 3.0], [0.0, 0.0, 2.0, 2.0]])
        >>> [round(v, 4) for v in metrics.box_iou(a, b)[0].tolist()]
        [0.1429, 1.0]
    """
    a, b = _np(boxes1).astype(np.float64), _np(boxes2).astype(np.float64)
    if a.ndim != 2 or a.shape[1] != 4 or b.ndim != 2 or b.shape[1] != 4:
        raise ValueError(f"box_iou: expected (N, 4) and (M, 4) boxes, got {a.shape} and {b.shape}")
    area_a = (a[:, 2] - a[:, 0]) * (a[:, 3] - a[:, 1])
    area_b = (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1])
    lt = np.maximum(a[:, None, :2], b[None, :, :2])  # (N, M, 2)
    rb = np.minimum(a[:, None, 2:], b[None, :, 2:])
    wh = np.clip(rb - lt, 0, None)
    inter = wh[..., 0] * wh[..., 1]
    union = area_a[:, None] + area_b[None, :] - inter
    with np.errstate(divide="ignore", invalid="ignore"):
        out = np.where(union > 0, inter / union, 0.0)
    return dlcore.tensor(out.astype(_np(boxes1).dtype if _np(boxes1).dtype.kind == "f" else np.float32))


# -------------------------------------------------------------------- classes
class Metric:
    r"""A metric accumulated over batches: ``reset()``, ``update(input, target)``,
    ``compute()``. Subclass it for custom epoch-level metrics.

    Examples::

        >>> from dlcore.train.metrics import Accuracy
        >>> m = Accuracy()
        >>> m.update(dlcore.tensor([1, 0]), dlcore.tensor([1, 1]))
        >>> m.update(dlcore.tensor([0]), dlcore.tensor([0]))
        >>> round(m.compute(), 4)
        0.6667
    """

    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        raise NotImplementedError

    def update(self, input: Any, target: Any) -> None:
        raise NotImplementedError

    def compute(self) -> Any:
        raise NotImplementedError

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"


class Accuracy(Metric):
    """Accumulated (top-k) accuracy; see :func:`accuracy`."""

    def __init__(self, top_k: int = 1) -> None:
        self.top_k = top_k
        super().__init__()

    def reset(self) -> None:
        self.correct, self.total = 0, 0

    def update(self, input: Any, target: Any) -> None:
        if self.top_k == 1:
            pred, tgt = _labels(input, target)
            self.correct += int((pred == tgt).sum())
            self.total += int(tgt.size)
        else:
            hits, n = _topk_hits(input, target, self.top_k)
            self.correct, self.total = self.correct + hits, self.total + n

    def compute(self) -> float:
        return self.correct / self.total if self.total else 0.0


class ConfusionMatrix(Metric):
    """Accumulated confusion matrix (grows to the largest label seen if
    ``num_classes`` is omitted); see :func:`confusion_matrix`."""

    def __init__(self, num_classes: int | None = None) -> None:
        self.num_classes = num_classes
        super().__init__()

    def reset(self) -> None:
        k = self.num_classes or 0
        self.matrix = np.zeros((k, k), dtype=np.int64)

    def update(self, input: Any, target: Any) -> None:
        pred, tgt = _labels(input, target)
        cm = _confusion(pred, tgt, self.num_classes)
        k = max(len(cm), len(self.matrix))
        grown = np.zeros((k, k), dtype=np.int64)
        grown[: len(self.matrix), : len(self.matrix)] += self.matrix
        grown[: len(cm), : len(cm)] += cm
        self.matrix = grown

    def compute(self) -> dlcore.Tensor:
        return dlcore.tensor(self.matrix)


class _FromConfusion(ConfusionMatrix):
    _which = ""

    def __init__(self, num_classes: int | None = None, average: str | None = "macro") -> None:
        _check_average(average)
        self.average = average
        super().__init__(num_classes)

    def compute(self) -> Any:
        return _prf_from_confusion(self.matrix, self._which, self.average)


class Precision(_FromConfusion):
    """Accumulated precision; see :func:`precision`."""

    _which = "precision"


class Recall(_FromConfusion):
    """Accumulated recall; see :func:`recall`."""

    _which = "recall"


class F1Score(_FromConfusion):
    """Accumulated F1 score; see :func:`f1_score`."""

    _which = "f1"


class IoU(ConfusionMatrix):
    """Accumulated IoU (mean IoU by default); see :func:`iou`."""

    def __init__(self, num_classes: int | None = None, average: str | None = "macro",
                 ignore_index: int | None = None) -> None:
        self.average, self.ignore_index = average, ignore_index
        super().__init__(num_classes)

    def compute(self) -> Any:
        return _iou_from_confusion(self.matrix, self.average, self.ignore_index)


class MeanMetric(Metric):
    """Sample-weighted mean of a per-batch function ``fn(input, target) -> float``
    (weights = batch size, the first dimension of ``target``)."""

    def __init__(self, fn: Callable[[Any, Any], Any]) -> None:
        self.fn = fn
        super().__init__()

    def reset(self) -> None:
        self.sum, self.count = 0.0, 0

    def update(self, input: Any, target: Any) -> None:
        value = self.fn(input, target)
        value = value.item() if isinstance(value, dlcore.Tensor) else float(value)
        n = int(_np(target).shape[0]) if _np(target).ndim else 1
        self.sum, self.count = self.sum + value * n, self.count + n

    def compute(self) -> float:
        return self.sum / self.count if self.count else 0.0

    def __repr__(self) -> str:
        return f"MeanMetric({getattr(self.fn, '__name__', self.fn)})"


class MeanSquaredError(Metric):
    """Accumulated mean squared error over all elements."""

    def reset(self) -> None:
        self.sum, self.count = 0.0, 0

    def update(self, input: Any, target: Any) -> None:
        a, b = _np(input).astype(np.float64), _np(target).astype(np.float64)
        self.sum += float(np.sum(self._err(a - b)))
        self.count += int(np.broadcast(a, b).size)

    @staticmethod
    def _err(d: np.ndarray) -> np.ndarray:
        return d * d

    def compute(self) -> float:
        return self.sum / self.count if self.count else 0.0


class MeanAbsoluteError(MeanSquaredError):
    """Accumulated mean absolute error over all elements."""

    @staticmethod
    def _err(d: np.ndarray) -> np.ndarray:
        return np.abs(d)


_NAMED = {
    "accuracy": Accuracy, "acc": Accuracy, "top5_accuracy": lambda: Accuracy(top_k=5),
    "precision": Precision, "recall": Recall, "f1": F1Score, "f1_score": F1Score,
    "mse": MeanSquaredError, "mae": MeanAbsoluteError, "iou": IoU, "miou": IoU,
}


def get_metric(spec: Any) -> Metric:
    r"""Turn a metric spec into a fresh :class:`Metric`: a name (``"accuracy"``,
    ``"top5_accuracy"``, ``"precision"``, ``"recall"``, ``"f1"``, ``"mse"``,
    ``"mae"``, ``"iou"``), a ``Metric`` class or instance (copied), or a
    function ``fn(output, target) -> float`` (averaged over samples).

    Examples::

        >>> from dlcore.train.metrics import get_metric
        >>> get_metric("accuracy"), get_metric(lambda o, t: 0.0).__class__.__name__
        (Accuracy(), 'MeanMetric')
    """
    import copy

    if isinstance(spec, str):
        if spec.lower() not in _NAMED:
            raise ValueError(f"unknown metric '{spec}'; known names: {', '.join(sorted(_NAMED))}")
        return _NAMED[spec.lower()]()
    if isinstance(spec, Metric):
        return copy.deepcopy(spec)
    if isinstance(spec, type) and issubclass(spec, Metric):
        return spec()
    if callable(spec):
        return MeanMetric(spec)
    raise TypeError(f"a metric must be a name, a Metric or a callable, got {type(spec).__name__}")
