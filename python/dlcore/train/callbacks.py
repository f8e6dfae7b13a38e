"""Callbacks: code that :class:`~dlcore.train.Trainer` runs at fixed points of
training (Keras' design, PyTorch-Lightning's hook names).

Order of hooks in one epoch::

    on_epoch_begin
      for each batch: on_batch_begin -> forward, loss -> backward
                      -> on_after_backward (clip / check grads) -> optimizer.step()
                      -> on_batch_end (step logs: loss, lr, ...)
    validation -> on_epoch_end (epoch logs: loss, metrics, val_*, lr)

Callbacks run in list order. ``trainer.stop_training = True`` ends ``fit``
after the current epoch; a callback that must stop *now* raises.
"""

from __future__ import annotations

import math
import os
import sys
import warnings
from typing import Any

import dlcore

__all__ = [
    "Callback", "EarlyStopping", "ModelCheckpoint", "LRScheduler",
    "GradientClipping", "TerminateOnNaN", "ProgressBar",
]

_MAX_WORDS = ("acc", "f1", "iou", "precision", "recall", "auc", "score")


def _resolve_mode(mode: str, monitor: str) -> str:
    if mode == "auto":
        return "max" if any(w in monitor.lower() for w in _MAX_WORDS) else "min"
    if mode not in ("min", "max"):
        raise ValueError(f"mode must be 'min', 'max' or 'auto', got {mode!r}")
    return mode


def _monitored(logs: dict, monitor: str, who: str) -> float:
    if monitor not in logs:
        raise KeyError(
            f"{who}: monitored value '{monitor}' is not in the epoch logs "
            f"(available: {sorted(logs)}); pass val_loader to fit() for 'val_*' values"
        )
    return float(logs[monitor])


class Callback:
    """Base class: override any hook; ``state_dict``/``load_state_dict`` put
    the callback's counters into trainer checkpoints."""

    def on_train_begin(self, trainer) -> None: ...
    def on_train_end(self, trainer) -> None: ...
    def on_epoch_begin(self, trainer, epoch: int) -> None: ...
    def on_epoch_end(self, trainer, epoch: int, logs: dict) -> None: ...
    def on_batch_begin(self, trainer, batch_idx: int) -> None: ...
    def on_after_backward(self, trainer) -> None: ...
    def on_batch_end(self, trainer, batch_idx: int, logs: dict) -> None: ...

    def state_dict(self) -> dict:
        return {}

    def load_state_dict(self, state: dict) -> None:
        pass


class _Improvement:
    """Tracks the best value of a monitored quantity."""

    def _init_monitor(self, monitor: str, mode: str, min_delta: float) -> None:
        self.monitor, self.mode = monitor, _resolve_mode(mode, monitor)
        self.min_delta = abs(min_delta)
        self.best = math.inf if self.mode == "min" else -math.inf

    def _improved(self, value: float) -> bool:
        if self.mode == "min":
            return value < self.best - self.min_delta
        return value > self.best + self.min_delta


class EarlyStopping(_Improvement, Callback):
    r"""Stop training when a monitored value has stopped improving.

    Args:
        monitor (str): epoch-log key to watch. Default: ``"val_loss"``.
        patience (int): epochs without improvement before stopping. Default: 0.
        min_delta (float): smallest change that counts as improvement. Default: 0.
        mode (str): ``"min"``, ``"max"`` or ``"auto"`` (``max`` for names
            containing acc/f1/iou/precision/recall, else ``min``).
        restore_best_weights (bool): at the end of training, load the
            weights of the best epoch back into the model. Default: ``False``.

    Attributes:
        stopped_epoch (int or None), best (float), best_epoch (int or None).

    Examples::

        >>> from dlcore.train import EarlyStopping
        >>> stop = EarlyStopping(monitor="val_loss", patience=2, restore_best_weights=True)
    """

    def __init__(self, monitor: str = "val_loss", patience: int = 0, min_delta: float = 0.0,
                 mode: str = "auto", restore_best_weights: bool = False) -> None:
        self._init_monitor(monitor, mode, min_delta)
        self.patience, self.restore_best_weights = patience, restore_best_weights
        self.wait, self.best_epoch, self.stopped_epoch = 0, None, None
        self.best_weights = None

    def on_train_begin(self, trainer) -> None:
        self.stopped_epoch = None

    def on_epoch_end(self, trainer, epoch: int, logs: dict) -> None:
        value = _monitored(logs, self.monitor, "EarlyStopping")
        if self._improved(value):
            self.best, self.best_epoch, self.wait = value, epoch, 0
            if self.restore_best_weights:
                self.best_weights = {k: v.clone() for k, v in trainer.model.state_dict().items()}
            return
        self.wait += 1
        if self.wait > self.patience:
            self.stopped_epoch = epoch
            trainer.stop_training = True
            trainer.stop_reason = (
                f"EarlyStopping: '{self.monitor}' did not improve for {self.wait} epochs "
                f"(best {self.best:.6g} at epoch {self.best_epoch})"
            )

    def on_train_end(self, trainer) -> None:
        if self.restore_best_weights and self.best_weights is not None:
            trainer.model.load_state_dict(self.best_weights)

    def state_dict(self) -> dict:
        return {"best": self.best, "wait": self.wait, "best_epoch": self.best_epoch}

    def load_state_dict(self, state: dict) -> None:
        self.best, self.wait, self.best_epoch = state["best"], state["wait"], state["best_epoch"]


class ModelCheckpoint(_Improvement, Callback):
    r"""Save checkpoints during training.

    Args:
        path (str): file path; may contain ``{epoch}`` and epoch-log keys as
            format fields, e.g. ``"ckpt/epoch{epoch:03d}-{val_loss:.3f}.safetensors"``.
        monitor (str): value deciding the best checkpoint. Default: ``"val_loss"``.
        save_best_only (bool): only save when ``monitor`` improved. Default: ``False``.
        mode (str): ``"min"``, ``"max"`` or ``"auto"``.
        save_weights_only (bool): save just ``model.state_dict()`` instead of
            a full trainer checkpoint (model, optimizer, scheduler, counters,
            history; see :meth:`Trainer.save_checkpoint`). Default: ``False``.
        every_n_epochs (int): save every n-th epoch. Default: 1.

    Attributes:
        best_path (str or None): the path of the best checkpoint so far.
        last_path (str or None): the path of the latest checkpoint.

    Examples::

        >>> from dlcore.train import ModelCheckpoint
        >>> ckpt = ModelCheckpoint("best.safetensors", monitor="val_accuracy", save_best_only=True)
    """

    def __init__(self, path: str | os.PathLike, monitor: str = "val_loss", save_best_only: bool = False,
                 mode: str = "auto", save_weights_only: bool = False, every_n_epochs: int = 1) -> None:
        self._init_monitor(monitor, mode, 0.0)
        self.path = os.fspath(path)
        self.save_best_only, self.save_weights_only = save_best_only, save_weights_only
        self.every_n_epochs = every_n_epochs
        self.best_path = self.last_path = None

    def on_epoch_end(self, trainer, epoch: int, logs: dict) -> None:
        if (epoch + 1) % self.every_n_epochs:
            return
        improved = False
        if self.save_best_only or self.monitor in logs:
            value = _monitored(logs, self.monitor, "ModelCheckpoint")
            improved = self._improved(value)
            if improved:
                self.best = value
        if self.save_best_only and not improved:
            return
        try:
            path = self.path.format(epoch=epoch, **logs)
        except (KeyError, ValueError, IndexError) as e:
            raise ValueError(f"ModelCheckpoint: cannot fill path '{self.path}' from {sorted(logs)} ({e})") from None
        parent = os.path.dirname(path)
        if parent:
            os.makedirs(parent, exist_ok=True)
        if self.save_weights_only:
            dlcore.save(trainer.model.state_dict(), path)
        else:
            trainer.save_checkpoint(path)
        self.last_path = path
        if improved:
            self.best_path = path

    def state_dict(self) -> dict:
        return {"best": self.best, "best_path": self.best_path}

    def load_state_dict(self, state: dict) -> None:
        self.best, self.best_path = state["best"], state["best_path"]


class LRScheduler(Callback):
    r"""Step a learning-rate scheduler every epoch or every batch.

    Works with any object that has ``step()`` (``dlcore.optim.lr_scheduler``,
    or your own). With ``monitor`` set, the monitored epoch value is passed as
    ``scheduler.step(value)``, as ``ReduceLROnPlateau`` expects; when
    ``monitor`` is ``None`` and the scheduler's class is named
    ``ReduceLROnPlateau``, ``"val_loss"`` (or ``"loss"`` without validation)
    is used.

    Args:
        scheduler: the scheduler.
        interval (str): ``"epoch"`` or ``"step"``. Default: ``"epoch"``.
        monitor (str, optional): epoch-log key passed to ``step``.

    Examples::

        >>> from dlcore.train import LRScheduler
        >>> class Halve:  # any object with step()
        ...     def __init__(self, opt): self.opt = opt
        ...     def step(self):
        ...         for g in self.opt.param_groups: g["lr"] /= 2
        >>> opt = dlcore.optim.SGD(dlcore.nn.Linear(2, 1).parameters(), lr=1.0)
        >>> cb = LRScheduler(Halve(opt), interval="epoch")
    """

    def __init__(self, scheduler: Any, interval: str = "epoch", monitor: str | None = None) -> None:
        if interval not in ("epoch", "step"):
            raise ValueError(f"LRScheduler: interval must be 'epoch' or 'step', got {interval!r}")
        if not callable(getattr(scheduler, "step", None)):
            raise TypeError(f"LRScheduler: {type(scheduler).__name__} has no step() method")
        self.scheduler, self.interval, self.monitor = scheduler, interval, monitor
        if monitor is None and type(scheduler).__name__ == "ReduceLROnPlateau":
            self.monitor = "auto"

    def on_batch_end(self, trainer, batch_idx: int, logs: dict) -> None:
        if self.interval == "step":
            self.scheduler.step()

    def on_epoch_end(self, trainer, epoch: int, logs: dict) -> None:
        if self.interval != "epoch":
            return
        if self.monitor is None:
            self.scheduler.step()
            return
        monitor = self.monitor
        if monitor == "auto":
            monitor = "val_loss" if "val_loss" in logs else "loss"
        self.scheduler.step(_monitored(logs, monitor, "LRScheduler"))


def _total_grad_norm(grads: list, norm_type: float):
    if norm_type == math.inf:
        return dlcore.stack([g.abs().max() for g in grads]).max()
    return dlcore.stack([g.abs().pow(norm_type).sum() for g in grads]).sum().pow(1.0 / norm_type)


class GradientClipping(Callback):
    r"""Rescale gradients so that their total norm is at most ``max_norm``
    (``torch.nn.utils.clip_grad_norm_``), after backward, before the step.

    Uses ``dlcore.nn.utils.clip_grad_norm_`` when it exists. The norm before
    clipping is recorded each step as ``"grad_norm"`` in ``History.steps``.

    Args:
        max_norm (float): largest allowed total norm.
        norm_type (float): p of the p-norm (``math.inf`` for max-abs). Default: 2.

    Examples::

        >>> from dlcore.train import GradientClipping
        >>> clip = GradientClipping(max_norm=1.0)
    """

    def __init__(self, max_norm: float, norm_type: float = 2.0) -> None:
        if max_norm <= 0:
            raise ValueError(f"GradientClipping: max_norm must be positive, got {max_norm}")
        self.max_norm, self.norm_type = float(max_norm), float(norm_type)

    def on_after_backward(self, trainer) -> None:
        params = [p for p in trainer.model.parameters() if p.grad is not None]
        if not params:
            return
        utils = getattr(getattr(dlcore, "nn", None), "utils", None)
        clip = getattr(utils, "clip_grad_norm_", None)
        if clip is not None:
            norm = clip(params, self.max_norm, norm_type=self.norm_type)
        else:
            with dlcore.no_grad():
                norm = _total_grad_norm([p.grad for p in params], self.norm_type)
                coef = self.max_norm / (norm.item() + 1e-6)
                if coef < 1.0:
                    for p in params:
                        p.grad.mul_(coef)
        trainer.step_logs["grad_norm"] = float(norm.item() if isinstance(norm, dlcore.Tensor) else norm)


class TerminateOnNaN(Callback):
    r"""Stop when the loss (and optionally a gradient) is NaN or infinite.

    The check runs after backward and *before* the optimizer step, so the
    model keeps its last finite weights. The message names the epoch, the
    batch and the global step (and the parameter, for gradients).

    Args:
        check_grads (bool): also check every gradient (one reduction per
            parameter per step). Default: ``False``.
        action (str): ``"raise"`` a ``FloatingPointError`` (default), or
            ``"stop"``: end ``fit`` at once with a warning and
            ``trainer.stop_reason`` set.

    Examples::

        >>> from dlcore.train import TerminateOnNaN
        >>> guard = TerminateOnNaN(check_grads=True)
    """

    def __init__(self, check_grads: bool = False, action: str = "raise") -> None:
        if action not in ("raise", "stop"):
            raise ValueError(f"TerminateOnNaN: action must be 'raise' or 'stop', got {action!r}")
        self.check_grads, self.action = check_grads, action

    def _where(self, trainer) -> str:
        return f"epoch {trainer.epoch}, batch {trainer.batch_idx} (global step {trainer.global_step})"

    def _fail(self, trainer, message: str) -> None:
        if self.action == "raise":
            raise FloatingPointError(message)
        warnings.warn(message, RuntimeWarning, stacklevel=3)
        trainer.stop_training = True
        trainer.stop_reason = message
        trainer.skip_step = True  # keep the last finite weights

    def on_after_backward(self, trainer) -> None:
        loss = trainer.step_logs.get("loss")
        if loss is not None and not math.isfinite(loss):
            self._fail(trainer, f"TerminateOnNaN: loss is {loss} at {self._where(trainer)}")
            return
        if not self.check_grads:
            return
        named = [(n, p.grad) for n, p in trainer.model.named_parameters() if p.grad is not None]
        if not named:
            return
        with dlcore.no_grad():  # g * 0 is 0 for finite g and nan for inf / nan
            bad = dlcore.stack([(g * 0).sum() for _, g in named]).tolist()
        for (name, _), v in zip(named, bad):
            if v != 0:
                self._fail(trainer, f"TerminateOnNaN: gradient of '{name}' is not finite at {self._where(trainer)}")
                return


class ProgressBar(Callback):
    r"""A tqdm bar per epoch with the running loss and, at the end, the epoch
    metrics. ``Trainer(progress_bar=True)`` adds one; pass ``file`` (e.g. a
    ``StringIO``) to redirect it.

    Args:
        file: stream for the bar. Default: ``sys.stderr``.
        leave (bool): keep each epoch's finished bar on screen. Default: ``True``.
    """

    def __init__(self, file: Any = None, leave: bool = True) -> None:
        self.file, self.leave, self.bar = file, leave, None

    def on_epoch_begin(self, trainer, epoch: int) -> None:
        if self.file is None:
            from tqdm.auto import tqdm  # widgets in notebooks
        else:
            from tqdm import tqdm  # the notebook bar ignores file=
        total = trainer.batches_per_epoch
        self.bar = tqdm(total=total, desc=f"epoch {epoch}", file=self.file or sys.stderr,
                        leave=self.leave, dynamic_ncols=True, mininterval=0.2)

    def on_batch_end(self, trainer, batch_idx: int, logs: dict) -> None:
        if self.bar is not None:
            self.bar.update(1)
            self.bar.set_postfix(loss=f"{trainer.running_loss:.4g}", refresh=False)

    def on_epoch_end(self, trainer, epoch: int, logs: dict) -> None:
        if self.bar is not None:
            self.bar.set_postfix({k: f"{v:.4g}" for k, v in logs.items()}, refresh=True)
            self.bar.close()
            self.bar = None

    def on_train_end(self, trainer) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None
