"""Turned heads: the fit's 68 landmarks against MediaPipe's own 68 (public table) on the
large-pose set (AFLW2000-3D, 60 heads), by yaw band, and on the frontal sets.

`pose_items()` reads the set; `landmark_rows(model, items)` reconstructs every photo with
the normal pipeline and scores it; `summarise(rows)` gives the per-band figures and
`markdown(...)` the table docs/benchmarks.md carries. `python -m engine bench landmarks`.
"""
from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np

from ..core.errors import FaceSpaceError
from ..pipeline.reconstruct import ReconstructOptions, reconstruct
from .datasets import FRONTAL_SETS, LARGE_POSE_SET, SHARED, annotated_files, read_annotation
from .metrics import nme68, point_errors

BANDS = ((0, 30), (30, 60), (60, 91))
PARTS = {"jaw": slice(0, 17), "brows": slice(17, 27), "nose": slice(27, 36), "eyes": slice(36, 48),
         "mouth": slice(48, 68)}
PUBLIC_TABLE = SHARED / "mediapipe" / "mp_to_ibug68_peizhiyan.json"


def public_table(path=PUBLIC_TABLE):
    """PeizhiYan's public MediaPipe-to-68 table -> (index (68, 2), weight (68, 2))."""
    rows = json.loads(Path(path).read_text())["ibug68_to_mediapipe_mean_of"]
    idx = np.array([(r * 2)[:2] for r in rows], dtype=np.int64)
    w = np.array([[0.5, 0.5] if len(r) > 1 else [1.0, 0.0] for r in rows])
    return idx, w


def mediapipe68(points478, table=None):
    idx, w = table or public_table()
    return (np.asarray(points478, dtype=np.float64)[idx] * w[..., None]).sum(1)


def pose_items(root=None, sets=(LARGE_POSE_SET,)):
    """[{name, path, gt (68, 2), gt2d (68, 2) or None, yaw (deg, abs) or None}]."""
    root = Path(root or SHARED / "photos" / "landmarks")
    out = []
    for j in annotated_files(root, sets):
        d, gt = read_annotation(j)
        re = d.get("landmarks68_2d_reannotated")
        out.append({"name": f"{j.parent.parent.name}/{j.stem}", "path": root / d["image"], "gt": gt,
                    "gt2d": None if re is None else np.asarray(re, dtype=np.float64),
                    "yaw": None if "head_pose_deg" not in d else abs(float(d["head_pose_deg"]["yaw"]))})
    return out


def on_face(points68, gt) -> bool:
    """The fitted landmarks' centre lies inside the annotated face's box: the face asked for."""
    c = np.asarray(points68).mean(0)
    lo, hi = gt.min(0), gt.max(0)
    return bool(np.all(c >= lo) and np.all(c <= hi))


def landmark_rows(model, items, quality="balanced", recon=None, progress=None, keep_points=False) -> list:
    """Per item: status (ok | no_face | error name | other_face), and NMEs of the fit's 68
    (rec.landmarks["contour68"]) and MediaPipe's 68 (public table) against landmarks68 and
    the 2D re-annotation."""
    recon = recon or reconstruct
    table = public_table()
    rows = []
    for k, it in enumerate(items):
        row = {"image": it["name"], "yaw": it["yaw"]}
        t = time.perf_counter()
        try:
            rec = recon(it["path"], model, ReconstructOptions(texture_size=64, quality=quality))
        except FaceSpaceError as exc:
            row.update(status=type(exc).__name__, message=str(exc)[:80], seconds=time.perf_counter() - t)
            rows.append(row)
            continue
        row["seconds"] = time.perf_counter() - t
        fit68 = rec.landmarks["contour68"].astype(np.float64)
        mp68 = mediapipe68(rec.landmarks["detected478"], table)
        row["status"] = "ok" if on_face(fit68, it["gt"]) else "other_face"
        row.update(fit_nme=nme68(fit68, it["gt"]), mp_nme=nme68(mp68, it["gt"]),
                   head_yaw=float(rec.quality.get("head_yaw_deg", np.nan)),
                   evidence=rec.extras.get("evidence"),
                   warnings=[w["code"] for w in rec.warnings])
        ef, em = point_errors(fit68, it["gt"]), point_errors(mp68, it["gt"])
        if keep_points:
            row.update(fit68=fit68.tolist(), mp68=mp68.tolist())
        row["parts"] = {k: [float(ef[sl].mean()), float(em[sl].mean())] for k, sl in PARTS.items()}
        if it.get("gt2d") is not None:
            row.update(fit_nme_2d=nme68(fit68, it["gt2d"]), mp_nme_2d=nme68(mp68, it["gt2d"]))
        rows.append(row)
        if progress:
            progress(k, row)
    return rows


def _stats(rows, key):
    v = np.array([r[key] for r in rows if key in r])
    if not len(v):
        return {}
    return {"mean": float(v.mean()), "median": float(np.median(v)), "max": float(v.max())}


def summarise(rows) -> dict:
    """Per yaw band and overall: counts, and NME mean / median / max of fit and MediaPipe on
    the photos both handle (fitted on the right face)."""
    groups = {"all": rows}
    if any(r.get("yaw") is not None for r in rows):
        for lo, hi in BANDS:
            groups[f"{lo}-{min(hi, 90)}"] = [r for r in rows if r.get("yaw") is not None and lo <= r["yaw"] < hi]
    out = {}
    for name, g in groups.items():
        ok = [r for r in g if r["status"] == "ok"]
        s = {"n": len(g), "fitted": len(ok),
             "no_face": sum(r["status"] == "NoFaceError" for r in g),
             "other_face": sum(r["status"] == "other_face" for r in g),
             "failed": sum(r["status"] not in ("ok", "other_face") for r in g),
             "fit_better": sum(r["fit_nme"] < r["mp_nme"] for r in ok)}
        for key in ("fit_nme", "mp_nme", "fit_nme_2d", "mp_nme_2d"):
            s[key] = _stats(ok, key)
        s["fit_better_2d"] = sum(r["fit_nme_2d"] < r["mp_nme_2d"] for r in ok if "fit_nme_2d" in r)
        s["seconds_median"] = float(np.median([r["seconds"] for r in g])) if g else None
        out[name] = s
    return out


def markdown(summary: dict, title="") -> str:
    """One table: a row per group."""
    pct = lambda s, k: f"{100 * s[k]:.2f}" if k in s else "-"
    lines = [title, "",
             "| yaw band | photos | fitted | no face / failed / other face | fit better | NME fit mean / median | "
             "NME MediaPipe mean / median | max fit / MP | 2D re-annot. fit / MP mean | fit better (2D) |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    for name, s in summary.items():
        f, m, f2, m2 = s["fit_nme"], s["mp_nme"], s["fit_nme_2d"], s["mp_nme_2d"]
        lines.append(
            f"| {name} | {s['n']} | {s['fitted']} | {s['no_face']} / {s['failed'] - s['no_face']} / {s['other_face']} | "
            f"{s['fit_better']}/{s['fitted']} | {pct(f, 'mean')} / {pct(f, 'median')} | {pct(m, 'mean')} / {pct(m, 'median')} | "
            f"{pct(f, 'max')} / {pct(m, 'max')} | {pct(f2, 'mean')} / {pct(m2, 'mean')} | {s['fit_better_2d']}/{s['fitted']} |")
    return "\n".join(lines) + "\n"


def frontal_items():
    return pose_items(sets=FRONTAL_SETS)
