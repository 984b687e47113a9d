"""Reconstruction accuracy: synthetic ground truth, the pipeline on annotated photos, and
same-person AUC. `python -m engine bench reconstruct_eval` prints the figures
docs/reconstruction.md reports; the tests use the same functions with their thresholds.
(The 68-point NME with leave-one-out tables is tools/landmarks68.nme_eval: it re-runs the
table builder.)"""
import numpy as np

from ..core.cache import cached
from ..core.errors import FaceSpaceError
from ..core.geometry import Camera, head_angles
from ..fit import fit_points
from ..landmarks.detector import detector_basis, detector_points, mp_jaw_points
from ..pipeline.many import face_shape_mm as identity_shape_mm
from ..pipeline.reconstruct import ReconstructOptions, reconstruct
from .datasets import SHARED
from .synthetic import detector_targets, face_error_mm, render_random_face, sample_face


# ---- synthetic --------------------------------------------------------------------------
def synthetic_landmark_eval(model, n=24, seed=0, noise_px=1.0, quality="balanced", yaw_max=60.0):
    """Landmark-only fits of random model faces: per face mean / p90 face error (mm) and
    reprojection error (px, fitted vs noiseless detector points)."""
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
                     "yaw_error_deg": abs(head_angles(fit.camera.rotation)["yaw"] - face.yaw_deg),
                     "focal_ratio": fit.camera.focal / face.K[0, 0], "fit_s": fit.seconds})
    return rows


def synthetic_texture(model, photo=None, size=512):
    """A face texture for rendered synthetic faces: baked from a real photo at run time."""
    photo = photo or SHARED / "photos" / "identity" / "obama__obama.jpg"
    return reconstruct(photo, model, ReconstructOptions(texture_size=size)).texture


def synthetic_render_eval(model, n=6, seed=0, texture=None, quality="balanced", yaw_max=60.0):
    """Full pipeline (MTCNN, mediapipe, fit) on rendered model faces with known geometry.
    Faces the detector misses are counted, not scored."""
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
        row.update({"yaw_error_deg": abs(head_angles(rec.rotation)["yaw"] - face.yaw_deg),
                    "mean_mm": float(err.mean()), "p90_mm": float(np.percentile(err, 90)),
                    "mean_shape_mm": float(face_error_mm(model, face.vertices(model), model.mean).mean()),
                    "reproj_px": float(np.linalg.norm(proj - clean, axis=1).mean()),
                    "detector_px": float(np.linalg.norm(rec.landmarks["detected478"] - clean, axis=1).mean())})
        rows.append(row)
    return rows


def fitted_samples(model, items, quality="balanced"):
    """Reconstruct each annotated photo (name, path, gt): the fitted vertices, camera and
    silhouette ids, as the pipeline produces them (the face whose box holds the annotation)."""
    out = []
    for name, path, gt in items:
        rec = reconstruct(path, model, ReconstructOptions(texture_size=64, quality=quality))
        if len(rec.faces) > 1:
            c = gt.mean(0)
            for k, f in enumerate(rec.faces):
                x0, y0, x1, y1 = f.box
                if x0 <= c[0] <= x1 and y0 <= c[1] <= y1 and k != rec.face_index:
                    rec = reconstruct(path, model, ReconstructOptions(texture_size=64, quality=quality, face_index=k))
                    break
        cam = Camera(rec.rotation, rec.translation, rec.focal, rec.image_size)
        v = rec.vertices.astype(np.float64)
        out.append({"name": name, "gt": gt, "rec": rec, "vertices": v, "camera": cam,
                    "silhouette_ids": rec.extras["silhouette68"],
                    "points478": cam.project(detector_points(model, v)),
                    "jaw_targets": mp_jaw_points(rec.landmarks["detected478"])})
    return out


def fitted_samples_cached(model, items, quality="balanced"):
    """`fitted_samples`, once per model, item list and quality."""
    key = ("fitted_samples", tuple(str(i[1]) for i in items), quality)
    return cached(model, key, lambda: fitted_samples(model, items, quality))


# ---- same person, same shape ------------------------------------------------------------
def shape_distance_mm(a, b):
    return float(np.linalg.norm(a - b, axis=1).mean())


def roc_auc(same, diff):
    """P(a same-person distance < a different-person distance); ties count half."""
    same, diff = np.asarray(same)[:, None], np.asarray(diff)[None, :]
    return float((same < diff).mean() + 0.5 * (same == diff).mean())


def identity_eval(model, items, quality="balanced"):
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




def summary(rows, keys, digits=3):
    ok = [r for r in rows if "error" not in r]
    return {k: round(float(np.mean([r[k] for r in ok])), digits) for k in keys} if ok else {}


