"""MediaPipe's 478 face-mesh points as barycentric points on the model surface, and the
sliding jaw contour.

The table (one triangle's vertex ids + barycentric weights per mediapipe point) is built
offline by `python -m engine build-correspondence` from mediapipe's canonical mesh (read in
place from ../shared, never shipped) and committed as engine/data/mediapipe_correspondence.json.
`build_correspondence(model)` loads and validates it; install.py stores the result in
`model.extras` so it travels with the model file.

Jawline landmarks 0-16 are silhouette points: `contour_candidates(model)` lists, per jaw
landmark, vertices along a horizontal-ish path through it, and `select_contour` picks the
one most outward in the image for the current pose.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

DATA = Path(__file__).resolve().parent / "data"
TABLE_PATH = DATA / "mediapipe_correspondence.json"
N_MP = 478
KEYS = ("mp_vertex", "mp_bary", "mp_triangle")


# ---------------------------------------------------------------- table <-> model
def load_table(path=TABLE_PATH) -> dict:
    with open(path) as f:
        return json.load(f)


def build_correspondence(model, path=TABLE_PATH) -> dict:
    """The committed table, validated against `model`: {mp_vertex (478,3) int32,
    mp_bary (478,3) float32, mp_triangle (478,) int32 into model.triangles}."""
    t = load_table(path)
    if int(t["n_vertices"]) != model.n_vertices:
        raise ValueError(f"correspondence table is for a {t['n_vertices']}-vertex model, "
                         f"this model has {model.n_vertices}")
    verts = np.asarray(t["vertices"], dtype=np.int64)
    bary = np.asarray(t["bary"], dtype=np.float64)
    if verts.shape != (N_MP, 3) or bary.shape != (N_MP, 3):
        raise ValueError("correspondence table has the wrong shape")
    if np.any(bary < -1e-6) or np.any(np.abs(bary.sum(1) - 1) > 1e-4):
        raise ValueError("correspondence barycentrics are not valid weights")
    # find each triangle in the model's triangulation (order of corners may differ)
    key = {tuple(sorted(tri)): i for i, tri in enumerate(model.triangles.tolist())}
    tri_ids = np.empty(N_MP, dtype=np.int32)
    for i, tri in enumerate(verts.tolist()):
        tid = key.get(tuple(sorted(tri)))
        if tid is None:
            raise ValueError(f"correspondence triangle {tri} of point {i} is not in the model")
        tri_ids[i] = tid
    bary = np.clip(bary, 0, None)
    bary /= bary.sum(1, keepdims=True)
    return {"mp_vertex": verts.astype(np.int32), "mp_bary": bary.astype(np.float32),
            "mp_triangle": tri_ids}


def get_correspondence(model) -> dict:
    """The correspondence stored with the model (model.extras), else built now."""
    if all(k in model.extras for k in KEYS):
        return {k: model.extras[k] for k in KEYS}
    corr = build_correspondence(model)
    model.extras.update(corr)
    return corr


def surface_points(vertices, corr):
    """(..., V, 3) vertices (numpy or torch, differentiable) -> (..., 478, 3) mediapipe points."""
    idx, w = corr["mp_vertex"], corr["mp_bary"]
    if isinstance(vertices, np.ndarray):
        tri = vertices[..., np.asarray(idx, dtype=np.int64), :]          # (..., 478, 3, 3)
        return (tri * np.asarray(w, dtype=vertices.dtype)[..., None]).sum(-2)
    import torch
    idx_t = torch.as_tensor(np.asarray(idx), dtype=torch.long, device=vertices.device)
    w_t = torch.as_tensor(np.asarray(w), dtype=vertices.dtype, device=vertices.device)
    tri = vertices[..., idx_t.reshape(-1), :].reshape(*vertices.shape[:-2], N_MP, 3, 3)
    return (tri * w_t[..., None]).sum(-2)


# ---------------------------------------------------------------- building (offline)
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


# ---------------------------------------------------------------- sliding jaw contour
@dataclass
class ContourCandidates:
    vertices: np.ndarray   # (17, C) int64 candidate vertex ids per jaw landmark (padded by repeats)
    outward: np.ndarray    # (17, 2) outward jaw-contour normal in model (x, y): right side has x < 0
    axis_x: tuple          # (vertex a, vertex b): b - a points to the subject's left (+x)
    axis_down: tuple       # (vertex a, vertex b): b - a points down the face (-y)


def contour_candidates(model, n_max: int = 32, band: float = 0.35, back: float = 1.5,
                       front: float = 8.0, inward: float = 4.0) -> ContourCandidates:
    """Per jaw landmark, face-region vertices near the plane through it that contains the
    view axis (z) and the jaw curve's outward normal: from `back` cm behind it to `front` cm
    in front (the far side's outline moves onto the cheek as the head turns), at most
    `inward` cm inside it, ordered front to back."""
    v = model.mean.astype(np.float64)
    face = model.region_vertices("face")
    lm = model.landmarks68[:17]
    p = v[lm]
    # outward normal of the jaw curve in the xy plane (central differences)
    tang = np.gradient(p[:, :2], axis=0)
    tang /= np.linalg.norm(tang, axis=1, keepdims=True)
    normal = np.stack([tang[:, 1], -tang[:, 0]], 1)
    centre = p[:, :2].mean(0)
    flip = ((p[:, :2] - centre) * normal).sum(1) < 0
    normal[flip] *= -1
    rows = []
    for j in range(17):
        d = v[face] - p[j]
        across = d[:, 0] * -normal[j, 1] + d[:, 1] * normal[j, 0]  # along the jaw curve
        keep = (np.abs(across) < band) & (d[:, 2] > -back) & (d[:, 2] < front)
        # stay near the surface line: not far inward or outward of the landmark
        keep &= (d[:, :2] @ normal[j]) > -inward  # not across the face (nose, eyes)
        ids = face[keep]
        ids = ids[np.argsort(-v[ids, 2])]  # front to back
        if len(ids) > n_max:
            ids = ids[np.round(np.linspace(0, len(ids) - 1, n_max)).astype(int)]
        ids = np.unique(np.concatenate([ids, [lm[j]]]))  # the fixed landmark is always a candidate
        rows.append(ids[np.argsort(-v[ids, 2])])
    width = max(len(r) for r in rows)
    cand = np.stack([np.concatenate([r, np.full(width - len(r), r[-1])]) for r in rows])
    L = model.landmarks68
    return ContourCandidates(cand.astype(np.int64), normal, (int(L[0]), int(L[16])),
                             (int(L[27]), int(L[8])))


def _project(x, K):
    """(..., N, 3) camera points -> (..., N, 2) pixels (numpy or torch)."""
    uvw = x @ K.T
    return uvw[..., :2] / uvw[..., 2:3]


def select_contour(vertices_cam, K, candidates: ContourCandidates):
    """Per jaw landmark the candidate vertex most outward in the image -> (..., 17) vertex ids.

    vertices_cam (..., V, 3) in camera space (OpenCV), K (3, 3). Numpy or torch (no gradient
    flows through the choice; use the ids to gather points).
    """
    is_np = isinstance(vertices_cam, np.ndarray)
    device = None
    if not is_np:
        import torch
        device = vertices_cam.device
        vertices_cam = vertices_cam.detach().to("cpu", torch.float64).numpy()
        K = K.detach().cpu().numpy() if hasattr(K, "detach") else K
    K = np.asarray(K, dtype=np.float64)
    c = candidates
    ax = np.array(c.axis_x + c.axis_down)
    axp = _project(vertices_cam[..., ax, :], K)                        # (..., 4, 2)
    ex = axp[..., 1, :] - axp[..., 0, :]
    ey = axp[..., 3, :] - axp[..., 2, :]
    ex = ex / np.maximum(np.linalg.norm(ex, axis=-1, keepdims=True), 1e-9)
    ey = ey / np.maximum(np.linalg.norm(ey, axis=-1, keepdims=True), 1e-9)
    # outward image direction: model +x -> ex, model -y -> ey
    dirs = c.outward[:, :1] * ex[..., None, :] - c.outward[:, 1:] * ey[..., None, :]  # (..., 17, 2)
    pts = _project(vertices_cam[..., c.vertices.reshape(-1), :], K)
    pts = pts.reshape(*pts.shape[:-2], *c.vertices.shape, 2)          # (..., 17, C, 2)
    score = (pts * dirs[..., None, :]).sum(-1)
    best = np.argmax(score, axis=-1)                                    # (..., 17)
    ids = np.take_along_axis(np.broadcast_to(c.vertices, best.shape + c.vertices.shape[-1:]),
                             best[..., None], -1)[..., 0]
    if is_np:
        return ids
    import torch
    return torch.as_tensor(ids, dtype=torch.long, device=device)
