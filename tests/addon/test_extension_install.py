"""Issue #2: the extension zip builds with Blender's packager, installs through
bpy.ops.extensions.package_install_files, enables (operators, panels, preferences,
per-extension user folder), and unregisters cleanly. Runs in a subprocess because the user
resources folder (BLENDER_USER_RESOURCES, a temp dir here) must be set before bpy starts."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from tests.conftest import ROOT

pytestmark = pytest.mark.bpy
pytest.importorskip("bpy")

CHILD = r'''
import json, sys
import bpy, addon_utils
zip_path, out = sys.argv[1], {}
res = bpy.ops.extensions.package_install_files(repo="user_default", filepath=zip_path,
                                               enable_on_install=True)
mod = "bl_ext.user_default.facespace"
out["install"] = sorted(res)
out["enabled"] = mod in bpy.context.preferences.addons
out["module_file"] = sys.modules[mod].__file__
out["registered"] = [hasattr(bpy.types, c) for c in
                     ("FACESPACE_OT_reconstruct", "FACESPACE_PT_main", "FACESPACE_PT_head",
                      "FACESPACE_OT_export_glb")]
out["object_props"] = hasattr(bpy.types.Object, "facespace")
out["prefs_device"] = bpy.context.preferences.addons[mod].preferences.device
from bl_ext.user_default.facespace.common import extension
out["user_dir"] = extension.user_dir(create=True)
out["engine_is_subpackage"] = sys.modules[mod + ".engine"].__file__
addon_utils.disable(mod, default_set=True)
out["disabled"] = mod not in bpy.context.preferences.addons
out["clean"] = not any(hasattr(bpy.types, c) for c in ("FACESPACE_OT_reconstruct", "FACESPACE_PT_main")) \
    and not hasattr(bpy.types.Object, "facespace") and not hasattr(bpy.types.Scene, "facespace")
repo_index = [r.module for r in bpy.context.preferences.extensions.repos].index("user_default")
out["uninstall"] = sorted(bpy.ops.extensions.package_uninstall(repo_index=repo_index, pkg_id="facespace"))
print("RESULT " + json.dumps(out))
'''


def test_zip_builds_installs_enables_and_unregisters(tmp_path):
    sys.path.insert(0, str(ROOT / "scripts"))
    try:
        from build_extension import build
    finally:
        sys.path.pop(0)
    zip_path = build(tmp_path / "dist")
    names = zipfile.ZipFile(zip_path).namelist()
    assert "blender_manifest.toml" in names and "__init__.py" in names and "api.py" in names
    assert any(n.startswith("engine/") for n in names) and any(n.startswith("operators/") for n in names)
    assert not any(n.startswith((".venv/", "tests/", "docs/", "scripts/", ".ci/", ".git/")) or
                   "__pycache__" in n for n in names)

    env = dict(os.environ, BLENDER_USER_RESOURCES=str(tmp_path / "blender_user"))
    script = tmp_path / "child.py"
    script.write_text(CHILD)
    proc = subprocess.run([sys.executable, str(script), str(zip_path)], env=env, cwd=tmp_path,
                          capture_output=True, text=True, timeout=300)
    line = next((l for l in proc.stdout.splitlines() if l.startswith("RESULT ")), None)
    assert line, proc.stdout[-3000:] + proc.stderr[-3000:]
    out = json.loads(line[len("RESULT "):])
    user = tmp_path / "blender_user"
    assert out["install"] == ["FINISHED"] and out["enabled"]
    assert Path(out["module_file"]).is_relative_to(user / "extensions" / "user_default" / "facespace")
    assert Path(out["engine_is_subpackage"]).parent.parent.name == "facespace"
    assert all(out["registered"]) and out["object_props"]
    assert out["prefs_device"] == "auto"
    assert out["user_dir"] == str(user / "extensions" / ".user" / "user_default" / "facespace")
    assert out["disabled"] and out["clean"]
    assert out["uninstall"] == ["FINISHED"]
    assert not (user / "extensions" / "user_default" / "facespace").exists()
