"""GEMM through the Python API: random shapes and layouts against numpy
(hypothesis), edge shapes around the register tiles and cache blocks, every
SIMD path forced in a subprocess, 1 and N threads, gradients of matmul and
linear against torch, and the bench/peak probes.

The per-kernel alpha/beta and blocking cases live in the Rust tests
(rust/core/src/cpu/gemm/tests.rs), which call each path's kernels directly."""

import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest
from helpers import arg, check_op, to_numpy
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import dlcore
from dlcore import _core


def _ref(a, b):
    return (a.astype(np.float64) @ b.astype(np.float64)).astype(a.dtype)


def _tol(dtype, k):
    # the error of a k-term dot product of values in [-1, 1) grows with k
    return (2e-6 if dtype == np.float32 else 1e-13) * max(k, 1) * 4


def _view(arr, layout):
    """A tensor holding `arr`, reached through a transposed or strided view."""
    if layout == "row":
        return dlcore.tensor(arr)
    if layout == "col":
        return dlcore.tensor(np.ascontiguousarray(arr.T)).t()
    # every other column and row of a bigger buffer
    big = np.zeros((arr.shape[0] * 2 + 1, arr.shape[1] * 2 + 1), arr.dtype)
    big[1::2, 1::2] = arr
    return dlcore.tensor(big)[1::2, 1::2]


def _check(m, k, n, la="row", lb="row", dtype=np.float32, seed=0):
    rng = np.random.default_rng(seed)
    a = rng.uniform(-1, 1, (m, k)).astype(dtype)
    b = rng.uniform(-1, 1, (k, n)).astype(dtype)
    got = (_view(a, la) @ _view(b, lb)).numpy()
    assert got.shape == (m, n)
    np.testing.assert_allclose(got, _ref(a, b), rtol=0, atol=_tol(dtype, k), err_msg=f"{m}x{k}x{n} {la}/{lb}")


# around MR (6, 12, 14), NR (16, 32, 48, 64), KC (~256-336) and primes
EDGE = [
    (1, 1, 1),
    (1, 300, 1),
    (1, 17, 301),
    (257, 1, 13),
    (5, 1, 7),
    (12, 32, 16),
    (13, 33, 337),
    (11, 63, 65),
    (97, 101, 103),
    (64, 784, 256),
    (127, 129, 257),
    (300, 299, 298),
]


@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["f32", "f64"])
@pytest.mark.parametrize("mkn", EDGE, ids=str)
def test_edge_shapes(mkn, dtype):
    _check(*mkn, dtype=dtype)


@pytest.mark.parametrize("la", ["row", "col", "strided"])
@pytest.mark.parametrize("lb", ["row", "col", "strided"])
def test_layouts(la, lb):
    _check(37, 53, 71, la, lb)
    _check(130, 67, 45, la, lb, dtype=np.float64)


@pytest.mark.parametrize("shape", [(0, 3, 4), (3, 0, 4), (3, 4, 0), (0, 0, 0)], ids=str)
def test_empty_dims(shape):
    m, k, n = shape
    out = (dlcore.zeros(m, k) @ dlcore.zeros(k, n)).numpy()
    assert out.shape == (m, n) and not out.any()


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    m=st.integers(0, 80),
    k=st.integers(0, 80),
    n=st.integers(0, 80),
    la=st.sampled_from(["row", "col", "strided"]),
    lb=st.sampled_from(["row", "col", "strided"]),
    f64=st.booleans(),
    seed=st.integers(0, 2**16),
)
def test_random_shapes_and_layouts(m, k, n, la, lb, f64, seed):
    _check(m, k, n, la, lb, np.float64 if f64 else np.float32, seed)


@settings(max_examples=15, deadline=None)
@given(
    batch=st.lists(st.integers(1, 3), min_size=1, max_size=2),
    bcast=st.booleans(),
    m=st.integers(1, 40),
    k=st.integers(1, 40),
    n=st.integers(1, 40),
)
def test_random_batched_broadcast(batch, bcast, m, k, n):
    rng = np.random.default_rng(m * 100 + k)
    a = rng.uniform(-1, 1, (*batch, m, k)).astype(np.float32)
    b = rng.uniform(-1, 1, ((1,) * len(batch) if bcast else tuple(batch)) + (k, n)).astype(np.float32)
    got = (dlcore.tensor(a) @ dlcore.tensor(b)).numpy()
    np.testing.assert_allclose(got, _ref(a, b), rtol=0, atol=_tol(np.float32, k))


@pytest.mark.parametrize("threads", [1, 2, 5])
def test_thread_counts_agree(threads):
    before = dlcore.get_num_threads()
    try:
        dlcore.set_num_threads(threads)
        for mkn in [(300, 299, 298), (64, 784, 256), (8, 1000, 9), (513, 17, 40)]:
            _check(*mkn)
        _check(200, 150, 170, "col", "strided", np.float64)
    finally:
        dlcore.set_num_threads(before)


SIMD_SCRIPT = textwrap.dedent(
    """
    import sys
    import numpy as np
    import dlcore
    from dlcore import _core

    assert _core.simd_level() == sys.argv[1], (_core.simd_level(), sys.argv[1])
    rng = np.random.default_rng(1)
    for threads, team in ((1, False), (3, False), (2, True), (3, True)):
        dlcore.set_num_threads(threads)
        _core.gemm_team(team)
        for m, k, n in [(1, 1, 1), (13, 33, 337), (97, 101, 103), (64, 784, 256), (300, 7, 299)]:
            for dt, tol in ((np.float32, 2e-6), (np.float64, 1e-13)):
                a = rng.uniform(-1, 1, (m, k)).astype(dt)
                b = rng.uniform(-1, 1, (n, k)).astype(dt)  # used transposed
                got = (dlcore.tensor(a) @ dlcore.tensor(b).t()).numpy()
                want = a.astype(np.float64) @ b.astype(np.float64).T
                err = np.abs(got - want).max()
                assert err <= tol * 4 * k, (sys.argv[1], threads, m, k, n, dt, err)
                # row-major B: read in place by the kernel for m <= 256
                bt = np.ascontiguousarray(b.T)
                got = (dlcore.tensor(a) @ dlcore.tensor(bt)).numpy()
                err = np.abs(got - want).max()
                assert err <= tol * 4 * k, ("in place", sys.argv[1], threads, m, k, n, dt, err)
        # linear forward + backward (dx, dw side by side, db) against float64 numpy
        x, w, bias = rng.uniform(-1, 1, (64, 200)), rng.uniform(-1, 1, (70, 200)), rng.uniform(-1, 1, 70)
        g = rng.uniform(-1, 1, (64, 70))
        xt, wt, bt = (dlcore.tensor(v.astype(np.float32), requires_grad=True) for v in (x, w, bias))
        y = dlcore.nn.functional.linear(xt, wt, bt)
        y.backward(dlcore.tensor(g.astype(np.float32)))
        for got, want in ((y, x @ w.T + bias), (xt.grad, g @ w), (wt.grad, g.T @ x), (bt.grad, g.sum(0))):
            err = np.abs(got.detach().numpy() - want).max()
            assert err <= 1e-4, ("linear", sys.argv[1], threads, err)
    print("ok")
    """
)


@pytest.mark.parametrize("path", ["scalar", "avx2", "avx512"])
def test_forced_simd_paths(path, tmp_path):
    try:
        _core.gemm_config(path)
    except ValueError:
        pytest.skip(f"CPU lacks the {path} path")
    script = tmp_path / "gemm_simd.py"
    script.write_text(SIMD_SCRIPT)
    env = dict(os.environ, DLCORE_SIMD=path)
    proc = subprocess.run([sys.executable, str(script), path], env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0 and "ok" in proc.stdout, proc.stderr


# --- gradients through the common helper (torch is the reference)


@pytest.mark.parametrize(
    "shapes", [((3, 5), (5, 4)), ((37, 41), (41, 29)), ((2, 1, 13, 7), (3, 7, 17)), ((65,), (65, 33))], ids=str
)
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_matmul_grad(shapes, dtype):
    tol = {"float32": 1e-4, "float64": 1e-10}[dtype]
    check_op(lambda m, a, b: a @ b, list(shapes), dtype=dtype, rtol=tol, atol=tol)
    check_op(lambda m, a, b: a @ b, list(shapes), dtype=dtype, rtol=tol, atol=tol, non_contiguous=True)


def test_bmm_strided_and_broadcast_batches_grad():
    # batch dim reached through a transpose (strided batches), and a stride-0 batch
    check_op(lambda m, a, b: m.bmm(a.transpose(0, 1), b), [(13, 3, 7), (3, 7, 33)], rtol=1e-4, atol=1e-4)
    check_op(lambda m, a, b: a.expand(4, 9, 40) @ b, [(9, 40), (4, 40, 17)], rtol=1e-4, atol=1e-4)
    check_op(lambda m, a, b: a @ b.transpose(-1, -2), [(6, 70, 50), (6, 65, 50)], rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("bias", [True, False])
@pytest.mark.parametrize("x_shape", [(64, 784), (5, 3, 784), (1, 784)], ids=str)
def test_linear_grad(x_shape, bias):
    inputs = [x_shape, (33, 784)] + ([(33,)] if bias else [])
    check_op(lambda m, *t: m.nn.functional.linear(*t), inputs, rtol=1e-4, atol=1e-4)
    check_op(lambda m, *t: m.nn.functional.linear(*t), inputs, rtol=1e-4, atol=1e-4, non_contiguous=True)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("shapes", [[(64, 200), (70, 200), (70,)], [(3, 64), (13, 64)], [(257, 100), (9, 100), (9,)]], ids=str)
def test_linear_weight_rows_in_place(shapes, dtype):
    """Batches up to 256 with depth >= 64 take the forward that reads the
    weight's rows in place (cpu/gemm/arows.rs): out_features that leave a
    partial row block, with and without bias, f32 and f64; 257 rows and a
    transposed weight view take the packed path."""
    tol = {"float32": 1e-4, "float64": 1e-10}[dtype]
    check_op(lambda m, *t: m.nn.functional.linear(*t), shapes, dtype=dtype, rtol=tol, atol=tol)
    check_op(lambda m, *t: m.nn.functional.linear(*t), shapes, dtype=dtype, rtol=tol, atol=tol, non_contiguous=True)


@pytest.mark.parametrize("threads", [1, 2, 3])
@pytest.mark.parametrize("which", ["x", "w", "b", "both"])
@pytest.mark.parametrize("team", [False, True])
def test_linear_grad_paths(threads, which, team):
    """The fused backward (dx and dw side by side on two threads, or one
    after the other, db on the dx thread), with only one of x / w / b
    wanting a gradient too; a transposed output gives the backward a
    column-major upstream gradient."""
    before, was = dlcore.get_num_threads(), _core.gemm_team()
    try:
        _core.gemm_team(team)
        dlcore.set_num_threads(threads)
        inputs = [arg((64, 784), grad=which in ("x", "both")), arg((256, 784), grad=which in ("w", "both")), (256,)]
        check_op(lambda m, *t: m.nn.functional.linear(*t), inputs, rtol=1e-4, atol=1e-4)
        check_op(lambda m, *t: m.nn.functional.linear(*t), inputs, rtol=1e-4, atol=1e-4, non_contiguous=True)
        check_op(lambda m, *t: m.nn.functional.linear(*t).t(), inputs, rtol=1e-4, atol=1e-4)
    finally:
        _core.gemm_team(was)
        dlcore.set_num_threads(before)


def test_linear_double_backward():
    """create_graph=True keeps linear's gradients differentiable."""
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(3)
    xs, ws = rng.standard_normal((6, 20)), rng.standard_normal((7, 20))
    out = []
    for m in (dlcore, torch):
        x = m.tensor(xs, requires_grad=True)
        w = m.tensor(ws, requires_grad=True)
        (gx,) = m.autograd.grad(m.nn.functional.linear(x, w).tanh().sum(), [x], create_graph=True)
        (gw,) = m.autograd.grad((gx * gx).sum(), [w])
        out.append((to_numpy(gx), to_numpy(gw)))
    for a, b in zip(*out):
        np.testing.assert_allclose(a, b, rtol=1e-9, atol=1e-9)


def test_linear_grad_accumulates():
    """Two backward passes add into .grad, as in torch."""
    rng = np.random.default_rng(4)
    xs, ws, bs = rng.standard_normal((64, 784)), rng.standard_normal((256, 784)), rng.standard_normal(256)
    x = dlcore.tensor(xs, requires_grad=True)
    w, b = dlcore.tensor(ws, requires_grad=True), dlcore.tensor(bs, requires_grad=True)
    for _ in range(2):
        dlcore.nn.functional.linear(x, w, b).sum().backward()
    g = np.ones((64, 256))
    np.testing.assert_allclose(to_numpy(w.grad), 2 * g.T @ xs, rtol=1e-9)
    np.testing.assert_allclose(to_numpy(x.grad), 2 * g @ ws, rtol=1e-9)
    np.testing.assert_allclose(to_numpy(b.grad), 2 * g.sum(0), rtol=1e-9)


# --- the GEMM thread team (rust/core/src/cpu/gemm/team.rs)


def _team_cases():
    rng = np.random.default_rng(5)
    shapes = [(512, 512, 512), (64, 784, 256), (97, 130, 301), (300, 299, 298)]
    return [(rng.uniform(-1, 1, (m, k)).astype(np.float32), rng.uniform(-1, 1, (k, n)).astype(np.float32)) for m, k, n in shapes]


@pytest.mark.parametrize("team", [True, False])
def test_team_and_rayon_agree_with_reference(team):
    before, was = dlcore.get_num_threads(), _core.gemm_team()
    try:
        _core.gemm_team(team)
        assert _core.gemm_team() is team
        for threads in (2, 1, 4, 2):  # thread-count changes between calls
            dlcore.set_num_threads(threads)
            for a, b in _team_cases():
                got = (dlcore.tensor(a) @ dlcore.tensor(b)).numpy()
                np.testing.assert_allclose(got, _ref(a, b), rtol=0, atol=_tol(np.float32, a.shape[1]))
    finally:
        _core.gemm_team(was)
        dlcore.set_num_threads(before)


def test_team_many_python_threads():
    """Concurrent GEMMs from Python threads: one holds the team, the others
    fall back to rayon; every result stays exact and nothing deadlocks."""
    from concurrent.futures import ThreadPoolExecutor

    before, was = dlcore.get_num_threads(), _core.gemm_team()
    cases = _team_cases()
    want = [(dlcore.tensor(a) @ dlcore.tensor(b)).numpy() for a, b in cases]
    try:
        dlcore.set_num_threads(2)
        _core.gemm_team(True)

        def work(i):
            for r in range(6):
                j = (i + r) % len(cases)
                a, b = cases[j]
                np.testing.assert_allclose((dlcore.tensor(a) @ dlcore.tensor(b)).numpy(), want[j], rtol=1e-5, atol=1e-4)
            return True

        with ThreadPoolExecutor(max_workers=6) as ex:
            assert all(ex.map(work, range(12)))
    finally:
        _core.gemm_team(was)
        dlcore.set_num_threads(before)


def test_team_nested_in_batched_matmul():
    """Batched matmul splits batches over rayon; each GEMM inside runs
    single-threaded there (no team inside a rayon task)."""
    rng = np.random.default_rng(6)
    a = rng.uniform(-1, 1, (6, 130, 140)).astype(np.float32)
    b = rng.uniform(-1, 1, (6, 140, 150)).astype(np.float32)
    before = dlcore.get_num_threads()
    try:
        dlcore.set_num_threads(2)
        got = (dlcore.tensor(a) @ dlcore.tensor(b)).numpy()
        np.testing.assert_allclose(got, np.einsum("bij,bjk->bik", a.astype(np.float64), b), atol=1e-4)
    finally:
        dlcore.set_num_threads(before)


# --- probes used by `python -m dlcore.bench gemm|peak`


def test_fma_peak_and_config():
    one, all_, threads = _core.fma_peak(None, 0.005, 1)
    assert one > 0 and all_ > 0 and threads >= 1
    cfg = _core.gemm_config()
    assert cfg["simd"] == _core.simd_level() and cfg["kc"] > 0 and cfg["nc"] % cfg["nr"] == 0
    assert _core.gemm_seconds(64, 64, 64, None, "float64", 2) > 0
    with pytest.raises(ValueError, match="SIMD"):
        _core.fma_peak("neon-ish")
    with pytest.raises(ValueError, match="dtype"):
        _core.gemm_config(None, "int8")


def test_bench_gemm_smoke():
    from dlcore.bench.gemm import format_gemm, format_peak, gemm, peak, wait_quiet

    rows, ctx = gemm(threads=1, repeat=1, sizes=[48], min_time=0.001)
    assert rows[0]["shape"] == "48x48x48" and rows[0]["gflops_dlcore"] > 0
    assert "% peak" in format_gemm(rows, ctx)
    assert "avx" in format_peak(peak(1, seconds=0.002, repeat=1)) or _core.simd_level() == "scalar"
    assert wait_quiet(0.0, busy=1.01) is True  # any load is below 101%


def test_bench_cli_peak():
    proc = subprocess.run(
        [sys.executable, "-m", "dlcore.bench", "peak", "--threads", "1", "--repeat", "1"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr
    assert "GFLOP/s" in proc.stdout
