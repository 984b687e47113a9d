"""nvdiffrast's `interpolate` in PyTorch: vertex attributes at the rasterised pixels."""
from __future__ import annotations

import torch


def _covered(rast):
    B, H, W, _ = rast.shape
    flat = rast.reshape(-1, 4)
    pix = (flat[:, 3] > 0.5).nonzero().squeeze(1)
    t = flat[:, 3].index_select(0, pix).round().long() - 1
    return flat, pix, t, torch.div(pix, H * W, rounding_mode="floor")


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
    flat, pix, t, b = _covered(rast)
    vidx = tri.long().index_select(0, t)                     # (P, 3)
    if Ba > 1:
        vidx = vidx + (b * V)[:, None]
    a = attr.reshape(Ba * V, C).index_select(0, vidx.reshape(-1)).view(-1, 3, C).to(dt)   # (P, 3, C)
    u, v, _, _ = flat.index_select(0, pix).to(dt).unbind(1)
    u, v = u[:, None], v[:, None]
    a0, a1, a2 = a.unbind(1)
    vals = a2 + u * (a0 - a2) + v * (a1 - a2)
    out = torch.zeros(B * H * W, C, dtype=dt, device=rast.device).index_copy(0, pix, vals).view(B, H, W, C)
    if diff_attrs is None or rast_db is None:
        return out, None
    idx = list(range(C)) if diff_attrs == "all" else [int(i) % C for i in diff_attrs]
    dudx, dudy, dvdx, dvdy = (d[:, None] for d in rast_db.reshape(-1, 4).index_select(0, pix).to(dt).unbind(1))
    sub = a if len(idx) == C else a.index_select(2, torch.tensor(idx, device=a.device))
    s0, s1, s2 = sub.unbind(1)
    dsdu, dsdv = s0 - s2, s1 - s2
    dx = dudx * dsdu + dvdx * dsdv
    dy = dudy * dsdu + dvdy * dsdv
    da = torch.stack([dx, dy], -1).reshape(-1, 2 * len(idx))
    out_da = torch.zeros(B * H * W, 2 * len(idx), dtype=dt, device=rast.device).index_copy(0, pix, da)
    return out, out_da.view(B, H, W, 2 * len(idx))
