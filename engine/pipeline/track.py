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

import json
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..core.errors import Cancelled, FaceSpaceError, TrackingError
from ..core.quaternion import matrix_from_quat, quat_from_matrix
from ..detect.mesh import FaceTracker
from ..detect.video import VideoSource, open_video
from ..fit import FitSettings, fit_points
from ..fit.frame import WARM_ITERATIONS, FrameFitter
from ..fit.temporal import PoseExpressionFilter, bridge_gaps
from ..regress import predict_init
from ..texture import bake_texture


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


def _identity_from_head(head) -> np.ndarray:
    if isinstance(head, (str, Path)):
        try:
            head = json.loads(Path(head).read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise FaceSpaceError(f"The head file {head} cannot be read as a FaceSpace params.json ({exc}). "
                                 "Use the params.json written by `reconstruct`.") from None
    ident = np.asarray(head.get("identity", []) if isinstance(head, dict) else [], dtype=np.float64)
    if ident.ndim != 1 or len(ident) == 0 or not np.all(np.isfinite(ident)):
        raise FaceSpaceError("The head file has no usable 'identity' list; use the params.json written by "
                             "`reconstruct`.")
    return ident


def _frontality(p) -> float:
    """Lower is more frontal: the nose tip's offset from the cheeks' midpoint, per face width."""
    left, right, nose = p[234], p[454], p[1]
    return abs(nose[0] - (left[0] + right[0]) / 2) / max(abs(right[0] - left[0]), 1.0)


def _landmark_pass(source, opts, progress, cancel, n_est):
    """-> times, points (T, 478, 2) NaN where no face, the most frontal frame (index, image)."""
    times, points, best = [], [], (np.inf, None, None)
    with FaceTracker() as tracker:
        for index, t, rgb in source:
            if index % opts.step:
                continue
            if cancel is not None and cancel.is_set():
                raise Cancelled("Tracking cancelled.")
            p = tracker.track(rgb)
            times.append(t)
            points.append(np.full((478, 2), np.nan) if p is None else p)
            if p is not None and (fr := _frontality(p)) < best[0]:
                best = (fr, len(points) - 1, rgb.copy())
            if progress is not None and len(points) % 10 == 0:
                progress(0.6 * min(len(points) / n_est, 1.0), f"Landmarks: frame {len(points)}")
            if opts.max_frames and len(points) >= opts.max_frames:
                break
        redetections = tracker.redetections
    return np.asarray(times), np.asarray(points, dtype=np.float64), best[1:], redetections


def _fit_identity(model, points, size, found, frontal, k, device):
    """The mean identity and median focal of fit/points fits on k well-spread found frames
    (the most frontal frame among them)."""
    idx = np.flatnonzero(found)
    pick = set(idx[np.linspace(0, len(idx) - 1, min(k, len(idx))).round().astype(int)].tolist())
    if frontal is not None and frontal not in pick:  # the most frontal frame replaces its nearest pick
        pick.discard(min(pick, key=lambda i: abs(i - frontal)))
        pick.add(frontal)
    ids, focals = [], []
    for i in sorted(pick):
        init = predict_init(points[i], size, model)
        st = FitSettings(quality="fast")
        if init is not None and init.get("focal"):
            st.focal_prior = float(init["focal"]) / max(size)
        fit = fit_points(model, points[i], size, init=init, settings=st, device=device)
        ids.append(fit.identity)
        focals.append(fit.camera.focal)
    return np.mean(ids, 0), float(np.median(focals))


def _fit_frames(fitter, points, found, progress, cancel):
    T = len(points)
    R, t, w = np.full((T, 3, 3), np.nan), np.full((T, 3), np.nan), np.full((T, fitter.model.n_expression), np.nan)
    conf = np.zeros(T)
    prev = None
    for i in range(T):
        if cancel is not None and cancel.is_set():
            raise Cancelled("Tracking cancelled.")
        if not found[i]:
            prev = None   # a cold start after a gap: the face may be anywhere
            continue
        fit = fitter.fit(points[i], warm=prev, cancel=cancel)
        R[i], t[i], w[i] = fit.camera.rotation, fit.camera.translation, fit.expression
        conf[i] = float(np.mean(fit.robust_weights))  # share of points the fit treats as inliers
        prev = fit
        if progress is not None and i % 10 == 0:
            progress(0.7 + 0.25 * i / T, f"Fitting: frame {i + 1} of {T}")
    return R, t, w, conf


def smooth_and_bridge(times, R, t, w, found, max_gap, filter_on=True, filter_params=None):
    """One-Euro over the found frames (restarted after an unbridgeable gap), then bridge_gaps.
    filter_params: PoseExpressionFilter overrides {"weights"|"rotation"|"translation": {...}}.
    -> rotation, translation, weights, bridged."""
    R, t, w = R.copy(), t.copy(), w.copy()
    if filter_on:
        f = PoseExpressionFilter(**(filter_params or {}))
        last = None
        for i in np.flatnonzero(found):
            if last is not None and i - last - 1 > max_gap:
                f.reset()
            R[i], t[i], w[i] = f(times[i], R[i], t[i], w[i])
            last = i
    q = quat_from_matrix(np.where(found[:, None, None], R, np.eye(3)))
    for i in range(1, len(q)):  # one hemisphere, so slerp bridges the short way
        if np.dot(q[i], q[i - 1]) < 0:
            q[i] = -q[i]
    bq = bridge_gaps(q, found, max_gap, kind="quaternion")
    bt = bridge_gaps(t, found, max_gap)
    bw = bridge_gaps(w, found, max_gap)
    Rb = np.full_like(R, np.nan)
    ok = ~bq.missing
    Rb[ok] = matrix_from_quat(bq.values[ok])
    return Rb, bt.values, np.clip(bw.values, 0.0, 1.0), bq.bridged


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
    head_identity = None if head is None else _identity_from_head(head)  # a bad head file fails first
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
        times, points, (frontal, frontal_img), redetections = _landmark_pass(source, opts, progress, cancel, n_est)
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
    identity, focal = _fit_identity(model, points, size, found, frontal, k, opts.device)
    if head is not None:
        identity = head_identity
    timings["identity"] = time.perf_counter() - t1
    if progress is not None:
        progress(0.7, "Fitting the frames")
    t2 = time.perf_counter()
    fitter = FrameFitter(model, identity, focal, size, settings=FitSettings(lambda_l1=TRACK_LAMBDA_L1),
                         warm_iterations=opts.warm_iterations, device=opts.device)
    raw_R, raw_t, raw_w, conf = _fit_frames(fitter, points, found, progress, cancel)
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
