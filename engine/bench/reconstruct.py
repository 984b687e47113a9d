"""Reconstruction: per-stage and end-to-end time and peak memory for one photo (model loaded).

Default photo: ../shared/photos/identity/obama__obama.jpg scaled (in memory) to 1024 px on its
long side; 2048^2 texture. `--sheet PATH` also writes a contact sheet (photo, fitted mesh
over the photo, textured render from the photo's camera, textured render at 45 degrees yaw)
of the identity photos, for a person to look at.
"""
import time
from pathlib import Path

import numpy as np

from ..core.errors import FaceSpaceError
from ..detect.image_io import load_image
from ..eval.synthetic import render_head, textured_render_at_yaw
from ..model import load_model
from ..pipeline.reconstruct import ReconstructOptions, reconstruct
from ..core.options import QUALITIES
from ._common import machine, peak_rss_mb

SHARED = Path(__file__).resolve().parents[2].parent / "shared"
DEFAULT_PHOTO = SHARED / "photos" / "identity" / "obama__obama.jpg"


def add_arguments(p):
    p.add_argument("--photo", type=Path, default=DEFAULT_PHOTO)
    p.add_argument("--size", type=int, default=1024, help="scale the photo to this long side (0: as is)")
    p.add_argument("--texture-size", type=int, default=2048)
    p.add_argument("--device", default="auto")
    p.add_argument("--quality", default="balanced", choices=QUALITIES)
    p.add_argument("--regression-only", action="store_true", help="the fast mode: the regression alone, no fitting")
    p.add_argument("--repeat", type=int, default=3)
    p.add_argument("--sheet", type=Path, default=None, help="write a contact-sheet PNG here")
    p.add_argument("--sheet-photos", type=Path, default=SHARED / "photos" / "identity")
    p.add_argument("--sheet-max", type=int, default=8, help="photos on the sheet (0: all)")


def scaled_photo(path, size):
    from PIL import Image
    img = load_image(path)
    if size and max(img.shape[:2]) != size:
        h, w = img.shape[:2]
        k = size / max(h, w)
        img = np.asarray(Image.fromarray(img).resize((round(w * k), round(h * k)), Image.LANCZOS))
    return img


def run(args) -> dict:
    model = load_model()
    img = scaled_photo(args.photo, args.size)
    opts = ReconstructOptions(texture_size=args.texture_size, device=args.device, quality=args.quality,
                              regression_only=args.regression_only)
    rss0 = peak_rss_mb()
    t = time.perf_counter()
    first = reconstruct(img, model, opts)  # warm-up: detector weights, caches, UV rasters
    first_s = time.perf_counter() - t
    runs = []
    for _ in range(args.repeat):
        t = time.perf_counter()
        rec = reconstruct(img, model, opts)
        runs.append((time.perf_counter() - t, rec.timings))
    med = lambda xs: float(np.median(xs))
    stages = {k: round(med([r[1][k] for r in runs]), 4) for k in runs[0][1]}
    out = {
        "benchmark": "reconstruct",
        "photo": args.photo.name, "photo_size": [int(img.shape[1]), int(img.shape[0])],
        "texture_size": args.texture_size, "quality": args.quality, "device": args.device,
        "path": rec.path,
        "end_to_end_s_median": round(med([r[0] for r in runs]), 4),
        "end_to_end_s_min": round(min(r[0] for r in runs), 4),
        "first_call_s": round(first_s, 3),
        "stages_s_median": stages,
        "peak_rss_mb_before": round(rss0, 1), "peak_rss_mb_after": round(peak_rss_mb(), 1),
        "landmark_residual_px_mean": round(rec.quality["landmark_residual_px_mean"], 3),
        "machine": machine(),
    }
    if args.sheet:
        out["sheet"] = str(write_sheet(args.sheet, model, args.sheet_photos, args.sheet_max, opts))
    return out


def write_sheet(path, model, folder, max_photos, opts, cell=320):
    """One row per photo: photo | mesh overlay | textured render (photo camera) | 45 degrees yaw."""
    from PIL import Image, ImageDraw
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
    from PIL import Image
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
    from PIL import Image, ImageDraw
    im = Image.fromarray(np.ascontiguousarray(a))
    d = ImageDraw.Draw(im)
    d.rectangle((0, 0, im.width, 14), fill=(0, 0, 0))
    d.text((3, 1), text, fill=(255, 255, 255))
    return np.asarray(im)
