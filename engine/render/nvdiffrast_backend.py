"""Optional nvdiffrast backend (CUDA only).

Install: `pip install diffrp-nvdiffrast` (it compiles its CUDA code on first use and needs the
CUDA toolkit, nvcc, matching the installed torch). nvdiffrast is under NVIDIA's Source Code
License (research and evaluation only), so it is never a requirement: the portable backend
ships by default and `backend="auto"` only picks this one on CUDA when it imports.

Layout adapter: raw nvdiffrast puts image row 0 at ndc y = -1 (the bottom). This module flips
rows so row 0 is the top, as in the portable backend, and negates the d/dY columns of
rast_db because Y then grows downwards. Clip space, barycentrics (u weights corner 0, v
corner 1), z/w and triangle ids (+1) are nvdiffrast's own."""
from __future__ import annotations

import torch

_contexts: dict = {}
_import_error: str | None = None
_usable: bool | None = None


def _dr():
    import nvdiffrast.torch as dr
    return dr


def available() -> bool:
    """True when a CUDA device exists, `nvdiffrast.torch` imports and its CUDA code builds and
    runs (checked once with a one-triangle render, so "auto" never picks a broken install)."""
    global _import_error, _usable
    if not torch.cuda.is_available():
        return False
    if _usable is None:
        try:
            dr = _dr()
            pos = torch.tensor([[[-0.5, -0.5, 0.0, 1.0], [0.5, -0.5, 0.0, 1.0], [0.0, 0.5, 0.0, 1.0]]], device="cuda")
            tri = torch.tensor([[0, 1, 2]], dtype=torch.int32, device="cuda")
            dr.rasterize(_context(pos.device), pos, tri, resolution=[8, 8])
            _usable = True
        except Exception as e:      # ImportError, a missing CUDA toolkit, or a broken build
            _import_error = f"{type(e).__name__}: {e}"
            _usable = False
    return _usable


def unavailable_reason() -> str:
    if not torch.cuda.is_available():
        return "no CUDA device"
    if available():
        return ""
    return f"nvdiffrast.torch is not usable ({_import_error})"


def _context(device):
    key = str(device)
    if key not in _contexts:
        _contexts[key] = _dr().RasterizeCudaContext(device=device)
    return _contexts[key]


_DY_SIGN = (1.0, -1.0, 1.0, -1.0)


def _flip_db(db):
    return db.flip(1) * db.new_tensor(_DY_SIGN)


def rasterize(pos_clip, tri, resolution, grad_db=True):
    dr = _dr()
    H, W = int(resolution[0]), int(resolution[1])
    rast, db = dr.rasterize(_context(pos_clip.device), pos_clip.float().contiguous(), tri.int().contiguous(),
                            resolution=[H, W], grad_db=grad_db)
    rast = rast.flip(1)
    db = _flip_db(db) if grad_db and db is not None and db.numel() else None
    return rast, db


def interpolate(attr, rast, tri, rast_db=None, diff_attrs=None):
    dr = _dr()
    out, da = dr.interpolate(attr.float().contiguous(), rast.float().contiguous(), tri.int().contiguous(),
                             rast_db=None if rast_db is None else rast_db.float().contiguous(),
                             diff_attrs=diff_attrs if rast_db is not None else None)
    return out, (da if diff_attrs is not None and rast_db is not None else None)


def texture(tex, uv, uv_da=None, filter_mode="auto", boundary_mode="wrap", max_mip_level=None):
    dr = _dr()
    if tex.dim() == 3:
        tex = tex[None]
    kw = {} if max_mip_level is None else {"max_mip_level": max_mip_level}
    return dr.texture(tex.float().contiguous(), uv.float().contiguous(),
                      uv_da=None if uv_da is None else uv_da.float().contiguous(),
                      filter_mode=filter_mode, boundary_mode=boundary_mode, **kw)


def antialias(color, rast, pos_clip, tri):
    dr = _dr()
    B = color.shape[0]
    if pos_clip.shape[0] == 1 and B > 1:
        pos_clip = pos_clip.expand(B, -1, -1)
    out = dr.antialias(color.float().flip(1).contiguous(), rast.float().flip(1).contiguous(),
                       pos_clip.float().contiguous(), tri.int().contiguous())
    return out.flip(1)
