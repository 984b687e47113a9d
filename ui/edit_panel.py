"""The "Edit Face" slider group (a sub-panel of the head panel, via slider_groups):
measurement sliders in mm, caricature, symmetry, the face-space guard and its bound."""
from __future__ import annotations

from .. import strings as S
from ..common.heads import EDIT_KEY, identity_values
from ..common.model_cache import get_model
from ..engine.editing import face_space_level
from ..engine.editing.measure import NAMES
from . import slider_groups

GROUP_ID = "edit_face"


def draw_edit(layout, context, head):
    props = head.facespace_edit
    try:
        model = get_model()
    except Exception as exc:
        layout.label(text=S.EDIT_MODEL_MISSING.format(error=exc), icon='ERROR')
        return
    reading = face_space_level(identity_values(head).astype(float) * model.identity_std, model)
    box = layout.box()
    icon = {'typical': 'CHECKMARK', 'unusual': 'INFO'}.get(reading.level, 'ERROR')
    box.label(text=S.EDIT_GUARD.format(norm=reading.norm, percentile=reading.percentile,
                                       level=S.EDIT_GUARD_LEVELS.get(reading.level, reading.level)), icon=icon)
    rec = head.get(EDIT_KEY)
    if rec is not None and rec.get("clamped"):
        box.label(text=S.EDIT_CLAMPED, icon='INFO')
    row = box.row(align=True)
    row.prop(props, "use_bound")
    sub = row.row(align=True)
    sub.active = props.use_bound
    sub.prop(props, "bound_percentile", text="")
    col = layout.column(align=True)
    col.prop(props, "caricature", slider=True)
    col.prop(props, "symmetry", slider=True)
    layout.label(text=S.EDIT_MEASUREMENTS)
    col = layout.column(align=True)
    for name in NAMES:
        col.prop(props, name, slider=True)
    row = layout.row(align=True)
    row.operator("facespace.bake_edits", icon='CHECKMARK')
    row.operator("facespace.reset_edits", icon='LOOP_BACK')


def register():
    slider_groups.add_group(GROUP_ID, S.PANEL_EDIT, draw_edit)


def unregister():
    slider_groups.remove_group(GROUP_ID)
