"""Pick the torch device: CUDA, then MPS, else CPU."""
from __future__ import annotations

from .errors import FaceSpaceError


def pick_device(choice: str = "auto"):
    import torch
    if choice == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        mps = getattr(torch.backends, "mps", None)
        if mps is not None and mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    if choice == "cuda" and not torch.cuda.is_available():
        raise FaceSpaceError("A CUDA GPU was requested but none is available; choose 'auto' or 'cpu'.")
    return torch.device(choice)
