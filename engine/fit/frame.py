"""Per-frame fitting for tracking: pose and the 53 expressions with the clip's identity and
focal length held fixed, warm-started from the previous frame.

The identity is folded into the model's mean (`FixedIdentity`), so the solver's unknowns are
rotation, translation and the expressions only: the same energy and Levenberg-Marquardt
steps as the photo fit (solver.py), with a 60-wide instead of a 160-wide system (about 3x
cheaper per step). A warm start is always trusted (the rigid stage is skipped); a frame
without one (the first, or after a lost face) starts from the closed-form rigid pose."""
from __future__ import annotations

import math
from dataclasses import replace

import numpy as np

from ..landmarks.detector import detector_basis, detector_weights, mp_jaw_points
from ..model.points import PointBasis
from .contour import jaw_contour
from .result import FitResult
from .settings import FitSettings
from .solver import fit_landmarks

# (rigid, full, contour reselect period): a cold start, and a warm one from the previous frame
COLD_ITERATIONS = (10, 12, 4)
WARM_ITERATIONS = (0, 3, 3)


class FixedIdentity:
    """The model seen with one identity folded into its mean: no identity coefficients, the
    same 53 expressions. Enough of MorphableModel's interface for the fit's energy."""

    def __init__(self, model, identity):
        self.base = model
        self.identity = np.asarray(identity, dtype=np.float32)
        self.mean = model.mean + np.tensordot(self.identity, model.identity_basis, 1).astype(np.float32)
        self.identity_basis = np.zeros((0,) + model.mean.shape, dtype=np.float32)
        self.expression_basis = model.expression_basis
        self.n_identity, self.n_expression = 0, model.n_expression
        self.n_vertices = model.n_vertices

    def vertices(self, identity, expression):
        return self.mean + np.tensordot(np.asarray(expression, dtype=np.float32), self.expression_basis, 1)


class FrameFitter:
    """`fit(points478, warm=None) -> FitResult` for one clip: identity (100,), focal (px) and
    image size (w, h) fixed. `warm`: the previous frame's FitResult (None: a cold start)."""

    def __init__(self, model, identity, focal, image_size, settings: FitSettings | None = None,
                 warm_iterations=WARM_ITERATIONS, cold_iterations=COLD_ITERATIONS, device="cpu"):
        self.model, self.image_size, self.device = model, tuple(int(v) for v in image_size), device
        self.view = FixedIdentity(model, identity)
        b = detector_basis(model)
        n = model.n_identity
        self.basis = PointBasis(b.mean + np.tensordot(self.view.identity.astype(np.float64), b.basis[:n], 1),
                                b.basis[n:])
        st = settings or FitSettings()
        # per frame, visibility stays off: the warm start tracks the turn, and the layout it
        # needs is built on the full model, not this identity-folded view of it
        st = replace(st, fixed_focal=True, focal_prior=float(focal) / max(self.image_size),
                     trust_init_sigmas=math.inf, visibility=False)
        self.focal = float(focal)
        w, h = self.image_size
        self.K = np.array([[self.focal, 0, (w - 1) / 2], [0, self.focal, (h - 1) / 2], [0, 0, 1]])
        self.warm_settings = replace(st, iterations_override=tuple(warm_iterations))
        self.cold_settings = replace(st, iterations_override=tuple(cold_iterations))
        self.weights = detector_weights(478, st.face_oval_weight, st.landmark68_weight)
        self._contour = None  # the jaw contour's candidates and basis, built on the first frame

    def _jaw(self, pts):
        jaw = mp_jaw_points(pts)
        if jaw is None:
            return None
        if self._contour is None:
            c = jaw_contour(self.model, jaw)
            self._contour = replace(c, needed_basis=PointBasis.from_vertices(self.view, c.needed))
        return replace(self._contour, targets=np.asarray(jaw, dtype=np.float64))

    def fit(self, points478, warm=None, cancel=None) -> FitResult:
        pts = np.asarray(points478, dtype=np.float64)
        contour = self._jaw(pts)
        init = None
        if warm is not None:
            init = {"rotation": warm.camera.rotation, "translation": warm.camera.translation,
                    "focal": self.focal, "identity": np.zeros(0),
                    "expression": warm.expression, "source": "warm"}
        res = fit_landmarks(self.view, pts, self.basis, self.image_size, weights=self.weights, contour=contour,
                            init=init, settings=self.warm_settings if init else self.cold_settings,
                            device=self.device, cancel=cancel)
        return replace(res, identity=self.view.identity.copy())
