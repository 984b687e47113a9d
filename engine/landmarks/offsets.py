"""Detector-bias calibration: where on the model surface does mediapipe really put each point?

The correspondence table (engine/correspondence.py) maps each of the 478 detector points to a
surface point by aligning mediapipe's canonical mesh to ICT's neutral. On real detections
that map is off by ~1% of the face size, which the fit cannot follow (so its 68 points are
worse than the detector's). For every point a 3D offset (model space, cm) is solved by
ridge-regularised least squares so that the offset point explains its detections:
- source "photos" (shipped): unsupervised self-calibration on real photos
  (../shared/photos/identity, read in place): fit, solve offsets against the fitted shape and
  camera, refit, three rounds. No annotation and no identity label is used.
- source "synthetic": model faces with known geometry rendered by engine/synthetic.py and
  detected by mediapipe; offsets against the TRUE shape and camera. (Measured: this fixes
  renders but not real photos: mediapipe treats the bald renders differently.)
The offsets are stored in engine/data/detector_offsets.json with the SHA-256 of the
correspondence they correct; landmarks.detector.detector_basis applies them only while that
matches. This module reads them; engine/tools/calibrate_offsets.py derives them:

    python -m engine calibrate-offsets [--source photos|synthetic]     # ~1-3 min on 2 cores
"""
from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np

OFFSETS_PATH = Path(__file__).resolve().parents[1] / "data" / "detector_offsets.json"


def correspondence_hash(corr) -> str:
    h = hashlib.sha256()
    h.update(np.ascontiguousarray(np.asarray(corr["mp_vertex"], dtype=np.int64)).tobytes())
    h.update(np.ascontiguousarray(np.round(np.asarray(corr["mp_bary"], dtype=np.float64), 5)).tobytes())
    return h.hexdigest()


def load_offsets(corr, path=OFFSETS_PATH):
    """(478, 3) cm offsets for this correspondence, or None (absent or built for another table)."""
    path = Path(path)
    if not path.is_file():
        return None
    d = json.loads(path.read_text())
    if d.get("correspondence_sha256") != correspondence_hash(corr):
        return None
    off = np.asarray(d["offsets_cm"], dtype=np.float64)
    return off if off.shape == (len(corr["mp_vertex"]), 3) else None
