"""Photo -> .blend (+ .glb, .fbx) without a window, through the add-on in this repository.

    .venv/bin/python scripts/headless_reconstruct.py PHOTO -o OUT.blend --glb OUT.glb

Uses bpy as a Python module (PyPI `bpy`): registers the add-on from the repository as the
package `facespace`, reconstructs with bpy.ops.facespace.reconstruct (synchronous when run
from a script), saves the .blend and exports. Exit status 0 on success, 2 on an error the
artist can act on (the message says what to do).
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


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description="FaceSpace: one photo -> a .blend with a textured, "
                                            "rigged-for-expressions head (and .glb/.fbx)")
    p.add_argument("photo", help="the photo (JPEG/PNG)")
    p.add_argument("-o", "--output", required=True, help="the .blend to write")
    p.add_argument("--glb", help="also export binary glTF with 53 ARKit morph targets")
    p.add_argument("--fbx", help="also export FBX")
    p.add_argument("--face-index", type=int, default=-1, help="face number, largest first (-1: largest)")
    p.add_argument("--texture-size", type=int, default=1024)
    p.add_argument("--quality", default="balanced", choices=("instant", "fast", "balanced", "high"),
                   help="instant: the learned regression alone, no fitting")
    p.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda", "mps"))
    p.add_argument("--no-camera", action="store_true", help="don't add the photo's camera")
    args = p.parse_args(argv)

    import bpy
    t0 = time.perf_counter()
    bpy.ops.wm.read_factory_settings(use_empty=True)
    load_addon()
    try:  # unregister before exit: bpy can hang at exit with the add-on's classes still registered
        return _run(args, t0)
    finally:
        unload_addon()


def _run(args, t0) -> int:
    import bpy
    from facespace import api  # the package load_addon registered
    from facespace.engine.core.errors import FaceSpaceError
    try:
        head = api.reconstruct(args.photo, face_index=args.face_index, texture_size=args.texture_size,
                               quality=args.quality, device=args.device, add_camera=not args.no_camera)
    except FaceSpaceError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    out = Path(args.output).resolve()
    out.parent.mkdir(parents=True, exist_ok=True)
    bpy.ops.wm.save_as_mainfile(filepath=str(out), compress=True)
    print(f"saved {out} (head '{head.name}')")
    for path, export in ((args.glb, api.export_glb), (args.fbx, api.export_fbx)):
        if path:
            Path(path).resolve().parent.mkdir(parents=True, exist_ok=True)
            export(head, str(Path(path).resolve()))
            print(f"exported {Path(path).resolve()}")
    print(f"done in {time.perf_counter() - t0:.1f} s")
    return 0


if __name__ == "__main__":
    rc = main()
    sys.stdout.flush()
    sys.stderr.flush()
    # Everything is written. Skip interpreter teardown: bpy-as-a-module together with the
    # torch/mediapipe native threads can hang in their exit handlers on this platform.
    os._exit(rc)
