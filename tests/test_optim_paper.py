"""The optimizers PyTorch lacks (AdaBound, AdaBelief, AdamP, Lion) against
float64 NumPy transcriptions of the algorithms in their papers."""

from __future__ import annotations

import dlcore
import numpy as np
import pytest
from dlcore import optim
from test_optim import STEPS, grads_for, init_params, to_np

# ---- paper optimizers vs float64 NumPy transcriptions --------------------------------


def ref_adabound(ps, grads_seq, lr=1e-3, betas=(0.9, 0.999), final_lr=0.1, gamma=1e-3, eps=1e-8, weight_decay=0.0,
                 amsbound=False):  # fmt: skip
    """Luo et al. 2019, Algorithm 2/3 (bounds as the authors' code)."""
    b1, b2 = betas
    st = [
        {"m": np.zeros_like(p), "v": np.zeros_like(p), "vmax": np.zeros_like(p)}
        for p in ps
    ]
    for t, grads in enumerate(grads_seq, start=1):
        for p, g, s in zip(ps, grads, st):
            g = g + weight_decay * p
            s["m"] = b1 * s["m"] + (1 - b1) * g
            s["v"] = b2 * s["v"] + (1 - b2) * g * g
            v = s["v"]
            if amsbound:
                s["vmax"] = np.maximum(s["vmax"], s["v"])
                v = s["vmax"]
            step_size = lr * np.sqrt(1 - b2**t) / (1 - b1**t)
            lower = final_lr * (1 - 1 / (gamma * t + 1))
            upper = final_lr * (1 + 1 / (gamma * t))
            p -= np.clip(step_size / (np.sqrt(v) + eps), lower, upper) * s["m"]
    return ps


def ref_adabelief(ps, grads_seq, lr=1e-3, betas=(0.9, 0.999), eps=1e-16, weight_decay=0.0, amsgrad=False,
                  decoupled_weight_decay=True):  # fmt: skip
    """Zhuang et al. 2020, Algorithm 2."""
    b1, b2 = betas
    st = [
        {"m": np.zeros_like(p), "s": np.zeros_like(p), "smax": np.zeros_like(p)}
        for p in ps
    ]
    for t, grads in enumerate(grads_seq, start=1):
        for p, g, s in zip(ps, grads, st):
            if decoupled_weight_decay:
                p *= 1 - lr * weight_decay
            else:
                g = g + weight_decay * p
            s["m"] = b1 * s["m"] + (1 - b1) * g
            s["s"] = b2 * s["s"] + (1 - b2) * (g - s["m"]) ** 2 + eps
            sv = s["s"]
            if amsgrad:
                s["smax"] = np.maximum(s["smax"], sv)
                sv = s["smax"]
            m_hat, s_hat = s["m"] / (1 - b1**t), sv / (1 - b2**t)
            p -= lr * m_hat / (np.sqrt(s_hat) + eps)
    return ps


def ref_adamp(ps, grads_seq, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0, delta=0.1, wd_ratio=0.1,
              nesterov=False):  # fmt: skip
    """Heo et al. 2021, Algorithm 2 (projection as the authors' code)."""
    b1, b2 = betas
    st = [{"m": np.zeros_like(p), "v": np.zeros_like(p)} for p in ps]

    def cos(x, y):  # rows of (n, -1) views
        return np.abs((x * y).sum(1)) / np.maximum(
            np.linalg.norm(x, axis=1) * np.linalg.norm(y, axis=1), eps
        )

    for t, grads in enumerate(grads_seq, start=1):
        for p, g, s in zip(ps, grads, st):
            s["m"] = b1 * s["m"] + (1 - b1) * g
            s["v"] = b2 * s["v"] + (1 - b2) * g * g
            denom = np.sqrt(s["v"]) / np.sqrt(1 - b2**t) + eps
            u = (b1 * s["m"] + (1 - b1) * g) / denom if nesterov else s["m"] / denom
            ratio = 1.0
            if p.ndim > 1:
                for rows in (p.shape[0], 1):
                    pv, gv = p.reshape(rows, -1), g.reshape(rows, -1)
                    if cos(gv, pv).max() < delta / np.sqrt(pv.shape[1]):
                        pn = pv / (np.linalg.norm(pv, axis=1, keepdims=True) + eps)
                        u = (
                            u.reshape(rows, -1)
                            - pn * (pn * u.reshape(rows, -1)).sum(1, keepdims=True)
                        ).reshape(p.shape)
                        ratio = wd_ratio
                        break
            if weight_decay > 0:
                p *= 1 - lr * weight_decay * ratio
            p -= lr / (1 - b1**t) * u
    return ps


def ref_lion(
    ps, grads_seq, lr=1e-4, betas=(0.9, 0.99), weight_decay=0.0, maximize=False
):
    """Chen et al. 2023, Program 1."""
    b1, b2 = betas
    ms = [np.zeros_like(p) for p in ps]
    for grads in grads_seq:
        for p, g, m in zip(ps, grads, ms):
            g = -g if maximize else g
            c = b1 * m + (1 - b1) * g
            p *= 1 - lr * weight_decay
            p -= lr * np.sign(c)
            m *= b2
            m += (1 - b2) * g
    return ps


PAPER_CONFIGS = [
    ("AdaBound", ref_adabound, {}),
    (
        "AdaBound",
        ref_adabound,
        {
            "lr": 0.01,
            "final_lr": 0.05,
            "gamma": 0.01,
            "weight_decay": 0.01,
            "amsbound": True,
        },
    ),
    ("AdaBelief", ref_adabelief, {}),
    (
        "AdaBelief",
        ref_adabelief,
        {"lr": 0.01, "eps": 1e-8, "weight_decay": 0.1, "amsgrad": True},
    ),
    (
        "AdaBelief",
        ref_adabelief,
        {"lr": 0.01, "weight_decay": 0.1, "decoupled_weight_decay": False},
    ),
    ("AdamP", ref_adamp, {}),
    ("AdamP", ref_adamp, {"lr": 0.01, "weight_decay": 0.1, "nesterov": True}),
    ("Lion", ref_lion, {}),
    (
        "Lion",
        ref_lion,
        {"lr": 1e-3, "betas": (0.95, 0.98), "weight_decay": 0.5, "maximize": True},
    ),
]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize(
    "name,ref,cfg", PAPER_CONFIGS, ids=lambda v: getattr(v, "__name__", str(v))
)
def test_paper_optimizer_matches_numpy_reference(name, ref, cfg, dtype):
    seq = [grads_for(s, dtype=np.float64) for s in range(STEPS)]
    expect = ref(
        [p.astype(np.float64) for p in init_params(dtype=np.float64)], seq, **cfg
    )
    dp = [
        dlcore.tensor(a.astype(dtype), requires_grad=True)
        for a in init_params(dtype=np.float64)
    ]
    opt = getattr(optim, name)(dp, **cfg)
    for grads in seq:
        for d, g in zip(dp, grads):
            d.grad = dlcore.tensor(g.astype(dtype))
        opt.step()
    rtol, atol = (1e-4, 1e-5) if dtype == np.float32 else (1e-10, 1e-12)
    if name == "Lion" and dtype == np.float32:
        atol = 1e-4  # sign() of a near-zero float32 momentum may flip one lr-sized step
    for i, (d, e) in enumerate(zip(dp, expect)):
        np.testing.assert_allclose(
            to_np(d), e, rtol=rtol, atol=atol, err_msg=f"param {i}"
        )


def test_adamp_projects_scale_invariant_weights():
    """A weight whose gradient is orthogonal to it (as behind batch norm) is
    updated only tangentially by AdamP, so its norm barely grows; Adam grows it."""
    rng = np.random.default_rng(0)
    w0 = rng.standard_normal((8, 16)).astype(np.float64)
    norms = {}
    for name in ("Adam", "AdamP"):
        w = dlcore.tensor(w0.copy(), requires_grad=True)
        opt = getattr(optim, name)([w], lr=0.05)
        for _ in range(30):
            wn = w.detach().numpy()
            g = rng.standard_normal(wn.shape)
            g -= (
                (g * wn).sum(1, keepdims=True) / (wn * wn).sum(1, keepdims=True) * wn
            )  # orthogonal per row
            w.grad = dlcore.tensor(g)
            opt.step()
        norms[name] = np.linalg.norm(w.detach().numpy())
    assert norms["AdamP"] < norms["Adam"]
    assert norms["AdamP"] == pytest.approx(np.linalg.norm(w0), rel=0.02)


def test_lion_steps_are_exactly_lr():
    p = dlcore.tensor([1.0, 2.0, 3.0, 4.0], requires_grad=True)
    opt = optim.Lion([p], lr=0.5)
    p.grad = dlcore.tensor([3.0, -0.1, 0.0, 1e-20])
    opt.step()
    assert p.tolist() == [0.5, 2.5, 3.0, 3.5]
