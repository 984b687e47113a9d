"""One damped Gauss-Newton (Levenberg-Marquardt) step, with the expressions' [0, 1] bounds
kept by an active set: a variable at a bound that the gradient pushes outwards is frozen.
A fixed focal length (FitSettings.fixed_focal, tracking) is frozen the same way."""
from __future__ import annotations

import torch

from .state import LOG_FOCAL, coeff_slice


class LevenbergMarquardt:
    """The damping `mu` and the last accepted energy carry from step to step."""

    def __init__(self, mu: float = 1e-3):
        self.mu = mu
        self.energy_prev = None   # energy after the last accepted step (any stage)

    def reset_damping(self, mu: float = 1e-3) -> None:
        self.mu = mu

    def step(self, energy, state, n_coeff: int) -> float:
        """Move `state` by one accepted step over the first `n_coeff` coefficients (up to six
        tries, raising the damping after each rejection) -> the energy after it (or before,
        when every try was rejected)."""
        n_id = energy.n_identity
        E, H, g = energy.system(state, n_coeff)
        D = H.shape[0]
        free = torch.ones(D, dtype=torch.bool, device=H.device)
        if energy.settings.fixed_focal:
            free[LOG_FOCAL] = False
        if n_coeff > n_id:
            ex = slice(coeff_slice(n_id).stop, coeff_slice(n_coeff).stop)
            e = state.c[n_id:n_coeff]
            ge = g[ex]
            free[ex] = ~(((e <= 0) & (ge > 0)) | ((e >= 1) & (ge < 0)))
        idx = torch.nonzero(free).squeeze(1)
        Hf, gf = H[idx][:, idx], g[idx]
        saved = state.copy()
        for _ in range(6):
            A = Hf + self.mu * torch.diag(torch.diagonal(Hf).clamp_min(1e-9))
            d = torch.zeros(D, dtype=H.dtype, device=H.device)
            d[idx] = -torch.linalg.solve(A, gf)
            state.apply(d, n_coeff, n_id)
            E_new, _, _ = energy.system(state, n_coeff, need_jac=False)
            if E_new <= E:
                self.mu = max(self.mu / 3, 1e-7)
                self.energy_prev = E_new
                return E_new
            state.R, state.t, state.logf, state.c = saved.R.clone(), saved.t.clone(), saved.logf, saved.c.clone()
            self.mu *= 10
        return E
