"""End-to-end: `python -m dlcore demo --out DIR` trains, reports >= 97% train
accuracy and writes a report folder: index.html showing valid PNG plots."""

import os
import re
import subprocess
import sys

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def _run_demo(out, *extra):
    env = dict(os.environ, MPLBACKEND="Agg")
    return subprocess.run(
        [sys.executable, "-m", "dlcore", "demo", "--out", str(out), *extra],
        capture_output=True,
        text=True,
        timeout=900,
        env=env,
    )


def test_demo_runs_and_reaches_accuracy(tmp_path):
    proc = _run_demo(tmp_path)
    assert proc.returncode == 0, f"exit {proc.returncode}\nstdout:\n{proc.stdout}\nstderr:\n{proc.stderr}"
    accs = [float(v) for v in re.findall(r"train accuracy\D{0,20}?(\d+(?:\.\d+)?)\s*%", proc.stdout, flags=re.I)]
    assert accs, f"no train accuracy line in output:\n{proc.stdout}"
    assert accs[-1] >= 97.0, proc.stdout
    expected = {"history.png", "decision_boundary.png", "manifold.png", "loss_landscape.png"}
    pngs = sorted(p for p in tmp_path.rglob("*.png"))
    assert expected <= {p.name for p in pngs}, f"expected {sorted(expected)}, found {pngs}"
    for p in pngs:
        data = p.read_bytes()
        assert data[:8] == PNG_MAGIC, f"{p.name} is not a PNG"
        assert len(data) > 1000 and data[12:16] == b"IHDR", f"{p.name} is truncated"
        w, h = int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")
        assert w >= 100 and h >= 100, f"{p.name} is {w}x{h}"
    page = (tmp_path / "index.html").read_text(encoding="utf-8")
    assert page.lstrip().lower().startswith("<!doctype html>")
    shown = set(re.findall(r'<img src="([^"]+)"', page))
    assert shown == expected, shown  # every plot is on the page, and nothing missing is linked


def test_demo_rejects_bad_arguments(tmp_path):
    proc = _run_demo(tmp_path, "--epochs", "0")
    assert proc.returncode != 0
    assert "epochs" in (proc.stderr + proc.stdout)
    assert "Traceback" not in proc.stderr


def test_unknown_command_is_a_usage_error():
    proc = subprocess.run([sys.executable, "-m", "dlcore", "nonsense"], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
