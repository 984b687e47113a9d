"""Video frame source: a video file (OpenCV's FFmpeg-backed `cv2.VideoCapture`) or a folder
of frames (image files, natural-sorted: frame_2 before frame_10).

    with open_video("take.mp4") as video:
        print(video.fps, video.frame_count, video.size)   # size = (width, height)
        for index, time_s, rgb in video:                   # rgb: (H, W, 3) uint8, row 0 at the top
            ...

Frames are decoded one at a time (memory does not grow with the length of the clip).
Times are `index / fps` (constant frame rate), 0 at the first frame shown. For a file,
`frame_count` is what the container reports; it counts the stored frames, which can be more
than a player shows: an MP4 edit list can trim the clip (3DDFA's obama.mp4 stores 158 frames
and shows 55), and FFmpeg, like any player, honours it. Iteration yields the frames shown,
stopping at the last one that decodes (a truncated file yields fewer); `frames_read` tells how
many, and `count_frames()` counts them exactly beforehand (one decoding pass). A folder has
no frame rate of its own: it is `fps=` (default 25).
"""
from __future__ import annotations

import re
from pathlib import Path

import numpy as np

from ..core.errors import ImageError, VideoError

FRAME_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp")
DEFAULT_FOLDER_FPS = 25.0


def _natural_key(path: Path):
    return [int(s) if s.isdigit() else s.lower() for s in re.split(r"(\d+)", path.name)]


class VideoSource:
    """Iterable over (index, time_s, RGB uint8 frame); see the module docstring."""

    def __init__(self, path, fps: float | None = None):
        self.path = Path(path)
        self.frames_read = 0
        self._cap = None
        self._files: list[Path] | None = None
        if not self.path.exists():
            raise VideoError(f"The video {self.path} does not exist. Check the file path.")
        if self.path.is_dir():
            self._open_folder(fps)
        else:
            self._open_file(fps)

    # -- opening -------------------------------------------------------------------------
    def _open_folder(self, fps):
        files = [p for p in self.path.iterdir() if p.is_file() and p.suffix.lower() in FRAME_EXTENSIONS]
        if not files:
            raise VideoError(f"The folder {self.path} holds no frames (image files: "
                             f"{', '.join(FRAME_EXTENSIONS)}). Choose a video file or a folder of frames.")
        self._files = sorted(files, key=_natural_key)
        self.fps = float(fps) if fps else DEFAULT_FOLDER_FPS
        self.frame_count = len(self._files)
        first = self._load_frame_file(self._files[0])
        self.height, self.width = first.shape[:2]

    def _open_file(self, fps):
        import cv2
        if self.path.stat().st_size == 0:
            raise VideoError(f"The video {self.path.name} is empty (0 bytes). It was probably not "
                             "saved or copied completely.")
        cap = cv2.VideoCapture(str(self.path), cv2.CAP_FFMPEG)
        if not cap.isOpened():
            cap.release()
            raise VideoError(f"{self.path.name} is not a video FaceSpace can read (it could not be "
                             "opened). Use an MP4/MOV/MKV/AVI file, or a folder of frames.")
        ok, frame = cap.read()
        if not ok or frame is None:
            cap.release()
            raise VideoError(f"The video {self.path.name} has no frame that can be decoded. It may "
                             "be damaged or use a codec this build of OpenCV cannot decode.")
        cap.set(cv2.CAP_PROP_POS_FRAMES, 0)
        self._cap = cap
        reported = cap.get(cv2.CAP_PROP_FPS)
        self.fps = float(fps) if fps else (float(reported) if reported and reported > 0 else DEFAULT_FOLDER_FPS)
        self.frame_count = max(int(round(cap.get(cv2.CAP_PROP_FRAME_COUNT))), 1)
        self.height, self.width = frame.shape[:2]

    def _load_frame_file(self, p: Path) -> np.ndarray:
        from .image_io import load_image
        try:
            return load_image(p)
        except ImageError as exc:
            raise VideoError(f"Frame {p.name} of {self.path} cannot be read: {exc}") from exc

    # -- reading -------------------------------------------------------------------------
    @property
    def size(self) -> tuple[int, int]:
        """(width, height) in pixels."""
        return self.width, self.height

    @property
    def duration_s(self) -> float:
        return self.frame_count / self.fps

    def __iter__(self):
        self.frames_read = 0
        if self._files is not None:
            yield from self._iter_folder()
        else:
            yield from self._iter_file()

    def _iter_folder(self):
        for i, p in enumerate(self._files):
            rgb = self._load_frame_file(p)
            if rgb.shape[:2] != (self.height, self.width):
                raise VideoError(f"Frame {p.name} is {rgb.shape[1]}x{rgb.shape[0]} pixels but the first "
                                 f"frame is {self.width}x{self.height}; all frames must have one size.")
            self.frames_read = i + 1
            yield i, i / self.fps, rgb

    def _iter_file(self):
        import cv2
        if self._cap is None:
            raise VideoError(f"The video {self.path.name} was closed.")
        self._cap.set(cv2.CAP_PROP_POS_FRAMES, 0)
        i = 0
        while True:
            ok, bgr = self._cap.read()
            if not ok or bgr is None:
                break
            if bgr.ndim == 2:
                rgb = cv2.cvtColor(bgr, cv2.COLOR_GRAY2RGB)
            else:
                rgb = cv2.cvtColor(bgr, cv2.COLOR_BGRA2RGB if bgr.shape[2] == 4 else cv2.COLOR_BGR2RGB)
            self.frames_read = i + 1
            yield i, i / self.fps, rgb
            i += 1

    def count_frames(self) -> int:
        """The exact number of frames iteration will yield (a file: one pass of decoding)."""
        if self._files is not None:
            return len(self._files)
        import cv2
        self._cap.set(cv2.CAP_PROP_POS_FRAMES, 0)
        n = 0
        while self._cap.grab():
            n += 1
        self._cap.set(cv2.CAP_PROP_POS_FRAMES, 0)
        return n

    def close(self) -> None:
        if self._cap is not None:
            self._cap.release()
            self._cap = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def __repr__(self):
        return (f"VideoSource({str(self.path)!r}, {self.width}x{self.height}, {self.fps:g} fps, "
                f"{self.frame_count} frames)")


def open_video(path, fps: float | None = None) -> VideoSource:
    """A `VideoSource` over a video file or a folder of frames; `fps` overrides the file's rate
    (and sets a folder's, default 25). Raises `VideoError` for a missing, empty or unreadable source."""
    return VideoSource(path, fps=fps)
