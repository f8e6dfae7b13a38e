"""k-fold cross-validation of a model-building function."""

from __future__ import annotations

from typing import Any, Callable, Iterable

import numpy as np

import dlcore

from .trainer import Trainer

__all__ = ["cross_validate", "CrossValidationResult"]


def _as_dataset(dataset: Any) -> Any:
    if isinstance(dataset, (tuple, list)) and all(isinstance(t, dlcore.Tensor) for t in dataset):
        return dlcore.data.TensorDataset(*dataset)
    if not (hasattr(dataset, "__len__") and hasattr(dataset, "__getitem__")):
        raise TypeError(
            f"cross_validate: dataset must be a Dataset or a tuple of tensors, got {type(dataset).__name__}"
        )
    return dataset


def _labels(dataset: Any) -> np.ndarray:
    if isinstance(dataset, dlcore.data.TensorDataset):
        return dataset.tensors[-1].numpy()
    return np.array([np.asarray(dataset[i][-1]).item() for i in range(len(dataset))])


def subset(dataset: Any, indices: np.ndarray) -> Any:
    """``dataset`` restricted to ``indices`` (a gathered ``TensorDataset`` when possible)."""
    indices = np.asarray(indices, dtype=np.int64)
    if isinstance(dataset, dlcore.data.TensorDataset):
        return dlcore.data.TensorDataset(*(t[indices] for t in dataset.tensors))
    cls = getattr(dlcore.data, "Subset", None)
    return cls(dataset, indices.tolist()) if cls is not None else _Subset(dataset, indices)


class _Subset:
    def __init__(self, dataset: Any, indices: np.ndarray) -> None:
        self.dataset, self.indices = dataset, indices

    def __getitem__(self, i: int) -> Any:
        return self.dataset[int(self.indices[i])]

    def __len__(self) -> int:
        return len(self.indices)


def _private_folds(n: int, k: int, shuffle: bool, seed: int | None, labels: np.ndarray | None) -> list:
    order = np.random.default_rng(seed).permutation(n) if shuffle else np.arange(n)
    fold_of = np.empty(n, dtype=np.int64)
    if labels is None:  # sizes as scikit-learn: the first n % k folds get one more
        sizes = np.full(k, n // k) + (np.arange(k) < n % k)
        fold_of[order] = np.repeat(np.arange(k), sizes)
    else:  # each class dealt round-robin over the folds, in shuffled order
        lab = labels[order]
        for c in np.unique(lab):
            members = order[lab == c]
            fold_of[members] = np.arange(len(members)) % k
    all_idx = np.arange(n)
    return [(all_idx[fold_of != f], all_idx[fold_of == f]) for f in range(k)]


def _folds(k: Any, n: int, shuffle: bool, seed: int | None, labels: np.ndarray | None) -> list:
    if hasattr(k, "split"):  # a splitter object (dlcore.data.KFold, sklearn-like)
        args = (np.arange(n),) if labels is None else (np.arange(n), labels)
        return [(np.asarray(a), np.asarray(b)) for a, b in k.split(*args)]
    if not isinstance(k, int) or k < 2 or k > n:
        raise ValueError(f"cross_validate: k must be an int in [2, {n}] (the dataset size), got {k!r}")
    cls = getattr(dlcore.data, "StratifiedKFold" if labels is not None else "KFold", None)
    if cls is not None:  # prefer dlcore.data's splitters; fall back if their API differs
        try:
            splitter = cls(n_splits=k, shuffle=shuffle, random_state=seed if shuffle else None)
            folds = _folds(splitter, n, shuffle, seed, labels)
            seen = np.sort(np.concatenate([v for _, v in folds]))
            if len(folds) == k and np.array_equal(seen, np.arange(n)):
                return folds
        except (TypeError, AttributeError):  # an API mismatch (not bad data): use the private splitter
            pass
    return _private_folds(n, k, shuffle, seed, labels)


class CrossValidationResult:
    r"""Per-fold results of :func:`cross_validate` and their mean and std.

    Attributes:
        folds (list[dict]): each fold's validation values (``"loss"`` and metrics).
        mean (dict), std (dict): over folds (population std, ``ddof=0``).
        histories (list[History]): each fold's training history.
        trainers (list[Trainer]): each fold's trainer (and so model).
    """

    def __init__(self, folds: list[dict], histories: list, trainers: list) -> None:
        self.folds, self.histories, self.trainers = folds, histories, trainers
        keys = [k for k, v in folds[0].items()
                if isinstance(v, (int, float)) and k not in ("train_size", "val_size")]
        self.mean = {k: float(np.mean([f[k] for f in folds])) for k in keys}
        self.std = {k: float(np.std([f[k] for f in folds])) for k in keys}

    def __getitem__(self, key: str) -> list[float]:
        """The per-fold values of ``key``."""
        return [f[key] for f in self.folds]

    def summary(self) -> str:
        """One line per value: ``name: mean ± std``."""
        return "\n".join(f"{k}: {self.mean[k]:.4f} ± {self.std[k]:.4f}" for k in self.mean)

    def __repr__(self) -> str:
        return f"CrossValidationResult(k={len(self.folds)})\n" + self.summary()


def cross_validate(
    model_fn: Callable[[], Any],
    dataset: Any,
    k: Any = 5,
    *,
    loss_fn: Any = None,
    optimizer_fn: Callable[[Iterable], Any] | None = None,
    metrics: Any = None,
    epochs: int = 10,
    batch_size: int = 32,
    shuffle: bool = True,
    stratify: bool = False,
    seed: int | None = 0,
    callbacks_fn: Callable[[], list] | None = None,
    progress_bar: bool = False,
) -> CrossValidationResult:
    r"""k-fold cross-validation: train a fresh model on k-1 folds, evaluate
    on the held-out fold, k times.

    Args:
        model_fn (callable): ``model_fn()`` returns a fresh ``nn.Module`` (then
            ``loss_fn`` and ``optimizer_fn`` are required) or a ready
            :class:`Trainer` (full control; ``loss_fn``/``optimizer_fn``/
            ``metrics`` ignored).
        dataset: a ``Dataset`` or a tuple of tensors ``(X, y)``.
        k: number of folds, or a splitter with ``split(X[, y])`` yielding
            ``(train_idx, val_idx)`` (e.g. ``dlcore.data.KFold``). Default: 5.
        loss_fn (callable): loss for the trainer.
        optimizer_fn (callable): ``optimizer_fn(params)`` returns an optimizer.
        metrics: metric specs, as for :class:`Trainer`.
        epochs (int): epochs per fold. Default: 10.
        batch_size (int): loader batch size. Default: 32.
        shuffle (bool): shuffle before splitting (and the training batches).
        stratify (bool): keep class proportions in every fold (labels are the
            dataset's last element). Default: ``False``.
        seed (int, optional): seeds the split and the loaders, and calls
            ``dlcore.manual_seed(seed + fold)`` before ``model_fn``, so every
            fold is reproducible. ``None`` leaves the global RNG alone.
        callbacks_fn (callable, optional): returns fresh callbacks per fold.
        progress_bar (bool): show tqdm bars. Default: ``False``.

    Returns:
        :class:`CrossValidationResult` with ``folds``, ``mean``, ``std``.

    Examples::

        >>> from dlcore import nn
        >>> from dlcore.train import cross_validate
        >>> X, y = dlcore.data.spiral(n_per_class=20, n_classes=2)
        >>> res = cross_validate(lambda: nn.Linear(2, 2), (X, y), k=4, epochs=2,
        ...                      loss_fn=nn.CrossEntropyLoss(), metrics=["accuracy"],
        ...                      optimizer_fn=lambda p: dlcore.optim.SGD(p, lr=0.1))
        >>> len(res.folds), sorted(res.mean)
        (4, ['accuracy', 'loss'])
        >>> print(res.summary())  # doctest: +SKIP
        loss: 0.6931 ± 0.0123
        accuracy: 0.5250 ± 0.0433
    """
    dataset = _as_dataset(dataset)
    n = len(dataset)
    labels = _labels(dataset) if stratify else None
    folds = _folds(k, n, shuffle, seed, labels)
    results, histories, trainers = [], [], []
    for fold, (train_idx, val_idx) in enumerate(folds):
        if seed is not None:
            dlcore.manual_seed(seed + fold)
        made = model_fn()
        if isinstance(made, Trainer):
            trainer = made
        else:
            if loss_fn is None or optimizer_fn is None:
                raise ValueError("cross_validate: model_fn returned a model, so loss_fn and optimizer_fn are required")
            trainer = Trainer(made, optimizer_fn(made.parameters()), loss_fn, metrics=metrics,
                              callbacks=callbacks_fn() if callbacks_fn else None, progress_bar=progress_bar)
        train_loader = dlcore.data.DataLoader(
            subset(dataset, train_idx), batch_size=batch_size, shuffle=shuffle,
            seed=None if seed is None else seed + fold,
        )
        val_loader = dlcore.data.DataLoader(subset(dataset, val_idx), batch_size=batch_size)
        trainer.fit(train_loader, epochs=epochs)
        values = trainer.evaluate(val_loader)
        results.append({**values, "train_size": len(train_idx), "val_size": len(val_idx)})
        histories.append(trainer.history)
        trainers.append(trainer)
    return CrossValidationResult(results, histories, trainers)
