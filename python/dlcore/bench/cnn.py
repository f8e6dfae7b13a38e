"""`cnn` group of ``python -m dlcore.bench``: the CNN layers other than
convolution (pooling, batch norm, activations, upsampling), each timed as
one forward + backward on identical data in dlcore and torch.

Shapes are those of a small ResNet / VGG stage at batch 32 (or 16) — memory
bound ops, so the figure that matters is time (bytes moved are about the
same in both libraries).
"""

from __future__ import annotations

import numpy as np

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

CNN_CASES = {name: ("cnn", spec[0], None) for name, spec in _SPECS.items()}


def build_cnn_case(name: str, m):
    """The step for `name` in library `m` (dlcore or torch) on seeded data."""
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
