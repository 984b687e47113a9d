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
    # visibility (fit/visibility.py): a detector point's weight is multiplied by a ramp on the
    # cosine between its surface normal and the view ray (0 at or below `visible_cos_lo`, 1 at
    # or above `visible_cos_hi`) and set to 0 when the face lies in front of it (by more than
    # `occlusion_depth_cm`, within `occlusion_radius_cm` of its line of sight, at least
    # `occlusion_apart_cm` away from it; depth 0: no occlusion test); jaw landmark j of the sliding contour by the same ramp of
    # its fixed vertex's normal between the jaw thresholds (frontal heads: every jaw cosine
    # is above 0.0, -0.26 at 15 degrees yaw). visibility False: every point counts as seen (the previous fit).
    visibility: bool = True
    visible_cos_lo: float = -0.25
    visible_cos_hi: float = 0.05
    occlusion_radius_cm: float = 0.4
    occlusion_depth_cm: float = 1.0
    occlusion_apart_cm: float = 2.0
    jaw_visible_cos_lo: float = -0.55
    jaw_visible_cos_hi: float = -0.3
    # visibility only acts on turned heads: its effect (1 - visibility) is scaled by a ramp on
    # the current |yaw| from `visibility_yaw_lo` (none) to `visibility_yaw_hi` degrees (full),
    # so near-frontal fits stay as they were (measured: ungated, the frontal NME rose
    # 2.27 -> 2.35 % on the 9 annotated photos)
    visibility_yaw_lo: float = 20.0
    visibility_yaw_hi: float = 35.0
    # a learned start whose |yaw| is beyond this is not trusted on its own: it competes with
    # the closed-form start through the rigid stage (the regressor saw few profiles)
    trust_init_max_yaw: float = 45.0
    # large-pose restart (fit/restart.py): a fit whose visible inner-68 points' median residual
    # is above `collapse_sigmas` noise levels is restarted from the mirrored yaw and from
    # the yaw `restart_yaw_step` degrees further out; the lowest energy per visible weight wins. 0: never restart.
    collapse_sigmas: float = 3.0
    restart_yaw_step: float = 30.0
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
