"""Variable-length batches: dlcore.nn.utils.rnn (PackedSequence, pack/pad
helpers) and nn.LSTM / GRU / RNN on packed input vs torch — outputs, h_n /
c_n and every gradient (input, initial states, weights) — over layers,
directions, batch_first, unsorted batches, ties and length-1 sequences; plus
torch's errors for bad lengths."""

import numpy as np
import pytest
from helpers import assert_close_to_torch, import_torch, leaf, torch_leaf

import dlcore
import dlcore.nn as nn
from dlcore.nn.utils.rnn import PackedSequence, pack_padded_sequence, pack_sequence, pad_packed_sequence, pad_sequence

torch = import_torch()
trnn = torch.nn.utils.rnn


_d, _t, _close = leaf, torch_leaf, assert_close_to_torch


def _pair(mode, I, H, dtype, **kw):
    tdt, ddt = getattr(torch, dtype), getattr(dlcore, dtype)
    if mode == "LSTM":
        theirs, ours = torch.nn.LSTM(I, H, dtype=tdt, **kw), nn.LSTM(I, H, dtype=ddt, **kw)
    elif mode == "GRU":
        theirs, ours = torch.nn.GRU(I, H, dtype=tdt, **kw), nn.GRU(I, H, dtype=ddt, **kw)
    else:
        act = "relu" if mode == "RNN_RELU" else "tanh"
        theirs, ours = torch.nn.RNN(I, H, nonlinearity=act, dtype=tdt, **kw), nn.RNN(I, H, nonlinearity=act, dtype=ddt, **kw)
    return theirs, ours


CASES = [
    # (lengths, layers, bidirectional, batch_first, enforce_sorted, with_state)
    ([5, 3, 3, 1], 1, False, False, True, True),  # ties and a length-1 sequence
    ([5, 3, 3, 1], 1, True, False, True, False),  # reverse starts at each sequence's end
    ([2, 6, 1, 4, 4], 2, True, True, False, True),  # unsorted, multi-layer, bidirectional, batch_first
    ([3, 1, 3], 3, False, False, False, False),
    ([4, 4, 4], 1, True, True, True, True),  # all equal
    ([1], 2, True, False, True, True),  # one sequence of length 1
    ([7, 2], 1, False, True, False, True),  # already sorted with enforce_sorted=False
]


@pytest.mark.parametrize("mode", ["LSTM", "GRU", "RNN_TANH", "RNN_RELU"])
@pytest.mark.parametrize("case", CASES, ids=[str(i) for i in range(len(CASES))])
@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_packed_matches_torch(mode, case, dtype):
    lengths, L, bi, bf, enforce, with_state = case
    I, H = 3, 5
    torch.manual_seed(0)
    theirs, ours = _pair(mode, I, H, dtype, num_layers=L, bidirectional=bi, batch_first=bf)
    ours.load_state_dict({k: v.detach().numpy() for k, v in theirs.state_dict().items()})
    rng = np.random.default_rng(2)
    B, T, D = len(lengths), max(lengths), 2 if bi else 1
    x = rng.standard_normal((B, T, I) if bf else (T, B, I)).astype(dtype)
    xd, xt = _d(x), _t(x)
    pd = pack_padded_sequence(xd, lengths, batch_first=bf, enforce_sorted=enforce)
    pt = trnn.pack_padded_sequence(xt, torch.tensor(lengths), batch_first=bf, enforce_sorted=enforce)
    np.testing.assert_array_equal(pd.batch_sizes.numpy(), pt.batch_sizes.numpy())
    lstm = mode == "LSTM"
    states = [rng.standard_normal((L * D, B, H)).astype(dtype) for _ in range(2 if lstm else 1)]
    sd, st = [_d(s) for s in states], [_t(s) for s in states]
    args_d = (pd, (tuple(sd) if lstm else sd[0])) if with_state else (pd,)
    args_t = (pt, (tuple(st) if lstm else st[0])) if with_state else (pt,)
    od, fd = ours(*args_d)
    ot, ft = theirs(*args_t)
    assert isinstance(od, PackedSequence)
    if enforce:  # same row order: compare the packed data itself
        _close(od.data, ot.data, 1e-10 if dtype == "float64" else 2e-5, "packed output")
    fd, ft = (list(fd), list(ft)) if lstm else ([fd], [ft])
    padd, lend = pad_packed_sequence(od, batch_first=bf)
    padt, lent = trnn.pad_packed_sequence(ot, batch_first=bf)
    np.testing.assert_array_equal(lend.numpy(), lent.numpy())
    tol = 1e-10 if dtype == "float64" else 2e-5
    _close(padd, padt, tol, "output")
    for k, (a, b) in enumerate(zip(fd, ft)):
        _close(a, b, tol, f"final state {k}")
    go = rng.standard_normal(tuple(padt.shape)).astype(dtype)
    gs = [rng.standard_normal(tuple(f.shape)).astype(dtype) for f in ft]
    sum_d = (padd * _d(go, False)).sum()
    sum_t = (padt * _t(go, False)).sum()
    for a, b, g in zip(fd, ft, gs):
        sum_d = sum_d + (a * _d(g, False)).sum()
        sum_t = sum_t + (b * _t(g, False)).sum()
    sum_d.backward()
    sum_t.backward()
    gtol = 1e-9 if dtype == "float64" else 1e-4
    _close(xd.grad, xt.grad, gtol, "grad input")
    if with_state:
        for k, (a, b) in enumerate(zip(sd, st)):
            _close(a.grad, b.grad, gtol, f"grad state {k}")
    tp = dict(theirs.named_parameters())
    for name, p in ours.named_parameters():
        _close(p.grad, tp[name].grad, gtol, f"grad {name}")


def test_packed_matches_padded_when_lengths_equal():
    """Equal lengths: the packed path is the plain path."""
    m = nn.LSTM(4, 6, bidirectional=True, dtype=dlcore.float64)
    x = dlcore.tensor(np.random.default_rng(0).standard_normal((5, 3, 4)))
    with dlcore.no_grad():
        out, (h, c) = m(x)
        pout, (ph, pc) = m(pack_padded_sequence(x, [5, 5, 5]))
    np.testing.assert_allclose(pad_packed_sequence(pout)[0].numpy(), out.numpy(), atol=1e-12)
    np.testing.assert_allclose(ph.numpy(), h.numpy(), atol=1e-12)
    np.testing.assert_allclose(pc.numpy(), c.numpy(), atol=1e-12)


@pytest.mark.parametrize("batch_first", [False, True])
@pytest.mark.parametrize("side", ["right", "left"])
def test_pad_sequence_and_pack_sequence(batch_first, side):
    rng = np.random.default_rng(0)
    seqs = [rng.standard_normal((n, 2, 3)) for n in (3, 5, 1)]
    sd, st = [_d(s) for s in seqs], [_t(s) for s in seqs]
    pd = pad_sequence(sd, batch_first=batch_first, padding_value=-1.5, padding_side=side)
    pt = trnn.pad_sequence(st, batch_first=batch_first, padding_value=-1.5, padding_side=side)
    _close(pd, pt, 0, "pad_sequence")
    g = rng.standard_normal(tuple(pt.shape))
    (pd * _d(g, False)).sum().backward()
    (pt * _t(g, False)).sum().backward()
    for a, b in zip(sd, st):
        _close(a.grad, b.grad, 0, "pad_sequence grad")
    kd = pack_sequence(sd, enforce_sorted=False)
    kt = trnn.pack_sequence(st, enforce_sorted=False)
    _close(kd.data, kt.data, 0, "pack_sequence data")
    np.testing.assert_array_equal(kd.batch_sizes.numpy(), kt.batch_sizes.numpy())
    np.testing.assert_array_equal(kd.sorted_indices.numpy(), kt.sorted_indices.numpy())
    np.testing.assert_array_equal(kd.unsorted_indices.numpy(), kt.unsorted_indices.numpy())


def test_pad_packed_total_length_and_padding_value():
    x = np.random.default_rng(1).standard_normal((4, 3, 2))
    pd = pack_padded_sequence(_d(x), [2, 4, 1], enforce_sorted=False)
    pt = trnn.pack_padded_sequence(_t(x), [2, 4, 1], enforce_sorted=False)
    for bf in (False, True):
        a, la = pad_packed_sequence(pd, batch_first=bf, padding_value=7.0, total_length=6)
        b, lb = trnn.pad_packed_sequence(pt, batch_first=bf, padding_value=7.0, total_length=6)
        _close(a, b, 0, "padded")
        np.testing.assert_array_equal(la.numpy(), lb.numpy())
        assert la.dtype == dlcore.int64


def test_packed_errors():
    x = dlcore.randn(5, 3, 2)
    with pytest.raises(RuntimeError, match="sorted in decreasing order"):
        pack_padded_sequence(x, [2, 5, 3])
    with pytest.raises(RuntimeError, match="greater than 0"):
        pack_padded_sequence(x, [5, 3, 0])
    with pytest.raises(RuntimeError, match="greater than 0"):
        pack_padded_sequence(x, [5, 0, 3], enforce_sorted=False)
    with pytest.raises(RuntimeError, match="at most"):
        pack_padded_sequence(x, [6, 3, 2])
    with pytest.raises(RuntimeError, match="batch_size"):
        pack_padded_sequence(x, [5, 3])
    with pytest.raises(ValueError, match="total_length"):
        pad_packed_sequence(pack_padded_sequence(x, [5, 3, 2]), total_length=3)
    with pytest.raises(RuntimeError, match="empty list"):
        pack_sequence([])
    with pytest.raises(RuntimeError, match="empty list"):
        pad_sequence([])
    # the Rust layer checks batch_sizes itself (no panic on malformed packs)
    w_ih, w_hh, h0 = dlcore.randn(4, 2), dlcore.randn(4, 4), dlcore.zeros(3, 4)
    for bs in ([1, 3, 2], [3, 2, 0], [3, 2], [2, 2, 2], []):
        with pytest.raises(RuntimeError, match="rnn"):
            dlcore._core.rnn_layer(dlcore.randn(6, 2), h0, w_ih, w_hh, None, None, False, False, bs)
    m = nn.GRU(2, 4)
    with pytest.raises(RuntimeError, match="input_size"):
        m(pack_padded_sequence(dlcore.randn(5, 3, 3), [5, 3, 2]))
    with pytest.raises(RuntimeError, match="hidden size"):
        m(pack_padded_sequence(x, [5, 3, 2]), dlcore.zeros(1, 2, 4))
