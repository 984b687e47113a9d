"""The extension's own identity in Blender: its package, its user folder, its preferences.

Imports only bpy and the standard library: __init__.register() reaches this (through
deps.py) before anything else, to put the dependency folder on sys.path."""
from __future__ import annotations

ADDON_PACKAGE = __package__.rpartition(".")[0]  # the extension's root package (bl_ext.<repo>.facespace)


def user_dir(create: bool = True):
    """The extension's user folder, or None when not running as an installed extension."""
    import bpy
    try:
        return bpy.utils.extension_path_user(ADDON_PACKAGE, create=create)
    except (ValueError, KeyError, AttributeError):  # loaded as a plain package (repo / tests)
        return None


def prefs(context=None):
    """The add-on's preferences, or None when it was registered without the add-on system."""
    import bpy
    context = context or bpy.context
    addon = context.preferences.addons.get(ADDON_PACKAGE)
    return addon.preferences if addon is not None else None
