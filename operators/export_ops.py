"""Export the head: glTF binary (.glb, 53 ARKit-named morph targets) and FBX (shape keys)."""
from __future__ import annotations

import contextlib

import bpy
from bpy.props import StringProperty
from bpy_extras.io_utils import ExportHelper

from .. import strings as S
from ..common.heads import active_head


@contextlib.contextmanager
def only_selected(context, obj):
    """Select just `obj` for an exporter's use_selection, then restore the selection."""
    layer = context.view_layer
    before = [o for o in layer.objects if o.select_get()]
    active = layer.objects.active
    for o in before:
        o.select_set(False)
    obj.select_set(True)
    layer.objects.active = obj
    try:
        yield
    finally:
        obj.select_set(False)
        for o in before:
            if o.name in layer.objects:
                o.select_set(True)
        layer.objects.active = active


def export_glb(context, obj, filepath: str) -> str:
    with only_selected(context, obj):
        bpy.ops.export_scene.gltf(filepath=filepath, export_format='GLB', use_selection=True,
                                  export_morph=True, export_morph_normal=False, export_yup=True,
                                  export_apply=False, export_animations=False)
    return filepath


def export_fbx(context, obj, filepath: str) -> str:
    with only_selected(context, obj):
        bpy.ops.export_scene.fbx(filepath=filepath, use_selection=True, object_types={'MESH'},
                                 add_leaf_bones=False, bake_anim=False, path_mode='COPY',
                                 embed_textures=True)
    return filepath


class _ExportHead(ExportHelper):
    bl_options = {'REGISTER'}

    @classmethod
    def poll(cls, context):
        return active_head(context) is not None

    def invoke(self, context, event):
        if not self.filepath:
            self.filepath = bpy.path.clean_name(active_head(context).name) + self.filename_ext
        return super().invoke(context, event)

    def execute(self, context):
        path = self.export(context, active_head(context), self.filepath)
        self.report({'INFO'}, S.EXPORTED.format(path=path))
        return {'FINISHED'}


class FACESPACE_OT_export_glb(_ExportHead, bpy.types.Operator):
    bl_idname = "facespace.export_glb"
    bl_label = S.EXPORT_GLB
    bl_description = S.EXPORT_GLB_TIP
    filename_ext = ".glb"
    filter_glob: StringProperty(default="*.glb", options={'HIDDEN'})
    export = staticmethod(export_glb)


class FACESPACE_OT_export_fbx(_ExportHead, bpy.types.Operator):
    bl_idname = "facespace.export_fbx"
    bl_label = S.EXPORT_FBX
    bl_description = S.EXPORT_FBX_TIP
    filename_ext = ".fbx"
    filter_glob: StringProperty(default="*.fbx", options={'HIDDEN'})
    export = staticmethod(export_fbx)


CLASSES = (FACESPACE_OT_export_glb, FACESPACE_OT_export_fbx)
register, unregister = bpy.utils.register_classes_factory(CLASSES)
