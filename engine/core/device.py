"""Pick the torch device: CUDA, then MPS, else CPU; a named one must exist (core.options)."""
from __future__ import annotations

from .options import check_device


def pick_device(choice: str = "auto"):
    import torch
    choice = check_device(choice)   # DeviceUnavailableError, never torch's raw RuntimeError
    if choice == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        mps = getattr(torch.backends, "mps", None)
        if mps is not None and mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    return torch.device(choice)
