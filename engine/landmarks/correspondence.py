"""MediaPipe's 478 face-mesh points as barycentric points on the model surface, and the
sliding jaw contour.

The table (one triangle's vertex ids + barycentric weights per mediapipe point) is built
offline by `python -m engine build-correspondence` from mediapipe's canonical mesh (read in
place from ../shared, never shipped) and committed as engine/data/mediapipe_correspondence.json.
`build_correspondence(model)` loads and validates it; `get_correspondence(model)` gives it
once per model (or the copy an older install stored in `model.extras`).

Jawline landmarks 0-16 are silhouette points: `contour_candidates(model)` lists, per jaw
landmark, vertices along a horizontal-ish path through it, and `select_contour` picks the
one most outward in the image for the current pose.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..core.cache import cached
from ..core.geometry import project_with_K

DATA = Path(__file__).resolve().parents[1] / "data"
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
    """The correspondence for `model`, built once (models installed before the table moved
    out of the model file still carry a copy in model.extras: that one is used)."""
    if all(k in model.extras for k in KEYS):
        return {k: model.extras[k] for k in KEYS}
    return cached(model, "correspondence", lambda: build_correspondence(model))


def contour_candidates_cached(model) -> "ContourCandidates":
    """`contour_candidates(model)` with its defaults, once per model."""
    return cached(model, "contour_candidates", lambda: contour_candidates(model))


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
    axp = project_with_K(vertices_cam[..., ax, :], K)                        # (..., 4, 2)
    ex = axp[..., 1, :] - axp[..., 0, :]
    ey = axp[..., 3, :] - axp[..., 2, :]
    ex = ex / np.maximum(np.linalg.norm(ex, axis=-1, keepdims=True), 1e-9)
    ey = ey / np.maximum(np.linalg.norm(ey, axis=-1, keepdims=True), 1e-9)
    # outward image direction: model +x -> ex, model -y -> ey
    dirs = c.outward[:, :1] * ex[..., None, :] - c.outward[:, 1:] * ey[..., None, :]  # (..., 17, 2)
    pts = project_with_K(vertices_cam[..., c.vertices.reshape(-1), :], K)
    pts = pts.reshape(*pts.shape[:-2], *c.vertices.shape, 2)          # (..., 17, C, 2)
    score = (pts * dirs[..., None, :]).sum(-1)
    best = np.argmax(score, axis=-1)                                    # (..., 17)
    ids = np.take_along_axis(np.broadcast_to(c.vertices, best.shape + c.vertices.shape[-1:]),
                             best[..., None], -1)[..., 0]
    if is_np:
        return ids
    import torch
    return torch.as_tensor(ids, dtype=torch.long, device=device)
