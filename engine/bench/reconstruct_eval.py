"""Reconstruction accuracy: synthetic ground truth, 68-point NME on annotated photos, same-person AUC.

Prints the figures docs/reconstruction.md reports; tests/test_fit.py and
tests/test_reconstruct.py use the same functions with their thresholds.
"""
import csv
import json
import time
from pathlib import Path

import numpy as np

from ._common import machine

SHARED = Path(__file__).resolve().parents[2].parent / "shared"


def add_arguments(p):
    p.add_argument("--synthetic", type=int, default=24, help="landmark-only synthetic faces")
    p.add_argument("--rendered", type=int, default=6, help="rendered synthetic faces (full pipeline)")
    p.add_argument("--noise", type=float, default=1.0, help="landmark noise, px at 512 px")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--quality", default="balanced")
    p.add_argument("--skip", default="", help="comma list of parts to skip: synthetic,rendered,nme,identity")


# ---- synthetic --------------------------------------------------------------------------
def synthetic_landmark_eval(model, n=24, seed=0, noise_px=1.0, quality="balanced", yaw_max=60.0):
    """Landmark-only fits of random model faces: per face mean / p90 face error (mm) and
    reprojection error (px, fitted vs noiseless detector points)."""
    from ..fit import FitSettings, rotation_angles
    from ..reconstruct import detector_basis, fit_points
    from ..synthetic import detector_targets, face_error_mm, sample_face
    rng = np.random.default_rng(seed)
    basis = detector_basis(model)
    rows = []
    for _ in range(n):
        face = sample_face(model, rng, yaw_max=yaw_max)
        pts, jaw = detector_targets(model, face, rng, noise_px)
        clean, _ = detector_targets(model, face)
        fit = fit_points(model, pts, face.image_size, quality=quality, jaw_points=jaw)
        err = face_error_mm(model, face.vertices(model), model.vertices(fit.identity, fit.expression))
        c = np.concatenate([fit.identity, fit.expression]).astype(np.float64)
        proj = fit.camera.project(basis.mean + np.tensordot(c, basis.basis, 1))
        rows.append({"yaw": face.yaw_deg, "mean_mm": float(err.mean()), "p90_mm": float(np.percentile(err, 90)),
                     "mean_shape_mm": float(face_error_mm(model, face.vertices(model), model.mean).mean()),
                     "reproj_px": float(np.linalg.norm(proj - clean, axis=1).mean()),
                     "yaw_error_deg": abs(rotation_angles(fit.camera.rotation)["yaw"] - face.yaw_deg),
                     "focal_ratio": fit.camera.focal / face.K[0, 0], "fit_s": fit.seconds})
    return rows


def synthetic_texture(model, photo=None, size=512):
    """A face texture for rendered synthetic faces: baked from a real photo at run time."""
    from ..reconstruct import ReconstructOptions, reconstruct
    photo = photo or SHARED / "photos" / "identity" / "obama__obama.jpg"
    return reconstruct(photo, model, ReconstructOptions(texture_size=size)).texture


def synthetic_render_eval(model, n=6, seed=0, texture=None, quality="balanced", yaw_max=60.0):
    """Full pipeline (MTCNN, mediapipe, fit) on rendered model faces with known geometry.
    Faces the detector misses are counted, not scored."""
    from ..errors import FaceSpaceError
    from ..fit import Camera, rotation_angles
    from ..reconstruct import ReconstructOptions, detector_basis, reconstruct
    from ..synthetic import detector_targets, face_error_mm, render_random_face
    rng = np.random.default_rng(seed)
    rows = []
    for i in range(n):
        face, img = render_random_face(model, rng, texture=texture, yaw_max=yaw_max, background=(60, 200))
        row = {"yaw": face.yaw_deg}
        try:
            rec = reconstruct(img, model, ReconstructOptions(texture_size=64, quality=quality))
        except FaceSpaceError as exc:
            row["error"] = type(exc).__name__
            rows.append(row)
            continue
        err = face_error_mm(model, face.vertices(model), rec.vertices)
        clean, _ = detector_targets(model, face)
        basis = detector_basis(model)
        c = np.concatenate([rec.identity, rec.expression]).astype(np.float64)
        cam = Camera(rec.rotation, rec.translation, rec.focal, rec.image_size)
        proj = cam.project(basis.mean + np.tensordot(c, basis.basis, 1))
        row.update({"yaw_error_deg": abs(rotation_angles(rec.rotation)["yaw"] - face.yaw_deg),
                    "mean_mm": float(err.mean()), "p90_mm": float(np.percentile(err, 90)),
                    "mean_shape_mm": float(face_error_mm(model, face.vertices(model), model.mean).mean()),
                    "reproj_px": float(np.linalg.norm(proj - clean, axis=1).mean()),
                    "detector_px": float(np.linalg.norm(rec.landmarks["detected478"] - clean, axis=1).mean())})
        rows.append(row)
    return rows


# ---- annotated photos -------------------------------------------------------------------
def landmark_items(root=None):
    """(name, image path, (68, 2) 0-based ground truth) for every annotated face."""
    root = Path(root or SHARED / "photos" / "landmarks")
    items = []
    for j in sorted(root.glob("*/json/*.json")):
        d = json.loads(j.read_text())
        gt = np.asarray(d["landmarks68"], dtype=np.float64)
        if str(d.get("coord_origin", "")).startswith("1-based"):
            gt = gt - 1.0
        items.append((f"{j.parent.parent.name}/{j.stem}", root / d["image"], gt))
    return items


def nme_eval(model, items, quality="balanced", leave_one_out=True):
    """Per image, NME against the human annotation of:
    fit_nme: the fitted model's 68 landmarks (rec.landmarks["contour68"]: the calibrated table
      engine/data/model_landmarks68.json, chosen on these same photos: in-sample);
    fit_loo_nme: the same with the table chosen without this image (engine/model_landmarks.py);
    fit_prev_nme: the previous definition (detector's 68 blend on the fitted surface, jaw on the
      silhouette); fit_fixed_nme: ICT's fixed 68 landmark vertices;
    detector_nme: the detector's own 68-point subset (detect.to68; its table was chosen on these
      photos too); detector_loo_nme: the detector with its table chosen without this image;
    detector_public_nme: the detector's 68 by the public MediaPipe-to-68 table in ../shared/mediapipe
      (nothing chosen on these photos)."""
    from ..detect import to68
    from ..metrics import nme68, point_errors
    from ..model_landmarks import calibrate
    from ..reconstruct import landmarks68
    from ..commands.build_correspondence import HEURISTIC, load_mp68_any
    pub_idx, pub_w = load_mp68_any(SHARED / "mediapipe" / HEURISTIC)
    samples = fitted_samples_cached(model, items, quality)
    rows = []
    for s in samples:
        rec = s["rec"]
        pts478 = rec.landmarks["detected478"].astype(np.float64)
        det = to68(pts478)
        prev = landmarks68(model, s["vertices"], s["camera"], s["silhouette_ids"], table=None)[1]
        rows.append({"image": s["name"], "fit_nme": nme68(rec.landmarks["contour68"], s["gt"]),
                     "fit_prev_nme": nme68(prev, s["gt"]),
                     "fit_fixed_nme": nme68(rec.landmarks["fixed68"], s["gt"]), "detector_nme": nme68(det, s["gt"]),
                     "detector_public_nme": nme68((pts478[pub_idx] * pub_w[..., None]).sum(1), s["gt"])})
    if leave_one_out:
        from ..commands.build_correspondence import fit_mp68
        from ..obj_io import read_positions
        mp = read_positions(SHARED / "mediapipe" / "face_model_with_iris.obj")
        seed = pub_idx                                    # the public table seeds the choice
        dets = [(s["name"], s["rec"].landmarks["detected478"].astype(np.float64), s["gt"]) for s in samples]
        det_loo = []
        for i in range(len(dets)):  # the detector's 68 table chosen without image i
            idx, w = fit_mp68(dets[:i] + dets[i + 1:], mp, seed)
            det_loo.append((dets[i][1][idx] * w[..., None]).sum(1))
        # the fit's jaw follows the detected jaw points: leave-one-out, those come from the
        # detector table chosen without the image too
        _, _, loo = calibrate(model, samples, loo_jaw_targets=[d[:17] for d in det_loo])
        for i, r in enumerate(rows):
            r["fit_loo_nme"] = float(loo[i].mean())
            r["detector_loo_nme"] = float(point_errors(det_loo[i], dets[i][2]).mean())
    return rows


_SAMPLES: dict = {}


def fitted_samples_cached(model, items, quality="balanced"):
    """engine.model_landmarks.fitted_samples, once per process and model."""
    from ..model_landmarks import fitted_samples
    key = (id(model), tuple(str(i[1]) for i in items), quality)
    if key not in _SAMPLES:
        _SAMPLES[key] = fitted_samples(model, items, quality)
    return _SAMPLES[key]


# ---- same person, same shape ------------------------------------------------------------
def identity_items(folder=None):
    folder = Path(folder or SHARED / "photos" / "identity")
    with open(folder / "labels.csv") as f:
        return [(folder / r["file"], r["identity"]) for r in csv.DictReader(f)]


def identity_shape_mm(model, identity):
    """Identity-only face-region shape (no expression), mm."""
    return model.vertices(identity, None, region="face").astype(np.float64) * model.mm_per_unit


def shape_distance_mm(a, b):
    return float(np.linalg.norm(a - b, axis=1).mean())


def roc_auc(same, diff):
    """P(a same-person distance < a different-person distance); ties count half."""
    same, diff = np.asarray(same)[:, None], np.asarray(diff)[None, :]
    return float((same < diff).mean() + 0.5 * (same == diff).mean())


def identity_eval(model, items, quality="balanced"):
    from ..reconstruct import ReconstructOptions, reconstruct
    recs = []
    for path, person in items:
        rec = reconstruct(path, model, ReconstructOptions(texture_size=64, quality=quality))
        recs.append((path.name, person, rec.identity))
    return recs, identity_auc(model, recs)


def identity_auc(model, recs):
    shapes = [identity_shape_mm(model, r[2]) for r in recs]
    same, diff = [], []
    for i in range(len(recs)):
        for j in range(i + 1, len(recs)):
            (same if recs[i][1] == recs[j][1] else diff).append(shape_distance_mm(shapes[i], shapes[j]))
    return {"auc": roc_auc(same, diff), "same_mm_mean": float(np.mean(same)),
            "diff_mm_mean": float(np.mean(diff)), "n_same": len(same), "n_diff": len(diff)}


def _summary(rows, keys, digits=3):
    ok = [r for r in rows if "error" not in r]
    return {k: round(float(np.mean([r[k] for r in ok])), digits) for k in keys} if ok else {}


def run(args) -> dict:
    from ..model import load_model
    model = load_model()
    skip = set(filter(None, args.skip.split(",")))
    out = {"benchmark": "reconstruct_eval", "quality": args.quality}
    t0 = time.perf_counter()
    if "synthetic" not in skip:
        rows = synthetic_landmark_eval(model, args.synthetic, args.seed, args.noise, args.quality)
        out["synthetic_landmarks"] = {"n": len(rows), "noise_px": args.noise,
                                      **_summary(rows, ("mean_mm", "p90_mm", "mean_shape_mm", "reproj_px",
                                                        "yaw_error_deg", "fit_s")),
                                      "worst_mean_mm": round(max(r["mean_mm"] for r in rows), 3),
                                      "worst_p90_mm": round(max(r["p90_mm"] for r in rows), 3)}
    if "rendered" not in skip:
        rows = synthetic_render_eval(model, args.rendered, args.seed, synthetic_texture(model), args.quality)
        out["synthetic_rendered"] = {"n": len(rows), "detected": sum("error" not in r for r in rows),
                                     **_summary(rows, ("mean_mm", "p90_mm", "mean_shape_mm", "reproj_px", "detector_px", "yaw_error_deg")),
                                     "rows": [{k: (round(v, 3) if isinstance(v, float) else v) for k, v in r.items()} for r in rows]}
    if "nme" not in skip:
        rows = nme_eval(model, landmark_items(), args.quality)
        out["nme68"] = {"rows": [{k: (round(v, 4) if isinstance(v, float) else v) for k, v in r.items()} for r in rows],
                        **_summary(rows, ("fit_nme", "fit_loo_nme", "detector_nme", "detector_loo_nme",
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
