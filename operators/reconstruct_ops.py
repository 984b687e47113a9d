"""bpy.ops.facespace.reconstruct: photo(s) -> head; facespace.add_photo: refit a head with
one more photo; the scene's photo list. Modal with a background thread from the UI
(progress in the panel and status bar, Esc cancels); synchronous when called from a script
(EXEC), e.g. headless. Errors are reported, nothing half-built stays, one undo step."""
from __future__ import annotations

import os
import time
import traceback

import bpy
from bpy.props import BoolProperty, CollectionProperty, EnumProperty, IntProperty, StringProperty

from .. import strings as S
from ..common.extension import prefs as addon_prefs
from ..common.heads import active_head
from ..common.model_cache import get_model
from ..engine.core.errors import Cancelled, FaceSpaceError
from . import jobs, sliders, views
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


def _file_list(directory: str, files) -> list:
    """The file browser's multi-selection (`directory` + `files`) as paths."""
    return [os.path.join(bpy.path.abspath(directory), f.name) for f in files if f.name]


def _stem(source: str) -> str:
    return os.path.splitext(os.path.basename(str(source)))[0] or str(source)


class _JobOperator:
    """Runs the engine in a background thread with a modal timer from the UI (progress in the
    panel and status bar, Esc cancels), synchronously from scripts (EXEC). Subclasses give
    `_prepare(context) -> (source, model, options) or None` and `_build(context, model, rec)
    -> the head` (main thread, after the engine)."""

    def _fail(self, exc):
        if isinstance(exc, Cancelled):
            self.report({'WARNING'}, S.CANCELLED)
        elif isinstance(exc, FaceSpaceError):
            self.report({'ERROR'}, str(exc))
        else:
            self.report({'ERROR'}, S.UNEXPECTED.format(error=exc))
        return {'CANCELLED'}

    def _report_views(self, rec):
        """Photos the engine left out (and why), and its warnings, as warnings."""
        extras = getattr(rec, "extras", None) or {}
        for e in extras.get("excluded", []):
            self.report({'WARNING'}, S.PHOTO_LEFT_OUT.format(name=_stem(e.get("source", "")),
                                                             reason=e.get("reason", "")))
        for w in extras.get("warnings", []):
            self.report({'WARNING'}, str(w))

    def _finish(self, context, model, rec):
        try:
            obj = self._build(context, model, rec)
        except FaceSpaceError as exc:
            self.report({'ERROR'}, str(exc))
            return {'CANCELLED'}
        except Exception as exc:
            traceback.print_exc()
            self.report({'ERROR'}, S.UNEXPECTED.format(error=exc))
            return {'CANCELLED'}
        self._report_views(rec)
        self.report({'INFO'}, self._done_message(obj, time.perf_counter() - self._t0))
        return {'FINISHED'}

    def _done_message(self, obj, seconds):
        return S.DONE.format(name=obj.name, seconds=seconds)

    # ---- synchronous (scripts, headless) ---------------------------------------------
    def execute(self, context):
        self._t0 = time.perf_counter()
        prepared = self._prepare(context)
        if prepared is None:
            return {'CANCELLED'}
        source, model, options = prepared
        try:
            run = jobs.run_reconstruct_many if isinstance(source, list) else jobs.run_reconstruct
            rec = run(source, model, options)
        except Exception as exc:
            if not isinstance(exc, FaceSpaceError):
                traceback.print_exc()
            return self._fail(exc)
        return self._finish(context, model, rec)

    # ---- modal (UI) -----------------------------------------------------------------
    def _start(self, context):
        global _active_job
        if _active_job is not None:
            self.report({'WARNING'}, S.ALREADY_RUNNING)
            return {'CANCELLED'}
        self._t0 = time.perf_counter()
        prepared = self._prepare(context)
        if prepared is None:
            return {'CANCELLED'}
        source, self._model, options = prepared
        self._job = _active_job = jobs.ReconstructJob(source, self._model, options).start()
        wm = context.window_manager
        wm.facespace_job.running, wm.facespace_job.progress = True, 0.0
        wm.facespace_job.status = S.STATUS_STARTING
        self._timer = wm.event_timer_add(0.1, window=context.window)
        wm.modal_handler_add(self)
        return {'RUNNING_MODAL'}

    def invoke(self, context, event):
        return self._start(context)

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
        return self._finish(context, self._model, job.result)

    def cancel(self, context):  # Blender quits or the window closes mid-job
        self._job.cancel.set()
        self._cleanup(context)


class FACESPACE_OT_reconstruct(_JobOperator, bpy.types.Operator):
    """One photo (filepath / image_name), or several photos of one person for one head: the
    file browser's multi-selection (`directory` + `files`), or the scene's photo list
    (`use_photo_list`)."""
    bl_idname = "facespace.reconstruct"
    bl_label = S.RECONSTRUCT
    bl_description = S.RECONSTRUCT_TIP
    bl_options = {'REGISTER', 'UNDO'}

    filepath: StringProperty(name=S.PHOTO_PATH, description=S.PHOTO_PATH_TIP, subtype='FILE_PATH')
    image_name: StringProperty(name=S.PHOTO_IMAGE, description=S.PHOTO_IMAGE_TIP)
    directory: StringProperty(subtype='DIR_PATH', options={'HIDDEN', 'SKIP_SAVE'})
    files: CollectionProperty(type=bpy.types.OperatorFileListElement, options={'HIDDEN', 'SKIP_SAVE'})
    use_photo_list: BoolProperty(name=S.PHOTO_SOURCE_MANY, description=S.PHOTO_SOURCE_MANY_TIP,
                                 default=False, options={'HIDDEN', 'SKIP_SAVE'})
    face_index: IntProperty(name=S.FACE_INDEX, description=S.FACE_INDEX_TIP, default=-1, min=-1)
    texture_size: IntProperty(name=S.TEXTURE_SIZE, description=S.TEXTURE_SIZE_TIP,
                              default=1024, min=64, max=8192)
    quality: EnumProperty(name=S.QUALITY, description=S.QUALITY_TIP, items=S.QUALITIES, default="balanced")
    device: EnumProperty(name=S.DEVICE, description=S.DEVICE_TIP,
                         items=[("DEFAULT", S.DEVICE_DEFAULT, S.DEVICE_DEFAULT_TIP)] + S.DEVICES,
                         default="DEFAULT")
    add_camera: BoolProperty(name=S.ADD_CAMERA, description=S.ADD_CAMERA_TIP, default=True)

    def _photos(self, context) -> list:
        """The photos chosen (several photos), or [] for the one-photo path."""
        if len(self.files) and any(f.name for f in self.files):
            return [views.Photo(p) for p in _file_list(self.directory, self.files)]
        if self.use_photo_list:
            return [views.Photo(item.path if item.image is None else "", item.image)
                    for item in context.scene.facespace.photos if item.image is not None or item.path]
        return []

    def _prepare(self, context):
        """(source, model, options) or None after reporting why not."""
        photos = views.dedupe(self._photos(context))
        self._photo_list = photos if len(photos) > 1 else None
        if len(photos) == 1:   # one photo: the one-photo path, as before
            self.filepath, self.image_name = photos[0].path, photos[0].image.name if photos[0].image else ""
        self._image = image = bpy.data.images.get(self.image_name) if self.image_name else None
        if self._photo_list is None and image is None and not self.filepath:
            self.report({'ERROR'}, S.NO_PHOTO)
            return None
        try:
            model = get_model()
            options = jobs.engine_options(self.face_index, self.texture_size, self.quality,
                                          resolve_device(context, self.device))
            if self._photo_list is not None:
                source = self._inputs = [views.engine_input(p, i) for i, p in enumerate(photos)]
            else:
                source = jobs.photo_source(image, self.filepath)
        except FaceSpaceError as exc:
            self.report({'ERROR'}, str(exc))
            return None
        return source, model, options

    def _build(self, context, model, rec):
        if self._photo_list is not None:
            return views.head_from_views(context, model, rec, self._photo_list, self._inputs,
                                         name=views.head_name(self._photo_list), add_camera=self.add_camera)
        image = self._image
        return head_from_result(
            context, model, rec, name=head_name(self.filepath, image), photo_image=image,
            add_camera=self.add_camera, photo_path=self.filepath or (image.filepath if image else ""))

    def _done_message(self, obj, seconds):
        n = len(obj.facespace.views)
        if n > 1:
            return S.DONE_MANY.format(name=obj.name, n=n, seconds=seconds)
        return S.DONE.format(name=obj.name, seconds=seconds)


class FACESPACE_OT_add_photo(_JobOperator, bpy.types.Operator):
    """Refit the active head with one more photo of the same person (reconstruct_many over
    its photos and the new one): identity, texture, views and cameras are replaced in place,
    the object (name, transform, materials) stays. One undo step."""
    bl_idname = "facespace.add_photo"
    bl_label = S.ADD_PHOTO
    bl_description = S.ADD_PHOTO_TIP
    bl_options = {'REGISTER', 'UNDO'}

    filepath: StringProperty(name=S.PHOTO_PATH, description=S.PHOTO_PATH_TIP, subtype='FILE_PATH')
    image_name: StringProperty(name=S.PHOTO_IMAGE, description=S.PHOTO_IMAGE_TIP)
    directory: StringProperty(subtype='DIR_PATH', options={'HIDDEN', 'SKIP_SAVE'})
    files: CollectionProperty(type=bpy.types.OperatorFileListElement, options={'HIDDEN', 'SKIP_SAVE'})
    face_index: IntProperty(name=S.FACE_INDEX, description=S.FACE_INDEX_TIP, default=-1, min=-1)
    texture_size: IntProperty(name=S.TEXTURE_SIZE, description=S.ADD_PHOTO_TEXTURE_SIZE_TIP,
                              default=0, min=0, max=8192)
    quality: EnumProperty(name=S.QUALITY, description=S.QUALITY_TIP, items=S.QUALITIES, default="balanced")
    device: EnumProperty(name=S.DEVICE, description=S.DEVICE_TIP,
                         items=[("DEFAULT", S.DEVICE_DEFAULT, S.DEVICE_DEFAULT_TIP)] + S.DEVICES,
                         default="DEFAULT")

    @classmethod
    def poll(cls, context):
        return active_head(context) is not None

    def _new_photos(self) -> list:
        if len(self.files) and any(f.name for f in self.files):
            return [views.Photo(p) for p in _file_list(self.directory, self.files)]
        image = bpy.data.images.get(self.image_name) if self.image_name else None
        if image is not None:
            return [views.Photo("", image)]
        return [views.Photo(self.filepath)] if self.filepath else []

    def _prepare(self, context):
        head = active_head(context)
        new = self._new_photos()
        if head is None or not new:
            self.report({'ERROR'}, S.NO_PHOTO)
            return None
        old = views.stored_photos(head)
        photos = views.dedupe(old + new)
        if len(photos) == len(old):
            self.report({'ERROR'}, S.ADD_PHOTO_ALREADY)
            return None
        self._head_name, self._photo_list = head.name, photos
        try:
            model = get_model()
            size = self.texture_size or views.texture_size(head)
            options = jobs.engine_options(self.face_index, size, self.quality, resolve_device(context, self.device))
            self._inputs = [views.engine_input(p, i) for i, p in enumerate(photos)]
        except FaceSpaceError as exc:
            self.report({'ERROR'}, str(exc))
            return None
        return list(self._inputs), model, options

    def _build(self, context, model, rec):
        head = bpy.data.objects.get(self._head_name)
        if head is None or not head.facespace.is_head:
            raise FaceSpaceError(S.ADD_PHOTO_HEAD_GONE.format(name=self._head_name))
        sliders.bake_edits(head)   # a new fit: Edit Face starts again from it
        views.refit_head(context, head, model, rec, self._photo_list, self._inputs)
        return head

    def _done_message(self, obj, seconds):
        return S.ADD_PHOTO_DONE.format(name=obj.name, n=len(obj.facespace.views), seconds=seconds)


class FACESPACE_OT_photo_list_add(bpy.types.Operator):
    """Add photos to the scene's photo list (the file browser takes several at once)."""
    bl_idname = "facespace.photo_list_add"
    bl_label = S.PHOTO_LIST_ADD
    bl_description = S.PHOTO_LIST_ADD_TIP
    bl_options = {'REGISTER', 'UNDO'}

    filepath: StringProperty(subtype='FILE_PATH', options={'HIDDEN', 'SKIP_SAVE'})
    directory: StringProperty(subtype='DIR_PATH', options={'HIDDEN', 'SKIP_SAVE'})
    files: CollectionProperty(type=bpy.types.OperatorFileListElement, options={'HIDDEN', 'SKIP_SAVE'})
    filter_image: BoolProperty(default=True, options={'HIDDEN', 'SKIP_SAVE'})
    filter_folder: BoolProperty(default=True, options={'HIDDEN', 'SKIP_SAVE'})

    def invoke(self, context, event):
        context.window_manager.fileselect_add(self)
        return {'RUNNING_MODAL'}

    def execute(self, context):
        paths = _file_list(self.directory, self.files) or ([self.filepath] if self.filepath else [])
        photos = context.scene.facespace.photos
        have = {os.path.abspath(bpy.path.abspath(p.path)) for p in photos if p.path}
        for path in paths:
            if os.path.abspath(bpy.path.abspath(path)) not in have:
                photos.add().path = path
        return {'FINISHED'}


class FACESPACE_OT_photo_list_add_image(bpy.types.Operator):
    """Add a slot for an image already in the .blend to the scene's photo list."""
    bl_idname = "facespace.photo_list_add_image"
    bl_label = S.PHOTO_LIST_ADD_IMAGE
    bl_description = S.PHOTO_LIST_ADD_IMAGE_TIP
    bl_options = {'REGISTER', 'UNDO'}
    image_name: StringProperty(options={'SKIP_SAVE'})

    def execute(self, context):
        item = context.scene.facespace.photos.add()
        item.image = bpy.data.images.get(self.image_name) if self.image_name else None
        return {'FINISHED'}


class FACESPACE_OT_photo_list_remove(bpy.types.Operator):
    bl_idname = "facespace.photo_list_remove"
    bl_label = S.PHOTO_LIST_REMOVE
    bl_description = S.PHOTO_LIST_REMOVE_TIP
    bl_options = {'REGISTER', 'UNDO', 'INTERNAL'}
    index: IntProperty(default=-1)

    def execute(self, context):
        photos = context.scene.facespace.photos
        if self.index < 0:
            photos.clear()
        elif self.index < len(photos):
            photos.remove(self.index)
        return {'FINISHED'}


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


CLASSES = (FACESPACE_OT_reconstruct, FACESPACE_OT_add_photo, FACESPACE_OT_photo_list_add,
           FACESPACE_OT_photo_list_add_image, FACESPACE_OT_photo_list_remove,
           FACESPACE_OT_find_faces, FACESPACE_OT_choose_face)
register, unregister = bpy.utils.register_classes_factory(CLASSES)
