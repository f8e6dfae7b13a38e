"""conv1d / conv2d / conv_transpose2d and their modules vs torch, forward and
backward, over a grid of kernel sizes, strides, paddings, dilations, groups,
odd spatial sizes and batch 1; plus the error paths."""

import numpy as np
import pytest
from helpers import check_op, import_torch

import dlcore
import dlcore.nn as nn
import dlcore.nn.functional as F

CONV2D = [
    # (x shape, w shape, kwargs)
    ((2, 3, 7, 6), (4, 3, 3, 3), dict(padding=1)),
    ((1, 3, 5, 5), (2, 3, 1, 1), dict()),
    ((2, 4, 9, 8), (6, 2, 3, 2), dict(stride=2, padding=(1, 0), dilation=(2, 1), groups=2)),
    ((2, 4, 8, 8), (4, 1, 3, 3), dict(padding=1, groups=4)),  # depthwise
    ((1, 2, 9, 9), (4, 1, 3, 3), dict(padding=2, dilation=2, groups=2)),  # depthwise multiplier 2
    ((2, 3, 11, 7), (5, 3, 5, 3), dict(stride=(3, 2), padding=(2, 1))),
    ((1, 3, 6, 5), (2, 3, 4, 4), dict(padding="same")),
    ((2, 3, 6, 5), (2, 3, 3, 2), dict(padding="valid")),
    ((2, 8, 6, 6), (16, 8, 1, 1), dict(stride=2)),  # strided 1x1 (the im2col path)
    ((1, 1, 1, 1), (1, 1, 1, 1), dict()),
    ((3, 2, 4, 4), (2, 2, 4, 4), dict()),  # kernel = input: 1x1 output
]


@pytest.mark.parametrize("xs,ws,kw", CONV2D, ids=[str(i) for i in range(len(CONV2D))])
@pytest.mark.parametrize("bias", [True, False])
def test_conv2d(xs, ws, kw, bias):
    args = [xs, ws] + ([(ws[0],)] if bias else [])
    check_op(lambda m, x, w, *b: m.nn.functional.conv2d(x, w, *b, **kw), args, rtol=1e-4, atol=1e-4)


def test_conv2d_float64_and_non_contiguous():
    check_op(lambda m, x, w: m.nn.functional.conv2d(x, w, padding=1), [(2, 3, 5, 5), (4, 3, 3, 3)], dtype="float64")
    check_op(lambda m, x, w: m.nn.functional.conv2d(x.transpose(2, 3), w, stride=2), [(2, 3, 6, 7), (2, 3, 3, 3)], rtol=1e-4, atol=1e-4)


def test_conv2d_unbatched():
    check_op(lambda m, x, w: m.nn.functional.conv2d(x, w, padding=1), [(3, 6, 6), (2, 3, 3, 3)], rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize(
    "xs,ws,kw",
    [((2, 3, 10), (4, 3, 3), dict(padding=1)), ((1, 4, 9), (4, 2, 2), dict(stride=2, groups=2)), ((3, 7), (2, 3, 3), dict(dilation=2)), ((2, 3, 8), (2, 3, 4), dict(padding="same"))],
)
def test_conv1d(xs, ws, kw):
    check_op(lambda m, x, w, b: m.nn.functional.conv1d(x, w, b, **kw), [xs, ws, (ws[0],)], rtol=1e-4, atol=1e-4)


# batch 9 with gh·gw not a multiple of 32: forward and input gradient put
# several samples' panels side by side in one GEMM (ops/conv.rs
# samples_per_gemm), with a shorter last block; groups and bias included
BATCHED = [
    ((9, 3, 7, 7), (5, 3, 3, 3), dict(padding=1)),
    ((9, 4, 6, 5), (6, 2, 3, 3), dict(padding=1, groups=2)),
    ((9, 2, 5, 7), (3, 2, 2, 3), dict(stride=1)),
    ((11, 1, 9, 9), (4, 1, 3, 3), dict(padding=1)),  # LeNet's first layer shape
]


@pytest.mark.parametrize("xs,ws,kw", BATCHED, ids=[str(i) for i in range(len(BATCHED))])
@pytest.mark.parametrize("threads", [1, 2])
def test_conv2d_several_samples_per_gemm(xs, ws, kw, threads):
    old = dlcore.get_num_threads()
    dlcore.set_num_threads(threads)
    try:
        check_op(lambda m, x, w, b: m.nn.functional.conv2d(x, w, b, **kw), [xs, ws, (ws[0],)], rtol=1e-4, atol=1e-4)
        cin = xs[1]
        wt = (cin, ws[0] // kw.get("groups", 1), ws[2], ws[3])
        check_op(lambda m, x, w: m.nn.functional.conv_transpose2d(x, w, **{**kw, "padding": 0}), [xs, wt], rtol=1e-4, atol=1e-4)
    finally:
        dlcore.set_num_threads(old)


TRANSPOSED = [
    ((2, 4, 5, 5), (4, 3, 3, 3), dict()),
    ((1, 4, 5, 4), (4, 2, 4, 4), dict(stride=2, padding=1)),
    ((2, 4, 3, 5), (4, 1, 3, 2), dict(stride=(2, 3), padding=(1, 0), output_padding=(1, 2), groups=2)),
    ((1, 2, 4, 4), (2, 3, 3, 3), dict(dilation=2, padding=1)),
    ((2, 3, 1, 1), (3, 8, 4, 4), dict()),  # DCGAN's first layer: 1x1 → 4x4
]


@pytest.mark.parametrize("xs,ws,kw", TRANSPOSED, ids=[str(i) for i in range(len(TRANSPOSED))])
def test_conv_transpose2d(xs, ws, kw):
    cout = ws[1] * kw.get("groups", 1)
    check_op(lambda m, x, w, b: m.nn.functional.conv_transpose2d(x, w, b, **kw), [xs, ws, (cout,)], rtol=1e-4, atol=1e-4)


def test_modules_match_torch_shapes_keys_and_outputs():
    torch = import_torch()
    cases = [
        (nn.Conv2d(3, 8, 3, stride=2, padding=1, bias=False), "Conv2d", dict(in_channels=3, out_channels=8, kernel_size=3, stride=2, padding=1, bias=False), (2, 3, 9, 9)),
        (nn.Conv1d(4, 6, 5, padding="same", groups=2), "Conv1d", dict(in_channels=4, out_channels=6, kernel_size=5, padding="same", groups=2), (2, 4, 11)),
        (nn.ConvTranspose2d(8, 4, 4, stride=2, padding=1), "ConvTranspose2d", dict(in_channels=8, out_channels=4, kernel_size=4, stride=2, padding=1), (1, 8, 5, 5)),
    ]
    for ours, name, kwargs, xs in cases:
        if torch is None:
            continue
        theirs = getattr(torch.nn, name)(**kwargs)
        assert list(ours.state_dict()) == list(theirs.state_dict())
        assert [tuple(p.shape) for p in ours.parameters()] == [tuple(p.shape) for p in theirs.parameters()]
        assert sum(p.numel() for p in ours.parameters()) == sum(p.numel() for p in theirs.parameters())
        ours.load_state_dict({k: v.detach().numpy() for k, v in theirs.state_dict().items()})
        x = np.random.default_rng(0).standard_normal(xs).astype(np.float32)
        np.testing.assert_allclose(ours(dlcore.tensor(x)).detach().numpy(), theirs(torch.tensor(x)).detach().numpy(), rtol=1e-4, atol=1e-5)


def test_default_init_bounds_match_torch():
    m = nn.Conv2d(6, 4, 3, groups=2)
    fan_in = 3 * 3 * 3
    assert float(m.weight.abs().max().item()) <= 1 / np.sqrt(fan_in) + 1e-6
    assert float(m.bias.abs().max().item()) <= 1 / np.sqrt(fan_in) + 1e-6


def test_conv_transpose_output_size_argument():
    up = nn.ConvTranspose2d(2, 2, 3, stride=2, padding=1)
    x = dlcore.randn(1, 2, 4, 4)
    assert up(x).shape == (1, 2, 7, 7)
    assert up(x, output_size=(8, 8)).shape == (1, 2, 8, 8)
    with pytest.raises(ValueError, match="output size"):
        up(x, output_size=(10, 10))


@pytest.mark.parametrize(
    "call,exc,words",
    [
        (lambda: F.conv2d(dlcore.ones(1, 3, 5, 5), dlcore.ones(2, 2, 3, 3)), RuntimeError, ["conv2d", "groups"]),
        (lambda: F.conv2d(dlcore.ones(1, 4, 5, 5), dlcore.ones(3, 2, 3, 3), groups=2), RuntimeError, ["conv2d", "divisible"]),
        (lambda: F.conv2d(dlcore.ones(1, 3, 2, 2), dlcore.ones(2, 3, 3, 3)), RuntimeError, ["kernel size"]),
        (lambda: F.conv2d(dlcore.ones(3, 5), dlcore.ones(2, 3, 3, 3)), RuntimeError, ["conv2d", "(3, 5)"]),
        (lambda: F.conv2d(dlcore.ones(1, 3, 5, 5), dlcore.ones(2, 3, 3, 3), stride=2, padding="same"), ValueError, ["same"]),
        (lambda: F.conv2d(dlcore.ones(1, 3, 5, 5), dlcore.ones(2, 3, 3, 3), bias=dlcore.ones(3)), RuntimeError, ["bias"]),
        (lambda: F.conv2d(dlcore.ones(1, 3, 5, 5, dtype=dlcore.float64), dlcore.ones(2, 3, 3, 3)), RuntimeError, ["dtype"]),
        (lambda: nn.Conv2d(3, 4, 3, groups=2), ValueError, ["divisible"]),
        (lambda: F.conv_transpose2d(dlcore.ones(1, 2, 3, 3), dlcore.ones(2, 2, 3, 3), stride=2, output_padding=2), RuntimeError, ["output padding"]),
    ],
)
def test_errors(call, exc, words):
    with pytest.raises(exc) as info:
        call()
    for w in words:
        assert w.lower() in str(info.value).lower(), (w, str(info.value))


def test_lenet_trains():
    dlcore.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.ReLU(), nn.Conv2d(4, 8, 3, stride=2), nn.ReLU(), nn.Flatten(), nn.Linear(8 * 3 * 3, 2))
    x = dlcore.randn(16, 1, 8, 8)
    y = (x.mean((1, 2, 3)) > 0).long()
    opt = dlcore.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    losses = []
    for _ in range(30):
        loss = F.cross_entropy(model(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < 0.5 * losses[0]
