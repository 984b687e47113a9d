"""The head panel's "Track Video" sub-panel: track a video onto the active head, import a Live
Link Face CSV, the running job's progress and what the last track did."""
from __future__ import annotations

import os

import bpy

from .. import strings as S
from ..common.heads import TRACK_KEY, active_head


class FACESPACE_PT_track(bpy.types.Panel):
    bl_space_type = 'VIEW_3D'
    bl_region_type = 'UI'
    bl_category = S.CATEGORY
    bl_parent_id = "FACESPACE_PT_head"
    bl_idname = "FACESPACE_PT_track"
    bl_label = S.PANEL_TRACK
    bl_options = {'DEFAULT_CLOSED'}

    @classmethod
    def poll(cls, context):
        return active_head(context) is not None

    def draw(self, context):
        layout = self.layout
        job = context.window_manager.facespace_job
        if job.running:
            layout.progress(factor=job.progress, type='BAR', text=S.RUNNING.format(status=job.status))
        else:
            layout.operator("facespace.track_video", icon='FILE_MOVIE')
        layout.operator("facespace.import_live_link", icon='IMPORT')
        rec = active_head(context).get(TRACK_KEY)
        if rec is not None:
            frames = len(rec.get("frames", ()))
            layout.label(text=S.TRACK_LAST.format(video=os.path.basename(str(rec.get("video", ""))),
                                                  keyed=rec.get("keyed", 0), frames=frames,
                                                  fps=float(rec.get("fps", 0.0))), icon='INFO')


CLASSES = (FACESPACE_PT_track,)
register, unregister = bpy.utils.register_classes_factory(CLASSES)
