"""`python -m dlcore.bench.attn_memory`: causal attention forward + backward
needs memory linear in T (the tiled kernel never builds the T×T matrix)."""

from dlcore.bench.attn_memory import main, measure


def test_attention_memory_grows_linearly():
    # 2 heads, T = 1024 → 4096: the T×T scores alone would be 8 → 128 MiB.
    r = [measure(t, heads=2, threads=2) for t in (1024, 2048, 4096)]
    for small, big in zip(r, r[1:]):
        assert big["extra_mib"] < 2.5 * max(small["extra_mib"], 1.0), r
    assert r[-1]["extra_mib"] < 40, r  # quadratic would need > 128 MiB


def test_cli_prints_a_row_per_length(capsys):
    rows = main(["--lengths", "256", "512", "--threads", "1"])
    assert [row["T"] for row in rows] == [256, 512]
    assert "extra MiB" in capsys.readouterr().out
