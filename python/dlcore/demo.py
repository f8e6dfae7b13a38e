"""``python -m dlcore demo``: train an MLP on the spiral dataset and plot the result.

A smoke test of the whole stack a user touches first: tensors, autograd,
``nn``, ``optim``, ``data`` and ``viz``. It fails loudly (exit code 1) when the
model does not fit, so it doubles as an install check.
"""

from __future__ import annotations

import argparse
import os
import sys
import time

import numpy as np
from tqdm import tqdm

import dlcore
import dlcore.nn as nn
import dlcore.optim
import dlcore.nn.functional as F
from dlcore.data import DataLoader, TensorDataset, spiral

__all__ = ["add_arguments", "run"]

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
        help="folder for the plots (default dlcore-demo/)",
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


def train(model, loader, epochs: int, progress: bool = True) -> list[float]:
    """Train with SGD + momentum; return the mean training loss of every epoch."""
    opt = dlcore.optim.SGD(model.parameters(), lr=0.02, momentum=0.9)
    history = []
    bar = tqdm(range(epochs), desc="training", unit="epoch", disable=not progress)
    for _ in bar:
        total, count = 0.0, 0
        for xb, yb in loader:
            loss = F.cross_entropy(model(xb), yb)
            opt.zero_grad()
            loss.backward()
            opt.step()
            n = yb.shape[0]
            total += loss.item() * n
            count += n
        history.append(total / count)
        bar.set_postfix(loss=f"{history[-1]:.4f}", refresh=False)
    return history


def accuracy(model, X, y) -> float:
    with dlcore.no_grad():
        pred = model(X).argmax(1).numpy()
    return float(np.mean(pred == y.numpy()))


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
    dlcore.manual_seed(seed)
    # X: (300, 2) float32, y: (300,) int64
    X, y = spiral(n_per_class=100, n_classes=3, noise=0.2, seed=seed)
    loader = DataLoader(TensorDataset(X, y), batch_size=32, shuffle=True, seed=seed)
    model = build_model()
    print(f"dlcore demo: {model}")
    print(f"spiral dataset: {X.shape[0]} points, 3 classes; training {epochs} epochs")

    start = time.perf_counter()
    history = train(model, loader, epochs, progress)
    elapsed = time.perf_counter() - start
    acc = accuracy(model, X, y)
    print(
        f"trained in {elapsed:.1f}s; final loss {history[-1]:.4f}, "
        f"train accuracy {acc:.1%}"
    )

    # Imported late: matplotlib's import cost should not delay the first epoch.
    from dlcore.viz import plot_decision_boundary, plot_loss_curve

    os.makedirs(out, exist_ok=True)
    curve = os.path.join(out, "loss_curve.png")
    boundary = os.path.join(out, "decision_boundary.png")
    plot_loss_curve(history, curve, title="Spiral MLP: training loss")
    plot_decision_boundary(model, X, y, boundary, title="Spiral MLP")
    print(f"wrote {curve} and {boundary}")

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
