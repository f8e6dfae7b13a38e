"""Transformer layers, positional encodings and the ViT patch embedding vs
torch: torch's state_dict is loaded into the dlcore module (keys must match),
the same input goes through both, and the output, the input gradients and
every parameter gradient are compared (helpers.assert_same). dropout=0 for
the comparisons; dropout>0 is checked for shapes, determinism and eval."""

import math

import numpy as np
import pytest
from helpers import assert_same, import_torch

import dlcore
import dlcore.nn as nn

torch = import_torch()
TOL = dict(rtol=2e-4, atol=2e-5)


def _load(dl_mod, th_mod):
    assert list(dl_mod.state_dict()) == list(th_mod.state_dict())
    for k, v in th_mod.state_dict().items():
        assert tuple(dl_mod.state_dict()[k].shape) == tuple(v.shape), k
    dl_mod.load_state_dict({k: dlcore.tensor(v.detach().numpy()) for k, v in th_mod.state_dict().items()})


def _mask(m, a):
    """numpy mask -> tensor of library m (None stays None)."""
    return None if a is None else m.tensor(a)


def compare(th_mod, dl_mod, xs, kwargs=None, seed=0, tol=TOL):
    """Load torch's weights into dl_mod, run both on the numpy inputs `xs`
    (gradients wanted) with mask kwargs (numpy), compare output, input grads
    and parameter grads. Returns the dlcore output."""
    kwargs = kwargs or {}
    _load(dl_mod, th_mod)
    td = [torch.tensor(x, requires_grad=True) for x in xs]
    dd = [dlcore.tensor(x, requires_grad=True) for x in xs]
    to = th_mod(*td, **{k: _mask(torch, v) if isinstance(v, np.ndarray) else v for k, v in kwargs.items()})
    do = dl_mod(*dd, **{k: _mask(dlcore, v) if isinstance(v, np.ndarray) else v for k, v in kwargs.items()})
    assert_same(do, to, what="output", **tol)
    g = np.random.default_rng(seed + 1).standard_normal(tuple(to.shape)).astype("float32")
    to.backward(torch.tensor(g))
    do.backward(dlcore.tensor(g))
    for i, (d, t) in enumerate(zip(dd, td)):
        assert_same(d.grad, t.grad, what=f"grad of input {i}", **tol)
    dp = dict(dl_mod.named_parameters())
    for name, p in th_mod.named_parameters():
        assert (dp[name].grad is None) == (p.grad is None), name
        if p.grad is not None:
            assert_same(dp[name].grad, p.grad, what=f"grad of {name}", **tol)
    return do


def _x(shape, seed=0):
    return np.random.default_rng(seed).standard_normal(shape).astype("float32")


def _pair(cls_name, *args, **kw):
    torch.manual_seed(0)
    th = getattr(torch.nn, cls_name)(*args, **kw)
    dl = getattr(nn, cls_name)(*args, **kw)
    return th, dl


def _causal_np(T, kind):
    upper = np.triu(np.ones((T, T), dtype=bool), 1)
    return upper if kind == "bool" else np.where(upper, -np.inf, 0.0).astype("float32")


ENC_CASES = [
    # (d_model, nhead, ff, T, B, norm_first, activation, batch_first)
    (16, 4, 32, 5, 3, False, "relu", False),
    (16, 4, 32, 5, 3, True, "relu", True),
    (16, 2, 24, 7, 2, False, "gelu", True),
    (16, 2, 24, 7, 2, True, "gelu", False),
    (36, 4, 20, 9, 2, False, "relu", True),  # head_dim 9: not a multiple of the SIMD width
    (8, 2, 16, 1, 3, False, "relu", False),  # T = 1
    (12, 3, 16, 13, 1, True, "relu", True),  # odd length, batch 1
]


@pytest.mark.parametrize("case", ENC_CASES, ids=[str(i) for i in range(len(ENC_CASES))])
def test_encoder_layer(case):
    E, H, ff, T, B, nf, act, bf = case
    th, dl = _pair("TransformerEncoderLayer", E, H, ff, dropout=0.0, activation=act, batch_first=bf, norm_first=nf)
    compare(th, dl, [_x((B, T, E) if bf else (T, B, E))])


def test_encoder_layer_callable_activation_and_no_bias():
    th, dl = _pair("TransformerEncoderLayer", 8, 2, 16, dropout=0.0, bias=False, batch_first=True)
    th.activation, dl.activation = torch.tanh, dlcore.tanh
    compare(th, dl, [_x((2, 5, 8))])
    th, dl = _pair("TransformerEncoderLayer", 8, 2, 16, dropout=0.0)
    th.activation, dl.activation = torch.nn.GELU(approximate="tanh"), nn.GELU(approximate="tanh")
    compare(th, dl, [_x((5, 2, 8))])


MASKS = ["float", "bool", "float_causal", "bool_causal", "padding", "padding+bool", "3d_float"]


@pytest.mark.parametrize("kind", MASKS)
@pytest.mark.parametrize("norm_first", [False, True])
def test_encoder_layer_masks(kind, norm_first):
    E, H, T, B = 16, 4, 6, 3
    rng = np.random.default_rng(5)
    th, dl = _pair("TransformerEncoderLayer", E, H, 32, dropout=0.0, batch_first=True, norm_first=norm_first)
    kw = {}
    if kind == "float":
        kw["src_mask"] = rng.standard_normal((T, T)).astype("float32")
    if kind in ("bool", "padding+bool"):
        m = rng.random((T, T)) < 0.3
        m[:, 0] = False  # no fully masked row
        kw["src_mask"] = m
    if kind.endswith("causal"):
        kw["src_mask"] = _causal_np(T, kind.split("_")[0])
    if kind.startswith("padding"):
        p = np.zeros((B, T), dtype=bool)
        p[0, -2:] = True
        p[2, -1] = True
        kw["src_key_padding_mask"] = p
    if kind == "3d_float":
        kw["src_mask"] = rng.standard_normal((B * H, T, T)).astype("float32")
    compare(th, dl, [_x((B, T, E))], kw)


@pytest.mark.parametrize("kind", ["float", "bool"])
def test_is_causal(kind):
    """is_causal=True with the causal mask (torch's hint) and, dlcore only,
    with no mask; a float padding mask alongside forces the materialised path."""
    T, B, E = 7, 2, 12
    th, dl = _pair("TransformerEncoderLayer", E, 3, 16, dropout=0.0)
    mask = _causal_np(T, kind)
    out = compare(th, dl, [_x((T, B, E))], {"src_mask": mask, "is_causal": True})
    x = dlcore.tensor(_x((T, B, E)))
    np.testing.assert_allclose(dl(x, is_causal=True).detach().numpy(), out.detach().numpy(), rtol=1e-5, atol=1e-6)
    pad = np.zeros((B, T), dtype=bool)
    pad[1, -1] = True
    if kind == "float":
        pad = np.where(pad, -np.inf, 0.0).astype("float32")
    compare(th, dl, [_x((T, B, E))], {"src_mask": mask, "is_causal": True, "src_key_padding_mask": pad})


def test_causal_mask_detection_routes_to_flash(monkeypatch):
    """A square causal mask (float or bool) runs SDPA with is_causal=True and no mask."""
    import dlcore.nn.transformer as tr

    seen = []
    real = tr.F.scaled_dot_product_attention

    def spy(q, k, v, attn_mask=None, dropout_p=0.0, is_causal=False):
        seen.append((attn_mask is None, is_causal))
        return real(q, k, v, attn_mask=attn_mask, dropout_p=dropout_p, is_causal=is_causal)

    monkeypatch.setattr(tr.F, "scaled_dot_product_attention", spy)
    layer = nn.TransformerEncoderLayer(8, 2, 16, dropout=0.0)
    x = dlcore.randn(5, 2, 8)
    for dt in (dlcore.float32, dlcore.bool):
        layer(x, src_mask=nn.Transformer.generate_square_subsequent_mask(5, dtype=dt))
    layer(x, src_mask=dlcore.zeros(5, 5))  # not causal
    assert seen == [(True, True), (True, True), (False, False)]
    # a stack checks the mask once (is_causal=None), then tells every layer
    checks = []
    real_check = tr._is_causal_mask
    monkeypatch.setattr(tr, "_is_causal_mask", lambda *a: checks.append(1) or real_check(*a))
    seen.clear()
    nn.TransformerEncoder(layer, 3)(x, mask=nn.Transformer.generate_square_subsequent_mask(5))
    assert len(checks) == 1 and seen == [(True, True)] * 3


def test_generate_square_subsequent_mask():
    for sz in (1, 4):
        assert_same(nn.Transformer.generate_square_subsequent_mask(sz), torch.nn.Transformer.generate_square_subsequent_mask(sz), 0, 0)
    assert_same(nn.Transformer.generate_square_subsequent_mask(4, dtype=dlcore.bool),
                torch.nn.Transformer.generate_square_subsequent_mask(4, dtype=torch.bool), 0, 0)


@pytest.mark.parametrize("norm_first", [False, True])
@pytest.mark.parametrize("batch_first", [False, True])
def test_decoder_layer(norm_first, batch_first):
    E, H, T, S, B = 16, 4, 5, 7, 2
    th, dl = _pair("TransformerDecoderLayer", E, H, 24, dropout=0.0, batch_first=batch_first, norm_first=norm_first,
                   activation="gelu" if norm_first else "relu")
    tgt = _x((B, T, E) if batch_first else (T, B, E), 1)
    mem = _x((B, S, E) if batch_first else (S, B, E), 2)
    mpad = np.zeros((B, S), dtype=bool)
    mpad[1, -3:] = True
    compare(th, dl, [tgt, mem], {"tgt_mask": _causal_np(T, "float"), "memory_key_padding_mask": mpad,
                                  "tgt_is_causal": True})
    mm = np.random.default_rng(3).standard_normal((T, S)).astype("float32")
    compare(th, dl, [tgt, mem], {"memory_mask": mm})


def test_unbatched():
    th, dl = _pair("TransformerEncoderLayer", 8, 2, 16, dropout=0.0)
    pad = np.array([False, False, True, False])
    compare(th, dl, [_x((4, 8))], {"src_key_padding_mask": pad})
    th, dl = _pair("TransformerDecoderLayer", 8, 2, 16, dropout=0.0, batch_first=True)
    compare(th, dl, [_x((3, 8)), _x((5, 8), 1)])


def _stack(cls, layer_cls, n, norm, **kw):
    torch.manual_seed(0)
    tl = getattr(torch.nn, layer_cls)(16, 4, 32, dropout=0.0, **kw)
    th_kw = {"enable_nested_tensor": False} if cls == "TransformerEncoder" else {}
    th = getattr(torch.nn, cls)(tl, n, norm=torch.nn.LayerNorm(16) if norm else None, **th_kw)
    dl = getattr(nn, cls)(getattr(nn, layer_cls)(16, 4, 32, dropout=0.0, **kw), n, norm=nn.LayerNorm(16) if norm else None)
    return th, dl


@pytest.mark.parametrize("norm", [False, True])
def test_encoder_stack(norm):
    th, dl = _stack("TransformerEncoder", "TransformerEncoderLayer", 3, norm, norm_first=norm)
    pad = np.zeros((2, 6), dtype=bool)
    pad[1, 4:] = True
    compare(th, dl, [_x((6, 2, 16))], {"src_key_padding_mask": pad})
    compare(th, dl, [_x((6, 2, 16))], {"mask": _causal_np(6, "float")})  # is_causal=None: detected


def test_encoder_clones_are_independent():
    layer = nn.TransformerEncoderLayer(8, 2, 16)
    enc = nn.TransformerEncoder(layer, 2)
    a, b = enc.layers[0].linear1.weight, enc.layers[1].linear1.weight
    assert a is not b and a is not layer.linear1.weight
    with dlcore.no_grad():
        a.fill_(1.0)
    assert not bool((b == 1.0).all().item())
    assert len(list(enc.parameters())) == 2 * len(list(layer.parameters()))


def test_torch_encoder_state_dict_loads_and_matches():
    """The issue's acceptance test: a PyTorch nn.TransformerEncoder's
    state_dict loads into dlcore and gives the same outputs (eval mode)."""
    torch.manual_seed(1)
    tl = torch.nn.TransformerEncoderLayer(32, 4, 64, dropout=0.1, activation="gelu", batch_first=True)
    th = torch.nn.TransformerEncoder(tl, 2, norm=torch.nn.LayerNorm(32), enable_nested_tensor=False).eval()
    dl = nn.TransformerEncoder(nn.TransformerEncoderLayer(32, 4, 64, dropout=0.1, activation="gelu", batch_first=True),
                               2, norm=nn.LayerNorm(32)).eval()
    dl.load_state_dict({k: dlcore.tensor(v.numpy()) for k, v in th.state_dict().items()})
    x = _x((3, 10, 32), 4)
    with torch.no_grad():
        want = th(torch.tensor(x))
    assert_same(dl(dlcore.tensor(x)), want, what="output", **TOL)


@pytest.mark.parametrize("batch_first", [False, True])
def test_full_transformer(batch_first):
    torch.manual_seed(0)
    kw = dict(d_model=16, nhead=4, num_encoder_layers=2, num_decoder_layers=2, dim_feedforward=24, dropout=0.0,
              batch_first=batch_first)
    th, dl = torch.nn.Transformer(**kw), nn.Transformer(**kw)
    assert sum(p.numel() for p in dl.parameters()) == sum(p.numel() for p in th.parameters())
    S, T, B = 6, 5, 2
    src = _x((B, S, 16) if batch_first else (S, B, 16), 1)
    tgt = _x((B, T, 16) if batch_first else (T, B, 16), 2)
    spad = np.zeros((B, S), dtype=bool)
    spad[0, -1] = True
    compare(th, dl, [src, tgt], {"tgt_mask": _causal_np(T, "float"), "src_key_padding_mask": spad,
                                 "memory_key_padding_mask": spad})


def test_transformer_errors():
    model = nn.Transformer(8, 2, 1, 1, 16)
    with pytest.raises(RuntimeError, match="batch number"):
        model(dlcore.randn(4, 2, 8), dlcore.randn(3, 3, 8))
    with pytest.raises(RuntimeError, match="d_model"):
        model(dlcore.randn(4, 2, 6), dlcore.randn(3, 2, 6))
    with pytest.raises(RuntimeError, match="activation should be relu/gelu"):
        nn.TransformerEncoderLayer(8, 2, activation="swish")
    layer = nn.TransformerEncoderLayer(8, 2, 16)
    with pytest.raises(RuntimeError, match="attn_mask of shape"):
        layer(dlcore.randn(4, 2, 8), src_mask=dlcore.zeros(3, 3))
    with pytest.raises(AssertionError, match="key_padding_mask"):
        layer(dlcore.randn(4, 2, 8), src_key_padding_mask=dlcore.zeros(2, 3, dtype=dlcore.bool))
    with pytest.raises(RuntimeError, match="2-D .* or 3-D"):
        layer(dlcore.randn(8))


def test_dropout_train_eval():
    layer = nn.TransformerEncoderLayer(16, 4, 32, dropout=0.3, batch_first=True)
    x = dlcore.randn(2, 6, 16)
    dlcore.manual_seed(7)
    a = layer(x)
    dlcore.manual_seed(7)
    b = layer(x)
    c = layer(x)
    assert tuple(a.shape) == (2, 6, 16)
    np.testing.assert_array_equal(a.detach().numpy(), b.detach().numpy())  # same seed, same masks
    assert not np.allclose(b.detach().numpy(), c.detach().numpy())  # fresh masks
    layer.eval()
    e1, e2 = layer(x), layer(x)
    np.testing.assert_array_equal(e1.detach().numpy(), e2.detach().numpy())
    ref = nn.TransformerEncoderLayer(16, 4, 32, dropout=0.0, batch_first=True)
    ref.load_state_dict(layer.state_dict())
    np.testing.assert_allclose(e1.detach().numpy(), ref(x).detach().numpy(), rtol=1e-6, atol=1e-6)
    layer.train()
    layer(x).sum().backward()
    assert all(p.grad is not None for p in layer.parameters())


# ---------------------------------------------------------------- positional


def _tutorial_pe(d_model, max_len):
    """The PyTorch tutorial's table, computed in float64 (no rounding of the angle)."""
    pos = torch.arange(max_len, dtype=torch.float64).unsqueeze(1)
    div = torch.exp(torch.arange(0, d_model, 2, dtype=torch.float64) * (-math.log(10000.0) / d_model))
    pe = torch.zeros(max_len, 1, d_model, dtype=torch.float64)
    pe[:, 0, 0::2] = torch.sin(pos * div)
    pe[:, 0, 1::2] = torch.cos(pos * div[: d_model // 2])
    return pe.float()


@pytest.mark.parametrize("d_model", [8, 7])
@pytest.mark.parametrize("batch_first", [False, True])
def test_sinusoidal_positional_encoding(d_model, batch_first):
    pe = nn.SinusoidalPositionalEncoding(d_model, max_len=50, batch_first=batch_first)
    assert list(pe.state_dict()) == ["pe"] and not list(pe.parameters())
    table = _tutorial_pe(d_model, 50)
    assert_same(pe.pe, table, 1e-6, 1e-6)
    x = _x((3, 11, d_model) if batch_first else (11, 3, d_model))
    xd, xt = dlcore.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    want = xt + (table[:11].transpose(0, 1) if batch_first else table[:11])
    got = pe(xd)
    assert_same(got, want, 1e-6, 1e-6)
    got.sum().backward()
    want.sum().backward()
    assert_same(xd.grad, xt.grad, 0, 0)
    with pytest.raises(ValueError, match="exceeds max_len"):
        pe(dlcore.zeros(3, 51, d_model) if batch_first else dlcore.zeros(51, 3, d_model))


def test_sinusoidal_dropout():
    pe = nn.SinusoidalPositionalEncoding(8, max_len=20, dropout=0.5)
    x = dlcore.zeros(10, 2, 8)
    dlcore.manual_seed(3)
    a = pe(x)
    dlcore.manual_seed(3)
    np.testing.assert_array_equal(a.numpy(), pe(x).numpy())
    zeros = float((a == 0).float().mean().item())
    assert 0.2 < zeros < 0.8
    pe.eval()
    assert_same(pe(x), torch.zeros(10, 2, 8) + _tutorial_pe(8, 20)[:10], 1e-6, 1e-6)


@pytest.mark.parametrize("batch_first", [False, True])
def test_learned_positional_embedding(batch_first):
    pos = nn.LearnedPositionalEmbedding(12, 6, batch_first=batch_first)
    assert [n for n, _ in pos.named_parameters()] == ["weight"] and tuple(pos.weight.shape) == (12, 6)
    w = pos.weight.detach().numpy()
    wt = torch.tensor(w, requires_grad=True)
    x = _x((2, 5, 6) if batch_first else (5, 2, 6))
    xd, xt = dlcore.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    want = xt + (wt[:5] if batch_first else wt[:5].unsqueeze(1))
    got = pos(xd)
    assert_same(got, want, 1e-6, 1e-6)
    g = _x(tuple(want.shape), 1)
    got.backward(dlcore.tensor(g))
    want.backward(torch.tensor(g))
    assert_same(xd.grad, xt.grad, 1e-6, 1e-6)
    assert_same(pos.weight.grad, wt.grad, 1e-6, 1e-6)  # rows >= 5 get zero gradient
    with pytest.raises(ValueError, match="exceeds max_len"):
        pos(dlcore.zeros(13, 2, 6) if not batch_first else dlcore.zeros(2, 13, 6))


# ---------------------------------------------------------------- ViT


class _TorchPatchEmbed(torch.nn.Module):
    """The same computation written in torch (timm's PatchEmbed + _pos_embed)."""

    def __init__(self, img, patch, chans, dim, cls):
        super().__init__()
        self.proj = torch.nn.Conv2d(chans, dim, patch, stride=patch)
        n = (img[0] // patch[0]) * (img[1] // patch[1])
        if cls:
            self.cls_token = torch.nn.Parameter(torch.randn(1, 1, dim))
        self.pos_embed = torch.nn.Parameter(torch.randn(1, n + (1 if cls else 0), dim) * 0.02)
        self.cls = cls

    def forward(self, x):
        x = self.proj(x).flatten(2).transpose(1, 2)
        if self.cls:
            x = torch.cat([self.cls_token.expand(x.shape[0], -1, -1), x], dim=1)
        return x + self.pos_embed


@pytest.mark.parametrize("img,patch,cls", [((8, 8), (4, 4), True), ((12, 8), (4, 2), False), ((6, 6), (3, 3), True)])
def test_patch_embedding(img, patch, cls):
    torch.manual_seed(0)
    th = _TorchPatchEmbed(img, patch, 3, 10, cls)
    dl = nn.PatchEmbedding(img, patch, 3, 10, cls_token=cls)
    assert dl.num_patches == (img[0] // patch[0]) * (img[1] // patch[1])
    out = compare(th, dl, [_x((2, 3, *img))])
    assert tuple(out.shape) == (2, dl.num_patches + (1 if cls else 0), 10)


def test_patch_embedding_init_and_errors():
    pe = nn.PatchEmbedding(32, 8, 3, 16)
    assert sorted(pe.state_dict()) == ["cls_token", "pos_embed", "proj.bias", "proj.weight"]
    assert tuple(pe.pos_embed.shape) == (1, 17, 16) and tuple(pe.cls_token.shape) == (1, 1, 16)
    assert 0.012 < float(pe.pos_embed.std().item()) < 0.03  # timm: trunc_normal_(std=0.02)
    with pytest.raises(ValueError, match="not divisible"):
        nn.PatchEmbedding(30, 8)
    with pytest.raises(RuntimeError, match="expected input"):
        pe(dlcore.randn(1, 3, 16, 16))


def test_memory_is_causal_with_padding():
    """Cross-attention causal hint with L != S and a memory padding mask (the
    materialised path) equals the explicit top-left causal mask."""
    layer = nn.TransformerDecoderLayer(8, 2, 16, dropout=0.0)
    tgt, mem = dlcore.randn(4, 2, 8), dlcore.randn(6, 2, 8)
    pad = dlcore.tensor(np.array([[False] * 6, [False] * 5 + [True]]))
    mask = dlcore.tensor(np.triu(np.ones((4, 6), dtype=bool), 1))
    a = layer(tgt, mem, memory_key_padding_mask=pad, memory_is_causal=True)
    b = layer(tgt, mem, memory_mask=mask, memory_key_padding_mask=pad)
    c = layer(tgt, mem, memory_is_causal=True)  # the flash causal path
    d = layer(tgt, mem, memory_mask=mask)
    np.testing.assert_allclose(a.detach().numpy(), b.detach().numpy(), rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(c.detach().numpy(), d.detach().numpy(), rtol=1e-5, atol=1e-6)


def test_non_contiguous_input():
    """A transposed view as input (batch-first data fed to a sequence-first layer)."""
    th, dl = _pair("TransformerEncoderLayer", 12, 3, 16, dropout=0.0)
    _load(dl, th)
    x = _x((2, 7, 12))
    xt, xd = torch.tensor(x, requires_grad=True), dlcore.tensor(x, requires_grad=True)
    to, do = th(xt.transpose(0, 1)), dl(xd.transpose(0, 1))
    assert_same(do, to, what="output", **TOL)
    g = _x(tuple(to.shape), 1)
    to.backward(torch.tensor(g))
    do.backward(dlcore.tensor(g))
    assert_same(xd.grad, xt.grad, what="grad of input", **TOL)
