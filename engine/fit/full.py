"""The full stage: camera, identity and expression together, until the energy stops moving."""
from __future__ import annotations

from .lm import SingleView


def full_stage(energy, state, lm, iterations: int, reselect: int, check_cancel, history) -> int:
    """LM over every parameter -> iterations run (stops early once converged, after 9)."""
    lm.reset_damping()
    for i in range(iterations):
        check_cancel()
        if i % reselect == 0:
            energy.reselect_contour(state)
        E_before = lm.energy_prev
        history.append(("full", lm.step(SingleView(energy, state, energy.n_coeffs))))
        if i > 8 and E_before is not None and abs(E_before - history[-1][1]) < 1e-6 * max(abs(E_before), 1.0):
            return i + 1
    return iterations
