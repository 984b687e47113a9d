"""The fit's unknowns, and where each sits in the Levenberg-Marquardt parameter vector.

    [ rotation update (3) | translation (3) | log focal (1) | identity (K) | expression (E) ]

The rotation is kept as a matrix and updated multiplicatively (R <- exp([w]x) R), so the
first three entries are an increment, never stored angles."""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch

from ..core.geometry import Camera, rodrigues

ROTATION = slice(0, 3)
TRANSLATION = slice(3, 6)
LOG_FOCAL = 6
COEFFS = 7   # identity, then expression, from here on


def coeff_slice(n: int) -> slice:
    """The first `n` coefficients in the parameter vector."""
    return slice(COEFFS, COEFFS + n)


@dataclass
class FitState:
    R: torch.Tensor      # (3, 3) model -> camera
    t: torch.Tensor      # (3,) cm
    logf: float          # log focal length, px
    c: torch.Tensor      # (K + E,) identity then expression coefficients

    @property
    def focal(self) -> float:
        return math.exp(self.logf)

    def copy(self) -> "FitState":
        return FitState(self.R.clone(), self.t.clone(), self.logf, self.c.clone())

    def camera(self, image_size) -> Camera:
        return Camera(self.R.cpu().numpy(), self.t.cpu().numpy(), self.focal, tuple(int(v) for v in image_size))

    def apply(self, d: torch.Tensor, n_coeff: int, n_identity: int) -> None:
        """Add a parameter step `d` (first `n_coeff` coefficients); expressions stay in [0, 1]."""
        dn = d.cpu().numpy()
        self.R = torch.as_tensor(rodrigues(dn[ROTATION]) @ self.R.cpu().numpy(), device=self.R.device, dtype=self.R.dtype)
        self.t = self.t + d[TRANSLATION]
        self.logf = self.logf + float(dn[LOG_FOCAL])
        if n_coeff:
            c = self.c.clone()
            c[:n_coeff] = c[:n_coeff] + d[coeff_slice(n_coeff)]
            c[n_identity:] = c[n_identity:].clamp(0, 1)
            self.c = c


def state_from(rotation, translation, focal, coeffs, device, dtype) -> FitState:
    tt = lambda a: torch.as_tensor(np.asarray(a, dtype=np.float64), device=device, dtype=dtype)
    return FitState(tt(rotation), tt(translation), math.log(float(focal)), tt(coeffs))
