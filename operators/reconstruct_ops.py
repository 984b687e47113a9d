"""bpy.ops.facespace.reconstruct: photo -> head. Modal with a background thread from the UI
(progress in the panel and status bar, Esc cancels); synchronous when called from a script
(EXEC), e.g. headless. Errors are reported, nothing half-built stays, one undo step."""
from __future__ import annotations

import time
import traceback

import bpy
from bpy.props import BoolProperty, EnumProperty, IntProperty, StringProperty

from .. import strings as S
from ..common.extension import prefs as addon_prefs
from ..common.model_cache import get_model
from ..engine.core.errors import Cancelled, FaceSpaceError
from . import jobs
from .mesh import head_from_result, head_name

_active_job = None  # one reconstruction at a time


def resolve_device(context, device: str) -> str:
    if device != "DEFAULT":
        return device
    prefs = addon_prefs(context)
    return prefs.device if prefs is not None else "auto"


def _redraw(context):
    for area in context.screen.areas if context.screen else ():
        if area.type == 'VIEW_3D':
            area.tag_redraw()


class FACESPACE_OT_reconstruct(bpy.types.Operator):
    bl_idname = "facespace.reconstruct"
    bl_label = S.RECONSTRUCT
    bl_description = S.RECONSTRUCT_TIP
    bl_options = {'REGISTER', 'UNDO'}

    filepath: StringProperty(name=S.PHOTO_PATH, description=S.PHOTO_PATH_TIP, subtype='FILE_PATH')
    image_name: StringProperty(name=S.PHOTO_IMAGE, description=S.PHOTO_IMAGE_TIP)
    face_index: IntProperty(name=S.FACE_INDEX, description=S.FACE_INDEX_TIP, default=-1, min=-1)
    texture_size: IntProperty(name=S.TEXTURE_SIZE, description=S.TEXTURE_SIZE_TIP,
                              default=1024, min=64, max=8192)
    quality: EnumProperty(name=S.QUALITY, description=S.QUALITY_TIP, items=S.QUALITIES, default="balanced")
    device: EnumProperty(name=S.DEVICE, description=S.DEVICE_TIP,
                         items=[("DEFAULT", S.DEVICE_DEFAULT, S.DEVICE_DEFAULT_TIP)] + S.DEVICES,
                         default="DEFAULT")
    add_camera: BoolProperty(name=S.ADD_CAMERA, description=S.ADD_CAMERA_TIP, default=True)

    # ---- shared --------------------------------------------------------------------
    def _prepare(self, context):
        """(source, image, model, options) or None after reporting why not."""
        image = bpy.data.images.get(self.image_name) if self.image_name else None
        if image is None and not self.filepath:
            self.report({'ERROR'}, S.NO_PHOTO)
            return None
        try:
            model = get_model()
            source = jobs.photo_source(image, self.filepath)
            options = jobs.engine_options(self.face_index, self.texture_size, self.quality,
                                          resolve_device(context, self.device))
        except FaceSpaceError as exc:
            self.report({'ERROR'}, str(exc))
            return None
        return source, image, model, options

    def _finish(self, context, model, rec, image):
        try:
            obj = head_from_result(
                context, model, rec, name=head_name(self.filepath, image), photo_image=image,
                add_camera=self.add_camera, photo_path=self.filepath or (image.filepath if image else ""))
        except FaceSpaceError as exc:
            self.report({'ERROR'}, str(exc))
            return {'CANCELLED'}
        except Exception as exc:
            traceback.print_exc()
            self.report({'ERROR'}, S.UNEXPECTED.format(error=exc))
            return {'CANCELLED'}
        self.report({'INFO'}, S.DONE.format(name=obj.name, seconds=time.perf_counter() - self._t0))
        return {'FINISHED'}

    def _fail(self, exc):
        if isinstance(exc, Cancelled):
            self.report({'WARNING'}, S.CANCELLED)
        elif isinstance(exc, FaceSpaceError):
            self.report({'ERROR'}, str(exc))
        else:
            self.report({'ERROR'}, S.UNEXPECTED.format(error=exc))
        return {'CANCELLED'}

    # ---- synchronous (scripts, headless) ---------------------------------------------
    def execute(self, context):
        self._t0 = time.perf_counter()
        prepared = self._prepare(context)
        if prepared is None:
            return {'CANCELLED'}
        source, image, model, options = prepared
        try:
            rec = jobs.run_reconstruct(source, model, options)
        except Exception as exc:
            if not isinstance(exc, FaceSpaceError):
                traceback.print_exc()
            return self._fail(exc)
        return self._finish(context, model, rec, image)

    # ---- modal (UI) -----------------------------------------------------------------
    def invoke(self, context, event):
        global _active_job
        if _active_job is not None:
            self.report({'WARNING'}, S.ALREADY_RUNNING)
            return {'CANCELLED'}
        self._t0 = time.perf_counter()
        prepared = self._prepare(context)
        if prepared is None:
            return {'CANCELLED'}
        source, self._image, self._model, options = prepared
        self._job = _active_job = jobs.ReconstructJob(source, self._model, options).start()
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
            job.cancel.set()  # the engine stops at its next check
        if event.type != 'TIMER':
            return {'RUNNING_MODAL'} if event.type == 'ESC' else {'PASS_THROUGH'}
        if not job.done:
            self._show(context, job.status or S.STATUS_STARTING, job.progress)
            return {'RUNNING_MODAL'}
        self._cleanup(context)
        if job.error is not None:
            return self._fail(job.error)
        return self._finish(context, self._model, job.result, self._image)

    def cancel(self, context):  # Blender quits or the window closes mid-job
        self._job.cancel.set()
        self._cleanup(context)


class FACESPACE_OT_find_faces(bpy.types.Operator):
    """List the faces in the chosen photo so the artist can pick one."""
    bl_idname = "facespace.find_faces"
    bl_label = S.FIND_FACES
    bl_description = S.FIND_FACES_TIP
    bl_options = {'REGISTER'}

    def execute(self, context):
        settings = context.scene.facespace
        image = settings.photo_image if settings.source == 'IMAGE' else None
        if image is None and not settings.photo_path:
            self.report({'ERROR'}, S.NO_PHOTO)
            return {'CANCELLED'}
        try:
            try:  # mediapipe / torch: imported here, at the first use, never at registration
                from ..engine.detect import detect_faces
                from ..engine.detect.image_io import load_image
                faces = detect_faces(load_image(jobs.photo_source(image, settings.photo_path)))
            except ImportError as exc:
                raise jobs.import_error(exc) from exc
        except FaceSpaceError as exc:
            self.report({'ERROR'}, str(exc))
            return {'CANCELLED'}
        settings.faces.clear()
        for i, face in enumerate(faces):
            item = settings.faces.add()
            item.index, item.box, item.score = i, tuple(float(v) for v in face.box), float(face.score)
        settings.faces_for = image.name if image is not None else settings.photo_path
        settings.face_index = -1 if len(faces) != 1 else 0
        self.report({'INFO'}, S.FACES_FOUND.format(n=len(faces)))
        return {'FINISHED'}


class FACESPACE_OT_choose_face(bpy.types.Operator):
    bl_idname = "facespace.choose_face"
    bl_label = S.FACE_INDEX
    bl_description = S.FACE_INDEX_TIP
    bl_options = {'REGISTER', 'INTERNAL'}
    index: IntProperty(default=-1, min=-1)

    def execute(self, context):
        context.scene.facespace.face_index = self.index
        return {'FINISHED'}


CLASSES = (FACESPACE_OT_reconstruct, FACESPACE_OT_find_faces, FACESPACE_OT_choose_face)
register, unregister = bpy.utils.register_classes_factory(CLASSES)
