"""nvdiffrast's `interpolate` in PyTorch: vertex attributes at the rasterised pixels.

Only the covered pixels are computed. Internally per-pixel values are kept compact: P + 1 rows,
one per covered pixel plus one last row for the background (all zero), and a dense image is
one row gather through `Cover.index` (background pixels point at the last row; with autograd a
background fill plus `index_copy`, whose backward is cheaper). The portable
rasteriser and `interpolate` tag their outputs with their compact rows (`_fs_compact`, checked
against the tensor's version counter, so an in-place edit falls back to reading the dense
tensor), so `interpolate` and `texture` need not search the image for covered pixels again and,
without autograd, need not gather their inputs."""
from __future__ import annotations

import torch

_TAG = "_fs_compact"


class Cover:
    """Covered pixels of a (B, H, W) raster: pix (P,) flat indices (ascending), tri (P,) the
    triangle (0-based) each shows, index (B*H*W,) row of each pixel in compact form (P for
    the background)."""
    __slots__ = ("pix", "tri", "index")

    def __init__(self, pix, tri, n_pixels):
        dt = torch.int32 if n_pixels < 2 ** 31 else torch.int64   # (kept with the images: small)
        P = pix.numel()
        self.index = torch.full((n_pixels,), P, dtype=dt, device=pix.device).index_copy_(
            0, pix, torch.arange(P, dtype=dt, device=pix.device))
        self.pix, self.tri = pix.to(dt), tri.to(dt)

    def tri_padded(self):
        """tri with a dummy triangle 0 for the background row."""
        return torch.cat([self.tri, self.tri.new_zeros(1)])

    @staticmethod
    def of_rast(rast):
        """From the triangle ids of rast (B, H, W, 4) (an untagged or edited rast)."""
        ids = rast.detach().reshape(-1, 4)[:, 3]
        pix = (ids > 0.5).nonzero().squeeze(1)
        return Cover(pix, ids.index_select(0, pix).round().long() - 1, ids.numel())


def dense(rows, cover, shape):
    """Compact rows (P + 1, C) -> dense image (*shape, C), tagged. Rows stored channels-first
    (as grid_sample returns them) give a channels-first image, untagged (gathering from
    strided rows is ~20x slower than from either layout)."""
    C = rows.shape[1]
    cf = C > 1 and rows.stride(0) == 1
    if torch.is_grad_enabled() and rows.requires_grad:
        # a gather's backward adds into the rows serially from every pixel; fill the background
        # and copy the covered rows instead, whose backward gathers
        P, pix = cover.pix.numel(), cover.pix.long()
        if cf:
            img = rows.t()[:, P:].expand(C, cover.index.numel()).clone().index_copy_(1, pix, rows.t()[:, :P])
            return img.t().view(*shape, C)
        img = rows[P:].expand(cover.index.numel(), C).clone().index_copy_(0, pix, rows[:P])
        return tag(img.view(*shape, C), cover, rows)
    if cf:
        return rows.t().index_select(1, cover.index).t().view(*shape, C)
    rows = rows.contiguous()
    return tag(rows.index_select(0, cover.index).view(*shape, C), cover, rows)


def tag(x, cover, rows):
    """Record that x (B, H, W, C) == dense(rows, cover). Not for inference-mode tensors: they
    have no version counter to detect in-place edits."""
    if not x.is_inference():
        root = x if x._base is None else x._base              # (no reference to x itself: no cycle)
        setattr(root, _TAG, (x._version, cover, rows, tuple(x.shape), x.storage_offset(), x.untyped_storage().data_ptr()))
    return x


def tagged(x):
    """(cover, rows): the compact form of x (B, H, W, c), an untouched tagged tensor or a slice
    of its channels; rows (P + 1, c) or None if only the cover is known; None if untagged."""
    if x.dim() != 4 or x.is_inference():
        return None
    root = x if x._base is None else x._base
    info = getattr(root, _TAG, None)
    if info is None or info[0] != x._version:
        return None
    _, cover, rows, (B, H, W, C), offset, ptr = info
    off = x.storage_offset() - offset
    if (tuple(x.shape[:3]) != (B, H, W) or x.stride() != (H * W * C, W * C, C, 1) or not 0 <= off < C
            or x.untyped_storage().data_ptr() != ptr):
        return None
    return cover, None if rows is None else rows[:, off:off + x.shape[-1]]


def compact_rows(x, cover, cached=None):
    """x (B, H, W, c) as compact rows (P + 1, c). Reuses the cached rows only without autograd
    on x, so gradients always flow through x itself."""
    if cached is not None and not x.requires_grad:
        return cached
    flat = x.reshape(-1, x.shape[-1])
    return torch.cat([flat.index_select(0, cover.pix), flat.new_zeros(1, flat.shape[1])])


def cover_of(rast):
    """(cover, rows of rast or None)."""
    found = tagged(rast)
    if found is not None and found[0].index.device == rast.device:
        return found
    return Cover.of_rast(rast), None


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
    cover, rows = cover_of(rast)
    P = cover.pix.numel()
    bary = compact_rows(rast, cover, rows).to(dt)            # (P + 1, 4), last row 0
    if P == 0:                                                # nothing covered
        vals = bary.new_zeros(P + 1, C)
        a = (vals,) * 3
    else:
        t = cover.tri_padded()
        vidx = torch.stack([tri[:, c].index_select(0, t) for c in range(3)])   # (3 corners, P + 1), last a dummy
        if Ba > 1:
            b = torch.div(cover.pix, H * W, rounding_mode="floor")
            vidx = vidx + torch.cat([b, b.new_zeros(1)]).to(vidx.dtype) * V
        a = attr.reshape(Ba * V, C).index_select(0, vidx.reshape(-1)).view(3, -1, C).to(dt)   # corner-major
        u, v = bary[:, 0:1], bary[:, 1:2]
        a = a.unbind(0)                                       # (with autograd: one gradient buffer)
        vals = torch.addcmul(torch.addcmul(a[2] * (1 - u - v), a[0], u), a[1], v)
        vals[P] = 0                                           # background row (also if attr has inf/NaN)
    derivatives = diff_attrs is not None and rast_db is not None
    if derivatives:
        idx = list(range(C)) if diff_attrs == "all" else [int(i) % C for i in diff_attrs]
        if idx and idx == list(range(idx[0], idx[0] + len(idx))):
            a = [x[:, idx[0]:idx[0] + len(idx)] for x in a]   # a slice, no copy
        else:
            sel = torch.tensor(idx, dtype=torch.long, device=vals.device)
            a = [x.index_select(1, sel) for x in a]
        d0, d1 = a[0] - a[2], a[1] - a[2]                     # d attr / du, d attr / dv
    del a                                                     # before the images: a lower peak heap
    out = dense(vals, cover, (B, H, W))
    if not derivatives:
        return out, None
    found = tagged(rast_db)
    g = compact_rows(rast_db, cover, found[1] if found is not None and found[0] is cover else None).to(dt)
    dudx, dudy, dvdx, dvdy = g[:, 0:1], g[:, 1:2], g[:, 2:3], g[:, 3:4]
    dx = torch.addcmul(dudx * d0, dvdx, d1)
    dy = torch.addcmul(dudy * d0, dvdy, d1)
    da = torch.stack([dx, dy], -1).view(P + 1, 2 * len(idx))
    da[P] = 0
    return out, dense(da, cover, (B, H, W))
