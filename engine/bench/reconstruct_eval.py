"""Reconstruction accuracy: synthetic ground truth, 68-point NME on annotated photos, same-person AUC."""
import time

from ..eval.datasets import identity_items, landmark_items
from ..eval.reconstruct_eval import (identity_eval, summary, synthetic_landmark_eval, synthetic_render_eval,
                                     synthetic_texture)
from ..model import load_model
from ..tools.landmarks68 import nme_eval
from ._common import machine


def add_arguments(p):
    p.add_argument("--synthetic", type=int, default=24, help="landmark-only synthetic faces")
    p.add_argument("--rendered", type=int, default=6, help="rendered synthetic faces (full pipeline)")
    p.add_argument("--noise", type=float, default=1.0, help="landmark noise, px at 512 px")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--quality", default="balanced")
    p.add_argument("--skip", default="", help="comma list of parts to skip: synthetic,rendered,nme,identity")


def run(args) -> dict:
    model = load_model()
    skip = set(filter(None, args.skip.split(",")))
    out = {"benchmark": "reconstruct_eval", "quality": args.quality}
    t0 = time.perf_counter()
    if "synthetic" not in skip:
        rows = synthetic_landmark_eval(model, args.synthetic, args.seed, args.noise, args.quality)
        out["synthetic_landmarks"] = {"n": len(rows), "noise_px": args.noise,
                                      **summary(rows, ("mean_mm", "p90_mm", "mean_shape_mm", "reproj_px",
                                                        "yaw_error_deg", "fit_s")),
                                      "worst_mean_mm": round(max(r["mean_mm"] for r in rows), 3),
                                      "worst_p90_mm": round(max(r["p90_mm"] for r in rows), 3)}
    if "rendered" not in skip:
        rows = synthetic_render_eval(model, args.rendered, args.seed, synthetic_texture(model), args.quality)
        out["synthetic_rendered"] = {"n": len(rows), "detected": sum("error" not in r for r in rows),
                                     **summary(rows, ("mean_mm", "p90_mm", "mean_shape_mm", "reproj_px", "detector_px", "yaw_error_deg")),
                                     "rows": [{k: (round(v, 3) if isinstance(v, float) else v) for k, v in r.items()} for r in rows]}
    if "nme" not in skip:
        rows = nme_eval(model, landmark_items(), args.quality)
        out["nme68"] = {"rows": [{k: (round(v, 4) if isinstance(v, float) else v) for k, v in r.items()} for r in rows],
                        **summary(rows, ("fit_nme", "fit_loo_nme", "detector_nme", "detector_loo_nme",
                                           "detector_public_nme", "fit_prev_nme", "fit_fixed_nme"), 4),
                        "fit_better_than_detector": sum(r["fit_nme"] < r["detector_nme"] for r in rows),
                        "fit_better_than_detector_public_table": sum(r["fit_nme"] < r["detector_public_nme"] for r in rows),
                        **({"fit_loo_better_than_detector_loo": sum(r["fit_loo_nme"] < r["detector_loo_nme"] for r in rows)}
                           if rows and "fit_loo_nme" in rows[0] else {})}
    if "identity" not in skip:
        recs, auc = identity_eval(model, identity_items(), args.quality)
        out["identity"] = {"photos": len(recs), **{k: (round(v, 4) if isinstance(v, float) else v) for k, v in auc.items()}}
    out["seconds"] = round(time.perf_counter() - t0, 1)
    out["machine"] = machine()
    return out
