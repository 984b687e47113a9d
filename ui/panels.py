"""View3D > Sidebar > FaceSpace: photo and options, the selected head's sliders, export."""
from __future__ import annotations

import os

import bpy

from .. import strings as S
from ..common.heads import FIT_KEY, active_head
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
        many = settings.source == 'MANY'
        if settings.source == 'FILE':
            layout.prop(settings, "photo_path", text="")
        elif many:
            self.draw_photo_list(layout, settings)
        else:
            layout.template_ID(settings, "photo_image", open="image.open")
        if not many:
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
        if many:
            op.use_photo_list = True
        elif settings.source == 'FILE':
            op.filepath = settings.photo_path
        elif settings.photo_image is not None:
            op.image_name = settings.photo_image.name
        op.face_index = settings.face_index
        op.texture_size = int(settings.texture_size)
        op.quality = settings.quality
        op.device = settings.device
        op.add_camera = settings.add_camera

    @staticmethod
    def draw_photo_list(layout, settings):
        """Several photos of one person: files (the browser takes several) or .blend images."""
        box = layout.box()
        col = box.column(align=True)
        for i, item in enumerate(settings.photos):
            row = col.row(align=True)
            if item.path and item.image is None:
                row.prop(item, "path", text="")
            else:
                row.prop(item, "image", text="")
            row.operator("facespace.photo_list_remove", text="", icon='X').index = i
        row = box.row(align=True)
        row.operator("facespace.photo_list_add", icon='FILEBROWSER')
        row.operator("facespace.photo_list_add_image", icon='IMAGE_DATA')
        n = len(settings.photos)
        box.label(text=S.PHOTO_LIST_COUNT.format(n=n) if n >= 2 else S.PHOTO_LIST_EMPTY, icon='INFO')

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
        if props.camera is not None and len(props.views) < 2:
            layout.operator("facespace.view_camera", icon='CAMERA_DATA')
        self.draw_views(layout, context, obj)
        row = layout.row(align=True)
        row.operator("facespace.reset", text=S.RESET_FITTED, icon='LOOP_BACK').target = 'FITTED'
        row.operator("facespace.reset", text=S.RESET_MEAN, icon='X').target = 'MEAN'
        row = layout.row(align=True)
        row.operator("facespace.randomise", icon='MOD_NOISE')
        row.operator("facespace.symmetrise", icon='MOD_MIRROR')
        layout.operator("facespace.mix_heads", icon='MOD_DATA_TRANSFER')

    @staticmethod
    def draw_views(layout, context, obj):
        """Several photos: each photo (its camera, its landmark residual), the photos left out
        and why, the engine's warnings; and Add Photo."""
        props = obj.facespace
        fit = obj.get(FIT_KEY)
        left_out = list(fit.get("photos_left_out", [])) if fit is not None else []
        warnings = [str(w) for w in fit.get("warnings", [])] if fit is not None else []
        if len(props.views) or left_out or warnings:
            box = layout.box()
            box.label(text=S.VIEWS.format(n=len(props.views)), icon='IMAGE_DATA')
            col = box.column(align=True)
            for i, view in enumerate(props.views):
                text = (S.VIEW_REFERENCE if i == props.reference_view else S.VIEW_ROW).format(
                    name=view.name, residual=view.residual_px)
                shown = view.camera is not None and context.scene.camera == view.camera
                col.operator("facespace.view_photo", text=text, depress=shown,
                             icon='CAMERA_DATA' if view.camera is not None else 'IMAGE_DATA').index = i
            for entry in left_out:
                source = str(entry.get("source", ""))
                box.label(text=S.LEFT_OUT.format(name=os.path.basename(source) or source), icon='ERROR')
                box.label(text=str(entry.get("reason", "")))
            for text in warnings:
                box.label(text=S.WARNING_LABEL.format(text=text), icon='ERROR')
        settings = context.scene.facespace
        row = layout.row(align=True)
        row.enabled = not context.window_manager.facespace_job.running
        row.prop(settings, "add_photo_path", text="")
        op = row.operator("facespace.add_photo", icon='ADD')
        op.filepath = settings.add_photo_path
        op.quality = settings.quality
        op.device = settings.device


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
