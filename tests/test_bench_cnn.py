"""The `cnn` bench group: every case runs, and dlcore and torch do the same work."""

import numpy as np
import pytest

from dlcore.bench import CASES, GROUPS, build_pair
from dlcore.bench.cnn import CNN_CASES


def test_cnn_group_is_registered():
    assert set(CNN_CASES) <= set(CASES) and GROUPS["cnn"] == list(CNN_CASES)
    assert all(c in GROUPS["all"] for c in CNN_CASES)


@pytest.mark.parametrize("case", list(CNN_CASES))
def test_cnn_pairs_compute_the_same(case):
    pytest.importorskip("torch")
    dl_step, th_step = build_pair(case)
    a, b = dl_step(), th_step()
    np.testing.assert_allclose(a.detach().numpy(), b.detach().numpy(), rtol=1e-4, atol=1e-5)


_FAKE_STEPS = """
import json, numpy as np
import dlcore.bench as bench
from dlcore.bench import cnn

def fake_build(size_mib):
    def build(name, lib):
        def step():
            # size_mib MiB, touched (np.ones writes every page)
            return np.ones(size_mib << 18, dtype=np.float32).sum() if size_mib else 0
        return step, None
    return build

out = []
for size in (64, 0):
    bench.build_case = fake_build(size)
    out.append(cnn.measure_step_memory("fake", "dlcore", steps=2, threads=1))
print(json.dumps(out))
"""


def test_step_memory_measures_what_a_step_allocates():
    """The measurement sees a step that holds 64 MiB and not a step that holds
    nothing (in a fresh process: memory an earlier test freed could be reused
    without raising the RSS)."""
    import json
    import subprocess
    import sys

    res = subprocess.run([sys.executable, "-c", _FAKE_STEPS], capture_output=True, text=True, check=True)
    hi, lo = json.loads(res.stdout.strip().splitlines()[-1])
    if not hi["exact"]:
        pytest.skip("no /proc/self/clear_refs: peak RSS cannot be reset here")
    assert 60 * 1024 <= hi["peak_kib"] <= 80 * 1024, hi
    assert lo["peak_kib"] < 8 * 1024, lo


def test_step_memory_runs_each_library_in_a_fresh_process():
    pytest.importorskip("torch")
    from dlcore.bench.cnn import format_memory, step_memory

    rows = step_memory("lenet_step", threads=1, steps=1)
    assert [r["lib"] for r in rows] == ["dlcore", "torch"]
    assert all(r["peak_kib"] > 0 and r["base_kib"] > 0 for r in rows)
    text = format_memory(rows)
    assert "lenet_step" in text and "MiB" in text
