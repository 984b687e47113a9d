"""Preferences' operators: install the face model (download or file), install missing Python
dependencies into the extension's user folder (pip --target), both only as allowed by
bpy.app.online_access. Installing dependencies runs pip in a background thread."""
from __future__ import annotations

import importlib
import subprocess
import sys
import threading

import bpy
from bpy.props import StringProperty

from .. import strings as S
from ..common import deps, model_cache
from ..engine.core.errors import FaceSpaceError

_pip_state = {"running": False, "error": None, "done": False}


def _pip_install(target, requirements):
    try:
        pip = [sys.executable, "-m", "pip", "install", "--target", target]
        no_deps = [r for r in requirements if r.startswith("facenet")]
        rest = [r for r in requirements if not r.startswith("facenet")]
        if rest:
            subprocess.run(pip + rest, check=True)
        if no_deps:  # facenet-pytorch's pins are unsatisfiable alongside Blender's numpy/torch
            subprocess.run(pip + ["--no-deps"] + no_deps, check=True)
    except Exception as exc:
        _pip_state["error"] = str(exc)
    finally:
        _pip_state["running"], _pip_state["done"] = False, True


class FACESPACE_OT_install_model(bpy.types.Operator):
    bl_idname = "facespace.install_model"
    bl_label = S.PREFS_INSTALL_MODEL
    bl_description = S.PREFS_INSTALL_MODEL_TIP
    bl_options = {'REGISTER', 'INTERNAL'}

    @classmethod
    def poll(cls, context):
        return bpy.app.online_access

    def execute(self, context):
        return _install(self, source=None)


class FACESPACE_OT_install_model_from(bpy.types.Operator):
    bl_idname = "facespace.install_model_from"
    bl_label = S.PREFS_INSTALL_MODEL_FROM
    bl_description = S.PREFS_INSTALL_MODEL_FROM_TIP
    bl_options = {'REGISTER', 'INTERNAL'}
    filepath: StringProperty(subtype='FILE_PATH')

    def invoke(self, context, event):
        context.window_manager.fileselect_add(self)
        return {'RUNNING_MODAL'}

    def execute(self, context):
        return _install(self, source=bpy.path.abspath(self.filepath))


def _install(op, source):
    from ..engine.model.install import install_model  # urllib, tarfile: only when installing
    try:
        path = install_model(source, data_dir=model_cache.extension_data_dir(create=True),
                             allow_network=bpy.app.online_access)
    except FaceSpaceError as exc:
        op.report({'ERROR'}, str(exc))
        return {'CANCELLED'}
    model_cache.forget()
    op.report({'INFO'}, S.MODEL_INSTALLED.format(path=path))
    return {'FINISHED'}


class FACESPACE_OT_install_dependencies(bpy.types.Operator):
    bl_idname = "facespace.install_dependencies"
    bl_label = S.PREFS_INSTALL_DEPS
    bl_description = S.PREFS_INSTALL_DEPS_TIP
    bl_options = {'REGISTER', 'INTERNAL'}

    @classmethod
    def poll(cls, context):
        return not _pip_state["running"] and deps.deps_dir() is not None

    def execute(self, context):
        if not bpy.app.online_access:
            self.report({'ERROR'}, S.OFFLINE_DEPS)
            return {'CANCELLED'}
        missing = [deps.DEPENDENCIES[n] for n, v in deps.dependency_status().items() if v is None]
        if not missing:
            return {'FINISHED'}
        target = deps.deps_dir(create=True)
        _pip_state.update(running=True, error=None, done=False)
        threading.Thread(target=_pip_install, args=(target, missing), daemon=True).start()
        bpy.app.timers.register(_pip_poll, first_interval=1.0)
        return {'FINISHED'}


def _pip_poll():
    if _pip_state["running"]:
        return 1.0
    deps.add_to_sys_path()
    importlib.invalidate_caches()
    for window in bpy.context.window_manager.windows:
        for area in window.screen.areas:
            area.tag_redraw()
    return None


CLASSES = (FACESPACE_OT_install_model, FACESPACE_OT_install_model_from, FACESPACE_OT_install_dependencies)
register, unregister = bpy.utils.register_classes_factory(CLASSES)
