"""The `seq` bench group: every case runs, and dlcore and torch do the same work."""

import numpy as np
import pytest

from dlcore.bench import CASES, GROUPS, build_pair
from dlcore.bench.seq import SEQ_CASES


def test_seq_group_is_registered():
    assert set(SEQ_CASES) <= set(CASES) and GROUPS["seq"] == list(SEQ_CASES)
    assert all(c in GROUPS["all"] for c in SEQ_CASES)


@pytest.mark.parametrize("case", [c for c in SEQ_CASES if c != "sdpa_causal_t2048"])
def test_seq_pairs_compute_the_same(case):
    pytest.importorskip("torch")
    dl_step, th_step = build_pair(case)
    a, b = dl_step(), th_step()
    np.testing.assert_allclose(a.detach().numpy(), b.detach().numpy(), rtol=1e-4, atol=1e-4)


def test_transformer_step_trains_the_same():
    """Three AdamW steps of the encoder layer: the losses stay equal, so both
    libraries update the same weights the same way."""
    pytest.importorskip("torch")
    dl_step, th_step = build_pair("transformer_layer_step")
    for _ in range(3):
        a, b = dl_step(), th_step()
        np.testing.assert_allclose(a.item(), b.item(), rtol=1e-4)
