"""The detector's points on the model: mediapipe's 478 points as a linear basis on the
surface (correspondence plus the calibrated detector offsets), their weights' groups, the
detector's jaw, and the fitted head's 68 landmarks for the output (`landmarks68`)."""
from __future__ import annotations

import functools

import numpy as np

from ..core.cache import cached
from ..model.points import PointBasis
from . import mp68
from .correspondence import contour_candidates_cached, get_correspondence, select_contour, surface_points
from .model68 import TABLE_PATH as MODEL68_PATH
from .model68 import jaw_points
from .model68 import load_table as load_model68_table
from .offsets import OFFSETS_PATH, load_offsets

# MediaPipe's face-oval ring: on a turned head these points follow the silhouette, not fixed
# surface points, so the fit weighs them less (the sliding contour covers the jaw).
FACE_OVAL = (10, 338, 297, 332, 284, 251, 389, 356, 454, 323, 361, 288, 397, 365, 379, 378, 400,
             377, 152, 148, 176, 149, 150, 136, 172, 58, 132, 93, 234, 127, 162, 21, 54, 103, 67, 109)


def detector_offsets(model):
    """(478, 3) cm calibrated detector-bias offsets (landmarks/offsets.py), or None."""
    return cached(model, ("detector_offsets", str(OFFSETS_PATH)),
                  lambda: load_offsets(get_correspondence(model), OFFSETS_PATH))


def detector_basis(model, calibrated: bool = True) -> PointBasis:
    """PointBasis of the 478 detector points on the model surface, moved by the measured
    detector-bias offsets when they exist."""
    def build():
        corr = get_correspondence(model)
        # surface points are barycentric, so linear in the vertices: map mean and every mode
        stack = np.concatenate([model.mean[None], model.mean[None] + model.identity_basis,
                                model.mean[None] + model.expression_basis], 0).astype(np.float64)
        pts = np.asarray(surface_points(stack, corr), dtype=np.float64)
        off = detector_offsets(model) if calibrated else None
        return PointBasis(pts[0] if off is None else pts[0] + off, pts[1:] - pts[0])
    return cached(model, ("detector_basis", calibrated), build)


def detector_points(model, vertices, calibrated: bool = True):
    """The 478 detector points on posed vertices (V, 3): correspondence plus offsets."""
    pts = surface_points(np.asarray(vertices, dtype=np.float64), get_correspondence(model))
    off = detector_offsets(model) if calibrated else None
    return pts if off is None else pts + off


def detector_weights(n=478, face_oval_weight=1.0, landmark68_weight=1.0) -> np.ndarray:
    """(n,) per-point weights: the face-oval ring at `face_oval_weight`, the points behind the
    detector's inner 68 (eyes, brows, nose, mouth) times `landmark68_weight`."""
    w = np.ones(n)
    w[list(FACE_OVAL)] = face_oval_weight
    if n == 478 and mp68.MP_TO_68_INDEX is not None:
        w[np.unique(mp68.MP_TO_68_INDEX[17:].ravel())] *= landmark68_weight
    return w


def mp_jaw_points(points478):
    """The detector's 17 jaw points (68-point scheme) from its 478 points, or None while the
    68 table is not built."""
    if mp68.MP_TO_68_INDEX is None:
        return None
    return mp68.to68(np.asarray(points478, dtype=np.float64))[:17]


def jaw68_vertices(model, vertices, camera):
    """The 17 silhouette vertex ids of the jaw (68-point 0-16) at the fitted pose, or None."""
    vc = camera.to_camera(vertices)
    ids = np.asarray(select_contour(vc, camera.K, contour_candidates_cached(model)))
    return ids if len(ids) == 17 else None


@functools.lru_cache(maxsize=4)
def _model68_table(path: str):
    return load_model68_table(path)


def model68_table():
    """The calibrated model 68-point table (landmarks/model68.py), or None. Read once."""
    return _model68_table(str(MODEL68_PATH))


def _hide_jaw(out, fixed, jaw_visibility):
    """Where the jaw is hidden (visibility < 1) its landmark moves from the silhouette to the
    model's fixed ICT jaw vertex (the 3D landmark behind the outline)."""
    if jaw_visibility is None:
        return out
    v = np.clip(np.asarray(jaw_visibility, dtype=np.float64), 0, 1)[:, None]
    out = out.copy()
    out[:17] = v * out[:17] + (1 - v) * fixed[:17]
    return out


def points68(model, vertices, camera, silhouette_ids, table, jaw_targets=None):
    """(68, 2) pixels: the model's 68 landmarks on fitted vertices (V, 3) (model space) with
    `camera` and the 17 silhouette vertex ids of the jaw. jaw_targets (17, 2): the detected
    jaw points, used by a "nearest" table: jaw point j is the point of the fitted silhouette
    nearest to the detected one (within j +- 1.5 planes); without them (or with a "shift"
    table) it is read off at j + jaw_shift[j]."""
    v = np.asarray(vertices, dtype=np.float64)
    out = np.zeros((68, 2))
    pts = detector_points(model, v)[table["index"][17:]]                 # (51, 2, 3)
    out[17:] = camera.project((pts * table["weight"][17:, :, None]).sum(1))
    out[:17] = jaw_points(camera.project(v[np.asarray(silhouette_ids)]), table, jaw_targets)
    return out


def landmarks68(model, vertices, camera, contour_vertices=None, table="default", jaw_targets=None,
                jaw_visibility=None):
    """Projected 68 landmarks of the fitted model (pixels) -> (fixed, contour):
    fixed: ICT's own 68 landmark vertices;
    contour: the model's calibrated 68 landmarks (engine/data/model_landmarks68.json: inner
    points as surface points, jaw 0-16 along the fitted silhouette) when that table exists
    and the silhouette is given; else the 68 points as the detector defines them (its 478
    correspondence points on the fitted surface, blended by mp68.to68) with the jaw on the
    fitted silhouette. table: "default" (the shipped one), a table dict, or None (old definition).
    jaw_targets (17, 2): the detected jaw points (mp_jaw_points); with the shipped table each jaw
    landmark is the fitted silhouette's point nearest to its detection. jaw_visibility (17,) in
    [0, 1] (FitResult.jaw_visibility): hidden jaw landmarks are ICT's fixed jaw vertices instead."""
    fixed = camera.project(vertices[model.landmarks68].astype(np.float64))
    if table == "default":
        table = model68_table()
    if table is not None and contour_vertices is not None and len(contour_vertices) == 17:
        return fixed, _hide_jaw(points68(model, vertices, camera, contour_vertices, table, jaw_targets),
                                fixed, jaw_visibility)
    contour = fixed.copy()
    if mp68.MP_TO_68_INDEX is not None:
        contour = mp68.to68(camera.project(detector_points(model, vertices)))
    if contour_vertices is not None and len(contour_vertices) == 17:
        contour[:17] = camera.project(vertices[np.asarray(contour_vertices)].astype(np.float64))
    return fixed, _hide_jaw(contour, fixed, jaw_visibility)
