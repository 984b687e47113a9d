"""The work outside Blender's main thread: the engine's reconstruction, and what it is fed.

`ReconstructJob` runs engine.pipeline.reconstruct (or, for several photos, reconstruct_many)
in a threading.Thread; the operator polls
it from a modal timer, so bpy is only touched on the main thread (mesh.head_from_result then builds
the head). The engine's heavy modules (torch, mediapipe) are imported here, lazily, at the
first reconstruction: never while the add-on registers or draws.
"""
from __future__ import annotations

import os
import threading
import traceback

import numpy as np

from .. import strings as S
from ..common.deps import missing_name
from ..engine.core.errors import Cancelled, FaceSpaceError


def import_error(exc: ImportError) -> FaceSpaceError:
    """An ImportError from the engine's lazy imports, as an error the artist can act on."""
    name = missing_name(exc)
    if name is not None:
        return FaceSpaceError(S.DEPS_MISSING.format(name=name))
    return FaceSpaceError(S.ENGINE_MISSING.format(error=exc))


def engine_options(face_index: int, texture_size: int, quality: str, device: str):
    try:
        from ..engine.pipeline.reconstruct import ReconstructOptions
    except ImportError as exc:
        raise import_error(exc) from exc
    # "instant" is the engine's regression-only mode (with the fast settings for the rest)
    instant = quality == "instant"
    return ReconstructOptions(face_index=None if face_index is None or face_index < 0 else int(face_index),
                              texture_size=int(texture_size), device=device,
                              quality="fast" if instant else quality, regression_only=instant)


def run_reconstruct(source, model, options, progress=None, cancel=None):
    """The engine call (any thread). `source`: a path or an (H, W, 3) uint8 array."""
    try:  # the engine imports torch / mediapipe lazily too: a missing one surfaces here
        from ..engine.pipeline.reconstruct import reconstruct
        return reconstruct(source, model, options, progress=progress, cancel=cancel)
    except ImportError as exc:
        raise import_error(exc) from exc


def run_reconstruct_many(sources, model, options, progress=None, cancel=None):
    """Several photos of one person -> one Reconstruction (engine.pipeline.many; any thread).
    `sources`: paths or (H, W, 3) uint8 arrays."""
    try:
        from ..engine.pipeline.many import reconstruct_many
        return reconstruct_many(list(sources), model, options, progress=progress, cancel=cancel)
    except ImportError as exc:
        raise import_error(exc) from exc


class ReconstructJob:
    """One reconstruction in a background thread; poll `done`, then read result/error.
    `source`: one photo (a path or an array), or a list of them (several photos, one head)."""

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
            run = run_reconstruct_many if isinstance(source, list) else run_reconstruct
            self.result = run(source, model, options, self._on_progress, self.cancel)
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
