"""Head editing operators: reset, randomise, symmetrise, neutral expression, look through
the photo's camera (or one of several photos' cameras), and the Edit Face panel's Bake / Reset Edits."""
from __future__ import annotations

import bpy
import numpy as np
from bpy.props import EnumProperty, FloatProperty, IntProperty

from .. import strings as S
from ..common.heads import FIT_KEY, active_head
from ..common.model_cache import get_model
from . import sliders
from .camera import match_render_size


class _HeadOperator:
    bl_options = {'REGISTER', 'UNDO'}

    @classmethod
    def poll(cls, context):
        return active_head(context) is not None


class FACESPACE_OT_reset(_HeadOperator, bpy.types.Operator):
    bl_idname = "facespace.reset"
    bl_label = S.RESET
    bl_description = S.RESET_TIP
    target: EnumProperty(name=S.RESET_TARGET, items=[
        ('FITTED', S.RESET_FITTED, S.RESET_FITTED_TIP), ('MEAN', S.RESET_MEAN, S.RESET_MEAN_TIP)],
        default='FITTED')

    def execute(self, context):
        obj = active_head(context)
        n_id = len(obj.facespace.identity)
        fit = obj.get(FIT_KEY)
        if self.target == 'FITTED' and fit is not None:
            identity = np.asarray(fit["identity"], np.float32)
            expression = np.asarray(fit["expression"], np.float32)
        else:
            identity = np.zeros(n_id, np.float32)
            expression = np.zeros(len(obj.data.shape_keys.key_blocks) - 1, np.float32)
        sliders.set_identity_values(obj, identity)
        sliders.set_expression_values(obj, expression)
        return {'FINISHED'}


class FACESPACE_OT_randomise(_HeadOperator, bpy.types.Operator):
    bl_idname = "facespace.randomise"
    bl_label = S.RANDOMISE
    bl_description = S.RANDOMISE_TIP
    spread: FloatProperty(name=S.RANDOMISE_SPREAD, description=S.RANDOMISE_SPREAD_TIP,
                          default=1.0, min=0.0, max=3.0)
    seed: IntProperty(name=S.RANDOMISE_SEED, description=S.RANDOMISE_SEED_TIP, default=0, min=0)

    def execute(self, context):
        sliders.randomise(active_head(context), self.spread, self.seed or None)
        return {'FINISHED'}


class FACESPACE_OT_symmetrise(_HeadOperator, bpy.types.Operator):
    bl_idname = "facespace.symmetrise"
    bl_label = S.SYMMETRISE
    bl_description = S.SYMMETRISE_TIP

    def execute(self, context):
        try:
            model = get_model()
        except Exception as exc:  # model missing or damaged: say what to do
            self.report({'ERROR'}, str(exc))
            return {'CANCELLED'}
        sliders.symmetrise(active_head(context), model)
        return {'FINISHED'}


class FACESPACE_OT_neutral(_HeadOperator, bpy.types.Operator):
    bl_idname = "facespace.neutral"
    bl_label = S.CLEAR_EXPRESSIONS
    bl_description = S.CLEAR_EXPRESSIONS_TIP

    def execute(self, context):
        obj = active_head(context)
        sliders.set_expression_values(obj, np.zeros(len(obj.data.shape_keys.key_blocks) - 1))
        return {'FINISHED'}


class FACESPACE_OT_view_camera(_HeadOperator, bpy.types.Operator):
    bl_idname = "facespace.view_camera"
    bl_label = S.SELECT_CAMERA
    bl_description = S.SELECT_CAMERA_TIP
    bl_options = {'REGISTER'}

    @classmethod
    def poll(cls, context):
        obj = active_head(context)
        return obj is not None and obj.facespace.camera is not None

    def execute(self, context):
        context.scene.camera = active_head(context).facespace.camera
        if context.area and context.area.type == 'VIEW_3D':
            context.area.spaces.active.region_3d.view_perspective = 'CAMERA'
        return {'FINISHED'}


class FACESPACE_OT_view_photo(_HeadOperator, bpy.types.Operator):
    """Look through the camera of one of the head's photos (several photos): it becomes the
    scene camera, and the render takes that photo's size."""
    bl_idname = "facespace.view_photo"
    bl_label = S.VIEW_PHOTO
    bl_description = S.VIEW_PHOTO_TIP
    bl_options = {'REGISTER', 'INTERNAL'}
    index: IntProperty(default=0, min=0)

    @classmethod
    def poll(cls, context):
        obj = active_head(context)
        return obj is not None and len(obj.facespace.views) > 0

    def execute(self, context):
        views = active_head(context).facespace.views
        if self.index >= len(views) or views[self.index].camera is None:
            self.report({'ERROR'}, S.VIEW_NO_CAMERA)
            return {'CANCELLED'}
        view = views[self.index]
        context.scene.camera = view.camera
        if view.image is not None and view.image.size[0] > 0:
            match_render_size(context.scene, tuple(view.image.size))
        if context.area and context.area.type == 'VIEW_3D':
            context.area.spaces.active.region_3d.view_perspective = 'CAMERA'
        return {'FINISHED'}


class FACESPACE_OT_bake_edits(_HeadOperator, bpy.types.Operator):
    bl_idname = "facespace.bake_edits"
    bl_label = S.EDIT_BAKE
    bl_description = S.EDIT_BAKE_TIP

    def execute(self, context):
        sliders.bake_edits(active_head(context))
        return {'FINISHED'}


class FACESPACE_OT_reset_edits(_HeadOperator, bpy.types.Operator):
    bl_idname = "facespace.reset_edits"
    bl_label = S.EDIT_RESET
    bl_description = S.EDIT_RESET_TIP

    def execute(self, context):
        sliders.reset_edits(active_head(context))
        return {'FINISHED'}


CLASSES = (FACESPACE_OT_reset, FACESPACE_OT_randomise, FACESPACE_OT_symmetrise,
           FACESPACE_OT_neutral, FACESPACE_OT_view_camera, FACESPACE_OT_view_photo,
           FACESPACE_OT_bake_edits,
           FACESPACE_OT_reset_edits)
register, unregister = bpy.utils.register_classes_factory(CLASSES)
