"""Joining and splitting (cat/stack/split/chunk), gather/scatter/index_select,
advanced indexing with integer tensors and boolean masks."""

import numpy as np
import pytest
from helpers import arg, check_op, nograd

import dlcore


# ---- cat / stack ----------------------------------------------------------------

@pytest.mark.parametrize(
    "shapes,dim",
    [
        (((2, 3), (4, 3)), 0),
        (((2, 3), (2, 5)), 1),
        (((2, 3), (2, 1), (2, 4)), -1),
        (((2, 3, 4), (2, 1, 4)), 1),
        (((0, 3), (2, 3)), 0),
        (((2, 3), (0, 3), (1, 3)), 0),
        (((3,), (4,)), 0),
        (((5,),), 0),
        (((1, 1), (1, 1)), 1),
    ],
    ids=str,
)
def test_cat(shapes, dim, device):
    check_op(lambda m, *ts: m.cat(ts, dim=dim), list(shapes), device=device)
    check_op(lambda m, *ts: m.cat(list(ts), dim), list(shapes), non_contiguous=True)


def test_cat_promotes_dtypes():
    check_op(lambda m, a, b: m.cat([a, b]), [arg((2,), dtype="int64"), arg((3,), dtype="float32")], grad=False)


@pytest.mark.parametrize("dim", [0, 1, 2, -1, -3])
@pytest.mark.parametrize("shape", [(2, 3), (1, 1), (0, 4)], ids=str)
def test_stack(dim, shape, device):
    check_op(lambda m, a, b, c: m.stack([a, b, c], dim=dim), [shape] * 3, device=device)
    check_op(lambda m, a, b: m.stack((a, b), dim), [shape] * 2, non_contiguous=True)


def test_stack_0d():
    check_op(lambda m, a, b: m.stack([a, b]), [(), ()])


# ---- split / chunk -------------------------------------------------------------

@pytest.mark.parametrize(
    "shape,arg_,dim",
    [
        ((6, 4), 2, 0),
        ((7, 4), 3, 0),  # uneven: 3, 3, 1
        ((4, 7), 3, 1),
        ((4, 7), [2, 5], 1),
        ((4, 7), [0, 7], -1),
        ((5,), 10, 0),
        ((0, 3), 2, 0),
    ],
    ids=str,
)
def test_split(shape, arg_, dim):
    check_op(lambda m, a: m.split(a, arg_, dim=dim), [shape])
    check_op(lambda m, a: a.split(arg_, dim), [shape], non_contiguous=True)


@pytest.mark.parametrize(
    "shape,chunks,dim",
    [((6, 4), 3, 0), ((7, 4), 3, 0), ((5, 4), 4, 0), ((4, 6), 4, 1), ((1, 3), 2, 0), ((3, 2), 5, -1)],
    ids=str,
)
def test_chunk(shape, chunks, dim):
    """chunk() may return fewer chunks than asked (torch: 5 rows into 4 -> 3 chunks)."""
    check_op(lambda m, a: m.chunk(a, chunks, dim=dim), [shape])
    check_op(lambda m, a: a.chunk(chunks, dim), [shape], non_contiguous=True)


def test_split_outputs_used_partially():
    # Only one piece reaches the loss: the others get zero gradient.
    check_op(lambda m, a: a.split(2, dim=1)[1] * 3, [(3, 5)])
    check_op(lambda m, a: a.chunk(2)[0].sum() + a.chunk(2)[1].mean(), [(4, 3)])


# ---- gather / scatter / index_select -----------------------------------------------

def _idx(shape, high, seed=0):
    return nograd(np.random.default_rng(seed).integers(0, high, size=shape).astype("int64"))


@pytest.mark.parametrize(
    "shape,dim,idx_shape",
    [((3, 4), 0, (2, 4)), ((3, 4), 1, (3, 6)), ((3, 4), 1, (2, 2)), ((2, 3, 4), -1, (2, 3, 1)), ((5,), 0, (7,)), ((3, 4), 1, (3, 0))],
    ids=str,
)
def test_gather(shape, dim, idx_shape):
    idx = _idx(idx_shape, shape[dim])
    check_op(lambda m, a, i: m.gather(a, dim, i), [shape, idx])
    check_op(lambda m, a, i: a.gather(dim, i), [shape, idx], non_contiguous=True)


def _perm_index(shape, dim, seed=0):
    """Index for scatter with no duplicate targets along dim (deterministic grads)."""
    rng = np.random.default_rng(seed)
    idx = np.stack([rng.permutation(shape[dim]) for _ in range(int(np.prod(shape)) // shape[dim])])
    return np.moveaxis(idx.reshape(*[s for i, s in enumerate(shape) if i != dim], shape[dim]), -1, dim).astype("int64")


@pytest.mark.parametrize("shape,dim", [((3, 4), 0), ((3, 4), 1), ((2, 3, 4), 2), ((6,), 0)], ids=str)
def test_scatter(shape, dim):
    idx = nograd(_perm_index(shape, dim))
    check_op(lambda m, a, i, s: a.scatter(dim, i, s), [shape, idx, shape])
    check_op(lambda m, a, i: m.scatter(a, dim, i, 2.5), [shape, idx])


@pytest.mark.parametrize("shape,dim", [((3, 4), 0), ((3, 4), 1), ((5,), 0)], ids=str)
def test_scatter_add_with_duplicates(shape, dim):
    idx = _idx(shape, shape[dim], seed=3)
    check_op(lambda m, a, i, s: a.scatter_add(dim, i, s), [shape, idx, shape])
    check_op(lambda m, i, s: m.zeros(shape).scatter_add_(dim, i, s), [idx, shape])


@pytest.mark.parametrize(
    "shape,dim,idx",
    [((5, 3), 0, [4, 0, 2]), ((5, 3), 1, [2, 2, 0, 1]), ((5,), 0, [1, 1, 1]), ((2, 3, 4), 2, [3]), ((4, 3), 0, [])],
    ids=str,
)
def test_index_select(shape, dim, idx):
    i = nograd(np.array(idx, dtype="int64"))
    check_op(lambda m, a, j: m.index_select(a, dim, j), [shape, i])
    check_op(lambda m, a, j: a.index_select(dim, j), [shape, i], non_contiguous=True)


def test_index_add_and_masked_fill():
    i = nograd(np.array([0, 2, 0], dtype="int64"))
    check_op(lambda m, a, j, s: a.index_add(0, j, s), [(4, 3), i, (3, 3)])
    mask = arg((3, 4), dtype="bool")
    check_op(lambda m, a, k: a.masked_fill(k, -1.5), [(3, 4), mask])
    check_op(lambda m, a, k: a.masked_fill(k, float("-inf")).softmax(-1), [(3, 4), nograd(np.eye(3, 4, dtype=bool))])
    check_op(lambda m, a, k: m.masked_fill(a, k, 0.0), [(3, 4), arg((4,), dtype="bool")])


# ---- advanced indexing ------------------------------------------------------------

def _t(m, data, dtype="int64"):
    return m.tensor(np.asarray(data), dtype=getattr(m, dtype))


ADVANCED = [
    ("int_tensor", (5, 3), lambda m, a: a[_t(m, [4, 0, 2])]),
    ("duplicates", (5, 3), lambda m, a: a[_t(m, [1, 1, 3, 1])]),
    ("negative", (5, 3), lambda m, a: a[_t(m, [-1, -5, 0])]),
    ("list", (5, 3), lambda m, a: a[[0, 2, 2]]),
    ("2d_index", (5, 3), lambda m, a: a[_t(m, [[0, 1], [4, 4]])]),
    ("second_dim", (5, 3), lambda m, a: a[:, _t(m, [2, 0])]),
    ("pair", (5, 3), lambda m, a: a[_t(m, [0, 4, 4]), _t(m, [2, 1, 1])]),
    ("pair_broadcast", (5, 3), lambda m, a: a[_t(m, [[0], [3]]), _t(m, [0, 2])]),
    ("int_and_tensor", (4, 5, 6), lambda m, a: a[1, _t(m, [0, 4])]),
    ("slice_and_tensor", (4, 5, 6), lambda m, a: a[1:3, :, _t(m, [5, 0, 5])]),
    ("separated", (4, 5, 6), lambda m, a: a[_t(m, [0, 3]), :, _t(m, [1, 2])]),  # adv dims move to front
    ("ellipsis_tensor", (4, 5, 6), lambda m, a: a[..., _t(m, [1])]),
    ("none_tensor", (4, 5), lambda m, a: a[None, _t(m, [2, 3])]),
    ("empty_index", (4, 5), lambda m, a: a[_t(m, np.zeros((0,), dtype="int64"))]),
    ("int32_index", (4, 5), lambda m, a: a[_t(m, [3, 1], "int32")]),
    ("mask_1d", (5, 3), lambda m, a: a[_t(m, [True, False, True, True, False], "bool")]),
    ("mask_full", (3, 4), lambda m, a: a[a > 0]),
    ("mask_rows", (4, 3), lambda m, a: a[a.sum(1) > 0, :]),
    ("mask_cols", (4, 3), lambda m, a: a[:, _t(m, [True, False, True], "bool")]),
    ("mask_all_false", (4, 3), lambda m, a: a[_t(m, [False] * 4, "bool")]),
    ("mask_3d_partial", (2, 3, 4), lambda m, a: a[_t(m, [[True, False, True], [False, False, True]], "bool")]),
    ("mask_0d_true", (3,), lambda m, a: a[_t(m, True, "bool")]),
]


@pytest.mark.parametrize("name,shape,fn", ADVANCED, ids=[a[0] for a in ADVANCED])
def test_advanced_indexing(name, shape, fn, device):
    check_op(fn, [shape], device=device)


@pytest.mark.parametrize("name,shape,fn", ADVANCED, ids=[a[0] for a in ADVANCED])
def test_advanced_indexing_non_contiguous(name, shape, fn):
    check_op(fn, [shape], non_contiguous=True)


def test_advanced_indexing_integer_data():
    check_op(lambda m, a: a[_t(m, [2, 0])], [arg((4, 3), dtype="int64")])
    check_op(lambda m, a: a[a > 0], [arg((4, 3), dtype="int32")])


def _set_mask(m, a):
    b = a * 1
    b[b < 0] = 0.0
    return b


def _set_index_tensor(m, a, v):
    b = a.clone()
    b[_t(m, [0, 2])] = v
    return b


def _index_put_accumulate(m, a, v):
    return a.index_put((_t(m, [0, 0, 2]),), v, accumulate=True)


@pytest.mark.parametrize(
    "fn,inputs",
    [(_set_mask, [(4, 5)]), (_set_index_tensor, [(4, 3), (2, 3)]), (_index_put_accumulate, [(4, 3), (3, 3)])],
    ids=["mask", "index_tensor", "index_put_accumulate"],
)
def test_advanced_setitem(fn, inputs):
    check_op(fn, inputs)


def test_nonzero_and_where_single_arg():
    check_op(lambda m, a: m.nonzero(a), [arg((3, 4), dtype="int64", low=-1, high=2)])
    check_op(lambda m, a: m.where(a), [arg((3, 4), dtype="bool")])
    check_op(lambda m, a: (a > 0).nonzero(as_tuple=True), [(5,)], grad=False)


def test_index_results_do_not_alias():
    a = dlcore.arange(6.0)
    b = a[dlcore.tensor([0, 1])]
    b[0] = 100.0
    assert a[0].item() == 0.0
