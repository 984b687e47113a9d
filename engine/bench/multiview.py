"""Several photos of one person: synthetic 3-view accuracy, same-person consistency, the
stranger check, texture coverage and blend boundary, and speed."""
import time
from pathlib import Path

from ..eval.datasets import SHARED
from ..eval.multiview_eval import (consistency_eval, outlier_eval, people, speed_eval, synthetic_views_eval,
                                   texture_eval)
from ..eval.sheets import write_multiview_sheet
from ..model import load_model
from ..pipeline.reconstruct import ReconstructOptions
from ._common import machine


def add_arguments(p):
    p.add_argument("--synthetic", type=int, default=20, help="synthetic heads (3 views each)")
    p.add_argument("--skip", default="", help="comma list: synthetic,consistency,outliers,texture,speed")
    p.add_argument("--texture-people", type=int, default=3)
    p.add_argument("--sheet", type=Path, default=None, help="write a contact sheet of fused heads here (PNG)")


def run(args) -> dict:
    model = load_model()
    skip = set(filter(None, args.skip.split(",")))
    out = {"benchmark": "multiview"}
    t0 = time.perf_counter()
    if "synthetic" not in skip:
        rows = synthetic_views_eval(model, args.synthetic)
        n = len(rows)
        out["synthetic"] = {"heads": n,
                            "single_mm_mean": round(sum(r["single_mm"] for r in rows) / n, 3),
                            "joint_mm_mean": round(sum(r["joint_mm"] for r in rows) / n, 3),
                            "joint_better_on": sum(r["joint_mm"] < r["single_mm"] for r in rows),
                            "pose_error_deg_max": round(max(r["pose_error_deg_max"] for r in rows), 2),
                            "pose_error_deg_mean_of_max": round(sum(r["pose_error_deg_max"] for r in rows) / n, 2)}
    sets = people(6)
    if "consistency" not in skip:
        out["consistency"] = consistency_eval(model, sets)
    if "outliers" not in skip:
        out["outliers"] = outlier_eval(model, people(4))
    if "texture" not in skip:
        out["texture"] = texture_eval(model, dict(list(sets.items())[:args.texture_people]))
    if "speed" not in skip:
        s = SHARED / "photos" / "identity"
        out["speed"] = speed_eval(model, [s / "obama__obama.jpg", s / "obama__obama1.jpg", s / "obama__obama2.jpg"])
    if args.sheet:
        groups = {p: paths[:3] for p, paths in list(people(3).items())[:4]}
        out["sheet"] = str(write_multiview_sheet(args.sheet, model, groups, ReconstructOptions(texture_size=1024)))
    out["seconds"] = round(time.perf_counter() - t0, 1)
    out["machine"] = machine()
    return out
