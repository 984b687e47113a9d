"""Properties: the head's parameters on its Object (saved in the .blend), the reconstruct
settings on the Scene, and the running job's progress on the WindowManager (not saved).

Slider paths (for scripts and drivers):
    obj.facespace.identity[k].value       identity component k (0 = most significant), in sd
    obj.data.shape_keys.key_blocks["jawOpen"].value   expression, 0..1 (53 ARKit names)
    obj.facespace.texture_mode            'PHOTO' or 'DELIT'
    obj["facespace_fit"]                  fitted identity, expression, K, world_to_camera, ...
                                          (several photos: photos, views, reference_view,
                                          photos_left_out, warnings)
    obj.facespace.views[i]                several photos: each photo's camera, image, residual
    obj.facespace_edit.nose_length        Edit Face sliders: 14 measurements in mm, caricature,
                                          symmetry, use_bound, bound_percentile
Every update callback lives in sliders.py. Nothing here loads the face model: the Edit Face
measurement sliders get their per-measurement ranges the first time the model loads
(`refine_edit_ranges`).
"""
from __future__ import annotations

import bpy
from bpy.props import (BoolProperty, BoolVectorProperty, CollectionProperty, EnumProperty,
                       FloatProperty, FloatVectorProperty, IntProperty, PointerProperty,
                       StringProperty)

from .. import strings as S
from ..common import model_cache
from ..engine.editing.measure import MEASUREMENTS
from . import sliders
from .sliders import on_edit_changed


class FACESPACE_PG_coefficient(bpy.types.PropertyGroup):
    value: FloatProperty(name=S.IDENTITY_SLIDER, description=S.IDENTITY_SLIDER_TIP, default=0.0,
                         min=-10.0, max=10.0, soft_min=-3.0, soft_max=3.0, step=10,
                         update=sliders.on_identity_changed)


class FACESPACE_PG_view(bpy.types.PropertyGroup):
    """One photo a head was fitted to (several photos of one person): `name` is the photo's
    name, `path` its file ("" for an image that lives in the .blend only)."""
    path: StringProperty(subtype='FILE_PATH', options={'HIDDEN'})
    image: PointerProperty(type=bpy.types.Image)          # the photo (the camera's background)
    own_image: BoolProperty(default=False, options={'HIDDEN'})  # made from the file by FaceSpace
    camera: PointerProperty(type=bpy.types.Object)
    residual_px: FloatProperty(name=S.VIEW_RESIDUAL, description=S.VIEW_RESIDUAL_TIP)


class FACESPACE_PG_photo(bpy.types.PropertyGroup):
    """One entry of the scene's photo list (Several Photos): a file or an image in the .blend."""
    path: StringProperty(name=S.PHOTO_PATH, description=S.PHOTO_PATH_TIP, subtype='FILE_PATH')
    image: PointerProperty(name=S.PHOTO_IMAGE, description=S.PHOTO_IMAGE_TIP, type=bpy.types.Image)


class FACESPACE_PG_head(bpy.types.PropertyGroup):
    is_head: BoolProperty(default=False, options={'HIDDEN'})
    model_id: StringProperty(options={'HIDDEN'})
    identity: CollectionProperty(type=FACESPACE_PG_coefficient)
    texture_mode: EnumProperty(name=S.TEXTURE_MODE, description=S.TEXTURE_MODE_TIP,
                               items=S.TEXTURE_MODES, default='PHOTO',
                               update=sliders.on_texture_mode_changed)
    camera: PointerProperty(type=bpy.types.Object)
    photo: PointerProperty(type=bpy.types.Image)
    views: CollectionProperty(type=FACESPACE_PG_view)   # several photos: one per photo used
    reference_view: IntProperty(default=0, options={'HIDDEN'})
    groups_open: BoolVectorProperty(size=32, default=[True] + [False] * 31,
                                    description=S.GROUP_TOGGLE_TIP)


class FACESPACE_PG_face(bpy.types.PropertyGroup):
    """One detected face (for choosing when a photo holds several)."""
    index: IntProperty()
    box: FloatVectorProperty(size=4)
    score: FloatProperty()


class FACESPACE_PG_settings(bpy.types.PropertyGroup):
    source: EnumProperty(name=S.PHOTO_SOURCE, items=[
        ('FILE', S.PHOTO_SOURCE_FILE, S.PHOTO_SOURCE_FILE_TIP),
        ('IMAGE', S.PHOTO_SOURCE_IMAGE, S.PHOTO_SOURCE_IMAGE_TIP),
        ('MANY', S.PHOTO_SOURCE_MANY, S.PHOTO_SOURCE_MANY_TIP)], default='FILE')
    photos: CollectionProperty(type=FACESPACE_PG_photo)   # 'MANY': the photos of one person
    photos_index: IntProperty(options={'HIDDEN'})
    add_photo_path: StringProperty(name=S.ADD_PHOTO_PATH, description=S.ADD_PHOTO_PATH_TIP,
                                   subtype='FILE_PATH')
    photo_path: StringProperty(name=S.PHOTO_PATH, description=S.PHOTO_PATH_TIP, subtype='FILE_PATH')
    photo_image: PointerProperty(name=S.PHOTO_IMAGE, description=S.PHOTO_IMAGE_TIP, type=bpy.types.Image)
    faces: CollectionProperty(type=FACESPACE_PG_face)
    faces_for: StringProperty(options={'HIDDEN'})  # the photo the face list belongs to
    face_index: IntProperty(name=S.FACE_INDEX, description=S.FACE_INDEX_TIP, default=-1, min=-1)
    texture_size: EnumProperty(name=S.TEXTURE_SIZE, description=S.TEXTURE_SIZE_TIP,
                               items=S.TEXTURE_SIZES, default="1024")
    quality: EnumProperty(name=S.QUALITY, description=S.QUALITY_TIP, items=S.QUALITIES, default="balanced")
    device: EnumProperty(name=S.DEVICE, description=S.DEVICE_TIP,
                         items=[("DEFAULT", S.DEVICE_DEFAULT, S.DEVICE_DEFAULT_TIP)] + S.DEVICES,
                         default="DEFAULT")
    add_camera: BoolProperty(name=S.ADD_CAMERA, description=S.ADD_CAMERA_TIP, default=True)


class FACESPACE_PG_job(bpy.types.PropertyGroup):
    """The running reconstruction, for the panel (runtime only)."""
    running: BoolProperty(default=False)
    progress: FloatProperty(default=0.0, min=0.0, max=1.0, subtype='FACTOR')
    status: StringProperty()


# ---- Edit Face (issue #7) -----------------------------------------------------------
# Measurement slider ranges. An artist expects each slider's drag range to span that
# measurement's plausible variation, about +-3 sd of the population: +-6 mm for eye size,
# +-23 mm for face width. Those come from the face model, which must not load while the
# add-on registers (slow, and it may not be installed yet). Blender's soft ranges are fixed
# per RNA property, so the sliders register with one generous range that holds every
# measurement's +-3 sd (nothing an artist needs is out of reach before the model loads),
# and `refine_edit_ranges` redefines the 14 properties with the model's own ranges and
# population figures the first time the model loads. The values are stored by name, so
# redefining keeps them; the hard range (+-100 mm) never changes.
GENEROUS_SOFT_MM = 25.0
HARD_MM = 100.0
_ranges_for: list = []  # the model id the ranges were refined for (empty: generous ranges)


def _measurement_prop(m, lo=-GENEROUS_SOFT_MM, hi=GENEROUS_SOFT_MM, tip=None):
    return FloatProperty(name=m.label, description=tip or m.description, default=0.0,
                         min=-HARD_MM, max=HARD_MM, soft_min=lo, soft_max=hi, step=10, precision=1,
                         update=on_edit_changed)


class FACESPACE_PG_edit(bpy.types.PropertyGroup):
    __annotations__ = {m.name: _measurement_prop(m) for m in MEASUREMENTS}
    __annotations__.update(
        caricature=FloatProperty(name=S.EDIT_CARICATURE, description=S.EDIT_CARICATURE_TIP,
                                 default=1.0, min=0.0, max=3.0, soft_max=2.0, update=on_edit_changed),
        symmetry=FloatProperty(name=S.EDIT_SYMMETRY, description=S.EDIT_SYMMETRY_TIP, default=0.0,
                               min=0.0, max=1.0, subtype='FACTOR', update=on_edit_changed),
        use_bound=BoolProperty(name=S.EDIT_USE_BOUND, description=S.EDIT_USE_BOUND_TIP, default=False,
                               update=on_edit_changed),
        bound_percentile=FloatProperty(name=S.EDIT_BOUND, description=S.EDIT_BOUND_TIP, default=99.0,
                                       min=50.0, max=99.99, precision=2, subtype='PERCENTAGE',
                                       update=on_edit_changed))


def edit_ranges_refined() -> bool:
    return bool(_ranges_for)


def refine_edit_ranges(model) -> bool:
    """Give the measurement sliders the model's +-3 sd soft ranges and population tooltips
    (once per model). Main thread, never inside a draw: use `_on_model_loaded`."""
    if _ranges_for and _ranges_for[0] == model.id:
        return False
    from ..engine.editing import measurement_directions
    infos = {s.name: s for s in measurement_directions(model).sliders()}
    for m in MEASUREMENTS:
        info = infos.get(m.name)
        if info is not None:
            tip = S.EDIT_MEASUREMENT_TIP.format(description=m.description, mean=info.mean_mm, std=info.std_mm)
            setattr(FACESPACE_PG_edit, m.name, _measurement_prop(m, info.soft_min, info.soft_max, tip))
    _ranges_for[:] = [model.id]
    return True


def _refine_from_timer():
    model = model_cache.loaded()
    if model is not None:
        try:
            refine_edit_ranges(model)
        except Exception as exc:  # keep the generous ranges; the sliders still work
            print(S.EDIT_FAILED.format(error=exc))
        for window in getattr(bpy.context.window_manager, "windows", ()):
            for area in window.screen.areas:
                area.tag_redraw()
    return None


def _on_model_loaded(model):
    # The model may first load inside a panel's draw (the Edit Face panel reads it):
    # redefining RNA properties there would pull them from under the buttons being drawn, so
    # refine from a timer, which runs on the main thread between events and draws.
    if not bpy.app.timers.is_registered(_refine_from_timer):
        bpy.app.timers.register(_refine_from_timer, first_interval=0.0)


CLASSES = (FACESPACE_PG_coefficient, FACESPACE_PG_view, FACESPACE_PG_photo, FACESPACE_PG_head, FACESPACE_PG_face,
           FACESPACE_PG_settings, FACESPACE_PG_job, FACESPACE_PG_edit)


def register():
    for cls in CLASSES:
        bpy.utils.register_class(cls)
    bpy.types.Object.facespace = PointerProperty(type=FACESPACE_PG_head)
    bpy.types.Object.facespace_edit = PointerProperty(type=FACESPACE_PG_edit)
    bpy.types.Scene.facespace = PointerProperty(type=FACESPACE_PG_settings)
    bpy.types.WindowManager.facespace_job = PointerProperty(type=FACESPACE_PG_job)
    model_cache.add_load_listener(_on_model_loaded)
    if model_cache.loaded() is not None:  # re-registered in a session that has the model
        _on_model_loaded(model_cache.loaded())


def unregister():
    model_cache.remove_load_listener(_on_model_loaded)
    if bpy.app.timers.is_registered(_refine_from_timer):
        bpy.app.timers.unregister(_refine_from_timer)
    _ranges_for.clear()
    del bpy.types.WindowManager.facespace_job
    del bpy.types.Scene.facespace
    del bpy.types.Object.facespace_edit
    del bpy.types.Object.facespace
    for cls in reversed(CLASSES):
        bpy.utils.unregister_class(cls)
