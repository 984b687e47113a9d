"""nvdiffrast's `texture` in PyTorch: nearest, bilinear and trilinear mip-mapped lookups.

Texel centre of column i is u = (i + 0.5) / W and of row j is v = (j + 0.5) / H (nvdiffrast's
convention: v = 0 is row 0 of the texture tensor). The sampler is written with gathers, so it
works for any batch pairing, boundary mode and dtype, on CPU, CUDA and MPS, and autograd gives
gradients w.r.t. the texture, the uv and (through the mip level) uv_da."""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F

FILTER_MODES = ("auto", "nearest", "linear", "linear-mipmap-linear")
BOUNDARY_MODES = ("wrap", "clamp", "zero")


def _wrap_index(i, n, mode):
    """Texel indices -> (valid index, in-range mask) for the boundary mode."""
    if mode == "wrap":
        return torch.remainder(i, n), None
    if mode == "clamp":
        return i.clamp(0, n - 1), None
    ok = (i >= 0) & (i < n)
    return i.clamp(0, n - 1), ok


def sample_bilinear(tex, b, u, v, boundary_mode="wrap"):
    """tex (Bt, h, w, C); b (n,) texture batch index; u, v (n,). Returns (n, C)."""
    Bt, h, w, C = tex.shape
    flat = tex.reshape(Bt * h * w, C)
    x = u * w - 0.5
    y = v * h - 0.5
    x0f, y0f = torch.floor(x.detach()), torch.floor(y.detach())
    fx, fy = (x - x0f)[:, None], (y - y0f)[:, None]
    x0, y0 = x0f.long(), y0f.long()
    base = b * (h * w)
    out = 0
    for dy, wy in ((0, 1 - fy), (1, fy)):
        yi, oky = _wrap_index(y0 + dy, h, boundary_mode)
        for dx, wx in ((0, 1 - fx), (1, fx)):
            xi, okx = _wrap_index(x0 + dx, w, boundary_mode)
            val = flat.index_select(0, base + yi * w + xi)
            if oky is not None:
                val = val * (oky & okx)[:, None].to(val.dtype)
            out = out + wx * wy * val
    return out


def sample_nearest(tex, b, u, v, boundary_mode="wrap"):
    Bt, h, w, C = tex.shape
    xi, okx = _wrap_index(torch.floor(u * w).long(), w, boundary_mode)
    yi, oky = _wrap_index(torch.floor(v * h).long(), h, boundary_mode)
    val = tex.reshape(Bt * h * w, C).index_select(0, b * (h * w) + yi * w + xi)
    if okx is not None:
        val = val * (okx & oky)[:, None].to(val.dtype)
    return val


def mip_pyramid(tex, max_mip_level=None):
    """[level 0 = tex, level 1 (half size, 2x2 box filter), ...] down to 1x1, each (B, C, h, w)
    as a view of channels-last (B, h, w, C) storage."""
    cur = tex                                                 # (B, h, w, C)
    levels = [cur.permute(0, 3, 1, 2)]
    while max(cur.shape[1:3]) > 1 and (max_mip_level is None or len(levels) <= max_mip_level):
        Bt, h, w, C = cur.shape
        if h % 2 == 0 and w % 2 == 0:                         # reshape-mean: cheap forward and backward
            r0, r1 = cur.reshape(Bt, h // 2, 2, w // 2, 2, C).unbind(2)   # slices beat strided sums
            c0, c1 = (r0 + r1).unbind(3)
            cur = (c0 + c1) * 0.25
        else:
            cur = F.adaptive_avg_pool2d(cur.permute(0, 3, 1, 2), (max(h // 2, 1), max(w // 2, 1))).permute(0, 2, 3, 1)
        levels.append(cur.permute(0, 3, 1, 2))
    return levels


def _grid_coords(uv, h, w, boundary_mode):
    """uv (..., 2) -> grid_sample coordinates (align_corners=False) for a texture of (h, w), which
    for 'wrap' is first padded by one texel on every side (`_pad_wrap`)."""
    if boundary_mode != "wrap":
        return uv * 2.0 - 1.0
    f = uv - torch.floor(uv.detach())                         # in [0, 1): gradient 1 as for uv
    size = uv.new_tensor([w, h])
    return (2.0 * (f * size + 1.0)) / (size + 2.0) - 1.0


def _pad_wrap(t):
    """(B, C, h, w) -> (B, C, h + 2, w + 2) with the opposite edges copied around.
    (index_select, not slicing/F.pad: their backward allocates one full buffer per slice)"""
    h, w = t.shape[-2:]
    rows = torch.remainder(torch.arange(-1, h + 1, device=t.device), h)
    cols = torch.remainder(torch.arange(-1, w + 1, device=t.device), w)
    nhwc = t.permute(0, 2, 3, 1)                              # the pyramid's storage order
    B, C = nhwc.shape[0], nhwc.shape[-1]
    idx = ((torch.arange(B, device=t.device) * (h * w))[:, None, None] + rows[:, None] * w + cols).reshape(-1)
    return nhwc.reshape(-1, C).index_select(0, idx).view(B, h + 2, w + 2, C).permute(0, 3, 1, 2)


def sample_grid(tex_nchw, uv, boundary_mode):
    """Bilinear lookups with torch's grid_sample. tex (Bt, C, h, w); uv (Bt, n, 2). -> (Bt, n, C)."""
    h, w = tex_nchw.shape[-2:]
    if boundary_mode == "wrap":
        tex_nchw = _pad_wrap(tex_nchw)
    grid = _grid_coords(uv, h, w, boundary_mode)[:, None]     # (Bt, 1, n, 2)
    out = F.grid_sample(tex_nchw, grid, mode="bilinear", align_corners=False,
                        padding_mode="zeros" if boundary_mode == "zero" else "border")
    return out.squeeze(2).transpose(1, 2)


def mip_level(uv_da, tex_h, tex_w):
    """Level of detail per pixel: log2 of the longer screen-space footprint axis in texels."""
    dudx, dudy, dvdx, dvdy = uv_da.unbind(-1)                 # nvdiffrast order: (du/dX, du/dY, dv/dX, dv/dY)
    ux, vx, uy, vy = dudx * tex_w, dvdx * tex_h, dudy * tex_w, dvdy * tex_h
    lx = ux * ux + vx * vx
    ly = uy * uy + vy * vy
    return 0.5 * torch.log2(torch.maximum(lx, ly).clamp(min=1e-20))


def texture(tex, uv, uv_da=None, filter_mode="auto", boundary_mode="wrap", max_mip_level=None):
    """tex (Bt, Ht, Wt, C) or (Ht, Wt, C) with Bt in {1, B}; uv (B, H, W, 2); uv_da
    (B, H, W, 4) = (du/dX, du/dY, dv/dX, dv/dY) from `interpolate(..., diff_attrs=[0, 1])`.
    Returns (B, H, W, C)."""
    if filter_mode not in FILTER_MODES:
        raise ValueError(f"filter_mode must be one of {FILTER_MODES}")
    if boundary_mode not in BOUNDARY_MODES:
        raise ValueError(f"boundary_mode must be one of {BOUNDARY_MODES}")
    if tex.dim() == 3:
        tex = tex[None]
    B, H, W, _ = uv.shape
    Bt, Ht, Wt, C = tex.shape
    if Bt not in (1, B):
        raise ValueError(f"texture batch {Bt} does not match uv batch {B}")
    if filter_mode == "auto":
        filter_mode = "linear-mipmap-linear" if uv_da is not None else "linear"
    dt = torch.promote_types(tex.dtype, uv.dtype)
    tex = tex.to(dt)
    u, v = uv.reshape(-1, 2).to(dt).unbind(1)
    b = torch.zeros_like(u, dtype=torch.long) if Bt == 1 else \
        torch.arange(B, device=uv.device).repeat_interleave(H * W)
    if filter_mode == "nearest":
        return sample_nearest(tex, b, u, v, boundary_mode).view(B, H, W, C)
    if Bt == B and B > 1 and (filter_mode == "linear" or uv_da is None):
        return sample_grid(tex.permute(0, 3, 1, 2), uv.reshape(B, H * W, 2).to(dt), boundary_mode).view(B, H, W, C)
    uvf = uv.reshape(1, B * H * W, 2).to(dt)
    if filter_mode == "linear" or uv_da is None:
        if Bt == 1:
            return sample_grid(tex.permute(0, 3, 1, 2), uvf, boundary_mode).view(B, H, W, C)
        return sample_bilinear(tex, b, u, v, boundary_mode).view(B, H, W, C)
    # trilinear: blend the two mip levels around the level of detail, sampling each level
    # only at the pixels that use it
    levels = mip_pyramid(tex, max_mip_level)
    lod = mip_level(uv_da.to(dt), Ht, Wt).reshape(-1).clamp(0, len(levels) - 1)
    l0 = torch.floor(lod.detach()).long()
    frac = lod - l0
    # pixels sorted by their lower level: level L is sampled by the contiguous run of pixels
    # whose lower level is L - 1 (weight frac) or L (weight 1 - frac)
    # (pixels with frac == 0, e.g. magnified ones, sort first in their group and skip level + 1)
    key = 2 * l0 + (frac.detach() > 0).long()
    order = torch.argsort(key.to(torch.int16))                # small keys: the int16 sort is 4x faster
    ends = torch.cumsum(torch.bincount(key, minlength=2 * len(levels)), 0).tolist()
    starts = [0] + ends[:-1]
    out = torch.zeros(u.shape[0], C, dtype=dt, device=uv.device)
    for level in range(len(levels)):
        lo = starts[2 * level - 1] if level else 0            # group (level - 1, frac > 0)
        hi = ends[2 * level + 1]
        if hi <= lo:
            continue
        idx = order[lo:hi]
        split = starts[2 * level] - lo                        # first `split` pixels come from level - 1
        f_sel = frac.index_select(0, idx)
        from_below = torch.arange(hi - lo, device=uv.device) < split
        wgt = torch.where(from_below, f_sel, 1 - f_sel)
        if Bt == 1:
            s = sample_grid(levels[level], uvf.index_select(1, idx), boundary_mode)[0]
        else:
            s = sample_bilinear(levels[level].permute(0, 2, 3, 1), b[idx], u[idx], v[idx], boundary_mode)
        out = out.index_add(0, idx, wgt[:, None] * s)
    return out.view(B, H, W, C)
