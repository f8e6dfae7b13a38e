"""Every SIMD path (DLCORE_SIMD=scalar|avx2|avx512) computes the same results:
each path runs in a subprocess (the choice is made once per process) on fixed
data with ragged sizes that exercise vector tails, and is compared with torch."""

import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest
from helpers import import_torch

SCRIPT = textwrap.dedent(
    """
    import sys
    import numpy as np
    import dlcore
    import dlcore.nn.functional as F

    rng = np.random.default_rng(0)
    a = dlcore.tensor(rng.uniform(-3, 3, (37, 41)).astype(np.float32), requires_grad=True)
    b = dlcore.tensor(rng.uniform(-3, 3, (41, 29)).astype(np.float32))
    c = dlcore.tensor(rng.uniform(0.5, 3, (37, 41)).astype(np.float32))
    out = {
        "add": a + c, "mul": a * c, "div": a / c, "max": dlcore.maximum(a, c),
        "exp": a.exp(), "log": c.log(), "tanh": a.tanh(), "sigmoid": a.sigmoid(), "relu": a.relu(),
        "sum": a.sum(1), "sum0": a.sum(0), "amax": a.amax(1),
        "softmax": a.softmax(1), "log_softmax": F.log_softmax(a, 1),
        "matmul": a @ b, "matmul_t": a.t() @ a,
    }
    loss = sum(v.sum() * (i + 1) for i, v in enumerate(out.values()) if v.requires_grad)
    loss.backward()
    out["grad"] = a.grad
    np.savez(sys.argv[1], **{k: v.detach().numpy() for k, v in out.items()})
    """
)


def _reference():
    torch = import_torch()
    rng = np.random.default_rng(0)
    a = torch.tensor(rng.uniform(-3, 3, (37, 41)).astype(np.float32), requires_grad=True)
    b = torch.tensor(rng.uniform(-3, 3, (41, 29)).astype(np.float32))
    c = torch.tensor(rng.uniform(0.5, 3, (37, 41)).astype(np.float32))
    out = {
        "add": a + c, "mul": a * c, "div": a / c, "max": torch.maximum(a, c),
        "exp": a.exp(), "log": c.log(), "tanh": a.tanh(), "sigmoid": a.sigmoid(), "relu": a.relu(),
        "sum": a.sum(1), "sum0": a.sum(0), "amax": a.amax(1),
        "softmax": a.softmax(1), "log_softmax": torch.log_softmax(a, 1),
        "matmul": a @ b, "matmul_t": a.t() @ a,
    }  # fmt: skip
    loss = sum(v.sum() * (i + 1) for i, v in enumerate(out.values()) if v.requires_grad)
    loss.backward()
    out["grad"] = a.grad
    return {k: v.detach().numpy() for k, v in out.items()}


def _cpu_flags():
    try:
        with open("/proc/cpuinfo") as f:
            return set(f.read().split())
    except OSError:
        return set()


@pytest.mark.parametrize("mode", ["scalar", "avx2", "avx512"])
def test_simd_path_matches_torch(mode, tmp_path):
    flags = _cpu_flags()
    if mode == "avx2" and not {"avx2", "fma"} <= flags:
        pytest.skip("CPU lacks AVX2/FMA")
    if mode == "avx512" and "avx512f" not in flags:
        pytest.skip("CPU lacks AVX-512")
    ref = _reference()
    path = tmp_path / f"{mode}.npz"
    script = tmp_path / "simd_probe.py"
    script.write_text(SCRIPT)
    env = dict(os.environ, DLCORE_SIMD=mode)
    proc = subprocess.run([sys.executable, str(script), str(path)], env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    got = np.load(path)
    for k, want in ref.items():
        tol = 1e-4 if k.startswith("matmul") or k == "grad" else 1e-5
        np.testing.assert_allclose(got[k], want, rtol=tol, atol=tol, err_msg=f"{k} with DLCORE_SIMD={mode}")
