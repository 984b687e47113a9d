"""File helpers every layer needs: the SHA-256 of a file (weights, models, photos)."""
from __future__ import annotations

import hashlib


def sha256_file(path) -> str:
    """Hex SHA-256 of a file, read in 1 MiB blocks (model files are ~50 MB)."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()
