"""An LSTM on the adding problem (Hochreiter & Schmidhuber, 1997).

Each sequence carries random values and two markers; the target is the sum of
the two marked values. Always answering 1 gives MSE ≈ 0.167; the LSTM must
carry the marked values across the sequence to beat it.

Run: ``python examples/lstm_adding.py`` — exits with status 1 unless the test
MSE ends below 0.02. Shows: nn.LSTM with batch_first, gradient clipping.
"""

import sys

import dlcore
import dlcore.nn as nn
import dlcore.nn.functional as F
from dlcore.data import DataLoader, TensorDataset, adding_problem

TARGET_MSE = 0.02


class Adder(nn.Module):
    def __init__(self, hidden=64):
        super().__init__()
        self.lstm = nn.LSTM(2, hidden, batch_first=True)
        self.head = nn.Linear(hidden, 1)

    def forward(self, x):  # x: (B, T, 2)
        out, _ = self.lstm(x)  # (B, T, H)
        return self.head(out[:, -1])  # (B, 1)


def main(epochs=8, seq_len=30):
    dlcore.manual_seed(0)
    x, y = adding_problem(8000, seq_len=seq_len, seed=0)
    xt, yt = adding_problem(1000, seq_len=seq_len, seed=1)
    net = Adder()
    opt = dlcore.optim.Adam(net.parameters(), lr=3e-3)
    loader = DataLoader(TensorDataset(x, y), batch_size=64, shuffle=True)
    for epoch in range(epochs):
        for xb, yb in loader:
            loss = F.mse_loss(net(xb), yb)
            opt.zero_grad()
            loss.backward()
            nn.utils.clip_grad_norm_(net.parameters(), 1.0)
            opt.step()
        with dlcore.no_grad():
            mse = F.mse_loss(net(xt), yt).item()
        print(f"epoch {epoch + 1}: train loss {loss.item():.4f}  test MSE {mse:.4f}")
    print(f"test MSE {mse:.4f} (baseline 0.167, target < {TARGET_MSE})")
    return 0 if mse < TARGET_MSE else 1


if __name__ == "__main__":
    sys.exit(main())
