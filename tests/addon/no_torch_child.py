"""The child process of test_addon_no_torch.py (a fresh Python, so nothing heavy is loaded).

    python no_torch_child.py blocked ZIP OUT.json
        torch, torchvision, mediapipe and facenet_pytorch made unimportable (a sys.meta_path
        finder that refuses them, installed before bpy); the extension zip installed and
        enabled; every panel and the preferences drawn; unregistered.
    python no_torch_child.py deps-folder ZIP OUT.json PHOTO
        the virtual environment's site-packages taken off sys.path after bpy loads; its
        packages offered again only in the extension's dependency folder (symlinks), which
        only the add-on puts on sys.path; then a reconstruction through the operator.

BLENDER_USER_RESOURCES must point at an empty temporary folder. Writes a JSON report.
"""
from __future__ import annotations

import importlib
import importlib.abc
import importlib.util
import json
import os
import sys
import traceback
from pathlib import Path

HEAVY = ("torch", "torchvision", "mediapipe", "facenet_pytorch")
MOD = "bl_ext.user_default.facespace"


class Blocker(importlib.abc.MetaPathFinder):
    """Refuses the heavy packages, as if absent, and notes who asked. `imports` keeps the
    attempts that came from an import statement (importlib.util.find_spec lookups, which the
    preferences use to show what is installed, do not count)."""

    def __init__(self):
        self.imports = []

    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] not in HEAVY:
            return None
        stack = traceback.extract_stack()[:-1]
        if any(f.name == "_find_and_load" for f in stack):
            where = [f"{f.filename}:{f.lineno} {f.name}" for f in stack if "importlib" not in f.filename]
            self.imports.append({"name": name, "stack": where[-12:]})
        raise ModuleNotFoundError(f"No module named {name!r} (blocked by the test)", name=name)


def install(zip_path, enable):
    import bpy
    return sorted(bpy.ops.extensions.package_install_files(repo="user_default", filepath=zip_path,
                                                           enable_on_install=enable))


def registered(bpy) -> dict:
    return {
        "enabled": MOD in bpy.context.preferences.addons,
        "classes": all(hasattr(bpy.types, c) for c in (
            "FACESPACE_OT_reconstruct", "FACESPACE_OT_install_dependencies", "FACESPACE_PT_main",
            "FACESPACE_PT_head", "FACESPACE_PT_identity", "FACESPACE_PT_group_edit_face")),
        "props": all(hasattr(t, p) for t, p in ((bpy.types.Object, "facespace"),
                                                 (bpy.types.Object, "facespace_edit"),
                                                 (bpy.types.Scene, "facespace"))),
    }


def disable(bpy, out):
    import addon_utils
    addon_utils.disable(MOD, default_set=True)
    out["disabled"] = MOD not in bpy.context.preferences.addons
    out["clean"] = not any(hasattr(bpy.types, c) for c in ("FACESPACE_OT_reconstruct", "FACESPACE_PT_main",
                                                            "FACESPACE_AP_preferences")) \
        and not hasattr(bpy.types.Object, "facespace") and not hasattr(bpy.types.Scene, "facespace")


def draw_everything(bpy, rec) -> dict:
    """Every panel, with no head and then with a head active; the preferences."""
    out = {"empty": {k: v is not None for k, v in rec.draw_panels(MOD).items()}}
    api = importlib.import_module(MOD + ".api")
    try:
        head = api.add_head(name="Drawn Head")  # the model's mean face: numpy only
        out["add_head_error"] = None
    except Exception:
        out["add_head_error"] = traceback.format_exc()
    else:
        bpy.context.view_layer.objects.active = head
    drawn = rec.draw_panels(MOD)
    out["with_head"] = {k: v is not None for k, v in drawn.items()}
    out["edit_props"] = sorted({c.args[1] for c in drawn.get("FACESPACE_PT_group_edit_face") or []
                                if c.name == "prop"})
    prefs = rec.draw_preferences(MOD)
    out["prefs_labels"] = rec.texts(prefs)
    out["prefs_operators"] = rec.operators(prefs)
    out["install_deps_poll"] = bpy.ops.facespace.install_dependencies.poll()
    return out


def blocked(zip_path, out):
    blocker = Blocker()
    sys.meta_path.insert(0, blocker)
    import bpy
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests/: layout_recorder
    import layout_recorder as rec
    try:
        out["install"] = install(zip_path, enable=True)
    except RuntimeError as exc:  # enabling failed: say who imported what
        out["install_error"] = str(exc)
        out["imports_while_registering_and_drawing"] = list(blocker.imports)
        return
    out.update(registered(bpy))
    out["draw"] = draw_everything(bpy, rec)
    out["imports_while_registering_and_drawing"] = list(blocker.imports)
    # and reconstructing says which package is missing and where to get it
    from PIL import Image
    photo = Path(zip_path).with_name("grey.png")
    Image.new("RGB", (320, 320), (128, 128, 128)).save(photo)
    try:
        bpy.ops.facespace.reconstruct(filepath=str(photo), texture_size=256, quality="fast", device="cpu")
        out["reconstruct_error"] = None
    except RuntimeError as exc:
        out["reconstruct_error"] = str(exc)
    disable(bpy, out)


def deps_folder(zip_path, photo, out):
    import bpy
    import sysconfig
    site = Path(sysconfig.get_paths()["purelib"]).resolve()  # the venv's site-packages
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    import layout_recorder as rec
    out["install"] = install(zip_path, enable=False)
    user = Path(bpy.utils.extension_path_user(MOD, create=True))
    target = user / "site-packages"  # where the preferences' "Install Missing Dependencies" puts them
    target.mkdir()
    for entry in site.iterdir():
        if entry.name.startswith(("bpy", "__pycache__")) or entry.suffix == ".pth":
            continue
        (target / entry.name).symlink_to(entry)
    sys.path[:] = [p for p in sys.path if not p or Path(p).resolve() != site]
    importlib.invalidate_caches()
    spec = importlib.util.find_spec("torch")
    out["torch_importable_before"] = spec.origin if spec is not None else None
    out["heavy_loaded_before"] = sorted(m for m in sys.modules if m.split(".")[0] in HEAVY)
    import addon_utils
    addon_utils.enable(MOD, default_set=True, handle_error=lambda exc: traceback.print_exc())
    out.update(registered(bpy))
    out["deps_on_path"] = str(target) in sys.path
    out["prefs_labels"] = rec.texts(rec.draw_preferences(MOD))
    out["reconstruct"] = sorted(bpy.ops.facespace.reconstruct(filepath=photo, texture_size=256,
                                                              quality="fast", device="cpu"))
    heads = [o for o in bpy.data.objects if o.type == 'MESH' and o.facespace.is_head]
    out["head_vertices"] = len(heads[0].data.vertices) if heads else 0
    out["texture_size"] = heads[0].data.materials[0].node_tree.nodes["FaceSpace Photo"].image.size[0] \
        if heads else 0
    out["loaded_from"] = {m: str(Path(sys.modules[m].__file__).parent.parent) for m in HEAVY if m in sys.modules}
    out["deps_dir"] = str(target)
    disable(bpy, out)
    out["deps_off_path"] = str(target) not in sys.path


def main():
    mode, zip_path, out_path = sys.argv[1:4]
    out = {}
    try:
        if mode == "blocked":
            blocked(zip_path, out)
        else:
            deps_folder(zip_path, sys.argv[4], out)
    except BaseException:
        out["error"] = traceback.format_exc()
    Path(out_path).write_text(json.dumps(out, indent=1))
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)  # bpy with torch's threads can hang in exit handlers


if __name__ == "__main__":
    main()
