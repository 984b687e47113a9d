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
    idx = torch.arange(B * H * W, device=dev).view(B, H, W)
    p0h = idx[:, :, :-1][ids[:, :, :-1] != ids[:, :, 1:]]
    p0v = idx[:, :-1, :][ids[:, :-1, :] != ids[:, 1:, :]]
    p0 = torch.cat([p0h, p0v])
    d = torch.cat([torch.zeros_like(p0h), torch.ones_like(p0v)]).bool()
    p1 = p0 + torch.where(d, W, 1)
    if p0.numel() == 0:
        return color
    t0, t1 = flat_ids[p0], flat_ids[p1]
    use1 = (t0 < 0) | ((t1 >= 0) & ~(flat_z[p0] < flat_z[p1]))
    t = torch.where(use1, t1, t0)
    ds = torch.where(use1, -1.0, 1.0).to(color.dtype)
    origin = torch.where(use1, p1, p0)
    b = torch.div(origin, H * W, rounding_mode="floor")
    rem = origin - b * (H * W)
    Yp = torch.div(rem, W, rounding_mode="floor")
    Xp = rem - Yp * W
    tl = tri.long()
    vb = (b if Bp > 1 else torch.zeros_like(b)) * V
    vi = tl[t] + vb[:, None]                                   # (n, 3)
    wings = edge_wings(tri, V)[t]
    oi = torch.where(wings >= 0, wings + vb[:, None], vi)
    pos_flat = pos_clip.reshape(-1, 4).to(color.dtype)
    pv = pos_flat[vi]                                          # (n, 3, 4) autograd-tracked
    po = pos_flat.detach()[oi]
    w_ok = (pv[..., 3].detach() > 0).all(1) & (po[..., 3] > 0).all(1)

    def to_pixels(p):
        w = torch.where(p[..., 3] > 0, p[..., 3], torch.ones_like(p[..., 3]))
        X = (p[..., 0] / w + 1.0) * (W * 0.5) - 0.5 - Xp[:, None].to(p.dtype)
        Y = (1.0 - p[..., 1] / w) * (H * 0.5) - 0.5 - Yp[:, None].to(p.dtype)
        return X, Y

    X, Y = to_pixels(pv)
    OX, OY = to_pixels(po)
    Xd, Yd = X.detach(), Y.detach()
    bb = _area(Xd[:, 0], Yd[:, 0], Xd[:, 1], Yd[:, 1], Xd[:, 2], Yd[:, 2])
    # wing test: replace corner i by the neighbour's opposite vertex
    a = torch.stack([_area(OX[:, 0], OY[:, 0], Xd[:, 1], Yd[:, 1], Xd[:, 2], Yd[:, 2]),
                     _area(Xd[:, 0], Yd[:, 0], OX[:, 1], OY[:, 1], Xd[:, 2], Yd[:, 2]),
                     _area(Xd[:, 0], Yd[:, 0], Xd[:, 1], Yd[:, 1], OX[:, 2], OY[:, 2])], 1)
    silhouette = (a >= 0) == (bb >= 0)[:, None]
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
    ok = (w_ok & pick(straddles) & pick(silhouette) & (pick(dy).abs() >= pick(dx).abs())
          & (dc.detach() > -_EPS) & (dc.detach() < 1.0 + _EPS))
    sel = ok.nonzero().squeeze(1)
    if sel.numel() == 0:
        return color
    alpha = ds[sel] * (0.5 - dc[sel].clamp(0.0, 1.0))
    cf = color.reshape(-1, C)
    c0, c1 = cf[p0[sel]], cf[p1[sel]]
    target = torch.where(alpha.detach() > 0, p0[sel], p1[sel])
    out = cf.index_add(0, target, alpha[:, None] * (c1 - c0))
    return out.view(B, H, W, C)
