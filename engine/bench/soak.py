"""Soak: N reconstructions (and writes) in one process; memory must level off.

Cycles through the shared identity photos. Passes when the peak RSS at the end is within
10 % of the peak RSS after the first `--settle` photos (caches, rasters and lazily imported
libraries are in by then), i.e. nothing grows per photo.
"""
import os
import statistics
import tempfile
import time
from pathlib import Path

from ..core.options import QUALITIES
from ..io.export import write_outputs
from ..model import load_model
from ..pipeline.reconstruct import ReconstructOptions, reconstruct
from ._common import machine, peak_rss_mb

SHARED = Path(__file__).resolve().parents[2].parent / "shared"


def add_arguments(p):
    p.add_argument("--n", type=int, default=60)
    p.add_argument("--settle", type=int, default=20, help="photos after which memory should be level")
    p.add_argument("--photos", type=Path, default=SHARED / "photos" / "identity")
    p.add_argument("--texture-size", type=int, default=1024)
    p.add_argument("--quality", default="balanced", choices=QUALITIES)


def _rss_mb() -> float:
    with open("/proc/self/statm") as f:   # current, not peak (Linux)
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def run(args) -> dict:
    photos = sorted(p for p in args.photos.iterdir() if p.suffix.lower() in (".jpg", ".jpeg", ".png"))
    model = load_model()
    opts = ReconstructOptions(texture_size=args.texture_size, quality=args.quality)
    settle = min(args.settle, max(1, args.n // 2))
    peaks, rss, seconds, errors = [], [], [], 0
    with tempfile.TemporaryDirectory() as tmp:
        for i in range(args.n):
            t, rec = time.perf_counter(), None
            try:
                rec = reconstruct(photos[i % len(photos)], model, opts)
                write_outputs(rec, model, Path(tmp) / "out", overwrite=True)
            except Exception:   # a soak counts failures, it does not stop on them
                errors += 1
            del rec
            seconds.append(time.perf_counter() - t)
            peaks.append(peak_rss_mb())
            rss.append(_rss_mb())
    growth = peaks[-1] / peaks[settle - 1] - 1.0
    return {"n": args.n, "settle": settle, "errors": errors, "texture_size": args.texture_size,
            "quality": opts.quality,
            "first_photo_s": round(seconds[0], 2), "median_s": round(statistics.median(seconds[1:] or seconds), 2),
            "peak_rss_mb_after_settle": round(peaks[settle - 1], 1), "peak_rss_mb_end": round(peaks[-1], 1),
            "rss_mb_after_settle": round(rss[settle - 1], 1), "rss_mb_end": round(rss[-1], 1),
            "peak_growth_pct": round(100 * growth, 2), "passed": growth <= 0.10, "machine": machine()}
