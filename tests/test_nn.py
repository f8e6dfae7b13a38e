"""nn / optim against torch: Linear layout and state_dict, weight transfer,
SGD trajectories, losses forward + backward, a training run that learns."""

import numpy as np
import pytest
from helpers import arg, check_op, import_torch, nograd, to_numpy

import dlcore
import dlcore.nn as nn
import dlcore.nn.functional as F
import dlcore.optim as optim

torch = import_torch()


def to_dl(t):
    return dlcore.tensor(t.detach().cpu().numpy())


def from_torch_state(module):
    return {k: to_dl(v) for k, v in module.state_dict().items()}


# ---- Linear -------------------------------------------------------------------------

@pytest.mark.parametrize("bias", [True, False])
@pytest.mark.parametrize("fan_in,fan_out", [(3, 5), (1, 1), (784, 10)])
def test_linear_parameters_match_torch(fan_in, fan_out, bias):
    d, t = nn.Linear(fan_in, fan_out, bias=bias), torch.nn.Linear(fan_in, fan_out, bias=bias)
    assert list(d.state_dict().keys()) == list(t.state_dict().keys())
    for (kd, pd), (kt, pt) in zip(d.named_parameters(), t.named_parameters()):
        assert kd == kt and tuple(pd.shape) == tuple(pt.shape)
        assert pd.requires_grad and isinstance(pd, nn.Parameter)
    assert sum(p.numel() for p in d.parameters()) == sum(p.numel() for p in t.parameters())
    assert d.in_features == fan_in and d.out_features == fan_out


def test_linear_default_init_range():
    """Kaiming-uniform(a=sqrt(5)) as in torch: weights and bias within 1/sqrt(fan_in)."""
    dlcore.manual_seed(0)
    lin = nn.Linear(400, 300)
    bound = 1 / np.sqrt(400)
    w, b = to_numpy(lin.weight), to_numpy(lin.bias)
    assert np.abs(w).max() <= bound + 1e-7 and np.abs(b).max() <= bound + 1e-7
    assert abs(w.std() - bound / np.sqrt(3)) < 0.05 * bound  # uniform on [-bound, bound]


def test_loading_torch_state_dict_gives_same_outputs():
    torch.manual_seed(0)
    tm = torch.nn.Sequential(torch.nn.Linear(6, 16), torch.nn.ReLU(), torch.nn.Linear(16, 3))
    dm = nn.Sequential(nn.Linear(6, 16), nn.ReLU(), nn.Linear(16, 3))
    assert list(dm.state_dict().keys()) == list(tm.state_dict().keys())  # '0.weight', '0.bias', ...
    dm.load_state_dict(from_torch_state(tm))
    x = np.random.default_rng(0).standard_normal((5, 6)).astype(np.float32)
    np.testing.assert_allclose(to_numpy(dm(dlcore.tensor(x))), tm(torch.tensor(x)).detach().numpy(), rtol=1e-5, atol=1e-6)
    # and back: dlcore weights loaded into torch
    tm2 = torch.nn.Sequential(torch.nn.Linear(6, 16), torch.nn.ReLU(), torch.nn.Linear(16, 3))
    tm2.load_state_dict({k: torch.tensor(to_numpy(v)) for k, v in dm.state_dict().items()})
    np.testing.assert_allclose(tm2(torch.tensor(x)).detach().numpy(), tm(torch.tensor(x)).detach().numpy())


def test_load_state_dict_rejects_bad_keys_and_shapes():
    d = nn.Linear(3, 2)
    with pytest.raises(RuntimeError, match="weight"):
        d.load_state_dict({"weight": dlcore.zeros(2, 4), "bias": dlcore.zeros(2)})
    with pytest.raises(RuntimeError, match="bias"):
        d.load_state_dict({"weight": dlcore.zeros(2, 3)})
    res = d.load_state_dict({"weight": dlcore.zeros(2, 3)}, strict=False)
    assert list(res.missing_keys) == ["bias"]


def test_linear_forward_backward_through_helper():
    check_op(lambda m, x, w, b: m.nn.functional.linear(x, w, b), [(4, 3), (5, 3), (5,)])
    check_op(lambda m, x, w: m.nn.functional.linear(x, w), [(2, 4, 3), (5, 3)], non_contiguous=True)


def test_module_api():
    m = nn.Sequential(nn.Linear(2, 3), nn.Tanh(), nn.Linear(3, 1))
    assert len(list(m.parameters())) == 4
    assert [n for n, _ in m.named_parameters()] == ["0.weight", "0.bias", "2.weight", "2.bias"]
    assert m.training
    m.eval()
    assert not m.training and not m[0].training
    m.train()
    assert m[2].training
    m.zero_grad()
    m(dlcore.ones(4, 2)).sum().backward()
    assert all(p.grad is not None for p in m.parameters())
    m.zero_grad()
    assert all(p.grad is None for p in m.parameters())  # set_to_none=True, as torch >= 2.0
    m.requires_grad_(False)
    assert not any(p.requires_grad for p in m.parameters())


# ---- losses -------------------------------------------------------------------------

def _targets(n, c, seed=0):
    return nograd(np.random.default_rng(seed).integers(0, c, size=n).astype(np.int64))


@pytest.mark.parametrize(
    "kwargs",
    [{}, {"reduction": "sum"}, {"reduction": "none"}, {"label_smoothing": 0.1}, {"ignore_index": 1}],
    ids=str,
)
def test_cross_entropy(kwargs):
    check_op(lambda m, x, y: m.nn.functional.cross_entropy(x, y, **kwargs), [(8, 5), _targets(8, 5)])
    check_op(lambda m, x, y: m.nn.functional.cross_entropy(x, y, **kwargs), [(8, 5), _targets(8, 5)], dtype="float64")


def test_cross_entropy_variants():
    ce = lambda m, x, y: m.nn.functional.cross_entropy(x, y)  # noqa: E731
    check_op(ce, [(1, 1), nograd(np.zeros(1, dtype=np.int64))])
    check_op(ce, [(4, 3, 5), _targets((4, 5), 3)])  # (N, C, d1) spatial targets
    check_op(ce, [(3,), nograd(np.array(2, dtype=np.int64))])  # unbatched
    check_op(lambda m, x, p: m.nn.functional.cross_entropy(x, p.softmax(1)), [(6, 4), (6, 4)])  # soft targets
    check_op(lambda m, x, y: m.nn.CrossEntropyLoss()(x, y), [(8, 5), _targets(8, 5)])
    big = np.array([[1000.0, -1000.0, 0.0], [-500.0, 500.0, 499.0]], dtype=np.float32)
    check_op(ce, [big, nograd(np.array([1, 2], dtype=np.int64))])


def test_cross_entropy_bad_target_raises():
    with pytest.raises(IndexError):
        F.cross_entropy(dlcore.zeros(2, 3), dlcore.tensor([0, 3]))
    with pytest.raises((RuntimeError, ValueError)):
        F.cross_entropy(dlcore.zeros(2, 3), dlcore.tensor([0, 1, 2]))


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("shapes", [((4, 3), (4, 3)), ((5,), (5,)), ((), ()), ((2, 3, 4), (2, 3, 4))], ids=str)
def test_mse_loss(shapes, reduction):
    check_op(lambda m, x, y: m.nn.functional.mse_loss(x, y, reduction=reduction), list(shapes))
    check_op(lambda m, x, y: m.nn.MSELoss(reduction=reduction)(x, y), list(shapes), non_contiguous=True)


@pytest.mark.parametrize(
    "fn,inputs",
    [
        (lambda m, x, y: m.nn.functional.nll_loss(x.log_softmax(1), y), [(6, 4), _targets(6, 4)]),
        (lambda m, x, y: m.nn.functional.binary_cross_entropy(x.sigmoid(), y), [(5, 2), arg((5, 2), low=0, high=1)]),
        (lambda m, x, y: m.nn.functional.binary_cross_entropy_with_logits(x, y), [(5, 2), arg((5, 2), low=0, high=1)]),
        (lambda m, x, y: m.nn.functional.l1_loss(x, y), [(5, 2), (5, 2)]),
        (lambda m, x, y: m.nn.functional.smooth_l1_loss(x, y), [(5, 2), (5, 2)]),
    ],
    ids=["nll", "bce", "bce_logits", "l1", "smooth_l1"],
)
def test_other_losses(fn, inputs):
    check_op(fn, inputs)


# ---- SGD trajectories -------------------------------------------------------------

SGD_CONFIGS = [
    {"lr": 0.1},
    {"lr": 0.05, "momentum": 0.9},
    {"lr": 0.05, "momentum": 0.9, "nesterov": True},
    {"lr": 0.05, "weight_decay": 0.01},
    {"lr": 0.05, "momentum": 0.8, "dampening": 0.3},
    {"lr": 0.02, "momentum": 0.9, "nesterov": True, "weight_decay": 0.05},
    {"lr": 0.01, "momentum": 0.5, "maximize": True},  # ascent: keep it slow so it stays well conditioned
]


@pytest.mark.parametrize("cfg", SGD_CONFIGS, ids=str)
def test_sgd_trajectory_matches_torch(cfg):
    torch.manual_seed(0)
    tm = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.Tanh(), torch.nn.Linear(8, 2))
    dm = nn.Sequential(nn.Linear(4, 8), nn.Tanh(), nn.Linear(8, 2))
    dm.load_state_dict(from_torch_state(tm))
    topt, dopt = torch.optim.SGD(tm.parameters(), **cfg), optim.SGD(dm.parameters(), **cfg)
    rng = np.random.default_rng(0)
    for step in range(20):
        x = rng.standard_normal((16, 4)).astype(np.float32)
        y = rng.standard_normal((16, 2)).astype(np.float32)
        for m_, opt, mod, lib in ((tm, topt, torch, torch.nn.functional), (dm, dopt, dlcore, F)):
            opt.zero_grad()
            loss = lib.mse_loss(m_(mod.tensor(x)), mod.tensor(y))
            loss.backward()
            opt.step()
        for (k, pt), pd in zip(tm.named_parameters(), dm.parameters()):
            np.testing.assert_allclose(
                to_numpy(pd), pt.detach().numpy(), rtol=1e-5, atol=1e-5, err_msg=f"{k} after step {step + 1}"
            )


def test_sgd_skips_params_without_grad_and_param_groups():
    a = nn.Parameter(dlcore.ones(2))
    b = nn.Parameter(dlcore.ones(2))
    opt = optim.SGD([{"params": [a], "lr": 1.0}, {"params": [b]}], lr=0.1, momentum=0.5)
    (a * 2).sum().backward()
    opt.step()
    assert a.tolist() == [-1.0, -1.0] and b.tolist() == [1.0, 1.0]
    assert opt.param_groups[1]["lr"] == 0.1 and opt.param_groups[0]["momentum"] == 0.5
    opt.param_groups[0]["lr"] = 0.5  # schedulers mutate this dict
    opt.zero_grad()
    (a * 2).sum().backward()
    opt.step()
    # momentum buffer: 0.5 * 2 + 2 = 3; step 0.5 * 3
    np.testing.assert_allclose(a.tolist(), [-2.5, -2.5])


def test_optimizer_state_dict_round_trip():
    p = nn.Parameter(dlcore.ones(3))
    opt = optim.SGD([p], lr=0.1, momentum=0.9)
    (p * p).sum().backward()
    opt.step()
    sd = opt.state_dict()
    assert set(sd) == {"state", "param_groups"}
    assert sd["param_groups"][0]["momentum"] == 0.9 and sd["param_groups"][0]["params"] == [0]
    np.testing.assert_allclose(to_numpy(sd["state"][0]["momentum_buffer"]), [2.0, 2.0, 2.0])
    p2 = nn.Parameter(dlcore.tensor(p.detach().numpy().copy()))  # 0.8 after one step
    opt2 = optim.SGD([p2], lr=0.5, momentum=0.0)
    opt2.load_state_dict(sd)  # restores lr and momentum too
    assert opt2.param_groups[0]["lr"] == 0.1
    (p2 * p2).sum().backward()
    opt2.step()
    # buf = 0.9 * 2 + 2 * 0.8 = 3.4 ; p = 0.8 - 0.1 * 3.4
    np.testing.assert_allclose(p2.tolist(), [0.46] * 3, rtol=1e-6)


# ---- training -----------------------------------------------------------------------

def test_short_training_run_lowers_loss():
    dlcore.manual_seed(0)
    rng = np.random.default_rng(0)
    centers = rng.standard_normal((3, 2)).astype(np.float32) * 3
    labels = rng.integers(0, 3, size=300)
    x = dlcore.tensor(centers[labels] + 0.5 * rng.standard_normal((300, 2)).astype(np.float32))
    y = dlcore.tensor(labels.astype(np.int64))
    model = nn.Sequential(nn.Linear(2, 32), nn.ReLU(), nn.Linear(32, 3))
    opt = optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    losses = []
    for _ in range(60):
        opt.zero_grad()
        loss = F.cross_entropy(model(x), y)
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < 0.5 * losses[0], losses[::10]
    with dlcore.no_grad():
        acc = (model(x).argmax(1) == y).float().mean().item()
    assert acc > 0.9


def test_xor_learns():
    dlcore.manual_seed(1)
    x = dlcore.tensor([[0.0, 0.0], [0.0, 1.0], [1.0, 0.0], [1.0, 1.0]])
    y = dlcore.tensor([[0.0], [1.0], [1.0], [0.0]])
    model = nn.Sequential(nn.Linear(2, 8), nn.Tanh(), nn.Linear(8, 1), nn.Sigmoid())
    opt = optim.SGD(model.parameters(), lr=0.5, momentum=0.9)
    for _ in range(500):
        opt.zero_grad()
        loss = F.mse_loss(model(x), y)
        loss.backward()
        opt.step()
    assert loss.item() < 0.02
    assert ((model(x) > 0.5).float() == y).all().item()


@pytest.mark.parametrize("layer", ["ReLU", "Tanh", "Sigmoid"])
def test_activation_modules(layer):
    check_op(lambda m, x: getattr(m.nn, layer)()(x), [(4, 5)])
    assert repr(getattr(nn, layer)()) == repr(getattr(torch.nn, layer)())


def _nets(mod):
    class Block(mod.nn.Module):
        def __init__(self):
            super().__init__()
            self.fc = mod.nn.Linear(3, 4)
            self.act = mod.nn.Tanh()

        def forward(self, x):
            return self.act(self.fc(x))

    class Net(mod.nn.Module):
        def __init__(self):
            super().__init__()
            self.block = Block()
            self.head = mod.nn.Sequential(mod.nn.Linear(4, 4), mod.nn.ReLU(), mod.nn.Linear(4, 2, bias=False))
            self.scale = mod.nn.Parameter(mod.ones(2))

        def forward(self, x):
            return self.head(self.block(x)) * self.scale

    return Net()


def test_custom_module_tree_matches_torch():
    torch.manual_seed(0)
    t, d = _nets(torch), _nets(dlcore)
    assert [n for n, _ in d.named_parameters()] == [n for n, _ in t.named_parameters()]
    assert list(d.state_dict()) == list(t.state_dict())
    assert [n for n, _ in d.named_modules()] == [n for n, _ in t.named_modules()]
    assert [type(c).__name__ for c in d.children()] == [type(c).__name__ for c in t.children()]
    d.load_state_dict(from_torch_state(t))
    x = np.random.default_rng(0).standard_normal((5, 3)).astype(np.float32)
    out_d, out_t = d(dlcore.tensor(x)), t(torch.tensor(x))
    np.testing.assert_allclose(to_numpy(out_d), out_t.detach().numpy(), rtol=1e-5, atol=1e-6)
    out_d.sum().backward()
    out_t.sum().backward()
    for (k, pd), (_, pt) in zip(d.named_parameters(), t.named_parameters()):
        np.testing.assert_allclose(to_numpy(pd.grad), pt.grad.numpy(), rtol=1e-5, atol=1e-6, err_msg=k)


def test_module_repr_like_torch():
    d = nn.Sequential(nn.Linear(2, 3), nn.ReLU(), nn.Linear(3, 1, bias=False))
    t = torch.nn.Sequential(torch.nn.Linear(2, 3), torch.nn.ReLU(), torch.nn.Linear(3, 1, bias=False))
    assert repr(d) == repr(t)


def test_state_dict_tensors_are_detached_and_shared():
    lin = nn.Linear(2, 2)
    sd = lin.state_dict()
    assert not sd["weight"].requires_grad
    with dlcore.no_grad():
        lin.weight.fill_(3.0)
    assert sd["weight"].tolist() == [[3.0, 3.0], [3.0, 3.0]]  # torch: state_dict shares storage
