"""One damped Gauss-Newton (Levenberg-Marquardt) step, with the expressions' [0, 1] bounds
kept by an active set: a variable at a bound that the gradient pushes outwards is frozen.

The step works on any `problem` with: system() -> (E, H, g); energy() -> E; free(g) -> bool
mask of the variables that may move; apply(d); snapshot() / restore(s). `SingleView` is the
one-photo fit's problem; fit/multiview.py has the several-photo one. A fixed focal length
(FitSettings.fixed_focal, tracking) is frozen like a bounded expression."""
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

    def step(self, problem) -> float:
        """Move the problem by one accepted step (up to six tries, raising the damping after
        each rejection) -> the energy after it (or before, when every try was rejected)."""
        E, H, g = problem.system()
        D = H.shape[0]
        idx = torch.nonzero(problem.free(g)).squeeze(1)
        Hf, gf = H[idx][:, idx], g[idx]
        saved = problem.snapshot()
        for _ in range(6):
            A = Hf + self.mu * torch.diag(torch.diagonal(Hf).clamp_min(1e-9))
            d = torch.zeros(D, dtype=H.dtype, device=H.device)
            d[idx] = -torch.linalg.solve(A, gf)
            problem.apply(d)
            E_new = problem.energy()
            if E_new <= E:
                self.mu = max(self.mu / 3, 1e-7)
                self.energy_prev = E_new
                return E_new
            problem.restore(saved)
            self.mu *= 10
        return E


def bound_free(values, grad) -> torch.Tensor:
    """False where a [0, 1]-bounded variable sits at a bound and the gradient pushes it out."""
    return ~(((values <= 0) & (grad > 0)) | ((values >= 1) & (grad < 0)))


class SingleView:
    """One photo's fit over the camera and the first `n_coeff` coefficients."""

    def __init__(self, energy, state, n_coeff: int):
        self.fit_energy, self.state, self.n_coeff = energy, state, n_coeff

    def system(self):
        return self.fit_energy.system(self.state, self.n_coeff)

    def energy(self) -> float:
        return self.fit_energy.system(self.state, self.n_coeff, need_jac=False)[0]

    def free(self, g):
        n_id, n = self.fit_energy.n_identity, self.n_coeff
        mask = torch.ones(g.shape[0], dtype=torch.bool, device=g.device)
        if self.fit_energy.settings.fixed_focal:
            mask[LOG_FOCAL] = False
        if n > n_id:  # expression bounds
            ex = slice(coeff_slice(n_id).stop, coeff_slice(n).stop)
            mask[ex] = bound_free(self.state.c[n_id:n], g[ex])
        return mask

    def apply(self, d) -> None:
        self.state.apply(d, self.n_coeff, self.fit_energy.n_identity)

    def snapshot(self):
        return self.state.copy()

    def restore(self, saved) -> None:
        s = self.state
        s.R, s.t, s.logf, s.c = saved.R.clone(), saved.t.clone(), saved.logf, saved.c.clone()
