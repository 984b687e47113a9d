"""Panels, preferences and strings (ui/strings.py holds every user-visible string)."""
from __future__ import annotations

from ..registration import submodule_registrar

_MODULES = ("preferences", "edit_panel", "panels")  # slider groups before the panels

register, unregister = submodule_registrar(__package__, _MODULES)
