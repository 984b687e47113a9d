"""The sliding jaw contour: the detector's jaw points are matched, every few iterations, to
the model vertices that lie on the silhouette for the current pose and shape."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np

from ..landmarks.correspondence import contour_candidates_cached, select_contour


@dataclass
class Contour:
    """2D targets and a selector of the model vertices on the silhouette.

    `select(vertices_cam (V, 3) numpy, K) -> vertex ids (J,)`, or (ids (J, k), weights (J, k))
    for blends, is called with the current fit; `targets` (J, 2) pixels are the jaw points.
    """
    targets: np.ndarray
    select: Callable
    weight: float | None = None
    needed: np.ndarray | None = None  # vertex ids `select` reads; others are left at zero (speed)
    needed_basis: object | None = None  # PointBasis of `needed`, when the caller already has it (tracking)


def jaw_contour(model, jaw_targets) -> Contour:
    """The contour for the 17 jaw points (68-point scheme): plane j's silhouette vertex."""
    cands = contour_candidates_cached(model)
    needed = np.unique(np.concatenate([np.asarray(cands.vertices).ravel(), cands.axis_x, cands.axis_down]))
    targets = np.asarray(jaw_targets, dtype=np.float64)
    return Contour(targets, lambda vc, K: select_contour(vc, K, cands), needed=needed)
