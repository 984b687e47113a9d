"""Public ops and backend selection."""
from __future__ import annotations

import torch

from ..core.errors import FaceSpaceError
from . import portable
from .attributes import interpolate as _interpolate_portable
from .edge_aa import antialias as _aa
from .texturing import texture as _texture
from .texturing import texture_construct_mip as _construct

BACKENDS = ("auto", "portable", "nvdiffrast")


def _nvdiffrast_ok(device) -> bool:
    if torch.device(device).type != "cuda":
        return False
    from . import nvdiffrast_backend
    return nvdiffrast_backend.available()


def available_backends(device="cpu") -> list[str]:
    return ["portable"] + (["nvdiffrast"] if _nvdiffrast_ok(device) else [])


def resolve_backend(backend: str, device) -> str:
    """'auto' -> nvdiffrast on CUDA when `nvdiffrast.torch` imports, else portable."""
    if backend not in BACKENDS:
        raise FaceSpaceError(f"Unknown renderer backend {backend!r}; choose one of {', '.join(BACKENDS)}.")
    if backend == "auto":
        return "nvdiffrast" if _nvdiffrast_ok(device) else "portable"
    if backend == "nvdiffrast" and not _nvdiffrast_ok(device):
        raise FaceSpaceError("The nvdiffrast renderer needs a CUDA GPU and the optional 'diffrp-nvdiffrast' "
                             "package; use backend='portable' or 'auto'.")
    return backend


def _batched(pos_clip):
    if pos_clip.dim() == 2:
        return pos_clip[None]
    if pos_clip.dim() != 3 or pos_clip.shape[-1] != 4:
        raise ValueError(f"pos_clip must be (B, V, 4) or (V, 4), got {tuple(pos_clip.shape)}")
    return pos_clip


def rasterize(pos_clip, tri, resolution, backend="auto", grad_db=True):
    """pos_clip (B, V, 4) or (V, 4) clip space; tri (F, 3) int; resolution (H, W).

    Returns rast (B, H, W, 4) = (u, v, z/w, triangle_id + 1), 0 = background, row 0 at the top;
    rast_db (B, H, W, 4) = (du/dX, du/dY, dv/dX, dv/dY) in pixels (Y grows downwards).
    u weights tri[:, 0], v weights tri[:, 1]. No culling. Depth is clipped to -1 <= z/w <= 1."""
    pos_clip = _batched(pos_clip)
    which = resolve_backend(backend, pos_clip.device)
    if which == "nvdiffrast":
        from . import nvdiffrast_backend
        return nvdiffrast_backend.rasterize(pos_clip, tri, resolution, grad_db=grad_db)
    return portable.rasterize(pos_clip, tri, resolution, grad_db=grad_db)


def interpolate(attr, rast, tri, rast_db=None, diff_attrs=None, backend="auto"):
    """Attributes (V, C) or (B, V, C) at the pixels: out (B, H, W, C), out_da or None."""
    if resolve_backend(backend, rast.device) == "nvdiffrast":
        from . import nvdiffrast_backend
        return nvdiffrast_backend.interpolate(attr, rast, tri, rast_db, diff_attrs)
    return _interpolate_portable(attr, rast, tri, rast_db=rast_db, diff_attrs=diff_attrs)


def texture(tex, uv, uv_da=None, filter_mode="auto", boundary_mode="wrap", max_mip_level=None, backend="auto",
            mip=None):
    """Sample tex (B, Ht, Wt, C) or (Ht, Wt, C) at uv (B, H, W, 2) in [0, 1] (texel centre of
    row i at v = (i + 0.5) / Ht, as nvdiffrast). filter_mode: auto | nearest | linear |
    linear-mipmap-linear ('auto' = mip-mapped when uv_da is given). mip: optional
    `texture_construct_mip(tex)` to reuse a constant texture's pyramid across calls."""
    if resolve_backend(backend, uv.device) == "nvdiffrast":
        from . import nvdiffrast_backend
        return nvdiffrast_backend.texture(tex, uv, uv_da, filter_mode, boundary_mode, max_mip_level)
    return _texture(tex, uv, uv_da, filter_mode=filter_mode, boundary_mode=boundary_mode, max_mip_level=max_mip_level,
                    mip=mip)


def texture_construct_mip(tex, max_mip_level=None):
    """Prebuilt mip pyramid of a texture for `texture(..., mip=...)` (portable backend; the
    nvdiffrast backend ignores it and builds its own)."""
    return _construct(tex, max_mip_level)


def antialias(color, rast, pos_clip, tri, backend="auto"):
    """Analytic silhouette antialiasing (nvdiffrast's method): colour (B, H, W, C) -> same,
    with gradients w.r.t. vertex positions at silhouette edges."""
    pos_clip = _batched(pos_clip)
    if resolve_backend(backend, color.device) == "nvdiffrast":
        from . import nvdiffrast_backend
        return nvdiffrast_backend.antialias(color, rast, pos_clip, tri)
    return _aa(color, rast, pos_clip, tri)
