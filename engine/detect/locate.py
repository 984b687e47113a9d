"""The face asked for and its 478 points, at every yaw.

MTCNN (detect/faces.py) misses many turned heads, and mediapipe's mesh, run on a crop around
an MTCNN box, sometimes fails on them too. `locate_face` tries, in order:
1. MTCNN's boxes: face `face_index` (largest first), the mesh on a crop around it;
2. MediaPipe's full-range face detector (bundled with mediapipe 0.10.21,
   `FaceDetection(model_selection=1)`), which finds faces up to profile: when MTCNN found
   faces, only a MediaPipe box of *the same face* (the one whose centre lies in the chosen
   MTCNN box and that overlaps it most) is used, never a neighbour's; when MTCNN found none,
   MediaPipe's boxes are the photo's faces (largest first) and `face_index` counts in them.
The mesh must centre inside the box it was run for (detect/mesh.py), so a neighbour's face
is never taken. `Located.evidence` says which detector and which crop gave the points.
"""
from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field

import numpy as np

from ..core.errors import NoFaceError
from .faces import FaceBox, choose_face, detect_faces, visible_size
from .image_io import check_image
from .mesh import FaceLandmarks, face_landmarks

MP_MIN_SCORE = 0.5       # MediaPipe face detector's confidence
MP_BOX_GROW = 1.25       # MediaPipe's box is tight (brows to mouth): grown to MTCNN's extent

_lock = threading.Lock()
_detector = None


@dataclass
class Located:
    faces: list              # the photo's faces (FaceBox), largest first: MTCNN's, or MediaPipe's when MTCNN found none
    face: FaceBox            # the chosen face's box (the one the mesh was run on)
    face_index: int
    landmarks: FaceLandmarks
    evidence: dict           # {"detector": "mtcnn" | "mediapipe", "mesh": "mtcnn-box" | "mediapipe-box",
    #                           "fallback": why MediaPipe's detector was asked, or None}
    timings: dict = field(default_factory=dict)   # detect (face boxes), landmarks (mesh) seconds


def _get_detector():
    global _detector
    if _detector is None:
        import mediapipe as mp
        _detector = mp.solutions.face_detection.FaceDetection(model_selection=1, min_detection_confidence=MP_MIN_SCORE)
    return _detector


def mediapipe_faces(image: np.ndarray) -> list:
    """Faces found by MediaPipe's full-range detector, largest first, as FaceBoxes (box grown by
    MP_BOX_GROW about its centre; points5: eyes, nose tip, mouth centre twice)."""
    image = check_image(image)
    h, w = image.shape[:2]
    with _lock:
        res = _get_detector().process(np.ascontiguousarray(image))
    faces = []
    for d in res.detections or []:
        b = d.location_data.relative_bounding_box
        cx, cy = (b.xmin + b.width / 2) * w, (b.ymin + b.height / 2) * h
        hw, hh = b.width * w * MP_BOX_GROW / 2, b.height * h * MP_BOX_GROW / 2
        kp = np.array([(k.x * w, k.y * h) for k in d.location_data.relative_keypoints], dtype=np.float64)
        pts5 = kp[[0, 1, 2, 3, 3]] if len(kp) >= 4 else np.tile([[cx, cy]], (5, 1))
        faces.append(FaceBox((cx - hw, cy - hh, cx + hw, cy + hh), float(d.score[0]), pts5 - 0.5))
    faces.sort(key=lambda f: -visible_size(f, w, h))
    return faces


def _iou(a, b) -> float:
    ix = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = ix * iy
    area = lambda r: max(r[2] - r[0], 0) * max(r[3] - r[1], 0)
    return inter / max(area(a) + area(b) - inter, 1e-9)


def same_face(box, candidates) -> FaceBox | None:
    """The candidate that is the same face as `box`: its centre inside `box`, largest overlap."""
    x0, y0, x1, y1 = box
    best = None
    for f in candidates:
        cx, cy = (f.box[0] + f.box[2]) / 2, (f.box[1] + f.box[3]) / 2
        if x0 <= cx <= x1 and y0 <= cy <= y1:
            o = _iou(box, f.box)
            if best is None or o > best[0]:
                best = (o, f)
    return None if best is None else best[1]


def locate_face(image: np.ndarray, face_index: int | None = None) -> Located:
    """The chosen face and its 478 points (see the module docstring). Raises NoFaceError when
    no face is found, FaceIndexError for an index out of range, and the mesh's error when
    neither box gives points."""
    image = check_image(image)
    tm = {"detect": 0.0, "landmarks": 0.0}

    def timed(key, fn, *args):
        t = time.perf_counter()
        try:
            return fn(*args)
        finally:
            tm[key] += time.perf_counter() - t

    faces = timed("detect", detect_faces, image)
    index = 0 if face_index is None else int(face_index)
    if faces:
        face = choose_face(faces, face_index)
        try:
            return Located(faces, face, index, timed("landmarks", face_landmarks, image, face),
                           {"detector": "mtcnn", "mesh": "mtcnn-box", "fallback": None}, tm)
        except NoFaceError as exc:   # (too small stays an error: no other box makes it larger)
            mesh_error = exc
        alt = same_face(face.box, timed("detect", mediapipe_faces, image))
        if alt is None:
            raise mesh_error
        return Located(faces, face, index, timed("landmarks", face_landmarks, image, alt),
                       {"detector": "mtcnn", "mesh": "mediapipe-box", "fallback": "mesh failed on the MTCNN box"}, tm)
    mp_faces = timed("detect", mediapipe_faces, image)
    if not mp_faces:
        raise NoFaceError("No face was found in the photo. Use a photo where the face is clearly "
                          "visible, well lit and not heavily covered.")
    face = choose_face(mp_faces, face_index)
    return Located(mp_faces, face, index, timed("landmarks", face_landmarks, image, face),
                   {"detector": "mediapipe", "mesh": "mediapipe-box", "fallback": "MTCNN found no face"}, tm)
