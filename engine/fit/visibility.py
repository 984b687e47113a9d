"""Visibility of the detector's points and of the jaw under the fit's current pose and shape.

MediaPipe places all 478 points even where the face hides them (the far cheek, eye corner
and jaw of a turned head); fitted as if seen they pull the head towards a frontal pose. Each
point's weight is multiplied by its visibility: a ramp on the cosine between the (smoothed)
surface normal at the point's model location and the view ray (grazing and back-facing
points fade out), times zero where another part of the face (nose, near cheek) lies in front
of it. The jaw's sliding contour keeps only the visible side: jaw landmark j counts by the
ramp of its fixed ICT vertex's facing cosine; on the hidden side the 68-point output keeps
the model's fixed landmark (landmarks/detector.landmarks68). Updated whenever the contour
is reselected. The thresholds are FitSettings fields.
"""
from __future__ import annotations

import numpy as np
import torch

from ..core.cache import cached
from ..core.geometry import head_angles, vertex_normals
from ..landmarks.correspondence import get_correspondence
from ..landmarks.visibility import facing_cos, occluded, ramp, smoothed_normals
from ..model.points import PointBasis

OCCLUDER_STRIDE = 4   # every 4th face-region vertex is an occluder (~2,350 points, ~0.5 cm apart)
NORMAL_RADIUS = 2.0   # cm: normals are averaged over this neighbourhood on the mean face (1.2 cm:
#                       the inner-lip points still face into the mouth)


class _Layout:
    """Detector surface points, jaw landmark vertices and occluders as one PointBasis (torch,
    float64), and model-space smoothed normals of the points and jaw vertices."""

    def __init__(self, model):
        corr = get_correspondence(model)
        tri = np.asarray(corr["mp_vertex"], dtype=np.int64)
        bary = np.asarray(corr["mp_bary"], dtype=np.float64)
        jaw = np.asarray(model.landmarks68[:17], dtype=np.int64)
        face = np.asarray(model.region_vertices("face"), dtype=np.int64)
        occ = face[::OCCLUDER_STRIDE]
        b = PointBasis.from_barycentric(model, tri, bary).concat(PointBasis.from_vertices(model, np.concatenate([jaw, occ])))
        self.n_points, self.n_jaw = len(tri), len(jaw)
        self.mean = torch.as_tensor(b.mean.reshape(-1))
        self.basis = torch.as_tensor(b.basis.reshape(b.basis.shape[0], -1))
        vn = vertex_normals(model.mean, model.triangles)[face]
        mean_face = model.mean[face].astype(np.float64)
        self.normals = smoothed_normals(b.mean[:len(tri) + len(jaw)], mean_face, vn, NORMAL_RADIUS)

    def points(self, coeffs) -> np.ndarray:
        c = torch.as_tensor(np.asarray(coeffs, dtype=np.float64))
        return (self.mean + c @ self.basis).reshape(-1, 3).numpy()


def _n_points(model) -> int:
    return len(get_correspondence(model)["mp_vertex"])


def _layout(model) -> _Layout:
    return cached(model, "visibility_layout", lambda: _Layout(model))


def visibility(model, R, t, coeffs, settings):
    """-> (point visibility (478,), jaw visibility (17,)) in [0, 1] for the head posed by
    R (3, 3) model -> camera, t (3,) cm and coefficients `coeffs`."""
    R = np.asarray(R, dtype=np.float64)
    # near-frontal heads keep every point (settings.visibility_yaw_lo/hi): nothing to compute
    g = float(ramp(abs(head_angles(R)["yaw"]), settings.visibility_yaw_lo, settings.visibility_yaw_hi))
    if g == 0.0:
        return np.ones(_n_points(model)), np.ones(17)
    lay = _layout(model)
    X = lay.points(coeffs) @ R.T + np.asarray(t, dtype=np.float64)
    n = lay.normals @ R.T
    P, J = lay.n_points, lay.n_points + lay.n_jaw
    vis = ramp(facing_cos(X[:P], n[:P]), settings.visible_cos_lo, settings.visible_cos_hi)
    if settings.occlusion_depth_cm > 0:
        hid = occluded(X[:P], X[J:], settings.occlusion_radius_cm, settings.occlusion_depth_cm,
                       settings.occlusion_apart_cm)
        vis = np.where(hid, 0.0, vis)
    jaw = ramp(facing_cos(X[P:J], n[P:J]), settings.jaw_visible_cos_lo, settings.jaw_visible_cos_hi)
    return 1 - g * (1 - vis), 1 - g * (1 - jaw)
