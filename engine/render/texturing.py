"""nvdiffrast's `texture` in PyTorch: nearest, bilinear and trilinear mip-mapped lookups.

Texel centre of column i is u = (i + 0.5) / W and of row j is v = (j + 0.5) / H (nvdiffrast's
convention: v = 0 is row 0 of the texture tensor). The sampler is written with gathers, so it
works for any batch pairing, boundary mode and dtype, on CPU, CUDA and MPS, and autograd gives
gradients w.r.t. the texture, the uv and (through the mip level) uv_da."""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from .attributes import compact_rows, dense, tagged

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


def _pad_wrap(t, extra_rows=0):
    """(B, C, h, w) -> (B, C, h + 2, w + 2) with the opposite edges copied around, plus
    extra_rows more rows at the bottom (copies of row 0: filler, for `_atlas`).
    (index_select, not slicing/F.pad: their backward allocates one full buffer per slice)"""
    h, w = t.shape[-2:]
    if not (torch.is_grad_enabled() and t.requires_grad) and h > 1 and w > 1 and not extra_rows:
        return F.pad(t, (1, 1, 1, 1), mode="circular")        # same values, faster without a backward
    rows = torch.remainder(torch.arange(-1, h + 1 + extra_rows, device=t.device), h)
    rows[h + 2:] = 0
    cols = torch.remainder(torch.arange(-1, w + 1, device=t.device), w)
    nhwc = t.permute(0, 2, 3, 1)                              # the pyramid's storage order
    B, C = nhwc.shape[0], nhwc.shape[-1]
    idx = ((torch.arange(B, device=t.device) * (h * w))[:, None, None] + rows[:, None] * w + cols).reshape(-1)
    return nhwc.reshape(-1, C).index_select(0, idx).view(B, h + 2 + extra_rows, w + 2, C).permute(0, 3, 1, 2)


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
    # nvdiffrast order: (du/dX, du/dY, dv/dX, dv/dY); strided channel reads beat a transposing
    # copy and reductions over the 4 channels
    d = uv_da if tex_h == tex_w else uv_da * uv_da.new_tensor([tex_w, tex_w, tex_h, tex_h])
    scale = math.log2(tex_w) if tex_h == tex_w else 0.0      # log2(texels) = log2(uv length) + log2(size)
    q = d * d
    lx = q[..., 0] + q[..., 2]                                # |(du, dv)/dX|^2
    ly = q[..., 1] + q[..., 3]                                # |(du, dv)/dY|^2
    return torch.log2(torch.maximum(lx, ly).clamp_(min=1e-20)).mul_(0.5).add_(scale)


_ATLAS_PAD = {"wrap": 1, "clamp": 1, "zero": 2}


def _atlas(levels, boundary_mode):
    """All mip levels (1, C, h, w) of one texture in one image, each padded (wrap: opposite edges,
    clamp: edge texels, zero: two zero texels) so bilinear lookups never reach a neighbour:
    level 0 on the left, the others stacked in a column on its right. Returns (atlas
    (1, C, Ha, Wa), consts (L, 4) = grid_sample coordinate = uv * consts[:2] + consts[2:] per
    level (x, y), bounds (L, 4) = (lo x, lo y, hi x, hi y) of those coordinates or None (wrap))."""
    p = _ATLAS_PAD[boundary_mode]
    sizes = [(lv.shape[-2] + 2 * p, lv.shape[-1] + 2 * p) for lv in levels]   # padded
    (h0, w0), col_w = sizes[0], max((w for _, w in sizes[1:]), default=0)
    Ha, Wa = max(h0, sum(h for h, _ in sizes[1:])), w0 + col_w
    origins, y = [(0, 0)], 0
    for h, _ in sizes[1:]:
        origins.append((w0, y))
        y += h
    if torch.is_grad_enabled() and levels[0].requires_grad:   # pad + cat: their backward only slices
        # (level 0 is padded to the atlas height at once; the filler rows are never read)
        pads = [Ha - h0] + [0] * (len(levels) - 1)
        if boundary_mode == "wrap":
            padded = [_pad_wrap(lv, e) for lv, e in zip(levels, pads)]
        else:
            padded = [F.pad(lv, (p, p, p, p + e), mode="replicate" if boundary_mode == "clamp" else "constant")
                      for lv, e in zip(levels, pads)]
        col = [F.pad(t, (0, col_w - t.shape[-1])) for t in padded[1:]]
        parts = [padded[0]]
        if col:
            col = torch.cat(col, -2)
            parts.append(F.pad(col, (0, 0, 0, Ha - col.shape[-2])))
        atlas = torch.cat(parts, -1)
    else:                                                     # each level and its border written in place;
        atlas = levels[0].new_empty(1, levels[0].shape[1], Ha, Wa)   # the gaps are never read
        for (ox, oy), (h, w), lv in zip(origins, sizes, levels):
            _write_padded(atlas[:, :, oy:oy + h, ox:ox + w], lv, boundary_mode, p)
    # level index i (texel centres at integers) -> atlas index o + p + i -> (2 (.) + 1) / size - 1
    consts, bounds = [], []
    lo_i = 0 if boundary_mode == "clamp" else -1              # index range clamp: [0, n - 1]; zero: [-1, n]
    for (ox, oy), lv in zip(origins, levels):
        h, w = lv.shape[-2:]
        consts.append([2.0 * w / Wa, 2.0 * h / Ha, 2.0 * (ox + p) / Wa - 1.0, 2.0 * (oy + p) / Ha - 1.0])
        bounds.append([(2.0 * (ox + p + lo_i) + 1) / Wa - 1.0, (2.0 * (oy + p + lo_i) + 1) / Ha - 1.0,
                       (2.0 * (ox + p + w - 1 - lo_i) + 1) / Wa - 1.0, (2.0 * (oy + p + h - 1 - lo_i) + 1) / Ha - 1.0])
    consts = atlas.new_tensor(consts)
    return atlas, consts, None if boundary_mode == "wrap" else atlas.new_tensor(bounds)


def _write_padded(dst, lv, boundary_mode, p):
    """dst (1, C, h + 2p, w + 2p) = lv (1, C, h, w) with the `_atlas` border (no autograd)."""
    dst[:, :, p:-p, p:-p] = lv
    if boundary_mode == "zero":
        for border in (dst[:, :, :p], dst[:, :, -p:], dst[:, :, :, :p], dst[:, :, :, -p:]):
            border.zero_()
        return
    wrap = boundary_mode == "wrap"                            # (rows first: the columns then fill the corners)
    dst[:, :, 0, 1:-1] = lv[:, :, -1 if wrap else 0]
    dst[:, :, -1, 1:-1] = lv[:, :, 0 if wrap else -1]
    dst[:, :, :, 0] = dst[:, :, :, -2 if wrap else 1]
    dst[:, :, :, -1] = dst[:, :, :, 1 if wrap else -2]


def _trilinear(atlas, consts, bounds, uv, lod, boundary_mode, gather=None):
    """Trilinear lookups in an `_atlas`: uv (n, 2), lod (n,) clamped to the levels. Both levels
    around the lod of every pixel are sampled by one grid_sample call. Returns
    channels-first (C, n), or (C, len(gather)) for the lookups gather (indices into n)."""
    # (temporaries are dropped as soon as possible: a lower peak heap keeps glibc from returning
    # memory to the system between calls, which then costs page faults)
    n = lod.shape[0]
    l0 = torch.floor(lod.detach())
    frac = lod - l0
    i0 = l0.int()
    idx = torch.cat([i0, (i0 + 1).clamp_(max=consts.shape[0] - 1)])   # lower, upper level
    f = uv - uv.detach().floor() if boundary_mode == "wrap" else uv   # (remainder is ~4x slower)
    c = consts.index_select(0, idx).view(2, -1, 4)
    grid = torch.addcmul(c[..., 2:], f, c[..., :2])           # (2, n, 2)
    if bounds is not None:                                    # clamp / zero: stay inside the level
        c = bounds.index_select(0, idx).view(2, -1, 4)
        grid = torch.maximum(torch.minimum(grid, c[..., 2:]), c[..., :2])
    del l0, i0, idx, f, c
    # CPU grid_sample splits only the batch over threads: a batch of 2 (the atlas expanded, not
    # copied) samples the two levels in parallel; with autograd one image (one gradient buffer)
    if torch.is_grad_enabled() and atlas.requires_grad:
        s = F.grid_sample(atlas, grid.view(1, 1, -1, 2), mode="bilinear", align_corners=False).view(-1, 2, n).transpose(0, 1)
    else:
        s = F.grid_sample(atlas.expand(2, -1, -1, -1), grid[:, None], mode="bilinear", align_corners=False)[:, :, 0]
    del grid
    out = torch.addcmul(s[0] * (1 - frac), s[1], frac)
    del s
    return out if gather is None else out.index_select(1, gather)


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

    def atlas(self, boundary_mode, dtype):
        """`_atlas` of the levels (one texture), cached per boundary mode and dtype."""
        key = (boundary_mode, dtype)
        if key not in self._ready:
            self._ready[key] = _atlas([lv.to(dtype) for lv in self.levels], boundary_mode)
        return self._ready[key]


def texture_construct_mip(tex, max_mip_level=None):
    """Prebuilt mip pyramid for `texture(..., mip=...)` (nvdiffrast's name)."""
    return MipStack(tex, max_mip_level)


def _mip_stack(tex, mip, max_mip_level):
    if mip is None:
        return MipStack(tex, max_mip_level)
    if not isinstance(mip, MipStack):
        raise TypeError("mip must come from texture_construct_mip(tex)")
    if mip.tex.shape != tex.shape:
        raise ValueError(f"mip was built for a texture of shape {tuple(mip.tex.shape)}, not {tuple(tex.shape)}")
    return mip


def _texture_compact(tex, uv, uv_da, found, found_da, filter_mode, boundary_mode, max_mip_level, mip):
    """`texture` of `interpolate` outputs: sampled at the covered pixels plus one background
    row (uv = 0, uv_da = 0, the value every background pixel gets), then one gather."""
    cover = found[0]
    c_uv = compact_rows(uv, cover, found[1])
    c_da = None if uv_da is None else compact_rows(uv_da, cover, found_da[1])
    if filter_mode == "linear-mipmap-linear" and c_da is not None:   # gathers straight into the image
        dt = torch.promote_types(tex.dtype, uv.dtype)
        atlas, consts, bounds = _mip_stack(tex.to(dt), mip, max_mip_level).atlas(boundary_mode, dt)
        lod = mip_level(c_da.to(dt), tex.shape[1], tex.shape[2]).clamp(0, consts.shape[0] - 1)
        if not (torch.is_grad_enabled() and (atlas.requires_grad or c_uv.requires_grad or lod.requires_grad)):
            return _trilinear(atlas, consts, bounds, c_uv.to(dt), lod, boundary_mode, cover.index).t().view(*uv.shape[:3], -1)
        return dense(_trilinear(atlas, consts, bounds, c_uv.to(dt), lod, boundary_mode).t(), cover, uv.shape[:3])
    vals = texture(tex, c_uv[None, None], None if c_da is None else c_da[None, None], filter_mode, boundary_mode,
                   max_mip_level, mip)[0, 0]
    return dense(vals, cover, uv.shape[:3])


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
    found = tagged(uv) if Bt == 1 else None
    found_da = None if found is None or uv_da is None else tagged(uv_da)
    if found is not None and (uv_da is None or (found_da is not None and found_da[0] is found[0])):
        return _texture_compact(tex, uv, uv_da, found, found_da, filter_mode, boundary_mode, max_mip_level, mip)
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
    mip = _mip_stack(tex, mip, max_mip_level)
    n_levels = len(mip.levels)
    lod = mip_level(uv_da.to(dt), Ht, Wt).reshape(-1).clamp(0, n_levels - 1)
    if Bt == 1:
        return _trilinear(*mip.atlas(boundary_mode, dt), uvf[0], lod, boundary_mode).t().view(B, H, W, C)
    levels = [lv.to(dt) for lv in mip.levels]
    # batched textures: level 0 everywhere (weight max(1 - lod, 0)), the other levels only at
    # the pixels with lod > 0, sorted by group key = 2 lower level + (frac > 0) - 1 so that
    # level L >= 1 is sampled by one contiguous run: groups (L - 1, frac > 0), (L, 0), (L, > 0)
    w0 = (1 - lod).clamp(min=0)
    out = sample_bilinear(levels[0].permute(0, 2, 3, 1), b, u, v, boundary_mode) * w0[:, None]
    rest = (lod.detach() > 0).nonzero().squeeze(1)
    if rest.numel() == 0:
        return out.view(B, H, W, C)
    lod_r = lod.index_select(0, rest)
    l0 = torch.floor(lod_r.detach())
    frac = lod_r - l0
    key_r = 2 * l0.long() + (frac.detach() > 0).long() - 1
    order = torch.argsort(key_r.to(torch.int16))
    rest = rest.index_select(0, order)
    ends = torch.cumsum(torch.bincount(key_r, minlength=2 * n_levels), 0).tolist()
    starts = [0] + ends[:-1]
    f_sorted = frac.index_select(0, order)
    runs = {}
    for level in range(1, n_levels):
        lo, split, hi = starts[2 * level - 2], starts[2 * level - 1], ends[2 * level]
        if hi <= lo:
            continue
        f_sel = f_sorted[lo:hi]                               # from below (weight frac) until split
        wgt = torch.cat([f_sel[:split - lo], 1 - f_sel[split - lo:]]) if split > lo else 1 - f_sel
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
