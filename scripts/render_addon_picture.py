"""Render a reconstructed head (Workbench, textured) for docs/images/addon_head.png.

    .venv/bin/python scripts/headless_reconstruct.py PHOTO -o out/head.blend
    .venv/bin/python scripts/render_addon_picture.py out/head.blend docs/images/addon_head.png [--with-photo out/side.png]

Left: the head through the fitted photo camera; right: a three-quarter view. --with-photo
also writes the head next to the photo (keep that one out of the repository when the photo
is third-party test data).
"""
from __future__ import annotations

import argparse
import math
import os
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))


def render(scene, camera, path, size):
    import bpy
    scene.camera = camera
    r = scene.render
    r.engine = 'BLENDER_WORKBENCH'
    r.resolution_x, r.resolution_y = size
    r.resolution_percentage = 100
    r.film_transparent = False
    scene.display.shading.light = 'STUDIO'
    scene.display.shading.color_type = 'TEXTURE'
    r.filepath = str(path)
    bpy.ops.render.render(write_still=True)


def main(argv=None) -> int:
    p = argparse.ArgumentParser()
    p.add_argument("blend")
    p.add_argument("output")
    p.add_argument("--with-photo")
    args = p.parse_args(argv)
    import bpy
    import numpy as np
    from headless_reconstruct import load_addon, unload_addon
    from PIL import Image
    load_addon()
    bpy.ops.wm.open_mainfile(filepath=str(Path(args.blend).resolve()))
    head = next(o for o in bpy.data.objects if o.type == 'MESH' and o.facespace.is_head)
    scene = bpy.context.scene
    w, h = head["facespace_fit"]["image_size"]
    height = 600
    size = (round(w * height / h), height)
    tmp = Path(tempfile.mkdtemp())
    render(scene, head.facespace.camera, tmp / "front.png", size)
    cam = bpy.data.objects.new("three-quarter", bpy.data.cameras.new("three-quarter"))
    scene.collection.objects.link(cam)
    cam.data.lens = 85
    centre = np.mean([head.matrix_world @ v.co for v in head.data.vertices[:9409]], axis=0)
    ang = math.radians(35)
    cam.location = (centre[0] + 0.75 * math.sin(ang), centre[1] - 0.75 * math.cos(ang), centre[2] + 0.05)
    cam.rotation_euler = (math.radians(86), 0.0, ang)
    render(scene, cam, tmp / "side.png", (round(height * 0.8), height))
    front, side = Image.open(tmp / "front.png").convert("RGB"), Image.open(tmp / "side.png").convert("RGB")
    sheet = Image.new("RGB", (front.width + side.width, height), "white")
    sheet.paste(front, (0, 0))
    sheet.paste(side, (front.width, 0))
    Path(args.output).parent.mkdir(parents=True, exist_ok=True)
    sheet.save(args.output)
    if args.with_photo:
        photo = head.facespace.photo
        px = np.empty(photo.size[0] * photo.size[1] * 4, np.float32)
        photo.pixels.foreach_get(px)
        img = Image.fromarray((px.reshape(photo.size[1], photo.size[0], 4)[::-1, :, :3] * 255).astype(np.uint8))
        img = img.resize(size)
        both = Image.new("RGB", (img.width + sheet.width, height), "white")
        both.paste(img, (0, 0))
        both.paste(sheet, (img.width, 0))
        both.save(args.with_photo)
    unload_addon()
    return 0


if __name__ == "__main__":
    rc = main()
    sys.stdout.flush()
    os._exit(rc)  # see headless_reconstruct.py: bpy-as-a-module can hang at exit
