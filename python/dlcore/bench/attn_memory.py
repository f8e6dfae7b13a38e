"""Peak memory of causal ``F.scaled_dot_product_attention`` forward +
backward as T grows: ``python -m dlcore.bench.attn_memory``.

Each length runs in a fresh Python process (peak RSS only ever grows, so
one process per measurement), which builds q, k, v and the upstream
gradient, warms up (thread pool, code pages) on a tiny problem, resets its
peak RSS to the current RSS (Linux ``/proc/self/clear_refs``), runs forward
+ backward at length T and reads the peak (``VmHWM``).
``extra`` is the difference: what attention itself needed on top of its
inputs. A kernel that built the T×T score matrix would need 4·T² bytes per
head (1 GiB at T=16384); the tiled kernel's extra memory grows linearly in T.

Example::

    $ python -m dlcore.bench.attn_memory --lengths 2048 4096 8192 16384
        T   inputs MiB   peak MiB   extra MiB   extra KiB/T
     2048 ...
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys

_CHILD = r"""
import json, resource, sys
import numpy as np
import dlcore
import dlcore.nn.functional as F

t, heads, d, causal, threads = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), sys.argv[4] == "1", int(sys.argv[5])
dlcore.set_num_threads(threads)

from dlcore.bench.memory import reset_peak, rss_kib

def status_mib(key):
    return rss_kib(key.rstrip(":")) / 1024

def run(t):
    rng = np.random.default_rng(0)
    q, k, v = (dlcore.tensor(rng.standard_normal((1, heads, t, d), dtype=np.float32), requires_grad=True) for _ in range(3))
    g = dlcore.tensor(rng.standard_normal((1, heads, t, d), dtype=np.float32))
    return q, k, v, g

q, k, v, g = run(16)
F.scaled_dot_product_attention(q, k, v, is_causal=causal).backward(g)  # warm-up
q, k, v, g = run(t)
import gc
gc.collect()
if reset_peak():
    before = status_mib("VmRSS:")
else:  # no reset: the process's peak so far is the baseline (over-estimates it)
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
out = F.scaled_dot_product_attention(q, k, v, is_causal=causal)
out.backward(g)
assert q.grad is not None and k.grad is not None and v.grad is not None
after = status_mib("VmHWM:")
print(json.dumps({"T": t, "inputs_mib": 4 * heads * t * d * 4 / 2**20, "before_mib": before, "peak_mib": after, "extra_mib": after - before}))
"""


def measure(t: int, heads: int = 1, d: int = 64, causal: bool = True, threads: int = 2) -> dict:
    """Peak-RSS figures (MiB) of one forward + backward at length `t`, run
    in a fresh interpreter: ``{"T", "inputs_mib", "before_mib", "peak_mib",
    "extra_mib"}``."""
    res = subprocess.run(
        [sys.executable, "-c", _CHILD, str(t), str(heads), str(d), "1" if causal else "0", str(threads)],
        capture_output=True,
        text=True,
        check=False,
    )
    if res.returncode != 0:
        raise RuntimeError(f"attn_memory: child for T={t} failed:\n{res.stderr[-2000:]}")
    return json.loads(res.stdout.strip().splitlines()[-1])


def main(argv=None) -> list[dict]:
    ap = argparse.ArgumentParser(prog="python -m dlcore.bench.attn_memory", description=__doc__.split("\n\n")[0])
    ap.add_argument("--lengths", type=int, nargs="+", default=[2048, 4096, 8192, 16384])
    ap.add_argument("--heads", type=int, default=1)
    ap.add_argument("--dim", type=int, default=64)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--no-causal", action="store_true")
    a = ap.parse_args(argv)
    rows = []
    print(f"causal={not a.no_causal} B=1 H={a.heads} d={a.dim} threads={a.threads}; peak RSS of fwd+bwd in a fresh process")
    print(f"{'T':>6} {'inputs MiB':>11} {'peak MiB':>9} {'extra MiB':>10} {'extra KiB/T':>12}")
    for t in a.lengths:
        r = measure(t, a.heads, a.dim, not a.no_causal, a.threads)
        rows.append(r)
        print(f"{t:>6} {r['inputs_mib']:>11.1f} {r['peak_mib']:>9.1f} {r['extra_mib']:>10.1f} {r['extra_mib'] * 1024 / t:>12.2f}")
    return rows


if __name__ == "__main__":
    main()
