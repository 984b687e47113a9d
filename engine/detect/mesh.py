"""Landmarks: mediapipe's face mesh (0.10.21, bundled model, offline) gives 478 points on a
chosen face, run on a square crop around its box. Pixels with 0-based centres."""
from __future__ import annotations

import threading
from dataclasses import dataclass

import numpy as np
from PIL import Image

from ..core.errors import FaceTooSmallError, NoFaceError
from ..core.quiet import native_stderr_silenced
from .faces import FaceBox
from .image_io import check_image

MIN_FACE_PX = 40         # below this (box side, full-image pixels) there is too little detail
CROP_MARGIN = 0.6        # crop for the face mesh: box side * (1 + 2 * margin), square
CROP_MARGIN_TIGHT = 0.2  # second try when the first crop's points miss the box
CROP_MIN, CROP_MAX = 384, 1024  # crop side in pixels handed to mediapipe

_lock = threading.Lock()
_facemesh = None
_first_run_done = False


@dataclass
class FaceLandmarks:
    points: np.ndarray    # (478, 2) image pixels
    depth: np.ndarray     # (478,) mediapipe relative depth, in image pixels (smaller = nearer)
    box: FaceBox


def _get_facemesh():
    global _facemesh
    if _facemesh is None:
        import mediapipe as mp
        _facemesh = mp.solutions.face_mesh.FaceMesh(
            static_image_mode=True, refine_landmarks=True, max_num_faces=1)
    return _facemesh


def face_landmarks(image: np.ndarray, face: FaceBox) -> FaceLandmarks:
    """mediapipe's 478 points for `face`, run on a square crop around its box."""
    image = check_image(image)
    if face.size < MIN_FACE_PX:
        raise FaceTooSmallError(
            f"The face is only about {face.size:.0f} pixels wide; at least {MIN_FACE_PX} are needed "
            "for a usable reconstruction. Use a larger or higher-resolution photo, or crop closer "
            "to the face.")
    x0, y0, x1, y1 = face.box
    # a neighbour's face inside the crop could be the one mediapipe picks: the points must
    # centre inside the chosen box, else try once more with a tight crop
    for margin in (CROP_MARGIN, CROP_MARGIN_TIGHT):
        found = _mesh_on_crop(image, face, margin)
        if found is not None:
            cx, cy = found[0].mean(0)
            if x0 < cx < x1 and y0 < cy < y1:
                return FaceLandmarks(found[0], found[1], face)
    raise NoFaceError("A face was found but its features could not be located (it may be turned "
                      "too far away, blurred or covered). Try a clearer, more frontal photo.")


def _mesh_on_crop(image, face, margin):
    """(points (478, 2), depth (478,)) in image pixels, or None when mediapipe finds no face."""
    h, w = image.shape[:2]
    x0, y0, x1, y1 = face.box
    cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
    side = max(x1 - x0, y1 - y0) * (1 + 2 * margin)
    left, top = int(np.floor(cx - side / 2)), int(np.floor(cy - side / 2))
    side = int(np.ceil(side))
    # pad so the crop may extend past the image border
    canvas = np.zeros((side, side, 3), dtype=np.uint8)
    sx0, sy0 = max(left, 0), max(top, 0)
    sx1, sy1 = min(left + side, w), min(top + side, h)
    canvas[sy0 - top:sy1 - top, sx0 - left:sx1 - left] = image[sy0:sy1, sx0:sx1]
    res = int(np.clip(side, CROP_MIN, CROP_MAX))
    crop = canvas if res == side else np.asarray(Image.fromarray(canvas).resize((res, res), Image.BICUBIC))
    global _first_run_done
    with _lock:
        if _first_run_done:
            result = _get_facemesh().process(np.ascontiguousarray(crop))
        else:   # the graph's first run prints native log lines: keep them off the terminal
            with native_stderr_silenced():
                result = _get_facemesh().process(np.ascontiguousarray(crop))
            _first_run_done = True
    if not result.multi_face_landmarks:
        return None
    lm = result.multi_face_landmarks[0].landmark
    arr = np.array([(p.x, p.y, p.z) for p in lm], dtype=np.float64)
    k = side / res  # crop pixels -> image pixels
    # mediapipe's normalised coordinates count from the image edge; -0.5 gives pixel centres
    pts = np.stack([arr[:, 0] * res * k + left, arr[:, 1] * res * k + top], 1) - 0.5
    return pts, arr[:, 2] * res * k


class FaceTracker:
    """mediapipe's face mesh in video mode (`static_image_mode=False`): it detects a face once,
    then follows it from the previous frame's points (much faster than detecting every frame,
    and steadier). Its own FaceMesh instance, so several trackers (or the photo path) do not
    share state. When it loses the face, `track(frame)` re-detects with MTCNN and places the
    points on a crop around the found box (the photo path); None when there is no face."""

    def __init__(self, min_detection_confidence=0.5, min_tracking_confidence=0.5, redetect=True):
        import mediapipe as mp
        self._mesh = mp.solutions.face_mesh.FaceMesh(
            static_image_mode=False, refine_landmarks=True, max_num_faces=1,
            min_detection_confidence=min_detection_confidence, min_tracking_confidence=min_tracking_confidence)
        self.redetect = redetect
        self.redetections = 0  # frames where the tracker was lost and MTCNN looked

    def track(self, frame: np.ndarray) -> np.ndarray | None:
        """(478, 2) image pixels for the face in `frame` (RGB uint8), or None."""
        h, w = frame.shape[:2]
        result = self._mesh.process(np.ascontiguousarray(frame))
        if result.multi_face_landmarks:
            lm = result.multi_face_landmarks[0].landmark
            arr = np.array([(p.x, p.y) for p in lm], dtype=np.float64)
            return arr * np.array([w, h]) - 0.5
        if not self.redetect:
            return None
        from .faces import detect_faces
        self.redetections += 1
        faces = [f for f in detect_faces(frame) if f.size >= MIN_FACE_PX]
        if not faces:
            return None
        try:
            return face_landmarks(frame, faces[0]).points
        except NoFaceError:
            return None

    def close(self) -> None:
        self._mesh.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
