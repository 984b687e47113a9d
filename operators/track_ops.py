"""bpy.ops.facespace.track_video: a video of a face drives the active head's 53 shape keys and its
pose (or a camera's), with the clip as the camera's background movie. From the UI: a file
browser (a video file, or a folder of frames: confirm inside the folder with no file chosen),
then a background thread (progress in the panel and status bar, Esc cancels); from a script
with `filepath` set: synchronous (EXEC). Errors are reported in artist words, nothing
half-built stays, one undo step.

bpy.ops.facespace.import_live_link: a Live Link Face CSV (Epic's iOS app) keyframes the
active head's shape keys (and its rotation when the CSV has head angles)."""
from __future__ import annotations

import os
import time
import traceback

import bpy
from bpy.props import BoolProperty, EnumProperty, FloatProperty, IntProperty, StringProperty

from .. import strings as S
from ..common.heads import active_head
from ..common.model_cache import get_model
from ..engine.core.errors import Cancelled, FaceSpaceError
from . import track_anim, track_jobs

_active_job = None  # one tracking run at a time


def _redraw(context):
    for area in context.screen.areas if context.screen else ():
        if area.type in {'VIEW_3D', 'DOPESHEET_EDITOR', 'GRAPH_EDITOR'}:
            area.tag_redraw()


def _video_path(filepath: str, directory: str = "") -> str:
    """The chosen video: a file, else the folder (a browser confirmed with no file selected)."""
    path = bpy.path.abspath(filepath) if filepath else ""
    if (not path or path.endswith(("/", "\\"))) and directory:
        path = bpy.path.abspath(directory)
    if path and os.path.isdir(path):
        path = path.rstrip("/\\") or path
    return path


class FACESPACE_OT_track_video(bpy.types.Operator):
    bl_idname = "facespace.track_video"
    bl_label = S.TRACK_VIDEO
    bl_description = S.TRACK_VIDEO_TIP
    bl_options = {'REGISTER', 'UNDO'}

    filepath: StringProperty(name=S.TRACK_VIDEO_PATH, description=S.TRACK_VIDEO_PATH_TIP, subtype='FILE_PATH')
    directory: StringProperty(subtype='DIR_PATH', options={'HIDDEN', 'SKIP_SAVE'})
    filter_glob: StringProperty(default=S.TRACK_VIDEO_GLOB, options={'HIDDEN'})
    filter_movie: BoolProperty(default=True, options={'HIDDEN'})
    filter_image: BoolProperty(default=True, options={'HIDDEN'})
    filter_folder: BoolProperty(default=True, options={'HIDDEN'})
    animate: EnumProperty(name=S.TRACK_ANIMATE, description=S.TRACK_ANIMATE_TIP, items=S.TRACK_ANIMATE_ITEMS,
                          default='HEAD')
    max_frames: IntProperty(name=S.TRACK_MAX_FRAMES, description=S.TRACK_MAX_FRAMES_TIP, default=0, min=0)
    step: IntProperty(name=S.TRACK_STEP, description=S.TRACK_STEP_TIP, default=1, min=1, max=100)
    smooth: BoolProperty(name=S.TRACK_SMOOTH, description=S.TRACK_SMOOTH_TIP, default=True)
    fps: FloatProperty(name=S.TRACK_FPS, description=S.TRACK_FPS_TIP, default=0.0, min=0.0, max=1000.0)
    frame_start: IntProperty(name=S.TRACK_FRAME_START, description=S.TRACK_FRAME_START_TIP, default=1)
    load_clip: BoolProperty(name=S.TRACK_LOAD_CLIP, description=S.TRACK_LOAD_CLIP_TIP, default=True)

    @classmethod
    def poll(cls, context):
        if active_head(context) is None:
            cls.poll_message_set(S.TRACK_NEED_HEAD)
            return False
        return True

    def draw(self, context):  # the file browser's side panel
        layout = self.layout
        layout.use_property_split = True
        for name in ("animate", "max_frames", "step", "smooth", "fps", "frame_start", "load_clip"):
            layout.prop(self, name)

    # ---- shared --------------------------------------------------------------------
    def _prepare(self, context):
        """(head, video, model, head params, options) or None after reporting why not."""
        head = active_head(context)
        if head is None:
            self.report({'ERROR'}, S.TRACK_NEED_HEAD)
            return None
        video = _video_path(self.filepath, self.directory)
        if not video:
            self.report({'ERROR'}, S.TRACK_NO_VIDEO)
            return None
        if head.data.shape_keys is None:
            self.report({'ERROR'}, S.TRACK_NO_SHAPE_KEYS.format(name=head.name))
            return None
        try:
            model = get_model()
            if head.facespace.model_id and head.facespace.model_id != model.id:
                raise FaceSpaceError(S.MODEL_MISMATCH.format(stored=head.facespace.model_id, loaded=model.id))
            options = track_jobs.track_options(self.max_frames, self.step, self.smooth)
        except FaceSpaceError as exc:
            self.report({'ERROR'}, str(exc))
            return None
        return head, video, model, track_jobs.head_params(head), options

    def _finish(self, context, head, video, track):
        try:  # deleted (or undone) while the job ran: the Python object no longer points anywhere
            gone = head is None or bpy.data.objects.get(head.name) != head
        except ReferenceError:
            gone = True
        if gone:
            self.report({'ERROR'}, S.TRACK_HEAD_GONE)
            return {'CANCELLED'}
        try:
            record = track_anim.apply_track(context, head, track, video, animate=self.animate,
                                            frame_start=self.frame_start, load_clip=self.load_clip)
        except FaceSpaceError as exc:
            self.report({'ERROR'}, str(exc))
            return {'CANCELLED'}
        except Exception as exc:
            traceback.print_exc()
            self.report({'ERROR'}, S.TRACK_UNEXPECTED.format(error=exc))
            return {'CANCELLED'}
        n, keyed = len(record["frames"]), record["keyed"]
        msg = S.TRACK_DONE.format(name=head.name, keyed=keyed, frames=n, seconds=time.perf_counter() - self._t0)
        if keyed < n:
            self.report({'WARNING'}, msg + S.TRACK_DONE_GAPS.format(missing=n - keyed))
        else:
            self.report({'INFO'}, msg)
        return {'FINISHED'}

    def _fail(self, exc):
        if isinstance(exc, Cancelled):
            self.report({'WARNING'}, S.TRACK_CANCELLED)
        elif isinstance(exc, FaceSpaceError):
            self.report({'ERROR'}, str(exc))
        else:
            self.report({'ERROR'}, S.TRACK_UNEXPECTED.format(error=exc))
        return {'CANCELLED'}

    # ---- synchronous (scripts), or after the file browser (modal) -------------------
    def execute(self, context):
        if getattr(self, "_browsing", False):  # the file browser confirmed: run in the background
            return self._start_modal(context)
        self._t0 = time.perf_counter()
        prepared = self._prepare(context)
        if prepared is None:
            return {'CANCELLED'}
        head, video, model, params, options = prepared
        try:
            track = track_jobs.run_track(video, model, params, options, self.fps)
        except Exception as exc:
            if not isinstance(exc, FaceSpaceError):
                traceback.print_exc()
            return self._fail(exc)
        return self._finish(context, head, video, track)

    # ---- modal (UI) -----------------------------------------------------------------
    def invoke(self, context, event):
        if _active_job is not None or context.window_manager.facespace_job.running:
            self.report({'WARNING'}, S.TRACK_ALREADY_RUNNING)
            return {'CANCELLED'}
        if not _video_path(self.filepath, self.directory):
            self._browsing = True
            context.window_manager.fileselect_add(self)
            return {'RUNNING_MODAL'}
        return self._start_modal(context)

    def _start_modal(self, context):
        global _active_job
        self._browsing = False
        self._t0 = time.perf_counter()
        prepared = self._prepare(context)
        if prepared is None:
            return {'CANCELLED'}
        self._head, self._video, model, params, options = prepared
        self._job = _active_job = track_jobs.TrackJob(self._video, model, params, options, self.fps).start()
        wm = context.window_manager
        wm.facespace_job.running, wm.facespace_job.progress = True, 0.0
        wm.facespace_job.status = S.STATUS_STARTING
        self._timer = wm.event_timer_add(0.1, window=context.window)
        wm.modal_handler_add(self)
        return {'RUNNING_MODAL'}

    def _show(self, context, status, frac):
        job = context.window_manager.facespace_job
        job.status, job.progress = status, frac
        if context.workspace is not None:
            context.workspace.status_text_set(S.STATUS_BAR.format(status=status, percent=100 * frac))
        _redraw(context)

    def _cleanup(self, context):
        global _active_job
        _active_job = None
        wm = context.window_manager
        wm.event_timer_remove(self._timer)
        wm.facespace_job.running = False
        wm.facespace_job.status, wm.facespace_job.progress = "", 0.0
        if context.workspace is not None:
            context.workspace.status_text_set(None)
        _redraw(context)

    def modal(self, context, event):
        job = self._job
        if event.type == 'ESC' and event.value == 'PRESS':
            job.cancel.set()  # the engine stops at its next frame
        if event.type != 'TIMER':
            return {'RUNNING_MODAL'} if event.type == 'ESC' else {'PASS_THROUGH'}
        if not job.done:
            self._show(context, job.status or S.STATUS_STARTING, job.progress)
            return {'RUNNING_MODAL'}
        self._cleanup(context)
        if job.error is not None:
            return self._fail(job.error)
        return self._finish(context, self._head, self._video, job.result)

    def cancel(self, context):  # Blender quits or the window closes mid-job
        job = getattr(self, "_job", None)
        if job is not None:
            job.cancel.set()
            self._cleanup(context)


class FACESPACE_OT_import_live_link(bpy.types.Operator):
    bl_idname = "facespace.import_live_link"
    bl_label = S.LIVE_LINK_IMPORT
    bl_description = S.LIVE_LINK_IMPORT_TIP
    bl_options = {'REGISTER', 'UNDO'}

    filepath: StringProperty(name=S.LIVE_LINK_PATH, description=S.LIVE_LINK_PATH_TIP, subtype='FILE_PATH')
    filter_glob: StringProperty(default="*.csv", options={'HIDDEN'})
    fps: FloatProperty(name=S.TRACK_FPS, description=S.LIVE_LINK_FPS_TIP, default=0.0, min=0.0, max=1000.0)
    frame_start: IntProperty(name=S.TRACK_FRAME_START, description=S.TRACK_FRAME_START_TIP, default=1)
    rotation: BoolProperty(name=S.LIVE_LINK_ROTATION, description=S.LIVE_LINK_ROTATION_TIP, default=True)
    set_scene: BoolProperty(name=S.LIVE_LINK_SET_SCENE, description=S.LIVE_LINK_SET_SCENE_TIP, default=True)

    @classmethod
    def poll(cls, context):
        if active_head(context) is None:
            cls.poll_message_set(S.TRACK_NEED_HEAD)
            return False
        return True

    def invoke(self, context, event):
        if not self.filepath:
            context.window_manager.fileselect_add(self)
            return {'RUNNING_MODAL'}
        return self.execute(context)

    def execute(self, context):
        head = active_head(context)
        if head is None:
            self.report({'ERROR'}, S.TRACK_NEED_HEAD)
            return {'CANCELLED'}
        if not self.filepath:
            self.report({'ERROR'}, S.LIVE_LINK_NO_FILE)
            return {'CANCELLED'}
        if head.data.shape_keys is None:
            self.report({'ERROR'}, S.TRACK_NO_SHAPE_KEYS.format(name=head.name))
            return {'CANCELLED'}
        from ..engine.io.arkit import ICT_NAMES, read_live_link_csv
        try:
            take = read_live_link_csv(bpy.path.abspath(self.filepath), fps=self.fps or None,
                                      ict_names=list(ICT_NAMES))
            summary = track_anim.apply_live_link(context, head, take, frame_start=self.frame_start,
                                                 rotation=self.rotation, set_scene=self.set_scene)
        except FaceSpaceError as exc:
            self.report({'ERROR'}, str(exc))
            return {'CANCELLED'}
        except Exception as exc:
            traceback.print_exc()
            self.report({'ERROR'}, S.LIVE_LINK_FAILED.format(error=exc))
            return {'CANCELLED'}
        self.report({'INFO'}, S.LIVE_LINK_DONE.format(frames=summary["frames"], name=head.name,
                                                      fps=summary["fps"]))
        return {'FINISHED'}


CLASSES = (FACESPACE_OT_track_video, FACESPACE_OT_import_live_link)
register, unregister = bpy.utils.register_classes_factory(CLASSES)
