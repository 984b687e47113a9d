"""Learned 3DMM regression.

- Landmark regressor (ships trained in weights/): `predict_init(points2d, image_size, model)`
  -> dict(identity, expression, rotation (3,3), translation (3,), focal) in the model's OpenCV
  camera convention (principal point at the image centre), or None when the weights are
  missing / do not fit this model or point set. Used to initialise `engine.fit.fit_landmarks`.
- Genova et al. (2018) regressor: `genova_available()`, `predict_genova(image, model)`
  (needs a trained checkpoint and the FaceNet weights, see docs/regression.md).
"""
from __future__ import annotations

import os
import threading
from pathlib import Path

import numpy as np

LANDMARK_WEIGHTS_ENV = "FACESPACE_LANDMARK_REGRESSOR"
GENOVA_WEIGHTS_ENV = "FACESPACE_GENOVA_REGRESSOR"

_lock = threading.Lock()
_cache: dict = {}


def landmark_weights_path() -> Path:
    from .landmark import default_weights_path
    env = os.environ.get(LANDMARK_WEIGHTS_ENV)
    return Path(env) if env else default_weights_path()


def load_landmark_regressor(model, path=None, device="cpu"):
    """The loaded LandmarkPredictor (SHA-256 verified, cached per model and file).
    Raises WeightsUnavailableError when the file is missing, FaceSpaceError when corrupt."""
    from .checkpoint import load_checkpoint, sha256_file
    from .landmark import LandmarkPredictor
    path = Path(path) if path else landmark_weights_path()
    key = (id(model), str(path), str(device))
    with _lock:
        hit = _cache.get(key)
        if hit is not None and hit[0] == path.stat().st_mtime_ns:
            return hit[1]
        state = load_checkpoint(path)
        pred = LandmarkPredictor(state, model, device)
        _cache[key] = (path.stat().st_mtime_ns, pred)
        return pred


def landmark_regressor_available(model=None, n_points=None) -> bool:
    path = landmark_weights_path()
    if not path.exists():
        return False
    if model is None:
        return True
    try:
        pred = load_landmark_regressor(model)
    except Exception:
        return False
    return n_points is None or pred.n_points == n_points


def predict_init(points2d, image_size, model, visible=None, path=None):
    """Landmark regressor: points2d (L, 2) pixels (0-based; L = 478 mediapipe points or the
    model's 68 landmarks, as the shipped weights say), image_size (w, h) ->
    dict(identity (K,), expression (E,), rotation (3, 3) world_to_camera, translation (3,) cm,
    focal px, scheme) or None if the weights are missing, corrupt, or for another point set.
    `visible` (L,) optional 0/1 mask; non-finite points count as hidden."""
    try:
        pred = load_landmark_regressor(model, path)
    except Exception:
        return None
    pts = np.asarray(points2d, dtype=np.float64)
    if pts.ndim != 2 or pts.shape[1] != 2:
        return None
    if pts.shape[0] == 478 and pred.n_points == 68:
        # mediapipe points with weights trained on the model's 68 landmarks: detect.to68
        try:
            from ..detect import to68
        except ImportError:
            return None
        pts = to68(pts)
        if visible is not None:
            visible = None
    if pts.shape[0] != pred.n_points:
        return None
    out = pred.predict_batch(pts[None], np.asarray(image_size, dtype=np.float64), None if visible is None else np.asarray(visible)[None])
    r = {k: v[0] for k, v in out.items()}
    r["focal"] = float(r["focal"])
    r["scheme"] = pred.config["scheme"]
    return r


def genova_available(path=None) -> bool:
    """True when a trained Genova checkpoint and the FaceNet weights are both present."""
    from .encoder import facenet_weights_available
    from .genova import default_genova_path
    p = Path(path) if path else default_genova_path()
    return p.exists() and facenet_weights_available()


def predict_genova(image, model, path=None, device="auto"):
    """Genova regressor on a face crop / photo (H, W, 3) uint8 -> dict(identity, expression,
    rotation, translation, focal). Raises WeightsUnavailableError when weights are missing."""
    from .genova import load_genova_predictor
    return load_genova_predictor(model, path, device).predict(image)
