"""Reconstruction: per-stage and end-to-end time and peak memory for one photo (model loaded).

Default photo: ../shared/photos/identity/obama__obama.jpg scaled (in memory) to 1024 px on its
long side; 2048^2 texture. `--sheet PATH` also writes a contact sheet (photo, fitted mesh
over the photo, textured render from the photo's camera, textured render at 45 degrees yaw)
of the identity photos, for a person to look at.
"""
import time
from pathlib import Path

import numpy as np

from ..detect.image_io import load_image
from ..eval.sheets import write_sheet
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
    reconstruct(img, model, opts)  # warm-up: detector weights, caches, UV rasters
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
