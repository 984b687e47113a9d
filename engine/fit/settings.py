"""Every weight and iteration count of the landmark fit (docs/reconstruction.md says how
they were set, on synthetic faces and real photos)."""
from __future__ import annotations

from dataclasses import dataclass

# per quality level: (rigid iterations, full iterations, contour reselect period)
ITERATIONS = {"fast": (8, 12, 4), "balanced": (10, 25, 5), "high": (15, 60, 5)}


@dataclass
class FitSettings:
    sigma: float = 0.02          # landmark noise, fraction of face size (px / s)
    robust_scale: float = 2.5    # Geman-McClure scale, in sigmas (5% of the face size)
    lambda_identity: float = 6.0  # strong: detector errors are correlated (see docs)
    lambda_expression: float = 0.5
    lambda_l1: float = 2.0       # expression sparsity
    focal_sigma: float = 0.05    # prior width of log focal: landmarks barely constrain it
    focal_prior: float = 1.4     # f0 = focal_prior * max(w, h): a 50 mm-equivalent lens
    contour_weight: float = 4.0  # per contour point, relative to one detector point
    # MediaPipe's face-oval ring follows the silhouette on a turned head, not fixed surface
    # points: it counts less (the sliding contour covers the jaw)
    face_oval_weight: float = 0.3
    # the points behind the detector's inner 68 (eyes, brows, nose, mouth) count more, so the
    # fitted surface follows them closely (1 -> 3 -> 10: docs/reconstruction.md)
    landmark68_weight: float = 10.0
    trust_init_sigmas: float = 2.5  # an init whose median point residual is below this (in sigmas)
    #                                 starts the full fit directly; otherwise it competes with
    #                                 the closed-form start through the rigid stage
    quality: str = "balanced"
    # tracking (fit/frame.py): the focal length is the clip's, held at focal_prior * max(w, h)
    fixed_focal: bool = False
    iterations_override: tuple | None = None  # (rigid, full, reselect) instead of the quality's

    @property
    def iterations(self) -> tuple:
        """(rigid iterations, full iterations, contour reselect period)."""
        if self.iterations_override is not None:
            return tuple(self.iterations_override)
        return ITERATIONS.get(self.quality, ITERATIONS["balanced"])
