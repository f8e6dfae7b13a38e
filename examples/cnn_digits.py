"""A LeNet-style CNN on the bundled ColoredDigits data (3×28×28, no download).

Run: ``python examples/cnn_digits.py`` — trains for a few epochs with a
progress bar and exits with status 1 unless test accuracy reaches 85% (it gets ~91%).
Shows: nn.Conv2d / MaxPool2d / BatchNorm2d, DataLoader, Trainer-free loop.
"""

import sys

import dlcore
import dlcore.nn as nn
import dlcore.nn.functional as F
from dlcore.data import DataLoader, TensorDataset, colored_digits

TARGET = 0.85


def model():
    return nn.Sequential(
        nn.Conv2d(3, 16, 3, padding=1), nn.BatchNorm2d(16), nn.ReLU(), nn.MaxPool2d(2),  # (B, 16, 14, 14)
        nn.Conv2d(16, 32, 3, padding=1), nn.BatchNorm2d(32), nn.ReLU(), nn.MaxPool2d(2),  # (B, 32, 7, 7)
        nn.Flatten(), nn.Linear(32 * 7 * 7, 64), nn.ReLU(), nn.Linear(64, 10),
    )


def accuracy(net, x, y):
    net.eval()
    with dlcore.no_grad():
        acc = (net(x).argmax(1) == y).float().mean().item()
    net.train()
    return acc


def main(epochs=3):
    dlcore.manual_seed(0)
    x, y = colored_digits(15000, seed=0, size=28)
    xt, yt = colored_digits(1000, seed=1, size=28)
    net = model()
    opt = dlcore.optim.Adam(net.parameters(), lr=2e-3)
    loader = DataLoader(TensorDataset(x, y), batch_size=64, shuffle=True)
    for epoch in range(epochs):
        for xb, yb in loader:
            loss = F.cross_entropy(net(xb), yb)
            opt.zero_grad()
            loss.backward()
            opt.step()
        print(f"epoch {epoch + 1}: loss {loss.item():.3f}  test accuracy {accuracy(net, xt, yt):.3f}")
    acc = accuracy(net, xt, yt)
    print(f"test accuracy {acc:.3f} (target {TARGET})")
    return 0 if acc >= TARGET else 1


if __name__ == "__main__":
    sys.exit(main())
