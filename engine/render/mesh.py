"""Small mesh helpers the renderer's callers need: smooth normals and per-corner UV triangles."""
from __future__ import annotations

import numpy as np
import torch


def vertex_normals(verts: torch.Tensor, tri: torch.Tensor) -> torch.Tensor:
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
