"""The fit's energy, its Gauss-Newton system, and the sliding contour's current matches.

Energy (pixels normalised by the face size s so the weights do not depend on resolution):
    sum_i w_i rho(|u_i - p_i| / (sigma s))  +  lambda_id/2 |alpha|^2  +  lambda_ex/2 |e|^2
    + lambda_l1 sum e  +  (log f - log f0)^2 / (2 sigma_f^2),    0 <= e <= 1
rho is Geman-McClure, minimised by iteratively reweighted least squares.
"""
from __future__ import annotations

import math

import numpy as np
import torch

from ..model.points import PointBasis
from .problem import PointProblem
from .state import LOG_FOCAL, coeff_slice
from .visibility import visibility


class FitEnergy:
    def __init__(self, model, targets, basis: PointBasis, point_weights, contour, settings, image_size, device, dtype):
        self.model, self.settings, self.image_size = model, settings, image_size
        self.device, self.dtype = device, dtype
        tt = self.tensor
        w_img, h_img = image_size
        n_id, n_ex = model.n_identity, model.n_expression
        self.n_identity, self.n_coeffs = n_id, n_id + n_ex
        # face size s: sqrt of the landmarks' bounding-box area; residuals are in units of sigma*s
        lo, hi = targets.min(0), targets.max(0)
        s = float(np.sqrt(max((hi - lo).prod(), 1.0)))
        self.sig_px = settings.sigma * s
        self.f0 = settings.focal_prior * max(w_img, h_img)
        self.cxy = tt((np.array([w_img, h_img], dtype=np.float64) - 1) / 2)
        self.main = PointProblem(basis, targets, point_weights, device, dtype)
        # visibility (fit/visibility.py): only for the detector's 478 points
        self.base_weights = np.asarray(point_weights, dtype=np.float64)
        self.use_visibility = bool(settings.visibility) and basis.n_points == 478
        self.point_visibility, self.jaw_visibility = None, None
        self.lam_diag = tt(np.concatenate([np.full(n_id, settings.lambda_identity), np.full(n_ex, settings.lambda_expression)]))
        self.l1 = tt(np.concatenate([np.zeros(n_id), np.full(n_ex, settings.lambda_l1)]))
        self.contour = contour
        self.contour_problem, self.contour_ids = None, None
        self._contour_basis = None
        if contour is not None and contour.needed is not None:
            self._contour_basis = contour.needed_basis or PointBasis.from_vertices(model, contour.needed)
        self._contour_weight = settings.contour_weight if contour is None or contour.weight is None else contour.weight

    def tensor(self, a):
        return torch.as_tensor(np.asarray(a), device=self.device, dtype=self.dtype)

    def problems(self):
        return [p for p in (self.main, self.contour_problem) if p is not None]

    # ---- visibility and the sliding contour ----
    def visibility_at(self, state):
        """(point visibility (478,), jaw visibility (17,)) at `state`, or (None, None) when off."""
        if not self.use_visibility:
            return None, None
        return visibility(self.model, state.R.cpu().numpy(), state.t.cpu().numpy(), state.c.cpu().numpy(),
                          self.settings)

    def update_visibility(self, state) -> None:
        """Re-weigh the detector points (and the jaw contour) by their visibility at `state`."""
        if not self.use_visibility:
            return
        self.point_visibility, self.jaw_visibility = self.visibility_at(state)
        self.main.weights = self.tensor(self.base_weights * self.point_visibility)
        self._set_contour_weights()

    def _set_contour_weights(self):
        if self.contour_problem is None:
            return
        w = np.full(len(self.contour_ids), float(self._contour_weight))
        if self.jaw_visibility is not None and len(w) == len(self.jaw_visibility):
            w = w * self.jaw_visibility
        self.contour_problem.weights = self.tensor(w)

    def reselect_contour(self, state) -> None:
        """Match the jaw targets to the silhouette of the current pose and shape, and re-weigh
        every point by its visibility there."""
        self.update_visibility(state)
        contour = self.contour
        if contour is None:
            return
        c_np = state.c.cpu().numpy()
        if contour.needed is not None:
            verts = np.zeros((self.model.n_vertices, 3))
            verts[contour.needed] = self._contour_basis.points(c_np)
        else:
            verts = self.model.vertices(c_np[:self.n_identity], c_np[self.n_identity:]).astype(np.float64)
        cam = state.camera(self.image_size)
        sel = contour.select(cam.to_camera(verts), cam.K)
        if isinstance(sel, tuple):  # blends: (ids (J, k), weights (J, k)) of silhouette vertices
            self.contour_ids = np.asarray(sel[0], dtype=np.int64)
            cb = PointBasis.from_barycentric(self.model, self.contour_ids, sel[1])
        else:
            self.contour_ids = np.asarray(sel, dtype=np.int64)
            cb = PointBasis.from_vertices(self.model, self.contour_ids)
        self.contour_problem = PointProblem(cb, contour.targets, np.full(len(self.contour_ids), self._contour_weight),
                                            self.device, self.dtype)
        self._set_contour_weights()

    # ---- energies ----
    def robust_weights(self, r):
        """Geman-McClure IRLS weight on the per-point residual norm, in sigmas."""
        e2 = (r**2).sum(-1) / self.sig_px**2
        k2 = self.settings.robust_scale**2
        return (k2 / (k2 + e2))**2

    def system(self, state, n_coeff, need_jac=True):
        """-> (IRLS surrogate energy, H, g) over the first `n_coeff` coefficients.

        The surrogate (each residual at its own weight) is the step's acceptance test.
        Measured against the Geman-McClure energy itself it fits as well (NME, synthetic
        error) and ranks same-person shapes slightly worse (AUC 0.81 vs 0.83), so it stays."""
        st = self.settings
        rows, jacs, ws = [], [], []
        for prob in self.problems():
            r, J = prob.evaluate(state, self.cxy, need_jac, n_coeff)
            rows.append(r); jacs.append(J); ws.append(prob.weights * self.robust_weights(r))
        r = torch.cat(rows, 0)
        W = torch.cat(ws, 0) / self.sig_px**2
        cn = state.c[:n_coeff]
        logf_d = state.logf - math.log(self.f0)
        E = 0.5 * (W * (r**2).sum(-1)).sum() + 0.5 * (self.lam_diag[:n_coeff] * cn**2).sum() \
            + (self.l1[:n_coeff] * cn).sum() + 0.5 * logf_d**2 / st.focal_sigma**2
        if not need_jac:
            return float(E), None, None
        J = torch.cat(jacs, 0)  # (M, 2, D)
        D = J.shape[-1]
        Jw = J * W.sqrt()[:, None, None]
        Jf = Jw.reshape(-1, D)
        H = Jf.T @ Jf
        g = Jf.T @ (r * W.sqrt()[:, None]).reshape(-1)
        H[LOG_FOCAL, LOG_FOCAL] += 1 / st.focal_sigma**2
        g[LOG_FOCAL] += logf_d / st.focal_sigma**2
        if n_coeff:
            cs = coeff_slice(n_coeff)
            H[cs, cs] += torch.diag(self.lam_diag[:n_coeff])
            g[cs] += self.lam_diag[:n_coeff] * cn + self.l1[:n_coeff]
        return float(E), H, g

    def robust_energy(self, state, weights=None) -> float:
        """The Geman-McClure energy itself, to compare starts. (The IRLS surrogate weighs each
        residual by its own weight, so a start with every point far off scores near zero.)
        weights: optional per-problem weight tensors replacing the current ones (starts are
        compared under one visibility: a pose that hides more points must not win by it)."""
        st = self.settings
        k2 = st.robust_scale**2
        E = 0.0
        probs = self.problems()
        for k, prob in enumerate(probs):
            r, _ = prob.evaluate(state, self.cxy, False, 0)
            e2 = (r**2).sum(-1) / self.sig_px**2
            w = prob.weights if weights is None or weights[k] is None else weights[k]
            E += 0.5 * float((w * k2 * e2 / (k2 + e2)).sum())
        c_ = state.c
        logf_d = state.logf - math.log(self.f0)
        return E + float(0.5 * (self.lam_diag * c_**2).sum() + (self.l1 * c_).sum()) + 0.5 * logf_d**2 / st.focal_sigma**2
