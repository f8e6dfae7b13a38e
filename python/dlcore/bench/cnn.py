"""`cnn` group of ``python -m dlcore.bench``: the CNN layers other than
convolution (pooling, batch norm, activations, upsampling), each timed as
one forward + backward on identical data in dlcore and torch.

Shapes are those of a small ResNet / VGG stage at batch 32 (or 16) — memory
bound ops, so the figure that matters is time (bytes moved are about the
same in both libraries).
"""

from __future__ import annotations

import numpy as np

from .memory import reset_peak, rss_kib

# case -> (description, input shape, op(F, x) -> y, backward?)
_SPECS = {
    "maxpool2d_k3s2": ("max_pool2d 3x3 stride 2 pad 1, (16,64,56,56), fwd+bwd", (16, 64, 56, 56),
                       lambda F, x: F.max_pool2d(x, 3, 2, 1), True),
    "maxpool2d_k2": ("max_pool2d 2x2, (32,64,32,32), fwd+bwd", (32, 64, 32, 32),
                     lambda F, x: F.max_pool2d(x, 2), True),
    "avgpool2d_k2": ("avg_pool2d 2x2, (32,64,32,32), fwd+bwd", (32, 64, 32, 32),
                     lambda F, x: F.avg_pool2d(x, 2), True),
    "adaptive_avgpool_1": ("adaptive_avg_pool2d -> 1x1, (32,256,14,14), fwd+bwd", (32, 256, 14, 14),
                           lambda F, x: F.adaptive_avg_pool2d(x, 1), True),
    "batchnorm2d_train": ("BatchNorm2d(64) train, (32,64,32,32), fwd+bwd", (32, 64, 32, 32), None, True),
    "batchnorm2d_eval": ("BatchNorm2d(64) eval, (32,64,32,32), fwd", (32, 64, 32, 32), None, False),
    "gelu": ("gelu, (32,64,32,32), fwd+bwd", (32, 64, 32, 32), lambda F, x: F.gelu(x), True),
    "leaky_relu": ("leaky_relu 0.2, (32,64,32,32), fwd+bwd", (32, 64, 32, 32), lambda F, x: F.leaky_relu(x, 0.2), True),
    "upsample_bilinear2x": ("interpolate bilinear x2, (8,64,32,32), fwd+bwd", (8, 64, 32, 32),
                            lambda F, x: F.interpolate(x, scale_factor=2, mode="bilinear"), True),
}

# convolutions: (description, input shape, weight shape, kwargs) — the
# shapes the issue names; weights are seeded so both libraries use the same
_CONV_SPECS = {
    "conv3x3_64": ("conv2d 3x3 64->64, (32,64,32,32), pad 1, fwd+bwd", (32, 64, 32, 32), (64, 64, 3, 3), dict(padding=1)),
    "conv1x1_256_64": ("conv2d 1x1 256->64, (8,256,56,56), fwd+bwd", (8, 256, 56, 56), (64, 256, 1, 1), {}),
    "depthwise3x3": ("depthwise conv2d 3x3, (8,32,112,112), pad 1, fwd+bwd", (8, 32, 112, 112), (32, 1, 3, 3), dict(padding=1, groups=32)),
}
# 2·MACs per forward; backward is two more convolutions of the same size
_CONV_FLOPS = {
    name: 3 * 2 * xs[0] * ws[0] * (ws[1] * ws[2] * ws[3]) * (xs[2] * xs[3])
    for name, (_, xs, ws, _) in _CONV_SPECS.items()
}

CNN_CASES = {name: ("cnn", spec[0], _CONV_FLOPS[name]) for name, spec in _CONV_SPECS.items()}
CNN_CASES["lenet_step"] = ("cnn", "LeNet-style CNN batch 64, 28x28: fwd, cross_entropy, bwd, SGD momentum", None)
CNN_CASES.update({name: ("cnn", spec[0], None) for name, spec in _SPECS.items()})


def lenet_layers(m):
    """conv 1→32, pool, conv 32→64, pool, linear 3136→128→10 (the issue's LeNet)."""
    nn = m.nn
    return [nn.Conv2d(1, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2), nn.Conv2d(32, 64, 3, padding=1), nn.ReLU(),
            nn.MaxPool2d(2), nn.Flatten(), nn.Linear(3136, 128), nn.ReLU(), nn.Linear(128, 10)]


def _conv_step(name: str, m):
    _, xs, ws, kw = _CONV_SPECS[name]
    rng = np.random.default_rng(0)
    x = m.tensor(rng.standard_normal(xs).astype(np.float32), requires_grad=True)
    w = m.tensor((rng.standard_normal(ws) * 0.1).astype(np.float32), requires_grad=True)
    F = m.nn.functional
    g = m.tensor(rng.standard_normal((xs[0], ws[0], xs[2], xs[3])).astype(np.float32))

    def step():
        x.grad = w.grad = None
        y = F.conv2d(x, w, **kw)
        y.backward(g)
        return y

    return step


def build_cnn_case(name: str, m):
    """The step for `name` in library `m` (dlcore or torch) on seeded data."""
    if name in _CONV_SPECS:
        return _conv_step(name, m)
    desc, shape, op, backward = _SPECS[name]
    rng = np.random.default_rng(0)
    x_np = rng.standard_normal(shape).astype(np.float32)
    F = m.nn.functional
    x = m.tensor(x_np)
    if backward:
        x.requires_grad_()
    if op is None:  # batch norm: a module, so running stats are updated as in training
        bn = m.nn.BatchNorm2d(shape[1])
        if not backward:
            bn.eval()
        op = lambda F, t: bn(t)  # noqa: E731
    if not backward:
        ctx = m.no_grad

        def step():
            with ctx():
                return op(F, x)

        return step
    y0 = op(F, x)
    g = m.tensor(rng.standard_normal(tuple(y0.shape)).astype(np.float32))

    def step():
        x.grad = None
        y = op(F, x)
        y.backward(g)
        return y

    return step


# ------------------------------------------------------------- peak memory

def measure_step_memory(name: str, lib: str, steps: int = 3, threads: int = 2) -> dict:
    """Peak memory one case's step adds, in *this* process (call it in a fresh one).

    Builds the case (model, data, optimizer), resets the kernel's
    high-water mark to the current RSS, runs `steps` steps and reads the new
    high-water mark: ``peak_kib`` is how far training climbs above the built
    model and data — activations saved for backward, gradients, optimizer
    state and workspace, whichever library's allocator holds them. (Counting
    from after a warm-up step instead would favour an allocator that keeps
    freed memory mapped, as glibc does for torch's small blocks: its peak is
    then already "resting".)
    """
    import resource

    from dlcore.bench import build_case, set_threads

    set_threads(threads, lib == "torch")
    step, _ = build_case(name, lib)
    import gc

    gc.collect()
    base = rss_kib("VmRSS")
    exact = reset_peak()
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    for _ in range(steps):
        step()
    hwm = rss_kib("VmHWM") if exact else None
    after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    # without the reset only growth of the lifetime maximum is visible
    peak = (hwm - base) if (exact and hwm is not None and base is not None) else max(after - before, 0)
    return {"case": name, "lib": lib, "base_kib": base, "peak_kib": peak, "exact": exact}


# cases whose build runs nothing (so the first measured step allocates
# everything); the other cases run the op once while building
MEMORY_CASES = [*_CONV_SPECS, "lenet_step"]


def step_memory(name: str = "lenet_step", threads: int = 2, steps: int = 3, libs=("dlcore", "torch")) -> list[dict]:
    """`measure_step_memory` for each library, each in a fresh subprocess
    (so neither sees the other's allocations or import-time peaks)."""
    import json
    import subprocess
    import sys

    rows = []
    for lib in libs:
        code = (
            "import json; from dlcore.bench.cnn import measure_step_memory as m; "
            f"print(json.dumps(m({name!r}, {lib!r}, {steps}, {threads})))"
        )
        out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
        rows.append(json.loads(out.strip().splitlines()[-1]))
    return rows


def format_memory(rows: list[dict]) -> str:
    """One line per library: the step's peak above the resting process."""
    lines = ["peak memory of training steps above the built model and data (fresh process each, VmHWM):"]
    for r in rows:
        lines.append(f"  {r['case']:<16} {r['lib']:<7} {r['peak_kib'] / 1024:8.1f} MiB  (resting {r['base_kib'] / 1024:.0f} MiB)")
    return "\n".join(lines)
