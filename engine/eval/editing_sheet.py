"""Before/after picture sheets of the editing tools (docs/images/editing_*.png).

Shaded renders with engine.render (portable rasteriser, CPU), composed with matplotlib, which
is imported only here. `python -m engine edit-sheet OUT_DIR` regenerates the pictures.
"""
from __future__ import annotations

import numpy as np

from ..editing.caricature import caricature
from ..editing.directions import edit_measurements, measurement_directions
from ..editing.measure import MEASUREMENTS, measurement_set
from ..editing.mixing import AREA_LABELS, AREAS, area_masks, mix_heads
from ..render import interpolate, rasterize, world_to_clip

SHOWN_REGIONS = ("face", "head_and_neck", "eyeball_left", "eyeball_right")
PROFILE = {"nose_projection", "chin_projection"}        # seen best from the side
WHOLE_HEAD = {"forehead_height", "face_height"}         # reach past the face close-up
SKIN = np.array([0.86, 0.72, 0.63])
AREA_COLOURS = np.array([[0.30, 0.55, 0.95], [0.95, 0.55, 0.20], [0.85, 0.20, 0.35],
                         [0.35, 0.75, 0.35], [0.65, 0.45, 0.85], [0.85, 0.85, 0.85]])


def _camera(size, yaw_deg, distance=70.0, centre=(0.0, 0.5, 3.0), half_height=14.0, zoom=False):
    """OpenCV world_to_camera and K for a head turned by yaw (degrees, + = towards its left)."""
    if zoom:                                            # the face only
        centre, half_height = ((0.0, 0.5, 4.0), 11.0) if yaw_deg else ((0.0, 1.0, 6.0), 10.0)
    a = np.radians(yaw_deg)
    Ry = np.array([[np.cos(a), 0, np.sin(a)], [0, 1, 0], [-np.sin(a), 0, np.cos(a)]])
    flip = np.diag([1.0, -1.0, -1.0])                   # model (+y up, +z to viewer) -> OpenCV
    R = flip @ Ry
    M = np.eye(4)
    M[:3, :3] = R
    M[:3, 3] = -R @ np.asarray(centre) + np.array([0, 0, distance])
    f = size / 2 * distance / half_height
    K = np.array([[f, 0, (size - 1) / 2], [0, f, (size - 1) / 2], [0, 0, 1.0]])
    return M, K


def project(points, size, yaw_deg=0.0, zoom=False):
    """Pixel coordinates (..., 2) of model-space points in `render_heads`' camera."""
    M, K = _camera(size, yaw_deg, zoom=zoom)
    cam = np.asarray(points, np.float64) @ M[:3, :3].T + M[:3, 3]
    uv = cam @ K.T
    return uv[..., :2] / uv[..., 2:3]


def _triangles(model):
    keep = np.zeros(model.n_vertices, bool)
    for r in SHOWN_REGIONS:
        keep[model.region_slice(r)] = True
    t = np.asarray(model.triangles)
    return t[keep[t].all(1)]


def _normals(V, tri):
    fn = np.cross(V[tri[:, 1]] - V[tri[:, 0]], V[tri[:, 2]] - V[tri[:, 0]])
    n = np.zeros_like(V)
    for i in range(3):
        np.add.at(n, tri[:, i], fn)
    return n / np.maximum(np.linalg.norm(n, axis=1, keepdims=True), 1e-12)


def render_heads(vertices, model, size=256, yaw_deg=0.0, colours=None, zoom=False) -> np.ndarray:
    """Shaded renders (N, size, size, 3) uint8 of (N, V, 3) meshes; colours (V, 3) optional."""
    import torch
    tri = _triangles(model)
    M, K = _camera(size, yaw_deg, zoom=zoom)
    base = np.tile(SKIN, (model.n_vertices, 1)) if colours is None else np.asarray(colours, np.float64)
    for eye in ("eyeball_left", "eyeball_right"):
        if colours is None:
            base[model.region_slice(eye)] = 0.92
    light = np.array([-0.4, 0.5, 1.0])
    light /= np.linalg.norm(light)
    out = []
    for V in np.asarray(vertices, np.float64).reshape(-1, model.n_vertices, 3):
        n = _normals(V, tri)
        a = np.radians(yaw_deg)
        Ry = np.array([[np.cos(a), 0, np.sin(a)], [0, 1, 0], [-np.sin(a), 0, np.cos(a)]])
        shade = 0.35 + 0.65 * np.clip((n @ Ry.T) @ light, 0, 1)          # light fixed to the camera
        attr = torch.as_tensor(np.concatenate([base * shade[:, None], np.ones((len(V), 1))], 1), dtype=torch.float32)
        clip = world_to_clip(torch.as_tensor(V, dtype=torch.float32), M, K, size, size, near=10.0, far=200.0)
        t = torch.as_tensor(tri, dtype=torch.int32)
        rast, _ = rasterize(clip[None], t, (size, size), backend="portable", grad_db=False)
        img, _ = interpolate(attr[None], rast, t, backend="portable")
        img = img[0].numpy()
        rgb = img[..., :3] + (1.0 - img[..., 3:4])                        # white background
        out.append(np.clip(rgb * 255 + 0.5, 0, 255).astype(np.uint8))
    return np.stack(out)


def _measure_line(ax, model, V, name, size, yaw, zoom):
    ms = measurement_set(model)
    m = next(x for x in MEASUREMENTS if x.name == name)
    P = V[[ms.points[p] for p in m.points]]
    uv = project(P, size, yaw, zoom=zoom)
    if m.kind == "dz":          # depth: a horizontal tick from the reference depth to the point
        ax.plot(uv[:, 0], uv[:, 1], "o", ms=2.5, color="crimson")
    elif m.kind == "dist2":
        ax.plot(uv[:2, 0], uv[:2, 1], "-", uv[2:, 0], uv[2:, 1], "-", lw=1.2, color="crimson")
    else:
        ax.plot(uv[:, 0], uv[:, 1], "-o", lw=1.2, ms=2.5, color="crimson")


def measurement_sheet(model, path, identity=None, size=220, sigmas=2.0):
    """One row per measurement slider: -change, the head, +change (change = sigmas x its std)."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    base = np.zeros(model.n_identity) if identity is None else np.asarray(identity, np.float64)
    dirs = measurement_directions(model)
    ms = measurement_set(model)
    n = len(MEASUREMENTS)
    rows = (n + 1) // 2
    fig, axes = plt.subplots(rows, 6, figsize=(6 * 1.7, rows * 1.85), dpi=110)
    for j, m in enumerate(MEASUREMENTS):
        delta = float(np.round(sigmas * dirs.std_mm[j]))
        heads = [edit_measurements(base, {m.name: d}, model) for d in (-delta, 0.0, delta)]
        V = model.vertices(np.stack(heads)).astype(np.float64)
        yaw = 90.0 if m.name in PROFILE else 0.0
        zoom = m.name not in WHOLE_HEAD
        imgs = render_heads(V, model, size, yaw, zoom=zoom)
        values = ms.measure(V)[:, j]
        for c in range(3):
            ax = axes[j % rows, 3 * (j // rows) + c]
            ax.imshow(imgs[c])
            _measure_line(ax, model, V[c], m.name, size, yaw, zoom)
            sign = ("-", "", "+")[c]
            ax.set_title(f"{m.label}\n{sign}{delta:g} mm: {values[c]:.1f} mm" if c != 1 else f"{m.label}\n{values[c]:.1f} mm",
                         fontsize=6.5)
            ax.axis("off")
    fig.suptitle("FaceSpace measurement sliders (exact mode): each row changes one measurement "
                 "by ±2 population std, others held", fontsize=8)
    fig.tight_layout(rect=(0, 0, 1, 0.98))
    fig.savefig(path)
    plt.close(fig)


def mix_sheet(model, path, seed=3, size=260):
    """Area masks, two heads, their mix (nose + mouth from B), its projection, caricature."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    rng = np.random.default_rng(seed)
    A = rng.standard_normal((2, model.n_identity))
    weights = {"nose": [0, 1], "mouth": [0, 1]}
    mix = mix_heads(A, weights, model, default=[1, 0])
    M = area_masks(model)
    masks_colour = M @ AREA_COLOURS
    V = model.vertices(A).astype(np.float64)
    proj = model.vertices(mix.identity).astype(np.float64)
    cari = model.vertices(np.stack([caricature(A[0], f) for f in (0.5, 1.5)])).astype(np.float64)
    panels = [
        (render_heads(model.mean, model, size, 0.0, masks_colour)[0], "Face areas (soft borders)"),
        (render_heads(V[0], model, size)[0], "Head A"),
        (render_heads(V[1], model, size)[0], "Head B"),
        (render_heads(mix.vertices, model, size)[0], "Mix: A with B's nose + mouth"),
        (render_heads(proj, model, size)[0], f"Mix projected to face space\n(RMS {mix.projection_rms_mm:.2f} mm)"),
        (render_heads(V[0], model, size, 60.0)[0], "Head A, side"),
        (render_heads(V[1], model, size, 60.0)[0], "Head B, side"),
        (render_heads(mix.vertices, model, size, 60.0)[0], "Mix, side"),
        (render_heads(cari[0], model, size)[0], "Head A, anti-caricature 0.5"),
        (render_heads(cari[1], model, size)[0], "Head A, caricature 1.5"),
    ]
    fig, axes = plt.subplots(2, 5, figsize=(5 * 2.2, 2 * 2.5), dpi=110)
    for ax, (img, title) in zip(axes.ravel(), panels):
        ax.imshow(img)
        ax.set_title(title, fontsize=7)
        ax.axis("off")
    for k, a in enumerate(AREAS):
        axes[0, 0].plot([], [], "s", color=AREA_COLOURS[k], label=AREA_LABELS[a])
    axes[0, 0].legend(fontsize=4.5, loc="lower left", frameon=False, borderaxespad=0)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
