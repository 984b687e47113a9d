"""Offline builder (`python -m engine build-correspondence`): the derived tables that tie mediapipe's face mesh
to the iBUG-68 scheme and to the ICT model (engine/data/, committed).

1. `--fit-68` (optional): choose, per iBUG-68 point, the mediapipe point or fixed blend of two
   neighbouring points that best matches the human annotations in ../shared/photos/landmarks
   (left/right tied, so 9 photos fit ~36 choices, not 68). Writes mediapipe_to_68.json.
2. Align mediapipe's canonical mesh (read in place from ../shared/mediapipe, never shipped) to
   the ICT neutral and project every point onto the surface. Writes mediapipe_correspondence.json.
"""
from __future__ import annotations

import itertools
import json
from pathlib import Path

import numpy as np

from ..detect import detect_faces, face_landmarks
from ..detect.image_io import load_image
from ..eval.datasets import annotated_files
from ..eval.metrics import nme68
from ..landmarks.correspondence import TABLE_PATH, build_correspondence
from ..landmarks.mp68 import MIRROR68, MP68_PATH
from ..model import load_model
from ..model.obj_io import read_positions

SHARED = Path(__file__).resolve().parents[2].parent / "shared"
HEURISTIC = "mp_to_ibug68_peizhiyan.json"
BLEND_T = (0.25, 0.5, 0.75)
POOL = 12


def load_mp68_any(path: Path):
    """Our table ({index, weight}) or PeizhiYan's ({ibug68_to_mediapipe_mean_of})."""
    d = json.loads(Path(path).read_text())
    if "index" in d:
        return np.asarray(d["index"], dtype=np.int64), np.asarray(d["weight"], dtype=np.float64)
    rows = d["ibug68_to_mediapipe_mean_of"]
    idx = np.array([(r * 2)[:2] for r in rows], dtype=np.int64)  # pad by repeating
    return idx, np.full((len(rows), 2), 0.5)


def annotated_landmarks(landmarks_dir: Path):
    """[(name, mediapipe (478,2), gt (68,2) 0-based)] for every annotated photo."""
    out = []
    for f in annotated_files(landmarks_dir):
        d = json.loads(f.read_text())
        gt = np.asarray(d["landmarks68"], dtype=np.float64)
        if str(d["coord_origin"]).startswith("1-based"):
            gt = gt - 1.0
        image = load_image(landmarks_dir / d["image"])
        faces = detect_faces(image)
        c = gt.mean(0)  # the annotated face: the box nearest the annotation's centre
        face = min(faces, key=lambda b: np.hypot((b.box[0] + b.box[2]) / 2 - c[0],
                                                  (b.box[1] + b.box[3]) / 2 - c[1]))
        out.append((f.stem, face_landmarks(image, face).points, gt))
    return out


def fit_mp68(samples, mp_canonical: np.ndarray, seed_index: np.ndarray):
    """Per iBUG point (mirror pairs tied) the single point or 2-point blend with least mean NME."""
    mp = mp_canonical[:468]
    mirrored = mp * [-1, 1, 1]
    mp_mirror = np.array([np.argmin(np.linalg.norm(mp - q, axis=1)) for q in mirrored])
    P = np.stack([s[1] for s in samples])
    G = np.stack([s[2] for s in samples])
    S = np.array([np.sqrt(np.prod(g.max(0) - g.min(0))) for g in G])

    def err(c, k):
        idx, w = c
        p = P[:, idx[0]] * w[0] + P[:, idx[1]] * w[1]
        return (np.linalg.norm(p - G[:, k], axis=1) / S).mean()

    def candidates(k):
        centre = mp[seed_index[k]].mean(0)
        pool = np.argsort(np.linalg.norm(mp - centre, axis=1))[:POOL]
        yield from (((i, i), (1.0, 0.0)) for i in pool)
        for i, j in itertools.combinations(pool, 2):
            for t in BLEND_T:
                yield (i, j), (1 - t, t)

    index = np.zeros((68, 2), dtype=np.int64)
    weight = np.zeros((68, 2))
    for k in range(68):
        k2 = MIRROR68[k]
        if k2 < k:
            continue
        best = None
        for c in candidates(k):
            e = err(c, k)
            if k2 != k:
                e = (e + err((tuple(mp_mirror[list(c[0])]), c[1]), k2)) / 2
            if best is None or e < best[0]:
                best = (e, c)
        (i, j), w = best[1]
        index[k], weight[k] = (i, j), w
        index[k2], weight[k2] = mp_mirror[[i, j]], w
    return index, weight


def nme_table(samples, index, weight):
    return {name: nme68((pts[index] * weight[..., None]).sum(1), gt) for name, pts, gt in samples}


# ---- aligning mediapipe's canonical mesh to the model -----------------------------------
def umeyama(src: np.ndarray, dst: np.ndarray):
    """Similarity (s, R, t) minimising |s R src + t - dst|^2."""
    mu_s, mu_d = src.mean(0), dst.mean(0)
    a, b = src - mu_s, dst - mu_d
    u, sig, vt = np.linalg.svd(b.T @ a / len(src))
    d = np.ones(3)
    if np.linalg.det(u) * np.linalg.det(vt) < 0:
        d[-1] = -1
    r = u @ np.diag(d) @ vt
    s = float((sig * d).sum() / (a ** 2).sum(1).mean())
    return s, r, mu_d - s * r @ mu_s


def tps_warp(src_ctrl, dst_ctrl, points, smooth: float = 1.0):
    """3D thin-plate (biharmonic r kernel) warp taking src_ctrl to dst_ctrl, applied to points."""
    n = len(src_ctrl)
    k = np.linalg.norm(src_ctrl[:, None] - src_ctrl[None], axis=-1)
    p = np.hstack([np.ones((n, 1)), src_ctrl])
    a = np.zeros((n + 4, n + 4))
    a[:n, :n] = k + smooth * np.eye(n)
    a[:n, n:], a[n:, :n] = p, p.T
    rhs = np.zeros((n + 4, 3))
    rhs[:n] = dst_ctrl
    coef = np.linalg.solve(a, rhs)
    kq = np.linalg.norm(points[:, None] - src_ctrl[None], axis=-1)
    return kq @ coef[:n] + np.hstack([np.ones((len(points), 1)), points]) @ coef[n:]


def closest_point_on_triangles(p: np.ndarray, a: np.ndarray, b: np.ndarray, c: np.ndarray):
    """For points p (N,3) and triangles (F,3) each: nearest triangle id and barycentrics (N,3)."""
    best_d = np.full(len(p), np.inf)
    best_t = np.zeros(len(p), dtype=np.int64)
    best_w = np.zeros((len(p), 3))
    ab, ac = b - a, c - a
    for i, q in enumerate(p):
        w = _tri_bary(q, a, ab, ac)
        proj = a * w[:, :1] + b * w[:, 1:2] + c * w[:, 2:]
        d = ((proj - q) ** 2).sum(1)
        j = int(np.argmin(d))
        best_d[i], best_t[i], best_w[i] = d[j], j, w[j]
    return best_t, best_w, np.sqrt(best_d)


def _tri_bary(q, a, ab, ac):
    """Barycentrics of the closest point to q on each triangle (clamped to the triangle)."""
    ap = q - a
    d00, d01, d11 = (ab * ab).sum(1), (ab * ac).sum(1), (ac * ac).sum(1)
    d20, d21 = (ap * ab).sum(1), (ap * ac).sum(1)
    den = np.maximum(d00 * d11 - d01 * d01, 1e-20)
    v = (d11 * d20 - d01 * d21) / den
    w = (d00 * d21 - d01 * d20) / den
    u = 1 - v - w
    out = np.stack([u, v, w], 1)
    outside = (u < 0) | (v < 0) | (w < 0)
    if outside.any():
        # closest point then lies on an edge: take the best of the three clamped edges
        o = np.where(outside)[0]
        A, AB, AC = a[o], ab[o], ac[o]
        B = A + AB
        cands = []
        for s0, e0, ia, ib in ((A, B, 0, 1), (A, A + AC, 0, 2), (B, A + AC, 1, 2)):
            ed = e0 - s0
            t = np.clip(((q - s0) * ed).sum(1) / np.maximum((ed * ed).sum(1), 1e-20), 0, 1)
            pt = s0 + ed * t[:, None]
            ww = np.zeros((len(o), 3))
            ww[:, ia], ww[:, ib] = 1 - t, t
            cands.append((((pt - q) ** 2).sum(1), ww))
        d = np.stack([c[0] for c in cands], 1)
        k = np.argmin(d, 1)
        out[o] = np.stack([c[1] for c in cands], 1)[np.arange(len(o)), k]
    return out


def mp68_points(mp_points: np.ndarray, index: np.ndarray, weight: np.ndarray) -> np.ndarray:
    """(..., 478, k) -> (..., 68, k) using a (68, m) index / weight blend table."""
    return (mp_points[..., index, :] * weight[..., None]).sum(-2)


def compute_table(model, mp_vertices: np.ndarray, index68: np.ndarray, weight68: np.ndarray,
                  smooth: float = 0.1) -> dict:
    """Align mediapipe's canonical mesh to the model's neutral and project every point onto
    the model surface (face region; iris points onto the eyeballs)."""
    neutral = model.mean.astype(np.float64)
    inner = np.arange(17, 68)  # jaw points are silhouettes, not fixed: leave them out
    src = mp68_points(mp_vertices, index68, weight68)[inner]
    dst = neutral[model.landmarks68[inner]]
    s, r, t = umeyama(src, dst)
    aligned = (s * (r @ mp_vertices.T)).T + t
    warped = tps_warp((s * (r @ src.T)).T + t, dst, aligned, smooth=smooth)

    tris = model.triangles.astype(np.int64)
    poly_of_tri = model.triangle_polygon
    face_polys = model.region_polygons("face")
    is_face = np.isin(poly_of_tri, face_polys)
    eyes = np.concatenate([model.region_polygons("eyeball_left"), model.region_polygons("eyeball_right")])
    is_eye = np.isin(poly_of_tri, eyes)
    out_t = np.zeros(len(warped), dtype=np.int64)
    out_w = np.zeros((len(warped), 3))
    out_d = np.zeros(len(warped))
    for sel, mask in ((np.arange(468), is_face), (np.arange(468, len(warped)), is_eye)):
        ids = np.where(mask)[0]
        tv = neutral[tris[ids]]
        tt, ww, dd = closest_point_on_triangles(warped[sel], tv[:, 0], tv[:, 1], tv[:, 2])
        out_t[sel], out_w[sel], out_d[sel] = ids[tt], ww, dd
    return {
        "n_vertices": int(model.n_vertices),
        "vertices": tris[out_t].tolist(),
        "bary": np.round(out_w, 6).tolist(),
        "projection_distance_cm": np.round(out_d, 4).tolist(),
        "similarity_scale": s,
    }


def build(mediapipe_dir, landmarks_dir, fit_68=False, mp68=None, smooth=0.1, output=None) -> dict:
    """Write the tables (see the module doc) and return a report."""
    mediapipe_dir, landmarks_dir = Path(mediapipe_dir), Path(landmarks_dir)
    mp = read_positions(mediapipe_dir / "face_model_with_iris.obj")
    report = {}
    mp68 = Path(mp68) if mp68 else MP68_PATH
    if fit_68:
        seed, _ = load_mp68_any(mediapipe_dir / HEURISTIC)
        samples = annotated_landmarks(landmarks_dir)
        idx, w = fit_mp68(samples, mp, seed)
        sidx, sw = load_mp68_any(mediapipe_dir / HEURISTIC)
        report["nme_heuristic"] = nme_table(samples, sidx, sw)
        report["nme_fitted"] = nme_table(samples, idx, w)
        MP68_PATH.write_text(json.dumps({
            "description": "iBUG-68 point k = sum_m weight[k][m] * mediapipe_point[index[k][m]]. Derived: "
                           "per point (left/right tied) the mediapipe point or 2-point blend minimising "
                           "mean NME on the annotated photos in ../shared/photos/landmarks, candidates "
                           "seeded near PeizhiYan's table (see docs/detection.md).",
            "index": idx.tolist(), "weight": w.tolist(),
            "nme_in_sample": {k: round(v, 5) for k, v in report["nme_fitted"].items()}}, indent=1))
        mp68 = MP68_PATH
    idx, w = load_mp68_any(mp68)
    model = load_model()
    table = compute_table(model, mp, idx, w, smooth=smooth)
    table["source"] = ("derived: mediapipe face_model_with_iris.obj aligned (similarity + thin-plate "
                       f"warp on the 51 inner landmarks of {mp68.name}) to the ICT neutral, each point "
                       "projected onto the nearest face-region (iris: eyeball) triangle")
    out = output or TABLE_PATH
    out.write_text(json.dumps(table, separators=(",", ":")))
    corr = build_correspondence(model, out)  # validate what we wrote
    d = np.asarray(table["projection_distance_cm"])
    report.update({"output": str(out), "points": len(corr["mp_triangle"]),
                   "projection_cm_mean": float(d.mean()), "projection_cm_max": float(d.max())})
    return report
