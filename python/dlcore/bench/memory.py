"""Peak-RSS probes shared by the memory benchmarks (``--memory`` of the cnn
group and ``python -m dlcore.bench.attn_memory``). Linux /proc only; both
return None / False elsewhere and the callers fall back to ru_maxrss."""

from __future__ import annotations


def rss_kib(field: str) -> int | None:
    """VmRSS / VmHWM of this process in KiB from /proc (None off Linux)."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
    except OSError:
        pass
    return None


def reset_peak() -> bool:
    """Reset this process's peak RSS (VmHWM) to its current RSS (Linux >= 4.0)."""
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        return True
    except OSError:
        return False
