"""The rigid stage: camera pose and focal length on a fixed shape.

A closed-form start (scaled-orthographic camera from 3D-2D pairs, then perspective depth),
then LM steps over rotation, translation and focal only."""
from __future__ import annotations

import numpy as np

from ..core.geometry import Camera, orthonormalize
from .lm import SingleView


def rigid_init(X: np.ndarray, p: np.ndarray, image_size, focal: float, weights=None) -> Camera:
    """Closed form: scaled-orthographic (affine) camera from 3D-2D pairs, then perspective depth."""
    w, h = image_size
    c = (np.array([w, h], dtype=np.float64) - 1) / 2
    wt = np.ones(len(X)) if weights is None else np.asarray(weights, dtype=np.float64)
    Xm = (X * wt[:, None]).sum(0) / wt.sum()
    pm = (p * wt[:, None]).sum(0) / wt.sum()
    A = (X - Xm) * np.sqrt(wt)[:, None]
    b = (p - pm) * np.sqrt(wt)[:, None]
    P, *_ = np.linalg.lstsq(A, b, rcond=None)  # (3, 2): b ~ A P
    r1, r2 = P[:, 0], P[:, 1]
    s = (np.linalg.norm(r1) + np.linalg.norm(r2)) / 2
    R = orthonormalize(np.stack([r1, r2, np.cross(r1 / s, r2 / s) * s]) / s)
    tz = focal / s
    # the centroid projects to pm: (R Xm + t)_xy * f / tz + c = pm
    txy = (pm - c) * tz / focal - (R @ Xm)[:2]
    t = np.array([txy[0], txy[1], tz - (R @ Xm)[2]])
    return Camera(R, t, focal, (w, h))


def rigid_stage(energy, state, lm, iterations: int, reselect: int, check_cancel, history) -> float:
    """LM over the camera alone from `state` -> the Geman-McClure energy at the end (to
    compare starts)."""
    lm.reset_damping()
    energy.reselect_contour(state)
    for i in range(iterations):
        check_cancel()
        if i and i % reselect == 0:
            energy.reselect_contour(state)
        history.append(("rigid", lm.step(SingleView(energy, state, 0))))
    energy.reselect_contour(state)
    return energy.robust_energy(state)
