"""Portable rasteriser in plain PyTorch (CPU, CUDA, MPS): nvdiffrast's `rasterize`.

1. Visibility without autograd (`zbuffer.visible_pixels`): the covered pixels and the triangle
   each one shows.
2. Barycentrics with autograd: for the triangles that won a pixel only, the homogeneous planes
   c_i(p) = (h_j x h_k) . ndc(p) (Olano & Greer 1997; proportional to the perspective-correct
   barycentrics) are evaluated at the covered pixels from pos_clip, so gradients reach vertex
   positions like nvdiffrast. Planes are stored relative to vertex 0's pixel so float32 stays
   well conditioned. The images are gathered from compact per-pixel rows (`attributes.Cover`)
   and tagged with them, so `interpolate` and `texture` reuse them.
"""
from __future__ import annotations

import torch

from .attributes import Cover, dense
from .zbuffer import _corner_index, triangle_planes, triangle_vertices, visible_pixels


def barycentrics(pos, tri, pix, t, B, H, W, need_db=True):
    """Differentiable rast (B,H,W,4) = (u, v, z/w, id+1) and rast_db (du/dX, du/dY, dv/dX, dv/dY)
    at the covered pixels pix (showing triangles t), from pos (B, V, 4)."""
    F = tri.shape[0]
    dt, dev = pos.dtype, pos.device
    if B == 1:                                                # one image: skip the batch split
        rem, gi = pix, t
    else:
        b = torch.div(pix, H * W, rounding_mode="floor")
        rem = pix - b * (H * W)
        gi = t + b * F
    # planes of the triangles that show up only (a fraction of all), then one gather per pixel
    seen = torch.zeros(B * F, dtype=torch.bool, device=dev).index_fill_(0, gi, True)
    vis = seen.nonzero().squeeze(1)
    slot = torch.empty(B * F, dtype=torch.int64, device=dev).index_copy_(0, vis, torch.arange(vis.numel(), device=dev))
    v = triangle_vertices(pos, _corner_index(tri, B, pos.shape[1]).index_select(1, vis))
    planes, ref, _ = triangle_planes(v, H, W)
    # (A0, B0, A1, B1, A2, B2 | R0, R1, R2 | Xr, Yr | z0, z1, z2 | w0, w1, w2) per pixel
    table = torch.cat([planes[:2, :3].transpose(0, 1).reshape(6, -1), planes[2, :3], ref, v[:, 2], v[:, 3]])
    # (split/unbind, not repeated slicing: with autograd each slice's backward fills a whole buffer)
    AB, R, XY, z, w = table.index_select(1, slot.index_select(0, gi)).split([6, 3, 2, 3, 3])   # (., P)
    Ac, Bc = AB.view(3, 2, -1).unbind(1)                      # per corner
    Xr, Yr = XY.unbind(0)
    # row = floor((rem + 0.5) / W), exact in float64 (int64 division is ~10x slower on CPU)
    Yf = rem.to(torch.float64).add_(0.5).mul_(1.0 / W).floor_()
    dX, dY = (rem - Yf * W).to(dt) - Xr, Yf.to(dt) - Yr
    f = torch.addcmul(torch.addcmul(R, Ac, dX), Bc, dY)       # c_0..c_2
    inv = 1.0 / f.sum(0)
    uv = f[:2] * inv
    # z/w = sum c_i z_i / sum c_i w_i (= n_z / det, but without det's cancellation in slivers)
    zw = (f * z).sum(0) / (f * w).sum(0)
    if need_db:                                               # (du, dv) / dX and / dY
        db = [torch.addcmul(C[:2], uv, C.sum(0), value=-1) * inv for C in (Ac, Bc)]
    rows = _rows([uv[0], uv[1], zw, (t + 1).to(dt)])
    del AB, R, XY, z, w, Ac, Bc, f, dX, dY, uv, zw            # before the images: a lower peak heap
    cover = Cover(pix, t, B * H * W)                          # tags rast and rast_db: interpolate and texture
    rast = dense(rows, cover, (B, H, W))                      # reuse it
    if not need_db:
        return rast, None
    (ux, vx), (uy, vy) = (d.unbind(0) for d in db)
    return rast, dense(_rows([ux, uy, vx, vy]), cover, (B, H, W))


def _rows(cols):
    """Columns (P,) -> compact rows (P + 1, C) with a zero last (background) row."""
    n = cols[0].shape[0]
    if torch.is_grad_enabled() and any(c.requires_grad for c in cols):
        return torch.cat([torch.stack(cols, 1), cols[0].new_zeros(1, len(cols))])
    out = cols[0].new_empty(n + 1, len(cols))
    torch.stack(cols, 1, out=out[:n])                         # no copy through a temporary
    out[n] = 0
    return out


def rasterize(pos_clip, tri, resolution, grad_db=True):
    """See `engine.render.rasterize`. pos_clip (B, V, 4)."""
    B = pos_clip.shape[0]
    H, W = int(resolution[0]), int(resolution[1])
    dt = pos_clip.dtype if pos_clip.dtype in (torch.float32, torch.float64) else torch.float32
    pos = pos_clip.to(dt)
    pix, t = visible_pixels(pos, tri, H, W)
    return barycentrics(pos, tri, pix, t, B, H, W, need_db=grad_db)
