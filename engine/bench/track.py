"""Tracking (pipeline/track.py): accuracy on a synthetic clip of a known head, tracked share and
jitter on the real clips in ../shared/videos, and speed (frames per second end to end:
decode + landmarks + identity + per-frame fits + filter).

The known head: the identity and texture reconstructed from
../shared/photos/identity/obama__obama.jpg, performing eval/track_eval.performance_curves
(blinks, jaw openings, a smile, a head turn to +-40 degrees yaw), rendered at --size and
encoded as MP4 so that decoding is timed too. `--figures DIR` writes tracking_synthetic.png
and tracking_real.png there (docs/images).
"""
import os
import tempfile
import time
from pathlib import Path

import numpy as np

from ..eval.track_eval import (angles_deg, jitter, render_clip, track_errors, write_clip_mp4)
from ..eval.track_figures import frames_at, track_figure
from ..model import load_model
from ..pipeline.reconstruct import ReconstructOptions, reconstruct
from ..pipeline.track import TrackOptions, track
from ._common import machine

SHARED = Path(__file__).resolve().parents[2].parent / "shared"


def add_arguments(p):
    p.add_argument("--frames", type=int, default=150)
    p.add_argument("--size", default="640x480", help="synthetic clip WxH")
    p.add_argument("--videos", type=Path, default=SHARED / "videos")
    p.add_argument("--no-real", action="store_true", help="skip the real clips")
    p.add_argument("--figures", type=Path, default=None, help="write the tracking figures into this folder")


def _real_row(model, path, figures):
    cpu = time.process_time()
    tr = track(path, model, options=TrackOptions(texture_size=0))
    cpu = time.process_time() - cpu
    n, tt = len(tr.times), tr.timings
    row = {"clip": path.name, "size": "%dx%d" % tr.image_size, "frames": n,
           "tracked_share": float(tr.face_found.mean()), "bridged": int(tr.bridged.sum()),
           "missing": int(tr.missing.sum()), "redetections": tr.source["redetections"],
           "per_frame_expression_jitter": jitter(tr.raw_weights), "filtered_expression_jitter": jitter(tr.weights),
           "per_frame_rotation_jitter_deg": jitter(_angles(tr.raw_rotation)),
           "filtered_rotation_jitter_deg": jitter(_angles(tr.rotation)),
           "fps_end_to_end": n / tt["total"], "cpu_seconds_per_frame": cpu / n,
           "load_average_1min": os.getloadavg()[0], "seconds": {k: round(v, 3) for k, v in tt.items()}}
    row["expression_jitter_reduction"] = 1 - row["filtered_expression_jitter"] / row["per_frame_expression_jitter"]
    row["rotation_jitter_reduction"] = 1 - row["filtered_rotation_jitter_deg"] / row["per_frame_rotation_jitter_deg"]
    if figures is not None:
        idx = np.linspace(0, n - 1, 5).round().astype(int)
        track_figure(model, tr, frames_at(path, idx), figures / "tracking_real.png",
                     title=f"{path.name}: tracked head over the frames; expression and yaw curves")
    return row


def _angles(R):
    ok = np.all(np.isfinite(R), (1, 2))
    out = np.full((len(R), 3), np.nan)
    out[ok] = angles_deg(R[ok])
    return out


def run(args) -> dict:
    model = load_model()
    W, H = (int(v) for v in args.size.lower().split("x"))
    photo = SHARED / "photos" / "identity" / "obama__obama.jpg"
    rec = reconstruct(photo, model, ReconstructOptions(texture_size=512))
    t = time.perf_counter()
    clip = render_clip(model, rec.identity, rec.texture, n_frames=args.frames, size=(W, H))
    render_s = time.perf_counter() - t
    out = {"machine": machine()}
    with tempfile.TemporaryDirectory() as d:
        mp4 = write_clip_mp4(clip.frames, clip.fps, Path(d) / "synthetic.mp4")
        cpu = time.process_time()
        tr = track(mp4, model, options=TrackOptions(texture_size=0))
        cpu = time.process_time() - cpu
    n, tt = len(tr.times), tr.timings
    syn = track_errors(tr, clip)
    syn.update({"size": f"{W}x{H}", "fps": clip.fps, "render_seconds": render_s,
                "fps_end_to_end": n / tt["total"],
                "fps_without_identity_fit": n / (tt["total"] - tt["identity"]),
                "cpu_seconds_per_frame": cpu / n, "load_average_1min": os.getloadavg()[0],
                "seconds": {k: round(v, 3) for k, v in tt.items()}})
    out["synthetic"] = syn
    if args.figures is not None:
        idx = np.linspace(0, n - 1, 6).round().astype(int)
        track_figure(model, tr, {i: clip.frames[i] for i in idx}, args.figures / "tracking_synthetic.png",
                     truth_weights=clip.weights, truth_yaw_deg=angles_deg(clip.rotation)[:, 0],
                     title="Synthetic clip of a known head: tracked head over the frames; expression and yaw curves")
    if not args.no_real and args.videos.is_dir():
        out["real"] = [_real_row(model, p, args.figures if k == 0 else None)
                       for k, p in enumerate(sorted(args.videos.glob("*.mp4")))]
    return out
