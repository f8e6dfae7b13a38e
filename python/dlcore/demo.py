"""``python -m dlcore demo``: train an MLP on the spiral dataset and write a
small illustrated report about it.

A smoke test of the whole stack a user touches first: tensors, autograd,
``nn``, ``optim``, ``data``, ``train`` and ``viz``. It fails loudly (exit
code 1) when the model does not fit, so it doubles as an install check. The
report folder (``--out``, default ``dlcore-demo/``) holds ``index.html`` and
the PNGs it shows: training history, decision boundary, hidden-layer
manifold at several epochs, and the loss landscape around the trained model.
"""

from __future__ import annotations

import argparse
import html
import os
import sys
import time

import numpy as np

import dlcore
import dlcore.nn as nn
import dlcore.optim
from dlcore.data import DataLoader, TensorDataset, spiral
from dlcore.train import Callback, Trainer

__all__ = ["add_arguments", "run", "build_model", "snapshot_epochs", "write_report"]

#: Final training accuracy the demo must reach; the chosen defaults reach ~99%.
TARGET_ACCURACY = 0.97
DEFAULT_EPOCHS = 300


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--epochs",
        type=int,
        default=DEFAULT_EPOCHS,
        help=f"training epochs (default {DEFAULT_EPOCHS})",
    )
    parser.add_argument(
        "--out",
        default="dlcore-demo",
        help="folder for the report: index.html and PNG plots (default dlcore-demo/)",
    )
    parser.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    parser.add_argument(
        "--no-progress", action="store_true", help="hide the progress bar"
    )


def build_model() -> nn.Module:
    return nn.Sequential(
        nn.Linear(2, 64),
        nn.ReLU(),
        nn.Linear(64, 64),
        nn.ReLU(),
        nn.Linear(64, 3),
    )


def snapshot_epochs(epochs: int) -> list[int]:
    """Epochs at which the manifold is recorded: the start, two early points
    and the end (e.g. 0, 10, 50, 300)."""
    return sorted({0, max(1, epochs // 30), max(1, epochs // 6), epochs})


class _EpochBar(Callback):
    """One tqdm bar over epochs with the latest loss (the Trainer's own bar is per epoch)."""

    def __init__(self, epochs: int, enabled: bool) -> None:
        self.epochs, self.enabled, self.bar = epochs, enabled, None

    def on_train_begin(self, trainer) -> None:
        from tqdm import tqdm

        self.bar = tqdm(total=self.epochs, desc="training", unit="epoch", disable=not self.enabled)

    def on_epoch_end(self, trainer, epoch: int, logs: dict) -> None:
        self.bar.update(1)
        self.bar.set_postfix(loss=f"{logs['loss']:.4f}", refresh=False)

    def on_train_end(self, trainer) -> None:
        if self.bar is not None:
            self.bar.close()


def accuracy(model, X, y) -> float:
    with dlcore.no_grad():
        pred = model(X).argmax(1).numpy()
    return float(np.mean(pred == y.numpy()))


_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>dlcore demo: spiral MLP</title>
<style>
body {{ font-family: system-ui, sans-serif; max-width: 1100px; margin: 2em auto; padding: 0 1em;
       color: #222; line-height: 1.45; }}
figure {{ margin: 2em 0; }} img {{ max-width: 100%; border: 1px solid #eee; }}
figcaption {{ color: #555; font-size: 0.95em; }} pre {{ background: #f6f6f6; padding: 0.8em; }}
td, th {{ padding: 0.2em 1em 0.2em 0; text-align: left; }}
</style></head><body>
<h1>dlcore demo: an MLP untangles a spiral</h1>
<table>{summary}</table>
<pre>{model}</pre>
{figures}
</body></html>
"""


def write_report(out: str, model, X, y, history, recorder, init_state, summary: dict) -> list[str]:
    """Write the PNGs and ``index.html`` into ``out``; return the file paths."""
    from dlcore import viz  # matplotlib's import cost should not delay training

    os.makedirs(out, exist_ok=True)
    loss_fn = nn.CrossEntropyLoss()
    figures = [
        ("history.png", "Training history",
         "Loss and accuracy per epoch on the training set and on a second spiral drawn with "
         "another seed (validation). Smoothed curves over the faded raw values; dots mark the best epoch.",
         lambda p: viz.plot_history(history, p, metrics=["loss", "accuracy"], smoothing=0.6)),
        ("decision_boundary.png", "Decision boundary",
         "The class the trained network predicts at every point of the plane, with the training data.",
         lambda p: viz.plot_decision_boundary(model, X, y, p, title="Spiral MLP")),
        ("manifold.png", "Hidden representation during training",
         "What the last Linear layer sees (the 64 hidden units, projected on their two principal "
         "components) at several epochs: training pulls the three arms apart until a linear "
         "classifier can separate them.",
         lambda p: viz.plot_manifold(model, None, (X, y), recorder=recorder, path=p)),
        ("loss_landscape.png", "Loss landscape",
         "Left: the loss along the straight line from the initial to the trained weights "
         "(Goodfellow et al., 2015). Middle and right: the loss on a 31x31 grid around the "
         "trained weights along two random filter-normalised directions (Li et al., 2018).",
         lambda p: viz.plot_loss_landscape(model, loss_fn, (X, y), p, start=init_state)),
    ]
    paths, blocks = [], []
    for name, heading, caption, draw in figures:
        path = os.path.join(out, name)
        draw(path)
        paths.append(path)
        blocks.append(f'<figure><h2>{html.escape(heading)}</h2><img src="{name}" alt="{html.escape(heading)}">'
                      f"<figcaption>{html.escape(caption)}</figcaption></figure>")
    rows = "".join(f"<tr><th>{html.escape(k)}</th><td>{html.escape(str(v))}</td></tr>" for k, v in summary.items())
    index = os.path.join(out, "index.html")
    with open(index, "w", encoding="utf-8") as f:
        f.write(_PAGE.format(summary=rows, model=html.escape(str(model)), figures="\n".join(blocks)))
    return paths + [index]


def run(
    epochs: int = DEFAULT_EPOCHS,
    out: str = "dlcore-demo",
    seed: int = 0,
    progress: bool = True,
) -> int:
    """Run the demo; return the process exit code (0 on success)."""
    if epochs < 1:
        print(f"error: --epochs must be >= 1, got {epochs}", file=sys.stderr)
        return 2
    from dlcore.viz import ManifoldRecorder

    dlcore.manual_seed(seed)
    # X: (300, 2) float32, y: (300,) int64; the validation spiral is a fresh draw
    X, y = spiral(n_per_class=100, n_classes=3, noise=0.2, seed=seed)
    X_val, y_val = spiral(n_per_class=100, n_classes=3, noise=0.2, seed=seed + 1)
    loader = DataLoader(TensorDataset(X, y), batch_size=32, shuffle=True, seed=seed)
    model = build_model()
    init_state = {k: v.clone() for k, v in model.state_dict().items()}
    print(f"dlcore demo: {model}")
    print(f"spiral dataset: {X.shape[0]} points, 3 classes; training {epochs} epochs")

    recorder = ManifoldRecorder(X, y, epochs=snapshot_epochs(epochs))
    trainer = Trainer(
        model, dlcore.optim.SGD(model.parameters(), lr=0.02, momentum=0.9), nn.CrossEntropyLoss(),
        metrics=["accuracy"], callbacks=[recorder, _EpochBar(epochs, progress)], progress_bar=False,
    )
    start = time.perf_counter()
    history = trainer.fit(loader, val_loader=[(X_val, y_val)], epochs=epochs)
    elapsed = time.perf_counter() - start
    acc, val_acc = accuracy(model, X, y), accuracy(model, X_val, y_val)
    print(f"validation accuracy {val_acc:.1%} (a second spiral, seed {seed + 1})")
    print(
        f"trained in {elapsed:.1f}s; final loss {history['loss'][-1]:.4f}, "
        f"train accuracy {acc:.1%}"
    )

    start = time.perf_counter()
    summary = {
        "data": f"spiral, 3 classes, {X.shape[0]} training points (seed {seed})",
        "training": f"{epochs} epochs of SGD (lr 0.02, momentum 0.9), batch 32, {elapsed:.1f} s",
        "train accuracy": f"{acc:.1%}",
        "validation accuracy": f"{val_acc:.1%}",
        "dlcore": getattr(dlcore, "__version__", "?"),
    }
    paths = write_report(out, model, X, y, history, recorder, init_state, summary)
    print(f"wrote a report to {os.path.join(out, 'index.html')} ({len(paths) - 1} plots, "
          f"{time.perf_counter() - start:.1f}s)")

    if acc < TARGET_ACCURACY:
        hint = (
            f"{epochs} epochs may be too few (the default is {DEFAULT_EPOCHS})"
            if epochs < DEFAULT_EPOCHS
            else "the installation may be broken"
        )
        print(
            f"error: train accuracy {acc:.1%} is below the expected "
            f"{TARGET_ACCURACY:.0%}; {hint}",
            file=sys.stderr,
        )
        return 1
    return 0
