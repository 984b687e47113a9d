"""Where the fit starts: the closed-form rigid pose on the mean shape, and a regressor's
guess. A guess whose landmarks already sit within a few noise levels is trusted and the
rigid stage is skipped (that is where the regressor's time saving comes from,
docs/benchmarks.md); otherwise every start runs the rigid stage and the lowest
Geman-McClure energy wins (a guess in the wrong basin, e.g. a mirrored yaw, loses)."""
from __future__ import annotations

import numpy as np
import torch

from .rigid import rigid_init, rigid_stage
from .state import state_from


def candidate_starts(model, energy, basis, targets, point_weights, init) -> list:
    """[(path name, FitState)]: the regressor's guess first (when given), then closed form."""
    n_id, n_ex = model.n_identity, model.n_expression
    dev, dt = energy.device, energy.dtype
    cam = rigid_init(basis.mean, targets, energy.image_size, energy.f0, point_weights)
    starts = [("fit", state_from(cam.rotation, cam.translation, energy.f0, np.zeros(n_id + n_ex), dev, dt))]
    if init is not None:
        coeffs = np.concatenate([np.asarray(init.get("identity", np.zeros(n_id)), dtype=np.float64),
                                 np.clip(np.asarray(init.get("expression", np.zeros(n_ex)), dtype=np.float64), 0, 1)])
        starts.insert(0, (f"{init.get('source', 'landmark-regressor')}+fit",
                          state_from(init["rotation"], init["translation"], float(init.get("focal", energy.f0)),
                                     coeffs, dev, dt)))
    return starts


def init_trusted(energy, state, max_sigmas) -> bool:
    """True when the start's median landmark residual is within `max_sigmas` noise levels."""
    r, _ = energy.main.evaluate(state, energy.cxy, False, 0)
    return float(torch.median(r.norm(dim=-1))) <= max_sigmas * energy.sig_px


def choose_start(energy, starts, trusted_first: bool, lm, iterations, reselect, check_cancel, history):
    """-> (path name, FitState, rigid iterations run)."""
    if trusted_first:
        name, state = starts[0]
        return name, state.copy(), 0
    done, run = [], 0
    for name, start in starts:
        state = start.copy()
        E = rigid_stage(energy, state, lm, iterations, reselect, check_cancel, history)
        run += iterations
        done.append((E, name, state))
    best = pick_best(energy, done)
    return best[1], best[2], run


def pick_best(energy, candidates):
    """The candidate (energy, name, state, ...) of lowest Geman-McClure energy. With visibility
    on, every candidate is scored with the same point weights (each point's smallest
    visibility over the candidates), so a pose that hides more points does not win by hiding
    them; the energy's weights are left at the winner's own visibility."""
    if len(candidates) == 1:
        energy.reselect_contour(candidates[0][2])
        return candidates[0]
    vis = [energy.visibility_at(c[2]) for c in candidates]
    if vis[0][0] is None:
        scored = [(c[0], k) for k, c in enumerate(candidates)]
    else:
        pv = np.min([v[0] for v in vis], 0)
        jv = np.min([v[1] for v in vis], 0)
        scored = []
        for k, c in enumerate(candidates):
            energy.reselect_contour(c[2])
            w_main = energy.tensor(energy.base_weights * pv)
            w_cont = None
            if energy.contour_problem is not None:
                w_cont = energy.tensor(np.full(len(energy.contour_ids), float(energy._contour_weight)) * jv)
            scored.append((energy.robust_energy(c[2], [w_main, w_cont]), k))
    best = candidates[min(scored)[1]]
    energy.reselect_contour(best[2])
    return best
