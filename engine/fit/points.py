"""Fitting the model to the detector's 478 points: the detector basis and point weights
(landmarks/detector.py), the sliding jaw contour on the detector's jaw, then the solver."""
from __future__ import annotations

from ..landmarks.detector import detector_basis, detector_weights, mp_jaw_points
from .contour import jaw_contour
from .settings import FitSettings
from .solver import fit_landmarks


def fit_points(model, points478, image_size, *, quality="balanced", device="cpu", init=None,
               cancel=None, settings=None, jaw_points=None):
    """Fit the model to detector points (478, 2) -> FitResult. jaw_points (17, 2): the jaw
    targets of the sliding contour (default: the detector's 68-point jaw)."""
    st = settings or FitSettings(quality=quality)
    jaw = mp_jaw_points(points478) if jaw_points is None else jaw_points
    contour = None if jaw is None else jaw_contour(model, jaw)
    weights = detector_weights(len(points478), st.face_oval_weight, st.landmark68_weight)
    return fit_landmarks(model, points478, detector_basis(model), image_size, weights=weights,
                         contour=contour, init=init, settings=st, device=device, cancel=cancel)
