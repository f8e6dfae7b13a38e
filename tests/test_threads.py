"""Large inputs (parallel kernel paths, chunk boundaries), thread-count
independence, and concurrent use from several Python threads (the bindings
release the GIL around kernels)."""

import os
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
from helpers import arg, check_op, to_numpy

import dlcore

LARGE = [
    ("add_bcast", [(1001, 1037), (1037,)], lambda m, a, b: a + b),
    ("mul_noncontig", [(777, 1301), (777, 1301)], lambda m, a, b: a.t() * b.t()),
    ("exp_tanh", [((1 << 20) + 3,)], lambda m, a: a.exp() + a.tanh()),
    ("sum_rows", [(1031, 997)], lambda m, a: a.sum(1)),
    ("sum_cols", [(1031, 997)], lambda m, a: a.sum(0)),
    ("mean_mid", [(37, 1003, 29)], lambda m, a: a.mean(dim=1)),
    ("amax_all", [(2_000_003,)], lambda m, a: a.amax()),
    ("var_tuple", [(64, 130, 33)], lambda m, a: a.var(dim=(0, 2))),
    ("softmax_rows", [(513, 2049)], lambda m, a: a.softmax(-1)),
    ("log_softmax_cols", [(2049, 67)], lambda m, a: a.log_softmax(0)),
    ("argmax_rows", [(1000, 1001)], lambda m, a: a.argmax(1)),
    ("matmul_rect", [(300, 700), (700, 257)], lambda m, a, b: a @ b),
    ("bmm_bcast", [(8, 65, 130), (130, 97)], lambda m, a, b: a @ b),
    ("cat_big", [(500, 300), (700, 300)], lambda m, a, b: m.cat([a, b]) * 2),
    ("index_big", [(100_000, 8)], lambda m, a: a[m.arange(0, 100_000, 7)]),
]


def _tol(name):
    # long float32 reductions / dot products: rounding grows like sqrt(n)
    return (2e-4, 2e-4) if name in ("sum_rows", "sum_cols", "matmul_rect", "bmm_bcast", "var_tuple", "mean_mid") else (1e-5, 1e-5)


@pytest.mark.parametrize("name,shapes,fn", LARGE, ids=[c[0] for c in LARGE])
def test_large_inputs(name, shapes, fn):
    rtol, atol = _tol(name)
    check_op(fn, shapes, rtol=rtol, atol=atol)


@pytest.fixture
def restore_threads():
    yield
    dlcore.set_num_threads(os.cpu_count() or 1)


@pytest.mark.parametrize("name,shapes,fn", LARGE, ids=[c[0] for c in LARGE])
def test_results_do_not_depend_on_thread_count(name, shapes, fn, restore_threads):
    rng = np.random.default_rng(0)
    data = [rng.uniform(-2, 2, size=s).astype(np.float32) for s in shapes]
    outs = []
    for threads in (1, 3, 8):
        dlcore.set_num_threads(threads)
        xs = [dlcore.tensor(d, requires_grad=True) for d in data]
        y = fn(dlcore, *xs)
        if y.requires_grad:
            y.sum().backward()
        outs.append([to_numpy(y)] + [to_numpy(x.grad) for x in xs if x.grad is not None])
    rtol, atol = _tol(name)
    for other in outs[1:]:
        for a, b in zip(outs[0], other):
            np.testing.assert_allclose(a, b, rtol=rtol, atol=atol)


def test_get_num_threads(restore_threads):
    dlcore.set_num_threads(3)
    assert dlcore.get_num_threads() == 3
    with pytest.raises((ValueError, RuntimeError)):
        dlcore.set_num_threads(0)


def test_concurrent_python_threads():
    """Several Python threads training their own tiny model at once."""
    rng = np.random.default_rng(0)
    x = rng.standard_normal((64, 32)).astype(np.float32)
    w0 = rng.standard_normal((32, 16)).astype(np.float32)

    def work(seed):
        w = dlcore.tensor(w0, requires_grad=True)
        xt = dlcore.tensor(x * (seed + 1))
        for _ in range(20):
            loss = (xt @ w).tanh().pow(2).mean()
            loss.backward()
            with dlcore.no_grad():
                w -= 0.1 * w.grad
            w.grad = None
        return to_numpy(w)

    with ThreadPoolExecutor(max_workers=4) as ex:
        results = list(ex.map(work, range(8)))
    for seed, r in enumerate(results):
        np.testing.assert_allclose(r, work(seed), rtol=1e-6, atol=1e-6)


def test_no_grad_is_thread_local():
    import threading

    seen = {}
    inside, release = threading.Event(), threading.Event()

    def other():
        inside.wait()
        seen["other"] = dlcore.is_grad_enabled()
        release.set()

    t = threading.Thread(target=other)
    t.start()
    with dlcore.no_grad():
        inside.set()
        release.wait(5)
    t.join()
    assert seen["other"] is True  # torch: grad mode is per thread


def test_large_advanced_grad_accumulation():
    idx = np.random.default_rng(0).integers(0, 50, size=100_000)
    check_op(lambda m, a: a[m.tensor(idx)].sum(0), [(50, 4)], rtol=1e-4, atol=1e-4)
    check_op(lambda m, a: a.index_select(0, m.tensor(idx)), [arg((50, 4))], rtol=1e-4, atol=1e-4)
