"""dlcore.train.metrics against plain NumPy references (written with loops,
independently of the vectorised code) and torch where torch has the op."""

import numpy as np
import pytest
from helpers import import_torch

import dlcore
from dlcore.train import metrics as M

RNG = np.random.default_rng(0)


def _case(n=200, c=4, seed=0):
    rng = np.random.default_rng(seed)
    scores = rng.standard_normal((n, c)).astype(np.float32)
    target = rng.integers(0, c, n)
    return scores, target


# ----------------------------------------------------------- NumPy references
def ref_confusion(pred, target, k):
    cm = np.zeros((k, k), dtype=np.int64)
    for t, p in zip(target, pred):
        cm[t, p] += 1
    return cm


def ref_prf(pred, target, k, average):
    classes = sorted(set(pred.tolist()) | set(target.tolist()))
    ps, rs, fs, tps, fps, fns = [], [], [], 0, 0, 0
    for c in range(k):
        tp = sum(1 for p, t in zip(pred, target) if p == c and t == c)
        fp = sum(1 for p, t in zip(pred, target) if p == c and t != c)
        fn = sum(1 for p, t in zip(pred, target) if p != c and t == c)
        tps, fps, fns = tps + tp, fps + fp, fns + fn
        p_ = tp / (tp + fp) if tp + fp else 0.0
        r_ = tp / (tp + fn) if tp + fn else 0.0
        f_ = 2 * p_ * r_ / (p_ + r_) if p_ + r_ else 0.0
        ps.append(p_), rs.append(r_), fs.append(f_)
    if average == "micro":
        p_, r_ = tps / (tps + fps), tps / (tps + fns)
        return p_, r_, 2 * p_ * r_ / (p_ + r_)
    if average == "none":
        return ps, rs, fs
    return tuple(float(np.mean([v[c] for c in classes])) for v in (ps, rs, fs))


def ref_topk(scores, target, k):
    hits = 0
    for s, t in zip(scores, target):
        order = sorted(range(len(s)), key=lambda j: (-s[j], j))
        hits += t in order[:k]
    return hits / len(target)


# ------------------------------------------------------------------- tests
@pytest.mark.parametrize("as_tensor", [True, False])
def test_accuracy_from_scores_and_labels(as_tensor):
    scores, target = _case()
    want = float(np.mean(scores.argmax(1) == target))
    wrap = dlcore.tensor if as_tensor else (lambda a: a)
    assert M.accuracy(wrap(scores), wrap(target)) == pytest.approx(want)
    assert M.accuracy(wrap(scores.argmax(1)), wrap(target)) == pytest.approx(want)


def test_binary_probabilities_threshold_at_half():
    p = dlcore.tensor([0.1, 0.6, 0.5, 0.4])
    assert M.accuracy(p, dlcore.tensor([0, 1, 1, 1])) == 0.75


@pytest.mark.parametrize("k", [1, 2, 3, 4])
def test_top_k_accuracy_matches_reference_and_torch(k):
    torch = import_torch()
    scores, target = _case(n=100, c=4, seed=k)
    want = ref_topk(scores, target, k)
    assert M.top_k_accuracy(dlcore.tensor(scores), dlcore.tensor(target), k=k) == pytest.approx(want)
    assert M.accuracy(scores, target, top_k=k) == pytest.approx(want)
    top = torch.topk(torch.tensor(scores), k, dim=1).indices
    assert want == pytest.approx((top == torch.tensor(target)[:, None]).any(1).float().mean().item())


def test_top_k_ties_go_to_lower_index():
    scores = np.array([[1.0, 1.0, 1.0]])
    assert M.top_k_accuracy(scores, np.array([0]), k=1) == 1.0
    assert M.top_k_accuracy(scores, np.array([2]), k=2) == 0.0


def test_top_k_errors():
    with pytest.raises(ValueError, match="k=5 must be between 1 and the number of classes 3"):
        M.top_k_accuracy(np.zeros((2, 3)), np.zeros(2, int), k=5)
    with pytest.raises(ValueError, match=r"expected \(N, C, \*\) scores"):
        M.top_k_accuracy(np.zeros(2), np.zeros(2, int), k=1)


def test_confusion_matrix_matches_reference_and_torch():
    torch = import_torch()
    scores, target = _case()
    pred = scores.argmax(1)
    cm = M.confusion_matrix(dlcore.tensor(scores), dlcore.tensor(target), num_classes=4)
    assert cm.dtype == dlcore.int64
    np.testing.assert_array_equal(cm.numpy(), ref_confusion(pred, target, 4))
    tcm = torch.bincount(torch.tensor(target) * 4 + torch.tensor(pred), minlength=16).reshape(4, 4)
    np.testing.assert_array_equal(cm.numpy(), tcm.numpy())
    assert M.confusion_matrix(np.array([2]), np.array([0])).shape == (3, 3)  # inferred size


@pytest.mark.parametrize("average", ["macro", "micro", "none"])
@pytest.mark.parametrize("seed", [0, 1])
def test_precision_recall_f1_match_reference(average, seed):
    scores, target = _case(n=60, c=5, seed=seed)
    scores[:, 4] -= 10  # class 4 is never predicted: exercises zero division
    pred = scores.argmax(1)
    want = ref_prf(pred, target, 5, average)
    got = [fn(dlcore.tensor(scores), dlcore.tensor(target), num_classes=5, average=average)
           for fn in (M.precision, M.recall, M.f1_score)]
    for g, w in zip(got, want):
        if average == "none":
            np.testing.assert_allclose(g.numpy(), w, rtol=1e-6)
        else:
            assert g == pytest.approx(w)
    if average == "micro":
        assert got[0] == pytest.approx(M.accuracy(scores, target))


def test_macro_average_skips_absent_classes():
    pred, target = np.array([0, 1, 1]), np.array([0, 1, 0])
    # class 2 (num_classes=3) occurs nowhere and is left out of the mean
    assert M.precision(pred, target, num_classes=3) == pytest.approx((1.0 + 0.5) / 2)


def test_bad_inputs():
    with pytest.raises(ValueError, match="average must be"):
        M.f1_score(np.array([0]), np.array([0]), average="weighted")
    with pytest.raises(ValueError, match=r"class labels must lie in \[0, 2\)"):
        M.confusion_matrix(np.array([0, 3]), np.array([0, 1]), num_classes=2)
    with pytest.raises(ValueError, match="does not match target"):
        M.accuracy(np.zeros(3), np.zeros(4))
    with pytest.raises(ValueError, match=r"scores of shape \(3, 2, 5\)"):
        M.accuracy(np.zeros((3, 2, 5)), np.zeros((3, 4)))
    with pytest.raises(ValueError, match="integer class labels"):
        M.accuracy(np.zeros(2), np.array([0.5, 1.0]))


def test_mse_mae_match_numpy_and_torch():
    torch = import_torch()
    a, b = RNG.standard_normal((7, 3)).astype(np.float32), RNG.standard_normal((7, 3)).astype(np.float32)
    assert M.mean_squared_error(dlcore.tensor(a), dlcore.tensor(b)) == pytest.approx(float(np.mean((a - b) ** 2)))
    assert M.mean_absolute_error(a, b) == pytest.approx(float(np.mean(np.abs(a - b))))
    assert M.mean_squared_error(a, b) == pytest.approx(torch.nn.functional.mse_loss(torch.tensor(a), torch.tensor(b)).item(), rel=1e-6)
    assert M.mean_absolute_error(a, b) == pytest.approx(torch.nn.functional.l1_loss(torch.tensor(a), torch.tensor(b)).item(), rel=1e-6)


def test_iou_segmentation_matches_reference():
    rng = np.random.default_rng(3)
    logits = rng.standard_normal((2, 3, 5, 6)).astype(np.float32)  # (N, C, H, W)
    target = rng.integers(0, 3, (2, 5, 6))
    pred = logits.argmax(1)
    per = []
    for c in range(3):
        inter = np.sum((pred == c) & (target == c))
        union = np.sum((pred == c) | (target == c))
        per.append(inter / union)
    np.testing.assert_allclose(M.iou(dlcore.tensor(logits), dlcore.tensor(target), average="none").numpy(), per, rtol=1e-6)
    assert M.iou(logits, target) == pytest.approx(np.mean(per))
    assert M.iou(logits, target, ignore_index=0) == pytest.approx(np.mean(per[1:]))


def test_box_iou_reference():
    a = np.array([[0, 0, 2, 2], [1, 1, 2, 3]], np.float32)
    b = np.array([[1, 1, 3, 3], [5, 5, 6, 6], [0, 0, 2, 2]], np.float32)
    want = np.zeros((2, 3))
    for i, p in enumerate(a):
        for j, q in enumerate(b):
            w = max(0, min(p[2], q[2]) - max(p[0], q[0]))
            h = max(0, min(p[3], q[3]) - max(p[1], q[1]))
            inter = w * h
            want[i, j] = inter / ((p[2] - p[0]) * (p[3] - p[1]) + (q[2] - q[0]) * (q[3] - q[1]) - inter)
    got = M.box_iou(dlcore.tensor(a), dlcore.tensor(b))
    assert got.shape == (2, 3)
    np.testing.assert_allclose(got.numpy(), want, rtol=1e-6)
    with pytest.raises(ValueError, match=r"\(N, 4\)"):
        M.box_iou(np.zeros((2, 3)), b)


# ----------------------------------------------------------- Metric objects
@pytest.mark.parametrize("name,fn", [
    ("accuracy", M.accuracy), ("precision", M.precision), ("recall", M.recall),
    ("f1", M.f1_score), ("mse", None), ("iou", M.iou),
])
def test_accumulated_metrics_equal_the_whole_data_value(name, fn):
    scores, target = _case(n=90, c=3, seed=7)
    m = M.get_metric(name)
    for i in range(0, 90, 25):  # uneven batches
        if name == "mse":
            m.update(scores[i:i + 25, 0], target[i:i + 25])
        else:
            m.update(dlcore.tensor(scores[i:i + 25]), dlcore.tensor(target[i:i + 25]))
    if name == "mse":
        assert m.compute() == pytest.approx(M.mean_squared_error(scores[:, 0], target))
    else:
        assert m.compute() == pytest.approx(fn(scores, target))
    m.reset()
    assert m.compute() == 0.0 or name in ("mse",)


def test_confusion_matrix_metric_grows_and_top_k_accumulates():
    cm = M.ConfusionMatrix()
    cm.update(np.array([0, 1]), np.array([0, 1]))
    cm.update(np.array([3]), np.array([2]))
    np.testing.assert_array_equal(cm.compute().numpy(), ref_confusion([0, 1, 3], [0, 1, 2], 4))
    scores, target = _case(n=50, c=5)
    acc = M.Accuracy(top_k=3)
    acc.update(scores[:20], target[:20]), acc.update(scores[20:], target[20:])
    assert acc.compute() == pytest.approx(ref_topk(scores, target, 3))


def test_mean_metric_weights_by_batch_size():
    m = M.get_metric(lambda o, t: float(np.mean(o)))
    m.update(np.ones(1), np.ones(1))
    m.update(np.zeros(3), np.ones(3))
    assert m.compute() == 0.25


def test_get_metric_errors():
    with pytest.raises(ValueError, match="unknown metric 'bogus'"):
        M.get_metric("bogus")
    with pytest.raises(TypeError, match="a metric must be"):
        M.get_metric(3)
    a = M.Accuracy()
    assert M.get_metric(a) is not a and isinstance(M.get_metric(M.F1Score), M.F1Score)
