"""CUDA device queries.

CUDA storage is not built into dlcore yet, so no GPU is ever reported; code
written as ``device = "cuda" if dlcore.cuda.is_available() else "cpu"`` already
does the right thing and will pick up GPUs once they are supported.
"""

__all__ = ["is_available", "device_count"]


def is_available() -> bool:
    """Return whether dlcore can use a CUDA GPU (always ``False`` for now)."""
    return False


def device_count() -> int:
    """Return the number of CUDA GPUs dlcore can use (always 0 for now)."""
    return 0
