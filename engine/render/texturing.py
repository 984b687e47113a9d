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
    # (2 (f size + 1)) / (size + 2) - 1, as one multiply-add
    return torch.addcmul(uv.new_tensor([2.0 / (w + 2) - 1.0, 2.0 / (h + 2) - 1.0]), f,
                         uv.new_tensor([2.0 * w / (w + 2), 2.0 * h / (h + 2)]))


def _pad_wrap(t):
    """(B, C, h, w) -> (B, C, h + 2, w + 2) with the opposite edges copied around.
    (index_select, not slicing/F.pad: their backward allocates one full buffer per slice)"""
    h, w = t.shape[-2:]
    if not (torch.is_grad_enabled() and t.requires_grad) and h > 1 and w > 1:
        return F.pad(t, (1, 1, 1, 1), mode="circular")        # same values, faster without a backward
    rows = torch.remainder(torch.arange(-1, h + 1, device=t.device), h)
    cols = torch.remainder(torch.arange(-1, w + 1, device=t.device), w)
    nhwc = t.permute(0, 2, 3, 1)                              # the pyramid's storage order
    B, C = nhwc.shape[0], nhwc.shape[-1]
    idx = ((torch.arange(B, device=t.device) * (h * w))[:, None, None] + rows[:, None] * w + cols).reshape(-1)
    return nhwc.reshape(-1, C).index_select(0, idx).view(B, h + 2, w + 2, C).permute(0, 3, 1, 2)


def sample_grid(tex_nchw, uv, boundary_mode, padded=False):
    """Bilinear lookups with torch's grid_sample. tex (Bt, C, h, w); uv (Bt, n, 2). -> (Bt, n, C).
    padded: tex is already `_pad_wrap`-ed (boundary 'wrap' only), as in `MipStack.sampler_levels`."""
    h, w = tex_nchw.shape[-2:]
    if boundary_mode == "wrap":
        if padded:
            h, w = h - 2, w - 2
        else:
            tex_nchw = _pad_wrap(tex_nchw)
    grid = _grid_coords(uv, h, w, boundary_mode)[:, None]     # (Bt, 1, n, 2)
    out = F.grid_sample(tex_nchw, grid, mode="bilinear", align_corners=False,
                        padding_mode="zeros" if boundary_mode == "zero" else "border")
    return out.squeeze(2).transpose(1, 2)


def mip_level(uv_da, tex_h, tex_w):
    """Level of detail per pixel: log2 of the longer screen-space footprint axis in texels."""
    # nvdiffrast order: (du/dX, du/dY, dv/dX, dv/dY); channels first, so the element-wise work
    # runs on contiguous planes
    d = uv_da.movedim(-1, 0).contiguous()
    if tex_h == tex_w:
        scale = math.log2(tex_w)                              # log2(texels) = log2(uv length) + log2(size)
    else:
        d = d * d.new_tensor([tex_w, tex_w, tex_h, tex_h]).view(4, *([1] * (d.dim() - 1)))
        scale = 0.0
    q = d * d
    lx = q[0] + q[2]                                          # |(du, dv)/dX|^2
    ly = q[1] + q[3]                                          # |(du, dv)/dY|^2
    return torch.log2(torch.maximum(lx, ly).clamp(min=1e-20)).mul_(0.5).add_(scale)


class MipStack:
    """A texture's mip pyramid, built once (nvdiffrast's `texture_construct_mip`) and reusable
    across `texture(..., mip=stack)` calls while the texture does not change.

    The levels are built with autograd from `tex`: if `tex` requires grad, gradients of every
    call that uses the stack reach `tex` through the same graph (build a new stack per
    optimisation step; for a constant texture build it once, e.g. under `torch.no_grad()`).
    Sampler-ready copies (wrap-padded, contiguous) are cached per boundary mode."""

    def __init__(self, tex, max_mip_level=None):
        if tex.dim() == 3:
            tex = tex[None]
        self.tex = tex
        self.max_mip_level = max_mip_level
        self.levels = mip_pyramid(tex, max_mip_level)
        self._ready = {}

    def sampler_levels(self, boundary_mode, dtype):
        """Levels (Bt, C, h, w) ready for `sample_grid(..., padded=True)`."""
        key = (boundary_mode, dtype)
        if key not in self._ready:
            self._ready[key] = _sampler_levels(self.levels, boundary_mode, dtype)
        return self._ready[key]


def texture_construct_mip(tex, max_mip_level=None):
    """Prebuilt mip pyramid for `texture(..., mip=...)` (nvdiffrast's name)."""
    return MipStack(tex, max_mip_level)


def _sampler_levels(levels, boundary_mode, dtype):
    out = []
    for lev in levels:
        lev = lev.to(dtype)
        out.append(_pad_wrap(lev) if boundary_mode == "wrap" else lev)
    return out


def texture(tex, uv, uv_da=None, filter_mode="auto", boundary_mode="wrap", max_mip_level=None, mip=None):
    """tex (Bt, Ht, Wt, C) or (Ht, Wt, C) with Bt in {1, B}; uv (B, H, W, 2); uv_da
    (B, H, W, 4) = (du/dX, du/dY, dv/dX, dv/dY) from `interpolate(..., diff_attrs=[0, 1])`.
    mip: optional `texture_construct_mip(tex, max_mip_level)` result, reused instead of
    building the pyramid per call (it must come from this `tex`; its max_mip_level wins).
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
    uvf = uv.reshape(1, B * H * W, 2).to(dt)
    u, v = uvf[0].unbind(1)
    b = None if Bt == 1 and filter_mode != "nearest" else \
        torch.zeros_like(u, dtype=torch.long) if Bt == 1 else torch.arange(B, device=uv.device).repeat_interleave(H * W)
    if filter_mode == "nearest":
        return sample_nearest(tex, b, u, v, boundary_mode).view(B, H, W, C)
    if Bt == B and B > 1 and (filter_mode == "linear" or uv_da is None):
        return sample_grid(tex.permute(0, 3, 1, 2), uvf.view(B, H * W, 2), boundary_mode).view(B, H, W, C)
    if filter_mode == "linear" or uv_da is None:
        if Bt == 1:
            return sample_grid(tex.permute(0, 3, 1, 2), uvf, boundary_mode).view(B, H, W, C)
        return sample_bilinear(tex, b, u, v, boundary_mode).view(B, H, W, C)
    # trilinear: blend the two mip levels around the level of detail, sampling each level
    # only at the pixels that use it
    if mip is None:
        mip = MipStack(tex, max_mip_level)
    elif not isinstance(mip, MipStack):
        raise TypeError("mip must come from texture_construct_mip(tex)")
    elif mip.tex.shape != tex.shape:
        raise ValueError(f"mip was built for a texture of shape {tuple(mip.tex.shape)}, not {tuple(tex.shape)}")
    levels = mip.sampler_levels(boundary_mode, dt) if Bt == 1 else [lv.to(dt) for lv in mip.levels]
    n_levels = len(levels)
    # trilinear weights: level floor(lod) gets 1 - frac, the next one frac
    lod = mip_level(uv_da.to(dt), Ht, Wt).reshape(-1).clamp(0, n_levels - 1)
    # level 0 is sampled everywhere (it serves the magnified, background and lod < 1 pixels,
    # usually most of the image) with weight 1 - frac where the lower level is 0, else 0,
    # i.e. max(1 - lod, 0)
    w0 = (1 - lod).clamp(min=0)
    if Bt == 1:
        out = sample_grid(levels[0], uvf, boundary_mode, padded=True)[0] * w0[:, None]
    else:
        out = sample_bilinear(levels[0].permute(0, 2, 3, 1), b, u, v, boundary_mode) * w0[:, None]
    # the other pixels (lod > 0), sorted by group key = 2 lower level + (frac > 0) - 1, so that
    # level L >= 1 is sampled by one contiguous run: groups (L - 1, frac > 0), (L, 0), (L, > 0)
    rest = (lod.detach() > 0).nonzero().squeeze(1)
    if rest.numel() == 0:
        return out.view(B, H, W, C)
    lod_r = lod.index_select(0, rest)
    l0 = torch.floor(lod_r.detach())
    frac = lod_r - l0
    key_r = 2 * l0.long() + (frac.detach() > 0).long() - 1
    order = torch.argsort(key_r.to(torch.int16))              # small keys: the int16 sort is 4x faster
    rest = rest.index_select(0, order)
    ends = torch.cumsum(torch.bincount(key_r, minlength=2 * n_levels), 0).tolist()
    starts = [0] + ends[:-1]
    f_sorted = frac.index_select(0, order)
    uv_sorted = uvf.index_select(1, rest) if Bt == 1 else None
    runs = {}
    for level in range(1, n_levels):
        lo, split, hi = starts[2 * level - 2], starts[2 * level - 1], ends[2 * level]
        if hi <= lo:
            continue
        f_sel = f_sorted[lo:hi]                               # from below (weight frac) until split
        wgt = torch.cat([f_sel[:split - lo], 1 - f_sel[split - lo:]]) if split > lo else 1 - f_sel
        if Bt == 1:
            smp = sample_grid(levels[level], uv_sorted[:, lo:hi], boundary_mode, padded=True)[0]
        else:
            idx = rest[lo:hi]
            smp = sample_bilinear(levels[level].permute(0, 2, 3, 1), b[idx], u[idx], v[idx], boundary_mode)
        runs[level] = (lo, wgt[:, None] * smp)
    # groups partition the sorted pixels; group (L, frac > 0) (L >= 1) gets level L's and the
    # head of level L + 1's run; group (0, frac > 0) only level 1's (its level 0 part is in out)
    pieces = []
    for level, (lo, val) in runs.items():
        g_head, g0, g1 = 2 * level - 2, 2 * level - 1, 2 * level
        if level == 1 and ends[g_head] > starts[g_head]:
            pieces.append(val[:ends[g_head] - lo])
        if ends[g0] > starts[g0]:
            pieces.append(val[starts[g0] - lo:ends[g0] - lo])
        if ends[g1] > starts[g1]:
            pieces.append(val[starts[g1] - lo:ends[g1] - lo] + runs[level + 1][1][:ends[g1] - starts[g1]])
    extra = pieces[0] if len(pieces) == 1 else torch.cat(pieces)
    out = out.index_add_(0, rest, extra)                      # out is a fresh product: in place is safe
    return out.view(B, H, W, C)
