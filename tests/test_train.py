"""dlcore.train.Trainer, callbacks and History; checkpoints resume bit-identically."""

import io
import math

import numpy as np
import pytest
from helpers import import_torch

import dlcore
import dlcore.nn as nn
from dlcore.data import DataLoader, TensorDataset
from dlcore.train import (
    Callback,
    EarlyStopping,
    GradientClipping,
    History,
    LRScheduler,
    ModelCheckpoint,
    TerminateOnNaN,
    Trainer,
)


def _data(n_per_class=40, seed=0):
    X, y = dlcore.data.spiral(n_per_class=n_per_class, n_classes=3, seed=seed)
    return X, y


def _loader(X, y, bs=30, shuffle=True, seed=0):
    return DataLoader(TensorDataset(X, y), batch_size=bs, shuffle=shuffle, seed=seed if shuffle else None)


def _mlp(seed=0):
    dlcore.manual_seed(seed)
    return nn.Sequential(nn.Linear(2, 32), nn.ReLU(), nn.Linear(32, 3))


def _trainer(model=None, lr=0.3, **kw):
    model = model or _mlp()
    kw.setdefault("progress_bar", False)
    return Trainer(model, dlcore.optim.SGD(model.parameters(), lr=lr, momentum=0.9), nn.CrossEntropyLoss(), **kw)


def _params(model):
    return {k: v.numpy().copy() for k, v in model.state_dict().items()}


class StepLR:
    """A stand-in scheduler (dlcore.optim.lr_scheduler lands separately)."""

    def __init__(self, optimizer, step_size, gamma=0.5):
        self.optimizer, self.step_size, self.gamma, self.last_epoch = optimizer, step_size, gamma, 0

    def step(self):
        self.last_epoch += 1
        if self.last_epoch % self.step_size == 0:
            for g in self.optimizer.param_groups:
                g["lr"] *= self.gamma

    def state_dict(self):
        return {"step_size": self.step_size, "gamma": self.gamma, "last_epoch": self.last_epoch}

    def load_state_dict(self, state):
        self.__dict__.update(state)


# --------------------------------------------------------------------- fit
def test_fit_learns_and_records_history():
    X, y = _data()
    trainer = _trainer(metrics=["accuracy", "f1"])
    h = trainer.fit(_loader(X, y), val_loader=_loader(X, y, shuffle=False), epochs=30)
    assert h is trainer.history and isinstance(h, History)
    assert sorted(h) == ["accuracy", "f1", "loss", "lr", "val_accuracy", "val_f1", "val_loss"]
    assert h.epoch == list(range(30)) and all(len(v) == 30 for v in h.values())
    assert len(h.steps["loss"]) == 30 * 4 and h.steps["step"] == list(range(120))
    assert h["loss"][-1] < 0.5 * h["loss"][0]
    assert h["val_accuracy"][-1] > 0.8
    assert trainer.epoch == 30 and trainer.global_step == 120
    # a second fit continues the numbering
    trainer.fit(_loader(X, y), epochs=2)
    assert h.epoch[-2:] == [30, 31] and math.isnan(h["val_loss"][-1])


def test_epoch_loss_is_sample_weighted_mean_of_batch_losses():
    X, y = _data(n_per_class=10)  # 30 samples, batches 8,8,8,6
    trainer = _trainer(lr=0.0)
    trainer.fit(_loader(X, y, bs=8, shuffle=False), epochs=1)
    steps = trainer.history.steps["loss"]
    assert trainer.history["loss"][0] == pytest.approx((8 * sum(steps[:3]) + 6 * steps[3]) / 30)
    ev = trainer.evaluate(_loader(X, y, bs=7, shuffle=False))
    assert ev["loss"] == pytest.approx(nn.CrossEntropyLoss()(trainer.model(X), y).item(), rel=1e-5)


def test_evaluate_and_predict_restore_mode_and_match_model():
    X, y = _data()
    trainer = _trainer(metrics={"acc": "accuracy"})
    trainer.model.train()
    ev = trainer.evaluate(_loader(X, y, shuffle=False))
    assert set(ev) == {"loss", "acc"} and trainer.model.training
    from dlcore.train import metrics as M

    named = _trainer(metrics=[M.Accuracy(top_k=2), M.F1Score, M.mean_absolute_error, "mse"])
    assert list(named.metric_specs) == ["top2_accuracy", "f1_score", "mean_absolute_error", "mse"]
    want = trainer.model(X).detach().numpy()
    np.testing.assert_allclose(trainer.predict(X, batch_size=7).numpy(), want, rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(trainer.predict(_loader(X, y, shuffle=False)).numpy(), want, rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(trainer.predict([X[:5], (X[5:],)]).numpy(), want, rtol=1e-6, atol=1e-7)
    with pytest.raises(TypeError, match="cannot take inputs"):
        trainer.predict([3])


def test_progress_bar_writes_to_the_given_stream():
    X, y = _data(n_per_class=10)
    out = io.StringIO()
    _trainer(progress_file=out, progress_bar=True, metrics=["accuracy"]).fit(_loader(X, y), epochs=2)
    text = out.getvalue()
    assert "epoch 0" in text and "epoch 1" in text and "loss=" in text and "accuracy=" in text


def test_trainer_accepts_any_optimizer_shaped_object():
    class PlainSGD:
        def __init__(self, params, lr):
            self.params, self.param_groups = list(params), [{"lr": lr}]

        def step(self):
            with dlcore.no_grad():
                for p in self.params:
                    p.sub_(p.grad * self.param_groups[0]["lr"])

        def zero_grad(self):
            for p in self.params:
                p.grad = None

        def state_dict(self):
            return {"lr": self.param_groups[0]["lr"]}

        def load_state_dict(self, s):
            self.param_groups[0]["lr"] = s["lr"]

    X, y = _data()
    model = _mlp()
    h = Trainer(model, PlainSGD(model.parameters(), 0.5), nn.CrossEntropyLoss(), progress_bar=False).fit(
        _loader(X, y), epochs=10)
    assert h["loss"][-1] < h["loss"][0] and h["lr"] == [0.5] * 10


def test_trainer_input_errors():
    model = _mlp()
    with pytest.raises(TypeError, match="has no step"):
        Trainer(model, object(), nn.CrossEntropyLoss())
    with pytest.raises(TypeError, match="loss_fn must be callable"):
        Trainer(model, dlcore.optim.SGD(model.parameters()), 3)
    t = _trainer(model)
    with pytest.raises(TypeError, match=r"expected a batch \(inputs..., target\), got Tensor"):
        t.fit([dlcore.ones(2, 2)])
    with pytest.raises(ValueError, match="epochs must be >= 0"):
        t.fit([], epochs=-1)


def test_forward_batch_can_be_overridden():
    class DictTrainer(Trainer):
        def forward_batch(self, batch):
            return self.model(batch["x"]), batch["y"]

    X, y = _data()
    model = _mlp()
    t = DictTrainer(model, dlcore.optim.SGD(model.parameters(), lr=0.1), nn.CrossEntropyLoss(), progress_bar=False)
    t.fit([{"x": X, "y": y}] * 3, epochs=2)
    assert len(t.history.steps["loss"]) == 6


# --------------------------------------------------------------- callbacks
def test_early_stopping_stops_after_patience():
    X, y = _data()
    stop = EarlyStopping(monitor="val_loss", patience=2)
    t = _trainer(lr=0.0, callbacks=[stop])  # lr 0: val_loss never improves after epoch 0
    h = t.fit(_loader(X, y), val_loader=_loader(X, y), epochs=20)
    assert len(h.epoch) == 4 and stop.stopped_epoch == 3 and stop.best_epoch == 0
    assert t.stop_training and "did not improve for 3 epochs" in t.stop_reason


def test_early_stopping_restores_best_weights_and_min_delta():
    X, y = _data()
    snapshots = {}

    class Snap(Callback):
        def on_epoch_end(self, trainer, epoch, logs):
            snapshots[epoch] = _params(trainer.model)

    # monitoring the training loss in "max" mode: epoch 0 is the best
    stop = EarlyStopping(monitor="loss", mode="max", patience=1, restore_best_weights=True)
    t = _trainer(callbacks=[Snap(), stop])
    t.fit(_loader(X, y), epochs=10)
    assert stop.best_epoch == 0 and len(t.history.epoch) == 3
    for k, v in _params(t.model).items():
        np.testing.assert_array_equal(v, snapshots[0][k])
    huge = EarlyStopping(monitor="loss", min_delta=100.0, patience=0)
    _trainer(callbacks=[huge]).fit(_loader(X, y), epochs=5)
    assert huge.stopped_epoch == 1


def test_monitor_missing_raises_with_available_keys():
    X, y = _data()
    with pytest.raises(KeyError, match=r"'val_loss' is not in the epoch logs \(available: \['loss', 'lr'\]\)"):
        _trainer(callbacks=[EarlyStopping()]).fit(_loader(X, y), epochs=1)
    with pytest.raises(ValueError, match="mode must be"):
        EarlyStopping(mode="up")


def test_model_checkpoint_best_only_and_every_epoch(tmp_path):
    X, y = _data()
    best = ModelCheckpoint(tmp_path / "best.st", monitor="val_accuracy", save_best_only=True, save_weights_only=True)
    every = ModelCheckpoint(str(tmp_path / "ck" / "e{epoch:02d}-{loss:.2f}.st"))
    t = _trainer(metrics=["accuracy"], callbacks=[best, every])
    h = t.fit(_loader(X, y), val_loader=_loader(X, y, shuffle=False), epochs=5)
    files = sorted(p.name for p in (tmp_path / "ck").iterdir())
    assert [f[:3] for f in files] == ["e00", "e01", "e02", "e03", "e04"]
    assert best.best == max(h["val_accuracy"]) and best.best_path == str(tmp_path / "best.st")
    assert list(dlcore.load(best.best_path)) == list(t.model.state_dict())
    full = dlcore.load(every.last_path)
    assert set(full) == {"model", "optimizer", "scheduler", "trainer", "callbacks", "rng"}
    assert full["trainer"]["epoch"] == 5 and full["trainer"]["history"]["epoch"] == [0, 1, 2, 3, 4]
    with pytest.raises(ValueError, match="cannot fill path"):
        _trainer(callbacks=[ModelCheckpoint(tmp_path / "{nope}.st", monitor="loss")]).fit(_loader(X, y))


def test_lr_scheduler_epoch_and_step_intervals():
    X, y = _data()  # 4 batches per epoch
    sched_t = _trainer(lr=0.8)
    sched_t.callbacks.insert(0, LRScheduler(StepLR(sched_t.optimizer, step_size=2)))
    h = sched_t.fit(_loader(X, y), epochs=5)
    assert h["lr"] == pytest.approx([0.8, 0.8, 0.4, 0.4, 0.2])
    t = _trainer(lr=0.8)
    t = Trainer(t.model, t.optimizer, t.loss_fn, scheduler=StepLR(t.optimizer, step_size=4),
                scheduler_interval="step", progress_bar=False)
    h = t.fit(_loader(X, y), epochs=2)
    assert h.steps["lr"] == pytest.approx([0.8] * 4 + [0.4] * 4) and h["lr"] == pytest.approx([0.8, 0.4])
    with pytest.raises(ValueError, match="interval"):
        LRScheduler(StepLR(t.optimizer, 1), interval="batch")
    with pytest.raises(TypeError, match="no step"):
        LRScheduler(object())


def test_plateau_scheduler_receives_the_monitored_value():
    class ReduceLROnPlateau:
        def __init__(self):
            self.seen = []

        def step(self, metrics):
            self.seen.append(metrics)

    X, y = _data()
    s1, s2 = ReduceLROnPlateau(), ReduceLROnPlateau()
    h = _trainer(scheduler=s1).fit(_loader(X, y), val_loader=_loader(X, y), epochs=3)
    assert s1.seen == h["val_loss"]
    h2 = _trainer(callbacks=[LRScheduler(s2, monitor="loss")]).fit(_loader(X, y), epochs=2)
    assert s2.seen == h2["loss"]


def _grad_model():
    model = _mlp()
    X, y = _data()
    nn.CrossEntropyLoss()(model(X) * 50, y).backward()
    return model


class _FakeTrainer:
    def __init__(self, model):
        self.model, self.step_logs = model, {}


@pytest.mark.parametrize("norm_type", [2.0, 1.0, math.inf])
@pytest.mark.parametrize("max_norm", [0.1, 1e6])
def test_gradient_clipping_matches_torch(norm_type, max_norm):
    torch = import_torch()
    model = _grad_model()
    tgrads = [torch.tensor(p.grad.numpy().copy()) for p in model.parameters()]
    tparams = [torch.zeros(g.shape, requires_grad=True) for g in tgrads]
    for tp, g in zip(tparams, tgrads):
        tp.grad = g
    want_norm = torch.nn.utils.clip_grad_norm_(tparams, max_norm, norm_type=norm_type).item()
    fake = _FakeTrainer(model)
    GradientClipping(max_norm, norm_type=norm_type).on_after_backward(fake)
    assert fake.step_logs["grad_norm"] == pytest.approx(want_norm, rel=1e-5)
    for p, tp in zip(model.parameters(), tparams):
        np.testing.assert_allclose(p.grad.numpy(), tp.grad.numpy(), rtol=1e-5, atol=1e-8)


def test_gradient_clipping_in_training_logs_grad_norm():
    X, y = _data()
    h = _trainer(callbacks=[GradientClipping(0.5)]).fit(_loader(X, y), epochs=2)
    assert len(h.steps["grad_norm"]) == 8 and all(v > 0 for v in h.steps["grad_norm"])
    with pytest.raises(ValueError, match="max_norm must be positive"):
        GradientClipping(0)


def _nan_at(step):
    calls = {"n": 0}
    ce = nn.CrossEntropyLoss()

    def loss_fn(out, target):
        calls["n"] += 1
        loss = ce(out, target)
        return loss * float("nan") if calls["n"] == step + 1 else loss

    return loss_fn


def test_terminate_on_nan_raises_naming_the_step_and_keeps_weights():
    X, y = _data()
    model = _mlp()
    snaps = []

    class Snap(Callback):
        def on_batch_end(self, trainer, batch_idx, logs):
            snaps.append(_params(trainer.model))

    t = Trainer(model, dlcore.optim.SGD(model.parameters(), lr=0.1), _nan_at(5),
                callbacks=[Snap(), TerminateOnNaN()], progress_bar=False)
    with pytest.raises(FloatingPointError, match=r"loss is nan at epoch 1, batch 1 \(global step 5\)"):
        t.fit(_loader(X, y), epochs=3)
    for k, v in _params(model).items():
        np.testing.assert_array_equal(v, snaps[-1][k])


def test_terminate_on_nan_stop_action_warns_and_ends_fit():
    X, y = _data()
    model = _mlp()
    t = Trainer(model, dlcore.optim.SGD(model.parameters(), lr=0.1), _nan_at(2),
                callbacks=[TerminateOnNaN(action="stop")], progress_bar=False)
    with pytest.warns(RuntimeWarning, match="global step 2"):
        h = t.fit(_loader(X, y), epochs=3)
    assert len(h.steps["loss"]) == 2 and h.epoch == [] and "global step 2" in t.stop_reason
    with pytest.raises(ValueError, match="action"):
        TerminateOnNaN(action="ignore")


def test_terminate_on_nan_checks_gradients():
    class SqrtAtZero(nn.Module):
        def __init__(self):
            super().__init__()
            self.lin = nn.Linear(2, 3)

        def forward(self, x):  # finite output, but d sqrt(u)/du at u = 0 is inf
            return self.lin(x) + (self.lin.weight.abs().sum() * 0).sqrt()

    X, y = _data()
    model = SqrtAtZero()
    t = Trainer(model, dlcore.optim.SGD(model.parameters(), lr=0.1), nn.CrossEntropyLoss(),
                callbacks=[TerminateOnNaN(check_grads=True)], progress_bar=False)
    with pytest.raises(FloatingPointError, match=r"gradient of 'lin.weight' is not finite at epoch 0, batch 0"):
        t.fit(_loader(X, y), epochs=1)


# ------------------------------------------------------------ checkpoints
class Noisy(nn.Module):
    """Uses dlcore's global RNG every forward (as dropout would)."""

    def __init__(self):
        super().__init__()
        self.net = _mlp()

    def forward(self, x):
        return self.net(x + 0.01 * dlcore.randn(*x.shape)) if self.training else self.net(x)


def _resumable(seed_model=0):
    model = Noisy()
    opt = dlcore.optim.SGD(model.parameters(), lr=0.2, momentum=0.9, nesterov=True, weight_decay=1e-3)
    return Trainer(model, opt, nn.CrossEntropyLoss(), metrics=["accuracy"], scheduler=StepLR(opt, 1, 0.7),
                   callbacks=[EarlyStopping("loss", patience=50)], progress_bar=False)


def test_checkpoint_resume_is_bit_identical(tmp_path):
    X, y = _data()
    dlcore.manual_seed(123)
    a = _resumable()
    loader_a = _loader(X, y, bs=16, seed=7)  # last batch is partial: 120 = 7*16 + 8
    a.fit(loader_a, epochs=2)
    a.save_checkpoint(tmp_path / "ck.st")
    a.fit(loader_a, epochs=3)

    dlcore.manual_seed(999)  # different global RNG, fresh model/optimizer/loader
    b = _resumable()
    loader_b = _loader(X, y, bs=16, seed=7)
    b.load_checkpoint(tmp_path / "ck.st")
    assert b.epoch == 2 and b.global_step == 16
    b.fit(loader_b, epochs=3)

    for k, v in _params(a.model).items():
        np.testing.assert_array_equal(_params(b.model)[k], v, err_msg=k)
    for pa, pb in zip(a.model.parameters(), b.model.parameters()):
        np.testing.assert_array_equal(a.optimizer.state[pa]["momentum_buffer"].numpy(),
                                      b.optimizer.state[pb]["momentum_buffer"].numpy())
    assert a.history.to_dict() == b.history.to_dict()
    assert a.optimizer.param_groups[0]["lr"] == b.optimizer.param_groups[0]["lr"]
    assert a.scheduler.last_epoch == b.scheduler.last_epoch == 5
    assert a.callbacks[1].state_dict() == b.callbacks[1].state_dict()


def test_model_checkpoint_file_resumes_bit_identically(tmp_path):
    X, y = _data()
    dlcore.manual_seed(5)
    a = _resumable()
    a.callbacks.append(ModelCheckpoint(tmp_path / "e{epoch}.st"))
    a.fit(_loader(X, y, seed=3), epochs=4)
    dlcore.manual_seed(6)
    b = _resumable()
    b.load_checkpoint(tmp_path / "e1.st")  # after epoch 1 (2 epochs done)
    b.fit(_loader(X, y, seed=3), epochs=2)
    for k, v in _params(a.model).items():
        np.testing.assert_array_equal(_params(b.model)[k], v, err_msg=k)


def test_load_state_dict_errors(tmp_path):
    X, y = _data()
    a = _resumable()
    a.fit(_loader(X, y), epochs=1)
    a.save_checkpoint(tmp_path / "ck.st")
    with pytest.raises(ValueError, match="has no scheduler"):
        _trainer(Noisy()).load_checkpoint(tmp_path / "ck.st")
    with pytest.raises(KeyError, match="no 'optimizer' entry"):
        _trainer().load_state_dict({"model": {}, "trainer": {}})


# ---------------------------------------------------------------- history
def test_history_api():
    h = History()
    h.log_epoch(0, loss=2.0)
    h.log_epoch(1, loss=1.0, val_loss=3.0)
    h.log_epoch(2, loss=1.5, val_loss=0.5)
    assert math.isnan(h["val_loss"][0]) and h["val_loss"][1:] == [3.0, 0.5]
    assert h.best("loss") == (1, 1.0) and h.best("val_loss") == (2, 0.5) and h.best("loss", "max") == (0, 2.0)
    h.log_step(0, loss=1.0)
    h.log_step(1, loss=0.5, grad_norm=2.0)
    assert math.isnan(h.steps["grad_norm"][0]) and h.steps["step"] == [0, 1]
    h2 = History()
    h2.load_state_dict(h.to_dict())
    assert h2.to_dict()["history"]["loss"] == h.to_dict()["history"]["loss"] and h2.steps["step"] == [0, 1]
    assert "epochs=3" in repr(h) and len(h) == 2
    with pytest.raises(KeyError, match="no series 'acc'; available"):
        h["acc"]
