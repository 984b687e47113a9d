"""Torch mesh and camera geometry (differentiable, any device); the numpy side and the
conventions are in core/geometry.py."""
from __future__ import annotations

import torch


def vertex_normals(verts: torch.Tensor, tri) -> torch.Tensor:
    """Area-weighted unit vertex normals, (..., V, 3), differentiable. Counter-clockwise
    triangles (ICT's winding) give outward normals."""
    t = torch.as_tensor(tri, device=verts.device).long()
    V = verts.shape[-2]
    # per-coordinate planes (3, ..., V): 1-D gathers, element-wise cross products and an
    # index_add along the last dim are ~2x faster than working on (..., V, 3) rows
    x, y, z = verts.movedim(-1, 0).contiguous().unbind(0)
    c = [[a.index_select(-1, t[:, k]) for k in range(3)] for a in (x, y, z)]
    (ax, ay, az), (bx, by, bz) = ([c[i][k] - c[i][0] for i in range(3)] for k in (1, 2))
    fn = torch.stack([ay * bz - az * by, az * bx - ax * bz, ax * by - ay * bx])   # (3, ..., F)
    n = fn.new_zeros(*fn.shape[:-1], V)                      # fresh buffer: in-place adds are autograd-safe
    for k in range(3):
        n.index_add_(-1, t[:, k], fn)
    n = n / torch.sqrt(n[0] * n[0] + n[1] * n[1] + n[2] * n[2]).clamp(min=1e-12)
    return n.movedim(0, -1).contiguous()


def project(points_cam, focal, pp):
    """The OpenCV pinhole of core.geometry.Camera, batched: (..., N, 3) camera-space points ->
    (..., N, 2) pixels. `focal` broadcastable to (...,), `pp` (..., 2) or a pair."""
    z = points_cam[..., 2:3].clamp_min(1e-3)
    uv = points_cam[..., :2] / z * focal[..., None, None]
    pp = torch.as_tensor(pp, dtype=uv.dtype, device=uv.device)
    if pp.dim() == 1:
        return uv + pp
    return uv + pp[..., None, :]
