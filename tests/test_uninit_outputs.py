"""Kernels that skip zero-filling their outputs (`uninit_vec` in
rust/core/src/tensor/storage.rs) must write every element. With
DLCORE_POISON_UNINIT=1 those buffers start as NaN (floats) / i64::MIN
(indices) instead of whatever memory held, so a missed write turns into a
wrong value; this reruns the torch comparisons of the kernels that use it
in a fresh process with the poison switched on (it is read once, at the
first allocation)."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

HERE = Path(__file__).parent
FILES = ["test_conv.py", "test_pool.py", "test_activations.py", "test_batchnorm.py", "test_gemm.py"]


@pytest.mark.parametrize("name", FILES)
def test_kernels_write_every_output_element(name):
    env = {**os.environ, "DLCORE_POISON_UNINIT": "1"}
    cmd = [sys.executable, "-m", "pytest", "-q", "-x", "-p", "no:cacheprovider", str(HERE / name)]
    r = subprocess.run(cmd, env=env, capture_output=True, text=True, cwd=HERE)
    assert r.returncode == 0, r.stdout[-4000:] + r.stderr[-2000:]
