"""Tracking a video in the background: the engine's `track()` with the head's identity held
fixed, run in a threading.Thread that the Track Video operator polls from a modal timer (bpy is
only touched on the main thread: operators/track_anim.py keyframes the finished Track).
The engine's heavy modules (torch, mediapipe, OpenCV) are imported here, lazily, at the first
track: never while the add-on registers or draws."""
from __future__ import annotations

import threading
import traceback

import numpy as np

from ..common.heads import identity_values
from ..engine.core.errors import Cancelled, FaceSpaceError
from .jobs import import_error


def head_params(obj) -> dict:
    """What `track(head=...)` holds fixed: the head's current identity (its sliders, in sd,
    edits included), as a params.json-like dict."""
    return {"identity": [float(v) for v in identity_values(obj)], "model_id": obj.facespace.model_id}


def track_options(max_frames: int = 0, step: int = 1, smooth: bool = True, device: str = "cpu"):
    """engine TrackOptions for the add-on: no texture bake (the head keeps its own texture)."""
    try:
        from ..engine.pipeline.track import TrackOptions
    except ImportError as exc:
        raise import_error(exc) from exc
    return TrackOptions(filter=bool(smooth), step=max(int(step), 1),
                        max_frames=int(max_frames) if max_frames and max_frames > 0 else None,
                        texture_size=0, device=device or "cpu")


def run_track(video, model, head, options, fps: float = 0.0, progress=None, cancel=None):
    """The engine call (any thread). `video`: a file or a folder of frames; `fps` > 0 overrides
    the file's rate (a folder's default is 25)."""
    try:  # mediapipe / OpenCV / torch: a missing one surfaces here, as an artist-level error
        from ..engine.detect.video import open_video
        from ..engine.pipeline.track import track
    except ImportError as exc:
        raise import_error(exc) from exc
    try:
        if fps and fps > 0:
            source = open_video(video, fps=fps)
            try:
                return track(source, model, head=head, options=options, progress=progress, cancel=cancel)
            finally:
                source.close()
        return track(video, model, head=head, options=options, progress=progress, cancel=cancel)
    except ImportError as exc:
        raise import_error(exc) from exc


class TrackJob:
    """One tracking run in a background thread; poll `done`, then read `result` / `error`."""

    def __init__(self, video, model, head, options, fps: float = 0.0):
        self.cancel = threading.Event()
        self.progress, self.status = 0.0, ""
        self.result = self.error = None
        self.done = False
        self._thread = threading.Thread(target=self._run, args=(video, model, head, options, fps),
                                        name="FaceSpace track", daemon=True)

    def start(self):
        self._thread.start()
        return self

    def _on_progress(self, frac, message):
        self.progress, self.status = float(frac), str(message)

    def _run(self, video, model, head, options, fps):
        try:
            self.result = run_track(video, model, head, options, fps, self._on_progress, self.cancel)
        except (Cancelled, FaceSpaceError) as exc:
            self.error = exc
        except Exception as exc:  # unexpected: keep the traceback for the console
            traceback.print_exc()
            self.error = exc
        finally:
            self.done = True

    def join(self, timeout=None):
        self._thread.join(timeout)


def clip_fps(track) -> float:
    """The clip's own frame rate (the Track's fps is per *used* frame: clip fps / step)."""
    return float(track.fps) * int(track.source.get("step", 1) or 1)


def frames_of(times, fps: float, frame_start: int) -> np.ndarray:
    """Scene frame numbers of times in seconds (frame_start = the clip's first frame)."""
    return frame_start + np.rint(np.asarray(times, dtype=np.float64) * fps)
