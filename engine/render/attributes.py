"""nvdiffrast's `interpolate` in PyTorch: vertex attributes at the rasterised pixels.

Only the covered pixels are computed (one gather of the triangles' corner attributes, one
scatter into the dense output). The portable rasteriser records which pixels it covered on the
`rast` tensor it returns (`_fs_cover`, checked against the tensor's version counter, so an
in-place edit of `rast` falls back to reading the triangle ids again)."""
from __future__ import annotations

import torch

_COVER_ATTR = "_fs_cover"


def remember_cover(rast, pix, tri_ids):
    """Record rast's covered flat pixel indices (into B*H*W) and their triangle ids (0-based).
    Not for inference-mode tensors: they have no version counter to detect in-place edits."""
    if not rast.is_inference():
        setattr(rast, _COVER_ATTR, (rast._version, pix, tri_ids))
    return rast


def covered_pixels(rast):
    """(pix, t): flat indices of the covered pixels of rast (B, H, W, 4) and their triangle ids."""
    info = getattr(rast, _COVER_ATTR, None)
    if info is not None and not rast.is_inference() and info[0] == rast._version and info[1].device == rast.device:
        return info[1], info[2]
    ids = rast.detach().reshape(-1, 4)[:, 3]
    pix = (ids > 0.5).nonzero().squeeze(1)
    t = ids.index_select(0, pix).round().long() - 1
    return pix, t


def interpolate(attr, rast, tri, rast_db=None, diff_attrs=None):
    """attr (V, C) or (B, V, C); rast (B, H, W, 4); tri (F, 3) indexing attr's vertices.

    Returns out (B, H, W, C) = u a0 + v a1 + (1 - u - v) a2 (zero on background) and, when
    diff_attrs ("all" or a list of channel indices) and rast_db are given, out_da
    (B, H, W, 2 * len(diff_attrs)) = per channel (dA/dX, dA/dY) in pixels (Y = row, downward)."""
    B, H, W, _ = rast.shape
    if attr.dim() == 2:
        attr = attr[None]
    Ba, V, C = attr.shape
    dt = torch.promote_types(attr.dtype, rast.dtype)
    pix, t = covered_pixels(rast)
    vidx = tri.long().index_select(0, t)                     # (P, 3)
    if Ba > 1:
        vidx = vidx + (torch.div(pix, H * W, rounding_mode="floor") * V)[:, None]
    a = attr.reshape(Ba * V, C).index_select(0, vidx.reshape(-1)).view(-1, 3, C).to(dt)   # (P, 3, C)
    bary = rast.reshape(-1, 4).index_select(0, pix).to(dt)   # (P, 4)
    u, v = bary[:, 0:1], bary[:, 1:2]
    a0, a1, a2 = a.unbind(1)
    d0, d1 = a0 - a2, a1 - a2                                 # d attr / du, d attr / dv
    vals = torch.addcmul(torch.addcmul(a2, u, d0), v, d1)
    out = torch.zeros(B * H * W, C, dtype=dt, device=rast.device).index_copy_(0, pix, vals).view(B, H, W, C)
    if diff_attrs is None or rast_db is None:
        return out, None
    idx = list(range(C)) if diff_attrs == "all" else [int(i) % C for i in diff_attrs]
    if idx != list(range(C)):
        sel = torch.tensor(idx, device=a.device)
        d0, d1 = d0.index_select(1, sel), d1.index_select(1, sel)
    g = rast_db.reshape(-1, 4).index_select(0, pix).to(dt)   # (P, 4): du/dX, du/dY, dv/dX, dv/dY
    dudx, dudy, dvdx, dvdy = g[:, 0:1], g[:, 1:2], g[:, 2:3], g[:, 3:4]
    dx = torch.addcmul(dudx * d0, dvdx, d1)
    dy = torch.addcmul(dudy * d0, dvdy, d1)
    da = torch.stack([dx, dy], -1).reshape(-1, 2 * len(idx))
    out_da = torch.zeros(B * H * W, 2 * len(idx), dtype=dt, device=rast.device).index_copy_(0, pix, da)
    return out, out_da.view(B, H, W, 2 * len(idx))
