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

from ..core.cache import cached
from ..core.errors import FaceSpaceError
from ..landmarks.mp68 import to68
from .checkpoint import load_checkpoint
from .encoder import facenet_weights_available
from .genova import default_genova_path, load_genova_predictor
from .landmark import LandmarkPredictor, default_weights_path

LANDMARK_WEIGHTS_ENV = "FACESPACE_LANDMARK_REGRESSOR"
GENOVA_WEIGHTS_ENV = "FACESPACE_GENOVA_REGRESSOR"

_lock = threading.Lock()


def landmark_weights_path() -> Path:
    env = os.environ.get(LANDMARK_WEIGHTS_ENV)
    return Path(env) if env else default_weights_path()


def load_landmark_regressor(model, path=None, device="cpu"):
    """The loaded LandmarkPredictor (SHA-256 verified, cached per model and file).
    Raises WeightsUnavailableError when the file is missing, FaceSpaceError when corrupt."""
    path = Path(path) if path else landmark_weights_path()
    with _lock:
        slot = cached(model, ("landmark_regressor", str(path), str(device)), dict)
        mtime = path.stat().st_mtime_ns if path.exists() else None
        if "predictor" not in slot or slot["mtime"] != mtime:   # a replaced file is read again
            slot["predictor"] = LandmarkPredictor(load_checkpoint(path), model, device)
            slot["mtime"] = mtime
        return slot["predictor"]


def landmark_regressor_available(model=None, n_points=None) -> bool:
    path = landmark_weights_path()
    if not path.exists():
        return False
    if model is None:
        return True
    try:
        pred = load_landmark_regressor(model)
    except FaceSpaceError:   # missing or damaged weights
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
    except FaceSpaceError:   # missing or damaged weights: no start, the fit starts in closed form
        return None
    pts = np.asarray(points2d, dtype=np.float64)
    if pts.ndim != 2 or pts.shape[1] != 2:
        return None
    if pts.shape[0] == 478 and pred.n_points == 68:
        # mediapipe points with weights trained on the model's 68 landmarks
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
    p = Path(path) if path else default_genova_path()
    return p.exists() and facenet_weights_available()


def predict_genova(image, model, path=None, device="auto"):
    """Genova regressor on a face crop / photo (H, W, 3) uint8 -> dict(identity, expression,
    rotation, translation, focal). Raises WeightsUnavailableError when weights are missing."""
    return load_genova_predictor(model, path, device).predict(image)
