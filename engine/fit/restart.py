"""Large-pose restart: a fit that collapsed (e.g. converged to the mirrored yaw, or stopped
half-way round on a profile) leaves the points it still calls visible far from their
targets. Such a fit is restarted from other head poses (the mirrored yaw; the yaw turned
`restart_yaw_step` degrees further out) through the rigid and full stages. Candidates are
scored by their Geman-McClure energy per unit of visible point weight, each under its own
visibility, among those that see at least `MIN_COVERAGE` of the best-covered candidate's
weight (one common visibility, as the starts use, lets a mirrored pose that shares few
visible points win: measured, it made fits collapse)."""
from __future__ import annotations

import numpy as np
import torch

from ..core.geometry import head_angles, head_rotation
from .full import full_stage
from .rigid import rigid_stage

MIN_COVERAGE = 0.7


def visible_median_sigmas(energy, state) -> float:
    """Median residual (in noise levels) of the detector points visible at `state` (weight >= half
    their base weight), the points behind the detector's 68 only."""
    r, _ = energy.main.evaluate(state, energy.cxy, False, 0)
    e = (r.norm(dim=-1) / energy.sig_px).cpu().numpy()
    base = energy.base_weights
    vis = energy.point_visibility if energy.point_visibility is not None else np.ones(len(e))
    keep = (vis >= 0.5) & (base > 1.0)          # the inner-68 points (landmark68_weight > 1)
    if keep.sum() < 10:
        keep = vis >= 0.5
    return float(np.median(e[keep])) if keep.any() else float("inf")


def restart_poses(R: np.ndarray, step: float) -> list:
    """Rotations to restart from: the mirrored yaw, and the yaw `step` degrees further out."""
    a = head_angles(R)
    yaw = a["yaw"]
    out = [-yaw] if abs(yaw) > 10 else []
    far = float(np.clip(yaw + np.sign(yaw or 1.0) * step, -88, 88))
    out.append(far)
    return [head_rotation(y, a["pitch"], a["roll"]) for y in out]


def restart_if_collapsed(energy, state, path, lm, iterations, reselect, check_cancel, history):
    """-> (state, path, iterations run, restarted)."""
    st = energy.settings
    if st.collapse_sigmas <= 0 or not energy.use_visibility:
        return state, path, 0, False
    energy.update_visibility(state)
    if visible_median_sigmas(energy, state) <= st.collapse_sigmas:
        return state, path, 0, False
    n_rigid, n_full = iterations
    cands = [(None, path, state)]
    run = 0
    for R in restart_poses(state.R.cpu().numpy(), st.restart_yaw_step):
        s = state.copy()
        s.R = torch.as_tensor(R, device=state.R.device, dtype=state.R.dtype)
        rigid_stage(energy, s, lm, n_rigid, reselect, check_cancel, history)
        run += n_rigid + full_stage(energy, s, lm, n_full, reselect, check_cancel, history)
        cands.append((None, path, s))
    scored = []
    for _, name, s in cands:
        energy.reselect_contour(s)
        w = sum(float(p.weights.sum()) for p in energy.problems())
        scored.append((energy.robust_energy(s) / max(w, 1e-9), w, name, s))
    cover = max(x[1] for x in scored)
    best = min((x for x in scored if x[1] >= MIN_COVERAGE * cover), key=lambda x: x[0])
    energy.reselect_contour(best[3])
    return best[3], best[2], run, best[3] is not state
