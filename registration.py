"""The add-on's one registration list: every module with register()/unregister(), in order.
`register()` registers them in this order and `unregister()` in reverse.

(bpy.utils.register_submodule_factory does this for single-level add-ons only: it deletes
`name.partition(".")[2]` from the package, which breaks for nested packages like ours.)"""
from __future__ import annotations

import importlib

MODULES = (
    "operators.properties",      # PropertyGroups first: operators and panels use them
    "operators.head_ops",
    "operators.reconstruct_ops",
    "operators.export_ops",
    "operators.prefs_ops",
    "operators.mix_ops",
    "operators.track_ops",
    "ui.preferences",
    "ui.edit_panel",             # adds its slider group before the panels are made
    "ui.panels",
    "ui.track_panel",            # a sub-panel of the head panel: after ui.panels
)


def _modules():
    return [importlib.import_module(f".{name}", __package__) for name in MODULES]


def register():
    done = []
    try:
        for mod in _modules():
            mod.register()
            done.append(mod)
    except Exception:  # leave nothing half-registered
        for mod in reversed(done):
            try:
                mod.unregister()
            except Exception:
                pass
        raise


def unregister():
    for mod in reversed(_modules()):
        mod.unregister()
