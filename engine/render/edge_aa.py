"""nvdiffrast's `antialias` in PyTorch: analytic silhouette antialiasing (Laine et al. 2020).

For every pair of horizontally or vertically adjacent pixels showing different triangles, the
nearer triangle's edge that the segment between the two pixel centres crosses is found. If
that edge is a silhouette (no neighbour across it, or the neighbour folds back so both lie on
the same side of the edge on screen), the pixel on the uncovered side of the midpoint is
blended towards the other by the distance of the crossing from the midpoint. The crossing
point is a differentiable function of the edge's projected vertices, so gradients reach
vertex positions at silhouettes; colour gradients flow through the blend weights."""
from __future__ import annotations

import torch

_EPS = 1.0 / 16.0            # crossings up to 1/16 pixel outside the segment still count
_topology_cache: dict = {}


def edge_wings(tri: torch.Tensor, n_vertices: int) -> torch.Tensor:
    """(F, 3) vertex opposite each triangle edge (edge i joins corners i+1, i+2) in the other
    triangle sharing that edge, or -1 for boundary and non-manifold edges (always silhouettes)."""
    key = (tri.data_ptr(), tuple(tri.shape), str(tri.device), tri._version, n_vertices)
    hit = _topology_cache.get("key") == key
    if hit:
        return _topology_cache["wings"]
    t = tri.long()
    F = t.shape[0]
    a = torch.stack([t[:, 1], t[:, 2], t[:, 0]], 1).reshape(-1)
    b = torch.stack([t[:, 2], t[:, 0], t[:, 1]], 1).reshape(-1)
    opp = t.reshape(-1)
    ek = torch.minimum(a, b) * n_vertices + torch.maximum(a, b)
    sk, order = torch.sort(ek, stable=True)
    _, counts = torch.unique_consecutive(sk, return_counts=True)
    size = counts.repeat_interleave(counts)
    start = torch.cumsum(counts, 0) - counts
    first = torch.zeros_like(sk, dtype=torch.bool)
    first[start] = True
    pair0 = (first & (size == 2)).nonzero().squeeze(1)
    wing_sorted = torch.full_like(sk, -1)
    wing_sorted[pair0] = opp[order[pair0 + 1]]
    wing_sorted[pair0 + 1] = opp[order[pair0]]
    wings = torch.empty_like(wing_sorted)
    wings[order] = wing_sorted
    wings = wings.view(F, 3)
    _topology_cache.clear()
    _topology_cache.update(key=key, wings=wings)
    return wings


def _area(x0, y0, x1, y1, x2, y2):
    return (x1 - x0) * (y2 - y0) - (x2 - x0) * (y1 - y0)


def antialias(color, rast, pos_clip, tri):
    """color (B, H, W, C), rast (B, H, W, 4), pos_clip (B, V, 4) or (1, V, 4), tri (F, 3)."""
    B, H, W, C = color.shape
    if pos_clip.dim() == 2:
        pos_clip = pos_clip[None]
    Bp, V, _ = pos_clip.shape
    dev = color.device
    ids = rast[..., 3].round().long() - 1
    zw = rast[..., 2]
    flat_ids, flat_z = ids.reshape(-1), zw.reshape(-1)
    # candidate pairs: right neighbours (d = 0) and lower neighbours (d = 1)
    nh = (ids[:, :, :-1] != ids[:, :, 1:]).reshape(-1).nonzero().squeeze(1)
    p0h = nh + torch.div(nh, W - 1, rounding_mode="floor")          # (b, r, c) in a W-1 grid -> flat
    p0v = (ids[:, :-1, :] != ids[:, 1:, :]).reshape(-1).nonzero().squeeze(1)
    p0v = p0v + torch.div(p0v, (H - 1) * W, rounding_mode="floor") * W
    p0 = torch.cat([p0h, p0v])
    d = torch.cat([torch.zeros_like(p0h), torch.ones_like(p0v)]).bool()
    p1 = p0 + torch.where(d, W, 1)
    if p0.numel() == 0:
        return color
    sel = lambda x, i: x.index_select(0, i)
    # per triangle (of every position batch): which edges are silhouettes in this view, by the
    # wing test (replace corner i by the neighbour's opposite vertex: same side => folded edge)
    tl = tri.long()
    F = tl.shape[0]
    pos_flat = pos_clip.reshape(-1, 4).to(color.dtype)
    w_all = pos_flat[:, 3]
    w_pos = torch.where(w_all > 0, w_all, torch.ones_like(w_all))
    PX = (pos_flat[:, 0] / w_pos + 1.0) * (W * 0.5) - 0.5       # pixel coordinates, autograd-tracked
    PY = (1.0 - pos_flat[:, 1] / w_pos) * (H * 0.5) - 0.5
    vall = (tl[None] + (torch.arange(Bp, device=dev) * V)[:, None, None]).reshape(-1, 3)     # (Bp*F, 3)
    wall = edge_wings(tri, V)[None].expand(Bp, -1, -1).reshape(-1, 3)
    oall = torch.where(wall >= 0, wall + torch.div(vall, V, rounding_mode="floor") * V, vall)
    Xd, Yd = PX.detach(), PY.detach()
    x, y = Xd[vall], Yd[vall]
    ox, oy = Xd[oall], Yd[oall]
    bb = _area(x[:, 0], y[:, 0], x[:, 1], y[:, 1], x[:, 2], y[:, 2])
    a = torch.stack([_area(ox[:, 0], oy[:, 0], x[:, 1], y[:, 1], x[:, 2], y[:, 2]),
                     _area(x[:, 0], y[:, 0], ox[:, 1], oy[:, 1], x[:, 2], y[:, 2]),
                     _area(x[:, 0], y[:, 0], x[:, 1], y[:, 1], ox[:, 2], oy[:, 2])], 1)
    w_ok = (w_all.detach()[vall] > 0).all(1) & (w_all.detach()[oall] > 0).all(1)
    silhouette = ((a >= 0) == (bb >= 0)[:, None]) & w_ok[:, None]          # (Bp*F, 3)
    t0, t1 = sel(flat_ids, p0), sel(flat_ids, p1)
    use1 = (t0 < 0) | ((t1 >= 0) & ~(sel(flat_z, p0) < sel(flat_z, p1)))
    t = torch.where(use1, t1, t0)
    origin = torch.where(use1, p1, p0)
    b = torch.div(origin, H * W, rounding_mode="floor")
    gt = t + (b if Bp > 1 else torch.zeros_like(b)) * F      # row in the per-triangle tables
    # only pairs whose nearer triangle has a silhouette edge can change
    live = sel(silhouette.any(1), gt).nonzero().squeeze(1)
    if live.numel() == 0:
        return color
    p0, p1, d, use1, origin, b, gt = (sel(z, live) for z in (p0, p1, d, use1, origin, b, gt))
    ds = torch.where(use1, -1.0, 1.0).to(color.dtype)
    rem = origin - b * (H * W)
    Yp = torch.div(rem, W, rounding_mode="floor")
    Xp = rem - Yp * W
    vi = sel(vall, gt).reshape(-1)
    X = sel(PX, vi).view(-1, 3) - Xp[:, None].to(PX.dtype)   # corners relative to the pixel centre
    Y = sel(PY, vi).view(-1, 3) - Yp[:, None].to(PY.dtype)
    silhouette = sel(silhouette, gt)
    # rotate vertical pairs so the neighbour always lies along +x (ds = +1) or -x (ds = -1)
    dcol = d[:, None]
    xs, ys = torch.where(dcol, Y, X), torch.where(dcol, X, Y)
    j, k = [1, 2, 0], [2, 0, 1]
    xj, yj, xk, yk = xs[:, j], ys[:, j], xs[:, k], ys[:, k]
    dx, dy = xk - xj, yk - yj
    straddles = (yj >= 0) != (yk >= 0)
    dy_safe = torch.where(straddles, dy, torch.ones_like(dy))
    cross = ds[:, None] * (xj * dy - yj * dx) / dy_safe        # signed distance of the crossing
    score = torch.where(straddles, cross.detach(), torch.full_like(cross.detach(), -float("inf")))
    di = score.argmax(1, keepdim=True)
    pick = lambda m: m.gather(1, di).squeeze(1)
    dc = pick(cross)
    ok = (pick(straddles) & pick(silhouette) & (pick(dy).abs() >= pick(dx).abs())
          & (dc.detach() > -_EPS) & (dc.detach() < 1.0 + _EPS))
    keep = ok.nonzero().squeeze(1)
    if keep.numel() == 0:
        return color
    alpha = sel(ds, keep) * (0.5 - sel(dc, keep).clamp(0.0, 1.0))
    cf = color.reshape(-1, C)
    q0, q1 = sel(p0, keep), sel(p1, keep)
    c0, c1 = sel(cf, q0), sel(cf, q1)
    target = torch.where(alpha.detach() > 0, q0, q1)
    out = cf.index_add(0, target, alpha[:, None] * (c1 - c0))
    return out.view(B, H, W, C)
