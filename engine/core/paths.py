"""Where per-user data (the face model, downloaded weights) lives.

Order: the FACESPACE_DATA_DIR environment variable; else a directory the caller passes
(inside Blender: bpy.utils.extension_path_user(__package__, create=True)); else the
platform's user data directory.
"""
from __future__ import annotations

import os
import sys
from pathlib import Path

ENV_VAR = "FACESPACE_DATA_DIR"


def platform_data_dir() -> Path:
    if sys.platform == "win32":
        base = Path(os.environ.get("APPDATA") or Path.home() / "AppData" / "Roaming")
        return base / "FaceSpace"
    if sys.platform == "darwin":
        return Path.home() / "Library" / "Application Support" / "FaceSpace"
    return Path(os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share") / "facespace"


def data_dir(default=None) -> Path:
    env = os.environ.get(ENV_VAR)
    if env:
        return Path(env)
    return Path(default) if default else platform_data_dir()
