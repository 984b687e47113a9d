"""Photo -> .blend (+ .glb, .fbx) without a window, through the add-on in this repository.

    .venv/bin/python scripts/headless_reconstruct.py PHOTO -o OUT.blend --glb OUT.glb

Uses bpy as a Python module (PyPI `bpy`): registers the add-on from the repository as the
package `facespace`, reconstructs with bpy.ops.facespace.reconstruct (synchronous when run
from a script), saves the .blend and exports. Exit status 0 on success, 2 on an error the
artist can act on (the message says what to do; every check that can fail runs before
Blender starts), 1 an internal failure (a short message naming the log file with the details).
"""
from __future__ import annotations

import argparse
import importlib.util
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def load_addon(name: str = "facespace"):
    """Import the repository as the add-on package `name` and register it (idempotent)."""
    if name in sys.modules and getattr(sys.modules[name], "_facespace_registered", False):
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, ROOT / "__init__.py",
                                                  submodule_search_locations=[str(ROOT)])
    mod = importlib.util.module_from_spec(spec)
    sys.modules[name] = mod
    spec.loader.exec_module(mod)
    mod.register()
    mod._facespace_registered = True
    return mod


def unload_addon(name: str = "facespace") -> None:
    mod = sys.modules.get(name)
    if mod is not None and getattr(mod, "_facespace_registered", False):
        mod.unregister()
        mod._facespace_registered = False


def parse_args(argv=None):
    p = argparse.ArgumentParser(description="FaceSpace: one photo -> a .blend with a textured, "
                                            "rigged-for-expressions head (and .glb/.fbx)")
    p.add_argument("photo", help="the photo (JPEG/PNG)")
    p.add_argument("-o", "--output", required=True, help="the .blend to write")
    p.add_argument("--glb", help="also export binary glTF with 53 ARKit morph targets")
    p.add_argument("--fbx", help="also export FBX")
    p.add_argument("--face-index", type=int, default=None, help="face number, largest first (default: the largest)")
    p.add_argument("--texture-size", type=int, default=1024)
    p.add_argument("--quality", default="balanced", help="instant | fast | balanced | high "
                                                         "(instant: the learned regression alone, no fitting)")
    p.add_argument("--device", default="auto", help="auto | cpu | cuda | mps")
    p.add_argument("--no-camera", action="store_true", help="don't add the photo's camera")
    return p.parse_args(argv)


def preflight(args) -> None:
    """Every check that can fail, before Blender starts: the options (engine.core.options, the
    same rules as the CLI and the add-on) and each output path (writable, not a folder)."""
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))
    from engine.core import options as rules
    from engine.io.safe_output import check_file_target
    rules.check_all(face_index=args.face_index, texture_size=args.texture_size, quality=args.quality,
                    device=args.device)
    if not Path(args.photo).is_file():
        from engine.core.errors import ImageError
        raise ImageError(f"The photo {args.photo} does not exist or is not a file.")
    check_file_target(args.output, ".blend")
    for what in ("glb", "fbx"):
        if getattr(args, what):
            check_file_target(getattr(args, what), f".{what}")


def main(argv=None) -> int:
    args = parse_args(argv)
    sys.path.insert(0, str(ROOT))
    from engine.core.errors import FaceSpaceError
    from engine.core.runtime import configure_process
    configure_process()   # before bpy and torch load
    try:
        preflight(args)
    except FaceSpaceError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2

    import bpy
    t0 = time.perf_counter()
    try:  # unregister before exit: bpy can hang at exit with the add-on's classes still registered
        bpy.ops.wm.read_factory_settings(use_empty=True)
        load_addon()
        return _run(args, t0)
    except FaceSpaceError as exc:   # raised by this script's own checks
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted: nothing was left half-written.", file=sys.stderr)
        return 130
    except Exception as exc:   # a short line here, the traceback in a log file
        from engine.core.crashlog import internal_error_message
        print(f"error: {internal_error_message(exc, 'headless')}", file=sys.stderr)
        return 1
    finally:
        unload_addon()


def _run(args, t0) -> int:
    import bpy
    from facespace import api  # the package load_addon registered
    from facespace.engine.core.errors import FaceSpaceError
    from facespace.engine.io.safe_output import replace_file
    try:
        head = api.reconstruct(args.photo, face_index=args.face_index, texture_size=args.texture_size,
                               quality=args.quality, device=args.device, add_camera=not args.no_camera)
        # each file goes to a temporary sibling and is renamed into place: complete or absent
        out = replace_file(lambda tmp: bpy.ops.wm.save_as_mainfile(filepath=str(tmp), compress=True, copy=True),
                           args.output)
        print(f"saved {out} (head '{head.name}')")
        for path, export in ((args.glb, api.export_glb), (args.fbx, api.export_fbx)):
            if path:   # checked first, then written to a temporary sibling and renamed (api._export)
                print(f"exported {export(head, path)}")
    except FaceSpaceError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"done in {time.perf_counter() - t0:.1f} s")
    return 0


if __name__ == "__main__":
    rc = main()
    sys.stdout.flush()
    sys.stderr.flush()
    # Everything is written. Skip interpreter teardown: bpy-as-a-module together with the
    # torch/mediapipe native threads can hang in their exit handlers on this platform.
    os._exit(rc)
