"""F.embedding / nn.Embedding vs torch: gather forward, scatter-add backward
(repeated indices accumulate), padding_idx, state_dict, errors."""

import numpy as np
import pytest
from helpers import check_op, import_torch

import dlcore
import dlcore.nn as nn
import dlcore.nn.functional as F

IDX = [np.array([3, 1, 3, 0], dtype=np.int64), np.array([[0, 4, 4], [2, 2, 2]], dtype=np.int64),
       np.array(2, dtype=np.int64), np.zeros((0, 3), dtype=np.int64)]


@pytest.mark.parametrize("i", range(len(IDX)))
@pytest.mark.parametrize("padding_idx", [None, 2, -1])
def test_embedding(i, padding_idx):
    check_op(lambda m, idx, w: m.nn.functional.embedding(idx, w, padding_idx=padding_idx), [IDX[i], (5, 3)])


def test_embedding_float64_non_contiguous_weight():
    check_op(lambda m, idx, w: m.nn.functional.embedding(idx, w), [IDX[1], (5, 7)], dtype="float64", non_contiguous=True)


def test_embedding_module():
    torch = import_torch()
    e = nn.Embedding(10, 4, padding_idx=1)
    assert list(e.state_dict()) == ["weight"] and tuple(e.weight.shape) == (10, 4)
    w = e.weight.detach().numpy()
    assert (w[1] == 0).all() and abs(w.std() - 1.0) < 0.5  # N(0, 1) init, zero padding row
    te = torch.nn.Embedding(10, 4, padding_idx=1)
    e.load_state_dict({"weight": dlcore.tensor(te.weight.detach().numpy())})
    idx = np.array([[1, 2, 9], [0, 1, 1]], dtype=np.int64)
    out, tout = e(dlcore.tensor(idx)), te(torch.tensor(idx))
    np.testing.assert_allclose(out.detach().numpy(), tout.detach().numpy())
    out.sum().backward()
    tout.sum().backward()
    np.testing.assert_allclose(e.weight.grad.numpy(), te.weight.grad.numpy())
    pre = nn.Embedding.from_pretrained(dlcore.tensor([[1.0, 2.0], [3.0, 4.0]]))
    assert not pre.weight.requires_grad and pre(dlcore.tensor([1])).tolist() == [[3.0, 4.0]]


def test_embedding_errors():
    w = dlcore.randn(5, 3)
    with pytest.raises(IndexError):
        F.embedding(dlcore.tensor([5]), w)
    with pytest.raises(RuntimeError, match="embedding: expected indices of dtype int64"):
        F.embedding(dlcore.tensor([1.0]), w)
    with pytest.raises(AssertionError, match="Padding_idx"):
        nn.Embedding(3, 2, padding_idx=3)
