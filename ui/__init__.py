"""Panels, preferences and strings (ui/strings.py holds every user-visible string)."""
from __future__ import annotations

import importlib

_MODULES = ("preferences", "edit_panel", "panels")  # slider groups before the panels


def _modules():
    return [importlib.import_module(f".{name}", __package__) for name in _MODULES]


def register():
    for mod in _modules():
        mod.register()


def unregister():
    for mod in reversed(_modules()):
        mod.unregister()
