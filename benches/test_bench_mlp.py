"""Training steps (forward, loss, backward, SGD step) on identical weights and data:
XOR 2-8-1 with mse_loss (overhead-bound) and MLP 784-256-10 batch 64 with
cross_entropy + SGD momentum (GEMM-bound)."""

import pytest

from dlcore.bench import _have_torch, build_pair


@pytest.mark.parametrize("case", ["xor_step", "mlp784_step"])
def test_train_step(benchmark, case, lib):
    dl_step, th_step = build_pair(case, with_torch=_have_torch())  # same weights in both
    benchmark.group = case
    benchmark.name = f"{case}[{lib}]"
    benchmark(dl_step if lib == "dlcore" else th_step)
