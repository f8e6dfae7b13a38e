"""Ensembles of neural networks: bagging and SAMME boosting.

Both are ``nn.Module``s whose members are built in ``__init__`` (so a saved
``state_dict`` loads into a freshly constructed ensemble) and trained by
``fit``, each member with its own :class:`~dlcore.train.Trainer`.
"""

from __future__ import annotations

import math
from typing import Any, Callable, Iterable

import numpy as np

import dlcore
from dlcore import nn

from .trainer import Trainer

__all__ = ["BaggingEnsemble", "AdaBoostClassifier", "samme_update"]


def _tensors(dataset: Any) -> tuple[dlcore.Tensor, dlcore.Tensor]:
    if isinstance(dataset, dlcore.data.TensorDataset) and len(dataset.tensors) == 2:
        return dataset.tensors
    if isinstance(dataset, (tuple, list)) and len(dataset) == 2:
        return tuple(t if isinstance(t, dlcore.Tensor) else dlcore.tensor(np.asarray(t)) for t in dataset)
    raise TypeError("ensemble fit: expected (X, y) tensors or a TensorDataset(X, y)")


class _Members(nn.Module):
    """Holds members as submodules ``"0"``, ``"1"``, … (``ModuleList`` layout)."""

    def __init__(self, members: list) -> None:
        super().__init__()
        for i, m in enumerate(members):
            self.add_module(str(i), m)

    def __getitem__(self, i: int) -> nn.Module:
        return self._modules[str(i)]

    def __len__(self) -> int:
        return len(self._modules)

    def __iter__(self):
        return iter(self._modules.values())


class _Ensemble(nn.Module):
    def __init__(self, model_fn: Callable[[], nn.Module], n_estimators: int, loss_fn: Any,
                 optimizer_fn: Callable[[Iterable], Any], epochs: int, batch_size: int,
                 seed: int | None, progress_bar: bool) -> None:
        super().__init__()
        if n_estimators < 1:
            raise ValueError(f"{type(self).__name__}: n_estimators must be >= 1, got {n_estimators}")
        self.members = _Members([model_fn() for _ in range(n_estimators)])
        self.loss_fn, self.optimizer_fn = loss_fn, optimizer_fn
        self.epochs, self.batch_size, self.seed, self.progress_bar = epochs, batch_size, seed, progress_bar
        self.histories: list = []

    def _train_member(self, i: int, X: dlcore.Tensor, y: dlcore.Tensor, idx: np.ndarray) -> None:
        member = self.members[i]
        loader = dlcore.data.DataLoader(
            dlcore.data.TensorDataset(X[idx], y[idx]), batch_size=self.batch_size, shuffle=True,
            seed=None if self.seed is None else self.seed + 1000 + i,
        )
        trainer = Trainer(member, self.optimizer_fn(member.parameters()), self.loss_fn,
                          progress_bar=self.progress_bar)
        self.histories.append(trainer.fit(loader, epochs=self.epochs))

    def predict(self, x: dlcore.Tensor) -> dlcore.Tensor:
        """Class labels (arg-max of :meth:`forward`) for classifiers, else outputs."""
        with dlcore.no_grad():
            out = self(x)
        return out.argmax(1) if getattr(self, "task", "classification") == "classification" else out


class BaggingEnsemble(_Ensemble):
    r"""Bootstrap aggregating (Breiman, "Bagging Predictors", Machine Learning
    24, 1996): each member trains on ``n`` samples drawn with replacement, and
    the ensemble averages the members' predictions.

    Args:
        model_fn (callable): returns a fresh member model.
        n_estimators (int): number of members. Default: 10.
        loss_fn (callable): training loss, e.g. ``nn.CrossEntropyLoss()``.
        optimizer_fn (callable): ``optimizer_fn(params)`` -> optimizer.
        task (str): ``"classification"``: ``forward`` averages the members'
            softmax probabilities (soft voting) and returns ``(N, C)``
            probabilities; ``"regression"``: averages the outputs.
        max_samples (float): bootstrap size as a fraction of the data. Default: 1.
        epochs (int), batch_size (int): training of each member.
        seed (int, optional): seeds the bootstrap draws and the loaders.
        progress_bar (bool): tqdm bars while training. Default: ``False``.

    Attributes:
        bootstrap_indices (list[np.ndarray]): each member's training sample.
        oob_masks (list[np.ndarray]): samples each member never saw.

    Examples::

        >>> from dlcore import nn
        >>> from dlcore.train import BaggingEnsemble
        >>> X, y = dlcore.data.spiral(n_per_class=20, n_classes=2)
        >>> ens = BaggingEnsemble(lambda: nn.Linear(2, 2), n_estimators=3, epochs=2,
        ...                       loss_fn=nn.CrossEntropyLoss(),
        ...                       optimizer_fn=lambda p: dlcore.optim.SGD(p, lr=0.1)).fit((X, y))
        >>> ens(X).shape, ens.predict(X).shape
        ((40, 2), (40,))
    """

    def __init__(self, model_fn: Callable[[], nn.Module], n_estimators: int = 10, *, loss_fn: Any,
                 optimizer_fn: Callable[[Iterable], Any], task: str = "classification",
                 max_samples: float = 1.0, epochs: int = 10, batch_size: int = 32,
                 seed: int | None = 0, progress_bar: bool = False) -> None:
        super().__init__(model_fn, n_estimators, loss_fn, optimizer_fn, epochs, batch_size, seed, progress_bar)
        if task not in ("classification", "regression"):
            raise ValueError(f"BaggingEnsemble: task must be 'classification' or 'regression', got {task!r}")
        if not 0 < max_samples <= 1:
            raise ValueError(f"BaggingEnsemble: max_samples must be in (0, 1], got {max_samples}")
        self.task, self.max_samples = task, max_samples
        self.bootstrap_indices: list[np.ndarray] = []
        self.oob_masks: list[np.ndarray] = []

    def fit(self, dataset: Any) -> BaggingEnsemble:
        """Train every member on its own bootstrap sample of ``dataset``
        (``(X, y)`` or ``TensorDataset(X, y)``); returns ``self``."""
        X, y = _tensors(dataset)
        n = X.shape[0]
        rng = np.random.default_rng(self.seed)
        m = max(1, int(round(self.max_samples * n)))
        self.bootstrap_indices, self.oob_masks, self.histories = [], [], []
        for i in range(len(self.members)):
            idx = rng.integers(0, n, size=m)
            oob = np.ones(n, dtype=bool)
            oob[idx] = False
            self.bootstrap_indices.append(idx)
            self.oob_masks.append(oob)
            self._train_member(i, X, y, idx)
        return self

    def forward(self, x: dlcore.Tensor) -> dlcore.Tensor:
        outs = [m(x) for m in self.members]
        if self.task == "classification":
            outs = [o.softmax(1) for o in outs]
        return dlcore.stack(outs).mean(0)  # (N, C) or the members' output shape


def samme_update(sample_weight: np.ndarray, incorrect: np.ndarray, num_classes: int,
                 learning_rate: float = 1.0) -> tuple[np.ndarray, float, float]:
    r"""One SAMME re-weighting step (Zhu, Zou, Rosset & Hastie, "Multi-class
    AdaBoost", Statistics and Its Interface 2, 2009, Algorithm 2)::

        err   = sum(w * incorrect) / sum(w)
        alpha = learning_rate * (log((1 - err) / err) + log(K - 1))
        w     = w * exp(alpha * incorrect),  renormalised to sum 1

    Args:
        sample_weight: current weights ``w`` (shape ``(n,)``).
        incorrect: boolean mask of the samples the new member got wrong.
        num_classes (int): ``K``.
        learning_rate (float): shrinks ``alpha``. Default: 1.

    Returns:
        ``(new_weights, alpha, err)``. A perfect member (``err == 0``) gets
        ``alpha = 1`` and unchanged weights (as scikit-learn); a member no
        better than chance (``err >= 1 - 1/K``) gets ``alpha = 0``.

    Examples::

        >>> import numpy as np
        >>> from dlcore.train.ensemble import samme_update
        >>> w, alpha, err = samme_update(np.full(4, 0.25), np.array([1, 0, 0, 0], bool), 2)
        >>> err, round(alpha, 4), w.round(4).tolist()
        (0.25, 1.0986, [0.5, 0.1667, 0.1667, 0.1667])
    """
    w = np.asarray(sample_weight, dtype=np.float64)
    wrong = np.asarray(incorrect, dtype=bool)
    err = float(w[wrong].sum() / w.sum())
    if err <= 0:
        return w / w.sum(), 1.0, 0.0
    if err >= 1.0 - 1.0 / num_classes:
        return w / w.sum(), 0.0, err
    alpha = learning_rate * (math.log((1.0 - err) / err) + math.log(num_classes - 1))
    w = w * np.exp(alpha * wrong)
    return w / w.sum(), float(alpha), err


class AdaBoostClassifier(_Ensemble):
    r"""Boosting with SAMME (Zhu, Zou, Rosset & Hastie, "Multi-class AdaBoost",
    2009): members are trained one after another, each on a sample drawn
    with the current weights (boosting by resampling, Freund & Schapire
    1997), and the weights of the samples it misclassifies grow by
    ``exp(alpha)`` (see :func:`samme_update`). The ensemble votes with weights
    ``alpha``: ``forward`` returns ``sum_m alpha_m * onehot(member_m(x)) /
    sum_m alpha_m``, shape ``(N, num_classes)``.

    Training stops early when a member is perfect on the training set or
    no better than chance; the remaining members keep weight 0.

    Args:
        model_fn (callable): returns a fresh member (a weak learner is enough).
        n_estimators (int): most members. Default: 10.
        num_classes (int): ``K``.
        loss_fn, optimizer_fn, epochs, batch_size, seed, progress_bar: as
            :class:`BaggingEnsemble`.
        learning_rate (float): shrinks each ``alpha``. Default: 1.

    Attributes:
        estimator_weights (Tensor): the ``alpha`` of each member (a buffer,
            saved in ``state_dict``).
        estimator_errors (list[float]), sample_weights (list[np.ndarray]).

    Examples::

        >>> from dlcore import nn
        >>> from dlcore.train import AdaBoostClassifier
        >>> dlcore.manual_seed(0)
        >>> X, y = dlcore.data.spiral(n_per_class=30, n_classes=3)
        >>> boost = AdaBoostClassifier(lambda: nn.Linear(2, 3), n_estimators=3, num_classes=3,
        ...                            loss_fn=nn.CrossEntropyLoss(), epochs=5,
        ...                            optimizer_fn=lambda p: dlcore.optim.SGD(p, lr=0.5))
        >>> boost.fit((X, y)).predict(X).shape
        (90,)
    """

    task = "classification"

    def __init__(self, model_fn: Callable[[], nn.Module], n_estimators: int = 10, *, num_classes: int,
                 loss_fn: Any, optimizer_fn: Callable[[Iterable], Any], learning_rate: float = 1.0,
                 epochs: int = 10, batch_size: int = 32, seed: int | None = 0,
                 progress_bar: bool = False) -> None:
        super().__init__(model_fn, n_estimators, loss_fn, optimizer_fn, epochs, batch_size, seed, progress_bar)
        if num_classes < 2:
            raise ValueError(f"AdaBoostClassifier: num_classes must be >= 2, got {num_classes}")
        self.num_classes, self.learning_rate = num_classes, learning_rate
        self.register_buffer("estimator_weights", dlcore.zeros(n_estimators, dtype=dlcore.float64))
        self.estimator_errors: list[float] = []
        self.sample_weights: list[np.ndarray] = []

    def fit(self, dataset: Any) -> AdaBoostClassifier:
        """Train the members in sequence on ``(X, y)`` or ``TensorDataset(X, y)``; returns ``self``."""
        X, y = _tensors(dataset)
        n, target = X.shape[0], y.numpy().astype(np.int64)
        rng = np.random.default_rng(self.seed)
        w = np.full(n, 1.0 / n)
        alphas = np.zeros(len(self.members))
        self.estimator_errors, self.sample_weights, self.histories = [], [w.copy()], []
        for i in range(len(self.members)):
            idx = rng.choice(n, size=n, replace=True, p=w)
            self._train_member(i, X, y, idx)
            with dlcore.no_grad():
                pred = self.members[i](X).argmax(1).numpy()
            w, alpha, err = samme_update(w, pred != target, self.num_classes, self.learning_rate)
            alphas[i] = alpha
            self.estimator_errors.append(err)
            self.sample_weights.append(w.copy())
            if err <= 0 or alpha == 0:
                break
        if not alphas.any():
            raise RuntimeError(
                f"AdaBoostClassifier: the first member is no better than chance (training error "
                f"{self.estimator_errors[0]:.4f} >= {1 - 1 / self.num_classes:.4f}); use a stronger member or more epochs"
            )
        with dlcore.no_grad():
            self.estimator_weights.copy_(dlcore.tensor(alphas))
        return self

    def forward(self, x: dlcore.Tensor) -> dlcore.Tensor:
        alphas = self.estimator_weights.tolist()
        total = sum(alphas)
        if total <= 0:
            raise RuntimeError("AdaBoostClassifier: call fit() (or load a trained state_dict) first")
        eye = dlcore.eye(self.num_classes, dtype=dlcore.float32)
        votes = None
        for member, alpha in zip(self.members, alphas):
            if alpha == 0:
                continue
            v = eye[member(x).argmax(1)] * (alpha / total)  # (N, K) weighted one-hot votes
            votes = v if votes is None else votes + v
        return votes
