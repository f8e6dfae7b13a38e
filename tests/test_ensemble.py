"""Cross-validation, bagging and SAMME boosting (dlcore.train)."""

import math

import numpy as np
import pytest

import dlcore
import dlcore.nn as nn
from dlcore.train import AdaBoostClassifier, BaggingEnsemble, Trainer, cross_validate
from dlcore.train.crossval import _private_folds
from dlcore.train.ensemble import samme_update


def _sgd(lr=0.3):
    return lambda p: dlcore.optim.SGD(p, lr=lr, momentum=0.9)


def _mlp(hidden=16, classes=2):
    return nn.Sequential(nn.Linear(2, hidden), nn.ReLU(), nn.Linear(hidden, classes))


def _spiral(n=50, classes=2):
    return dlcore.data.spiral(n_per_class=n, n_classes=classes, seed=0)


# ------------------------------------------------------------ cross_validate
def test_cross_validate_folds_partition_and_summaries():
    X, y = _spiral(n=25)  # 50 samples, k=3: folds of 17, 17, 16
    res = cross_validate(_mlp, (X, y), k=3, epochs=3, batch_size=10, loss_fn=nn.CrossEntropyLoss(),
                         optimizer_fn=_sgd(), metrics=["accuracy"])
    assert [f["val_size"] for f in res.folds] == [17, 17, 16]
    assert [f["train_size"] for f in res.folds] == [33, 33, 34]
    assert set(res.mean) == {"loss", "accuracy"}
    acc = res["accuracy"]
    assert res.mean["accuracy"] == pytest.approx(np.mean(acc)) and res.std["accuracy"] == pytest.approx(np.std(acc))
    assert "accuracy: " in res.summary() and " ± " in res.summary() and "k=3" in repr(res)
    assert len(res.histories) == 3 and all(len(h.epoch) == 3 for h in res.histories)


def test_cross_validate_is_reproducible_with_a_seed():
    X, y = _spiral(n=20)
    kw = dict(k=4, epochs=2, loss_fn=nn.CrossEntropyLoss(), optimizer_fn=_sgd(), metrics=["accuracy"], seed=3)
    a, b = cross_validate(_mlp, (X, y), **kw), cross_validate(_mlp, (X, y), **kw)
    assert a.folds == b.folds


@pytest.mark.parametrize("labels", [None, np.repeat([0, 1, 2], [10, 6, 4])])
def test_private_splitter_partitions_and_stratifies(labels):
    folds = _private_folds(20, 3, True, 0, labels)
    vals = np.sort(np.concatenate([v for _, v in folds]))
    np.testing.assert_array_equal(vals, np.arange(20))
    for train, val in folds:
        assert len(np.intersect1d(train, val)) == 0 and len(train) + len(val) == 20
    if labels is not None:  # every fold holds each class in proportion (±1)
        for _, val in folds:
            counts = np.bincount(labels[val], minlength=3)
            assert np.all(np.abs(counts - np.array([10, 6, 4]) / 3) <= 1)
    else:
        assert sorted(len(v) for _, v in folds) == [6, 7, 7]


def test_cross_validate_stratified_and_custom_splitter_and_trainer_fn():
    X, y = _spiral(n=12, classes=3)
    res = cross_validate(lambda: _mlp(classes=3), (X, y), k=3, stratify=True, epochs=1,
                         loss_fn=nn.CrossEntropyLoss(), optimizer_fn=_sgd())
    assert [f["val_size"] for f in res.folds] == [12, 12, 12]

    class TwoFold:
        def split(self, X):
            n = len(X)
            yield np.arange(n // 2, n), np.arange(n // 2)
            yield np.arange(n // 2), np.arange(n // 2, n)

    def trainer_fn():
        m = _mlp(classes=3)
        return Trainer(m, dlcore.optim.SGD(m.parameters(), lr=0.1), nn.CrossEntropyLoss(),
                       metrics=["f1"], progress_bar=False)

    res = cross_validate(trainer_fn, dlcore.data.TensorDataset(X, y), k=TwoFold(), epochs=1)
    assert len(res.folds) == 2 and set(res.mean) == {"loss", "f1"}


def test_cross_validate_on_a_generic_dataset():
    X, y = _spiral(n=10)

    class Pairs(dlcore.data.Dataset):
        def __len__(self):
            return 20

        def __getitem__(self, i):
            return X[i], y[i]

    res = cross_validate(_mlp, Pairs(), k=2, stratify=True, epochs=1, batch_size=4,
                         loss_fn=nn.CrossEntropyLoss(), optimizer_fn=_sgd())
    assert [f["val_size"] for f in res.folds] == [10, 10]


def test_cross_validate_errors():
    X, y = _spiral(n=5)
    with pytest.raises(ValueError, match=r"k must be an int in \[2, 10\]"):
        cross_validate(_mlp, (X, y), k=11)
    with pytest.raises(ValueError, match="loss_fn and optimizer_fn are required"):
        cross_validate(_mlp, (X, y), k=2)
    with pytest.raises(TypeError, match="Dataset or a tuple of tensors"):
        cross_validate(_mlp, 5, k=2)


# --------------------------------------------------------------------- bagging
def test_bagging_bootstrap_and_soft_voting():
    X, y = _spiral()
    dlcore.manual_seed(0)
    ens = BaggingEnsemble(_mlp, n_estimators=4, loss_fn=nn.CrossEntropyLoss(), optimizer_fn=_sgd(),
                          epochs=20, batch_size=20, seed=1).fit((X, y))
    rng = np.random.default_rng(1)
    for idx, oob in zip(ens.bootstrap_indices, ens.oob_masks):
        np.testing.assert_array_equal(idx, rng.integers(0, 100, size=100))
        assert not oob[idx].any() and oob.sum() == 100 - len(np.unique(idx))
    with dlcore.no_grad():
        probs = [m(X).softmax(1).numpy() for m in ens.members]
        out = ens(X).numpy()
    np.testing.assert_allclose(out, np.mean(probs, axis=0), rtol=1e-6)
    np.testing.assert_allclose(out.sum(1), 1.0, rtol=1e-5)
    assert (ens.predict(X) == y).float().mean().item() > 0.75
    assert len(ens.histories) == 4


def test_bagging_state_dict_round_trip(tmp_path):
    X, y = _spiral(n=20)
    kw = dict(n_estimators=3, loss_fn=nn.CrossEntropyLoss(), optimizer_fn=_sgd(), epochs=2)
    ens = BaggingEnsemble(_mlp, **kw).fit((X, y))
    dlcore.save(ens.state_dict(), tmp_path / "bag.st")
    assert list(dlcore.load(tmp_path / "bag.st"))[0] == "members.0.0.weight"
    fresh = BaggingEnsemble(_mlp, **kw)
    fresh.load_state_dict(dlcore.load(tmp_path / "bag.st"))
    with dlcore.no_grad():
        assert dlcore.equal(fresh(X), ens(X))


def test_bagging_regression_averages_outputs():
    dlcore.manual_seed(0)
    X = dlcore.linspace(-1, 1, 40).reshape(40, 1)
    y = 3 * X + 1
    ens = BaggingEnsemble(lambda: nn.Linear(1, 1), n_estimators=3, task="regression", max_samples=0.5,
                          loss_fn=nn.MSELoss(), optimizer_fn=_sgd(0.1), epochs=30, batch_size=10).fit((X, y))
    assert all(len(i) == 20 for i in ens.bootstrap_indices)
    with dlcore.no_grad():
        want = np.mean([m(X).numpy() for m in ens.members], axis=0)
        np.testing.assert_allclose(ens(X).numpy(), want, rtol=1e-6)
        np.testing.assert_allclose(ens.predict(X).numpy(), want, rtol=1e-6)
        assert nn.MSELoss()(ens(X), y).item() < 0.05


def test_bagging_errors():
    kw = dict(loss_fn=nn.MSELoss(), optimizer_fn=_sgd())
    with pytest.raises(ValueError, match="task must be"):
        BaggingEnsemble(_mlp, 2, task="ranking", **kw)
    with pytest.raises(ValueError, match="max_samples"):
        BaggingEnsemble(_mlp, 2, max_samples=0, **kw)
    with pytest.raises(ValueError, match="n_estimators must be >= 1"):
        BaggingEnsemble(_mlp, 0, **kw)
    with pytest.raises(TypeError, match=r"expected \(X, y\)"):
        BaggingEnsemble(_mlp, 1, **kw).fit([1, 2, 3])


# -------------------------------------------------------------------- boosting
def ref_samme(w, wrong, k):
    w = np.asarray(w, float)
    err = sum(wi for wi, b in zip(w, wrong) if b) / sum(w)
    alpha = math.log((1 - err) / err) + math.log(k - 1)
    new = [wi * math.exp(alpha) if b else wi for wi, b in zip(w, wrong)]
    return np.array(new) / sum(new), alpha, err


@pytest.mark.parametrize("k", [2, 3, 10])
def test_samme_update_matches_the_paper(k):
    rng = np.random.default_rng(k)
    w = rng.random(30)
    wrong = rng.random(30) < 0.3
    got = samme_update(w, wrong, k)
    want = ref_samme(w, wrong, k)
    np.testing.assert_allclose(got[0], want[0], rtol=1e-12)
    assert got[1] == pytest.approx(want[1]) and got[2] == pytest.approx(want[2])
    half = samme_update(w, wrong, k, learning_rate=0.5)
    assert half[1] == pytest.approx(0.5 * want[1])


def test_samme_update_edge_cases():
    w = np.full(4, 0.25)
    assert samme_update(w, np.zeros(4, bool), 3)[1:] == (1.0, 0.0)  # perfect
    np.testing.assert_array_equal(samme_update(w, np.zeros(4, bool), 3)[0], w)
    assert samme_update(w, np.array([1, 1, 0, 0], bool), 2)[1] == 0.0  # chance level for K=2


def test_adaboost_improves_on_its_first_member_and_votes_by_alpha():
    X, y = _spiral()
    dlcore.manual_seed(0)
    boost = AdaBoostClassifier(lambda: _mlp(hidden=4), n_estimators=8, num_classes=2, loss_fn=nn.CrossEntropyLoss(),
                               optimizer_fn=_sgd(), epochs=30, seed=0).fit((X, y))
    alphas = boost.estimator_weights.numpy()
    used = int((alphas > 0).sum())
    assert used == len(boost.estimator_errors) >= 2
    with dlcore.no_grad():
        preds = [m(X).argmax(1).numpy() for m in boost.members][:used]
        scores = boost(X).numpy()
    # the recorded weights follow SAMME on the members' own training predictions
    w = np.full(100, 0.01)
    target = y.numpy()
    for i, p in enumerate(preds):
        np.testing.assert_allclose(boost.sample_weights[i], w)
        w, alpha, err = ref_samme(w, p != target, 2)
        assert alphas[i] == pytest.approx(alpha) and boost.estimator_errors[i] == pytest.approx(err)
    want = sum(a * np.eye(2)[p] for a, p in zip(alphas, preds)) / alphas.sum()
    np.testing.assert_allclose(scores, want, rtol=1e-5)
    first = float(np.mean(preds[0] == target))
    final = (boost.predict(X) == y).float().mean().item()
    assert final >= first + 0.1, (first, final)


def test_adaboost_state_dict_and_errors(tmp_path):
    dlcore.manual_seed(0)
    X, y = _spiral(n=20)
    kw = dict(n_estimators=2, num_classes=2, loss_fn=nn.CrossEntropyLoss(), optimizer_fn=_sgd(), epochs=5)
    fresh = AdaBoostClassifier(_mlp, **kw)
    with pytest.raises(RuntimeError, match="call fit"):
        fresh(X)
    boost = AdaBoostClassifier(_mlp, **kw).fit((X, y))
    dlcore.save(boost.state_dict(), tmp_path / "b.st")
    fresh.load_state_dict(dlcore.load(tmp_path / "b.st"))
    with dlcore.no_grad():
        assert dlcore.equal(fresh(X), boost(X))
    with pytest.raises(ValueError, match="num_classes must be >= 2"):
        AdaBoostClassifier(_mlp, 2, num_classes=1, loss_fn=None, optimizer_fn=None)

    class AlwaysOne(nn.Module):  # predicts class 1 on data that is 75% class 0
        def __init__(self):
            super().__init__()
            self.lin = nn.Linear(2, 2)

        def forward(self, x):
            return self.lin(x) * 0 + dlcore.tensor([0.0, 1.0])

    Xb, yb = X, dlcore.tensor([0] * 30 + [1] * 10)
    bad = AdaBoostClassifier(AlwaysOne, n_estimators=2, num_classes=2, loss_fn=nn.CrossEntropyLoss(),
                             optimizer_fn=_sgd(0.0), epochs=1)
    with pytest.raises(RuntimeError, match=r"no better than chance \(training error 0.7500 >= 0.5000\)"):
        bad.fit((Xb, yb))
