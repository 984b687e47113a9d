"""Visibility-aware fitting (fit/visibility.py): hidden-side points of a turned head get weight
near zero, visible ones near one, and a fit whose hidden points are misplaced (as MediaPipe
places them on a turned head: squeezed onto the visible outline) keeps the pose."""
import numpy as np
import pytest

from engine.eval.synthetic import detector_targets, sample_face
from engine.fit import FitSettings, fit_points
from engine.core.geometry import head_angles
from engine.fit.visibility import visibility
from engine.landmarks.detector import FACE_OVAL, detector_basis


def _coeffs(face):
    return np.concatenate([face.identity, face.expression]).astype(np.float64)


@pytest.mark.parametrize("yaw", [60.0, -60.0, 75.0])
def test_hidden_side_is_weighted_out(ict_model, yaw):
    rng = np.random.default_rng(5)
    face = sample_face(ict_model, rng, yaw_deg=yaw)
    vis, jaw = visibility(ict_model, face.rotation, face.translation, _coeffs(face), FitSettings())
    x = detector_basis(ict_model).mean[:, 0]           # model +x: the subject's left
    far, near = (x > 2.5, x < -2.5) if yaw > 0 else (x < -2.5, x > 2.5)  # +yaw turns the left side away
    assert vis[far].mean() < 0.1, vis[far].mean()
    assert vis[near].mean() > 0.9, vis[near].mean()
    far_jaw, near_jaw = (slice(11, 17), slice(0, 7)) if yaw > 0 else (slice(0, 6), slice(10, 17))
    assert jaw[far_jaw].max() < 0.05 and jaw[near_jaw].min() > 0.95


def test_frontal_head_is_all_visible(ict_model):
    rng = np.random.default_rng(6)
    face = sample_face(ict_model, rng, yaw_deg=0.0)
    vis, jaw = visibility(ict_model, face.rotation, face.translation, _coeffs(face), FitSettings())
    inner = np.setdiff1d(np.arange(478), FACE_OVAL)
    assert vis[inner].mean() > 0.97 and (vis[inner] > 0.5).mean() > 0.95
    assert jaw.min() > 0.95


def test_misplaced_hidden_points_do_not_pull(ict_model):
    """MediaPipe puts a profile's hidden points on the visible face: here squeezed halfway
    towards the visible points' centre. The visibility-aware fit keeps the yaw better than
    the fit that trusts every point (measured 4.7 vs 7.5 degrees off at yaw -80)."""
    rng = np.random.default_rng(9)
    face = sample_face(ict_model, rng, yaw_deg=-80.0)
    pts, jaw = detector_targets(ict_model, face, rng, 1.0)
    vis, _ = visibility(ict_model, face.rotation, face.translation, _coeffs(face), FitSettings())
    hidden = vis < 0.5
    centre = pts[~hidden].mean(0)
    pts = pts.copy()
    pts[hidden] = centre + 0.5 * (pts[hidden] - centre)
    errs = {}
    for on in (True, False):
        fit = fit_points(ict_model, pts, face.image_size, jaw_points=jaw, settings=FitSettings(visibility=on))
        errs[on] = abs(head_angles(fit.camera.rotation)["yaw"] - face.yaw_deg)
    assert errs[True] < 6.0 and errs[True] < errs[False] - 1.0, errs
