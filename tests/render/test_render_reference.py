"""Brute-force ray-casting reference for the renderer tests (numpy, small meshes only)."""
from __future__ import annotations

import numpy as np


def raycast(verts_cam, tri, K, H, W, near, far):
    """Nearest triangle per pixel centre by Moller-Trumbore over all (pixel, triangle) pairs.

    Returns ids (H, W) (-1 none), camera depth z (H, W) (inf none). Hits with z outside
    [near, far] are ignored, i.e. the exact near/far-plane clipped result."""
    cols, rows = np.meshgrid(np.arange(W), np.arange(H))
    pix = np.stack([cols, rows, np.ones_like(cols)], -1).reshape(-1, 3).astype(np.float64)
    d = pix @ np.linalg.inv(K).T                                  # rays with z = 1
    v = np.asarray(verts_cam, np.float64)[np.asarray(tri)]        # (F, 3, 3)
    e1, e2 = v[:, 1] - v[:, 0], v[:, 2] - v[:, 0]
    p = np.cross(d[:, None], e2[None])                            # (P, F, 3)
    det = (e1[None] * p).sum(-1)
    ok = np.abs(det) > 1e-12
    inv = np.where(ok, 1.0 / np.where(ok, det, 1), 0)
    s = -v[None, :, 0]                                            # ray origin is the camera centre
    b1 = (s * p).sum(-1) * inv
    q = np.cross(s, e1[None])
    b2 = (d[:, None] * q).sum(-1) * inv
    t = (e2[None] * q).sum(-1) * inv                              # = camera z since d_z = 1
    hit = ok & (b1 >= 0) & (b2 >= 0) & (b1 + b2 <= 1) & (t >= near) & (t <= far)
    t = np.where(hit, t, np.inf)
    ids = np.where(np.isfinite(t).any(1), t.argmin(1), -1)
    return ids.reshape(H, W), t.min(1).reshape(H, W)


def ndc_depth(z, near, far):
    """OpenGL z/w of a camera-space depth for engine.render.camera.perspective."""
    return (far + near) / (far - near) - 2 * far * near / ((far - near) * z)


def test_raycast_reference_on_one_triangle():
    """The reference itself: a fronto-parallel triangle at z = 2 covers the pixels inside its projection."""
    K = np.array([[10.0, 0, 4.0], [0, 10.0, 4.0], [0, 0, 1]])
    v = np.array([[-0.5, -0.5, 2.0], [0.5, -0.5, 2.0], [-0.5, 0.5, 2.0]])
    ids, z = raycast(v, np.array([[0, 1, 2]]), K, 9, 9, 0.1, 10.0)
    # projection: x, y in [1.5, 6.5] pixels, inside where (col - 1.5) + (row - 1.5) <= 5
    cols, rows = np.meshgrid(np.arange(9), np.arange(9))
    inside = (cols >= 1.5) & (rows >= 1.5) & ((cols - 1.5) + (rows - 1.5) <= 5)
    assert np.array_equal(ids == 0, inside)
    assert np.allclose(z[inside], 2.0)
    assert abs(ndc_depth(0.1, 0.1, 10.0) + 1) < 1e-12 and abs(ndc_depth(10.0, 0.1, 10.0) - 1) < 1e-12
