"""Faces: facenet-pytorch's MTCNN finds every face (boxes, scores, 5 points), largest first.

Coordinates are image pixels with 0-based pixel centres (see docs/architecture.md).
"""
from __future__ import annotations

import importlib
import importlib.util
import sys
import threading
import types
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..core.errors import FaceIndexError, NoFaceError, WeightsUnavailableError
from ..core.files import sha256_file
from .image_io import check_image

# facenet-pytorch 2.6.0 ships these in facenet_pytorch/data/; refuse anything else.
MTCNN_SHA256 = {
    "pnet.pt": "a2a71925e0b9996a42f63e47efc1ca19043e69558b5c523b978d611dfae49c8f",
    "rnet.pt": "bbb937de72efc9ef83b186c49f5f558467a1d7e3453a8ece0d71a886633f6a86",
    "onet.pt": "165bfbe42940416ccfb977545cf0e976d5bf321f67083ae2aaaa5c764280118d",
}
DETECT_MAX_SIDE = 1024   # MTCNN runs on a copy no larger than this (cost grows with area)
DETECT_RETRY_SIDE = 2048  # last look when nothing was found (small face, huge photo)
QUICK_FRACTION = 16      # quick look: faces of at least 1/16 of the shorter side
MIN_SCORE = 0.90         # MTCNN's last stage probability; lower ones are mostly false positives


@dataclass
class FaceBox:
    box: tuple            # (x0, y0, x1, y1) floats in image pixels
    score: float          # MTCNN probability
    points5: np.ndarray   # (5, 2): eyes (subject's right, left), nose, mouth corners

    @property
    def size(self) -> float:
        return float(np.sqrt(max(self.box[2] - self.box[0], 0) * max(self.box[3] - self.box[1], 0)))


# ---------------------------------------------------------------- MTCNN
_lock = threading.Lock()
_mtcnn = None


def _mtcnn_module():
    """facenet_pytorch.models.mtcnn without the package __init__ (which needs tqdm and loads
    the unused recognition network) when that import fails."""
    private = "_facespace_facenet"
    if private + ".models.mtcnn" in sys.modules:
        return sys.modules[private + ".models.mtcnn"]
    try:
        return importlib.import_module("facenet_pytorch.models.mtcnn")
    except ModuleNotFoundError as exc:
        if exc.name and exc.name.startswith("facenet_pytorch"):
            raise
    for name in [n for n in sys.modules if n == "facenet_pytorch" or n.startswith("facenet_pytorch.")]:
        del sys.modules[name]  # the failed import's half-initialised leftovers
    spec = importlib.util.find_spec("facenet_pytorch")
    if spec is None or not spec.submodule_search_locations:
        raise ImportError("facenet-pytorch is not installed")
    if private not in sys.modules:
        pkg = types.ModuleType(private)
        pkg.__path__ = list(spec.submodule_search_locations)
        sys.modules[private] = pkg
    return importlib.import_module(private + ".models.mtcnn")


def _get_mtcnn():
    global _mtcnn
    if _mtcnn is None:
        import torch
        mod = _mtcnn_module()
        data = Path(mod.__file__).resolve().parents[1] / "data"
        for fname, digest in MTCNN_SHA256.items():
            p = data / fname
            if not p.is_file() or sha256_file(p) != digest:
                raise WeightsUnavailableError(
                    f"The face detector's weights ({p}) are missing or not the expected version. "
                    "Reinstall FaceSpace's dependencies (facenet-pytorch 2.6.0).")
        # default stage thresholds: stricter ones (0.7, 0.8, 0.8) were 30% faster but lost
        # Einstein's face in the annotated set
        m = mod.MTCNN(keep_all=True, min_face_size=20, device="cpu")
        for net, fname in ((m.pnet, "pnet.pt"), (m.rnet, "rnet.pt"), (m.onet, "onet.pt")):
            net.load_state_dict(torch.load(data / fname, map_location="cpu", weights_only=True))
        m.eval()
        _mtcnn = m
    return _mtcnn


def detect_faces(image: np.ndarray, quick: bool = False) -> list:
    """Faces in an (H, W, 3) uint8 RGB image, largest first (by the part of the box inside the
    image, `visible_size`: a neighbour cut by the border comes after the face in the frame).

    MTCNN runs on a copy at most DETECT_MAX_SIDE pixels long, searching faces down to 20 px.
    If that finds nothing in a larger photo, once more at up to DETECT_RETRY_SIDE (a small
    face in a huge photo). `quick=True` first tries only faces of at least 1/QUICK_FRACTION
    of the shorter side (several times cheaper) and falls back to the full search when that
    finds nothing; it is less reliable (it finds a false face and misses Einstein's real one
    in the annotated set), so it is off by default. If still nothing, the photo is searched
    turned by 90, 270 and 180 degrees (boxes mapped back to this image)."""
    image = check_image(image)
    h, w = image.shape[:2]
    short = min(h, w) * min(1.0, DETECT_MAX_SIDE / max(h, w))
    looks = [(DETECT_MAX_SIDE, 20)]
    if quick and short / QUICK_FRACTION > 20:
        looks.insert(0, (DETECT_MAX_SIDE, int(short / QUICK_FRACTION)))
    if max(h, w) > DETECT_MAX_SIDE:
        looks.append((DETECT_RETRY_SIDE, 20))
    for max_side, min_face in looks:
        faces = _detect_at(image, max_side, min_face)
        if faces:
            return faces
    # MTCNN only finds upright faces; a photo turned sideways without an EXIF tag still
    # works, since mediapipe handles the rotation inside the crop. Coarse search only (faces
    # of >= 1/12 of the shorter side): a sideways portrait has a big face, and a photo with
    # no face at all should not cost three more full searches
    rot_min = max(20, int(short / 12))
    for k in (1, 3, 2):
        faces = _detect_at(np.ascontiguousarray(np.rot90(image, k)), DETECT_MAX_SIDE, rot_min)
        if faces:
            return [_unrotate(f, k, image.shape) for f in faces]
    return []


def _unrotate(face: FaceBox, k: int, shape) -> FaceBox:
    """A face found in np.rot90(image, k), in the original image's pixels."""
    h, w = shape[:2]

    def back(p):
        x, y = p[..., 0], p[..., 1]
        if k == 1:
            return np.stack([w - 1 - y, x], -1)
        if k == 3:
            return np.stack([y, h - 1 - x], -1)
        return np.stack([w - 1 - x, h - 1 - y], -1)

    x0, y0, x1, y1 = face.box
    corners = back(np.array([[x0, y0], [x1, y1]]))
    lo, hi = corners.min(0), corners.max(0)
    return FaceBox((float(lo[0]), float(lo[1]), float(hi[0]), float(hi[1])), face.score, back(face.points5))


def _detect_at(image: np.ndarray, max_side: int, min_face: int) -> list:
    import torch
    h, w = image.shape[:2]
    scale = min(1.0, max_side / max(h, w))
    small = image
    if scale < 1.0:
        from PIL import Image
        small = np.asarray(Image.fromarray(image).resize(
            (max(1, round(w * scale)), max(1, round(h * scale))), Image.BILINEAR))
    with _lock, torch.no_grad():
        mtcnn = _get_mtcnn()
        mtcnn.min_face_size = min_face
        boxes, probs, points = mtcnn.detect(small, landmarks=True)
    if boxes is None:
        return []
    sx, sy = w / small.shape[1], h / small.shape[0]
    faces = []
    for b, p, pts in zip(boxes, probs, points):
        if p is None or p < MIN_SCORE:
            continue
        box = (float(b[0] * sx), float(b[1] * sy), float(b[2] * sx), float(b[3] * sy))
        faces.append(FaceBox(box, float(p), np.asarray(pts, dtype=np.float64) * [sx, sy]))
    faces.sort(key=lambda f: -visible_size(f, w, h))
    return faces


def visible_size(face: FaceBox, w: int, h: int) -> float:
    """The box's size counting only its part inside the (w, h) image: a neighbour cut by the
    border (its box reaching past the edge) does not outrank the face in the frame."""
    x0, y0, x1, y1 = face.box
    cw, ch = min(x1, w) - max(x0, 0), min(y1, h) - max(y0, 0)
    return float(np.sqrt(max(cw, 0) * max(ch, 0)))


def choose_face(faces: list, index: int | None = None) -> FaceBox:
    """The largest face (by `visible_size`), or face number `index` (0-based, largest first)."""
    if not faces:
        raise NoFaceError("No face was found in the photo. Use a photo in which a face is clearly "
                          "visible, looking roughly toward the camera and not heavily covered.")
    if index is None:
        return faces[0]
    if not 0 <= index < len(faces):
        n = len(faces)
        raise FaceIndexError(f"Face number {index} was asked for, but the photo has {n} "
                             f"face{'s' if n != 1 else ''} (numbered 0 to {n - 1}, largest first).")
    return faces[index]
