"""Small mesh helpers the renderer's callers need: smooth normals and per-corner UV triangles."""
from __future__ import annotations

import numpy as np
import torch


def vertex_normals(verts: torch.Tensor, tri: torch.Tensor) -> torch.Tensor:
    """Area-weighted unit vertex normals, (..., V, 3), differentiable. Counter-clockwise
    triangles (ICT's winding) give outward normals."""
    t = torch.as_tensor(tri, device=verts.device).long()
    v0, v1, v2 = verts.index_select(-2, t.t().reshape(-1)).unflatten(-2, (3, -1)).unbind(-3)   # one gather
    fn = torch.linalg.cross(v1 - v0, v2 - v0, dim=-1)
    n = torch.zeros_like(verts)                               # fresh buffer: in-place adds are autograd-safe
    for i in range(3):                                        # scatter_add_ beats index_add_ on CPU
        n.scatter_add_(-2, t[:, i].view(*([1] * (fn.dim() - 2)), -1, 1).expand_as(fn), fn)
    return n / n.norm(dim=-1, keepdim=True).clamp(min=1e-12)


def triangle_uv_indices(model) -> np.ndarray:
    """(F, 3) index into `model.uvs` for every corner of `model.triangles`, using the same fan
    triangulation as the converter, so `interpolate(uvs, rast, uv_tri)` gives seam-correct UVs."""
    sizes = np.asarray(model.poly_sizes)
    starts = np.concatenate([[0], np.cumsum(sizes)[:-1]])
    fan = [np.stack([starts[sizes >= k + 2], starts[sizes >= k + 2] + k, starts[sizes >= k + 2] + k + 1], 1)
           for k in range(1, int(sizes.max()) - 1)]
    poly = [np.nonzero(sizes >= k + 2)[0] for k in range(1, int(sizes.max()) - 1)]
    corners = np.concatenate(fan)
    order = np.lexsort((np.concatenate([np.full(len(p), k) for k, p in enumerate(poly)]), np.concatenate(poly)))
    corners = corners[order]
    uv_tri = np.asarray(model.corner_uv_index)[corners]
    if corners.shape[0] != len(model.triangles) or not np.array_equal(
            np.asarray(model.corner_verts)[corners], np.asarray(model.triangles)):
        raise ValueError("model triangles are not the fan triangulation of its polygons")
    return uv_tri.astype(np.int64)
