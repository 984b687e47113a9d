"""Tracking accuracy (pipeline/track.py): a synthetic clip of a known head with known pose and
expression curves, and the measures `bench track` and tests/pipeline/test_track.py report.

Measures (T frames): expression error = mean |w - w_true| over the 53 weights; pose error =
geodesic angle between fitted and true head rotation (degrees); jitter = RMS of the second
difference along time (expression weights; head angles in degrees), for the per-frame fits,
the filtered track and the truth itself; lag = the offset (frames) that maximises the
cross-correlation of the filtered track with the truth on the animated channels
(positive: the track comes later than the truth).
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..core.geometry import Camera, head_rotation, matrix_to_euler
from .synthetic import render_head

ANIMATED = ("eyeBlink_L", "eyeBlink_R", "jawOpen", "mouthSmile_L", "mouthSmile_R")


def _bump(t, centre, width):
    """Raised cosine of full width `width` s around `centre`: 0 outside, 1 at the centre."""
    u = np.clip((t - centre) / (width / 2), -1, 1)
    return 0.5 * (1 + np.cos(np.pi * u))


def _plateau(t, up, down, ramp):
    """0 -> 1 over [up, up + ramp], 1 until `down`, back to 0 over [down, down + ramp] (smoothstep)."""
    s = lambda x: 3 * np.clip(x, 0, 1) ** 2 - 2 * np.clip(x, 0, 1) ** 3
    return s((t - up) / ramp) * (1 - s((t - down) / ramp))


def performance_curves(n_frames=150, fps=25.0, names=None):
    """Known curves: times (T,), yaw/pitch/roll (T, 3) degrees, weights (T, 53). Over a clip of
    `n_frames` (6 s at 150 frames, 25 fps): one full head turn to +-40 degrees yaw with a
    little pitch and roll, four blinks (0.28 s), three jaw openings, one held smile."""
    from ..io.arkit import ICT_NAMES
    names = list(names or ICT_NAMES)
    t = np.arange(n_frames) / fps
    T = t[-1] + 1 / fps
    yaw = 40 * np.sin(2 * np.pi * t / T)
    pitch = 6 * np.sin(4 * np.pi * t / T + 0.5)
    roll = 3 * np.sin(2 * np.pi * t / T + 1.0)
    w = np.zeros((n_frames, len(names)))
    blink = sum(_bump(t, c * T, 0.28) for c in (0.1, 0.37, 0.64, 0.9))
    w[:, names.index("eyeBlink_L")] = w[:, names.index("eyeBlink_R")] = blink
    w[:, names.index("jawOpen")] = 0.55 * sum(_bump(t, c * T, 0.16 * T) for c in (0.18, 0.52, 0.83))
    smile = 0.7 * _plateau(t, 0.28 * T, 0.7 * T, 0.1 * T)
    w[:, names.index("mouthSmile_L")] = w[:, names.index("mouthSmile_R")] = smile
    return t, np.stack([yaw, pitch, roll], 1), w


@dataclass
class SyntheticClip:
    frames: list              # (H, W, 3) uint8 per frame
    times: np.ndarray
    rotation: np.ndarray      # (T, 3, 3) true model -> camera
    translation: np.ndarray   # (T, 3) cm
    weights: np.ndarray       # (T, 53)
    identity: np.ndarray
    focal: float
    fps: float


def render_clip(model, identity, texture, n_frames=150, size=(640, 480), fps=25.0, face_fraction=0.5,
                background=(96, 110, 120)) -> SyntheticClip:
    """The known head performing `performance_curves`, rendered frame by frame (35 mm-like lens)."""
    t, angles, w = performance_curves(n_frames, fps, model.expression_names)
    W, H = size
    f = 1.3 * max(W, H)
    face_h = float(np.ptp(model.mean[model.region_slice("face"), 1]))
    z = f * face_h / (face_fraction * H)
    bg = np.empty((H, W, 3), np.uint8)
    bg[:] = np.asarray(background, np.uint8)
    bg[:, : W // 3] = np.asarray(background, np.uint8) // 2  # a little structure, as in a room
    neutral = model.vertices(identity, np.zeros(model.n_expression))
    centre = neutral[model.region_vertices("face")].mean(0)
    import torch
    frames, Rs, ts = [], [], []
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # many small rasterisations: 1 thread is ~10x faster on a busy 2-core machine
    try:
        for i in range(n_frames):
            img, R, tr = _render_frame(model, identity, texture, bg, centre, t[i], angles[i], w[i], f, z, (W, H))
            frames.append(img)
            Rs.append(R)
            ts.append(tr)
    finally:
        torch.set_num_threads(threads)
    return SyntheticClip(frames, t, np.asarray(Rs), np.asarray(ts), w, np.asarray(identity), f, fps)


def _render_frame(model, identity, texture, bg, centre, t, angles, w, f, z, size):
    """-> (image, R, t): the face centre drifting a few mm at depth z."""
    R = head_rotation(*angles)
    tr = np.array([0.6 * np.sin(2 * np.pi * t / 3.0), 0.3 * np.sin(2 * np.pi * t / 2.0), 0.0]) - R @ centre
    tr[2] = z - (R @ centre)[2]
    cam = Camera(R, tr, f, size)
    img, _ = render_head(model, model.vertices(identity, w), cam.world_to_camera, cam.K, size,
                         texture=texture, background=bg)
    return img, R, tr


class FrameArraySource:
    """Frames in memory, looking like a detect.video.VideoSource to pipeline.track."""

    def __init__(self, frames, fps, name="synthetic"):
        self.frames, self.fps = frames, float(fps)
        self.frame_count = len(frames)
        self.height, self.width = frames[0].shape[:2]
        self.path = Path(name)

    @property
    def size(self):
        return self.width, self.height

    def __iter__(self):
        for i, f in enumerate(self.frames):
            yield i, i / self.fps, f

    def close(self):
        pass


def write_clip_mp4(frames, fps, path) -> Path:
    """The clip as an MP4 (OpenCV's mp4v), to time decoding as well."""
    import cv2
    h, w = frames[0].shape[:2]
    out = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), float(fps), (w, h))
    for f in frames:
        out.write(np.ascontiguousarray(f[..., ::-1]))
    out.release()
    return Path(path)


# ---- measures ---------------------------------------------------------------------------
def rotation_error_deg(Ra, Rb) -> np.ndarray:
    c = (np.einsum("tij,tij->t", Ra, Rb) - 1) / 2
    return np.degrees(np.arccos(np.clip(c, -1, 1)))


def angles_deg(R) -> np.ndarray:
    return np.degrees(np.stack(matrix_to_euler(R), -1))


def jitter(x) -> float:
    """RMS of the second difference along axis 0 over the finite frames (NaN rows dropped)."""
    x = np.asarray(x, dtype=np.float64).reshape(len(x), -1)
    d2 = x[2:] - 2 * x[1:-1] + x[:-2]
    d2 = d2[np.all(np.isfinite(d2), 1)]
    return float(np.sqrt(np.mean(d2 ** 2))) if len(d2) else float("nan")


def lag_frames(track, truth, max_lag=5) -> float:
    """Offset (frames) maximising the sum over channels of the normalised cross-correlation of
    mean-removed `track` and `truth` (T, C), refined between frames by a parabola through the
    peak and its neighbours; positive when `track` comes later."""
    a = np.asarray(track, dtype=np.float64)
    b = np.asarray(truth, dtype=np.float64)
    ok = np.all(np.isfinite(a), 1)
    a, b = a[ok] - a[ok].mean(0), b[ok] - b[ok].mean(0)
    lags = np.arange(-max_lag, max_lag + 1)
    scores = []
    for k in lags:
        x, y = (a[k:], b[:len(b) - k]) if k >= 0 else (a[:k], b[-k:])
        scores.append(np.sum((x * y).sum(0) / (np.linalg.norm(x, axis=0) * np.linalg.norm(y, axis=0) + 1e-12)))
    j = int(np.argmax(scores))
    if 0 < j < len(lags) - 1:
        s0, s1, s2 = scores[j - 1], scores[j], scores[j + 1]
        den = s0 - 2 * s1 + s2
        return float(lags[j] + (0.5 * (s0 - s2) / den if den < 0 else 0.0))
    return float(lags[j])


def track_errors(tr, clip: SyntheticClip, names=ANIMATED) -> dict:
    """Every measure of the module docstring for a Track of a SyntheticClip."""
    idx = [tr.expression_names.index(n) for n in names]
    out = {"frames": len(tr.times), "tracked_share": float(tr.face_found.mean())}
    truth_ang = angles_deg(clip.rotation)
    for label, R, w in (("per_frame", tr.raw_rotation, tr.raw_weights), ("filtered", tr.rotation, tr.weights)):
        ok = np.all(np.isfinite(w), 1)
        out[f"{label}_expression_mae"] = float(np.abs(w[ok] - clip.weights[ok]).mean())
        out[f"{label}_animated_expression_mae"] = float(np.abs(w[ok][:, idx] - clip.weights[ok][:, idx]).mean())
        pe = rotation_error_deg(R[ok], clip.rotation[ok])
        out[f"{label}_pose_error_deg_mean"] = float(pe.mean())
        out[f"{label}_pose_error_deg_max"] = float(pe.max())
        out[f"{label}_expression_jitter"] = jitter(w)
        out[f"{label}_rotation_jitter_deg"] = jitter(np.where(ok[:, None], angles_deg(np.where(ok[:, None, None], R, np.eye(3))), np.nan))
    out["truth_expression_jitter"] = jitter(clip.weights)
    out["truth_rotation_jitter_deg"] = jitter(truth_ang)
    out["expression_jitter_reduction"] = 1 - out["filtered_expression_jitter"] / out["per_frame_expression_jitter"]
    out["rotation_jitter_reduction"] = 1 - out["filtered_rotation_jitter_deg"] / out["per_frame_rotation_jitter_deg"]
    fa = np.concatenate([tr.weights[:, idx], angles_deg(np.where(np.isfinite(tr.rotation), tr.rotation, np.eye(3)))[:, :1]], 1)
    ta = np.concatenate([clip.weights[:, idx], truth_ang[:, :1]], 1)
    out["lag_frames"] = lag_frames(fa, ta)
    out["lag_frames_per_channel"] = {n: round(lag_frames(fa[:, [j]], ta[:, [j]]), 2)
                                     for j, n in enumerate([*names, "yaw"])}
    out["per_frame_lag_frames"] = lag_frames(np.concatenate([tr.raw_weights[:, idx], angles_deg(
        np.where(np.isfinite(tr.raw_rotation), tr.raw_rotation, np.eye(3)))[:, :1]], 1), ta)
    return out
