"""Mix the selected FaceSpace heads area by area (engine.editing.mix_heads) into a NEW head.

From a script: bpy.ops.facespace.mix_heads(eyes="Head A", nose="Head B", ...); an area left
at 'EVEN' takes all selected heads equally. One undo step; nothing is built on error.
"""
from __future__ import annotations

import bpy
import numpy as np
from bpy.props import BoolProperty, EnumProperty

from .. import strings as S
from ..common.heads import is_head
from ..common.model_cache import get_model
from ..engine.editing import AREA_LABELS, AREAS, mix_heads
from . import materials, sliders
from .mesh import build_head

EVEN = "EVEN"
_items_cache: list = []  # Blender needs the dynamic enum strings kept alive


def selected_heads(context) -> list:
    """Selected FaceSpace heads, by name (the active one included)."""
    objs = {o.name: o for o in context.selected_objects if is_head(o)}
    return [objs[n] for n in sorted(objs)]


def _head_items(self, context):
    heads = selected_heads(context) if context is not None else []
    items = [(EVEN, S.MIX_EVEN, S.MIX_EVEN_TIP)] + [(o.name, o.name, S.MIX_AREA_TIP) for o in heads]
    _items_cache[:] = items
    return _items_cache


def head_texture(obj):
    """The head's photo texture as (S, S, 3) uint8 (row 0 at the top), or None."""
    for slot in obj.material_slots:
        mat = slot.material
        if mat and mat.use_nodes:
            node = mat.node_tree.nodes.get(materials.PHOTO_NODE)
            if node is not None and node.image is not None and node.image.size[0] > 0:
                w, h = node.image.size
                px = np.empty(w * h * 4, np.float32)
                node.image.pixels.foreach_get(px)
                rgb = px.reshape(h, w, 4)[::-1, :, :3]
                return np.clip(np.round(rgb * 255.0), 0, 255).astype(np.uint8)
    return None


def _area_prop(area):
    return EnumProperty(name=AREA_LABELS[area], description=S.MIX_AREA_TIP, items=_head_items)


class FACESPACE_OT_mix_heads(bpy.types.Operator):
    bl_idname = "facespace.mix_heads"
    bl_label = S.MIX_HEADS
    bl_description = S.MIX_HEADS_TIP
    bl_options = {'REGISTER', 'UNDO'}

    __annotations__ = {area: _area_prop(area) for area in AREAS}
    __annotations__["mix_texture"] = BoolProperty(name=S.MIX_TEXTURE, description=S.MIX_TEXTURE_TIP,
                                                  default=True)

    @classmethod
    def poll(cls, context):
        return context.mode == 'OBJECT'

    def invoke(self, context, event):
        if len(selected_heads(context)) < 2:
            self.report({'ERROR'}, S.MIX_NEED_TWO)
            return {'CANCELLED'}
        return context.window_manager.invoke_props_dialog(self)

    def draw(self, context):
        col = self.layout.column()
        for area in AREAS:
            col.prop(self, area)
        col.prop(self, "mix_texture")

    def execute(self, context):
        heads = selected_heads(context)
        if len(heads) < 2:
            self.report({'ERROR'}, S.MIX_NEED_TWO)
            return {'CANCELLED'}
        if len({h.facespace.model_id for h in heads}) > 1:
            self.report({'ERROR'}, S.MIX_OTHER_MODEL)
            return {'CANCELLED'}
        names = [h.name for h in heads]
        weights = {}
        for area in AREAS:
            choice = getattr(self, area)
            if choice == EVEN:
                continue
            if choice not in names:
                self.report({'ERROR'}, S.MIX_UNKNOWN_HEAD.format(name=choice))
                return {'CANCELLED'}
            weights[area] = [1.0 if n == choice else 0.0 for n in names]
        try:
            model = get_model()
            std = np.asarray(model.identity_std, np.float64)
            identities = np.stack([sliders.identity_values(h).astype(np.float64) * std for h in heads])
            expressions = np.stack([sliders.expression_values(h).astype(np.float64) for h in heads])
            textures = None
            if self.mix_texture:
                textures = [head_texture(h) for h in heads]
                if any(t is None for t in textures) or len({t.shape for t in textures}) != 1:
                    textures = None
            result = mix_heads(identities, weights, model, expressions=expressions, textures=textures)
            head, _ = build_head(context, model, result.identity / std, result.expression,
                                 name=S.MIX_NAME, texture=result.texture)
        except Exception as exc:  # build_head removes what it made; nothing half-built
            self.report({'ERROR'}, S.MIX_FAILED.format(error=exc))
            return {'CANCELLED'}
        head["facespace_mix"] = {"heads": names, "weights": {a: list(w) for a, w in weights.items()},
                                 "projection_rms_mm": float(result.projection_rms_mm)}
        self.report({'INFO'}, S.MIX_DONE.format(name=head.name, rms=result.projection_rms_mm))
        return {'FINISHED'}


CLASSES = (FACESPACE_OT_mix_heads,)
register, unregister = bpy.utils.register_classes_factory(CLASSES)
