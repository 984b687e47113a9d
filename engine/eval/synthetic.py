"""Synthetic ground truth: faces drawn from the model, posed, projected and rendered.

Used by tests/test_fit.py, tests/test_reconstruct.py and `bench reconstruct`:
- `sample_face`: random identity (N(0,1) truncated to +-2 sigma), a few random expressions,
  yaw up to +-60 degrees, a known OpenCV camera;
- `detector_targets`: the 478 correspondence points and the silhouette jaw projected, with
  pixel noise (landmark-only fitting, no detector);
- `render_head`: the head rendered with engine/render (UV texture on the skin, material
  colours on eyes, lashes and mouth, Lambert shading), for the full photo pipeline and for
  contact sheets;
- `face_error_mm`: face-region vertex error after rigid (Procrustes, no scale) alignment.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..core.cache import cached
from ..core.geometry import Camera, head_rotation, rigid_align, vertex_normals
from ..landmarks.correspondence import contour_candidates, select_contour
from ..landmarks.detector import detector_basis
from ..model.atlas import atlas_uvs, fan_corner_triangles
from ..model.materials import MATERIALS, polygon_materials
from ..render import rasterize
from ..render.camera import world_to_clip


@dataclass
class SyntheticFace:
    identity: np.ndarray
    expression: np.ndarray
    camera: Camera           # the true camera (core/geometry.py)
    yaw_deg: float

    # the camera's parts, by name (tests and benchmarks read them)
    rotation = property(lambda self: self.camera.rotation)
    translation = property(lambda self: self.camera.translation)
    K = property(lambda self: self.camera.K)
    image_size = property(lambda self: self.camera.image_size)
    world_to_camera = property(lambda self: self.camera.world_to_camera)

    def vertices(self, model) -> np.ndarray:
        return model.vertices(self.identity, self.expression).astype(np.float64)

    def project(self, points) -> np.ndarray:
        return self.camera.project(np.asarray(points, dtype=np.float64))


def sample_face(model, rng, image_size=(512, 512), yaw_max=60.0, n_expressions=4,
                expression_max=0.7, face_fraction=0.45, yaw_deg=None) -> SyntheticFace:
    """A random face and camera; the head spans about `face_fraction` of the image height."""
    identity = np.clip(rng.standard_normal(model.n_identity), -2, 2)
    expression = np.zeros(model.n_expression)
    on = rng.choice(model.n_expression, n_expressions, replace=False)
    expression[on] = rng.uniform(0.1, expression_max, n_expressions)
    yaw = float(rng.uniform(-yaw_max, yaw_max)) if yaw_deg is None else float(yaw_deg)
    R = head_rotation(yaw, rng.uniform(-12, 12), rng.uniform(-8, 8))
    w, h = image_size
    f = max(w, h) * rng.uniform(1.0, 2.5)  # 35-90 mm-equivalent lenses
    face_height_cm = float(np.ptp(model.mean[model.region_slice("face"), 1]))
    z = f * face_height_cm / (face_fraction * h)
    # centre the head (model origin ~ between the ears) with a small random offset
    centre = model.vertices(identity, expression)[model.region_vertices("face")].mean(0) @ R.T
    t = np.array([rng.uniform(-0.05, 0.05) * w * z / f, rng.uniform(-0.05, 0.05) * h * z / f, z]) - centre
    t[2] = z
    return SyntheticFace(identity.astype(np.float32), expression.astype(np.float32), Camera(R, t, f, (w, h)), yaw)


def detector_targets(model, face: SyntheticFace, rng=None, noise_px=0.0):
    """An ideal detector: (478, 2) detector points as the fit models them (correspondence plus
    calibrated offsets, reconstruct.detector_basis) and the (17, 2) silhouette jaw, with noise."""
    v = face.vertices(model)
    b = detector_basis(model)
    c = np.concatenate([face.identity, face.expression]).astype(np.float64)
    pts = face.project(b.mean + np.tensordot(c, b.basis, 1))
    vc = v @ face.rotation.T + face.translation
    jaw = face.project(v[select_contour(vc, face.K, contour_candidates(model))])
    if noise_px and rng is not None:
        pts = pts + rng.normal(0, noise_px, pts.shape)
        jaw = jaw + rng.normal(0, noise_px, jaw.shape)
    return pts, jaw


# ---- error measures ---------------------------------------------------------------------
def face_error_mm(model, true_vertices, fit_vertices) -> np.ndarray:
    """Per face-region vertex distance in mm after rigid alignment of the face region."""
    sel = model.region_slice("face")
    a = np.asarray(fit_vertices, dtype=np.float64)[sel]
    b = np.asarray(true_vertices, dtype=np.float64)[sel]
    return np.linalg.norm(rigid_align(a, b) - b, axis=1) * model.mm_per_unit


# ---- rendering --------------------------------------------------------------------------
def _render_mesh(model):
    """Corner triangles to draw (no invisible eye layers), their UVs and materials."""
    def build():
        tri_c, owner = fan_corner_triangles(model)
        pmat = polygon_materials(model)
        mat = pmat[owner]
        keep = np.array([MATERIALS[m].alpha >= 0.5 for m in mat])
        tri_c, mat = tri_c[keep], mat[keep]
        tri_v = np.asarray(model.corner_verts, dtype=np.int64)[tri_c]
        uv = atlas_uvs(model)[np.asarray(model.corner_uv_index)[tri_c]]  # (F, 3, 2)
        colors = np.array([m.color for m in MATERIALS], dtype=np.float64)
        textured = np.array([m.textured for m in MATERIALS])
        return tri_v, uv, mat, colors, textured
    return cached(model, "synthetic_render_mesh", build)


def sample_texture(texture, uv):
    """Bilinear lookup of (S, S, C) at OBJ-style uv (..., 2) (v = 0 at the bottom row)."""
    tex = np.asarray(texture, dtype=np.float32)
    S_h, S_w = tex.shape[:2]
    x = np.clip(uv[..., 0] * S_w - 0.5, 0, S_w - 1)
    y = np.clip((1 - uv[..., 1]) * S_h - 0.5, 0, S_h - 1)
    x0, y0 = np.floor(x).astype(int), np.floor(y).astype(int)
    x1, y1 = np.minimum(x0 + 1, S_w - 1), np.minimum(y0 + 1, S_h - 1)
    fx, fy = (x - x0)[..., None], (y - y0)[..., None]
    return ((tex[y0, x0] * (1 - fx) + tex[y0, x1] * fx) * (1 - fy)
            + (tex[y1, x0] * (1 - fx) + tex[y1, x1] * fx) * fy)


def render_head(model, vertices, world_to_camera, K, image_size, texture=None, background=None,
                shading=0.35, light_dir=(-0.3, -0.4, -1.0), skin_color=None):
    """Render the head: (H, W, 3) uint8 and the coverage mask (H, W) bool.

    texture: (S, S, 3) uint8 atlas texture (engine/texture layout) or None (plain skin colour).
    background: (H, W, 3) uint8 image to draw over, or None (mid grey).
    light_dir: direction the light travels, in camera space; shading = 0 disables it."""
    import torch
    tri_v, uv, mat, colors, textured = _render_mesh(model)
    w, h = image_size
    verts = np.asarray(vertices, dtype=np.float64)
    M = np.asarray(world_to_camera, dtype=np.float64)
    clip = world_to_clip(torch.as_tensor(verts, dtype=torch.float32), torch.as_tensor(M, dtype=torch.float32),
                         torch.as_tensor(np.asarray(K), dtype=torch.float32), w, h)
    with torch.no_grad():
        rast, _ = rasterize(clip, torch.as_tensor(tri_v, dtype=torch.int32), (h, w))
    rast = rast[0].cpu().numpy()
    tid = rast[..., 3].astype(np.int64) - 1
    cov = tid >= 0
    out = np.full((h, w, 3), 128.0) if background is None else np.asarray(background, dtype=np.float64).copy()
    if not cov.any():
        return out.astype(np.uint8), cov
    t = tid[cov]
    b = np.stack([rast[..., 0][cov], rast[..., 1][cov], 1 - rast[..., 0][cov] - rast[..., 1][cov]], -1)
    m = mat[t]
    col = colors[m] * 255.0
    if skin_color is not None:
        col[textured[m]] = np.asarray(skin_color, dtype=np.float64)
    if texture is not None:
        sk = textured[m]
        puv = (uv[t[sk]] * b[sk, :, None]).sum(1)
        col[sk] = sample_texture(texture, puv)[..., :3]
    if shading:
        nrm = vertex_normals(verts, tri_v) @ M[:3, :3].T
        n = (nrm[tri_v[t]] * b[..., None]).sum(1)
        n /= np.linalg.norm(n, axis=1, keepdims=True) + 1e-12
        L = -np.asarray(light_dir, dtype=np.float64)
        L /= np.linalg.norm(L)
        lam = np.clip(np.abs(n @ L), 0, 1)  # abs: no culling, back faces are lit like front faces
        col = col * ((1 - shading) + shading * lam)[:, None]
    out[cov] = col
    return np.clip(out, 0, 255).astype(np.uint8), cov


def render_random_face(model, rng, texture=None, yaw_max=60.0, background=(40, 220)):
    """A face drawn from the model (face fraction 0.4) rendered over a random flat background
    whose grey levels lie in [background[0], background[1]): (SyntheticFace, image)."""
    face = sample_face(model, rng, yaw_max=yaw_max, face_fraction=0.4)
    bg = np.full((face.image_size[1], face.image_size[0], 3), rng.integers(*background, 3), np.uint8)
    img, _ = render_head(model, face.vertices(model), face.world_to_camera, face.K, face.image_size,
                         texture=texture, background=bg)
    return face, img


def textured_render_at_yaw(model, vertices, texture, yaw_deg, size=512, focal_factor=2.5):
    """The head alone, turned by yaw_deg from frontal, framed on its face: an 'other view'."""
    R = head_rotation(yaw_deg)
    face = np.asarray(vertices, dtype=np.float64)[model.region_slice("face")]
    c = face.mean(0)
    f = size * focal_factor
    extent = np.ptp(face[:, 1]) * 1.5
    z = f * extent / size
    M = np.eye(4)
    M[:3, :3] = R
    M[:3, 3] = np.array([0, 0, z]) - R @ c
    K = np.array([[f, 0, (size - 1) / 2], [0, f, (size - 1) / 2], [0, 0, 1]])
    return render_head(model, vertices, M, K, (size, size), texture=texture)[0]
