"""The tracking picture of docs/tracking.md: a strip of frames with the tracked head drawn
over them (half transparent) above the expression and yaw curves (per-frame fit, filtered,
and the truth when known)."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from ..core.geometry import matrix_to_euler
from .synthetic import render_head
from .track_eval import ANIMATED


def overlay(model, track, i, frame, alpha=0.5) -> np.ndarray:
    """Frame `i` with the tracked (filtered) head drawn over it."""
    if not np.all(np.isfinite(track.weights[i])):
        return frame
    M = np.eye(4)
    M[:3, :3], M[:3, 3] = track.rotation[i], track.translation[i]
    drawn, cov = render_head(model, model.vertices(track.identity, track.weights[i]), M, track.K,
                             track.image_size, background=frame, skin_color=(120, 190, 255))
    out = frame.astype(np.float64)
    out[cov] = (1 - alpha) * out[cov] + alpha * drawn[cov]
    return out.astype(np.uint8)


def frames_at(video, indices) -> dict:
    """{index: RGB frame} for a few frames of a video file/folder (one decoding pass)."""
    from ..detect.video import open_video
    want, out = set(int(i) for i in indices), {}
    with open_video(video) as src:
        for i, _, rgb in src:
            if i in want:
                out[i] = rgb
            if len(out) == len(want):
                break
    return out


def track_figure(model, track, frames: dict, path, truth_weights=None, truth_yaw_deg=None,
                 names=ANIMATED, title=None) -> Path:
    """Write the PNG: `frames` {track frame index: image} for the strip (4-6 look best)."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    idx = sorted(frames)
    fig = plt.figure(figsize=(2.2 * len(idx), 6.2))
    gs = fig.add_gridspec(3, len(idx), height_ratios=[1.25, 1, 1])
    for k, i in enumerate(idx):
        ax = fig.add_subplot(gs[0, k])
        ax.imshow(overlay(model, track, i, frames[i]))
        ax.set_title(f"frame {i}", fontsize=8)
        ax.axis("off")
    t = track.times
    ax = fig.add_subplot(gs[1, :])
    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for j, n in enumerate(names):
        c = track.expression_names.index(n)
        ax.plot(t, track.raw_weights[:, c], color=colors[j], alpha=0.35, lw=0.8)
        ax.plot(t, track.weights[:, c], color=colors[j], lw=1.4, label=n)
        if truth_weights is not None:
            ax.plot(t, truth_weights[:, c], color=colors[j], lw=1.0, ls="--")
    ax.set_ylabel("weight")
    ax.set_ylim(-0.05, 1.05)
    ax.legend(fontsize=7, ncol=len(names), loc="upper right")
    ax.set_xticklabels([])
    ax = fig.add_subplot(gs[2, :])
    yaw = lambda R: np.degrees(matrix_to_euler(np.where(np.isfinite(R), R, np.nan))[0])
    ax.plot(t, yaw(track.raw_rotation), color="0.6", lw=0.8, label="per-frame fit")
    ax.plot(t, yaw(track.rotation), color="k", lw=1.4, label="filtered" if track.filtered else "track")
    if truth_yaw_deg is not None:
        ax.plot(t, truth_yaw_deg, color="k", lw=1.0, ls="--", label="truth")
    ax.set_ylabel("yaw (deg)")
    ax.set_xlabel("time (s)    faint: per-frame fit, solid: filtered" + (", dashed: truth" if truth_weights is not None else ""))
    ax.legend(fontsize=7, loc="upper right")
    if title:
        fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
