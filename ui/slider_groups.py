"""Slider groups shown in the head's panel, in order. Other features (e.g. engine/editing's
measurement and attribute sliders, issue #7) add a group with `add_group`; each group is a
sub-panel under the head panel.

A group: (idname, label, draw(layout, context, head_object)).
"""
from __future__ import annotations

GROUPS: list = []


def add_group(idname: str, label: str, draw) -> None:
    """Register a slider group before the add-on's panels register (or re-register them)."""
    remove_group(idname)
    GROUPS.append((idname, label, draw))


def remove_group(idname: str) -> None:
    GROUPS[:] = [g for g in GROUPS if g[0] != idname]
