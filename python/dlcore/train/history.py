"""``History``: what happened during training, per epoch and per step."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Iterator

__all__ = ["History"]


class History(Mapping):
    r"""Per-epoch and per-step training values, as plain lists of floats.

    A ``History`` is a read-only mapping from name to per-epoch list, e.g.
    ``history["loss"]``, ``history["val_loss"]``, ``history["val_accuracy"]``,
    ``history["lr"]`` (one entry per epoch, Keras' ``History.history``).
    Per-step values (the training loss of every batch, the learning rate,
    the gradient norm when clipping) are in :attr:`steps`, a dict of lists,
    with the global step numbers in ``steps["step"]``. A value first logged
    in a later epoch is padded with ``nan`` before it, so every epoch list
    has the length of :attr:`epoch`.

    ``dlcore.viz.plot_loss_curve`` takes it directly or a selection of it, e.g.
    ``plot_loss_curve({"train": h["loss"], "val": h["val_loss"]})``.

    Attributes:
        epoch (list[int]): the epoch number of each entry (0-based).
        history (dict[str, list[float]]): the per-epoch lists.
        steps (dict[str, list[float]]): the per-step lists.

    Examples::

        >>> from dlcore.train import History
        >>> h = History()
        >>> h.log_step(0, loss=1.0); h.log_step(1, loss=0.5)
        >>> h.log_epoch(0, loss=0.75, val_loss=0.8)
        >>> h["loss"], h.steps["loss"], dict(h)
        ([0.75], [1.0, 0.5], {'loss': [0.75], 'val_loss': [0.8]})
        >>> h.best("val_loss")
        (0, 0.8)
    """

    def __init__(self) -> None:
        self.epoch: list[int] = []
        self.history: dict[str, list[float]] = {}
        self.steps: dict[str, list[float]] = {"step": []}

    # Mapping interface over the per-epoch series
    def __getitem__(self, key: str) -> list[float]:
        try:
            return self.history[key]
        except KeyError:
            raise KeyError(f"History has no series '{key}'; available: {sorted(self.history)}") from None

    def __iter__(self) -> Iterator[str]:
        return iter(self.history)

    def __len__(self) -> int:
        return len(self.history)

    @staticmethod
    def _append(table: dict[str, list], n_before: int, values: dict[str, Any]) -> None:
        for name, value in values.items():
            series = table.setdefault(name, [float("nan")] * n_before)
            series.append(int(value) if name == "step" else float(value))
        for name, series in table.items():  # keep all series the same length
            if len(series) < n_before + 1:
                series.append(float("nan"))

    def log_step(self, step: int, **values: float) -> None:
        """Record per-step values for global step ``step``."""
        n = len(self.steps["step"])
        self._append(self.steps, n, {"step": step, **values})

    def log_epoch(self, epoch: int, **values: float) -> None:
        """Record the end-of-epoch values of epoch ``epoch``."""
        self._append(self.history, len(self.epoch), values)
        self.epoch.append(int(epoch))

    def best(self, key: str, mode: str = "min") -> tuple[int, float]:
        """``(epoch, value)`` of the best entry of series ``key`` (``mode`` 'min' or 'max')."""
        series = self[key]
        pairs = [(v, i) for i, v in enumerate(series) if v == v]  # skip nan
        if not pairs:
            raise ValueError(f"History series '{key}' has no values")
        v, i = min(pairs) if mode == "min" else max(pairs, key=lambda p: (p[0], -p[1]))
        return self.epoch[i], v

    def to_dict(self) -> dict[str, Any]:
        """Plain-dict copy: ``{"epoch": [...], "history": {...}, "steps": {...}}``."""
        return {
            "epoch": list(self.epoch),
            "history": {k: list(v) for k, v in self.history.items()},
            "steps": {k: list(v) for k, v in self.steps.items()},
        }

    state_dict = to_dict

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore from :meth:`to_dict` output (as stored in a checkpoint)."""
        self.epoch = [int(e) for e in state["epoch"]]
        self.history = {k: [float(x) for x in v] for k, v in state["history"].items()}
        self.steps = {k: [float(x) for x in v] for k, v in state["steps"].items()}
        self.steps["step"] = [int(x) for x in self.steps.get("step", [])]

    def __repr__(self) -> str:
        keys = ", ".join(self.history)
        return f"History(epochs={len(self.epoch)}, steps={len(self.steps['step'])}, series=[{keys}])"
