"""Draw the add-on's panels and preferences headless, into a real bpy.types.UILayout, and
record what they asked for (the add-on tests, and the no-torch child process, use this).

In background mode there is no region to draw into, but the window manager still makes
popup menus: `popmenu_begin__internal` hands out a real UILayout, so every layout call runs
Blender's own code (a wrong keyword, enum item or property type raises as it would in the
UI). The popup is never ended (ending it shows it, which needs a real window): its small
block is left to the process's exit. Each call is recorded, and two silent failures of the
real UI are turned into errors: `prop`/`template_ID` on a property that does not exist, and
`operator` with an idname that is not registered (Blender only prints those).

Imports only bpy, so a process that blocks torch & co. can import it.
"""
from __future__ import annotations

from dataclasses import dataclass

import bpy


@dataclass
class Call:
    name: str  # the UILayout method
    args: tuple
    kwargs: dict
    result: object

    @property
    def text(self) -> str:
        return str(self.kwargs.get("text", ""))


class _Stand:
    """Stands in for the Panel / AddonPreferences instance: `layout` records, every other
    attribute is the real owner's (the panel class, or the real preferences)."""

    def __init__(self, owner, layout):
        self._owner, self.layout = owner, layout

    def __getattr__(self, name):
        return getattr(self._owner, name)


def _unwrap(value):
    return value._owner if isinstance(value, _Stand) else value


class RecordingLayout:
    def __init__(self, real, calls: list):
        object.__setattr__(self, "_real", real)
        object.__setattr__(self, "_calls", calls)

    def __setattr__(self, name, value):  # layout.active = ..., .enabled, .alignment ...
        setattr(self._real, name, value)

    def __getattr__(self, name):
        attr = getattr(self._real, name)
        if not callable(attr):
            return attr

        def call(*args, **kwargs):
            args = tuple(_unwrap(a) for a in args)
            result = attr(*args, **kwargs)
            self._calls.append(Call(name, args, kwargs, result))
            if name in ("prop", "template_ID"):
                data, prop = args[0], args[1]
                if data.bl_rna.properties.get(prop) is None:
                    raise AssertionError(f"layout.{name}: {data.bl_rna.identifier} has no property {prop!r}")
            if name == "operator" and result is None:
                raise AssertionError(f"layout.operator: unknown operator {args[0]!r}")
            if isinstance(result, bpy.types.UILayout):
                return RecordingLayout(result, self._calls)
            return result
        return call


def real_layout(title: str = "FaceSpace test"):
    wm = bpy.context.window_manager
    return wm.popmenu_begin__internal(title).layout


def draw(owner, draw_function, context=None) -> list:
    """Call `draw_function(stand_in_self, context)` with a recording real layout; the calls."""
    calls: list = []
    draw_function(_Stand(owner, RecordingLayout(real_layout(), calls)), context or bpy.context)
    return calls


def panel_classes(package: str) -> list:
    """Every registered Panel class defined in `package` (its own modules), parents first."""
    out, seen = [], set()
    todo = list(bpy.types.Panel.__subclasses__())
    while todo:
        cls = todo.pop(0)
        todo.extend(cls.__subclasses__())
        if cls in seen or not cls.__module__.startswith(package + "."):
            continue
        seen.add(cls)
        if getattr(cls, "is_registered", False):
            out.append(cls)
    return sorted(out, key=lambda c: (hasattr(c, "bl_parent_id"), c.bl_idname))


def draw_panels(package: str, context=None) -> dict:
    """bl_idname -> the recorded calls of each registered panel whose poll() passes (None
    for those whose poll() says no)."""
    context = context or bpy.context
    out = {}
    for cls in panel_classes(package):
        poll = getattr(cls, "poll", None)
        out[cls.bl_idname] = draw(cls, cls.draw, context) if poll is None or poll(context) else None
    return out


def draw_preferences(addon_module: str, context=None) -> list:
    context = context or bpy.context
    prefs = context.preferences.addons[addon_module].preferences
    return draw(prefs, type(prefs).draw, context)


def texts(calls, name: str = "label") -> list:
    return [c.text for c in calls if c.name == name]


def operators(calls) -> list:
    return [c.args[0] for c in calls if c.name == "operator"]
