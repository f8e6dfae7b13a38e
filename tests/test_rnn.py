"""nn.LSTM / nn.LSTMCell vs torch: weights copied through state_dict, outputs
(output, h_n, c_n) and every gradient (input, h0, c0, each weight) compared,
over layers, directions, batch_first, T=1, odd sizes, bias off; plus errors."""

import numpy as np
import pytest
from helpers import assert_close_to_torch, import_torch, leaf, torch_leaf

import dlcore
import dlcore.nn as nn

torch = import_torch()


_d, _t, _close = leaf, torch_leaf, assert_close_to_torch


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


_LSTM_PATHS_SCRIPT = r"""
import sys
import numpy as np
import dlcore
import dlcore.nn as nn
from dlcore.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

dlcore.set_num_threads(int(sys.argv[2]))
rng = np.random.default_rng(0)
res = {}
# (name, T, B, I, H, bidirectional, lengths or None)
for name, T, B, I, H, bi, lens in [
    ("small", 4, 3, 5, 6, False, None),        # one chunk, serial
    ("wide", 3, 15, 8, 300, True, None),       # one chunk, gate passes split across threads
    ("split", 5, 70, 8, 80, True, None),       # batch split into row chunks
    ("packed", 9, 37, 6, 48, True, "var"),     # row chunks over a shrinking active prefix
]:
    lstm = nn.LSTM(I, H, bidirectional=bi)
    for k, v in lstm.state_dict().items():
        res[f"{name}_w_{k}"] = v.numpy()
    x = rng.standard_normal((T, B, I)).astype(np.float32)
    h0 = rng.standard_normal((2 if bi else 1, B, H)).astype(np.float32)
    c0 = rng.standard_normal((2 if bi else 1, B, H)).astype(np.float32)
    D = 2 if bi else 1
    go = rng.standard_normal((T, B, D * H)).astype(np.float32)
    gh = rng.standard_normal((D, B, H)).astype(np.float32)
    res.update({f"{name}_x": x, f"{name}_h0": h0, f"{name}_c0": c0, f"{name}_go": go, f"{name}_gh": gh})
    xd, hd, cd = (dlcore.tensor(a) for a in (x, h0, c0))
    for t in (xd, hd, cd):
        t.requires_grad_(True)
    if lens == "var":
        L = np.sort(rng.integers(1, T + 1, B))[::-1].copy()
        L[0] = T
        res[f"{name}_lens"] = L
        od, (hn, cn) = lstm(pack_padded_sequence(xd, list(L)), (hd, cd))
        od = pad_packed_sequence(od)[0]
        mask = (np.arange(T)[:, None] < L[None, :])[:, :, None].astype(np.float32)
        go = go * mask
    else:
        od, (hn, cn) = lstm(xd, (hd, cd))
    ((od * dlcore.tensor(go)).sum() + (hn * dlcore.tensor(gh)).sum() + (cn * dlcore.tensor(gh)).sum()).backward()
    res[f"{name}_out"], res[f"{name}_hn"], res[f"{name}_cn"] = od.detach().numpy(), hn.detach().numpy(), cn.detach().numpy()
    res[f"{name}_dx"], res[f"{name}_dh0"], res[f"{name}_dc0"] = xd.grad.numpy(), hd.grad.numpy(), cd.grad.numpy()
    for k, p in lstm.named_parameters():
        res[f"{name}_g_{k}"] = p.grad.numpy()
np.savez(sys.argv[1], **res)
"""


@pytest.mark.parametrize("mode,threads", [("scalar", 1), ("avx2", 3), ("avx512", 2), ("avx512", 1)])
def test_lstm_simd_paths_and_threads(mode, threads, tmp_path):
    """Every instruction-set path (gate passes and micro-kernels are picked
    per process by DLCORE_SIMD) and thread count, over every work split of
    a layer call: one serial chunk, one chunk whose gate passes run on
    several threads, the batch split into row chunks (equal lengths and a
    packed batch whose active prefix shrinks across chunk boundaries)."""
    import os
    import subprocess
    import sys

    flags = set(open("/proc/cpuinfo").read().split()) if os.path.exists("/proc/cpuinfo") else set()
    if mode == "avx2" and not {"avx2", "fma"} <= flags or mode == "avx512" and "avx512f" not in flags:
        pytest.skip(f"CPU lacks {mode}")
    path = tmp_path / "out.npz"
    env = dict(os.environ, DLCORE_SIMD=mode)
    proc = subprocess.run([sys.executable, "-c", _LSTM_PATHS_SCRIPT, str(path), str(threads)], env=env,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    got = np.load(path)
    trnn = torch.nn.utils.rnn
    for name in ("small", "wide", "split", "packed"):
        w = {k[len(name) + 3:]: torch.tensor(got[k]) for k in got.files if k.startswith(f"{name}_w_")}
        I, H = w["weight_ih_l0"].shape[1], w["weight_hh_l0"].shape[1]
        theirs = torch.nn.LSTM(I, H, bidirectional="weight_ih_l0_reverse" in w)
        theirs.load_state_dict(w)
        x, h0, c0 = (torch.tensor(got[f"{name}_{k}"], requires_grad=True) for k in ("x", "h0", "c0"))
        go, gh = torch.tensor(got[f"{name}_go"]), torch.tensor(got[f"{name}_gh"])
        if f"{name}_lens" in got.files:
            L = got[f"{name}_lens"]
            ot, (hnt, cnt) = theirs(trnn.pack_padded_sequence(x, torch.tensor(L)), (h0, c0))
            ot = trnn.pad_packed_sequence(ot)[0]
            go = go * (torch.arange(go.shape[0])[:, None] < torch.tensor(L)[None, :])[:, :, None].float()
        else:
            ot, (hnt, cnt) = theirs(x, (h0, c0))
        ((ot * go).sum() + (hnt * gh).sum() + (cnt * gh).sum()).backward()
        want = {"out": ot, "hn": hnt, "cn": cnt, "dx": x.grad, "dh0": h0.grad, "dc0": c0.grad}
        want.update({f"g_{k}": p.grad for k, p in theirs.named_parameters()})
        for key, v in want.items():
            np.testing.assert_allclose(got[f"{name}_{key}"], v.detach().numpy(), rtol=2e-4, atol=5e-5,
                                       err_msg=f"{name} {key} DLCORE_SIMD={mode} threads={threads}")
