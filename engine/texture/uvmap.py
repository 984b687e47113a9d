"""Per-model texture-space rasterisation, computed once and cached on the model and on disk.

Every atlas texel covered by a skin triangle (face, head_and_neck) gets its triangle's three
vertex ids and barycentric weights, so a bake is only gathers: texel attribute =
sum_k w_k * vertex_attribute[id_k]. The rasterisation itself is engine.render's.
Building it at 1024^2 takes seconds on 2 cores, so it is also kept in
`<data dir>/cache/` (keyed by a hash of the model's UV topology) and loads in milliseconds.
"""
from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from ..core.cache import cached
from ..core.paths import data_dir
from ..model.atlas import FACE_FRACTION, atlas_uvs, fan_corner_triangles, skin_polygons
from ..render import rasterize


@dataclass
class UVRaster:
    size: int                 # the atlas is size x size texels
    texel: torch.Tensor       # (N,) int64 linear index (row * size + col) of each covered texel
    verts: torch.Tensor       # (N, 3) int64 vertex ids of its triangle
    bary: torch.Tensor        # (N, 3) float32 weights of those vertices
    is_face: torch.Tensor     # (N,) bool: texel lies in the face region (used to fit lighting)
    covered: torch.Tensor     # (size, size) bool

    def __post_init__(self):  # column-major copies: three index_selects beat one (N, 3, C) gather
        self.verts_t = self.verts.T.contiguous()
        self.bary_t = self.bary.T.contiguous()[..., None]


def uv_raster(model, size: int, device="cpu") -> UVRaster:
    """The cached UVRaster of `model` at `size`, on `device`."""
    def on_device():
        r = cached(model, ("uv_raster", int(size), "cpu"), lambda: _load_or_build(model, int(size)))
        return UVRaster(r.size, *(t.to(device) for t in (r.texel, r.verts, r.bary, r.is_face, r.covered)))
    return cached(model, ("uv_raster", int(size), str(device)), on_device)


_CACHE_VERSION = 2
_FIELDS = ("texel", "verts", "bary", "is_face", "covered")


def prepare(model, sizes=(1024, 256)) -> None:
    """Warm the caches (e.g. right after loading the model, or in a background thread)."""
    for s in sizes:
        uv_raster(model, s)


def cache_path(model, size: int) -> Path:
    h = hashlib.sha1(f"{_CACHE_VERSION}:{size}:{FACE_FRACTION}".encode())
    for a in (model.uvs, model.corner_uv_index, model.corner_verts, model.poly_sizes,
              model.region_poly_ranges):
        h.update(np.ascontiguousarray(a).tobytes())
    return data_dir() / "cache" / f"uvraster-{model.id}-{size}-{h.hexdigest()[:16]}.npz"


def _load_or_build(model, size: int) -> UVRaster:
    path = cache_path(model, size)
    try:
        with np.load(path, allow_pickle=False) as z:
            a = {k: torch.as_tensor(z[k]) for k in _FIELDS}
        return UVRaster(size, a["texel"].long(), a["verts"].long(), a["bary"], a["is_face"], a["covered"])
    except Exception:  # absent, truncated zip, damaged arrays...: rebuild (it is only a cache)
        pass
    r = _build(model, size)
    try:  # best effort, atomic: a read-only or full disk only costs the rebuild next time
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        with open(tmp, "wb") as f:
            np.savez(f, **{k: getattr(r, k).numpy().astype(np.int32) if k in ("texel", "verts")
                           else getattr(r, k).numpy() for k in _FIELDS})
        os.replace(tmp, path)
    except OSError:
        pass
    return r


def _build(model, size: int) -> UVRaster:
    polys = skin_polygons(model)
    tri_c, tri_p = fan_corner_triangles(model, polys)
    uv = atlas_uvs(model)[model.corner_uv_index]                       # (C, 2) per corner
    # texel row 0 is the top of the image (v = 1); the renderer puts ndc y = +1 at row 0
    pos = np.zeros((len(uv), 4), dtype=np.float32)
    pos[:, 0] = 2.0 * uv[:, 0] - 1.0
    pos[:, 1] = 2.0 * uv[:, 1] - 1.0
    pos[:, 3] = 1.0
    tri = torch.as_tensor(tri_c.astype(np.int64))
    rast, _ = rasterize(torch.as_tensor(pos), tri, (size, size), backend="portable", grad_db=False)
    rast = rast[0].reshape(-1, 4)
    tid = rast[:, 3].round().long() - 1
    texel = (tid >= 0).nonzero().squeeze(1)
    t = tid[texel]
    u, v = rast[texel, 0], rast[texel, 1]
    bary = torch.stack([u, v, 1.0 - u - v], 1).clamp(0.0, 1.0)
    bary = bary / bary.sum(1, keepdim=True)
    corners = tri[t]
    verts = torch.as_tensor(model.corner_verts.astype(np.int64))[corners]
    face_polys = set(model.region_polygons("face").tolist())
    is_face = torch.as_tensor(np.isin(tri_p, list(face_polys)))[t]
    covered = torch.zeros(size * size, dtype=torch.bool)
    covered[texel] = True
    return UVRaster(size, texel, verts, bary.float(), is_face, covered.view(size, size))
