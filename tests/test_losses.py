"""Every loss (functional and module) against torch through check_op: forward
values and the gradient of every float input, all reductions, edge shapes,
extreme values, and the error paths."""

import warnings

import numpy as np
import pytest
from helpers import arg, check_op, import_torch, nograd, to_numpy

import dlcore
import dlcore.nn as nn
import dlcore.nn.functional as F

torch = import_torch()

REDUCTIONS = ["mean", "sum", "none"]


def _idx(shape, c, seed=0, ignore=None):
    y = np.random.default_rng(seed).integers(0, c, size=shape).astype(np.int64)
    if ignore is not None:
        y.flat[::3] = ignore
    return nograd(y)


def _signs(shape, seed=0):
    return nograd(np.where(np.random.default_rng(seed).random(shape) < 0.5, -1.0, 1.0).astype(np.float32))


def _ones_minus_ones_int(shape, seed=0):
    return nograd(np.where(np.random.default_rng(seed).random(shape) < 0.5, -1, 1).astype(np.int64))


def _t(a):
    return dlcore.tensor(np.asarray(a, dtype=np.float32))


# ---- regression losses ---------------------------------------------------------

@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("shape", [(4, 3), (7,), (), (2, 3, 4), (1, 1)], ids=str)
@pytest.mark.parametrize("name", ["l1_loss", "smooth_l1_loss", "huber_loss", "mse_loss"])
def test_regression_losses(name, shape, reduction):
    fn = lambda m, x, y: getattr(m.nn.functional, name)(x, y, reduction=reduction)  # noqa: E731
    check_op(fn, [shape, shape])
    check_op(fn, [shape, shape], dtype="float64")
    if len(shape) >= 1:
        check_op(fn, [shape, shape], non_contiguous=True)


@pytest.mark.parametrize("beta", [0.0, 0.3, 1.0, 5.0])
def test_smooth_l1_beta(beta):
    check_op(lambda m, x, y: m.nn.functional.smooth_l1_loss(x, y, beta=beta), [(6, 5), (6, 5)])
    check_op(lambda m, x, y: m.nn.SmoothL1Loss(reduction="none", beta=beta)(x, y), [(6, 5), (6, 5)])


@pytest.mark.parametrize("delta", [0.1, 1.0, 3.0])
def test_huber_delta(delta):
    check_op(lambda m, x, y: m.nn.functional.huber_loss(x, y, delta=delta), [(6, 5), (6, 5)])
    check_op(lambda m, x, y: m.nn.HuberLoss(reduction="sum", delta=delta)(x, y), [(6, 5), (6, 5)])


@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_weighted_l1_and_huber(reduction):
    w = arg((4, 3), low=0.1, high=2.0, grad=False)
    check_op(lambda m, x, y, w: m.nn.functional.l1_loss(x, y, reduction=reduction, weight=w), [(4, 3), (4, 3), w])
    check_op(lambda m, x, y, w: m.nn.functional.huber_loss(x, y, reduction=reduction, weight=w), [(4, 3), (4, 3), w])


def test_l1_module_and_empty_input():
    check_op(lambda m, x, y: m.nn.L1Loss()(x, y), [(3, 4), (3, 4)])
    check_op(lambda m, x, y: m.nn.L1Loss(reduction="sum")(x, y), [(0, 3), (0, 3)])
    check_op(lambda m, x, y: m.nn.functional.l1_loss(x, y), [(0,), (0,)])  # mean of nothing is nan


def test_size_mismatch_warns():
    with pytest.warns(UserWarning, match="target size"):
        F.l1_loss(dlcore.zeros(3, 1), dlcore.zeros(3))
    with pytest.warns(UserWarning, match="target size"):
        F.huber_loss(dlcore.zeros(3, 1), dlcore.zeros(3))


def test_regression_errors():
    with pytest.raises(ValueError, match="not a valid value for reduction"):
        F.l1_loss(dlcore.zeros(2), dlcore.zeros(2), reduction="avg")
    with pytest.raises(ValueError, match="same size"):
        F.l1_loss(dlcore.zeros(2), dlcore.zeros(2), weight=dlcore.ones(3))
    with pytest.raises(RuntimeError, match="negative values for beta"):
        F.smooth_l1_loss(dlcore.zeros(2), dlcore.zeros(2), beta=-1.0)
    with pytest.raises(RuntimeError, match="delta"):
        F.huber_loss(dlcore.zeros(2), dlcore.zeros(2), delta=0.0)


# ---- classification losses -----------------------------------------------------

@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("ignore", [None, 2])
def test_nll_loss(reduction, weighted, ignore):
    w = arg((5,), low=0.2, high=2.0, grad=False) if weighted else None
    kw = {"reduction": reduction} | ({"ignore_index": ignore} if ignore is not None else {})
    fn = lambda m, x, y, w: m.nn.functional.nll_loss(x.log_softmax(1), y, weight=w, **kw)  # noqa: E731
    check_op(fn, [(8, 5), _idx(8, 5, ignore=ignore), w])
    check_op(fn, [(8, 5), _idx(8, 5, ignore=ignore), w], dtype="float64")
    check_op(lambda m, x, y, w: m.nn.NLLLoss(weight=w, **kw)(x, y), [(8, 5), _idx(8, 5, ignore=ignore), w])


def test_nll_loss_shapes():
    nll = lambda m, x, y: m.nn.functional.nll_loss(x, y)  # noqa: E731
    check_op(nll, [(3,), nograd(np.array(1, dtype=np.int64))])  # unbatched
    check_op(lambda m, x, y: m.nn.functional.nll_loss(x, y, reduction="none"), [(2, 4, 3, 5), _idx((2, 3, 5), 4)])
    check_op(nll, [(2, 4, 3), _idx((2, 3), 4)], non_contiguous=True)
    check_op(nll, [(1, 1), nograd(np.zeros(1, dtype=np.int64))])
    check_op(nll, [(4, 3), nograd(np.full(4, -100, dtype=np.int64))])  # all ignored: nan like torch


def test_nll_loss_errors():
    with pytest.raises(IndexError, match="out of bounds"):
        F.nll_loss(dlcore.zeros(2, 3), dlcore.tensor([0, 3]))
    with pytest.raises(IndexError, match="-1"):
        F.nll_loss(dlcore.zeros(2, 3), dlcore.tensor([0, -1]))
    with pytest.raises(ValueError, match="target of shape"):
        F.nll_loss(dlcore.zeros(2, 3), dlcore.tensor([0, 1, 2]))
    with pytest.raises(RuntimeError, match="weight"):
        F.nll_loss(dlcore.zeros(2, 3), dlcore.tensor([0, 1]), weight=dlcore.ones(4))
    with pytest.raises(RuntimeError, match="int64"):
        F.nll_loss(dlcore.zeros(2, 3), dlcore.zeros(2))


@pytest.mark.parametrize(
    "kwargs",
    [{}, {"reduction": "sum"}, {"reduction": "none"}, {"label_smoothing": 0.2}, {"ignore_index": 0},
     {"label_smoothing": 0.1, "ignore_index": 1, "reduction": "sum"}],
    ids=str,
)
@pytest.mark.parametrize("weighted", [False, True])
def test_cross_entropy_module(kwargs, weighted):
    w = arg((5,), low=0.2, high=2.0, grad=False) if weighted else None
    fn = lambda m, x, y, w: m.nn.CrossEntropyLoss(weight=w, **kwargs)(x, y)  # noqa: E731
    check_op(fn, [(8, 5), _idx(8, 5), w])
    check_op(fn, [(4, 5, 3), _idx((4, 3), 5), w])  # (N, C, d1)


@pytest.mark.parametrize("smoothing", [0.0, 0.3])
@pytest.mark.parametrize("weighted", [False, True])
def test_cross_entropy_probability_targets(smoothing, weighted):
    w = arg((4,), low=0.2, high=2.0, grad=False) if weighted else None
    fn = lambda m, x, p, w: m.nn.CrossEntropyLoss(weight=w, label_smoothing=smoothing)(x, p.softmax(1))  # noqa: E731
    check_op(fn, [(6, 4), (6, 4), w])
    check_op(lambda m, x, p: m.nn.functional.cross_entropy(x, p.softmax(1), reduction="none"), [(2, 4, 3), (2, 4, 3)])


def test_cross_entropy_extreme_logits():
    big = np.array([[1e4, -1e4, 0.0], [-50.0, 50.0, 49.0]], dtype=np.float32)
    check_op(lambda m, x, y: m.nn.CrossEntropyLoss(label_smoothing=0.1)(x, y), [big, nograd(np.array([1, 2]))])


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("weighted", [False, True])
def test_bce(reduction, weighted):
    w = arg((5, 3), low=0.1, high=2.0, grad=False) if weighted else None
    y = arg((5, 3), low=0, high=1)
    fn = lambda m, x, y, w: m.nn.functional.binary_cross_entropy(x.sigmoid(), y, weight=w, reduction=reduction)  # noqa: E731
    check_op(fn, [(5, 3), y, w])
    check_op(fn, [(5, 3), y, w], dtype="float64")
    check_op(lambda m, p, y: m.nn.BCELoss(reduction=reduction)(p, y), [arg((4,), low=0.05, high=0.95), arg((4,), low=0, high=1)])


def test_bce_broadcast_weight_and_saturation():
    check_op(lambda m, p, y, w: m.nn.BCELoss(weight=w)(p, y),
             [arg((4, 3), low=0.1, high=0.9), arg((4, 3), low=0, high=1), arg((3,), low=0.5, high=2, grad=False)])
    # probabilities of exactly 0 and 1: logs clamp at -100, the loss stays finite
    p = nograd(np.array([0.0, 1.0, 0.0, 1.0], dtype=np.float32))
    y = nograd(np.array([0.0, 1.0, 1.0, 0.0], dtype=np.float32))
    dl, _ = check_op(lambda m, p, y: m.nn.functional.binary_cross_entropy(p, y, reduction="none"), [p, y])
    assert to_numpy(dl).tolist() == [0.0, 0.0, 100.0, 100.0]


def test_bce_errors():
    with pytest.raises(ValueError, match="same size"):
        F.binary_cross_entropy(_t([0.5, 0.5]), _t([[1.0, 0.0]]))
    with pytest.raises(RuntimeError, match="between 0 and 1"):
        F.binary_cross_entropy(_t([1.5]), _t([1.0]))
    with pytest.raises(ValueError, match="must be the same as input size"):
        F.binary_cross_entropy_with_logits(_t([0.5, 0.5]), _t([1.0]))


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("pos_weight", [False, True])
@pytest.mark.parametrize("weighted", [False, True])
def test_bce_with_logits(reduction, pos_weight, weighted):
    pw = arg((3,), low=0.5, high=4.0, grad=False) if pos_weight else None
    w = arg((5, 3), low=0.1, high=2.0, grad=False) if weighted else None
    y = arg((5, 3), low=0, high=1)
    fn = lambda m, x, y, w, pw: m.nn.BCEWithLogitsLoss(weight=w, pos_weight=pw, reduction=reduction)(x, y)  # noqa: E731
    check_op(fn, [(5, 3), y, w, pw])
    check_op(fn, [(5, 3), y, w, pw], dtype="float64")


def test_bce_with_logits_is_stable_and_exact_at_zero():
    x = np.array([-1e4, -60.0, -20.0, 0.0, 0.0, 20.0, 60.0, 1e4], dtype=np.float32)
    y = np.array([1.0, 1.0, 0.0, 1.0, 0.0, 1.0, 0.0, 0.0], dtype=np.float32)
    dl, _ = check_op(lambda m, x, y: m.nn.functional.binary_cross_entropy_with_logits(x, y, reduction="none"),
                     [x, nograd(y)], rtol=1e-5, atol=1e-6)
    assert np.isfinite(to_numpy(dl)).all()
    check_op(lambda m, x, y, pw: m.nn.functional.binary_cross_entropy_with_logits(x, y, pos_weight=pw),
             [x, nograd(y), nograd(np.float32([2.0]))])
    # the target is differentiable too (soft labels produced by a network)
    check_op(lambda m, x, y: m.nn.functional.binary_cross_entropy_with_logits(x, y), [(4, 2), arg((4, 2), low=0, high=1, grad=True)])


# ---- distribution losses -------------------------------------------------------

@pytest.mark.parametrize("reduction", ["batchmean", "sum", "none", "mean"])
@pytest.mark.parametrize("log_target", [False, True])
def test_kl_div(reduction, log_target):
    def fn(m, x, t):
        target = t.log_softmax(1) if log_target else t.softmax(1)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return m.nn.functional.kl_div(x.log_softmax(1), target, reduction=reduction, log_target=log_target)

    check_op(fn, [(4, 5), (4, 5)])
    check_op(fn, [(4, 5), (4, 5)], dtype="float64")


def test_kl_div_zero_targets_and_module():
    t = np.array([[0.0, 0.5, 0.5], [1.0, 0.0, 0.0]], dtype=np.float32)
    dl, _ = check_op(lambda m, x, t: m.nn.KLDivLoss(reduction="batchmean")(x.log_softmax(1), t), [(2, 3), nograd(t)])
    assert np.isfinite(to_numpy(dl))
    check_op(lambda m, x, t: m.nn.KLDivLoss(reduction="sum", log_target=True)(x, t), [(3, 4), (3, 4)])
    with pytest.warns(UserWarning, match="batchmean"):
        F.kl_div(dlcore.zeros(2, 2), dlcore.ones(2, 2))


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("full", [False, True])
@pytest.mark.parametrize("var_shape", [(4, 3), (4, 1), (4,)], ids=str)
def test_gaussian_nll(reduction, full, var_shape):
    var = arg(var_shape, low=0.1, high=2.0)
    fn = lambda m, x, y, v: m.nn.functional.gaussian_nll_loss(x, y, v, full=full, reduction=reduction)  # noqa: E731
    check_op(fn, [(4, 3), (4, 3), var])
    check_op(lambda m, x, y, v: m.nn.GaussianNLLLoss(full=full, reduction=reduction)(x, y, v), [(4, 3), (4, 3), var], dtype="float64")


def test_gaussian_nll_clamp_and_float_var():
    # variances below eps are clamped in the forward but the gradient reaches var unchanged
    var = nograd(np.array([[1e-9, 0.5, 0.0]], dtype=np.float64))
    check_op(lambda m, x, y, v: m.nn.functional.gaussian_nll_loss(x, y, v.requires_grad_()), [(1, 3), (1, 3), var],
             dtype="float64", rtol=1e-6)
    check_op(lambda m, x, y: m.nn.functional.gaussian_nll_loss(x, y, 0.5), [(5,), (5,)])
    check_op(lambda m, x, y, v: m.nn.functional.gaussian_nll_loss(x, y, v), [(2, 3, 4), (2, 3, 4), arg((2, 1, 4), low=0.2, high=1)])


def test_gaussian_nll_errors():
    with pytest.raises(ValueError, match="negative"):
        F.gaussian_nll_loss(dlcore.zeros(2), dlcore.zeros(2), _t([1.0, -1.0]))
    with pytest.raises(ValueError, match="negative"):
        F.gaussian_nll_loss(dlcore.zeros(2), dlcore.zeros(2), -1.0)
    with pytest.raises(ValueError, match="incorrect size"):
        F.gaussian_nll_loss(dlcore.zeros(4, 3), dlcore.zeros(4, 3), dlcore.ones(2, 2))
    with pytest.raises(ValueError, match="not valid"):
        F.gaussian_nll_loss(dlcore.zeros(2), dlcore.zeros(2), dlcore.ones(2), reduction="avg")


# ---- embedding / ranking losses ------------------------------------------------

@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("margin", [0.0, 0.4, -0.2])
def test_cosine_embedding(reduction, margin):
    fn = lambda m, a, b, y: m.nn.functional.cosine_embedding_loss(a, b, y, margin=margin, reduction=reduction)  # noqa: E731
    check_op(fn, [(6, 5), (6, 5), _ones_minus_ones_int(6)])
    check_op(fn, [(6, 5), (6, 5), _signs(6)], dtype="float32", non_contiguous=True)
    check_op(lambda m, a, b, y: m.nn.CosineEmbeddingLoss(margin=margin, reduction=reduction)(a, b, y),
             [(4,), (4,), nograd(np.array(-1, dtype=np.int64))])


def test_cosine_embedding_zero_vectors_and_errors():
    z = nograd(np.zeros((2, 3), dtype=np.float32))
    check_op(lambda m, a, b, y: m.nn.functional.cosine_embedding_loss(a, b, y), [(2, 3), z, _ones_minus_ones_int(2)])
    with pytest.raises(RuntimeError, match="equal shape"):
        F.cosine_embedding_loss(dlcore.zeros(2, 3), dlcore.zeros(2, 4), dlcore.ones(2))
    with pytest.raises(RuntimeError, match="target of shape"):
        F.cosine_embedding_loss(dlcore.zeros(2, 3), dlcore.zeros(2, 3), dlcore.ones(3))


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("margin", [0.0, 0.5])
def test_margin_ranking(reduction, margin):
    fn = lambda m, a, b, y: m.nn.MarginRankingLoss(margin=margin, reduction=reduction)(a, b, y)  # noqa: E731
    check_op(fn, [(7,), (7,), _signs(7)])
    check_op(fn, [(7,), (7,), _signs(7)], dtype="float64")
    check_op(lambda m, a, b, y: m.nn.functional.margin_ranking_loss(a, b, y), [(3, 2), (3, 2), _signs((3, 2))], non_contiguous=True)
    with pytest.raises(RuntimeError, match="same dimension"):
        F.margin_ranking_loss(dlcore.zeros(3), dlcore.zeros(3), dlcore.ones(1, 3))


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("p", [1, 2, 3, 1.5])
@pytest.mark.parametrize("swap", [False, True])
def test_triplet_margin(reduction, p, swap):
    fn = lambda m, a, b, c: m.nn.TripletMarginLoss(margin=1.5, p=p, swap=swap, reduction=reduction)(a, b, c)  # noqa: E731
    check_op(fn, [(6, 4), (6, 4), (6, 4)])
    check_op(fn, [(6, 4), (6, 4), (6, 4)], dtype="float64")
    check_op(fn, [(4,), (4,), (4,)])  # unbatched


def test_triplet_margin_functional_and_errors():
    check_op(lambda m, a, b, c: m.nn.functional.triplet_margin_loss(a, b, c, margin=0.3, eps=1e-3), [(5, 3), (5, 3), (5, 3)],
             non_contiguous=True)
    check_op(lambda m, a, b: m.nn.functional.pairwise_distance(a, b, keepdim=True), [(5, 3), (5, 3)])
    with pytest.raises(RuntimeError, match="same number of dimensions"):
        F.triplet_margin_loss(dlcore.zeros(2, 3), dlcore.zeros(3), dlcore.zeros(2, 3))
    with pytest.raises(ValueError, match="margin"):
        nn.TripletMarginLoss(margin=0.0)


# ---- modules: state_dict keys, repr, legacy args, training use -----------------

def test_loss_modules_state_dict_keys_match_torch():
    w, pw = np.ones(3, dtype=np.float32), np.full(3, 2.0, dtype=np.float32)
    pairs = [
        (nn.NLLLoss(weight=dlcore.tensor(w)), torch.nn.NLLLoss(weight=torch.tensor(w))),
        (nn.BCEWithLogitsLoss(pos_weight=dlcore.tensor(pw)), torch.nn.BCEWithLogitsLoss(pos_weight=torch.tensor(pw))),
        (nn.BCELoss(), torch.nn.BCELoss()),
        (nn.CrossEntropyLoss(weight=dlcore.tensor(w)), torch.nn.CrossEntropyLoss(weight=torch.tensor(w))),
    ]
    for d, t in pairs:
        assert list(d.state_dict()) == list(t.state_dict())


def test_legacy_size_average_reduce():
    with pytest.warns(UserWarning, match="deprecated"):
        loss = nn.L1Loss(size_average=False)
    assert loss.reduction == "sum"
    with pytest.warns(UserWarning):
        assert nn.NLLLoss(reduce=False).reduction == "none"


def test_bce_with_logits_trains_a_classifier():
    dlcore.manual_seed(0)
    X, y = dlcore.data.xor(n=200, noise=0.05)
    model = nn.Sequential(nn.Linear(2, 16), nn.Tanh(), nn.Linear(16, 1))
    opt = dlcore.optim.SGD(model.parameters(), lr=0.5)
    loss_fn = nn.BCEWithLogitsLoss()
    target = y.float().reshape(-1, 1)
    first = None
    for _ in range(200):
        opt.zero_grad()
        loss = loss_fn(model(X), target)
        loss.backward()
        opt.step()
        first = loss.item() if first is None else first
    assert loss.item() < 0.5 * first


@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("smoothing", [0.0, 0.1])
def test_cross_entropy_all_targets_ignored(weighted, smoothing):
    w = arg((3,), low=0.5, high=2.0, grad=False) if weighted else None
    check_op(lambda m, x, y, w: m.nn.CrossEntropyLoss(weight=w, label_smoothing=smoothing)(x, y),
             [(4, 3), nograd(np.full(4, -100, dtype=np.int64)), w])


# ---- fused mse_loss kernel (one Rust pass each way) -------------------------------

@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("threads", [1, 2])
def test_mse_fused_large_and_parallel(reduction, threads):
    # > PAR_MIN elements and not a multiple of the lane width or chunk size
    old = dlcore.get_num_threads()
    dlcore.set_num_threads(threads)
    try:
        fn = lambda m, x, y: m.nn.functional.mse_loss(x, y, reduction=reduction)  # noqa: E731
        check_op(fn, [(3, 70001), (3, 70001)])
        check_op(fn, [(257, 33), (257, 33)], dtype="float64")
    finally:
        dlcore.set_num_threads(old)


def test_mse_fused_edges():
    fn = lambda m, x, y: m.nn.functional.mse_loss(x, y)  # noqa: E731
    check_op(fn, [(0, 3), (0, 3)])  # mean of nothing is nan
    check_op(lambda m, x, y: m.nn.functional.mse_loss(x, y, reduction="sum"), [(0,), (0,)])
    check_op(fn, [(5, 4), nograd(np.ones((5, 4), np.float32))])  # no gradient for the target
    # mixed dtypes and broadcasting take the composed path
    check_op(lambda m, x, y: m.nn.functional.mse_loss(x, y.double()), [(4, 3), (4, 3)], rtol=1e-5, atol=1e-6)
    with pytest.warns(UserWarning, match="target size"):
        check_op(fn, [(4, 3), (3,)])


def test_mse_fused_double_backward():
    # create_graph=True: the backward is built from tensor ops, so it has a gradient too
    rng = np.random.default_rng(0)
    xa, ya = rng.standard_normal((4, 5)).astype(np.float32), rng.standard_normal((4, 5)).astype(np.float32)
    res = []
    for m in (dlcore, torch):
        x, y = m.tensor(xa, requires_grad=True), m.tensor(ya, requires_grad=True)
        (gx,) = m.autograd.grad(m.nn.functional.mse_loss(x, y, reduction="sum"), [x], create_graph=True)
        (gx * gx).sum().backward()
        res.append([to_numpy(t) for t in (gx, x.grad, y.grad)])
    for a, b in zip(*res):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-5)
