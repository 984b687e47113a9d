"""The "Edit face" sliders' properties (obj.facespace_edit, saved in the .blend) and the
Bake / Reset operators. The update callbacks live in sliders.py.

Paths: obj.facespace_edit.<measurement> (mm change, e.g. nose_length), .caricature (0..2,
1 = unchanged), .symmetry (0..1), .use_bound, .bound_percentile; obj["facespace_edit"]
holds the base identity (sd), EditState.to_dict() and the last result.
"""
from __future__ import annotations

import bpy
from bpy.props import BoolProperty, FloatProperty, PointerProperty

from ..ui import strings as S
from . import sliders
from .head_ops import _HeadOperator, active_head

DEFAULT_SOFT_MM = 25.0  # slider range when the model is not installed at registration


def _slider_infos():
    """SliderInfo per measurement when the model is available; otherwise the names only."""
    try:
        from ..engine.editing import measurement_directions
        from .model_cache import get_model
        return {s.name: s for s in measurement_directions(get_model()).sliders()}
    except Exception:  # model not installed yet: generic ranges
        return {}


def _edit_class():
    from ..engine.editing.measure import MEASUREMENTS
    infos = _slider_infos()
    ann = {}
    for m in MEASUREMENTS:
        info = infos.get(m.name)
        lo, hi = (info.soft_min, info.soft_max) if info else (-DEFAULT_SOFT_MM, DEFAULT_SOFT_MM)
        tip = S.EDIT_MEASUREMENT_TIP.format(description=m.description, mean=info.mean_mm, std=info.std_mm) \
            if info else m.description
        ann[m.name] = FloatProperty(name=m.label, description=tip, default=0.0, min=-100.0, max=100.0,
                                    soft_min=lo, soft_max=hi, step=10, precision=1,
                                    update=sliders.on_edit_changed)
    ann["caricature"] = FloatProperty(name=S.EDIT_CARICATURE, description=S.EDIT_CARICATURE_TIP,
                                      default=1.0, min=0.0, max=3.0, soft_max=2.0,
                                      update=sliders.on_edit_changed)
    ann["symmetry"] = FloatProperty(name=S.EDIT_SYMMETRY, description=S.EDIT_SYMMETRY_TIP, default=0.0,
                                    min=0.0, max=1.0, subtype='FACTOR', update=sliders.on_edit_changed)
    ann["use_bound"] = BoolProperty(name=S.EDIT_USE_BOUND, description=S.EDIT_USE_BOUND_TIP, default=False,
                                    update=sliders.on_edit_changed)
    ann["bound_percentile"] = FloatProperty(name=S.EDIT_BOUND, description=S.EDIT_BOUND_TIP, default=99.0,
                                            min=50.0, max=99.99, precision=2, subtype='PERCENTAGE',
                                            update=sliders.on_edit_changed)
    return type("FACESPACE_PG_edit", (bpy.types.PropertyGroup,), {"__annotations__": ann})


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


_classes: list = []


def register():
    _classes[:] = [_edit_class(), FACESPACE_OT_bake_edits, FACESPACE_OT_reset_edits]
    for cls in _classes:
        bpy.utils.register_class(cls)
    bpy.types.Object.facespace_edit = PointerProperty(type=_classes[0])


def unregister():
    del bpy.types.Object.facespace_edit
    for cls in reversed(_classes):
        bpy.utils.unregister_class(cls)
    _classes.clear()
