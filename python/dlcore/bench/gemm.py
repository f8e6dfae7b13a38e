"""GEMM throughput and the FMA peak it is measured against.

    python -m dlcore.bench peak [--threads N]
    python -m dlcore.bench gemm [--threads N] [--repeat R] [--sizes 256,512] [--dtype float64] [--paths]

`peak` runs the built-in FMA probe (`dlcore._core.fma_peak`) for every SIMD
path this CPU has: f32 GFLOP/s on one thread and on N threads at once.

`gemm` times C = A @ B in dlcore (`a @ b` on tensors, what a user calls),
torch.mm and numpy `@` on the same data in one process with the same thread
count (repetitions interleaved with a pause so no library's spinning
worker threads steal the cores from the next, best of R), for square n = 256..4096 and the
training shapes, plus `F.linear` batch 64, 784 -> 256 forward + backward.
Each GEMM row shows GFLOP/s, % of the measured N-thread FMA peak of the
path dlcore runs on, and the ratios dlcore/torch and dlcore/numpy (> 1:
dlcore is faster). With --paths it adds dlcore's AVX2 path timed inside
Rust (`_core.gemm_seconds`), so AVX-512 and AVX2 compare in one process.
"""

from __future__ import annotations

import ctypes
import os
import time

import numpy as np

from . import _have_torch, cpu_model, set_threads, time_steps

# Seconds to wait before timing a library when several threads run: torch's
# OpenMP (KMP_BLOCKTIME 200 ms) and OpenBLAS keep their workers spinning
# after a call, and those spinning threads would take the cores from
# whichever library is timed next.
PAUSE = 0.25

SQUARE = (256, 512, 1024, 2048, 4096)
# (m, k, n): a 784->256 layer on batch 64, a 1024-wide layer on 256 tokens,
# a 256-wide layer on 4096 rows
TRAINING = ((64, 784, 256), (256, 1024, 1024), (4096, 256, 256))


def _numpy_threads(n: int) -> bool:
    """Best effort: set OpenBLAS's thread count through the loaded library."""
    try:
        with open("/proc/self/maps") as f:
            libs = {line.split()[-1] for line in f if "openblas" in line.lower() and line.rstrip().endswith(".so")}
    except OSError:
        return False
    for path in libs:
        try:
            lib = ctypes.CDLL(path)
        except OSError:
            continue
        for sym in ("scipy_openblas_set_num_threads64_", "openblas_set_num_threads64_", "openblas_set_num_threads"):
            fn = getattr(lib, sym, None)
            if fn is not None:
                fn(ctypes.c_int(n))
                return True
    return False


def peak(threads: int | None = None, seconds: float = 0.1, repeat: int = 5) -> list[dict]:
    """FMA peak per SIMD path: one row per path with GFLOP/s on 1 and N threads."""
    import dlcore
    from dlcore import _core

    threads = threads or os.cpu_count() or 1
    dlcore.set_num_threads(threads)
    rows = []
    for path in ("avx512", "avx2", "scalar"):
        try:
            one, all_, n = _core.fma_peak(path, seconds, repeat)
        except ValueError:  # this CPU lacks the path
            continue
        rows.append({"path": path, "gflops_1": one, "gflops_n": all_, "threads": n})
    return rows


def format_peak(rows: list[dict]) -> str:
    from dlcore import _core

    threads = rows[0]["threads"] if rows else 1
    out = [f"CPU: {cpu_model()}  |  threads: {threads}  |  dlcore path in use: {_core.simd_level()}", ""]
    out.append(f"{'path':8}  {'1 thread':>14}  {f'{threads} threads':>14}   (f32 FMA, GFLOP/s)")
    for r in rows:
        out.append(f"{r['path']:8}  {r['gflops_1']:14.1f}  {r['gflops_n']:14.1f}")
    return "\n".join(out)


def _cpu_busy(interval: float = 0.5) -> float | None:
    """Fraction of all CPUs busy over `interval` s while this process sleeps
    (so: other processes' load), from /proc/stat; None where unavailable."""

    def sample():
        with open("/proc/stat") as f:
            v = [int(x) for x in f.readline().split()[1:]]
        idle = v[3] + (v[4] if len(v) > 4 else 0)
        return sum(v), idle

    try:
        t0, i0 = sample()
        time.sleep(interval)
        t1, i1 = sample()
    except (OSError, ValueError, IndexError):
        return None
    return 1.0 - (i1 - i0) / max(t1 - t0, 1)


def wait_quiet(max_wait: float, busy: float = 0.08) -> bool:
    """Wait (up to `max_wait` s) until other processes use under `busy` of the CPUs."""
    deadline = time.monotonic() + max_wait
    while True:
        b = _cpu_busy()
        if b is None or b < busy:
            return True
        if time.monotonic() > deadline:
            return False


def time_libs(steps, repeat: int, min_time: float, pause: float) -> list[float]:
    """Best-of-`repeat` seconds per call of each step (see ``time_steps``)."""
    return [t for t, _ in time_steps(steps, repeat, min_time, warmup=2, pause=pause)]


def _linear_steps(with_torch: bool):
    """F.linear(x, w, b) forward + backward, batch 64, 784 -> 256, in both libraries."""
    import dlcore
    import dlcore.nn.functional as dF

    rng = np.random.default_rng(0)
    x = rng.standard_normal((64, 784)).astype(np.float32)
    w = (rng.standard_normal((256, 784)) * 0.03).astype(np.float32)
    b = rng.standard_normal(256).astype(np.float32)
    g = rng.standard_normal((64, 256)).astype(np.float32)

    def make(m, F):
        xt = m.tensor(x).requires_grad_()
        wt, bt, gt = m.tensor(w).requires_grad_(), m.tensor(b).requires_grad_(), m.tensor(g)

        def step():
            xt.grad = wt.grad = bt.grad = None
            F.linear(xt, wt, bt).backward(gt)

        return step

    steps = [make(dlcore, dF)]
    if with_torch:
        import torch
        import torch.nn.functional as tF

        steps.append(make(torch, tF))
    return steps


def gemm(
    threads: int | None = None,
    repeat: int = 5,
    sizes=None,
    dtype: str = "float32",
    paths: bool = False,
    min_time: float = 0.05,
    quiet: float = 0.0,
) -> tuple[list[dict], dict]:
    """One row per shape (m, k, n); returns (rows, context). With `quiet` > 0,
    the peak probe and each shape first wait up to that many seconds for the
    other processes on the machine to go idle (row["quiet"] says if they did)."""
    import dlcore
    from dlcore import _core

    threads = threads or os.cpu_count() or 1
    with_torch = _have_torch()
    set_threads(threads, with_torch)
    np_threads = _numpy_threads(threads)
    shapes = [(n, n, n) for n in (sizes or SQUARE)] + ([] if sizes else list(TRAINING))
    path = _core.simd_level()
    pause = PAUSE if threads > 1 else 0.0
    peak_quiet = wait_quiet(quiet) if quiet else None
    peak_n = _core.fma_peak(path, 0.1, repeat)[1]
    rows = []
    rng = np.random.default_rng(0)
    for m, k, n in shapes:
        a = rng.standard_normal((m, k)).astype(dtype)
        b = rng.standard_normal((k, n)).astype(dtype)
        da, db = dlcore.tensor(a), dlcore.tensor(b)
        steps = [lambda: da @ db, lambda: a @ b]
        if with_torch:
            import torch

            ta, tb = torch.from_numpy(a), torch.from_numpy(b)
            steps.append(lambda: torch.mm(ta, tb))
        was_quiet = wait_quiet(quiet) if quiet else None
        timed = time_libs(steps, repeat, min_time, pause)
        flops = 2.0 * m * n * k
        row = {
            "shape": f"{m}x{k}x{n}",
            "dlcore_s": timed[0],
            "numpy_s": timed[1],
            "torch_s": timed[2] if with_torch else None,
            "gflops_dlcore": flops / timed[0] / 1e9,
            "gflops_numpy": flops / timed[1] / 1e9,
            "gflops_torch": flops / timed[2] / 1e9 if with_torch else None,
            "quiet": was_quiet,
        }
        row["pct_peak"] = 100.0 * row["gflops_dlcore"] / peak_n if dtype == "float32" else None
        if paths and path == "avx512":
            row["gflops_avx2_rust"] = flops / _core.gemm_seconds(m, n, k, "avx2", dtype, repeat) / 1e9
            row["gflops_avx512_rust"] = flops / _core.gemm_seconds(m, n, k, "avx512", dtype, repeat) / 1e9
        rows.append(row)
    lin = None
    if not sizes:
        if quiet:
            wait_quiet(quiet)
        timed = time_libs(_linear_steps(with_torch), repeat, min_time, pause)
        lin = {"dlcore_s": timed[0], "torch_s": timed[1] if with_torch else None}
    # the probe again at the end: the better of the two is the machine's peak
    # (a busy neighbour can only lower it)
    if quiet:
        wait_quiet(quiet)
    peak_n = max(peak_n, _core.fma_peak(path, 0.1, repeat)[1])
    for r in rows:
        r["pct_peak"] = 100.0 * r["gflops_dlcore"] / peak_n if dtype == "float32" else None
    ctx = {"threads": threads, "path": path, "peak_n": peak_n, "peak_quiet": peak_quiet, "numpy_threads_set": np_threads, "dtype": dtype, "linear": lin}
    return rows, ctx


def format_gemm(rows: list[dict], ctx: dict) -> str:
    import dlcore

    cfg = dlcore._core.gemm_config(None, ctx["dtype"])
    head = (
        f"CPU: {cpu_model()}  |  threads: {ctx['threads']}  |  {ctx['dtype']}  |  dlcore path {ctx['path']}, "
        f"kernel {cfg['kernel']} (MRxNR {cfg['mr']}x{cfg['nr']}, KC {cfg['kc']}, NC {cfg['nc']})  |  "
        f"FMA peak ({ctx['threads']} threads, f32) {ctx['peak_n']:.1f} GFLOP/s"
    )
    if ctx.get("peak_quiet") is not None:
        noisy = [r["shape"] for r in rows if r.get("quiet") is False]
        head += "\nwaited for an idle machine before each row" + (
            f"; still busy for {', '.join(noisy)}" if noisy else "" if ctx["peak_quiet"] else "; busy for the peak probe"
        )
    if not ctx["numpy_threads_set"]:
        head += "  |  numpy: its own thread count"
    paths = any("gflops_avx2_rust" in r for r in rows)
    cols = ["m x k x n", "dlcore GF/s", "% peak", "torch GF/s", "numpy GF/s", "dl/torch", "dl/numpy"]
    cols += ["avx512 (Rust)", "avx2 (Rust)"] if paths else []
    body = []
    for r in rows:
        line = [
            r["shape"],
            f"{r['gflops_dlcore']:.1f}",
            f"{r['pct_peak']:.0f}%" if r["pct_peak"] is not None else "-",
            f"{r['gflops_torch']:.1f}" if r["gflops_torch"] else "n/a",
            f"{r['gflops_numpy']:.1f}",
            f"{r['torch_s'] / r['dlcore_s']:.2f}x" if r["torch_s"] else "n/a",
            f"{r['numpy_s'] / r['dlcore_s']:.2f}x",
        ]
        if paths:
            line += [f"{r.get('gflops_avx512_rust', 0):.1f}", f"{r.get('gflops_avx2_rust', 0):.1f}"]
        body.append(line)
    widths = [max(len(str(x)) for x in col) for col in zip(cols, *body)]
    fmt = lambda cells: "  ".join(str(c).rjust(w) for c, w in zip(cells, widths))  # noqa: E731
    out = [head, "", fmt(cols), fmt(["-" * w for w in widths])] + [fmt(b) for b in body]
    lin = ctx.get("linear")
    if lin:
        ratio = f"{lin['torch_s'] / lin['dlcore_s']:.2f}x" if lin["torch_s"] else "n/a"
        th = f"{lin['torch_s'] * 1e6:.0f} us" if lin["torch_s"] else "n/a"
        out += ["", f"F.linear 64x784->256 fwd+bwd: dlcore {lin['dlcore_s'] * 1e6:.0f} us, torch {th}, torch/dlcore {ratio}"]
    out += ["", "best of R interleaved repetitions; ratios > 1 mean dlcore is faster."]
    return "\n".join(out)


def main(argv) -> int:
    import argparse

    p = argparse.ArgumentParser(prog="python -m dlcore.bench gemm|peak", description=__doc__.split("\n\n")[0])
    p.add_argument("what", choices=["gemm", "peak"])
    p.add_argument("--threads", type=int, default=os.cpu_count())
    p.add_argument("--repeat", type=int, default=5)
    p.add_argument("--sizes", help="comma-separated square sizes instead of the default shapes")
    p.add_argument("--dtype", default="float32", choices=["float32", "float64"])
    p.add_argument("--paths", action="store_true", help="also time the AVX-512 and AVX2 paths inside Rust")
    p.add_argument("--min-time", type=float, default=0.05)
    p.add_argument("--quiet", type=float, default=0.0, metavar="S", help="wait up to S s for an idle machine before each row")
    args = p.parse_args(argv)
    if args.what == "peak":
        print(format_peak(peak(args.threads, repeat=args.repeat)))
        return 0
    sizes = [int(s) for s in args.sizes.split(",")] if args.sizes else None
    rows, ctx = gemm(args.threads, args.repeat, sizes, args.dtype, args.paths, args.min_time, args.quiet)
    print(format_gemm(rows, ctx))
    return 0
