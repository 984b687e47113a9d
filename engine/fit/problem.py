"""Projected points, their residuals and analytic Jacobian, in torch on one device.

Model (OpenCV camera, docs/architecture.md):
    X_i = mean_i + sum_k c_k B_ki          (model space, cm; c = [identity, expression])
    Y_i = R X_i + t                        (camera space, cm)
    u_i = f Y_ix / Y_iz + cx,  v_i = f Y_iy / Y_iz + cy,  (cx, cy) = image centre
"""
from __future__ import annotations

import numpy as np
import torch

from ..model.points import PointBasis


class PointProblem:
    """Points of a PointBasis projected through the fit's camera, against 2D targets."""

    def __init__(self, basis: PointBasis, targets, weights, device, dtype):
        t = lambda a: torch.as_tensor(np.asarray(a), device=device, dtype=dtype)
        self.mean = t(basis.mean)
        C, N, _ = basis.basis.shape
        self.basis = t(basis.basis.reshape(C, N * 3))
        self.C, self.N = C, N
        self.targets = t(targets)
        self.weights = t(weights)

    def evaluate(self, state, cxy, need_jac: bool, n_coeff: int):
        """-> residuals (N, 2) px and, if asked, the Jacobian (N, 2, 7 + n_coeff) in the
        parameter order of fit/state.py."""
        R, t, f, c = state.R, state.t, state.focal, state.c
        X = self.mean + (c @ self.basis).reshape(self.N, 3)
        Xr = X @ R.T
        Y = Xr + t
        z = Y[:, 2:3]
        uv = f * Y[:, :2] / z + cxy
        r = uv - self.targets  # (N, 2)
        if not need_jac:
            return r, None
        N = self.N
        dUdY = torch.zeros(N, 2, 3, dtype=Y.dtype, device=Y.device)
        dUdY[:, 0, 0] = f / z[:, 0]
        dUdY[:, 1, 1] = f / z[:, 0]
        dUdY[:, :, 2] = -f * Y[:, :2] / z**2
        # rotation update R <- exp([w]x) R: dY/dw = -[Xr]x
        skew = torch.zeros(N, 3, 3, dtype=Y.dtype, device=Y.device)
        skew[:, 0, 1], skew[:, 0, 2] = Xr[:, 2], -Xr[:, 1]
        skew[:, 1, 0], skew[:, 1, 2] = -Xr[:, 2], Xr[:, 0]
        skew[:, 2, 0], skew[:, 2, 1] = Xr[:, 1], -Xr[:, 0]
        J_w = dUdY @ skew
        J_t = dUdY
        J_f = (uv - cxy).unsqueeze(-1)
        parts = [J_w, J_t, J_f]
        if n_coeff:
            B = self.basis[:n_coeff].reshape(n_coeff, N, 3)
            dYdc = torch.einsum("ij,knj->nik", R, B)  # (N, 3, C)
            parts.append(dUdY @ dYdc)
        return r, torch.cat(parts, -1)  # (N, 2), (N, 2, D)
