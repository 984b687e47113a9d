"""Visibility for the portable rasteriser: the nearest triangle at every pixel, without autograd.

Triangles whose 3 vertices lie inside the depth range (w > 0, -w <= z <= w; almost always all)
are set up in screen space: per pixel row the span between the left edge line(s) and the right
one(s), and the depth z/w, which is affine in the pixel. The others (crossing the near/far or
the camera plane) go through 2D homogeneous coordinates (Olano & Greer 1997,
`triangle_planes`): edge functions and the near/far constraints -1 <= z/w <= 1 are affine in
the pixel without dividing by w, so clipping is exact. Each (triangle, pixel row) is cut to one
interval of columns; rows and their fragments are expanded with segment ids (index_add of
segment starts + cumsum), and the nearest fragment per pixel wins through
scatter_reduce(amin) on a packed int64 key (fixed-point depth << 32 | triangle), so ties go to
the lower triangle id. Triangles are scanned in chunks (small temporaries, reused memory) and
in two passes: the more common winding first (mostly the camera-facing triangles), then the
others except those a conservative tile test finds hidden behind what is already drawn, which
changes nothing but the work. No face culling (as nvdiffrast): both windings are drawn.
"""
from __future__ import annotations

import torch

_CHUNK_ROWS = 1 << 17       # (triangle, row) items per chunk: fewer, larger ops (1 << 15 was ~1.5 ms slower at 512²)
_CHUNK_FRAGMENTS = 1 << 23   # covered fragments expanded at once (huge triangles)
_NO_HIT = torch.iinfo(torch.int64).max
_SPAN_EPS = 1e-4             # widen spans by this many pixels so shared edges never crack
_DEPTH_SCALE = float(1 << 28)  # fixed-point depth of the z-buffer key: (z/w + 1.5) * 2^28 < 2^30
_MAX_SLOPE = 1e30            # keeps slope * 0 finite for (nearly) horizontal edges


def _pixel_to_ndc(H, W):
    """ndc = a * pixel + b for x and y; pixel centres are integers, row 0 is ndc y = +1 (top)."""
    return (2.0 / W, 1.0 / W - 1.0), (-2.0 / H, 1.0 - 1.0 / H)


def _corner_index(tri, B, V):
    """(3, B*F) vertex row (into B*V) of every corner of all B*F triangles (batch-major)."""
    t = tri.t()
    if B == 1:
        return t
    return (t[:, None, :] + (torch.arange(B, device=tri.device) * V).to(t.dtype)[None, :, None]).reshape(3, -1)


def triangle_vertices(pos_clip, corners):
    """(3 corners, 4 coords, n) clip-space vertices; corners (3, n) from `_corner_index`."""
    n = corners.shape[1]
    v = pos_clip.reshape(-1, 4).index_select(0, corners.reshape(-1)).view(3, n, 4)
    return v.transpose(1, 2).contiguous()


def triangle_planes(v, H, W):
    """Affine functions of the pixel (X, Y) per triangle; v (3, 4, T) from `triangle_vertices`.

    Returns planes (3, 4, T): coefficients (A, B, R) of the functions c_0, c_1, c_2, n_z, with
    f(X, Y) = A (X - X_r) + B (Y - Y_r) + R; ref (2, T) = (X_r, Y_r), the pixel position of
    vertex 0 ((0, 0) if vertex 0 is behind the camera); det (T,). Barycentrics are
    b_i = c_i / sum(c), depth z/w = n_z / det. Differentiable in v."""
    # unbind (not repeated indexing) keeps the backward pass to one gradient buffer per tensor
    x, y, z, w = v.unbind(1)                                  # (3, T) each
    (xj, yj, wj), (xk, yk, wk) = (torch.stack([c.roll(-s, 0) for c in (x, y, w)]) for s in (1, 2))
    crx = yj * wk - wj * yk                                   # h_j x h_k for each i, (3, T) each
    cry = wj * xk - xj * wk                                   # (element-wise: linalg.cross over a
    crz = xj * yk - yj * xk                                   # 3-long dim is slow)
    x0, y0, w0 = x.unbind(0)[0], y.unbind(0)[0], w.unbind(0)[0]
    det = x0 * crx.unbind(0)[0] + y0 * cry.unbind(0)[0] + w0 * crz.unbind(0)[0]
    (ax, bx), (ay, by) = _pixel_to_ndc(H, W)
    A, B = crx * ax, cry * ay                                 # (3, T)
    front = w0 > 0
    w0s = torch.where(front, w0, torch.ones_like(w0))
    zero = torch.zeros_like(w0)
    Xr = torch.where(front, (x0 / w0s - bx) / ax, zero)
    Yr = torch.where(front, (y0 / w0s - by) / ay, zero)
    at_origin = crx * bx + cry * by + crz                     # values at pixel (0, 0)
    at_v0 = torch.stack([det / w0s, zero, zero])              # values at vertex 0: (det / w0, 0, 0)
    R = torch.where(front, at_v0, at_origin)
    coef = torch.stack([A, B, R])                             # (3, 3, T)
    nz = (coef * z).sum(1, keepdim=True)                      # (3, 1, T)
    return torch.cat([coef, nz], 1), torch.stack([Xr, Yr]), det


# ---------------------------------------------------------------- z-buffer


def _segment_ids(counts, starts, total):
    """torch.repeat_interleave(arange(len(counts)), counts) for counts >= 0 with exclusive
    prefix sums `starts`, as a count of the segment starts at or before each position (empty
    segments share their start with the next one, so the count skips them); ~3x faster on CPU."""
    marks = torch.zeros(total + 1, dtype=counts.dtype, device=counts.device)
    marks.index_add_(0, starts, torch.ones_like(counts))
    return torch.cumsum(marks[:total], 0).sub_(1)


def _fragments_depth_test(n, pix0, key0, slope, zbuf):
    """Rows (n fragments from pixel pix0, key key0 stepping by slope per pixel) -> fragments
    folded into the depth buffer. Each row's first fragment goes in without expansion (most
    rows have 0-2); the rest are expanded in chunks of whole rows (huge triangles stay within
    memory). zbuf has one spare slot at the end for empty rows."""
    dev = n.device
    zbuf.scatter_reduce_(0, pix0, torch.where(n > 0, key0, _NO_HIT), reduce="amin")
    m = (n - 1).clamp_(min=0)
    ends = torch.cumsum(m, 0)
    Nf = int(ends[-1])
    if Nf == 0:
        return
    cuts = [0]
    if Nf > _CHUNK_FRAGMENTS:
        cuts += torch.searchsorted(ends, torch.arange(1, -(-Nf // _CHUNK_FRAGMENTS), device=dev)
                                   * _CHUNK_FRAGMENTS).tolist()
    cuts.append(n.numel())
    for ra, rb in zip(cuts[:-1], cuts[1:]):
        if rb <= ra:
            continue
        fa = int(ends[ra - 1]) if ra else 0
        nf = int(ends[rb - 1]) - fa
        if nf == 0:
            continue
        mc = m[ra:rb]
        first = ends[ra:rb] - mc                              # first extra fragment of each row
        r = _segment_ids(mc, first - fa, nf)                  # row (in the chunk) of each fragment
        local = torch.arange(fa + 1, fa + nf + 1, device=dev).sub_(first.index_select(0, r))   # 1, 2, ...
        key = torch.addcmul(key0[ra:rb].index_select(0, r), slope[ra:rb].index_select(0, r), local)
        zbuf.scatter_reduce_(0, local.add_(pix0[ra:rb].index_select(0, r)), key, reduce="amin")


# edge in each line slot (L, L, U, U) by the edges' sides: code = sum_i 3^i (s_i + 1) with
# s_i = -1 (left bound), 0 (horizontal: bounds no row but its own), +1 (right bound)
_SLOTS = torch.tensor([[min(lo, default=0), max(lo, default=0), min(up, default=0), max(up, default=0)]
                       for lo, up in (([i for i in range(3) if c // 3 ** i % 3 == 0],
                                       [i for i in range(3) if c // 3 ** i % 3 == 2]) for c in range(27))]).t().contiguous()


def _simple_setup(v, H, W):
    """Screen-space setup of triangles inside the depth range. v (4, 3 corners, T): pixel X, Y,
    z/w (and a flag). Returns (nrows, table, slope, area): row count (0 for triangles that draw
    nothing); table (13, T) float = (left, left, right, right, depth key d) at the first row |
    their steps per row | first row, d step per column, X_0, with d = (z/w + 1.5) 2^28 (the
    z-buffer's fixed point); slope (T,) int64 = that step as a key increment; area (T,) = twice
    the signed screen area. A row's span is [max(left lines), min(right lines)]: a triangle is
    the intersection of its edges' half planes (one side has one edge, used twice)."""
    T = v.shape[-1]
    X, Y, Z = v[0], v[1], v[2]
    d = torch.empty(3, 3, T, dtype=v.dtype, device=v.device)  # edge i runs from corner i + 1 to i + 2
    for i in range(3):
        torch.sub(v[:3, (i + 2) % 3], v[:3, (i + 1) % 3], out=d[:, i])
    vj = v[:2].roll(-1, 1)                                    # X, Y of the edges' start corners
    (dx1, dy1, dz1), (dx2, dy2, dz2) = d[:, 1], d[:, 2]
    area = torch.addcmul(dx1 * dy2, dy1, dx2, value=-1)       # twice the signed area (edge 1 x edge 2)
    live = torch.isfinite(area) & (area != 0)
    table = torch.empty(13, T, dtype=v.dtype, device=v.device)
    y0 = torch.amin(Y, 0, out=table[10]).sub_(_SPAN_EPS).ceil_().clamp_(min=0)
    y1 = Y.amax(0).add_(_SPAN_EPS).floor_().clamp_(max=H - 1)
    nrows = torch.where(live, (y1 - y0 + 1).clamp_(min=0), 0).long()
    line = torch.empty(2, 4, T, dtype=v.dtype, device=v.device)   # (start | step, 3 edges + depth, T)
    dy0 = y0 - vj[1]                                          # first row - edge start, (3, T)
    torch.div(d[0], d[1], out=line[1, :3]).clamp_(-_MAX_SLOPE, _MAX_SLOPE)   # dX per row
    torch.addcmul(vj[0], line[1, :3], dy0, out=line[0, :3])
    inv = _DEPTH_SCALE / torch.where(live, -area, -1.0)       # depth plane: normal (edge 1 x edge 2)
    torch.mul(torch.addcmul(dy1 * dz2, dz1, dy2, value=-1), inv, out=table[11])   # dz/dX
    torch.mul(torch.addcmul(dz1 * dx2, dx1, dz2, value=-1), inv, out=line[1, 3])  # dz/dY
    # depth at (X_0, first row): relative to vertex 0 keeps steep slivers exact
    torch.addcmul((Z[0] + 1.5) * _DEPTH_SCALE, line[1, 3], dy0[2], out=line[0, 3])
    table[12] = X[0]
    code = (v.new_tensor([1.0, 3.0, 9.0]) @ torch.sign(d[1] * area)).add_(13).long()
    lut = _SLOTS.to(v.device)
    slots = torch.empty(5, T, dtype=torch.int64, device=v.device)
    for k in range(4):                                        # (1-D lookups: a (5, 27) one is slow)
        torch.index_select(lut[k], 0, code, out=slots[k])
    slots[4] = 3
    torch.gather(line, 1, slots.expand(2, 5, T), out=table[:10].view(2, 5, T))
    return nrows, table, table[11].round().long().bitwise_left_shift_(32), area


def _simple_depth_test(nrows, table, slope, F, H, W, zbuf, offset):
    """Scan triangles offset .. offset + len(nrows) - 1 (a chunk) set up by `_simple_setup`."""
    dev, dt = nrows.device, table.dtype
    starts = torch.cumsum(nrows, 0)
    R = int(starts[-1])
    if R == 0:
        return
    starts -= nrows
    k = _segment_ids(nrows, starts, R)                        # triangle (in the chunk) of each row
    j = torch.arange(R, dtype=dt, device=dev).sub_(starts.to(dt).index_select(0, k))   # row in the triangle
    t = table.index_select(1, k)                              # (13, R)
    x = torch.addcmul(t[:5], t[5:10], j)                      # lines and depth key (at X_0) at the row
    xl = torch.maximum(x[0], x[1]).sub_(_SPAN_EPS).ceil_().clamp_(0, W)
    xr = torch.minimum(x[2], x[3]).add_(_SPAN_EPS).floor_().clamp_(-1, W - 1)
    n = xr.sub_(xl).add_(1).clamp_(min=0).long()
    # integer depth key at the span's first pixel: ((z/w + 1.5) * 2^28) << 32 | triangle
    tid = k + offset
    gi = tid if F is None else tid % F                        # triangle within its mesh
    key0 = torch.addcmul(x[4], t[11], xl - t[12]).long().bitwise_left_shift_(32).bitwise_or_(gi)
    rows = j.add_(t[10])                                      # image row; pixel = row * W + column,
    pix0 = (torch.add(xl, rows, alpha=W) if H * W < 1 << 24 else xl.double() + rows.double() * W).long()   # exact
    if F is not None:                                         # batch: offset into the batch's image
        pix0 += torch.div(tid, F, rounding_mode="floor") * (H * W)
    _fragments_depth_test(n, pix0, key0, slope.index_select(0, k), zbuf)


def _row_ranges(v, H, W):
    """Inclusive pixel-row range of each triangle after clipping to the near plane z >= -w.
    Triangles whose clipped polygon has w <= 0 (only with unusual projections) are dropped."""
    z, w = v[:, 2], v[:, 3]
    d = z + w
    front = d >= 0
    easy = front.all(0) & (w > 0).all(0)
    ws = torch.where(easy, w, torch.ones_like(w))
    Y = (1.0 - v[:, 1] / ws) * (H * 0.5) - 0.5
    ymin, ymax = Y.amin(0), Y.amax(0)
    X = (v[:, 0] / ws + 1.0) * (W * 0.5) - 0.5               # only to drop triangles left/right of the image
    visible = easy & (X.amax(0) >= -_SPAN_EPS) & (X.amin(0) <= W - 1 + _SPAN_EPS)
    hard = (~easy & front.any(0)).nonzero().squeeze(1)
    if hard.numel():                                          # clip the polygon against z = -w
        vh, dh = v[..., hard], d[:, hard]                     # (3, 4, n), (3, n)
        dn = dh.roll(-1, 0)
        den = dh - dn
        t = dh / torch.where(den == 0, torch.ones_like(den), den)
        pts = torch.cat([vh, vh + t[:, None] * (vh.roll(-1, 0) - vh)], 0)    # (6, 4, n)
        ok = torch.cat([dh >= 0, (dh >= 0) != (dn >= 0)], 0)
        wp = pts[:, 3]
        Yh = (1.0 - pts[:, 1] / torch.where(wp > 0, wp, torch.ones_like(wp))) * (H * 0.5) - 0.5
        big = torch.finfo(Yh.dtype).max
        ymin[hard] = torch.where(ok, Yh, torch.full_like(Yh, big)).amin(0)
        ymax[hard] = torch.where(ok, Yh, torch.full_like(Yh, -big)).amax(0)
        visible[hard] = ~(ok & (wp <= 0)).any(0)
    visible &= torch.isfinite(ymin) & torch.isfinite(ymax)
    ymin = torch.where(visible, ymin, torch.zeros_like(ymin))
    ymax = torch.where(visible, ymax, torch.full_like(ymax, -1.0))
    y0 = torch.ceil(ymin - _SPAN_EPS).clamp(0, H).long()
    y1 = torch.floor(ymax + _SPAN_EPS).clamp(-1, H - 1).long()
    return y0, y1


def _clipped_depth_test(pos, corners, gids, F, H, W, zbuf):
    """Triangles gids (into B*F) that leave the depth range: homogeneous edge functions plus
    the near/far constraints 0 <= 1 + z/w and 0 <= 1 - z/w, each cutting a row to an interval."""
    v = triangle_vertices(pos, corners.index_select(1, gids))
    planes, ref, det = triangle_planes(v, H, W)
    y0, y1 = _row_ranges(v, H, W)
    nrows = (y1 - y0 + 1).clamp(min=0)
    nrows = torch.where((det.abs() > 0) & torch.isfinite(det), nrows, torch.zeros_like(nrows))
    R = int(nrows.sum())
    if R == 0:
        return
    e = planes / torch.where(det == 0, torch.ones_like(det), det)   # (3 coefs, 4, n): e_0..e_2, z/w
    zp = e[:, 3]
    one = torch.zeros_like(zp)
    one[2] = 1.0
    e = torch.stack([e[:, 0], e[:, 1], e[:, 2], zp + one, one - zp], 1)   # (3, 5, n)
    # g = A (X - X_r) + B (Y - Y_r) + R >= 0 bounds X by p Y + q from below (A > 0) or above
    # (A < 0); A == 0 (a horizontal edge) is already enforced by the row range
    A, Bc, Rc = e[0], e[1], e[2]
    inv = 1.0 / torch.where(A == 0, torch.ones_like(A), A)
    p = -Bc * inv
    q = torch.addcmul(ref[0], Bc * ref[1] - Rc, inv)
    inf = torch.tensor(float("inf"), dtype=p.dtype, device=p.device)
    lo = torch.cat([torch.where(A > 0, p, 0.0), torch.where(A > 0, q, -inf)])        # (10, n)
    hi = torch.cat([torch.where(A < 0, p, 0.0), torch.where(A < 0, q, inf)])
    starts = torch.cumsum(nrows, 0) - nrows
    k = _segment_ids(nrows, starts, R)
    Y = torch.arange(R, device=pos.device) - starts.index_select(0, k) + y0.index_select(0, k)
    Yf = Y.to(p.dtype)
    lo_k, hi_k = lo.index_select(1, k), hi.index_select(1, k)
    xl = torch.addcmul(lo_k[5:], lo_k[:5], Yf).amax(0).sub_(_SPAN_EPS).ceil_().clamp_(0, W)
    xr = torch.addcmul(hi_k[5:], hi_k[:5], Yf).amin(0).add_(_SPAN_EPS).floor_().clamp_(-1, W - 1)
    n = (xr - xl + 1).clamp_(min=0).long()
    zA, zB, zR = zp.unbind(0)                                 # depth plane in absolute pixels
    zC = zR - zB * ref[1] - zA * ref[0]
    g = gids.index_select(0, k)
    z0 = torch.addcmul(torch.addcmul(zC.index_select(0, k), zB.index_select(0, k), Yf), zA.index_select(0, k), xl)
    key0 = ((z0 + 1.5) * _DEPTH_SCALE).long().bitwise_left_shift_(32).bitwise_or_(g % F)
    slope = (zA * _DEPTH_SCALE).round().long().bitwise_left_shift_(32).index_select(0, k)
    pix0 = torch.div(g, F, rounding_mode="floor") * (H * W) + Y * W + xl.long()
    _fragments_depth_test(n, pix0, key0, slope, zbuf)


def _scan(nrows, table, slope, F, H, W, zbuf):
    """`_simple_depth_test` of all triangles with rows, in chunks of about _CHUNK_ROWS rows."""
    csum = torch.cumsum(nrows, 0)
    n_chunks = max(1, -(-int(csum[-1]) // _CHUNK_ROWS)) if csum.numel() else 1
    cuts = [0] + torch.searchsorted(csum, torch.arange(1, n_chunks, device=csum.device) * _CHUNK_ROWS).tolist()
    for a, b in zip(cuts, cuts[1:] + [nrows.numel()]):
        if b > a:
            _simple_depth_test(nrows[a:b], table[:, a:b], slope[a:b], F, H, W, zbuf, a)


def _hidden(v, table, nrows, zbuf, B, H, W, tile=8):
    """Triangles (T,) certainly behind what zbuf already shows at every pixel they could cover:
    their bounding box lies within 2 x 2 tiles of tile x tile pixels and their nearest vertex,
    less a margin for rounding, is behind the farthest depth drawn in those tiles."""
    Ht, Wt = -(-H // tile), -(-W // tile)
    d = zbuf[:-1].view(B, H, W)
    if H % tile or W % tile:                                  # (the keys' maximum has the depths' maximum)
        d = torch.nn.functional.pad(d, (0, Wt * tile - W, 0, Ht * tile - H), value=1 << 62)   # (no depth)
    t = d.view(B, Ht, tile, Wt, tile).amax(dim=4).amax(dim=2).bitwise_right_shift_(32)   # farthest per tile
    t = torch.nn.functional.pad(t, (0, 1, 0, 1), value=_NO_HIT >> 32)
    t = torch.maximum(torch.maximum(t[:, :-1, :-1], t[:, 1:, :-1]), torch.maximum(t[:, :-1, 1:], t[:, 1:, 1:]))
    c0, c1, c2 = v[0:3:2].unbind(1)                           # (X | Z, T) per corner
    lo = torch.minimum(torch.minimum(c0, c1), c2)             # (reductions over the corners are slow)
    near = lo[1]
    # tiles of the box: columns from the corners, rows from the scanned range (box right of the
    # image: nothing is drawn, so its tile does not matter)
    lo = torch.stack([lo[0].clamp_(min=0), table[10]]).mul_(1.0 / tile).floor_()
    hi = torch.stack([torch.maximum(torch.maximum(c0[0], c1[0]), c2[0]), table[10] + (nrows - 1)])
    small = (hi.mul_(1.0 / tile).floor_() - lo).amax(0) <= 1
    cell = torch.add(lo[0], lo[1], alpha=Wt).long().clamp_(0, Ht * Wt - 1)
    if B > 1:
        T = v.shape[-1]
        cell += torch.div(torch.arange(T, device=v.device), T // B, rounding_mode="floor") * (Ht * Wt)
    margin = torch.add(table[11].abs(), table[9].abs()).mul_(1e-3).add_(1024 - 1.5 * _DEPTH_SCALE)
    near = torch.addcmul(-margin, near, v.new_tensor(_DEPTH_SCALE))
    return small & (near > t.reshape(-1).index_select(0, cell).to(near.dtype))


def visible_pixels(pos, tri, H, W):
    """Nearest triangle per pixel, no gradients. pos (B, V, 4) clip space, tri (F, 3).
    Returns (pix, t): flat indices (into B*H*W) of the covered pixels, ascending, and the
    triangle (0..F-1) each one shows."""
    B, V, _ = pos.shape
    F = tri.shape[0]
    dev = pos.device
    with torch.no_grad():
        pos = pos.detach()
        x, y, z, w = pos.reshape(-1, 4).unbind(1)
        inv = 1.0 / w
        # per vertex: pixel X, Y, z/w and whether it lies inside the depth range (NaN: no)
        vt = torch.stack([x * inv * (W * 0.5) + (W * 0.5 - 0.5), y * inv * (-H * 0.5) + (H * 0.5 - 0.5), z * inv,
                          ((w > 0) & (z <= w) & (z >= -w)).to(pos.dtype)])
        corners = _corner_index(tri, B, V)
        v = vt.new_empty(3, 4, corners.shape[1])
        for c in range(3):                                    # (no transposed copy of tri)
            torch.index_select(vt, 1, corners[c], out=v[c])
        v = v.transpose(0, 1)                                 # (4 coords, 3 corners, T)
        ok = v[3].amin(0) > 0
        nrows, table, slope, area = _simple_setup(v, H, W)
        nrows = torch.where(ok, nrows, 0)
        zbuf = torch.full((B * H * W + 1,), _NO_HIT, dtype=torch.int64, device=dev)   # + spare slot
        # two passes: first the triangles of the more common winding (mostly those facing the
        # camera), then the others, except those a conservative tile test finds hidden
        first = area < 0
        if 2 * int(first.sum()) < first.numel():
            first = ~first
        scan = lambda n: _scan(n, table, slope, None if B == 1 else F, H, W, zbuf)
        scan(torch.where(first, nrows, 0))
        rest = torch.where(first, 0, nrows)
        if bool(rest.any()):
            scan(torch.where(_hidden(v, table, rest, zbuf, B, H, W), 0, rest))
        other = (~ok).nonzero().squeeze(1)
        if other.numel():                                     # rare: crossing the near/far or camera plane
            _clipped_depth_test(pos, corners, other, F, H, W, zbuf)
        pix = (zbuf[:-1] != _NO_HIT).nonzero().squeeze(1)
        t = zbuf.index_select(0, pix).bitwise_and_(0xFFFFFFFF)
    return pix, t
