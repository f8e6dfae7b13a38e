"""CNN and sequence-model cases of `python -m dlcore.bench` (groups `cnn` and
`seq`): convolutions, pooling, batch norm, activations, the LeNet step, LSTM
layers and attention, forward + backward on identical data and weights.

Run one family: pytest benches -k lstm
"""

import pytest

from dlcore.bench import GROUPS, _have_torch, build_pair


@pytest.mark.parametrize("case", GROUPS["cnn"] + GROUPS["seq"])
def test_layer_case(benchmark, case, lib):
    dl_step, th_step = build_pair(case, with_torch=_have_torch())  # same weights in both
    benchmark.group = case
    benchmark.name = f"{case}[{lib}]"
    benchmark(dl_step if lib == "dlcore" else th_step)
