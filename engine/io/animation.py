"""animation.json: a tracked performance, one entry per video frame, and its glTF form.

    {"format": "facespace-animation", "version": 1,
     "units": "cm", "camera_convention": "opencv", "fps": 25.0,
     "expression_names": [53 ICT names],
     "camera": {"K": 3x3, "width": W, "height": H} or null,
     "source": {...free-form: video file, model id...},
     "frames": [{"index": 0, "time": 0.0, "face_found": true, "bridged": false,
                 "confidence": 0.93,
                 "rotation": 3x3, "translation": [x, y, z],   # model (cm) -> camera (cm), OpenCV
                 "expressions": {"browDown_L": 0.0, ...}}, ...]}

The pose is the head's `world_to_camera` of docs/architecture.md: x = R @ X + t maps model
space (cm; +y up, +z out of the face) into OpenCV camera space (cm; x right, y down, z into
the scene); a frontal head has R = diag(1, -1, -1). `face_found` is false where no face was
detected; such a frame is either `bridged` (its pose and expressions were interpolated from
the neighbouring frames, see engine.temporal.bridge_gaps) or has `rotation`,
`translation` and `expressions` null (in memory: NaN). Nothing is invented silently.
"""
from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..core.errors import AnimationFileError, AnimationVersionError
from ..core.quaternion import quat_from_matrix
from .gltf import GlbAnimation

FORMAT = "facespace-animation"
VERSION = 1


@dataclass
class Animation:
    """A performance in memory: per frame (T) `times` s, `rotation` (T, 3, 3), `translation`
    (T, 3) cm, `weights` (T, 53) in `expression_names` order (NaN rows: no pose/expression),
    `confidence` (T,) in [0, 1], `face_found` and `bridged` (T,) bool."""
    times: np.ndarray
    rotation: np.ndarray
    translation: np.ndarray
    weights: np.ndarray
    expression_names: list
    confidence: np.ndarray
    face_found: np.ndarray
    bridged: np.ndarray
    fps: float
    camera: dict | None = None
    source: dict = field(default_factory=dict)

    def __post_init__(self):
        T = len(self.times)
        self.times = np.asarray(self.times, dtype=np.float64)
        self.rotation = np.asarray(self.rotation, dtype=np.float64).reshape(T, 3, 3)
        self.translation = np.asarray(self.translation, dtype=np.float64).reshape(T, 3)
        self.weights = np.asarray(self.weights, dtype=np.float64).reshape(T, len(self.expression_names))
        self.confidence = np.asarray(self.confidence, dtype=np.float64).reshape(T)
        self.face_found = np.asarray(self.face_found, dtype=bool).reshape(T)
        self.bridged = np.asarray(self.bridged, dtype=bool).reshape(T)
        self.expression_names = list(self.expression_names)

    @property
    def has_pose(self) -> np.ndarray:
        """(T,) frames with a pose and expressions (found or bridged)."""
        return np.all(np.isfinite(self.translation), 1) & np.all(np.isfinite(self.weights), 1)


def _num(v):
    return None if v is None or not math.isfinite(v) else round(float(v), 7)


def animation_dict(anim: Animation) -> dict:
    frames = []
    for i in range(len(anim.times)):
        ok = bool(np.all(np.isfinite(anim.rotation[i])) and np.all(np.isfinite(anim.translation[i]))
                  and np.all(np.isfinite(anim.weights[i])))
        frames.append({
            "index": i, "time": round(float(anim.times[i]), 6),
            "face_found": bool(anim.face_found[i]), "bridged": bool(anim.bridged[i]),
            "confidence": _num(anim.confidence[i]),
            "rotation": [[_num(v) for v in row] for row in anim.rotation[i]] if ok else None,
            "translation": [_num(v) for v in anim.translation[i]] if ok else None,
            "expressions": {n: _num(v) for n, v in zip(anim.expression_names, anim.weights[i])} if ok else None})
    camera = None
    if anim.camera is not None:
        camera = {k: (np.asarray(v).tolist() if isinstance(v, np.ndarray) else v) for k, v in anim.camera.items()}
    return {"format": FORMAT, "version": VERSION, "units": "cm", "camera_convention": "opencv",
            "fps": float(anim.fps), "expression_names": list(anim.expression_names),
            "camera": camera, "source": dict(anim.source), "frames": frames}


def write_animation(path, anim: Animation) -> None:
    """Write animation.json (atomically: a temporary file renamed into place)."""
    path = Path(path)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(animation_dict(anim), indent=1, allow_nan=False))
    tmp.replace(path)


def read_animation(path) -> Animation:
    """Read animation.json; `AnimationFileError` (or `AnimationVersionError`) when it can't."""
    path = Path(path)

    def bad(msg):
        return AnimationFileError(f"{path.name} is not a FaceSpace animation file FaceSpace can read: {msg}")
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise AnimationFileError(f"The file {path} does not exist. Check the file path.") from None
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise bad(f"it is not valid JSON ({exc}).") from exc
    if not isinstance(doc, dict) or doc.get("format") != FORMAT:
        raise bad(f"it does not say \"format\": \"{FORMAT}\".")
    if doc.get("version") != VERSION:
        raise AnimationVersionError(
            f"{path.name} is a FaceSpace animation of version {doc.get('version')!r}; this FaceSpace "
            f"reads version {VERSION}. Update FaceSpace (or re-export the animation).")
    try:
        names = [str(n) for n in doc["expression_names"]]
        frames = doc["frames"]
        T = len(frames)
        R = np.full((T, 3, 3), np.nan)
        t = np.full((T, 3), np.nan)
        w = np.full((T, len(names)), np.nan)
        times, conf = np.zeros(T), np.full(T, np.nan)
        found, bridged = np.zeros(T, bool), np.zeros(T, bool)
        for i, f in enumerate(frames):
            times[i] = float(f["time"])
            found[i], bridged[i] = bool(f["face_found"]), bool(f.get("bridged", False))
            conf[i] = np.nan if f.get("confidence") is None else float(f["confidence"])
            if f.get("rotation") is not None:
                R[i] = np.asarray(f["rotation"], dtype=np.float64).reshape(3, 3)
                t[i] = np.asarray(f["translation"], dtype=np.float64).reshape(3)
                ex = f["expressions"]
                w[i] = [float(ex[n]) for n in names]
        fps = float(doc["fps"])
    except (KeyError, TypeError, ValueError, IndexError) as exc:
        raise bad(f"a field is missing or has a wrong value ({type(exc).__name__}: {exc}).") from exc
    if np.any(np.diff(times) <= 0):
        raise bad("the frame times do not increase.")
    return Animation(times=times, rotation=R, translation=t, weights=w, expression_names=names,
                     confidence=conf, face_found=found, bridged=bridged, fps=fps,
                     camera=doc.get("camera"), source=doc.get("source") or {})


# -- glTF --------------------------------------------------------------------------------------

_CV_TO_GL = np.diag([1.0, -1.0, -1.0])  # OpenCV camera axes (y down, z forward) -> glTF (y up, z back)


def gltf_node_pose(rotation, translation_cm):
    """OpenCV head poses (T, 3, 3), (T, 3) cm -> glTF node rotations (T, 4) (x, y, z, w) and
    translations (T, 3) m, in a scene whose origin is the camera looking down -z (glTF's camera
    convention): node = diag(1, -1, -1) @ [R | t]. Consecutive quaternions keep one sign, so
    LINEAR (slerp) keyframes turn the short way."""
    R = _CV_TO_GL @ np.asarray(rotation, dtype=np.float64)
    q = quat_from_matrix(R)  # (w, x, y, z)
    for i in range(1, len(q)):
        if np.dot(q[i], q[i - 1]) < 0:
            q[i] = -q[i]
    xyzw = np.concatenate([q[:, 1:], q[:, :1]], 1)
    return xyzw, (np.asarray(translation_cm, dtype=np.float64) @ _CV_TO_GL.T) * 0.01


def glb_animation(anim: Animation, pose: bool = True):
    """The `engine.gltf.GlbAnimation` of `anim`: frames with a pose (found or bridged) become
    keyframes; frames without one are left out (glTF interpolates across them, the JSON keeps
    the flags). `pose=False` animates the expressions only."""
    keep = anim.has_pose
    if not np.any(keep):
        raise AnimationFileError("The animation has no frame with a face; there is nothing to export.")
    times = anim.times[keep]
    rot = trans = None
    if pose:
        rot, trans = gltf_node_pose(anim.rotation[keep], anim.translation[keep])
    return GlbAnimation(times=times, weights=np.clip(anim.weights[keep], 0.0, 1.0), rotation=rot,
                        translation=trans)
