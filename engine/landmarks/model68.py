"""The fitted model's own 68 landmarks (iBUG scheme), calibrated against human annotations.

Inner points (17-67): each is a fixed blend of one or two of the model's 478 detector
correspondence points (barycentric surface points plus the calibrated detector offsets,
landmarks.detector.detector_points) on the fitted head. Jaw points (0-16): silhouette
points; the 17 silhouette vertices of the fitted head (engine/correspondence.select_contour)
are projected to an image polyline and jaw landmark j is the polyline point nearest to the
detected jaw point j (within planes j +- 1.5): table "jaw": "nearest" (nothing chosen on the
photos). The alternative "shift" mode reads jaw j off at `j + jaw_shift[j]`, shifts chosen on
the photos (measured worse, docs/reconstruction.md).

The table (`engine/data/model_landmarks68.json`) is derived by `python -m engine build-landmarks68`
(engine/tools/landmarks68.py)
exactly as the detector's 68-point table was (docs/detection.md), but against the *fitted*
heads: the photos with human 68-point annotations (../shared/photos/landmarks) are reconstructed
by the normal pipeline; per inner landmark the candidate (one of the 12 points nearest
PeizhiYan's seed, or a 1/4, 1/2, 3/4 blend of two) whose projection on the fitted heads best
matches the annotations is kept, left/right mirror points chosen together (36 choices).
`calibrate` also returns the honest estimate: image i scored with the table chosen without it.
Pure surface points (vertices or barycentric points, no offsets) were measured and lost:
the nearest surface point to each current landmark scored inner NME 0.0201 vs 0.0182.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np

DATA = Path(__file__).resolve().parents[1] / "data"
TABLE_PATH = DATA / "model_landmarks68.json"
JAW_SHIFTS = np.round(np.arange(-0.6, 0.6001, 0.05), 2)


def load_table(path=TABLE_PATH):
    """{"index" (68, 2) int64, "weight" (68, 2), "jaw_shift" (17,), "jaw": "nearest"|"shift"}
    or None when absent. Rows 0-16 of index/weight are unused (the jaw slides)."""
    path = Path(path)
    if not path.exists():
        return None
    d = json.loads(path.read_text())
    if not {"index", "weight", "jaw_shift"} <= set(d):
        return None
    return {"index": np.asarray(d["index"], dtype=np.int64),
            "weight": np.asarray(d["weight"], dtype=np.float64),
            "jaw_shift": np.asarray(d["jaw_shift"], dtype=np.float64), "jaw": d.get("jaw", "shift")}


def jaw_polyline(sil2d, shift):
    """(..., 17, 2) projected silhouette points -> (..., 17, 2) jaw landmarks at j + shift[j]
    (linear along the polyline, extrapolated past the ends)."""
    u = np.arange(17) + np.asarray(shift, dtype=np.float64)
    i = np.clip(np.floor(u).astype(int), 0, 15)
    t = (u - i)[:, None]
    return sil2d[..., i, :] * (1 - t) + sil2d[..., i + 1, :] * t


JAW_WINDOW = 1.5   # "nearest": jaw point j searched within j +- 1.5 along the silhouette polyline


def nearest_on_polyline(sil2d, targets, window=JAW_WINDOW, step=0.01):
    """(17,) polyline parameters u_j in [j - window, j + window] (clipped to -0.6..16.6) of the
    silhouette points nearest to the 17 target points."""
    off = np.arange(-window, window + 1e-9, step)
    u = np.clip(np.arange(17)[:, None] + off[None], -0.6, 16.6)          # (17, S)
    i = np.clip(np.floor(u).astype(int), 0, 15)
    t = (u - i)[..., None]
    pts = sil2d[i] * (1 - t) + sil2d[i + 1] * t                          # (17, S, 2)
    d = np.linalg.norm(pts - np.asarray(targets, dtype=np.float64)[:, None], axis=-1)
    return u[np.arange(17), np.argmin(d, 1)]


def jaw_points(sil2d, table, jaw_targets=None):
    """(17, 2) jaw landmarks on the projected silhouette polyline (17, 2)."""
    if table.get("jaw") == "nearest" and jaw_targets is not None:
        u = nearest_on_polyline(sil2d, jaw_targets) + table["jaw_shift"]
        i = np.clip(np.floor(u).astype(int), 0, 15)
        t = (u - i)[:, None]
        return sil2d[i] * (1 - t) + sil2d[i + 1] * t
    return jaw_polyline(sil2d, table["jaw_shift"])
