"""Optimizer-step cases of `python -m dlcore.bench optim`.

10 million float32 parameters in 10 tensors, fixed gradients; one row per
torch implementation (default single-tensor loop, ``foreach=True``,
``fused=True``), dlcore's fused Rust step on the other side of each row.
An optimizer step is memory-bound, so rows also report GB/s: the bytes a
perfect single pass must move (Adam reads p, g, m, v and writes p, m, v:
28 B per parameter; SGD with momentum reads p, g, b and writes p, b: 20 B),
divided by the time, against this machine's bandwidth measured by dlcore's
Rust probe (`dlcore._core.memory_bandwidth`): the in-place update pattern
x += s*y, which like an optimizer step reads every line it writes (STREAM
triad's figure omits its write-allocate traffic and reads lower).
"""

from __future__ import annotations

import numpy as np

N_PARAMS = 10_000_000
N_TENSORS = 10

# case -> (optimizer, torch options, description, bytes per step)
OPTIM_CASES = {
    "adam_10m": (
        "Adam",
        {"foreach": False},
        "Adam step, 10M params / 10 tensors vs torch default (for-loop)",
        28,
    ),
    "adam_10m_foreach": (
        "Adam",
        {"foreach": True},
        "Adam step vs torch foreach=True",
        28,
    ),
    "adam_10m_fused": ("Adam", {"fused": True}, "Adam step vs torch fused=True", 28),
    "sgdm_10m": (
        "SGD",
        {"foreach": False},
        "SGD momentum step, 10M params vs torch default (for-loop)",
        20,
    ),
    "sgdm_10m_foreach": (
        "SGD",
        {"foreach": True},
        "SGD momentum step vs torch foreach=True",
        20,
    ),
    "sgdm_10m_fused": (
        "SGD",
        {"fused": True},
        "SGD momentum step vs torch fused=True",
        20,
    ),
}
OPTIM_KWARGS = {"Adam": {"lr": 1e-3}, "SGD": {"lr": 1e-2, "momentum": 0.9}}


def case_table() -> dict:
    """Entries for bench.CASES: name -> (group, description, flops=None)."""
    return {k: ("optim", v[2], None) for k, v in OPTIM_CASES.items()}


def bytes_per_step(name: str) -> int | None:
    return OPTIM_CASES[name][3] * N_PARAMS if name in OPTIM_CASES else None


def build_optim_case(name: str, m):
    """(step, None) for optimizer case `name` in module `m` (dlcore or torch)."""
    opt_name, torch_opts, _, _ = OPTIM_CASES[name]
    rng = np.random.default_rng(0)
    size = N_PARAMS // N_TENSORS
    params = []
    for _ in range(N_TENSORS):
        p = m.tensor(rng.standard_normal(size, dtype=np.float32)).requires_grad_()
        p.grad = m.tensor(rng.standard_normal(size, dtype=np.float32) * 1e-2)
        params.append(p)
    kwargs = dict(OPTIM_KWARGS[opt_name])
    if m.__name__ == "torch":
        kwargs.update(torch_opts)
    opt = getattr(m.optim, opt_name)(params, **kwargs)

    def step():
        opt.step()

    return step, None


def memory_bandwidth(threads: int, rounds: int = 3) -> dict | None:
    """STREAM copy/triad GB/s from dlcore's Rust probe on `threads` threads:
    the best of `rounds` probes (each best-of-10), since a busy neighbour
    easily halves one probe's figure."""
    try:
        import dlcore

        dlcore.set_num_threads(threads)
        probes = [dlcore._core.memory_bandwidth(128, 10) for _ in range(rounds)]
    except (AttributeError, ImportError):
        return None
    best = dict(probes[0])
    for key in ("copy_gbs", "triad_gbs", "update_gbs"):
        best[key] = max(b[key] for b in probes)
    return best
