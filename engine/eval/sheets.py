"""Contact sheets of reconstructions next to their photos, for a person to look at."""
from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

from ..core.errors import FaceSpaceError
from ..pipeline.many import reconstruct_many
from ..pipeline.reconstruct import reconstruct
from .synthetic import render_head, textured_render_at_yaw


def write_sheet(path, model, folder, max_photos, opts, cell=320):
    """One row per photo: photo | mesh overlay | textured render (photo camera) | 45 degrees yaw."""
    photos = sorted(p for p in Path(folder).iterdir() if p.suffix.lower() in (".jpg", ".jpeg", ".png"))
    if max_photos:
        photos = photos[:max_photos]
    rows = []
    for p in photos:
        try:
            rec = reconstruct(p, model, opts)
        except FaceSpaceError as exc:
            rows.append([_label(np.full((cell, cell, 3), 40, np.uint8), f"{p.name}: {exc}"[:60])])
            continue
        rows.append([_label(c, s) for c, s in zip(sheet_cells(rec, model, cell),
                     (p.name[:40], f"fit {rec.quality['landmark_residual_px_mean']:.1f}px", rec.path, "45 deg"))])
    sheet = np.full((cell * len(rows), cell * 4, 3), 255, np.uint8)
    for i, row in enumerate(rows):
        for j, c in enumerate(row):
            sheet[i * cell:(i + 1) * cell, j * cell:(j + 1) * cell] = c
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(sheet).save(path)
    return path


def sheet_cells(rec, model, cell=320):
    """The four views of one reconstruction, cropped around the face, (cell, cell, 3) each."""
    img = rec.image
    w, h = rec.image_size
    mesh, cov = render_head(model, rec.vertices, rec.world_to_camera, rec.K, (w, h), texture=None,
                            background=img, skin_color=(200, 200, 210), shading=0.7)
    overlay = img.copy()
    overlay[cov] = (0.35 * img[cov] + 0.65 * mesh[cov]).astype(np.uint8)
    textured, _ = render_head(model, rec.vertices, rec.world_to_camera, rec.K, (w, h),
                              texture=rec.texture, background=np.full_like(img, 90), shading=0.0)
    x0, y0, x1, y1 = rec.faces[rec.face_index].box
    cx, cy, side = (x0 + x1) / 2, (y0 + y1) / 2, max(x1 - x0, y1 - y0) * 1.8
    box = tuple(int(round(v)) for v in (cx - side / 2, cy - side / 2, cx + side / 2, cy + side / 2))
    crop = lambda a: np.asarray(Image.fromarray(a).crop(box).resize((cell, cell), Image.BILINEAR))
    yaw45 = textured_render_at_yaw(model, rec.vertices, rec.texture, 45.0, size=cell)
    return [crop(img), crop(overlay), crop(textured), yaw45]


def _label(a, text):
    im = Image.fromarray(np.ascontiguousarray(a))
    d = ImageDraw.Draw(im)
    d.rectangle((0, 0, im.width, 14), fill=(0, 0, 0))
    d.text((3, 1), text, fill=(255, 255, 255))
    return np.asarray(im)


def _overlay_crop(model, image, vertices, world_to_camera, K, box, cell):
    """The photo with the fitted mesh over it, cropped around the face box."""
    h, w = image.shape[:2]
    mesh, cov = render_head(model, vertices, world_to_camera, K, (w, h), texture=None, background=image,
                            skin_color=(200, 200, 210), shading=0.7)
    overlay = image.copy()
    overlay[cov] = (0.45 * image[cov] + 0.55 * mesh[cov]).astype(np.uint8)
    x0, y0, x1, y1 = box
    cx, cy, side = (x0 + x1) / 2, (y0 + y1) / 2, max(x1 - x0, y1 - y0) * 1.8
    crop = tuple(int(round(v)) for v in (cx - side / 2, cy - side / 2, cx + side / 2, cy + side / 2))
    return np.asarray(Image.fromarray(overlay).crop(crop).resize((cell, cell), Image.BILINEAR))


def write_multiview_sheet(path, model, groups: dict, opts, cell=256, n_photos=3):
    """One row per person: each photo with the shared-identity fit over it, then the fused
    head rendered at -45, 0 and 45 degrees."""
    rows = []
    for person, photos in groups.items():
        try:
            rec = reconstruct_many(photos, model, opts)
        except FaceSpaceError as exc:
            rows.append([_label(np.full((cell, cell, 3), 40, np.uint8), f"{person}: {exc}"[:60])])
            continue
        cells = []
        for v in rec.extras["views"][:n_photos]:
            cam = v["fit"].camera
            cells.append(_label(_overlay_crop(model, v["image"], v["vertices"], cam.world_to_camera, cam.K,
                                              v["faces"][v["face_index"]].box, cell),
                                f"{Path(v['source']).name[:28]} {v['landmark_residual_px_mean']:.1f}px"))
        while len(cells) < n_photos:
            cells.append(np.full((cell, cell, 3), 255, np.uint8))
        for yaw in (-45.0, 0.0, 45.0):
            cells.append(_label(textured_render_at_yaw(model, rec.vertices, rec.texture, yaw, size=cell),
                                f"{person} fused, {yaw:+.0f} deg"))
        rows.append(cells)
    width = max(len(r) for r in rows)
    sheet = np.full((cell * len(rows), cell * width, 3), 255, np.uint8)
    for i, row in enumerate(rows):
        for j, c in enumerate(row):
            sheet[i * cell:(i + 1) * cell, j * cell:(j + 1) * cell] = c
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(sheet).save(path)
    return path
