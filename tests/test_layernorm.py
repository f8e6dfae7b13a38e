"""F.layer_norm / nn.LayerNorm vs torch (forward and every gradient), the
fused Rust kernel vs its scalar reference (cargo test), and the error paths."""

import numpy as np
import pytest
from helpers import check_op, import_torch

import dlcore
import dlcore.nn as nn
import dlcore.nn.functional as F

CASES = [
    ((4, 7), (7,)),
    ((2, 3, 5), (3, 5)),
    ((1, 1), (1,)),
    ((3, 1, 17), (17,)),
    ((64, 130), (130,)),  # large enough for the parallel path
    ((2, 0, 4), (4,)),  # empty
]


@pytest.mark.parametrize("xs,ns", CASES, ids=[str(i) for i in range(len(CASES))])
@pytest.mark.parametrize("affine", ["both", "weight", "none"])
def test_layer_norm(xs, ns, affine):
    args = [xs] + ([ns] if affine != "none" else []) + ([ns] if affine == "both" else [])
    check_op(lambda m, x, *wb: m.nn.functional.layer_norm(x, ns, *wb), args, rtol=1e-4, atol=1e-4)


def test_layer_norm_float64_non_contiguous_and_offset():
    check_op(lambda m, x, w, b: m.nn.functional.layer_norm(x, (6,), w, b), [(3, 6), (6,), (6,)], dtype="float64")
    check_op(lambda m, x, w, b: m.nn.functional.layer_norm(x, (5,), w, b, eps=1e-3),
             [(4, 5), (5,), (5,)], non_contiguous=True, rtol=1e-4, atol=1e-4)
    # a large offset must not cancel the variance (shifted sums)
    check_op(lambda m, x: m.nn.functional.layer_norm(x + 1000.0, (8,)), [(4, 8)], dtype="float64")


def test_layer_norm_module_matches_torch_state_dict():
    torch = import_torch()
    tm = torch.nn.LayerNorm((3, 4), eps=1e-6)
    with torch.no_grad():
        tm.weight.normal_()
        tm.bias.normal_()
    m = nn.LayerNorm((3, 4), eps=1e-6)
    assert set(m.state_dict()) == {"weight", "bias"}
    m.load_state_dict({k: dlcore.tensor(v.numpy()) for k, v in tm.state_dict().items()})
    x = np.random.default_rng(0).standard_normal((2, 3, 4)).astype("float32")
    np.testing.assert_allclose(m(dlcore.tensor(x)).detach().numpy(), tm(torch.tensor(x)).detach().numpy(), rtol=1e-5, atol=1e-5)
    assert nn.LayerNorm(5, elementwise_affine=False).weight is None
    assert nn.LayerNorm(5, bias=False).bias is None
    assert list(nn.LayerNorm(5, bias=False).state_dict()) == ["weight"]


def test_layer_norm_errors():
    with pytest.raises(RuntimeError, match=r"layer_norm: given normalized_shape=\[4\].*\[2, 3\]"):
        F.layer_norm(dlcore.randn(2, 3), (4,))
    with pytest.raises(RuntimeError, match=r"layer_norm: weight of shape \[2\] does not match"):
        F.layer_norm(dlcore.randn(2, 3), (3,), dlcore.ones(2))
    with pytest.raises(RuntimeError, match="layer_norm: expected a floating point input"):
        F.layer_norm(dlcore.tensor([[1, 2]]), (2,))


@pytest.mark.parametrize("threads", [1, 2])
@pytest.mark.parametrize("xs", [(16, 128, 256), (4100, 37)], ids=str)
def test_layer_norm_parallel_blocks(xs, threads):
    # the transformer shape, and more rows than the backward's 64 dγ/dβ blocks
    # with a row length that is not a multiple of the 32 accumulator lanes
    old = dlcore.get_num_threads()
    dlcore.set_num_threads(threads)
    try:
        ns = xs[-1:]
        check_op(lambda m, x, w, b: m.nn.functional.layer_norm(x, ns, w, b), [xs, ns, ns], rtol=1e-4, atol=1e-4)
    finally:
        dlcore.set_num_threads(old)


def test_layer_norm_rows_far_from_zero():
    # mean 1000, std ~1: f32 accumulation must still get the variance right
    # (the kernel's second pass sums (x - mean)^2, which cannot cancel)
    x = np.random.default_rng(1).standard_normal((64, 300)).astype(np.float32) + 1000.0
    check_op(lambda m, x: m.nn.functional.layer_norm(x, (300,)), [x], rtol=2e-3, atol=2e-3)


SIMD_SCRIPT = """
import sys
import numpy as np
import torch
import dlcore
dlcore.set_num_threads(int(sys.argv[1]))
rng = np.random.default_rng(0)
for rows, n in [(3, 7), (40, 45), (300, 256), (2000, 33)]:
    a, g = (rng.standard_normal((rows, n)).astype(np.float32) for _ in range(2))
    w, b = (rng.standard_normal(n).astype(np.float32) for _ in range(2))
    got, want = [], []
    for m, out in ((dlcore, got), (torch, want)):
        x, ww, bb = (m.tensor(v, requires_grad=True) for v in (a, w, b))
        m.nn.functional.layer_norm(x, (n,), ww, bb).backward(m.tensor(g))
        y = m.tensor(g + 0.5)
        loss = m.nn.functional.mse_loss(x, y, reduction="sum")
        out += [m.nn.functional.layer_norm(x, (n,), ww, bb).detach().numpy(), x.grad.numpy(), ww.grad.numpy(),
                bb.grad.numpy(), loss.detach().numpy()]
        x.grad = None
        loss.backward()
        out.append(x.grad.numpy())
    for i, (p, q) in enumerate(zip(got, want)):
        np.testing.assert_allclose(p, q, rtol=1e-4, atol=1e-4, err_msg=f"output {i} at {(rows, n)}")
print("ok")
"""


@pytest.mark.parametrize("threads", [1, 2])
@pytest.mark.parametrize("mode", ["scalar", "avx2", "avx512"])
def test_layer_norm_and_mse_simd_paths(mode, threads, tmp_path):
    """Every per-ISA build of the layer_norm and mse_loss kernels vs torch
    (the ISA is chosen once per process, so each runs in a subprocess)."""
    import os
    import subprocess
    import sys

    import_torch()
    flags = open("/proc/cpuinfo").read().split() if os.path.exists("/proc/cpuinfo") else []
    if mode == "avx2" and "avx2" not in flags or mode == "avx512" and "avx512f" not in flags:
        pytest.skip(f"CPU lacks {mode}")
    script = tmp_path / "ln_simd.py"
    script.write_text(SIMD_SCRIPT)
    proc = subprocess.run([sys.executable, str(script), str(threads)], env=dict(os.environ, DLCORE_SIMD=mode),
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0 and "ok" in proc.stdout, proc.stderr
