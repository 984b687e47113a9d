"""A video in, a performance out: `track(video, model, head, options)` -> `Track`.

Two passes over the clip:
1. decode (detect/video) + landmarks: mediapipe's face mesh in video mode follows the face
   from frame to frame (detect/mesh.FaceTracker), MTCNN re-detects only when it is lost;
2. fit (fit/frame): the identity is fixed for the clip (from `head`, else the mean of
   fit/points fits on a few well-spread frames, which also give the clip's focal length);
   each frame fits pose + 53 expressions warm-started from the previous frame.
Then the causal One-Euro filter (fit/temporal) smooths pose and expressions, and gaps of at
most `max_gap_s` without a face are bridged by interpolation and flagged (`bridged`);
longer gaps stay missing (NaN). `Track.raw_*` keep the unfiltered per-frame fits.
`progress(frac, message)` is called as frames go by; `cancel.is_set()` raises `Cancelled`.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np

from ..core.errors import FaceSpaceError, TrackingError
from ..detect.video import VideoSource, open_video
from ..fit import FitSettings
from ..fit.frame import WARM_ITERATIONS, FrameFitter
from ..texture import bake_texture
from .track_steps import fit_frames, fit_identity, identity_from_head, landmark_pass, smooth_and_bridge


# One-Euro overrides for tracking (fit/temporal.py's defaults otherwise): a quicker rotation and
# weight response, measured on the synthetic clip of `bench track` (docs/tracking.md): overall
# lag 1.06 -> 0.97 frame, yaw lag 2.0 -> 1.8, jitter still reduced 62 % (weights), 58 % (rotation)
TRACK_FILTER = {"rotation": {"beta": 5.0}, "weights": {"beta": 2.0}}
# stronger expression sparsity than a photo fit: frame by frame, spurious small activations
# (eye gaze, brows) are what jitters; measured mean weight error 0.110 -> 0.088, same on the animated ones
TRACK_LAMBDA_L1 = 4.0


@dataclass
class TrackOptions:
    filter: bool = True            # the causal One-Euro filter on pose and expressions
    filter_params: dict = field(default_factory=lambda: dict(TRACK_FILTER))
    identity_frames: int = 5       # frames fitted for the clip's identity (when no head is given)
    max_gap_s: float = 0.5         # bridge gaps without a face up to this long
    step: int = 1                  # use every step-th frame (a quick look at a long clip)
    max_frames: int | None = None  # stop after this many (used) frames
    texture_size: int = 1024       # texture baked from the most frontal frame (0: none)
    warm_iterations: tuple = WARM_ITERATIONS
    device: str = "cpu"            # small per-frame systems: the CPU is the fast place


@dataclass
class Track:
    """Per frame (T): `times` s, pose `rotation` (T, 3, 3) / `translation` (T, 3) cm (model ->
    OpenCV camera) and `weights` (T, 53), NaN where missing; the same unfiltered in `raw_*`."""
    times: np.ndarray
    fps: float
    image_size: tuple
    expression_names: list
    identity: np.ndarray
    K: np.ndarray
    rotation: np.ndarray
    translation: np.ndarray
    weights: np.ndarray
    raw_rotation: np.ndarray
    raw_translation: np.ndarray
    raw_weights: np.ndarray
    face_found: np.ndarray
    bridged: np.ndarray
    confidence: np.ndarray
    points: np.ndarray            # (T, 478, 2) float32 detector points, NaN where no face
    filtered: bool
    texture: np.ndarray | None    # (S, S, 3) uint8 from the most frontal frame, or None
    timings: dict = field(default_factory=dict)
    source: dict = field(default_factory=dict)

    @property
    def missing(self) -> np.ndarray:
        return ~np.all(np.isfinite(self.weights), 1)


class _one_torch_thread:
    """Every torch step here is small (60-wide fits, one texture bake): on a busy machine torch's
    worker threads spin-wait against the other work (measured on the 2-core machine under load:
    the 1024² bake 13.6 s with 2 threads, 1.1 s with 1)."""

    def __enter__(self):
        import torch
        self.n = torch.get_num_threads()
        torch.set_num_threads(1)

    def __exit__(self, *exc):
        import torch
        torch.set_num_threads(self.n)


def track(video, model, head=None, options: TrackOptions | None = None, progress=None, cancel=None) -> Track:
    """Video file, folder of frames or open VideoSource -> Track. Raises typed FaceSpaceErrors."""
    with _one_torch_thread():
        return _track(video, model, head, options or TrackOptions(), progress, cancel)


def _track(video, model, head, opts, progress, cancel) -> Track:
    if opts.step < 1:
        raise FaceSpaceError("The frame step must be 1 or more.")
    head_identity = None if head is None else identity_from_head(head)  # a bad head file fails first
    if head_identity is not None and len(head_identity) != model.n_identity:
        raise FaceSpaceError(f"The head file has {len(head_identity)} identity values; this face model has "
                             f"{model.n_identity}. Reconstruct the head again with this FaceSpace.")
    timings, t0 = {}, time.perf_counter()
    if progress is not None:
        progress(0.0, "Reading the video")
    # an open source (VideoSource, or anything alike: fps, size, frame_count, path, iteration)
    source = video if isinstance(video, VideoSource) or hasattr(video, "fps") else open_video(video)
    try:
        n_est = max(source.frame_count // opts.step, 1)
        times, points, (frontal, frontal_img), redetections = landmark_pass(source, opts, progress, cancel, n_est)
        fps = source.fps / opts.step
        size = source.size
        name = source.path.name
    finally:
        if source is not video:
            source.close()
    if not len(times):
        raise TrackingError(f"{name} has no frames to track.")
    timings["landmarks"] = time.perf_counter() - t0
    found = np.all(np.isfinite(points), axis=(1, 2))
    if not found.any():
        raise TrackingError(f"No face was found in any frame of {name}. Use a clip where the face is "
                            "clearly visible, well lit and not too small.")
    if progress is not None:
        progress(0.6, "Fitting the identity")
    t1 = time.perf_counter()
    k = opts.identity_frames if head is None else 1  # with a head, one frame's fit gives the focal length
    identity, focal = fit_identity(model, points, size, found, frontal, k, opts.device)
    if head is not None:
        identity = head_identity
    timings["identity"] = time.perf_counter() - t1
    if progress is not None:
        progress(0.7, "Fitting the frames")
    t2 = time.perf_counter()
    fitter = FrameFitter(model, identity, focal, size, settings=FitSettings(lambda_l1=TRACK_LAMBDA_L1),
                         warm_iterations=opts.warm_iterations, device=opts.device)
    raw_R, raw_t, raw_w, conf = fit_frames(fitter, points, found, progress, cancel)
    timings["fit"] = time.perf_counter() - t2
    max_gap = int(round(opts.max_gap_s * fps))
    R, t, w, bridged = smooth_and_bridge(times, raw_R, raw_t, raw_w, found, max_gap, opts.filter, opts.filter_params)
    texture = None
    if opts.texture_size and frontal is not None:
        if progress is not None:
            progress(0.95, "Baking the texture")
        t3 = time.perf_counter()
        verts = model.vertices(identity, raw_w[frontal]).astype(np.float32)
        M = np.eye(4)
        M[:3, :3], M[:3, 3] = raw_R[frontal], raw_t[frontal]
        texture = bake_texture(frontal_img, model, verts, M, fitter.K, opts.texture_size, opts.device).photo
        timings["texture"] = time.perf_counter() - t3
    timings["total"] = time.perf_counter() - t0
    if progress is not None:
        progress(1.0, "Done")
    return Track(times=times, fps=fps, image_size=tuple(size), expression_names=list(model.expression_names),
                 identity=np.asarray(identity, dtype=np.float32), K=fitter.K, rotation=R, translation=t, weights=w,
                 raw_rotation=raw_R, raw_translation=raw_t, raw_weights=raw_w, face_found=found, bridged=bridged,
                 confidence=np.where(found, conf, np.nan), points=points.astype(np.float32), filtered=opts.filter,
                 texture=texture, timings=timings,
                 source={"video": name, "frames": int(len(times)), "step": opts.step, "focal_px": focal,
                         "identity": "head" if head is not None else f"{k} frames of the clip",
                         "redetections": redetections})
