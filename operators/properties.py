"""Properties: the head's parameters on its Object (saved in the .blend), the reconstruct
settings on the Scene, and the running job's progress on the WindowManager (not saved).

Slider paths (for scripts and drivers):
    obj.facespace.identity[k].value       identity component k (0 = most significant), in sd
    obj.data.shape_keys.key_blocks["jawOpen"].value   expression, 0..1 (53 ARKit names)
    obj.facespace.texture_mode            'PHOTO' or 'DELIT'
    obj["facespace_fit"]                  fitted identity, expression, K, world_to_camera, ...
    obj.facespace_edit.nose_length        Edit Face sliders (operators/edit_ops.py): 14 measurements
                                          in mm, caricature, symmetry, use_bound, bound_percentile
"""
from __future__ import annotations

import bpy
from bpy.props import (BoolProperty, BoolVectorProperty, CollectionProperty, EnumProperty,
                       FloatProperty, FloatVectorProperty, IntProperty, PointerProperty,
                       StringProperty)

from ..ui import strings as S
from . import sliders

TEXTURE_SIZES = [(str(n), f"{n} px", "") for n in (512, 1024, 2048, 4096)]
QUALITIES = [("instant", S.QUALITY_INSTANT, S.QUALITY_INSTANT_TIP),
             ("fast", S.QUALITY_FAST, S.QUALITY_FAST_TIP),
             ("balanced", S.QUALITY_BALANCED, S.QUALITY_BALANCED_TIP),
             ("high", S.QUALITY_BEST, S.QUALITY_BEST_TIP)]
DEVICES = [("auto", S.DEVICE_AUTO, S.DEVICE_AUTO_TIP), ("cpu", S.DEVICE_CPU, S.DEVICE_CPU_TIP),
           ("cuda", S.DEVICE_CUDA, S.DEVICE_CUDA_TIP), ("mps", S.DEVICE_MPS, S.DEVICE_MPS_TIP)]
TEXTURE_MODES = [('PHOTO', S.TEXTURE_PHOTO, S.TEXTURE_PHOTO_TIP),
                 ('DELIT', S.TEXTURE_DELIT, S.TEXTURE_DELIT_TIP)]
IDENTITY_GROUP = 10  # sliders per collapsible group


class FACESPACE_PG_coefficient(bpy.types.PropertyGroup):
    value: FloatProperty(name=S.IDENTITY_SLIDER, description=S.IDENTITY_SLIDER_TIP, default=0.0,
                         min=-10.0, max=10.0, soft_min=-3.0, soft_max=3.0, step=10,
                         update=sliders.on_identity_changed)


class FACESPACE_PG_head(bpy.types.PropertyGroup):
    is_head: BoolProperty(default=False, options={'HIDDEN'})
    model_id: StringProperty(options={'HIDDEN'})
    identity: CollectionProperty(type=FACESPACE_PG_coefficient)
    texture_mode: EnumProperty(name=S.TEXTURE_MODE, description=S.TEXTURE_MODE_TIP,
                               items=TEXTURE_MODES, default='PHOTO',
                               update=sliders.on_texture_mode_changed)
    camera: PointerProperty(type=bpy.types.Object)
    photo: PointerProperty(type=bpy.types.Image)
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
        ('IMAGE', S.PHOTO_SOURCE_IMAGE, S.PHOTO_SOURCE_IMAGE_TIP)], default='FILE')
    photo_path: StringProperty(name=S.PHOTO_PATH, description=S.PHOTO_PATH_TIP, subtype='FILE_PATH')
    photo_image: PointerProperty(name=S.PHOTO_IMAGE, description=S.PHOTO_IMAGE_TIP, type=bpy.types.Image)
    faces: CollectionProperty(type=FACESPACE_PG_face)
    faces_for: StringProperty(options={'HIDDEN'})  # the photo the face list belongs to
    face_index: IntProperty(name=S.FACE_INDEX, description=S.FACE_INDEX_TIP, default=-1, min=-1)
    texture_size: EnumProperty(name=S.TEXTURE_SIZE, description=S.TEXTURE_SIZE_TIP,
                               items=TEXTURE_SIZES, default="1024")
    quality: EnumProperty(name=S.QUALITY, description=S.QUALITY_TIP, items=QUALITIES, default="balanced")
    device: EnumProperty(name=S.DEVICE, description=S.DEVICE_TIP,
                         items=[("DEFAULT", S.DEVICE_DEFAULT, S.DEVICE_DEFAULT_TIP)] + DEVICES,
                         default="DEFAULT")
    add_camera: BoolProperty(name=S.ADD_CAMERA, description=S.ADD_CAMERA_TIP, default=True)


class FACESPACE_PG_job(bpy.types.PropertyGroup):
    """The running reconstruction, for the panel (runtime only)."""
    running: BoolProperty(default=False)
    progress: FloatProperty(default=0.0, min=0.0, max=1.0, subtype='FACTOR')
    status: StringProperty()


CLASSES = (FACESPACE_PG_coefficient, FACESPACE_PG_head, FACESPACE_PG_face,
           FACESPACE_PG_settings, FACESPACE_PG_job)


def register():
    for cls in CLASSES:
        bpy.utils.register_class(cls)
    bpy.types.Object.facespace = PointerProperty(type=FACESPACE_PG_head)
    bpy.types.Scene.facespace = PointerProperty(type=FACESPACE_PG_settings)
    bpy.types.WindowManager.facespace_job = PointerProperty(type=FACESPACE_PG_job)


def unregister():
    del bpy.types.WindowManager.facespace_job
    del bpy.types.Scene.facespace
    del bpy.types.Object.facespace
    for cls in reversed(CLASSES):
        bpy.utils.unregister_class(cls)
