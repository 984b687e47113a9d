"""Reconstruction outside Blender's main thread, and turning its result into a head.

`ReconstructJob` runs engine.reconstruct in a threading.Thread; the operator polls it from
a modal timer, so bpy is only touched on the main thread. `head_from_result` builds the
head from a Reconstruction (main thread).
"""
from __future__ import annotations

import os
import threading
import traceback

import numpy as np

from ..engine.errors import Cancelled, FaceSpaceError


def engine_options(face_index: int, texture_size: int, quality: str, device: str):
    from ..engine.reconstruct import ReconstructOptions
    # "instant" is the engine's regression-only mode (with the fast settings for the rest)
    instant = quality == "instant"
    return ReconstructOptions(face_index=None if face_index < 0 else int(face_index),
                              texture_size=int(texture_size), device=device,
                              quality="fast" if instant else quality, regression_only=instant)


def run_reconstruct(source, model, options, progress=None, cancel=None):
    """The engine call (any thread). `source`: a path or an (H, W, 3) uint8 array."""
    try:
        from ..engine.reconstruct import reconstruct
    except ImportError as exc:
        from ..ui import strings as S
        raise FaceSpaceError(S.ENGINE_MISSING) from exc
    return reconstruct(source, model, options, progress=progress, cancel=cancel)


class ReconstructJob:
    """One reconstruction in a background thread; poll `done`, then read result/error."""

    def __init__(self, source, model, options):
        self.cancel = threading.Event()
        self.progress, self.status = 0.0, ""
        self.result = self.error = None
        self.done = False
        self._thread = threading.Thread(target=self._run, args=(source, model, options),
                                        name="FaceSpace reconstruct", daemon=True)

    def start(self):
        self._thread.start()
        return self

    def _on_progress(self, frac, message):
        self.progress, self.status = float(frac), str(message)

    def _run(self, source, model, options):
        try:
            self.result = run_reconstruct(source, model, options, self._on_progress, self.cancel)
        except Cancelled as exc:
            self.error = exc
        except FaceSpaceError as exc:
            self.error = exc
        except Exception as exc:  # unexpected: keep the traceback for the console
            traceback.print_exc()
            self.error = exc
        finally:
            self.done = True

    def join(self, timeout=None):
        self._thread.join(timeout)


def image_to_array(image) -> np.ndarray:
    """A Blender image -> (H, W, 3) uint8 RGB, row 0 at the top (for packed/generated images)."""
    w, h = image.size
    px = np.empty(w * h * image.channels, dtype=np.float32)
    image.pixels.foreach_get(px)
    px = px.reshape(h, w, image.channels)[::-1, :, :3]
    return np.clip(px * 255.0 + 0.5, 0, 255).astype(np.uint8)


def photo_source(image=None, filepath: str = ""):
    """What to hand the engine: a file path when there is one on disk, else the pixels."""
    import bpy
    if image is not None:
        path = bpy.path.abspath(image.filepath) if image.filepath else ""
        if path and os.path.isfile(path) and not image.packed_file and not image.is_dirty:
            return path
        return image_to_array(image)
    return bpy.path.abspath(filepath)


def head_name(filepath: str, image=None) -> str:
    stem = image.name if image is not None else os.path.splitext(os.path.basename(filepath))[0]
    return f"{stem or 'FaceSpace'} head"


def head_from_result(context, model, rec, *, name, photo_image=None, add_camera=True, photo_path=""):
    """Build the head (and camera) from a Reconstruction; returns the head object."""
    from .head_build import build_head
    from .materials import image_from_array
    import bpy
    made_photo = None
    if photo_image is None and rec.image is not None:
        # the engine's view of the photo (EXIF-rotated) is what the camera was fitted to
        photo_image = made_photo = image_from_array(f"{name} photo", rec.image)
    fit = {
        "K": [float(v) for v in np.asarray(rec.K).ravel()],
        "world_to_camera": [float(v) for v in np.asarray(rec.world_to_camera).ravel()],
        "image_size": [int(v) for v in rec.image_size],
        "face_index": int(rec.face_index),
        "face_box": [float(v) for v in rec.faces[rec.face_index].box] if rec.faces else [],
        "photo": str(photo_path),
        "path": str(rec.path),
    }
    try:
        obj, _cam = build_head(context, model, rec.identity, rec.expression, name=name,
                               texture=rec.texture, texture_delit=rec.texture_delit,
                               photo_image=photo_image, fit=fit, add_camera=add_camera)
    except Exception:
        if made_photo is not None:
            bpy.data.images.remove(made_photo)
        raise
    return obj
