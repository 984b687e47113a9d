"""Per-corner UV triangles for the renderer's callers (smooth normals: core.torch_geometry)."""
from __future__ import annotations

import numpy as np


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
