"""What a fit returns."""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ..core.geometry import Camera


@dataclass
class FitResult:
    identity: np.ndarray
    expression: np.ndarray
    camera: Camera
    residual_px: np.ndarray       # (N,) per detector point, at the end
    contour_residual_px: np.ndarray | None
    contour_vertices: np.ndarray | None  # (J,) silhouette vertex ids; (J, k) when the contour selects blends
    robust_weights: np.ndarray    # (N,) final IRLS weights (small = treated as outlier)
    iterations: int
    path: str
    seconds: float
    history: list = field(default_factory=list)
    point_visibility: np.ndarray | None = None  # (N,) in [0, 1] at the end (None: visibility off)
    jaw_visibility: np.ndarray | None = None    # (17,) the jaw landmarks' visibility at the end
    restarted: bool = False                     # a collapsed fit was caught and restarted
