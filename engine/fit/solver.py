"""Landmark fitting: perspective camera, head pose, identity and expression from 2D points.

Why Gauss-Newton on the landmark points: the model is linear in its 153 coefficients and
the camera has 7 parameters (rotation, translation, log focal), so the whole problem is a
~160-parameter nonlinear least squares on ~500 points. An analytic Jacobian and a damped
Gauss-Newton (Levenberg-Marquardt) step converge in a few dozen iterations, in
milliseconds, on any torch device. No dense rendering is needed for the default path.

The steps, one file each (the way eos lays out its fitting): state.py (the unknowns),
problem.py (projection, residuals, Jacobian), energy.py (robust energy and priors),
lm.py (one step), start.py (where to start), rigid.py (camera only), full.py (everything),
contour.py (the sliding jaw contour). Coarse to fine: rigid + focal on the start's shape
first, then everything.
"""
from __future__ import annotations

import time

import numpy as np
import torch

from ..core.errors import Cancelled
from ..core.geometry import head_angles
from ..model.points import PointBasis
from .contour import Contour
from .energy import FitEnergy
from .full import full_stage
from .lm import LevenbergMarquardt
from .restart import restart_if_collapsed
from .result import FitResult
from .settings import FitSettings
from .start import candidate_starts, choose_start, init_trusted


class _threads:
    """Small dense problems run fastest single-threaded (no spin-waiting on busy cores)."""

    def __init__(self, device):
        self.cpu = device.type == "cpu"

    def __enter__(self):
        if self.cpu:
            self.n = torch.get_num_threads()
            torch.set_num_threads(1)

    def __exit__(self, *exc):
        if self.cpu:
            torch.set_num_threads(self.n)


def fit_landmarks(model, targets: np.ndarray, basis: PointBasis, image_size, *,
                  weights: np.ndarray | None = None, contour: Contour | None = None,
                  init: dict | None = None, settings: FitSettings | None = None,
                  device="cpu", cancel=None) -> FitResult:
    """Fit camera, pose, identity and expression so `basis` projects onto `targets` (N, 2) px.

    init: optional dict(rotation, translation, focal, identity, expression[, source]) (e.g. from
    the landmark regressor); otherwise a closed-form rigid initialisation on the mean shape.
    FitResult.path is "<source>+fit" when the fit continued from it (source default
    "landmark-regressor"), "fit" when the closed-form start won.
    """
    device = torch.device(device)
    with _threads(device):
        return _fit(model, targets, basis, image_size, weights, contour, init, settings or FitSettings(), device, cancel)


def _fit(model, targets, basis, image_size, weights, contour, init, st, device, cancel):
    t0 = time.perf_counter()
    n_rigid, n_full, reselect = st.iterations
    dtype = torch.float32 if device.type == "mps" else torch.float64
    targets = np.asarray(targets, dtype=np.float64)
    pw = np.ones(len(targets)) if weights is None else np.asarray(weights, dtype=np.float64)
    energy = FitEnergy(model, targets, basis, pw, contour, st, image_size, device, dtype)
    lm = LevenbergMarquardt()
    history = []

    def check_cancel():
        if cancel is not None and cancel.is_set():
            raise Cancelled("Reconstruction cancelled.")

    starts = candidate_starts(model, energy, basis, targets, pw, init)
    trusted = (init is not None and init_trusted(energy, starts[0][1], st.trust_init_sigmas)
               and abs(head_angles(starts[0][1].R.cpu().numpy())["yaw"]) <= st.trust_init_max_yaw)
    path, state, n_run = choose_start(energy, starts, trusted, lm, n_rigid, reselect, check_cancel, history)
    n_run += full_stage(energy, state, lm, n_full, reselect, check_cancel, history)
    state, path, n_more, restarted = restart_if_collapsed(energy, state, path, lm, (n_rigid, n_full), reselect,
                                                          check_cancel, history)
    n_run += n_more

    energy.update_visibility(state)   # the visibility the result reports
    r, _ = energy.main.evaluate(state, energy.cxy, False, 0)
    cres = None
    if energy.contour_problem is not None:
        rc, _ = energy.contour_problem.evaluate(state, energy.cxy, False, 0)
        cres = rc.norm(dim=-1).cpu().numpy()
    c_np = state.c.cpu().numpy()
    n_id = model.n_identity
    return FitResult(
        identity=c_np[:n_id].astype(np.float32), expression=c_np[n_id:].astype(np.float32),
        camera=state.camera(image_size), residual_px=r.norm(dim=-1).cpu().numpy(), contour_residual_px=cres,
        contour_vertices=energy.contour_ids, robust_weights=energy.robust_weights(r).cpu().numpy(),
        iterations=n_run, path=path, seconds=time.perf_counter() - t0, history=history,
        point_visibility=energy.point_visibility, jaw_visibility=energy.jaw_visibility, restarted=restarted)
