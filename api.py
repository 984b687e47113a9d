"""FaceSpace scripting API (inside Blender: `from bl_ext.user_default.facespace import api`).

    head = api.reconstruct("/photos/me.jpg", texture_size=1024, quality="balanced")
    api.set_identity(head, values)          # 100 values in standard deviations
    api.set_expressions(head, {"jawOpen": 0.6})
    api.export_glb(head, "/tmp/me.glb")

Slider paths: head.facespace.identity[k].value (identity component k, most significant
first, in sd); head.data.shape_keys.key_blocks["<ARKit name>"].value (expression, 0..1);
head.facespace.texture_mode ('PHOTO' | 'DELIT'); head["facespace_fit"] (fitted identity,
expression, K, world_to_camera, image_size, photo). Errors are engine.core.errors.FaceSpaceError
subclasses whose message tells the artist what to do.
"""
from __future__ import annotations

import bpy
import numpy as np

from . import strings as S
from .common.model_cache import get_model
from .engine.core.errors import FaceSpaceError, InternalError, OptionError
from .operators import export_ops, jobs, sliders, views
from .operators.mesh import build_head, head_from_result, head_name

__all__ = ["reconstruct", "add_photo", "add_head", "identity", "set_identity", "expressions",
           "set_expressions", "randomise", "symmetrise", "export_glb", "export_fbx", "FaceSpaceError"]


def reconstruct(photo_path, *, face_index: int | None = None, texture_size: int = 1024, quality: str = "balanced",
                device: str = "auto", add_camera: bool = True, context=None) -> bpy.types.Object:
    """Photo -> a new head object in the scene (never replaces an existing one).

    photo_path: a file path, or a bpy.types.Image already in the .blend; or a list of them
    (several photos of one person: one head, a camera per photo, see _reconstruct_many).
    face_index: which face, largest first (None: the largest; negative is an error).
    texture_size: a power of two, 32..8192 (engine.core.options). quality: 'instant' (the learned regression alone, no
    fitting) | 'fast' | 'balanced' | 'high'. device:
    'auto' | 'cpu' | 'cuda' | 'mps'. add_camera: add the photo's fitted camera with the photo
    as background. Runs synchronously; raises FaceSpaceError with an artist-readable message.
    """
    from .engine.core.device import pick_device
    from .engine.pipeline.reconstruct import ReconstructOptions
    # the engine's option rules, checked before the model loads (OptionError, DeviceUnavailableError)
    options = ReconstructOptions(face_index=face_index, texture_size=texture_size, quality=quality, device=device)
    pick_device(options.device)
    context = context or bpy.context
    if isinstance(photo_path, (list, tuple)):   # several photos of one person -> one head
        return _reconstruct_many(photo_path, face_index, texture_size, quality, device, add_camera, context)
    image = photo_path if isinstance(photo_path, bpy.types.Image) else None
    path = "" if image is not None else str(photo_path)
    try:
        model = get_model()
        rec = jobs.run_reconstruct(jobs.photo_source(image, path), model, options)
    except FaceSpaceError:
        raise
    except Exception as exc:   # not ours to explain: a short message, the traceback in a log file
        from .engine.core.crashlog import internal_error_message
        raise InternalError(internal_error_message(exc, "api")) from exc
    return head_from_result(context, model, rec, name=head_name(path, image),
                                 photo_image=image, add_camera=add_camera, photo_path=path)


def _photo(p) -> views.Photo:
    return views.Photo("", p) if isinstance(p, bpy.types.Image) else views.Photo(str(p))


def _reconstruct_many(photos, face_index, texture_size, quality, device, add_camera, context):
    """Several photos (paths or Images) of one person -> one head (engine reconstruct_many).
    Photos without a usable face, or of someone else, are left out: head["facespace_fit"]
    ["photos_left_out"] says which and why; ["warnings"] holds the engine's warnings."""
    photos = views.dedupe([_photo(p) for p in photos])
    if len(photos) < 2:
        return reconstruct(photos[0].image or photos[0].path, face_index=face_index, texture_size=texture_size,
                           quality=quality, device=device, add_camera=add_camera, context=context) \
            if photos else _no_photo()
    model = get_model()
    options = jobs.engine_options(face_index, texture_size, quality, device)
    inputs = [views.engine_input(p, i) for i, p in enumerate(photos)]
    rec = jobs.run_reconstruct_many(inputs, model, options)
    return views.head_from_views(context, model, rec, photos, inputs, name=views.head_name(photos),
                                 add_camera=add_camera)


def _no_photo():
    raise FaceSpaceError(S.NO_PHOTO)


def add_photo(head, photo, *, face_index: int = -1, texture_size: int = 0, quality: str = "balanced",
              device: str = "auto", context=None) -> bpy.types.Object:
    """Refit `head` with one more photo (a path or an Image) of the same person: the head's
    identity, texture, views and cameras are replaced in place (same object). texture_size
    0 keeps the head's. Returns the head."""
    context = context or bpy.context
    old = views.stored_photos(head)
    photos = views.dedupe(old + [_photo(photo)])
    if len(photos) == len(old):
        raise FaceSpaceError(S.ADD_PHOTO_ALREADY)
    model = get_model()
    options = jobs.engine_options(face_index, texture_size or views.texture_size(head), quality, device)
    inputs = [views.engine_input(p, i) for i, p in enumerate(photos)]
    rec = jobs.run_reconstruct_many(inputs, model, options)
    sliders.bake_edits(head)
    views.refit_head(context, head, model, rec, photos, inputs)
    return head


def add_head(identity=None, expression=None, *, name: str = "FaceSpace Head", context=None) -> bpy.types.Object:
    """A head straight from the model (no photo): identity (100,) in sd, expression (53,) in 0..1."""
    obj, _ = build_head(context or bpy.context, get_model(), identity, expression, name=name)
    return obj


def identity(head) -> np.ndarray:
    return sliders.identity_values(head)


def set_identity(head, values) -> None:
    """Set all identity sliders at once (one mesh update): one finite number per component."""
    sliders.set_identity_values(head, _coefficients(values, len(head.facespace.identity), "identity"))


def _coefficients(values, n: int, what: str) -> np.ndarray:
    """`values` as n finite floats, or OptionError saying what is wrong (never Blender's
    "internal error setting the array", never a NaN mesh)."""
    try:
        a = np.asarray(values, dtype=np.float64).ravel()
    except (TypeError, ValueError):
        raise OptionError(f"The {what} values must be numbers; got {type(values).__name__}.") from None
    if a.size != n:
        raise OptionError(f"Give {n} {what} values (one per slider), not {a.size}.")
    if not np.all(np.isfinite(a)):
        raise OptionError(f"The {what} values must be finite numbers; {int((~np.isfinite(a)).sum())} "
                          "are NaN or infinite.")
    return a


def expressions(head) -> dict:
    key = head.data.shape_keys
    return {kb.name: kb.value for kb in key.key_blocks[1:]} if key else {}


def set_expressions(head, values) -> None:
    """values: {ARKit name: weight} or a sequence of 53 weights in model order."""
    if isinstance(values, dict):
        blocks = head.data.shape_keys.key_blocks
        unknown = [n for n in values if n not in blocks or n == blocks[0].name]
        if unknown:
            raise OptionError(f"Unknown expression name(s): {', '.join(map(str, unknown[:5]))}; use the "
                              "53 ARKit names (api.expressions(head) lists them).")
        checked = _coefficients(list(values.values()), len(values), "expression")
        for name, v in zip(values, checked.tolist()):
            blocks[name].value = float(v)
    else:
        sliders.set_expression_values(head, _coefficients(values, len(head.data.shape_keys.key_blocks) - 1,
                                                          "expression"))


def randomise(head, spread: float = 1.0, seed=None) -> None:
    sliders.randomise(head, spread, seed)


def symmetrise(head) -> None:
    sliders.symmetrise(head, get_model())


def export_glb(head, filepath: str, context=None) -> str:
    return _export(export_ops.export_glb, context, head, filepath, ".glb")


def export_fbx(head, filepath: str, context=None) -> str:
    return _export(export_ops.export_fbx, context, head, filepath, ".fbx")


def _export(exporter, context, head, filepath, what) -> str:
    """Checked first (ExportError/OutputNotWritableError, never a hang or a traceback), written
    to a temporary sibling and renamed into place: the file is complete or absent."""
    from .engine.core.errors import ExportError
    from .engine.io.safe_output import check_file_target, replace_file
    check_file_target(filepath, what)

    def write(tmp):
        try:
            exporter(context or bpy.context, head, str(tmp))
        except FaceSpaceError:
            raise
        except (RuntimeError, OSError) as exc:   # bpy.ops report failures as RuntimeError
            raise ExportError(f"Exporting {filepath} failed: {str(exc).strip()[:300]}") from exc
    return str(replace_file(write, filepath))


# ---- performance capture (track a video, import Live Link Face) -----------------------------
def track(head, video, *, max_frames: int = 0, step: int = 1, smooth: bool = True, fps: float = 0.0,
          animate: str = "HEAD", frame_start: int = 1, load_clip: bool = True, context=None) -> dict:
    """Animate `head` from a video (a file or a folder of frames): its 53 shape keys and its pose
    ('HEAD') or the inverse pose on a camera ('CAMERA'), keyed at the clip's fps from
    `frame_start`; the clip behind the camera; the scene's fps and frame range set. The head's
    identity is held fixed. Runs synchronously; raises FaceSpaceError (artist-readable).
    Returns the record stored in head["facespace_track"] (frames, face_found, bridged, ...)."""
    from .operators import track_anim, track_jobs
    model = get_model()
    options = track_jobs.track_options(max_frames, step, smooth)
    tr = track_jobs.run_track(str(video), model, track_jobs.head_params(head), options, fps)
    return track_anim.apply_track(context or bpy.context, head, tr, str(video), animate=animate,
                                  frame_start=frame_start, load_clip=load_clip)


def import_live_link(head, csv_path, *, fps: float = 0.0, frame_start: int = 1, rotation: bool = True,
                     set_scene: bool = True, context=None) -> dict:
    """Key `head`'s shape keys (and rotation) from a Live Link Face CSV; raises FaceSpaceError."""
    from .engine.io.arkit import ICT_NAMES, read_live_link_csv
    from .operators import track_anim
    take = read_live_link_csv(str(csv_path), fps=fps or None, ict_names=list(ICT_NAMES))
    return track_anim.apply_live_link(context or bpy.context, head, take, frame_start=frame_start,
                                      rotation=rotation, set_scene=set_scene)
__all__ += ["track", "import_live_link"]
