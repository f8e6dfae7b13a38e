"""F.scaled_dot_product_attention (tiled flash kernel and the materialised
reference) and nn.MultiheadAttention vs torch, forward and every gradient:
masks (bool / float, broadcast), causal, T=1, L != S, several key tiles,
head_dim not a multiple of the SIMD width; a torch state_dict loads."""

import numpy as np
import pytest
from helpers import check_op, import_torch, nograd

import dlcore
import dlcore.nn as nn
import dlcore.nn.functional as F
from dlcore.nn.functional_seq import sdpa_reference

SHAPES = [
    # (q, k, v)
    ((2, 3, 4, 5), (2, 3, 6, 5), (2, 3, 6, 7)),
    ((1, 1, 1, 3), (1, 1, 1, 3), (1, 1, 1, 3)),  # T = 1
    ((2, 37, 9), (2, 150, 9), (2, 150, 4)),  # several key tiles, 3-D
    ((1, 2, 70, 16), (1, 2, 70, 16), (1, 2, 70, 16)),  # several query blocks
    ((5, 8), (3, 8), (3, 2)),  # 2-D
    ((4, 2, 70, 8), (4, 2, 130, 8), (4, 2, 130, 8)),  # many heads (one-task-per-head backward), 2 blocks
    # packed kernels: 96-row tiles, so these cross several query blocks and key
    # tiles with ragged last tiles; head dims not a multiple of the SIMD width
    ((1, 2, 200, 17), (1, 2, 200, 17), (1, 2, 200, 33)),  # odd T, few heads (block-parallel path)
    ((2, 150, 24), (2, 230, 24), (2, 230, 24)),  # L < S (causal: top-left aligned)
    ((2, 230, 8), (2, 100, 8), (2, 100, 5)),  # L > S
    ((3, 4, 193, 64), (3, 4, 193, 64), (3, 4, 193, 64)),  # d = 64, many heads (per-head path)
]


@pytest.mark.parametrize("i", range(len(SHAPES)))
@pytest.mark.parametrize("causal", [False, True])
def test_sdpa(i, causal):
    check_op(lambda m, q, k, v: m.nn.functional.scaled_dot_product_attention(q, k, v, is_causal=causal),
             list(SHAPES[i]), rtol=1e-4, atol=1e-5)


def test_sdpa_scale_float64_non_contiguous():
    check_op(lambda m, q, k, v: m.nn.functional.scaled_dot_product_attention(q, k, v, scale=0.3, is_causal=True),
             [(2, 9, 6), (2, 11, 6), (2, 11, 3)], dtype="float64")
    check_op(lambda m, q, k, v: m.nn.functional.scaled_dot_product_attention(q, k, v),
             [(2, 9, 6), (2, 11, 6), (2, 11, 3)], non_contiguous=True, rtol=1e-4, atol=1e-5)


def test_sdpa_masks():
    rng = np.random.default_rng(1)
    bool_ls = rng.random((6, 9)) < 0.7
    bool_ls[:, 0] = True  # no fully masked row
    check_op(lambda m, q, k, v, msk: m.nn.functional.scaled_dot_product_attention(q, k, v, attn_mask=msk),
             [(2, 3, 6, 5), (2, 3, 9, 5), (2, 3, 9, 4), bool_ls], rtol=1e-4, atol=1e-5)
    per_batch = nograd(rng.standard_normal((2, 1, 6, 9)).astype("float32"))  # broadcast over heads
    check_op(lambda m, q, k, v, msk: m.nn.functional.scaled_dot_product_attention(q, k, v, attn_mask=msk),
             [(2, 3, 6, 5), (2, 3, 9, 5), (2, 3, 9, 4), per_batch], rtol=1e-4, atol=1e-5)
    row = nograd(rng.standard_normal((9,)).astype("float32"))  # 1-D mask broadcast to (L, S)
    check_op(lambda m, q, k, v, msk: m.nn.functional.scaled_dot_product_attention(q, k, v, attn_mask=msk),
             [(2, 6, 5), (2, 9, 5), (2, 9, 4), row], rtol=1e-4, atol=1e-5)
    # a float mask that requires grad takes the reference path (grad reaches the mask)
    check_op(lambda m, q, k, v, msk: m.nn.functional.scaled_dot_product_attention(q, k, v, attn_mask=msk),
             [(2, 6, 5), (2, 9, 5), (2, 9, 4), (6, 9)], rtol=1e-4, atol=1e-5)


def test_sdpa_masks_several_tiles():
    # masks read per tile: bool (broadcast) and per-head float masks over
    # several 96×96 tiles, ragged edges, a few fully masked keys
    rng = np.random.default_rng(2)
    bool_ls = rng.random((200, 250)) < 0.6
    bool_ls[:, 3] = True
    check_op(lambda m, q, k, v, msk: m.nn.functional.scaled_dot_product_attention(q, k, v, attn_mask=msk),
             [(1, 2, 200, 20), (1, 2, 250, 20), (1, 2, 250, 12), bool_ls], rtol=1e-4, atol=1e-5)
    per_head = nograd(rng.standard_normal((3, 4, 130, 199)).astype("float32"))
    check_op(lambda m, q, k, v, msk: m.nn.functional.scaled_dot_product_attention(q, k, v, attn_mask=msk),
             [(3, 4, 130, 16), (3, 4, 199, 16), (3, 4, 199, 16), per_head], rtol=1e-4, atol=1e-5)


_SIMD_SCRIPT = """
import sys
import numpy as np
import dlcore
import dlcore.nn.functional as F
dlcore.set_num_threads(int(sys.argv[2]))
rng = np.random.default_rng(0)
res = {}
# f64 runs on kernels of other widths (NR 16, 8, 12: every lane-group width
# of the column softmax); "masked" reads a float mask column-wise per head
cases = {"few": (1, 1, 161, 203, 19, True, "float32", False), "many": (2, 4, 100, 100, 64, False, "float32", False),
         "f64": (1, 3, 130, 111, 20, True, "float64", False), "masked": (2, 2, 140, 150, 24, False, "float32", True)}
for name, (b, h, l, s, d, causal, dt, masked) in cases.items():
    q, k, v, g = (rng.standard_normal(sh).astype(dt) for sh in [(b, h, l, d), (b, h, s, d), (b, h, s, d), (b, h, l, d)])
    mask = rng.standard_normal((b, h, l, s)).astype(dt) if masked else None
    ts = [dlcore.tensor(x, requires_grad=True) for x in (q, k, v)]
    out = F.scaled_dot_product_attention(*ts, attn_mask=None if mask is None else dlcore.tensor(mask), is_causal=causal)
    out.backward(dlcore.tensor(g))
    res.update({name + "_out": out.detach().numpy(), **{f"{name}_d{n}": t.grad.numpy() for n, t in zip("qkv", ts)}})
    res.update({f"{name}_in_{i}": x for i, x in enumerate((q, k, v, g) + ((mask,) if masked else ()))})
np.savez(sys.argv[1], **res)
"""


@pytest.mark.parametrize("mode,threads", [("scalar", 1), ("avx2", 3), ("avx512", 2), ("avx512", 1)])
def test_sdpa_simd_paths_and_threads(mode, threads, tmp_path):
    """Every instruction-set path (the micro-kernel, packing and fused row
    passes are chosen per process by DLCORE_SIMD) and thread count, both
    work splits (few heads: per block; many heads: per head), against torch."""
    import os
    import subprocess
    import sys

    flags = set(open("/proc/cpuinfo").read().split()) if os.path.exists("/proc/cpuinfo") else set()
    if mode == "avx2" and not {"avx2", "fma"} <= flags or mode == "avx512" and "avx512f" not in flags:
        pytest.skip(f"CPU lacks {mode}")
    torch = import_torch()
    path = tmp_path / "out.npz"
    env = dict(os.environ, DLCORE_SIMD=mode)
    proc = subprocess.run([sys.executable, "-c", _SIMD_SCRIPT, str(path), str(threads)], env=env,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    got = np.load(path)
    for name, causal in (("few", True), ("many", False), ("f64", True), ("masked", False)):
        q, k, v, g = (torch.tensor(got[f"{name}_in_{i}"]) for i in range(4))
        mask = torch.tensor(got[f"{name}_in_4"]) if f"{name}_in_4" in got else None
        for t in (q, k, v):
            t.requires_grad_(True)
        out = torch.nn.functional.scaled_dot_product_attention(q, k, v, attn_mask=mask, is_causal=causal)
        out.backward(g)
        for key, want in (("out", out), ("dq", q.grad), ("dk", k.grad), ("dv", v.grad)):
            np.testing.assert_allclose(got[f"{name}_{key}"], want.detach().numpy(), rtol=2e-4, atol=2e-5,
                                       err_msg=f"{name} {key} DLCORE_SIMD={mode} threads={threads}")


def test_flash_matches_reference():
    dlcore.manual_seed(0)
    q, k, v = dlcore.randn(2, 4, 130, 24), dlcore.randn(2, 4, 130, 24), dlcore.randn(2, 4, 130, 24)
    for causal in (False, True):
        a = F.scaled_dot_product_attention(q, k, v, is_causal=causal)
        b = sdpa_reference(q, k, v, is_causal=causal)
        np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=1e-4, atol=1e-5)


def test_sdpa_errors():
    q = dlcore.randn(2, 4, 8)
    with pytest.raises(RuntimeError, match="scaled_dot_product_attention: shape mismatch"):
        F.scaled_dot_product_attention(q, dlcore.randn(2, 4, 7), dlcore.randn(2, 4, 8))
    with pytest.raises(RuntimeError, match="explicit attn_mask should not be set"):
        F.scaled_dot_product_attention(q, q, q, attn_mask=dlcore.ones(4, 4, dtype=dlcore.bool), is_causal=True)


MHA_CASES = [
    # (L, S, N, E, H, key_padding_mask?, attn_mask kind, average)
    (5, 5, 2, 8, 2, False, None, True),
    (4, 7, 3, 12, 3, True, "bool2d", False),
    (6, 6, 2, 8, 4, True, "float3d", True),
    (1, 1, 1, 4, 1, False, None, True),
]


@pytest.mark.parametrize("case", MHA_CASES, ids=[str(i) for i in range(len(MHA_CASES))])
@pytest.mark.parametrize("need_weights", [True, False])
def test_multi_head_attention_forward(case, need_weights):
    L, S, N, E, H, kpm, am, avg = case
    rng = np.random.default_rng(2)
    args = [(L, N, E), (S, N, E), (S, N, E), (3 * E, E), (3 * E,), (E, E), (E,)]
    if kpm:
        k = rng.random((N, S)) < 0.3
        k[:, 0] = False
        args.append(k)
    else:
        args.append(None)
    if am == "bool2d":
        a = rng.random((L, S)) < 0.3
        a[:, 0] = False
        args.append(a)
    elif am == "float3d":
        args.append(nograd(rng.standard_normal((N * H, L, S))))
    else:
        args.append(None)

    def fn(m, q, k, v, wi, bi, wo, bo, kp, amask):
        return m.nn.functional.multi_head_attention_forward(
            q, k, v, E, H, wi, bi, None, None, False, 0.0, wo, bo, training=True, key_padding_mask=kp,
            need_weights=need_weights, attn_mask=amask, average_attn_weights=avg)

    # float64: with random [-2, 2) weights the logits are large and float32
    # summation-order noise exceeds a useful tolerance on the small gradients
    check_op(fn, args, dtype="float64", rtol=1e-8, atol=1e-8)


@pytest.mark.parametrize("batch_first", [False, True])
@pytest.mark.parametrize("bias", [True, False])
def test_multihead_attention_module_loads_torch_state_dict(batch_first, bias):
    torch = import_torch()
    tm = torch.nn.MultiheadAttention(16, 4, bias=bias, batch_first=batch_first)
    m = nn.MultiheadAttention(16, 4, bias=bias, batch_first=batch_first)
    assert set(m.state_dict()) == set(tm.state_dict())
    for name, t in tm.state_dict().items():
        assert tuple(m.state_dict()[name].shape) == tuple(t.shape)
    m.load_state_dict({k: dlcore.tensor(v.numpy()) for k, v in tm.state_dict().items()})
    x = np.random.default_rng(3).standard_normal((3, 5, 16)).astype("float32")
    N = 3 if batch_first else 5
    kpm = np.zeros((N, x.shape[1] if batch_first else x.shape[0]), dtype=bool)
    kpm[:, -1] = True
    out, w = m(dlcore.tensor(x), dlcore.tensor(x), dlcore.tensor(x), key_padding_mask=dlcore.tensor(kpm),
               average_attn_weights=False)
    tout, tw = tm(torch.tensor(x), torch.tensor(x), torch.tensor(x), key_padding_mask=torch.tensor(kpm),
                  average_attn_weights=False)
    np.testing.assert_allclose(out.detach().numpy(), tout.detach().numpy(), rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(w.detach().numpy(), tw.detach().numpy(), rtol=1e-4, atol=1e-5)
    # unbatched input, no weights (the flash path)
    o1, w1 = m(dlcore.tensor(x[0]), dlcore.tensor(x[0]), dlcore.tensor(x[0]), need_weights=False)
    t1, _ = tm(torch.tensor(x[0]), torch.tensor(x[0]), torch.tensor(x[0]), need_weights=False)
    assert w1 is None
    np.testing.assert_allclose(o1.detach().numpy(), t1.detach().numpy(), rtol=1e-4, atol=1e-5)


def test_multihead_attention_errors():
    with pytest.raises(AssertionError, match="divisible"):
        nn.MultiheadAttention(10, 3)
    m = nn.MultiheadAttention(8, 2)
    x = dlcore.randn(4, 2, 8)
    with pytest.raises(RuntimeError, match="2D attn_mask"):
        m(x, x, x, attn_mask=dlcore.zeros(3, 4))
    with pytest.raises(RuntimeError, match="Need attn_mask"):
        m(x, x, x, is_causal=True)


def test_mha_dtype_reaches_every_parameter():
    import dlcore

    mha = dlcore.nn.MultiheadAttention(8, 2, dtype=dlcore.float64)
    assert {p.dtype for p in mha.parameters()} == {dlcore.float64}
    x = dlcore.randn(2, 3, 8, dtype=dlcore.float64)
    assert mha(x, x, x)[0].dtype == dlcore.float64
