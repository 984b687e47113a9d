"""The Python dependencies (torch, torchvision, mediapipe, facenet-pytorch): where the
preferences' "Install Missing Dependencies" puts them, and which of them import.

`add_to_sys_path()` is the first thing the add-on's register() does, so every later import
(lazy, inside operators' execute and the background job) finds what was installed there.
Only the standard library and bpy are imported here."""
from __future__ import annotations

import importlib.util
import os
import sys

from .extension import user_dir

# import name -> pip requirement (pinned as in requirements*.txt)
DEPENDENCIES = {
    "torch": "torch==2.14.1",
    "torchvision": "torchvision==0.29.1",
    "mediapipe": "mediapipe==0.10.21",
    "facenet_pytorch": "facenet-pytorch==2.6.0",
}
_added: list = []  # the folder this add-on put on sys.path (taken off again at unregister)


def deps_dir(create: bool = False):
    """<extension user folder>/site-packages, or None outside an installed extension."""
    base = user_dir(create=create)
    if base is None:
        return None
    path = os.path.join(base, "site-packages")
    if create:
        os.makedirs(path, exist_ok=True)
    return path


def add_to_sys_path() -> str | None:
    """Put the dependency folder on sys.path (when it exists); returns it."""
    path = deps_dir()
    if path and os.path.isdir(path) and path not in sys.path:
        sys.path.append(path)  # after Blender's own packages: never shadow its numpy
        _added.append(path)
        importlib.invalidate_caches()
    return path


def remove_from_sys_path() -> None:
    for path in _added:
        if path in sys.path:
            sys.path.remove(path)
    _added.clear()


def dependency_status() -> dict:
    """import name -> version string, or None when it cannot be imported. Never imports them."""
    out = {}
    for name in DEPENDENCIES:
        try:
            spec = importlib.util.find_spec(name)
        except (ImportError, ValueError):  # a broken install, or a finder that refuses it
            spec = None
        if spec is None:
            out[name] = None
            continue
        try:
            from importlib.metadata import version
            out[name] = version(name.replace("_", "-"))
        except Exception:  # found but without metadata (vendored): still importable
            out[name] = "?"
    return out


def missing_name(exc: ImportError) -> str | None:
    """The dependency an ImportError is about, or None when it is about something else."""
    name = (getattr(exc, "name", None) or "").split(".")[0]
    return name if name in DEPENDENCIES else None
