"""Operators and the bpy side of the add-on: properties, head building, sliders, jobs."""
from __future__ import annotations

from ..registration import submodule_registrar

# registration order matters: properties first (operators and panels use them)
_MODULES = ("properties", "head_ops", "reconstruct_op", "export_ops", "prefs_ops",
            "edit_ops", "mix_op")

register, unregister = submodule_registrar(__package__, _MODULES)
