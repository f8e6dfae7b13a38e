"""F.interpolate / nn.Upsample and F.pad / padding modules against torch."""

import numpy as np
import pytest
from helpers import check_op, import_torch

import dlcore
import dlcore.nn as nn
import dlcore.nn.functional as F

torch = import_torch()

SIZES = [(5, 7), (1, 1), (2, 9), (10, 3), (4, 4)]
SCALES = [2, 3, 1.5, 0.5, 0.7, (2, 0.6), 1.3]


@pytest.mark.parametrize("mode,align", [("nearest", None), ("bilinear", False), ("bilinear", True)])
@pytest.mark.parametrize("size", SIZES, ids=str)
def test_interpolate_size(mode, align, size):
    for shape in [(2, 3, 4, 5), (1, 1, 3, 3), (1, 2, 7, 2)]:
        check_op(lambda m, a: m.nn.functional.interpolate(a, size=size, mode=mode, align_corners=align), [shape])


@pytest.mark.parametrize("mode,align", [("nearest", None), ("bilinear", False), ("bilinear", True)])
@pytest.mark.parametrize("scale", SCALES, ids=str)
@pytest.mark.parametrize("recompute", [None, True])
def test_interpolate_scale_factor(mode, align, scale, recompute):
    for shape in [(2, 3, 4, 5), (1, 1, 7, 9)]:
        check_op(
            lambda m, a: m.nn.functional.interpolate(a, scale_factor=scale, mode=mode, align_corners=align, recompute_scale_factor=recompute),
            [shape],
        )


@pytest.mark.parametrize("mode,align", [("nearest", None), ("linear", False), ("linear", True)])
@pytest.mark.parametrize("kw", [{"size": 9}, {"size": 2}, {"scale_factor": 2}, {"scale_factor": 0.6}], ids=str)
def test_interpolate_1d(mode, align, kw):
    check_op(lambda m, a: m.nn.functional.interpolate(a, mode=mode, align_corners=align, **kw), [(2, 3, 5)])


def test_interpolate_non_contiguous_float64_double_backward():
    fn = lambda m, a: m.nn.functional.interpolate(a, scale_factor=1.7, mode="bilinear")  # noqa: E731
    check_op(fn, [(2, 3, 5, 6)], non_contiguous=True)
    check_op(fn, [(2, 3, 5, 6)], dtype="float64")

    def second(m, a):
        (g,) = m.autograd.grad((fn(m, a) ** 3).sum(), a, create_graph=True)
        return g

    check_op(second, [(1, 2, 4, 3)], dtype="float64")


@pytest.mark.parametrize("args", [dict(scale_factor=2), dict(size=(3, 7), mode="bilinear"), dict(scale_factor=2, mode="bilinear", align_corners=True)], ids=str)
def test_upsample_modules(args):
    check_op(lambda m, a: m.nn.Upsample(**args)(a), [(1, 2, 4, 5)])
    assert repr(nn.Upsample(**args)) == repr(torch.nn.Upsample(**args))
    check_op(lambda m, a: m.nn.UpsamplingBilinear2d(scale_factor=2)(a), [(1, 2, 3, 3)])
    check_op(lambda m, a: m.nn.UpsamplingNearest2d(size=(5, 4))(a), [(1, 2, 3, 3)])


def test_interpolate_errors():
    x = dlcore.randn(1, 1, 4, 4)
    with pytest.raises(ValueError, match="only one of size or scale_factor"):
        F.interpolate(x, size=2, scale_factor=2)
    with pytest.raises(ValueError, match="align_corners option can only be set with the interpolating modes"):
        F.interpolate(x, size=2, align_corners=True)
    with pytest.raises(NotImplementedError, match="bilinear"):
        F.interpolate(dlcore.randn(1, 1, 4), size=2, mode="bilinear")
    with pytest.raises(NotImplementedError):
        torch.nn.functional.interpolate(torch.randn(1, 1, 4), size=2, mode="bilinear")
    with pytest.raises(NotImplementedError, match="bicubic"):
        F.interpolate(x, size=2, mode="bicubic")
    with pytest.raises(RuntimeError, match="interpolate: input .* and output .* sizes should be greater than 0"):
        F.interpolate(x, scale_factor=0.1)


PADS = [
    ((1, 2), (2, 3, 5)),
    ((0, 0, 2, 1), (2, 3, 4, 5)),
    ((2, 2, 1, 1), (3, 4, 5)),
    ((1, 0, 0, 2, 1, 1), (1, 2, 3, 4, 5)),
    ((3, 1), (4, 6)),
]


@pytest.mark.parametrize("mode", ["constant", "reflect", "replicate", "circular"])
@pytest.mark.parametrize("pad,shape", PADS, ids=str)
def test_pad(mode, pad, shape):
    if mode != "constant" and not (len(pad) // 2 + 1 <= len(shape) <= len(pad) // 2 + 2):
        pytest.skip("torch supports non-constant padding only on the last dims of (k+1)/(k+2)-D input")
    check_op(lambda m, a: m.nn.functional.pad(a, pad, mode=mode), [shape])
    check_op(lambda m, a: m.nn.functional.pad(a, pad, mode=mode), [shape], non_contiguous=True)


def test_pad_constant_value_negative_and_any_rank():
    check_op(lambda m, a: m.nn.functional.pad(a, (1, 1, 2, 0), value=3.5), [(2, 3, 4)])
    check_op(lambda m, a: m.nn.functional.pad(a, (-1, 2, 0, -2)), [(2, 5, 4)])
    check_op(lambda m, a: m.nn.functional.pad(a, (1, 1, 1, 1, 1, 1, 1, 1)), [(2, 2, 2, 2)])
    check_op(lambda m, a: m.nn.functional.pad(a, (2, 3)), [(7,)])
    check_op(lambda m, a: m.nn.functional.pad(a, (1, 1), value=2), [np.arange(6).reshape(2, 3)], grad=False)


@pytest.mark.parametrize("name,args", [
    ("ZeroPad2d", ((1, 2, 0, 1),)), ("ConstantPad2d", (2, 1.5)), ("ConstantPad1d", ((1, 3), -1.0)),
    ("ReflectionPad2d", (1,)), ("ReflectionPad1d", ((2, 1),)), ("ReplicationPad2d", ((1, 0, 2, 1),)), ("ReplicationPad1d", (3,)),
], ids=str)
def test_pad_modules(name, args):
    check_op(lambda m, a: getattr(m.nn, name)(*args)(a), [(2, 3, 4, 5) if name.endswith("2d") else (2, 3, 5)])


def test_pad_errors():
    x = dlcore.randn(1, 2, 3)
    with pytest.raises(ValueError, match="Padding length must be divisible by 2"):
        F.pad(x, (1, 2, 3))
    with pytest.raises(ValueError, match="Padding length should be less than or equal to two times the input dimension"):
        F.pad(x, (1,) * 8)
    with pytest.raises(RuntimeError, match=r"pad: Padding size should be less than the corresponding input dimension, but got: padding \(3, 3\)"):
        F.pad(x, (3, 3), mode="reflect")
    with pytest.raises(RuntimeError):
        torch.nn.functional.pad(torch.randn(1, 2, 3), (3, 3), mode="reflect")
    with pytest.raises(NotImplementedError, match="pad: unsupported padding mode 'wrap'"):
        F.pad(x, (1, 1), mode="wrap")
