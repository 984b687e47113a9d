"""The texture atlas: where the skin of the face and of the head lives in one square image.

ICT-FaceKit lays its UVs out as UDIM-like tiles: the face in u in [0, 1], head and neck
(with the mouth and eye sockets) in [1, 2], gums, teeth, eyes and lashes further right.
FaceSpace bakes one square texture, so the two skin tiles are packed side by side:
the face tile gets the left FACE_FRACTION of the image (the photo sees it best), the head
tile the rest. Other tiles keep their ICT UVs; their materials use no texture.

UV convention here and in every export: OBJ/Blender style, v = 0 at the bottom of the
image, so texel row r (row 0 at the top) has v = 1 - (r + 0.5) / size.
"""
from __future__ import annotations

import numpy as np

FACE_FRACTION = 0.625  # share of the image width given to the face tile
SKIN_REGIONS = ("face", "head_and_neck")


def atlas_uvs(model) -> np.ndarray:
    """(T, 2) float32: the model's UVs with the face and head tiles packed into [0, 1]^2."""
    uv = np.asarray(model.uvs, dtype=np.float64).copy()
    tile = np.floor(uv[:, 0])
    face = tile <= 0
    head = tile == 1
    uv[face, 0] = np.clip(uv[face, 0], 0.0, 1.0) * FACE_FRACTION
    uv[head, 0] = FACE_FRACTION + np.clip(uv[head, 0] - 1.0, 0.0, 1.0) * (1.0 - FACE_FRACTION)
    return uv.astype(np.float32)


def skin_polygons(model) -> np.ndarray:
    """Polygon ids whose texels take photo pixels: the face and head_and_neck regions."""
    return np.concatenate([model.region_polygons(r) for r in SKIN_REGIONS])


def fan_corner_triangles(model, polygons=None) -> tuple[np.ndarray, np.ndarray]:
    """Triangles as corner ids (F, 3) and their polygon, fan-split like `model.triangles`.

    Corner ids index `corner_verts` and `corner_uv_index`, so UV seams are preserved.
    """
    sizes = np.asarray(model.poly_sizes, dtype=np.int64)
    starts = model.poly_starts
    polys = np.arange(len(sizes)) if polygons is None else np.asarray(polygons, dtype=np.int64)
    tris, owner = [], []
    for k in range(1, int(sizes.max()) - 1):  # fan: (c0, ck, ck+1) for every polygon with > k+1 corners
        p = polys[sizes[polys] > k + 1]
        s = starts[p]
        tris.append(np.stack([s, s + k, s + k + 1], axis=1))
        owner.append(p)
    tri = np.concatenate(tris)
    own = np.concatenate(owner)
    order = np.lexsort((np.concatenate([np.full(len(o), i) for i, o in enumerate(owner)]), own))
    return tri[order], own[order]
