"""Views and shape ops: view/reshape/permute/transpose/expand/squeeze/...,
basic indexing, setitem, contiguous/clone/to(dtype), strides and aliasing."""

import numpy as np
import pytest
from helpers import arg, check_op, dtype_name, import_torch

import dlcore

VIEWS = [
    ("view", (2, 3, 4), lambda m, a: a.view(6, 4)),
    ("view_tuple", (2, 3, 4), lambda m, a: a.view((4, 6))),
    ("view_-1", (2, 3, 4), lambda m, a: a.view(-1)),
    ("view_-1_mid", (2, 3, 4), lambda m, a: a.view(2, -1, 2)),
    ("view_0d", (), lambda m, a: a.view(1, 1)),
    ("view_to_0d", (1,), lambda m, a: a.view(())),
    ("view_empty", (0, 3), lambda m, a: a.view(3, 0)),
    ("reshape", (2, 3, 4), lambda m, a: a.reshape(4, 3, 2)),
    ("reshape_fn", (2, 3, 4), lambda m, a: m.reshape(a, (-1, 4))),
    ("reshape_empty", (2, 0, 4), lambda m, a: a.reshape(8, 0)),
    ("permute", (2, 3, 4), lambda m, a: a.permute(2, 0, 1)),
    ("permute_tuple", (2, 3, 4), lambda m, a: a.permute((1, 2, 0))),
    ("permute_fn_neg", (2, 3, 4), lambda m, a: m.permute(a, (-1, -3, -2))),
    ("transpose", (2, 3, 4), lambda m, a: a.transpose(0, 2)),
    ("transpose_neg", (2, 3, 4), lambda m, a: m.transpose(a, -1, -2)),
    ("transpose_same", (2, 3), lambda m, a: a.transpose(1, 1)),
    ("t", (3, 4), lambda m, a: a.t()),
    ("t_1d", (5,), lambda m, a: a.t()),
    ("T", (3, 4), lambda m, a: a.T),
    ("mT", (2, 3, 4), lambda m, a: a.mT),
    ("expand", (3, 1), lambda m, a: a.expand(3, 4)),
    ("expand_-1", (3, 1), lambda m, a: a.expand(-1, 5)),
    ("expand_new_dims", (3,), lambda m, a: a.expand(2, 4, 3)),
    ("expand_0d", (), lambda m, a: a.expand(2, 3)),
    ("expand_as", (1, 4), lambda m, a: a.expand_as(m.zeros(3, 4))),
    ("expand_to_empty", (1, 4), lambda m, a: a.expand(0, 4)),
    ("squeeze_all", (1, 3, 1, 4), lambda m, a: a.squeeze()),
    ("squeeze_dim", (1, 3, 1, 4), lambda m, a: a.squeeze(2)),
    ("squeeze_noop", (1, 3, 1, 4), lambda m, a: a.squeeze(1)),
    ("squeeze_neg", (1, 3, 1), lambda m, a: m.squeeze(a, -1)),
    ("squeeze_tuple", (1, 3, 1, 4), lambda m, a: a.squeeze((0, 2))),
    ("squeeze_0d", (), lambda m, a: a.squeeze()),
    ("unsqueeze0", (3, 4), lambda m, a: a.unsqueeze(0)),
    ("unsqueeze_end", (3, 4), lambda m, a: a.unsqueeze(2)),
    ("unsqueeze_neg", (3, 4), lambda m, a: m.unsqueeze(a, -1)),
    ("unsqueeze_neg3", (3, 4), lambda m, a: a.unsqueeze(-3)),
    ("unsqueeze_0d", (), lambda m, a: a.unsqueeze(0)),
    ("flatten", (2, 3, 4), lambda m, a: a.flatten()),
    ("flatten_start", (2, 3, 4), lambda m, a: a.flatten(1)),
    ("flatten_range", (2, 3, 4, 5), lambda m, a: m.flatten(a, 1, 2)),
    ("flatten_neg", (2, 3, 4, 5), lambda m, a: a.flatten(start_dim=-3, end_dim=-2)),
    ("flatten_0d", (), lambda m, a: a.flatten()),
    ("unflatten", (2, 12), lambda m, a: a.unflatten(1, (3, 4))),
    ("narrow", (5, 4), lambda m, a: a.narrow(0, 1, 3)),
    ("narrow_neg", (5, 4), lambda m, a: m.narrow(a, -1, 2, 2)),
    ("narrow_empty", (5, 4), lambda m, a: a.narrow(1, 4, 0)),
    ("contiguous", (3, 4), lambda m, a: a.t().contiguous()),
    ("clone", (3, 4), lambda m, a: a.clone()),
    ("clone_noncontig", (3, 4), lambda m, a: a.t().clone() * 2),
    ("view_as", (3, 4), lambda m, a: a.view_as(m.zeros(2, 6))),
    ("reshape_as", (3, 4), lambda m, a: a.t().reshape_as(m.zeros(12))),
    ("movedim", (2, 3, 4), lambda m, a: a.movedim(0, -1)),
    ("unbind", (3, 4), lambda m, a: a.unbind(1)),
    ("chain", (2, 3, 4), lambda m, a: a.permute(1, 0, 2).reshape(3, 8)[1:].t().unsqueeze(0).expand(2, 8, 2)),
]


@pytest.mark.parametrize("name,shape,fn", VIEWS, ids=[v[0] for v in VIEWS])
def test_view_ops(name, shape, fn, device):
    check_op(fn, [shape], device=device)


NONCONTIG_OK = {"view", "view_tuple", "view_-1", "view_-1_mid", "view_0d", "view_to_0d", "view_as", "t_1d"}


@pytest.mark.parametrize("name,shape,fn", VIEWS, ids=[v[0] for v in VIEWS])
def test_view_ops_non_contiguous_input(name, shape, fn):
    if name in NONCONTIG_OK or len(shape) == 0:
        pytest.skip("view() of a non-contiguous tensor is an error in torch (see test_errors)")
    check_op(fn, [shape], non_contiguous=True)


@pytest.mark.parametrize("name,shape,fn", VIEWS, ids=[v[0] for v in VIEWS])
def test_view_ops_integer(name, shape, fn):
    check_op(fn, [arg(shape, dtype="int64")], grad=False)


INDEXING = [
    ("int", (4, 5), lambda m, a: a[1]),
    ("neg_int", (4, 5), lambda m, a: a[-1]),
    ("int_int", (4, 5), lambda m, a: a[2, -3]),
    ("slice", (6, 5), lambda m, a: a[1:4]),
    ("slice_step", (7, 5), lambda m, a: a[::2]),
    ("slice_step3_offset", (7, 5), lambda m, a: a[1::3, 1:]),
    ("slice_neg", (6, 5), lambda m, a: a[-3:-1]),
    ("slice_clamped", (6, 5), lambda m, a: a[2:100]),
    ("slice_empty", (6, 5), lambda m, a: a[4:2]),
    ("slice_all", (6, 5), lambda m, a: a[:]),
    ("second_dim", (6, 5), lambda m, a: a[:, 2]),
    ("second_dim_slice", (6, 5), lambda m, a: a[:, 1:3]),
    ("none", (4, 5), lambda m, a: a[None]),
    ("none_mid", (4, 5), lambda m, a: a[:, None]),
    ("none_end", (4, 5), lambda m, a: a[..., None]),
    ("ellipsis", (2, 3, 4), lambda m, a: a[..., 1]),
    ("ellipsis_mid", (2, 3, 4), lambda m, a: a[0, ..., 1:]),
    ("ellipsis_none", (2, 3, 4), lambda m, a: a[None, ..., None, 0]),
    ("ellipsis_only", (2, 3), lambda m, a: a[...]),
    ("0d_ellipsis", (), lambda m, a: a[...]),
    ("0d_none", (), lambda m, a: a[None]),
    ("1d_int", (5,), lambda m, a: a[3]),
    ("3d_mixed", (3, 4, 5), lambda m, a: a[1:, -1, ::2]),
    ("size1", (1, 1, 3), lambda m, a: a[0, 0]),
    ("empty_dim", (0, 3), lambda m, a: a[:, 1]),
    ("twice", (5, 6), lambda m, a: a[1:][:, 2:][::2]),
]


@pytest.mark.parametrize("name,shape,fn", INDEXING, ids=[v[0] for v in INDEXING])
def test_basic_indexing(name, shape, fn, device):
    check_op(fn, [shape], device=device)


@pytest.mark.parametrize("name,shape,fn", INDEXING, ids=[v[0] for v in INDEXING])
def test_basic_indexing_non_contiguous(name, shape, fn):
    check_op(fn, [shape], non_contiguous=True)


def _set_int(m, a):
    b = a * 1
    b[1] = 0.5
    return b


def _set_slice_tensor(m, a, v):
    b = a.clone()
    b[:, 1:3] = v
    return b


def _set_broadcast(m, a, v):
    b = a + 0
    b[::2] = v  # v broadcasts over the selected rows
    return b


def _set_ellipsis(m, a):
    b = a * 2
    b[..., 0] = -1.0
    return b


@pytest.mark.parametrize(
    "fn,inputs",
    [
        (_set_int, [(4, 3)]),
        (_set_slice_tensor, [(4, 5), (4, 2)]),
        (_set_broadcast, [(5, 3), (3,)]),
        (_set_ellipsis, [(2, 3, 4)]),
    ],
    ids=["int", "slice_tensor", "broadcast", "ellipsis"],
)
def test_setitem_autograd(fn, inputs):
    check_op(fn, inputs)


def test_setitem_writes_through_views():
    a = dlcore.zeros(3, 4)
    v = a[1]
    v[2] = 7.0
    a.t()[0, 2] = 5.0
    assert a.tolist() == [[0, 0, 0, 0], [0, 0, 7, 0], [5, 0, 0, 0]]
    flat = a.view(12)
    flat[11] = 1.0
    assert a[2, 3].item() == 1.0


def test_views_share_storage_with_base():
    a = dlcore.zeros(2, 3)
    for v in [a.view(6), a.t(), a[0], a.unsqueeze(0), a.reshape(3, 2), a.expand(4, 2, 3)[0], a.flatten()]:
        assert v.data_ptr() >= a.data_ptr()
    a.view(6).add_(1)  # in-place through a view
    assert a.sum().item() == 6.0
    a.t().mul_(3)
    assert a.sum().item() == 18.0


@pytest.mark.parametrize(
    "fn",
    [
        lambda t: t,
        lambda t: t.t(),
        lambda t: t[:, ::2],
        lambda t: t[1:],
        lambda t: t.unsqueeze(1),
        lambda t: t.expand(2, 4, 6),
        lambda t: t.permute(1, 0),
        lambda t: t[None, :, 3],
        lambda t: t.t().contiguous(),
        lambda t: t.reshape(24),
        lambda t: t.t().reshape(24),
        lambda t: t[:, :1],
    ],
)
def test_strides_and_contiguity_match_torch(fn):
    torch = import_torch()

    d = fn(dlcore.zeros(4, 6))
    t = fn(torch.zeros(4, 6))
    assert tuple(d.shape) == tuple(t.shape)
    assert tuple(d.stride()) == tuple(t.stride())
    assert d.is_contiguous() == t.is_contiguous()
    assert d.storage_offset() == t.storage_offset()
    assert d.shape == t.shape  # dlcore.Size compares equal to a tuple / torch.Size
    assert d.size() == tuple(t.size()) and d.size(-1) == t.size(-1)


def test_reshape_copies_only_when_needed():
    a = dlcore.zeros(4, 6)
    assert a.reshape(24).data_ptr() == a.data_ptr()
    b = a.t().reshape(24)  # non-viewable: must copy
    b[0] = 1.0
    assert a.sum().item() == 0.0


# ---- dtype conversion --------------------------------------------------------

CONVERSIONS = [
    ("float32", "float64"),
    ("float64", "float32"),
    ("float32", "float16"),
    ("float32", "int64"),
    ("float32", "int32"),
    ("float32", "bool"),
    ("int64", "float32"),
    ("int32", "int64"),
    ("bool", "float32"),
    ("int64", "bool"),
    ("uint8", "float32"),
    ("float32", "uint8"),
]


@pytest.mark.parametrize("src,dst", CONVERSIONS, ids=str)
def test_to_dtype(src, dst):
    # Values with fractional parts and negatives: float->int truncates toward zero.
    lo, hi = (0, 200) if "uint8" in (src, dst) else (-3, 3)
    check_op(lambda m, a: a.to(getattr(m, dst)), [arg((3, 4), dtype=src, low=lo, high=hi)])
    check_op(lambda m, a: a.to(dtype=getattr(m, dst)), [arg((3, 4), dtype=src, low=lo, high=hi)], non_contiguous=True)


@pytest.mark.parametrize("method", ["float", "double", "long", "int", "bool", "half"])
def test_dtype_shorthands(method):
    check_op(lambda m, a: getattr(a, method)(), [arg((2, 3), low=-3, high=3)])


def test_to_same_dtype_returns_self():
    a = dlcore.ones(3)
    assert a.to(dlcore.float32) is a
    assert a.to("cpu") is a
    assert a.float() is a
    b = a.double()
    assert b is not a and dtype_name(b.dtype) == "float64"


def test_type_as_and_new_tensors():
    check_op(lambda m, a, b: a.type_as(b), [(3,), arg((3,), dtype="float64")])
    check_op(lambda m, a: a.new_zeros((2, 3)), [arg((3,), dtype="float64")])
    check_op(lambda m, a: a.new_ones(4), [arg((3,), dtype="int64")])
    check_op(lambda m, a: a.new_full((2,), 7), [arg((3,), dtype="int32")])


def test_detach_clone_contiguous_semantics():
    a = dlcore.ones(2, 3, requires_grad=True)
    c = a.t().contiguous()
    assert c.is_contiguous() and c.requires_grad
    same = a.contiguous()
    assert same is a
    d = a.detach()
    assert not d.requires_grad and d.data_ptr() == a.data_ptr()
    k = a.clone()
    assert k.data_ptr() != a.data_ptr() and k.requires_grad
