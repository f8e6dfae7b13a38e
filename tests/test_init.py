"""dlcore.nn.init against torch.nn.init: exact where the result is deterministic
(constant_, eye_, dirac_, gains, orthogonality), distributional elsewhere.

Statistical checks use a fixed seed and large samples with tolerances of at
least 6 standard errors, so they cannot flake (and with the seed fixed, they
are deterministic anyway)."""

import math

import numpy as np
import pytest
from helpers import import_torch, to_numpy

import dlcore
import dlcore.nn as nn
import dlcore.nn.init as init

torch = import_torch()

N_BIG = 400_000


def _np(t):
    return to_numpy(t).astype(np.float64)


def _check_moments(x, mean, std):
    x = np.asarray(x, dtype=np.float64).ravel()
    n = x.size
    assert abs(x.mean() - mean) < 6 * std / math.sqrt(n), (x.mean(), mean)
    # the sample std has standard error ~ std * sqrt(kurtosis-ish / 2n); 6 SE with margin
    assert abs(x.std() - std) < 6 * std * math.sqrt(2.0 / n) + 1e-12, (x.std(), std)


@pytest.fixture(autouse=True)
def _seed():
    dlcore.manual_seed(1234)


@pytest.mark.parametrize(
    "name,param",
    [("linear", None), ("conv2d", None), ("conv_transpose3d", None), ("sigmoid", None), ("tanh", None),
     ("relu", None), ("leaky_relu", None), ("leaky_relu", 0.2), ("leaky_relu", 1), ("selu", None)],
)
def test_calculate_gain_matches_torch(name, param):
    assert init.calculate_gain(name, param) == pytest.approx(torch.nn.init.calculate_gain(name, param), rel=1e-12)


def test_calculate_gain_errors():
    with pytest.raises(ValueError, match="Unsupported nonlinearity"):
        init.calculate_gain("swish")
    with pytest.raises(ValueError, match="not a valid number"):
        init.calculate_gain("leaky_relu", True)


def test_uniform_and_normal_distributions():
    w = init.uniform_(dlcore.empty(N_BIG), -0.5, 1.5)
    x = _np(w)
    assert x.min() >= -0.5 and x.max() <= 1.5
    _check_moments(x, 0.5, 2.0 / math.sqrt(12))
    w = init.normal_(dlcore.empty(N_BIG), 3.0, 0.25)
    _check_moments(_np(w), 3.0, 0.25)


def test_constant_zeros_ones_exact():
    assert init.constant_(dlcore.empty(2, 3), 0.7).tolist() == torch.nn.init.constant_(torch.empty(2, 3), 0.7).tolist()
    assert _np(init.zeros_(dlcore.randn(3, 3))).tolist() == [[0.0] * 3] * 3
    assert _np(init.ones_(dlcore.randn(4))).tolist() == [1.0] * 4


@pytest.mark.parametrize("shape", [(3, 3), (2, 5), (5, 2), (1, 1), (0, 3)])
def test_eye_matches_torch(shape):
    np.testing.assert_array_equal(_np(init.eye_(dlcore.randn(*shape))), torch.nn.init.eye_(torch.randn(*shape)).numpy())


@pytest.mark.parametrize("shape,groups", [((4, 4, 3), 1), ((6, 3, 3, 3), 1), ((4, 2, 3, 3), 2), ((3, 5, 1, 1, 1), 1), ((8, 2, 5, 4), 4)])
def test_dirac_matches_torch(shape, groups):
    got = _np(init.dirac_(dlcore.randn(*shape), groups=groups))
    np.testing.assert_array_equal(got, torch.nn.init.dirac_(torch.randn(*shape), groups=groups).numpy())


def test_deterministic_init_errors():
    with pytest.raises(ValueError, match="2 dimensions"):
        init.eye_(dlcore.empty(2, 2, 2))
    with pytest.raises(ValueError, match="3, 4, or 5"):
        init.dirac_(dlcore.empty(2, 2))
    with pytest.raises(ValueError, match="divisible"):
        init.dirac_(dlcore.empty(3, 2, 3), groups=2)
    with pytest.raises(ValueError, match="fewer than 2"):
        init.xavier_uniform_(dlcore.empty(5))
    with pytest.raises(ValueError, match="fan_in, fan_out"):
        init.kaiming_normal_(dlcore.empty(3, 3), mode="fan_avg")
    with pytest.raises(ValueError, match="2 or more"):
        init.orthogonal_(dlcore.empty(4))
    with pytest.raises(ValueError, match="a < b"):
        init.trunc_normal_(dlcore.empty(4), a=1.0, b=-1.0)


@pytest.mark.parametrize("shape", [(400, 1000), (64, 32, 3, 3)], ids=str)
@pytest.mark.parametrize("gain", [1.0, 2.5])
def test_xavier(shape, gain):
    fan_in, fan_out = torch.nn.init._calculate_fan_in_and_fan_out(torch.empty(*shape))
    std = gain * math.sqrt(2.0 / (fan_in + fan_out))
    x = _np(init.xavier_uniform_(dlcore.empty(*shape), gain=gain))
    assert np.abs(x).max() <= math.sqrt(3.0) * std * (1 + 1e-6)
    _check_moments(x, 0.0, std)
    _check_moments(_np(init.xavier_normal_(dlcore.empty(*shape), gain=gain)), 0.0, std)


@pytest.mark.parametrize("mode", ["fan_in", "fan_out"])
@pytest.mark.parametrize("nonlinearity,a", [("relu", 0), ("leaky_relu", 0), ("leaky_relu", math.sqrt(5)), ("tanh", 0), ("linear", 0)])
def test_kaiming(mode, nonlinearity, a):
    shape = (300, 200, 3, 3) if mode == "fan_out" else (200, 300, 3, 3)
    t = torch.empty(*shape)
    fan = torch.nn.init._calculate_correct_fan(t, mode)
    std = torch.nn.init.calculate_gain(nonlinearity, a) / math.sqrt(fan)
    x = _np(init.kaiming_uniform_(dlcore.empty(*shape), a=a, mode=mode, nonlinearity=nonlinearity))
    assert np.abs(x).max() <= math.sqrt(3.0) * std * (1 + 1e-6)
    _check_moments(x, 0.0, std)
    # and torch's own sample has the same spread (same formula, not just ours)
    assert abs(torch.nn.init.kaiming_uniform_(t, a=a, mode=mode, nonlinearity=nonlinearity).std().item() - x.std()) < 0.01 * std
    _check_moments(_np(init.kaiming_normal_(dlcore.empty(*shape), a=a, mode=mode, nonlinearity=nonlinearity)), 0.0, std)


def test_zero_element_tensors_warn_and_noop():
    with pytest.warns(UserWarning, match="zero-element"):
        init.kaiming_uniform_(dlcore.empty(0, 3))
    assert init.orthogonal_(dlcore.empty(0, 3)).shape == (0, 3)
    assert init.trunc_normal_(dlcore.empty(0)).shape == (0,)


@pytest.mark.parametrize("shape", [(5, 5), (3, 7), (7, 3), (8, 4, 3, 3), (1, 10), (10, 1)], ids=str)
@pytest.mark.parametrize("gain", [1.0, 0.5])
def test_orthogonal_is_orthogonal(shape, gain):
    w = _np(init.orthogonal_(dlcore.empty(*shape), gain=gain)).reshape(shape[0], -1)
    rows, cols = w.shape
    gram = w @ w.T if rows <= cols else w.T @ w
    np.testing.assert_allclose(gram, gain**2 * np.eye(min(rows, cols)), atol=1e-5)


def test_orthogonal_is_haar_distributed():
    # Entries of a Haar-random n x n orthogonal matrix have mean 0 and variance 1/n;
    # without the sign fix of diag(R) the diagonal would be biased positive.
    n, reps = 32, 300
    diag = np.stack([np.diag(_np(init.orthogonal_(dlcore.empty(n, n)))) for _ in range(reps)])
    _check_moments(diag, 0.0, 1.0 / math.sqrt(n))


def test_ndtri_matches_torch():
    p = np.concatenate([np.linspace(1e-8, 1 - 1e-8, 200_001), [1e-12, 0.02425, 1 - 0.02425]])
    np.testing.assert_allclose(init._ndtri(p), torch.special.ndtri(torch.tensor(p)).numpy(), rtol=1e-6, atol=1e-7)


def _trunc_moments(mean, std, a, b):
    al, be = (a - mean) / std, (b - mean) / std
    phi = lambda x: math.exp(-x * x / 2) / math.sqrt(2 * math.pi)  # noqa: E731
    Z = (math.erf(be / math.sqrt(2)) - math.erf(al / math.sqrt(2))) / 2
    m = mean + std * (phi(al) - phi(be)) / Z
    var = std**2 * (1 + (al * phi(al) - be * phi(be)) / Z - ((phi(al) - phi(be)) / Z) ** 2)
    return m, math.sqrt(var)


@pytest.mark.parametrize("mean,std,a,b", [(0.0, 1.0, -2.0, 2.0), (0.0, 0.02, -0.04, 0.04), (1.0, 2.0, 0.0, 5.0), (0.0, 1.0, 1.0, 3.0)])
def test_trunc_normal(mean, std, a, b):
    x = _np(init.trunc_normal_(dlcore.empty(N_BIG), mean=mean, std=std, a=a, b=b))
    assert x.min() >= a and x.max() <= b
    m, s = _trunc_moments(mean, std, a, b)
    _check_moments(x, m, s)
    # same distribution as torch's: compare deciles of two large samples
    t = torch.nn.init.trunc_normal_(torch.empty(N_BIG, dtype=torch.float64), mean=mean, std=std, a=a, b=b).numpy()
    q = np.linspace(0.1, 0.9, 9)
    np.testing.assert_allclose(np.quantile(x, q), np.quantile(t, q), atol=0.02 * s)


def test_sparse():
    w = _np(init.sparse_(dlcore.empty(1000, 50), sparsity=0.25, std=0.1))
    assert ((w == 0).sum(axis=0) == 250).all()
    _check_moments(w[w != 0], 0.0, 0.1)
    with pytest.raises(ValueError, match="2 dimensions"):
        init.sparse_(dlcore.empty(2, 2, 2), 0.5)


def test_init_is_reproducible_and_records_no_graph():
    p = nn.Parameter(dlcore.empty(6, 4))
    for fn in (init.orthogonal_, init.trunc_normal_, init.xavier_normal_, init.sparse_ if False else init.eye_):
        dlcore.manual_seed(7)
        a = _np(fn(p)).copy()
        dlcore.manual_seed(7)
        b = _np(fn(p))
        np.testing.assert_array_equal(a, b)
        assert p.is_leaf and p.requires_grad and p.grad_fn is None
    with pytest.raises(ValueError):
        init.eye_(nn.Parameter(dlcore.empty(2, 2, 2)))


def test_init_keeps_dtype():
    w = dlcore.empty(8, 8, dtype=dlcore.float64)
    for fn in (init.orthogonal_, init.trunc_normal_, init.eye_, init.xavier_uniform_):
        assert fn(w).dtype == dlcore.float64
