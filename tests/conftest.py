"""Shared fixtures: `device` runs a test on every device dlcore can use here."""

import pytest


def _cuda_available() -> bool:
    try:
        import dlcore.cuda

        return bool(dlcore.cuda.is_available())
    except Exception:  # no build, or no CUDA support compiled in
        return False


@pytest.fixture(params=["cpu", "cuda"])
def device(request):
    if request.param == "cuda" and not _cuda_available():
        pytest.skip("CUDA not available")
    return request.param
