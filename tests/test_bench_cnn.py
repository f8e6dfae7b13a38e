"""The `cnn` bench group: every case runs, and dlcore and torch do the same work."""

import numpy as np
import pytest

from dlcore.bench import CASES, GROUPS, build_pair
from dlcore.bench.cnn import CNN_CASES


def test_cnn_group_is_registered():
    assert set(CNN_CASES) <= set(CASES) and GROUPS["cnn"] == list(CNN_CASES)
    assert all(c in GROUPS["all"] for c in CNN_CASES)


@pytest.mark.parametrize("case", list(CNN_CASES))
def test_cnn_pairs_compute_the_same(case):
    pytest.importorskip("torch")
    dl_step, th_step = build_pair(case)
    a, b = dl_step(), th_step()
    np.testing.assert_allclose(a.detach().numpy(), b.detach().numpy(), rtol=1e-4, atol=1e-5)
