"""``Trainer``: the training loop, once, with callbacks, metrics, history and
checkpoints that resume bit-identically."""

from __future__ import annotations

import os
import re
from typing import Any, Iterable

import numpy as np

import dlcore

from .callbacks import Callback, LRScheduler, ProgressBar
from .history import History
from .metrics import Metric, get_metric

__all__ = ["Trainer"]


def _metric_name(spec: Any) -> str:
    if isinstance(spec, str):
        return spec
    cls = spec if isinstance(spec, type) else type(spec)
    if isinstance(spec, (Metric, type)):
        if cls.__name__ == "Accuracy" and getattr(spec, "top_k", 1) != 1:
            return f"top{spec.top_k}_accuracy"
        return re.sub(r"(?<!^)(?=[A-Z][a-z])", "_", cls.__name__).lower()
    return getattr(spec, "__name__", "metric")


def _batch_size(target: Any) -> int:
    shape = getattr(target, "shape", ())
    return int(shape[0]) if len(shape) else 1


def _to_device(x: Any, device: Any) -> Any:
    if device is None:
        return x
    if isinstance(x, dlcore.Tensor):
        return x.to(device)
    if isinstance(x, (list, tuple)):
        return type(x)(_to_device(v, device) for v in x)
    return x


class Trainer:
    r"""Train, validate, predict and checkpoint a model.

    The loop per batch is ``zero_grad -> output = model(*inputs) ->
    loss = loss_fn(output, target) -> backward -> [callbacks: clip / check]
    -> optimizer.step()``. A batch is ``(inputs..., target)`` (what a
    ``DataLoader`` over a ``TensorDataset(X, y)`` yields); override
    :meth:`forward_batch` for anything else.

    Args:
        model (nn.Module): the model.
        optimizer: any object with ``step()``, ``zero_grad()``,
            ``state_dict()``, ``load_state_dict()`` and ``param_groups``
            (every ``dlcore.optim`` optimizer).
        loss_fn (callable): ``loss_fn(output, target)`` returning a scalar tensor.
        metrics: list of metric specs, or dict ``name -> spec``; a spec is a
            name (``"accuracy"``, ``"f1"``, ``"mse"`` …), a
            :class:`~dlcore.train.metrics.Metric`, or ``fn(output, target)``.
            They are computed on training batches and on validation.
        callbacks (list[Callback]): see :mod:`dlcore.train.callbacks`.
        scheduler: optional LR scheduler (anything with ``step()``; its
            ``state_dict`` goes into checkpoints), stepped by an
            :class:`LRScheduler` callback that runs before the others.
        scheduler_interval (str): ``"epoch"`` or ``"step"``. Default: ``"epoch"``.
        scheduler_monitor (str, optional): epoch-log value passed to
            ``scheduler.step`` (``ReduceLROnPlateau``; picked automatically
            for a class of that name).
        device (optional): move the model and every batch there.
        progress_bar (bool): tqdm bars with the live loss. Default: ``True``.
        progress_file: stream for the bars (e.g. ``io.StringIO()``).

    Attributes:
        history (History): everything logged so far.
        epoch (int): epochs completed (the next epoch's number).
        global_step (int): optimizer steps taken.
        stop_training (bool): set by a callback to end ``fit`` after this epoch.
        stop_reason (str or None): why ``fit`` stopped early.

    Examples::

        >>> from dlcore import nn
        >>> from dlcore.train import Trainer, EarlyStopping
        >>> dlcore.manual_seed(0)
        >>> X, y = dlcore.data.spiral(n_per_class=30, n_classes=2)
        >>> loader = dlcore.data.DataLoader(dlcore.data.TensorDataset(X, y), batch_size=20,
        ...                                 shuffle=True, seed=0)
        >>> model = nn.Sequential(nn.Linear(2, 16), nn.ReLU(), nn.Linear(16, 2))
        >>> trainer = Trainer(model, dlcore.optim.SGD(model.parameters(), lr=0.1),
        ...                   nn.CrossEntropyLoss(), metrics=["accuracy"], progress_bar=False,
        ...                   callbacks=[EarlyStopping("val_loss", patience=3)])
        >>> history = trainer.fit(loader, val_loader=loader, epochs=5)
        >>> sorted(history), len(history.steps["loss"])
        (['accuracy', 'loss', 'lr', 'val_accuracy', 'val_loss'], 15)
        >>> trainer.predict(X[:4]).shape
        (4, 2)
    """

    def __init__(self, model: Any, optimizer: Any, loss_fn: Any, metrics: Any = None,
                 callbacks: Iterable[Callback] | None = None, scheduler: Any = None,
                 scheduler_interval: str = "epoch", scheduler_monitor: str | None = None,
                 device: Any = None, progress_bar: bool = True, progress_file: Any = None) -> None:
        for name in ("step", "zero_grad", "state_dict", "load_state_dict"):
            if not callable(getattr(optimizer, name, None)):
                raise TypeError(f"Trainer: optimizer {type(optimizer).__name__} has no {name}() method")
        if not callable(loss_fn):
            raise TypeError(f"Trainer: loss_fn must be callable, got {type(loss_fn).__name__}")
        self.model, self.optimizer, self.loss_fn = model, optimizer, loss_fn
        self.device = device
        if device is not None:
            model.to(device)
        if metrics is None:
            metrics = {}
        elif not isinstance(metrics, dict):
            metrics = {_metric_name(m): m for m in metrics}
        self.metric_specs = dict(metrics)
        self.callbacks: list[Callback] = list(callbacks or [])
        self.scheduler = scheduler
        if scheduler is not None:  # first, so checkpoints saved by later callbacks see the stepped state
            self.callbacks.insert(0, LRScheduler(scheduler, scheduler_interval, scheduler_monitor))
        else:
            self.scheduler = next((c.scheduler for c in self.callbacks if isinstance(c, LRScheduler)), None)
        if progress_bar and not any(isinstance(c, ProgressBar) for c in self.callbacks):
            self.callbacks.append(ProgressBar(file=progress_file))
        self.history = History()
        self.epoch = self.global_step = self.batch_idx = 0
        self.stop_training, self.stop_reason, self.skip_step = False, None, False
        self.step_logs: dict[str, float] = {}
        self.running_loss = float("nan")
        self.batches_per_epoch = None
        self.train_loader = None
        self._pending_loader_rng = None

    # ------------------------------------------------------------------ hooks
    def _call(self, hook: str, *args) -> None:
        for cb in self.callbacks:
            getattr(cb, hook)(self, *args)

    def split_batch(self, batch: Any) -> tuple[tuple, Any]:
        """``(inputs, target)`` of a batch ``(inputs..., target)``."""
        if isinstance(batch, (list, tuple)) and len(batch) >= 2:
            return tuple(batch[:-1]), batch[-1]
        raise TypeError(
            f"Trainer: expected a batch (inputs..., target), got {type(batch).__name__}"
            + (f" of length {len(batch)}" if isinstance(batch, (list, tuple)) else "")
            + "; override Trainer.forward_batch for other batch layouts"
        )

    def forward_batch(self, batch: Any) -> tuple[Any, Any]:
        """Run the model on one batch; return ``(output, target)`` for the loss."""
        inputs, target = self.split_batch(batch)
        inputs, target = _to_device(inputs, self.device), _to_device(target, self.device)
        return self.model(*inputs), target

    def _lr(self) -> float | None:
        groups = getattr(self.optimizer, "param_groups", None)
        return float(groups[0]["lr"]) if groups and "lr" in groups[0] else None

    def _fresh_metrics(self) -> dict[str, Metric]:
        return {name: get_metric(spec) for name, spec in self.metric_specs.items()}

    # -------------------------------------------------------------------- fit
    def fit(self, train_loader: Iterable, val_loader: Iterable | None = None, epochs: int = 1) -> History:
        r"""Train for ``epochs`` more epochs (numbering continues after a
        resumed checkpoint); returns :attr:`history`.

        Args:
            train_loader: iterable of batches, re-iterated every epoch.
            val_loader (optional): evaluated after every epoch; its values
                are logged with a ``val_`` prefix.
            epochs (int): epochs to run in this call. Default: 1.
        """
        if epochs < 0:
            raise ValueError(f"Trainer.fit: epochs must be >= 0, got {epochs}")
        self.train_loader = train_loader
        if self._pending_loader_rng is not None:
            gen = getattr(train_loader, "generator", None)
            if isinstance(gen, np.random.Generator):
                gen.bit_generator.state = self._pending_loader_rng
            self._pending_loader_rng = None
        try:
            self.batches_per_epoch = len(train_loader)
        except TypeError:
            self.batches_per_epoch = None
        self.stop_training, self.stop_reason, self.skip_step = False, None, False
        self._call("on_train_begin")
        try:
            for _ in range(epochs):
                if not self._run_epoch(train_loader, val_loader) or self.stop_training:
                    break
        finally:
            self._call("on_train_end")
        return self.history

    def _run_epoch(self, train_loader: Iterable, val_loader: Iterable | None) -> bool:
        epoch = self.epoch
        self._call("on_epoch_begin", epoch)
        epoch_lr = self._lr()  # logged as the epoch's "lr": the rate its first step uses
        self.model.train()
        metrics = self._fresh_metrics()
        loss_sum, count = 0.0, 0
        for batch_idx, batch in enumerate(train_loader):
            self.batch_idx = batch_idx
            self._call("on_batch_begin", batch_idx)
            self.optimizer.zero_grad()
            output, target = self.forward_batch(batch)
            loss = self.loss_fn(output, target)
            loss_value = float(loss.item())
            self.step_logs = {"loss": loss_value}
            loss.backward()
            self._call("on_after_backward")
            if self.skip_step:  # a callback (TerminateOnNaN) vetoed this step: stop now
                return False
            lr = self._lr()
            self.optimizer.step()
            if lr is not None:
                self.step_logs["lr"] = lr
            n = _batch_size(target)
            loss_sum, count = loss_sum + loss_value * n, count + n
            self.running_loss = loss_sum / count
            out = output.detach() if isinstance(output, dlcore.Tensor) else output
            for m in metrics.values():
                m.update(out, target)
            self.history.log_step(self.global_step, **self.step_logs)
            self.global_step += 1
            self._call("on_batch_end", batch_idx, self.step_logs)
        logs = {"loss": loss_sum / count if count else float("nan")}
        logs.update({name: m.compute() for name, m in metrics.items()})
        if val_loader is not None:
            logs.update({"val_" + k: v for k, v in self.evaluate(val_loader).items()})
        if epoch_lr is not None:
            logs["lr"] = epoch_lr
        logs = {k: v for k, v in logs.items() if isinstance(v, (int, float))}
        self.history.log_epoch(epoch, **logs)
        self.epoch += 1
        self._call("on_epoch_end", epoch, logs)
        return True

    # ---------------------------------------------------------- evaluate/predict
    def evaluate(self, loader: Iterable) -> dict[str, Any]:
        r"""Loss and metrics over ``loader`` in eval mode without gradients.

        Returns:
            ``{"loss": float, <metric name>: value, ...}`` (the loss is the
            sample-weighted mean of the batch losses).
        """
        was_training = getattr(self.model, "training", True)
        self.model.eval()
        metrics = self._fresh_metrics()
        loss_sum, count = 0.0, 0
        try:
            with dlcore.no_grad():
                for batch in loader:
                    output, target = self.forward_batch(batch)
                    n = _batch_size(target)
                    loss_sum += float(self.loss_fn(output, target).item()) * n
                    count += n
                    for m in metrics.values():
                        m.update(output, target)
        finally:
            self.model.train(was_training)
        return {"loss": loss_sum / count if count else float("nan"),
                **{name: m.compute() for name, m in metrics.items()}}

    def predict(self, data: Any, batch_size: int = 256) -> dlcore.Tensor:
        r"""Model outputs, concatenated along dim 0, in eval mode without gradients.

        Args:
            data: a tensor (split into chunks of ``batch_size``), or an
                iterable of batches: a tensor, a 1-tuple ``(x,)``, or
                ``(inputs..., target)`` whose target is ignored.
            batch_size (int): chunk size for a tensor input. Default: 256.
        """
        if isinstance(data, dlcore.Tensor):
            batches: Iterable = [(data[i : i + batch_size],) for i in range(0, data.shape[0], batch_size)]
        else:
            batches = data
        was_training = getattr(self.model, "training", True)
        self.model.eval()
        outputs = []
        try:
            with dlcore.no_grad():
                for batch in batches:
                    if isinstance(batch, dlcore.Tensor):
                        inputs = (batch,)
                    elif isinstance(batch, (list, tuple)):
                        inputs = tuple(batch) if len(batch) == 1 else tuple(batch[:-1])
                    else:
                        raise TypeError(f"Trainer.predict: cannot take inputs from a {type(batch).__name__} batch")
                    outputs.append(self.model(*_to_device(inputs, self.device)))
        finally:
            self.model.train(was_training)
        if not outputs:
            raise ValueError("Trainer.predict: no data")
        return dlcore.cat(outputs, 0)

    # ------------------------------------------------------------ checkpoints
    def _callback_keys(self) -> list[str]:
        keys, seen = [], {}
        for cb in self.callbacks:
            name = type(cb).__name__
            seen[name] = seen.get(name, -1) + 1
            keys.append(f"{name}_{seen[name]}")
        return keys

    def state_dict(self) -> dict[str, Any]:
        r"""Everything needed to resume: ``{"model", "optimizer", "scheduler",
        "trainer": {"epoch", "global_step", "history"}, "callbacks",
        "rng": {"dlcore", "loader"}}``. ``rng["loader"]`` is the NumPy
        generator state of the last ``train_loader`` (if it has one), so the
        next epoch's shuffle repeats exactly after a resume."""
        gen = getattr(self.train_loader, "generator", None)
        rng_state = None
        if hasattr(dlcore, "get_rng_state"):
            try:
                rng_state = dlcore.get_rng_state()
            except (AttributeError, NotImplementedError):  # binding not built yet
                rng_state = None
        sched = self.scheduler
        return {
            "model": self.model.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "scheduler": sched.state_dict() if callable(getattr(sched, "state_dict", None)) else None,
            "trainer": {"epoch": self.epoch, "global_step": self.global_step, "history": self.history.to_dict()},
            "callbacks": {k: cb.state_dict() for k, cb in zip(self._callback_keys(), self.callbacks)},
            "rng": {
                "dlcore": rng_state,
                "loader": gen.bit_generator.state if isinstance(gen, np.random.Generator) else None,
            },
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore from :meth:`state_dict` output (model, optimizer, scheduler,
        counters, history, callback state and RNG state)."""
        for key in ("model", "optimizer", "trainer"):
            if key not in state:
                raise KeyError(f"Trainer.load_state_dict: checkpoint has no '{key}' entry (found {sorted(state)})")
        self.model.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        if state.get("scheduler") is not None:
            if self.scheduler is None:
                raise ValueError("Trainer.load_state_dict: the checkpoint has scheduler state but this trainer has no scheduler")
            self.scheduler.load_state_dict(state["scheduler"])
        t = state["trainer"]
        self.epoch, self.global_step = int(t["epoch"]), int(t["global_step"])
        self.history.load_state_dict(t["history"])
        saved_cbs = state.get("callbacks") or {}
        for key, cb in zip(self._callback_keys(), self.callbacks):
            if saved_cbs.get(key):
                cb.load_state_dict(saved_cbs[key])
        rng = state.get("rng") or {}
        if rng.get("dlcore") is not None and hasattr(dlcore, "set_rng_state"):
            dlcore.set_rng_state(rng["dlcore"])
        self._pending_loader_rng = rng.get("loader")
        gen = getattr(self.train_loader, "generator", None)
        if self._pending_loader_rng is not None and isinstance(gen, np.random.Generator):
            gen.bit_generator.state = self._pending_loader_rng
            self._pending_loader_rng = None

    def save_checkpoint(self, path: str | os.PathLike) -> None:
        """Write :meth:`state_dict` to ``path`` with :func:`dlcore.save` (atomic safetensors)."""
        dlcore.save(self.state_dict(), path)

    def load_checkpoint(self, path: str | os.PathLike) -> None:
        """Resume from a file written by :meth:`save_checkpoint`; the next
        :meth:`fit` continues with identical results (same data order when
        the loader shuffles with its own ``seed``/``generator``)."""
        self.load_state_dict(dlcore.load(path))
