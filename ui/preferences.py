"""Add-on preferences: face-model status and install, dependency status and install, device."""
from __future__ import annotations

import bpy
from bpy.props import EnumProperty

from .. import strings as S
from ..common import deps, model_cache
from ..common.extension import ADDON_PACKAGE


class FACESPACE_AP_preferences(bpy.types.AddonPreferences):
    """Draws without torch, mediapipe... installed: finding them never imports them."""
    bl_idname = ADDON_PACKAGE

    device: EnumProperty(name=S.PREFS_DEVICE, description=S.DEVICE_TIP, items=S.DEVICES, default="auto")

    def draw(self, context):
        layout = self.layout
        box = layout.box()
        box.label(text=S.PREFS_MODEL, icon='MESH_MONKEY')
        path = model_cache.installed_path()
        if path is None:
            box.label(text=S.PREFS_MODEL_MISSING, icon='ERROR')
        else:
            box.label(text=S.PREFS_MODEL_OK.format(name=path.stem, path=path.parent), icon='CHECKMARK')
        row = box.row()
        row.operator("facespace.install_model", icon='URL')
        row.operator("facespace.install_model_from", icon='FILEBROWSER')
        if not bpy.app.online_access:
            box.label(text=S.PREFS_OFFLINE, icon='INFO')

        box = layout.box()
        box.label(text=S.PREFS_DEPS, icon='SCRIPT')
        for name, version in deps.dependency_status().items():
            if version is None:
                box.label(text=S.PREFS_DEP_MISSING.format(name=name), icon='ERROR')
            else:
                box.label(text=S.PREFS_DEP_OK.format(name=name, version=version), icon='CHECKMARK')
        box.operator("facespace.install_dependencies", icon='IMPORT')
        target = deps.deps_dir()
        if target:
            box.label(text=S.PREFS_DEPS_FOLDER.format(path=target))
        if not bpy.app.online_access:
            box.label(text=S.OFFLINE_DEPS, icon='INFO')
        layout.prop(self, "device")


CLASSES = (FACESPACE_AP_preferences,)
register, unregister = bpy.utils.register_classes_factory(CLASSES)
