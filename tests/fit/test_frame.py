"""Per-frame tracking fit (fit/frame.py) on synthetic ground truth: the identity folded into
the mean and the focal length held, pose and expressions recovered cold and warm."""
from dataclasses import replace

import numpy as np

from engine.core.geometry import Camera, head_rotation
from engine.eval.synthetic import detector_targets, sample_face
from engine.eval.track_eval import rotation_error_deg
from engine.fit.frame import FixedIdentity, FrameFitter


def test_fixed_identity_view_matches_model(ict_model):
    rng = np.random.default_rng(0)
    ident = rng.standard_normal(ict_model.n_identity).astype(np.float32)
    e = rng.random(ict_model.n_expression).astype(np.float32) * 0.5
    view = FixedIdentity(ict_model, ident)
    assert view.n_identity == 0 and view.n_expression == ict_model.n_expression
    np.testing.assert_allclose(view.vertices(None, e), ict_model.vertices(ident, e), atol=1e-4)


def test_frame_fit_cold_then_warm(ict_model):
    rng = np.random.default_rng(3)
    face = sample_face(ict_model, rng, yaw_deg=25.0, n_expressions=3, expression_max=0.7)
    pts, jaw = detector_targets(ict_model, face, rng, noise_px=0.5)
    fitter = FrameFitter(ict_model, face.identity, face.K[0, 0], face.image_size)
    cold = fitter.fit(pts)
    assert cold.iterations > 10 and cold.path == "fit"
    assert abs(cold.camera.focal - face.K[0, 0]) < 1e-6        # the focal length is held
    np.testing.assert_array_equal(cold.identity, face.identity)
    assert rotation_error_deg(cold.camera.rotation[None], face.rotation[None])[0] < 1.5
    assert np.abs(cold.expression - face.expression).mean() < 0.05
    # the next frame: the head turned 2 degrees further; the warm start takes 3 steps
    R2 = head_rotation(2.0) @ np.diag([1.0, -1.0, -1.0]) @ face.rotation  # 2 degrees more yaw
    nxt = replace(face, camera=Camera(R2, face.translation, face.K[0, 0], face.image_size))
    pts2, _ = detector_targets(ict_model, nxt, rng, noise_px=0.5)
    warm = fitter.fit(pts2, warm=cold)
    assert warm.path == "warm+fit" and warm.iterations == 3
    assert rotation_error_deg(warm.camera.rotation[None], R2[None])[0] < 1.5
    assert np.abs(warm.expression - face.expression).mean() < 0.05
