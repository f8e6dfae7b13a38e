"""Per-op overhead: `a + b` on 16 float32 elements, where the kernel is
negligible and the cost is Python dispatch + (with requires_grad) recording the
autograd node."""

import pytest

from dlcore.bench import _have_torch, build_pair


@pytest.mark.parametrize("case", ["add16_grad", "add16_nograd"])
def test_overhead(benchmark, case, lib):
    dl_step, th_step = build_pair(case, with_torch=_have_torch())  # same weights in both
    benchmark.group = case
    benchmark.name = f"{case}[{lib}]"
    benchmark(dl_step if lib == "dlcore" else th_step)
