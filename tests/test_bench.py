"""Smoke test for `python -m dlcore.bench`: runs every case once, tiny budget.
Timing claims live in benches/ and the bench CLI, never here."""

import subprocess
import sys

import pytest

from dlcore.bench import CASES, GROUPS, build_pair, format_table, run


# one causal T=2048 attention step takes seconds; the smaller seq cases cover its code
SLOW = {"sdpa_causal_t2048"}


def test_run_all_cases_once():
    cases = [c for c in GROUPS["all"] if c not in SLOW]
    rows = run(cases, threads=1, repeat=1, min_time=0.001)
    assert [r["case"] for r in rows] == cases
    for r in rows:
        assert r["dlcore_s"] > 0 and r["threads"] == 1 and r["iters"] >= 1
        if r["torch_s"] is not None:
            assert r["ratio"] == pytest.approx(r["torch_s"] / r["dlcore_s"])
    table = format_table(rows)
    assert "CPU" in table and "threads: 1" in table
    for name in cases:
        assert name in table


def test_groups_and_unknown_case():
    assert [r["case"] for r in run("overhead", threads=1, repeat=1, min_time=0.001)] == GROUPS["overhead"]
    with pytest.raises(KeyError):
        run(["nope"], threads=1, repeat=1)


def test_pairs_do_identical_work():
    """Same weights and data: one training step gives the same loss in both libraries."""
    pytest.importorskip("torch")
    for case in ("xor_step", "mlp784_step"):
        dl_step, th_step = build_pair(case)
        assert dl_step().item() == pytest.approx(th_step().item(), rel=1e-5)
    dl_add, th_add = build_pair("add16_grad")
    assert dl_add().tolist() == pytest.approx(th_add().tolist())
    assert dl_add().requires_grad and th_add().requires_grad


def test_cli():
    proc = subprocess.run(
        [sys.executable, "-m", "dlcore.bench", "overhead", "--threads", "1", "--repeat", "1", "--min-time", "0.001"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr
    assert "add16_grad" in proc.stdout and "torch/dlcore" in proc.stdout


def test_plot_speedups(tmp_path):
    from dlcore.bench.plot import plot_speedups

    rows = [{"case": "a", "ratio": 2.5, "threads": 2}, {"case": "b", "ratio": 0.4, "threads": 2}, {"case": "c", "ratio": None}]
    fig = plot_speedups(rows, tmp_path / "bench.png")
    assert (tmp_path / "bench.png").stat().st_size > 1000
    assert [t.get_text() for t in fig.axes[0].get_yticklabels()] == ["a", "b"]
    with pytest.raises(ValueError, match="no row has a torch timing"):
        plot_speedups([{"case": "a", "ratio": None}])
