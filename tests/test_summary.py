"""conv_output_shape, forward hooks and dlcore.summary."""

import pytest
from helpers import import_torch

import dlcore
import dlcore.nn as nn
from dlcore.nn.utils import conv_output_shape, conv_transpose_output_shape

torch = import_torch()


@pytest.mark.parametrize("w", [1, 5, 7, 28, 32, 227])
@pytest.mark.parametrize("k,s,p,d", [(1, 1, 0, 1), (3, 1, 1, 1), (3, 2, 1, 1), (5, 2, 2, 1), (3, 1, 2, 2), (11, 4, 0, 1), (2, 2, 0, 1)])
def test_conv_output_shape_matches_torch_pooling_arithmetic(w, k, s, p, d):
    if w + 2 * p < d * (k - 1) + 1:
        with pytest.raises(ValueError, match="output size"):
            conv_output_shape(w, k, s, p, d)
        return
    want = (w + 2 * p - d * (k - 1) - 1) // s + 1  # (W1 - F + 2P)/S + 1 with dilation
    assert conv_output_shape(w, k, s, p, d) == want
    assert conv_output_shape((w, w + 1), k, s, p, d) == (want, conv_output_shape(w + 1, k, s, p, d))
    if p <= k // 2:  # torch's pooling uses the same arithmetic (and ceil_mode)
        for ceil in (False, True):
            y = torch.nn.functional.max_pool2d(torch.zeros(1, 1, w, w), k, s, p, d, ceil_mode=ceil)
            assert conv_output_shape((w, w), k, s, p, d, ceil_mode=ceil) == tuple(y.shape[-2:])


def test_conv_output_shape_forms_and_errors():
    assert conv_output_shape(227, 11, stride=4) == 55
    assert conv_output_shape((32, 30), (3, 5), padding="same") == (32, 30)
    assert conv_output_shape((32, 30), (3, 5), padding="valid") == (30, 26)
    assert conv_output_shape((8, 9), (3, 1), (2, 1), (1, 0)) == (4, 9)
    assert conv_transpose_output_shape((16, 16), 4, 2, 1) == (32, 32)
    assert conv_transpose_output_shape(7, 3, 2, 1, output_padding=1) == 14
    with pytest.raises(ValueError, match="output size 0 <= 0 for input 2, kernel 3"):
        conv_output_shape(2, 3)
    with pytest.raises(ValueError, match="stride"):
        conv_output_shape(8, 3, stride=0)
    with pytest.raises(ValueError, match="'same' is not supported for strided"):
        conv_output_shape(8, 3, stride=2, padding="same")


def test_forward_hooks_and_handles():
    m = nn.Sequential(nn.Linear(2, 3), nn.ReLU())
    calls = []
    h1 = m[0].register_forward_pre_hook(lambda mod, args: calls.append(("pre", tuple(args[0].shape))))
    h2 = m[0].register_forward_hook(lambda mod, args, out: calls.append(("post", tuple(out.shape))))
    h3 = m[1].register_forward_hook(lambda mod, args, out: out * 0)  # replaces the output
    y = m(dlcore.ones(4, 2))
    assert calls == [("pre", (4, 2)), ("post", (4, 3))] and y.abs().sum().item() == 0
    for h in (h1, h2, h3):
        h.remove()
    h1.remove()  # removing twice is harmless
    calls.clear()
    assert m(dlcore.ones(1, 2)).shape == (1, 3) and calls == []
    order = []
    m.register_forward_hook(lambda *a: order.append("a"))
    m.register_forward_hook(lambda *a: order.append("b"), prepend=True)
    m(dlcore.ones(1, 2))
    assert order == ["b", "a"]
    pre = nn.Identity()
    pre.register_forward_pre_hook(lambda mod, args: args[0] + 1)  # a single value is wrapped
    assert pre(dlcore.zeros(2)).tolist() == [1.0, 1.0]


class FakeConv2d(nn.Module):
    """Stands in for a Conv2d with torch's attribute names (summary must only rely on those)."""

    def __init__(self, cin, cout, k, stride=1, padding=0, groups=1):
        super().__init__()
        self.in_channels, self.out_channels, self.kernel_size = cin, cout, (k, k)
        self.stride, self.padding, self.dilation, self.groups = (stride, stride), (padding, padding), (1, 1), groups
        self.weight = nn.Parameter(dlcore.zeros(cout, cin // groups, k, k))
        self.bias = nn.Parameter(dlcore.zeros(cout))

    def forward(self, x):
        h, w = conv_output_shape(tuple(x.shape[-2:]), self.kernel_size, self.stride, self.padding)
        return dlcore.zeros(x.shape[0], self.out_channels, h, w)


def test_summary_lenet_shapes_params_macs():
    m = nn.Sequential(
        FakeConv2d(1, 32, 3, padding=1), nn.BatchNorm2d(32), nn.ReLU(), nn.MaxPool2d(2),
        FakeConv2d(32, 64, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Flatten(), nn.Linear(3136, 128), nn.ReLU(), nn.Linear(128, 10),
    )
    m.train()
    s = dlcore.summary(m, (2, 1, 28, 28))
    assert [tuple(layer.output_shape) for layer in s.layers] == [
        (2, 32, 28, 28), (2, 32, 28, 28), (2, 32, 28, 28), (2, 32, 14, 14),
        (2, 64, 14, 14), (2, 64, 14, 14), (2, 64, 7, 7), (2, 3136), (2, 128), (2, 128), (2, 10),
    ]
    assert [layer.params for layer in s.layers] == [320, 64, 0, 0, 18496, 0, 0, 0, 401536, 0, 1290]
    assert s.total_params == sum(p.numel() for p in m.parameters())
    conv1 = 2 * 32 * 28 * 28 * 1 * 9
    conv2 = 2 * 64 * 14 * 14 * 32 * 9
    assert s.layers[0].macs == conv1 and s.layers[4].macs == conv2
    assert s.layers[1].macs == 2 * 32 * 28 * 28
    assert s.total_macs == conv1 + conv2 + 2 * 32 * 28 * 28 + 2 * 3136 * 128 + 2 * 128 * 10
    # summary leaves the model as it was: training mode, running stats untouched, no hooks
    assert m.training and m[1].num_batches_tracked.item() == 0
    assert not any(mod.__dict__.get("_forward_hooks") for mod in m.modules())
    text = str(s)
    assert "Total params: 421,706" in text and "(2, 64, 7, 7)" in text and "MaxPool2d" in text


def test_summary_depth_groups_and_tuple_outputs():
    block = nn.Sequential(FakeConv2d(8, 8, 3, padding=1, groups=8), nn.ReLU())
    m = nn.Sequential(block, nn.MaxPool2d(2, return_indices=True))
    s = dlcore.summary(m, (1, 8, 6, 6), depth=1)
    assert [layer.name for layer in s.layers] == ["0", "1"]
    assert s.layers[0].macs == 8 * 6 * 6 * 1 * 9  # depthwise: in_channels / groups = 1
    assert s.layers[1].output_shape == [[1, 8, 3, 3], [1, 8, 3, 3]]
    frozen = nn.Linear(3, 3)
    frozen.weight.requires_grad_(False)
    s = dlcore.summary(frozen, (1, 3))
    assert (s.total_params, s.trainable_params) == (12, 3)


@pytest.mark.skipif(not hasattr(nn, "Conv2d"), reason="nn.Conv2d lands with the convolution work of issue 4")
def test_summary_with_real_conv_matches_torch_param_count():
    m = nn.Sequential(nn.Conv2d(3, 16, 3, padding=1), nn.BatchNorm2d(16), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(16, 10))
    t = torch.nn.Sequential(torch.nn.Conv2d(3, 16, 3, padding=1), torch.nn.BatchNorm2d(16), torch.nn.ReLU(), torch.nn.AdaptiveAvgPool2d(1), torch.nn.Flatten(), torch.nn.Linear(16, 10))
    s = dlcore.summary(m, (1, 3, 8, 8))
    assert s.total_params == sum(p.numel() for p in t.parameters())
    assert s.layers[0].macs == 16 * 8 * 8 * 3 * 9
