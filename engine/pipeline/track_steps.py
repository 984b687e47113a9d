"""The steps of pipeline/track.py, one function each: the head file's identity, the landmark
pass (decode + FaceTracker), the clip's identity and focal length, the per-frame fits, and the
temporal treatment (One-Euro, then gap bridging)."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from ..core.errors import Cancelled, FaceSpaceError
from ..core.quaternion import matrix_from_quat, quat_from_matrix
from ..detect.mesh import FaceTracker
from ..fit import FitSettings, fit_points
from ..fit.temporal import PoseExpressionFilter, bridge_gaps
from ..regress import predict_init


def identity_from_head(head) -> np.ndarray:
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


def landmark_pass(source, opts, progress, cancel, n_est):
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


def fit_identity(model, points, size, found, frontal, k, device):
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


def fit_frames(fitter, points, found, progress, cancel):
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
