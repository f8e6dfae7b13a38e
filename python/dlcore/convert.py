"""Small argument helpers shared by the Python layer."""

from . import _core


def check_device(device):
    """Raises for devices dlcore cannot use here (anything but the CPU)."""
    if device is None:
        return
    kind = device.type if isinstance(device, _core.device) else str(device).split(":")[0]
    if kind == "cuda":
        raise RuntimeError("device 'cuda': CUDA is not available (dlcore.cuda.is_available() is False); use device='cpu'")
    if kind != "cpu":
        raise RuntimeError(f"Expected one of cpu, cuda device type, got '{kind}'")
