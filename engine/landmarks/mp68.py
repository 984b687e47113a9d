"""The iBUG-68 scheme on mediapipe's 478 points: each of the 68 as a fixed blend of mediapipe
points (engine/data/mediapipe_to_68.json, derived by `python -m engine build-correspondence
--fit-68`, docs/detection.md), and the scheme's left/right mirror."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np

MP68_PATH = Path(__file__).resolve().parents[1] / "data" / "mediapipe_to_68.json"
# iBUG-68 left/right mirror
MIRROR68 = (list(range(16, -1, -1)) + list(range(26, 16, -1)) + [27, 28, 29, 30] + [35, 34, 33, 32, 31]
            + [45, 44, 43, 42, 47, 46, 39, 38, 37, 36, 41, 40]
            + [54, 53, 52, 51, 50, 49, 48, 59, 58, 57, 56, 55] + [64, 63, 62, 61, 60, 67, 66, 65])


def load_mp68(path=MP68_PATH):
    """(index (68, m) int64, weight (68, m) float64): each iBUG-68 point as a fixed blend of
    mediapipe points, measured on human-annotated photos (see docs/detection.md)."""
    d = json.loads(Path(path).read_text())
    return np.asarray(d["index"], dtype=np.int64), np.asarray(d["weight"], dtype=np.float64)


def to68(points478):
    """(..., 478, k) mediapipe points (numpy or torch) -> (..., 68, k) iBUG-68 points."""
    idx, wt = MP_TO_68_INDEX, MP_TO_68_WEIGHT
    if isinstance(points478, np.ndarray):
        return (points478[..., idx, :] * wt[..., None]).sum(-2)
    import torch
    i = torch.as_tensor(idx.reshape(-1), device=points478.device)
    g = points478[..., i, :].reshape(*points478.shape[:-2], *idx.shape, points478.shape[-1])
    return (g * torch.as_tensor(wt, dtype=points478.dtype, device=points478.device)[..., None]).sum(-2)


if MP68_PATH.is_file():
    MP_TO_68_INDEX, MP_TO_68_WEIGHT = load_mp68()
    # the dominant mediapipe point of each of the 68 (for code that wants plain indices)
    MP_TO_68 = MP_TO_68_INDEX[np.arange(68), np.argmax(MP_TO_68_WEIGHT, 1)]
else:  # only while building the table
    MP_TO_68_INDEX = MP_TO_68_WEIGHT = MP_TO_68 = None
