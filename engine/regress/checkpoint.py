"""Integrity-checked torch checkpoints: torch.save of plain state dicts, written atomically,
with a `<file>.sha256` sidecar verified before `torch.load(weights_only=True)`."""
from __future__ import annotations

import os
from pathlib import Path

from ..core.errors import FaceSpaceError, WeightsUnavailableError
from ..core.files import sha256_file


def sidecar(path) -> Path:
    path = Path(path)
    return path.with_name(path.name + ".sha256")


def save_checkpoint(path, state: dict) -> str:
    """torch.save `state` to `path` atomically and write its SHA-256 sidecar; returns the hash."""
    import torch
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    torch.save(state, tmp)
    digest = sha256_file(tmp)
    side_tmp = sidecar(path).with_name(sidecar(path).name + ".tmp")
    side_tmp.write_text(f"{digest}  {path.name}\n")
    os.replace(tmp, path)
    os.replace(side_tmp, sidecar(path))
    return digest


def read_sidecar(path) -> str | None:
    s = sidecar(path)
    if not s.exists():
        return None
    return s.read_text().split()[0].strip().lower()


def load_checkpoint(path, expected_sha256: str | None = None, map_location="cpu") -> dict:
    """Verify the SHA-256 (given, else the sidecar's) and load with weights_only=True."""
    import torch
    path = Path(path)
    if not path.exists():
        raise WeightsUnavailableError(f"The weights file {path} does not exist.")
    expected = (expected_sha256 or read_sidecar(path) or "").lower()
    if not expected:
        raise FaceSpaceError(f"{path} has no SHA-256 sidecar ({sidecar(path).name}); "
                             "refusing to load an unverified weights file.")
    actual = sha256_file(path)
    if actual != expected:
        raise FaceSpaceError(f"{path} is corrupt or was modified: SHA-256 {actual} does not match "
                             f"the expected {expected}. Re-download or retrain it.")
    return torch.load(path, map_location=map_location, weights_only=True)
