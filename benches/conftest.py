"""pytest-benchmark suites: dlcore and torch side by side on identical work.

Run: pytest benches   (threads: DLCORE_BENCH_THREADS, default all cores)
Each case is parametrised over lib = dlcore | torch and grouped by case name, so
pairs print next to each other. The step functions come from dlcore.bench, the
same code `python -m dlcore.bench` times.
"""

import os

import pytest


@pytest.fixture(scope="session", autouse=True)
def _threads():
    from dlcore.bench import _have_torch, set_threads

    set_threads(int(os.environ.get("DLCORE_BENCH_THREADS", os.cpu_count() or 1)), _have_torch())


@pytest.fixture(params=["dlcore", "torch"])
def lib(request):
    if request.param == "torch":
        pytest.importorskip("torch")
    return request.param
