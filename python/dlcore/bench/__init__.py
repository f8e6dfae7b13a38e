"""dlcore vs PyTorch, same inputs, same thread count, one process.

    python -m dlcore.bench [overhead|mlp|optim|all] [--threads N] [--repeat R]

Every case is built twice from the same numpy data (and, for models, the same
weights, copied from torch into dlcore by state_dict name), once per library;
a case's `step()` does exactly the work its row names and nothing else.
Timing: warm-ups, then an iteration count calibrated so one repetition lasts
about `min_time` seconds; dlcore and torch repetitions alternate, and the
figure is the best of `repeat` repetitions (machines are shared and noisy: the
minimum is the least disturbed run).
"""

from __future__ import annotations

import os
import platform
import time

import numpy as np

from .optim import OPTIM_CASES, build_optim_case, bytes_per_step, case_table, memory_bandwidth

# case name -> (group, description, flops per step or None)
CASES = {
    "add16_grad": ("overhead", "a + b, 16 float32, requires_grad (node + kernel)", None),
    "add16_nograd": ("overhead", "a + b, 16 float32, no autograd", None),
    "xor_step": ("mlp", "XOR MLP 2-8-1 train step: fwd, mse, bwd, SGD", None),
    # fwd 2*B*(784*256+256*10); bwd dW1, dW2, dX2 (no grad for the input batch)
    "mlp784_step": (
        "mlp",
        "MLP 784-256-10 batch 64 step: fwd, cross_entropy, bwd, SGD momentum",
        2 * 64 * (784 * 256 + 256 * 10) + 2 * 64 * (784 * 256 + 2 * 256 * 10),
    ),
}
CASES.update(case_table())
GROUPS = {"overhead": ["add16_grad", "add16_nograd"], "mlp": ["xor_step", "mlp784_step"], "optim": list(OPTIM_CASES)}
GROUPS["all"] = GROUPS["overhead"] + GROUPS["mlp"] + GROUPS["optim"]

from .cnn import CNN_CASES, build_cnn_case, lenet_layers  # noqa: E402  (convolution, pooling, batch norm, ...)

CASES.update(CNN_CASES)
GROUPS["cnn"] = list(CNN_CASES)
GROUPS["all"] += GROUPS["cnn"]

from .seq import SEQ_CASES, build_seq_case  # noqa: E402  (LSTM, attention)

CASES.update(SEQ_CASES)
GROUPS["seq"] = list(SEQ_CASES)
GROUPS["all"] += GROUPS["seq"]


def _import(lib: str):
    if lib == "dlcore":
        import dlcore
        import dlcore.nn
        import dlcore.nn.functional
        import dlcore.optim

        return dlcore
    import torch
    import torch.nn.functional  # noqa: F401

    return torch


def _tensor(m, arr, requires_grad=False):
    t = m.tensor(arr)
    return t.requires_grad_() if requires_grad else t


def _copy_weights(src_model, dst_model, dst_mod):
    """Give the dlcore model the torch model's weights (same names, same layouts)."""
    state = {k: dst_mod.tensor(v.detach().cpu().numpy()) for k, v in src_model.state_dict().items()}
    dst_model.load_state_dict(state)


def _add16(m, requires_grad):
    rng = np.random.default_rng(0)
    a = _tensor(m, rng.standard_normal(16).astype(np.float32), requires_grad)
    b = _tensor(m, rng.standard_normal(16).astype(np.float32), requires_grad)

    def step():
        return a + b

    return step


def _mlp_case(m, layers, x, y, loss, opt_kwargs, torch_model):
    model = m.nn.Sequential(*layers(m))
    if torch_model is not None and m.__name__ == "dlcore":
        _copy_weights(torch_model, model, m)
    xt, yt = m.tensor(x), m.tensor(y)
    opt = m.optim.SGD(model.parameters(), **opt_kwargs)
    F = m.nn.functional

    def step():
        opt.zero_grad()
        out = loss(F, model(xt), yt)
        out.backward()
        opt.step()
        return out

    return step, model


def _xor_layers(m):
    return [m.nn.Linear(2, 8), m.nn.Tanh(), m.nn.Linear(8, 1), m.nn.Sigmoid()]


def _mlp_layers(m):
    return [m.nn.Linear(784, 256), m.nn.ReLU(), m.nn.Linear(256, 10)]


def build_case(name: str, lib: str, reference_model=None):
    """Returns (step, model_or_None) for case `name` in library `lib` ('dlcore' | 'torch').

    For model cases pass the torch model as `reference_model` when building the
    dlcore side so both start from identical weights.
    """
    m = _import(lib)
    if name in OPTIM_CASES:
        return build_optim_case(name, m)
    if name == "add16_grad":
        return _add16(m, True), None
    if name == "add16_nograd":
        return _add16(m, False), None
    if lib == "torch":
        m.manual_seed(0)
    if name == "xor_step":
        x = np.array([[0, 0], [0, 1], [1, 0], [1, 1]], dtype=np.float32)
        y = np.array([[0], [1], [1], [0]], dtype=np.float32)
        return _mlp_case(m, _xor_layers, x, y, lambda F, o, t: F.mse_loss(o, t), {"lr": 0.1}, reference_model)
    if name == "mlp784_step":
        rng = np.random.default_rng(0)
        x = rng.standard_normal((64, 784)).astype(np.float32)
        y = rng.integers(0, 10, size=64).astype(np.int64)
        return _mlp_case(
            m, _mlp_layers, x, y, lambda F, o, t: F.cross_entropy(o, t), {"lr": 0.01, "momentum": 0.9}, reference_model
        )
    if name == "lenet_step":
        rng = np.random.default_rng(0)
        x = rng.standard_normal((64, 1, 28, 28)).astype(np.float32)
        y = rng.integers(0, 10, size=64).astype(np.int64)
        return _mlp_case(
            m, lenet_layers, x, y, lambda F, o, t: F.cross_entropy(o, t), {"lr": 0.01, "momentum": 0.9}, reference_model
        )
    if name in CNN_CASES:
        return build_cnn_case(name, m), None
    if name in SEQ_CASES:
        return build_seq_case(name, m, reference_model)
    raise KeyError(f"unknown bench case {name!r}; known: {sorted(CASES)}")


def build_pair(name: str, with_torch: bool = True):
    """(dlcore_step, torch_step_or_None) built on identical data and weights."""
    torch_step, torch_model = build_case(name, "torch") if with_torch else (None, None)
    dl_step, _ = build_case(name, "dlcore", reference_model=torch_model)
    return dl_step, torch_step


def _calibrate(step, min_time: float, warmup: int) -> int:
    """Iterations per repetition so one repetition lasts about `min_time` seconds."""
    for _ in range(warmup):  # first calls allocate buffers, start thread pools, ...
        step()
    n = 1
    while True:
        t0 = time.perf_counter()
        for _ in range(n):
            step()
        elapsed = time.perf_counter() - t0
        if elapsed >= min_time / 8 or n >= 1 << 20:
            break
        n *= 8
    return max(1, int(n * min_time / max(elapsed, 1e-9)))


def _batch(step, n: int) -> float:
    t0 = time.perf_counter()
    for _ in range(n):
        step()
    return (time.perf_counter() - t0) / n


def time_step(step, repeat: int = 5, min_time: float = 0.05, warmup: int = 5) -> tuple[float, int]:
    """Best-of-`repeat` seconds per call of `step`, and the iterations per repetition."""
    n = _calibrate(step, min_time, warmup)
    return min(_batch(step, n) for _ in range(max(1, repeat))), n


# Pause before each timed batch: torch's OpenMP workers keep spinning for a
# while after a call and would steal the cores from whichever library runs
# next (measured: without it the two libraries' times came out equal).
PAUSE_S = 0.2


def time_steps(steps, repeat: int = 5, min_time: float = 0.05, warmup: int = 5, pause: float = PAUSE_S) -> list[tuple[float, int]]:
    """Like time_step for several steps, with their repetitions interleaved
    (a, b, a, b, ...) so a noisy neighbour hurts every library alike; each
    timed batch follows `pause` seconds and one untimed call."""
    ns = [_calibrate(s, min_time, warmup) for s in steps]
    best = [float("inf")] * len(steps)
    for _ in range(max(1, repeat)):
        for i, (s, n) in enumerate(zip(steps, ns)):
            if pause:
                time.sleep(pause)
                s()
            best[i] = min(best[i], _batch(s, n))
    return list(zip(best, ns))


def cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.lower().startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def set_threads(threads: int, with_torch: bool = True) -> None:
    import dlcore

    dlcore.set_num_threads(threads)
    if with_torch:
        import torch

        torch.set_num_threads(threads)


def _have_torch() -> bool:
    try:
        import torch  # noqa: F401

        return True
    except ImportError:
        return False


def run(cases=("all",), threads: int | None = None, repeat: int = 5, min_time: float = 0.05) -> list[dict]:
    """Time each case (or group name) in dlcore and torch; one dict per case.

    Keys: case, group, description, dlcore_s, torch_s (None without torch),
    ratio (torch_s / dlcore_s: > 1 means dlcore is faster), iters, threads,
    gflops_dlcore / gflops_torch (None for cases without a FLOP count),
    gbs_dlcore / gbs_torch (GB/s for memory-bound cases, else None), and
    membw (STREAM GB/s of this machine from the Rust probe, for those cases).
    """
    threads = threads or os.cpu_count() or 1
    names: list[str] = []
    for c in [cases] if isinstance(cases, str) else cases:
        for n in GROUPS.get(c, [c]):
            if n not in CASES:
                raise KeyError(f"unknown bench case {n!r}; known: {sorted(CASES)} or groups {sorted(GROUPS)}")
            if n not in names:
                names.append(n)
    with_torch = _have_torch()
    set_threads(threads, with_torch)
    rows = []
    bw = memory_bandwidth(threads) if any(bytes_per_step(n) for n in names) else None
    for name in names:
        group, desc, flops = CASES[name]
        nbytes = bytes_per_step(name)
        dl_step, th_step = build_pair(name, with_torch)
        timed = time_steps([dl_step] + ([th_step] if th_step is not None else []), repeat, min_time)
        dl_s, iters = timed[0]
        th_s = timed[1][0] if th_step is not None else None
        rows.append(
            {
                "case": name,
                "group": group,
                "description": desc,
                "dlcore_s": dl_s,
                "torch_s": th_s,
                "ratio": (th_s / dl_s) if th_s is not None else None,
                "iters": iters,
                "threads": threads,
                "gflops_dlcore": flops / dl_s / 1e9 if flops else None,
                "gflops_torch": flops / th_s / 1e9 if flops and th_s else None,
                "gbs_dlcore": nbytes / dl_s / 1e9 if nbytes else None,
                "gbs_torch": nbytes / th_s / 1e9 if nbytes and th_s else None,
                "membw": bw if nbytes else None,
            }
        )
    return rows


def _fmt_time(s):
    if s is None:
        return "n/a"
    for unit, scale in (("s", 1.0), ("ms", 1e-3), ("us", 1e-6)):
        if s >= scale:
            return f"{s / scale:.3g} {unit}"
    return f"{s / 1e-9:.3g} ns"


def format_table(rows: list[dict]) -> str:
    import dlcore

    threads = rows[0]["threads"] if rows else os.cpu_count()
    head = [
        f"CPU: {cpu_model()}  |  threads: {threads}  |  dlcore {getattr(dlcore, '__version__', '?')}",
    ]
    if _have_torch():
        import torch

        head[0] += f"  |  torch {torch.__version__}"
    cols = ["case", "dlcore", "torch", "torch/dlcore", "GFLOP/s dl", "GFLOP/s torch"]
    bw = next((r["membw"] for r in rows if r.get("membw")), None)
    if any(r.get("gbs_dlcore") for r in rows):
        cols += ["GB/s dl", "GB/s torch"] + (["dl % bw"] if bw else [])
    body = []
    for r in rows:
        body.append(
            [
                r["case"],
                _fmt_time(r["dlcore_s"]),
                _fmt_time(r["torch_s"]),
                f"{r['ratio']:.2f}x" if r["ratio"] is not None else "n/a",
                f"{r['gflops_dlcore']:.1f}" if r["gflops_dlcore"] else "-",
                f"{r['gflops_torch']:.1f}" if r["gflops_torch"] else "-",
            ]
        )
        if len(cols) > 6:
            gd, gt = r.get("gbs_dlcore"), r.get("gbs_torch")
            body[-1] += [f"{gd:.1f}" if gd else "-", f"{gt:.1f}" if gt else "-"]
            if bw:
                body[-1].append(f"{100 * gd / bw['update_gbs']:.0f}%" if gd else "-")
    widths = [max(len(str(x)) for x in col) for col in zip(cols, *body)]
    line = lambda cells: "  ".join(str(c).ljust(w) for c, w in zip(cells, widths))  # noqa: E731
    out = head + ["", line(cols), line(["-" * w for w in widths])] + [line(b) for b in body]
    out += ["", "times are best-of-R per step; ratio > 1 means dlcore is faster."]
    if bw:
        out.append(
            f"memory bandwidth (dlcore Rust STREAM probe, {bw['threads']} threads, {bw['array_bytes'] >> 20} MiB arrays):"
            f" in-place update x += s*y {bw['update_gbs']:.1f} GB/s (the '% bw' base), copy {bw['copy_gbs']:.1f},"
            f" triad {bw['triad_gbs']:.1f}. Optimizer GB/s count one pass: Adam 28 B/param, SGD momentum 20 B/param."
        )
    return "\n".join(out)
