"""View3D > Sidebar > FaceSpace: photo and options, the selected head's sliders, export."""
from __future__ import annotations

import bpy

from .. import strings as S
from ..common.heads import active_head
from . import slider_groups

IDENTITY_GROUP = 10  # identity sliders per collapsible group


class _Panel:
    bl_space_type = 'VIEW_3D'
    bl_region_type = 'UI'
    bl_category = S.CATEGORY


class FACESPACE_PT_main(_Panel, bpy.types.Panel):
    bl_idname = "FACESPACE_PT_main"
    bl_label = S.PANEL_MAIN

    def draw(self, context):
        layout = self.layout
        settings = context.scene.facespace
        job = context.window_manager.facespace_job
        layout.row().prop(settings, "source", expand=True)
        if settings.source == 'FILE':
            layout.prop(settings, "photo_path", text="")
        else:
            layout.template_ID(settings, "photo_image", open="image.open")
        self.draw_faces(layout, settings)
        col = layout.column(align=True)
        col.prop(settings, "texture_size")
        col.prop(settings, "quality")
        col.prop(settings, "device")
        layout.prop(settings, "add_camera")
        if job.running:
            layout.progress(factor=job.progress, type='BAR', text=S.RUNNING.format(status=job.status))
            return
        op = layout.operator("facespace.reconstruct", icon='USER')
        if settings.source == 'FILE':
            op.filepath = settings.photo_path
        elif settings.photo_image is not None:
            op.image_name = settings.photo_image.name
        op.face_index = settings.face_index
        op.texture_size = int(settings.texture_size)
        op.quality = settings.quality
        op.device = settings.device
        op.add_camera = settings.add_camera

    @staticmethod
    def draw_faces(layout, settings):
        current = settings.photo_image.name if settings.source == 'IMAGE' and settings.photo_image \
            else settings.photo_path
        layout.operator("facespace.find_faces", icon='VIEWZOOM')
        if settings.faces_for != current or len(settings.faces) < 2:
            return
        box = layout.box()
        box.label(text=S.FACES_FOUND.format(n=len(settings.faces)))
        col = box.column(align=True)
        for face in settings.faces:
            x0, y0, x1, y1 = face.box
            text = S.FACE_ROW.format(index=face.index, w=round(x1 - x0), h=round(y1 - y0),
                                     x=round(x0), y=round(y0), score=face.score)
            chosen = settings.face_index == face.index or (settings.face_index < 0 and face.index == 0)
            col.operator("facespace.choose_face", text=text, depress=chosen).index = face.index


class FACESPACE_PT_head(_Panel, bpy.types.Panel):
    bl_idname = "FACESPACE_PT_head"
    bl_label = S.PANEL_HEAD

    def draw(self, context):
        layout = self.layout
        obj = active_head(context)
        if obj is None:
            layout.label(text=S.NOT_A_HEAD, icon='INFO')
            return
        props = obj.facespace
        layout.prop(props, "texture_mode", expand=True)
        if props.camera is not None:
            layout.operator("facespace.view_camera", icon='CAMERA_DATA')
        row = layout.row(align=True)
        row.operator("facespace.reset", text=S.RESET_FITTED, icon='LOOP_BACK').target = 'FITTED'
        row.operator("facespace.reset", text=S.RESET_MEAN, icon='X').target = 'MEAN'
        row = layout.row(align=True)
        row.operator("facespace.randomise", icon='MOD_NOISE')
        row.operator("facespace.symmetrise", icon='MOD_MIRROR')
        layout.operator("facespace.mix_heads", icon='MOD_DATA_TRANSFER')


class _HeadSubPanel(_Panel):
    bl_parent_id = "FACESPACE_PT_head"

    @classmethod
    def poll(cls, context):
        return active_head(context) is not None


class FACESPACE_PT_identity(_HeadSubPanel, bpy.types.Panel):
    bl_idname = "FACESPACE_PT_identity"
    bl_label = S.PANEL_IDENTITY

    def draw(self, context):
        props = active_head(context).facespace
        items = props.identity
        for g, first in enumerate(range(0, len(items), IDENTITY_GROUP)):
            last = min(first + IDENTITY_GROUP, len(items)) - 1
            box = self.layout.box()
            is_open = props.groups_open[g] if g < len(props.groups_open) else False
            box.prop(props, "groups_open", index=g, emboss=False,
                     icon='DOWNARROW_HLT' if is_open else 'RIGHTARROW',
                     text=S.GROUP_LABEL.format(first=first, last=last))
            if is_open:
                col = box.column(align=True)
                for k in range(first, last + 1):
                    col.prop(items[k], "value", text=S.IDENTITY_SLIDER.format(index=k), slider=True)


class FACESPACE_PT_expressions(_HeadSubPanel, bpy.types.Panel):
    bl_idname = "FACESPACE_PT_expressions"
    bl_label = S.PANEL_EXPRESSIONS
    bl_options = {'DEFAULT_CLOSED'}

    def draw(self, context):
        obj = active_head(context)
        self.layout.operator("facespace.neutral", icon='X')
        key = obj.data.shape_keys
        if key is None:
            return
        col = self.layout.column(align=True)
        for kb in key.key_blocks[1:]:
            col.prop(kb, "value", text=kb.name, slider=True)


class FACESPACE_PT_export(_Panel, bpy.types.Panel):
    bl_idname = "FACESPACE_PT_export"
    bl_label = S.PANEL_EXPORT
    bl_options = {'DEFAULT_CLOSED'}

    @classmethod
    def poll(cls, context):
        return active_head(context) is not None

    def draw(self, context):
        col = self.layout.column(align=True)
        col.operator("facespace.export_glb", icon='EXPORT')
        col.operator("facespace.export_fbx", icon='EXPORT')


def _group_panel(idname, label, draw):
    """A sub-panel class for a slider group from slider_groups.GROUPS."""
    def draw_panel(self, context):
        draw(self.layout, context, active_head(context))
    return type(f"FACESPACE_PT_group_{idname}", (_HeadSubPanel, bpy.types.Panel), {
        "bl_idname": f"FACESPACE_PT_group_{idname}", "bl_label": label,
        "bl_options": {'DEFAULT_CLOSED'}, "draw": draw_panel})


STATIC = (FACESPACE_PT_main, FACESPACE_PT_head, FACESPACE_PT_identity, FACESPACE_PT_expressions)
_registered: list = []


def register():
    _registered[:] = list(STATIC) + [_group_panel(*g) for g in slider_groups.GROUPS] + [FACESPACE_PT_export]
    for cls in _registered:
        bpy.utils.register_class(cls)


def unregister():
    for cls in reversed(_registered):
        bpy.utils.unregister_class(cls)
    _registered.clear()
