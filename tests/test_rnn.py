"""nn.LSTM / nn.LSTMCell vs torch: weights copied through state_dict, outputs
(output, h_n, c_n) and every gradient (input, h0, c0, each weight) compared,
over layers, directions, batch_first, T=1, odd sizes, bias off; plus errors."""

import numpy as np
import pytest
from helpers import import_torch

import dlcore
import dlcore.nn as nn

torch = import_torch()


def _d(a, grad=True):
    t = dlcore.tensor(np.ascontiguousarray(a))
    t.requires_grad_(grad)
    return t


def _t(a, grad=True):
    return torch.tensor(np.ascontiguousarray(a), requires_grad=grad)


def _close(ours, theirs, tol, what):
    np.testing.assert_allclose(np.asarray(ours.detach().numpy()), theirs.detach().numpy(), rtol=tol, atol=tol, err_msg=what)


CASES = [
    # (T, B, I, H, layers, bidirectional, batch_first, bias)
    (5, 3, 4, 6, 1, False, False, True),
    (1, 2, 3, 5, 1, False, False, True),  # T=1
    (7, 3, 5, 7, 2, False, True, True),
    (4, 2, 3, 5, 1, True, False, True),
    (6, 5, 9, 3, 3, True, True, True),  # multi-layer bidirectional batch_first
    (3, 1, 2, 4, 2, True, False, False),  # no bias, batch 1
    (9, 4, 17, 13, 2, False, False, True),  # odd sizes
    (3, 70, 8, 80, 1, True, False, True),  # big enough for the parallel gate pass
]


@pytest.mark.parametrize("case", CASES, ids=[str(i) for i in range(len(CASES))])
@pytest.mark.parametrize("with_state", [True, False])
@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_lstm_matches_torch(case, with_state, dtype):
    T, B, I, H, L, bi, bf, bias = case
    torch.manual_seed(0)
    tdt = getattr(torch, dtype)
    theirs = torch.nn.LSTM(I, H, num_layers=L, bias=bias, batch_first=bf, bidirectional=bi).to(tdt)
    ours = nn.LSTM(I, H, num_layers=L, bias=bias, batch_first=bf, bidirectional=bi, dtype=getattr(dlcore, dtype))
    assert list(ours.state_dict()) == list(theirs.state_dict())
    for k, v in theirs.state_dict().items():
        assert tuple(ours.state_dict()[k].shape) == tuple(v.shape), k
    ours.load_state_dict({k: v.detach().numpy() for k, v in theirs.state_dict().items()})
    rng = np.random.default_rng(1)
    D = 2 if bi else 1
    xs = (B, T, I) if bf else (T, B, I)
    x = rng.standard_normal(xs).astype(dtype)
    h0 = rng.standard_normal((L * D, B, H)).astype(dtype)
    c0 = rng.standard_normal((L * D, B, H)).astype(dtype)
    xd, xt = _d(x), _t(x)
    if with_state:
        hd, cd, ht, ct = _d(h0), _d(c0), _t(h0), _t(c0)
        od, (hnd, cnd) = ours(xd, (hd, cd))
        ot, (hnt, cnt) = theirs(xt, (ht, ct))
    else:
        od, (hnd, cnd) = ours(xd)
        ot, (hnt, cnt) = theirs(xt)
    tol = 1e-10 if dtype == "float64" else 2e-5
    _close(od, ot, tol, "output")
    _close(hnd, hnt, tol, "h_n")
    _close(cnd, cnt, tol, "c_n")
    go = rng.standard_normal(tuple(ot.shape)).astype(dtype)
    gh = rng.standard_normal(tuple(hnt.shape)).astype(dtype)
    gc = rng.standard_normal(tuple(cnt.shape)).astype(dtype)
    ((od * _d(go, False)).sum() + (hnd * _d(gh, False)).sum() + (cnd * _d(gc, False)).sum()).backward()
    ((ot * _t(go, False)).sum() + (hnt * _t(gh, False)).sum() + (cnt * _t(gc, False)).sum()).backward()
    gtol = 1e-9 if dtype == "float64" else 1e-4
    _close(xd.grad, xt.grad, gtol, "grad input")
    if with_state:
        _close(hd.grad, ht.grad, gtol, "grad h0")
        _close(cd.grad, ct.grad, gtol, "grad c0")
    tp = dict(theirs.named_parameters())
    for name, p in ours.named_parameters():
        _close(p.grad, tp[name].grad, gtol, f"grad {name}")


def test_lstm_unbatched_and_no_grad():
    torch.manual_seed(0)
    theirs = torch.nn.LSTM(3, 4, num_layers=2, bidirectional=True).double()
    ours = nn.LSTM(3, 4, num_layers=2, bidirectional=True, dtype=dlcore.float64)
    ours.load_state_dict({k: v.detach().numpy() for k, v in theirs.state_dict().items()})
    x = np.random.default_rng(0).standard_normal((5, 3))
    with dlcore.no_grad():
        od, (hd, cd) = ours(dlcore.tensor(x))
    ot, (ht, ct) = theirs(torch.tensor(x))
    assert tuple(od.shape) == (5, 8) and tuple(hd.shape) == (4, 4)
    _close(od, ot, 1e-10, "output")
    _close(hd, ht, 1e-10, "h_n")
    _close(cd, ct, 1e-10, "c_n")


def test_lstm_dropout_between_layers():
    m = nn.LSTM(3, 4, num_layers=2, dropout=0.5)
    x = dlcore.randn(5, 2, 3)
    m.eval()
    a, _ = m(x)
    b, _ = m(x)
    np.testing.assert_array_equal(a.detach().numpy(), b.detach().numpy())  # eval: deterministic
    m.train()
    c, _ = m(x)
    assert tuple(c.shape) == (5, 2, 4)
    assert not np.array_equal(a.detach().numpy(), c.detach().numpy())  # train: layer-0 output dropped


def test_lstm_init_range():
    m = nn.LSTM(10, 16, num_layers=2, bidirectional=True)
    for _, p in m.named_parameters():
        a = p.detach().numpy()
        assert np.abs(a).max() <= 0.25 + 1e-7


@pytest.mark.parametrize("bias", [True, False])
def test_lstm_cell_matches_torch(bias):
    torch.manual_seed(0)
    theirs = torch.nn.LSTMCell(5, 7, bias=bias).double()
    ours = nn.LSTMCell(5, 7, bias=bias, dtype=dlcore.float64)
    ours.load_state_dict({k: v.detach().numpy() for k, v in theirs.state_dict().items()})
    rng = np.random.default_rng(2)
    x, h, c = rng.standard_normal((3, 5)), rng.standard_normal((3, 7)), rng.standard_normal((3, 7))
    xd, hd, cd, xt, ht, ct = _d(x), _d(h), _d(c), _t(x), _t(h), _t(c)
    h1d, c1d = ours(xd, (hd, cd))
    h1t, c1t = theirs(xt, (ht, ct))
    _close(h1d, h1t, 1e-10, "h")
    _close(c1d, c1t, 1e-10, "c")
    (h1d.sum() * 2 + c1d.sum()).backward()
    (h1t.sum() * 2 + c1t.sum()).backward()
    for a, b, w in [(xd, xt, "x"), (hd, ht, "h"), (cd, ct, "c")]:
        _close(a.grad, b.grad, 1e-9, w)
    tp = dict(theirs.named_parameters())
    for name, p in ours.named_parameters():
        _close(p.grad, tp[name].grad, 1e-9, name)
    h2d, _ = ours(dlcore.tensor(x[0]))
    assert tuple(h2d.shape) == (7,)


def test_lstm_errors():
    m = nn.LSTM(3, 4)
    with pytest.raises(RuntimeError, match="input_size"):
        m(dlcore.randn(5, 2, 6))
    with pytest.raises(RuntimeError, match="hidden size"):
        m(dlcore.randn(5, 2, 3), (dlcore.zeros(1, 3, 4), dlcore.zeros(1, 3, 4)))
    with pytest.raises(RuntimeError, match="lstm"):
        dlcore._core.lstm_layer(dlcore.randn(5, 2, 3), dlcore.zeros(2, 4), dlcore.zeros(2, 4), dlcore.randn(16, 2), dlcore.randn(16, 4), None, None, False)
    with pytest.raises(ValueError):
        m(dlcore.randn(2, 2, 2, 3))


@pytest.mark.parametrize("case", CASES, ids=[str(i) for i in range(len(CASES))])
@pytest.mark.parametrize("with_state", [True, False])
@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_gru_matches_torch(case, with_state, dtype):
    T, B, I, H, L, bi, bf, bias = case
    torch.manual_seed(0)
    theirs = torch.nn.GRU(I, H, num_layers=L, bias=bias, batch_first=bf, bidirectional=bi).to(getattr(torch, dtype))
    ours = nn.GRU(I, H, num_layers=L, bias=bias, batch_first=bf, bidirectional=bi, dtype=getattr(dlcore, dtype))
    assert list(ours.state_dict()) == list(theirs.state_dict())
    ours.load_state_dict({k: v.detach().numpy() for k, v in theirs.state_dict().items()})
    rng = np.random.default_rng(1)
    D = 2 if bi else 1
    x = rng.standard_normal((B, T, I) if bf else (T, B, I)).astype(dtype)
    h0 = rng.standard_normal((L * D, B, H)).astype(dtype)
    xd, xt, hd, ht = _d(x), _t(x), _d(h0), _t(h0)
    od, hnd = ours(xd, hd) if with_state else ours(xd)
    ot, hnt = theirs(xt, ht) if with_state else theirs(xt)
    tol = 1e-10 if dtype == "float64" else 2e-5
    _close(od, ot, tol, "output")
    _close(hnd, hnt, tol, "h_n")
    go = rng.standard_normal(tuple(ot.shape)).astype(dtype)
    gh = rng.standard_normal(tuple(hnt.shape)).astype(dtype)
    ((od * _d(go, False)).sum() + (hnd * _d(gh, False)).sum()).backward()
    ((ot * _t(go, False)).sum() + (hnt * _t(gh, False)).sum()).backward()
    gtol = 1e-9 if dtype == "float64" else 1e-4
    _close(xd.grad, xt.grad, gtol, "grad input")
    if with_state:
        _close(hd.grad, ht.grad, gtol, "grad h0")
    tp = dict(theirs.named_parameters())
    for name, p in ours.named_parameters():
        _close(p.grad, tp[name].grad, gtol, f"grad {name}")


@pytest.mark.parametrize("bias", [True, False])
def test_gru_cell_matches_torch(bias):
    torch.manual_seed(0)
    theirs = torch.nn.GRUCell(5, 7, bias=bias).double()
    ours = nn.GRUCell(5, 7, bias=bias, dtype=dlcore.float64)
    ours.load_state_dict({k: v.detach().numpy() for k, v in theirs.state_dict().items()})
    rng = np.random.default_rng(3)
    x, h = rng.standard_normal((3, 5)), rng.standard_normal((3, 7))
    xd, hd, xt, ht = _d(x), _d(h), _t(x), _t(h)
    h1d, h1t = ours(xd, hd), theirs(xt, ht)
    _close(h1d, h1t, 1e-10, "h")
    (h1d * h1d).sum().backward()
    (h1t * h1t).sum().backward()
    _close(xd.grad, xt.grad, 1e-9, "x")
    _close(hd.grad, ht.grad, 1e-9, "h")
    tp = dict(theirs.named_parameters())
    for name, p in ours.named_parameters():
        _close(p.grad, tp[name].grad, 1e-9, name)
    assert tuple(ours(dlcore.tensor(x[0])).shape) == (7,)


def test_gru_unbatched_and_errors():
    torch.manual_seed(0)
    theirs = torch.nn.GRU(3, 4, num_layers=2, bidirectional=True, batch_first=True).double()
    ours = nn.GRU(3, 4, num_layers=2, bidirectional=True, batch_first=True, dtype=dlcore.float64)
    ours.load_state_dict({k: v.detach().numpy() for k, v in theirs.state_dict().items()})
    x = np.random.default_rng(0).standard_normal((5, 3))
    od, hd = ours(dlcore.tensor(x))
    ot, ht = theirs(torch.tensor(x))
    _close(od, ot, 1e-10, "output")
    _close(hd, ht, 1e-10, "h_n")
    with pytest.raises(RuntimeError, match="hidden size"):
        ours(dlcore.randn(2, 5, 3, dtype=dlcore.float64), dlcore.zeros(4, 3, 4, dtype=dlcore.float64))
    with pytest.raises(RuntimeError, match="gru"):
        dlcore._core.gru_layer(dlcore.randn(5, 2, 3), dlcore.zeros(2, 4), dlcore.randn(12, 2), dlcore.randn(12, 4), None, None, False)


@pytest.mark.parametrize("case", CASES, ids=[str(i) for i in range(len(CASES))])
@pytest.mark.parametrize("nonlinearity", ["tanh", "relu"])
@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_rnn_matches_torch(case, nonlinearity, dtype):
    T, B, I, H, L, bi, bf, bias = case
    torch.manual_seed(0)
    kw = dict(num_layers=L, nonlinearity=nonlinearity, bias=bias, batch_first=bf, bidirectional=bi)
    theirs = torch.nn.RNN(I, H, **kw).to(getattr(torch, dtype))
    ours = nn.RNN(I, H, **kw, dtype=getattr(dlcore, dtype))
    assert list(ours.state_dict()) == list(theirs.state_dict())
    ours.load_state_dict({k: v.detach().numpy() for k, v in theirs.state_dict().items()})
    rng = np.random.default_rng(1)
    D = 2 if bi else 1
    x = rng.standard_normal((B, T, I) if bf else (T, B, I)).astype(dtype)
    h0 = rng.standard_normal((L * D, B, H)).astype(dtype)
    xd, xt, hd, ht = _d(x), _t(x), _d(h0), _t(h0)
    od, hnd = ours(xd, hd)
    ot, hnt = theirs(xt, ht)
    tol = 1e-10 if dtype == "float64" else 2e-5
    _close(od, ot, tol, "output")
    _close(hnd, hnt, tol, "h_n")
    go = rng.standard_normal(tuple(ot.shape)).astype(dtype)
    gh = rng.standard_normal(tuple(hnt.shape)).astype(dtype)
    ((od * _d(go, False)).sum() + (hnd * _d(gh, False)).sum()).backward()
    ((ot * _t(go, False)).sum() + (hnt * _t(gh, False)).sum()).backward()
    gtol = 1e-9 if dtype == "float64" else 1e-4
    _close(xd.grad, xt.grad, gtol, "grad input")
    _close(hd.grad, ht.grad, gtol, "grad h0")
    tp = dict(theirs.named_parameters())
    for name, p in ours.named_parameters():
        _close(p.grad, tp[name].grad, gtol, f"grad {name}")


@pytest.mark.parametrize("nonlinearity", ["tanh", "relu"])
def test_rnn_cell_matches_torch(nonlinearity):
    torch.manual_seed(0)
    theirs = torch.nn.RNNCell(5, 7, nonlinearity=nonlinearity).double()
    ours = nn.RNNCell(5, 7, nonlinearity=nonlinearity, dtype=dlcore.float64)
    ours.load_state_dict({k: v.detach().numpy() for k, v in theirs.state_dict().items()})
    rng = np.random.default_rng(4)
    x, h = rng.standard_normal((3, 5)), rng.standard_normal((3, 7))
    xd, hd, xt, ht = _d(x), _d(h), _t(x), _t(h)
    h1d, h1t = ours(xd, hd), theirs(xt, ht)
    _close(h1d, h1t, 1e-10, "h")
    (h1d * h1d).sum().backward()
    (h1t * h1t).sum().backward()
    _close(xd.grad, xt.grad, 1e-9, "x")
    _close(hd.grad, ht.grad, 1e-9, "h")
    tp = dict(theirs.named_parameters())
    for name, p in ours.named_parameters():
        _close(p.grad, tp[name].grad, 1e-9, name)
    with pytest.raises(ValueError):
        nn.RNN(3, 4, nonlinearity="sigmoid")
