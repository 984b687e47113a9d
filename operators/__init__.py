"""Operators and the bpy side of the add-on: properties, head building, sliders, jobs."""
from __future__ import annotations

import importlib

# registration order matters: properties first (operators and panels use them)
_MODULES = ("properties", "head_ops", "reconstruct_op", "export_ops", "prefs_ops",
            "edit_ops", "mix_op")


def _modules():
    return [importlib.import_module(f".{name}", __package__) for name in _MODULES]


def register():
    for mod in _modules():
        mod.register()


def unregister():
    for mod in reversed(_modules()):
        mod.unregister()
