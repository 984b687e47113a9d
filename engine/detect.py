"""Faces and landmarks: facenet-pytorch's MTCNN finds every face, mediapipe's face mesh
(0.10.21, bundled model, offline) gives 478 landmarks on the chosen one.

Coordinates are image pixels with 0-based pixel centres (see docs/architecture.md).
"""
from __future__ import annotations

import hashlib
import importlib
import importlib.util
import json
import sys
import threading
import types
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .errors import FaceIndexError, FaceTooSmallError, ImageError, NoFaceError

DATA = Path(__file__).resolve().parent / "data"
MP68_PATH = DATA / "mediapipe_to_68.json"

# facenet-pytorch 2.6.0 ships these in facenet_pytorch/data/; refuse anything else.
MTCNN_SHA256 = {
    "pnet.pt": "a2a71925e0b9996a42f63e47efc1ca19043e69558b5c523b978d611dfae49c8f",
    "rnet.pt": "bbb937de72efc9ef83b186c49f5f558467a1d7e3453a8ece0d71a886633f6a86",
    "onet.pt": "165bfbe42940416ccfb977545cf0e976d5bf321f67083ae2aaaa5c764280118d",
}
DETECT_MAX_SIDE = 1024   # MTCNN runs on a copy no larger than this (cost grows with area)
DETECT_RETRY_SIDE = 2048  # last look when nothing was found (small face, huge photo)
QUICK_FRACTION = 16      # quick look: faces of at least 1/16 of the shorter side
MIN_FACE_PX = 40         # below this (box side, full-image pixels) there is too little detail
MIN_SCORE = 0.90         # MTCNN's last stage probability; lower ones are mostly false positives
CROP_MARGIN = 0.6        # crop for the face mesh: box side * (1 + 2 * margin), square
CROP_MARGIN_TIGHT = 0.2  # second try when the first crop's points miss the box
CROP_MIN, CROP_MAX = 384, 1024  # crop side in pixels handed to mediapipe


@dataclass
class FaceBox:
    box: tuple            # (x0, y0, x1, y1) floats in image pixels
    score: float          # MTCNN probability
    points5: np.ndarray   # (5, 2): eyes (subject's right, left), nose, mouth corners

    @property
    def size(self) -> float:
        return float(np.sqrt(max(self.box[2] - self.box[0], 0) * max(self.box[3] - self.box[1], 0)))


@dataclass
class FaceLandmarks:
    points: np.ndarray    # (478, 2) image pixels
    depth: np.ndarray     # (478,) mediapipe relative depth, in image pixels (smaller = nearer)
    box: FaceBox


# ---------------------------------------------------------------- MTCNN
_lock = threading.Lock()
_mtcnn = None
_facemesh = None


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


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
            if not p.is_file() or _sha256(p) != digest:
                from .errors import WeightsUnavailableError
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
    """Faces in an (H, W, 3) uint8 RGB image, largest first.

    MTCNN runs on a copy at most DETECT_MAX_SIDE pixels long, searching faces down to 20 px.
    If that finds nothing in a larger photo, once more at up to DETECT_RETRY_SIDE (a small
    face in a huge photo). `quick=True` first tries only faces of at least 1/QUICK_FRACTION
    of the shorter side (several times cheaper) and falls back to the full search when that
    finds nothing; it is less reliable (it finds a false face and misses Einstein's real one
    in the annotated set), so it is off by default. If still nothing, the photo is searched
    turned by 90, 270 and 180 degrees (boxes mapped back to this image)."""
    image = _check_image(image)
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
    faces.sort(key=lambda f: -f.size)
    return faces


def choose_face(faces: list, index: int | None = None) -> FaceBox:
    """The largest face, or face number `index` (0-based, largest first)."""
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


# ---------------------------------------------------------------- mediapipe face mesh
def _get_facemesh():
    global _facemesh
    if _facemesh is None:
        import mediapipe as mp
        _facemesh = mp.solutions.face_mesh.FaceMesh(
            static_image_mode=True, refine_landmarks=True, max_num_faces=1)
    return _facemesh


def face_landmarks(image: np.ndarray, face: FaceBox) -> FaceLandmarks:
    """mediapipe's 478 points for `face`, run on a square crop around its box."""
    image = _check_image(image)
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
    from PIL import Image
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
    with _lock:
        result = _get_facemesh().process(np.ascontiguousarray(crop))
    if not result.multi_face_landmarks:
        return None
    lm = result.multi_face_landmarks[0].landmark
    arr = np.array([(p.x, p.y, p.z) for p in lm], dtype=np.float64)
    k = side / res  # crop pixels -> image pixels
    # mediapipe's normalised coordinates count from the image edge; -0.5 gives pixel centres
    pts = np.stack([arr[:, 0] * res * k + left, arr[:, 1] * res * k + top], 1) - 0.5
    return pts, arr[:, 2] * res * k


def _check_image(image) -> np.ndarray:
    if not isinstance(image, np.ndarray) or image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
        raise ImageError("Internal: expected an (H, W, 3) uint8 RGB image; load it with image_io.load_image.")
    return np.ascontiguousarray(image)


# ---------------------------------------------------------------- 68-point subset
def load_mp68(path=MP68_PATH):
    """(index (68, m) int64, weight (68, m) float64): each iBUG-68 point as a fixed blend of
    mediapipe points, measured on human-annotated photos (see docs/detection.md)."""
    d = json.loads(Path(path).read_text())
    return np.asarray(d["index"], dtype=np.int64), np.asarray(d["weight"], dtype=np.float64)


def to68(points478):
    """(..., 478, k) mediapipe points (numpy or torch) -> (..., 68, k) iBUG-68 points."""
    idx, wt = MP_TO_68_INDEX, MP_TO_68_WEIGHT
    if isinstance(points478, np.ndarray):
        return (points478[..., idx, :] * wt[..., None]).sum(-2)
    import torch
    i = torch.as_tensor(idx.reshape(-1), device=points478.device)
    g = points478[..., i, :].reshape(*points478.shape[:-2], *idx.shape, points478.shape[-1])
    return (g * torch.as_tensor(wt, dtype=points478.dtype, device=points478.device)[..., None]).sum(-2)


if MP68_PATH.is_file():
    MP_TO_68_INDEX, MP_TO_68_WEIGHT = load_mp68()
    # the dominant mediapipe point of each of the 68 (for code that wants plain indices)
    MP_TO_68 = MP_TO_68_INDEX[np.arange(68), np.argmax(MP_TO_68_WEIGHT, 1)]
else:  # only while building the table
    MP_TO_68_INDEX = MP_TO_68_WEIGHT = MP_TO_68 = None
