"""`seq` group of ``python -m dlcore.bench``: the sequence-model shapes of
issue 5 (LSTM layers, scaled-dot-product attention), each one forward +
backward on identical data and weights in dlcore and torch.

FLOP counts: an LSTM layer's forward is 2·T·B·4H·(I+H) multiply-adds×2; its
backward does the two matching products (input and weight gradients), so
fwd+bwd ≈ 3× forward. Attention forward is 4·B·H·T²·d (QKᵀ and PV);
FlashAttention's backward recomputes P and does four more products, 2.5× the
forward, so fwd+bwd = 14·B·H·T²·d, halved under a causal mask.

``transformer_layer_step`` is one AdamW training step of
``nn.TransformerEncoderLayer(256, 4, 1024, dropout=0.0, batch_first=True)`` on
B=16 × T=128: its linears (q,k,v, out, two MLP layers) do 2·B·T·(4E²+2E·F)
forward and twice that backward; its attention adds 4·B·E·T² forward and
2.5× that backward.
"""

from __future__ import annotations

import numpy as np

# name -> (description, (T, B, I, H))
_LSTM_SPECS = {
    "lstm_t100": ("LSTM T=100 B=64 128->256, fwd+bwd", (100, 64, 128, 256)),
    "lstm_small": ("LSTM T=50 B=16 32->64, fwd+bwd", (50, 16, 32, 64)),
}
# name -> (description, (B, heads, T, d), is_causal)
_SDPA_SPECS = {
    "sdpa_t512": ("SDPA B=8 H=8 T=512 d=64, fwd+bwd", (8, 8, 512, 64), False),
    "sdpa_causal_t2048": ("SDPA causal B=8 H=8 T=2048 d=64, fwd+bwd", (8, 8, 2048, 64), True),
}


# name -> (description, (B, T, d_model, nhead, dim_feedforward))
_TRANSFORMER_SPECS = {
    "transformer_layer_step": ("TransformerEncoderLayer(256, 4, 1024) B=16 T=128 AdamW step", (16, 128, 256, 4, 1024)),
}


def _transformer_flops(b, t, e, h, f):
    linear = 2 * b * t * (4 * e * e + 2 * e * f)
    attention = 4 * b * e * t * t
    return 3 * linear + 7 * attention // 2


def _lstm_flops(t, b, i, h):
    return 3 * 2 * t * b * 4 * h * (i + h)


def _sdpa_flops(b, nh, t, d, causal):
    return 14 * b * nh * t * t * d // (2 if causal else 1)


SEQ_CASES = {name: ("seq", desc, _lstm_flops(*shape)) for name, (desc, shape) in _LSTM_SPECS.items()}
SEQ_CASES.update({name: ("seq", desc, _sdpa_flops(*shape, causal)) for name, (desc, shape, causal) in _SDPA_SPECS.items()})
SEQ_CASES.update({name: ("seq", desc, _transformer_flops(*shape)) for name, (desc, shape) in _TRANSFORMER_SPECS.items()})


def _lstm_step(name, m, reference_model):
    t, b, i, h = _LSTM_SPECS[name][1]
    if m.__name__ == "torch":
        m.manual_seed(0)
    lstm = m.nn.LSTM(i, h)
    if reference_model is not None:
        lstm.load_state_dict({k: m.tensor(v.detach().numpy()) for k, v in reference_model.state_dict().items()})
    rng = np.random.default_rng(0)
    x = m.tensor(rng.standard_normal((t, b, i)).astype(np.float32), requires_grad=True)
    g = m.tensor(rng.standard_normal((t, b, h)).astype(np.float32))
    params = list(lstm.parameters())

    def step():
        x.grad = None
        for p in params:
            p.grad = None
        out, _ = lstm(x)
        out.backward(g)
        return out

    return step, lstm


def _sdpa_step(name, m):
    _, shape, causal = _SDPA_SPECS[name]
    rng = np.random.default_rng(0)
    q, k, v = (m.tensor(rng.standard_normal(shape).astype(np.float32), requires_grad=True) for _ in range(3))
    g = m.tensor(rng.standard_normal(shape).astype(np.float32))
    F = m.nn.functional

    def step():
        q.grad = k.grad = v.grad = None
        out = F.scaled_dot_product_attention(q, k, v, is_causal=causal)
        out.backward(g)
        return out

    return step


def _transformer_step(name, m, reference_model):
    b, t, e, h, f = _TRANSFORMER_SPECS[name][1]
    if m.__name__ == "torch":
        m.manual_seed(0)
    layer = m.nn.TransformerEncoderLayer(e, h, f, dropout=0.0, batch_first=True)
    if reference_model is not None:
        layer.load_state_dict({k: m.tensor(v.detach().numpy()) for k, v in reference_model.state_dict().items()})
    x = m.tensor(np.random.default_rng(0).standard_normal((b, t, e)).astype(np.float32))
    opt = m.optim.AdamW(layer.parameters(), lr=1e-4)

    def step():
        opt.zero_grad()
        y = layer(x)
        loss = (y * y).mean()  # mean of squares; y * y, not y ** 2: dlcore's pow is ~7x slower (a Rust item)
        loss.backward()
        opt.step()
        return loss

    return step, layer


def build_seq_case(name: str, m, reference_model=None):
    """(step, model_or_None) for `name` in library `m`; pass torch's model as
    `reference_model` so the dlcore side starts from the same weights."""
    if name in _LSTM_SPECS:
        return _lstm_step(name, m, reference_model)
    if name in _TRANSFORMER_SPECS:
        return _transformer_step(name, m, reference_model)
    return _sdpa_step(name, m), None
