"""Renderer gradients: autograd vs finite differences (float64 gradcheck) for positions,
colours, textures and silhouettes, and a silhouette fit that converges."""
from __future__ import annotations

import pytest
import torch
from torch.autograd import gradcheck

from engine.render import antialias, interpolate, rasterize, texture

RES = (10, 12)


def two_triangles(device, dtype=torch.float64):
    """Two clip-space triangles with different w (perspective), overlapping partly."""
    pos = torch.tensor([[-0.71, -0.63, 0.20, 1.0], [0.83, -0.52, 0.35, 1.3], [-0.12, 0.77, 0.10, 0.9],
                        [-0.40, 0.10, -0.30, 1.1], [0.60, 0.45, -0.20, 1.05], [0.05, -0.80, -0.25, 0.95]],
                       dtype=dtype, device=device)
    tri = torch.tensor([[0, 1, 2], [3, 4, 5]], dtype=torch.int32, device=device)
    return pos, tri


def margin_ok(pos, tri, res):
    """Pixel centres are not within 1e-3 px of any edge, so finite differences keep coverage."""
    rast, _ = rasterize(pos, tri, res, backend="portable")
    eps = 1e-4 * pos.abs().max()
    for i in range(pos.numel()):
        p = pos.clone().view(-1)
        p[i] += eps
        r2, _ = rasterize(p.view_as(pos), tri, res, backend="portable")
        if not torch.equal(r2[..., 3], rast[..., 3]):
            return False
    return True


def test_gradcheck_positions_and_colours_through_interpolate(device):
    pos, tri = two_triangles(device)
    assert margin_ok(pos, tri, RES)
    col = torch.rand(6, 3, dtype=torch.float64, device=device, generator=None)
    pos.requires_grad_(True)
    col.requires_grad_(True)

    def f(p, c):
        rast, _ = rasterize(p, tri, RES, backend="portable")
        return interpolate(c, rast, tri)[0]

    assert gradcheck(f, (pos, col), eps=1e-6, atol=1e-6, fast_mode=True)
    g = torch.autograd.grad(f(pos, col).sum(), pos)[0]
    assert g.abs().sum() > 0                              # positions really get gradients


def test_gradcheck_depth_and_screen_derivatives(device):
    pos, tri = two_triangles(device)
    attr = torch.randn(6, 2, dtype=torch.float64, device=device)
    pos.requires_grad_(True)

    def f(p):
        rast, db = rasterize(p, tri, RES, backend="portable")
        out, da = interpolate(attr, rast, tri, rast_db=db, diff_attrs="all")
        return rast[..., 2], da

    assert gradcheck(f, (pos,), eps=1e-6, atol=1e-6, fast_mode=True)


@pytest.mark.parametrize("mode", ["linear", "linear-mipmap-linear"])
@pytest.mark.parametrize("boundary", ["wrap", "clamp"])
def test_gradcheck_texture(mode, boundary):
    g = torch.Generator().manual_seed(1)
    tex = torch.rand(1, 8, 16, 2, dtype=torch.float64, generator=g, requires_grad=True)
    uv = (torch.rand(2, 3, 4, 2, dtype=torch.float64, generator=g) * 1.4 - 0.2).requires_grad_(True)
    # footprints from 0.3 to 6 texels so several mip levels blend
    uv_da = (torch.rand(2, 3, 4, 4, dtype=torch.float64, generator=g) * 0.35 + 0.02).requires_grad_(True)

    def f(t, u, da):
        return texture(t, u, da if mode != "linear" else None, filter_mode=mode, boundary_mode=boundary)

    assert gradcheck(f, (tex, uv, uv_da), eps=1e-6, atol=1e-6, fast_mode=True)


def test_gradcheck_antialias_positions_and_colours():
    pos, tri = two_triangles("cpu")
    res = (12, 14)
    assert margin_ok(pos, tri, res)
    col = torch.rand(6, 3, dtype=torch.float64)
    pos.requires_grad_(True)
    col.requires_grad_(True)

    def f(p, c):
        r, _ = rasterize(p, tri, res, backend="portable")
        img, _ = interpolate(c, r, tri)
        return antialias(img, r, p, tri)

    assert gradcheck(f, (pos, col), eps=1e-6, atol=1e-6, fast_mode=True)
    # the silhouette term is really there: antialiasing changes pixels and adds position gradients
    rast, _ = rasterize(pos, tri, res, backend="portable")
    img, _ = interpolate(col, rast, tri)
    out = antialias(img, rast, pos, tri)
    assert (out - img).abs().sum() > 0.1
    g_aa = torch.autograd.grad(out.sum(), pos, retain_graph=True)[0]
    g_plain = torch.autograd.grad(img.sum(), pos)[0]
    assert (g_aa - g_plain).abs().sum() > 1e-3


def test_antialias_matches_supersampled_coverage():
    """Edge coverage of a white triangle on black: AA values approximate 16x supersampling."""
    pos, tri = two_triangles("cpu")
    pos, tri = pos[:3], tri[:1]
    res = (24, 28)
    white = torch.ones(3, 1, dtype=torch.float64)
    rast, _ = rasterize(pos, tri, res, backend="portable")
    img, _ = interpolate(white, rast, tri)
    aa = antialias(img, rast, pos, tri)[0, ..., 0]
    S = 16
    big, _ = rasterize(pos, tri, (res[0] * S, res[1] * S), backend="portable")
    cov = (big[0, ..., 3] > 0).double().view(res[0], S, res[1], S).mean((1, 3))
    err_aa = (aa - cov).abs().mean()
    err_plain = (img[0, ..., 0] - cov).abs().mean()
    assert err_aa < 0.35 * err_plain                     # measured ratio ~0.15


def test_silhouette_fit_converges():
    """Gradients from antialias alone move a triangle onto a target silhouette."""
    res = (32, 32)
    pos_t = torch.tensor([[-0.5, -0.45, 0.0, 1.0], [0.55, -0.4, 0.0, 1.0], [0.05, 0.6, 0.0, 1.0]], dtype=torch.float64)
    tri = torch.tensor([[0, 1, 2]], dtype=torch.int32)
    white = torch.ones(3, 1, dtype=torch.float64)

    def silhouette(p):
        r, _ = rasterize(p, tri, res, backend="portable")
        img, _ = interpolate(white, r, tri)
        return antialias(img, r, p, tri)

    target = silhouette(pos_t)
    offset = torch.tensor([[0.09, -0.07, 0, 0], [0.05, 0.08, 0, 0], [-0.08, 0.04, 0, 0]], dtype=torch.float64)
    pos = (pos_t + offset).requires_grad_(True)
    opt = torch.optim.Adam([pos], lr=0.01)
    start = (pos.detach() - pos_t)[:, :2].norm()
    for _ in range(60):
        opt.zero_grad()
        loss = ((silhouette(pos) - target) ** 2).sum()
        loss.backward()
        opt.step()
    end = (pos.detach() - pos_t)[:, :2].norm()
    assert end < 0.3 * start


def test_antialias_batches_match_single_images():
    pos, tri = two_triangles("cpu")
    res = (12, 14)
    pos2 = torch.stack([pos, pos * torch.tensor([1.1, 0.9, 1.0, 1.0], dtype=torch.float64)])
    col = torch.rand(2, 6, 3, dtype=torch.float64, generator=torch.Generator().manual_seed(3))
    rast, _ = rasterize(pos2, tri, res, backend="portable")
    img, _ = interpolate(col, rast, tri)
    out = antialias(img, rast, pos2, tri)
    for b in range(2):
        r1, _ = rasterize(pos2[b], tri, res, backend="portable")
        i1, _ = interpolate(col[b], r1, tri)
        torch.testing.assert_close(out[b:b + 1], antialias(i1, r1, pos2[b], tri))
    # one geometry shared by a batch of colourings: pos (V, 4) broadcasts
    r1, _ = rasterize(pos, tri, res, backend="portable")
    imgs = torch.cat([interpolate(col[b], r1, tri)[0] for b in range(2)])
    out = antialias(imgs, r1.expand(2, -1, -1, -1), pos, tri)
    for b in range(2):
        torch.testing.assert_close(out[b:b + 1], antialias(imgs[b:b + 1], r1, pos, tri))


@pytest.mark.parametrize("mode", ["linear-mipmap-linear", "linear", "nearest"])
def test_texture_of_interpolate_outputs_equals_the_plain_path(mode):
    """interpolate's outputs carry their covered pixels, so texture samples those only (plus
    one background value): values and gradients must equal sampling every pixel."""
    pos, tri = two_triangles("cpu")
    g = torch.Generator().manual_seed(7)
    uvs = torch.rand(6, 2, dtype=torch.float64, generator=g) * 2 - 0.5
    tex = torch.rand(1, 8, 8, 3, dtype=torch.float64, generator=g)
    res = (24, 20)

    def run(p, a, t, plain):
        rast, db = rasterize(p, tri, res, backend="portable")
        uv, uv_da = interpolate(a, rast, tri, rast_db=db, diff_attrs="all")
        if plain:                                              # clones carry no covered-pixel record
            uv, uv_da = uv.clone(), uv_da.clone()
        return texture(t, uv, uv_da, filter_mode=mode)

    ins = [x.clone().requires_grad_(True) for x in (pos, uvs, tex)]
    ins_plain = [x.clone().requires_grad_(True) for x in (pos, uvs, tex)]
    out, out_plain = run(*ins, False), run(*ins_plain, True)
    assert torch.equal(out, out_plain)
    w = torch.rand(out.shape, dtype=torch.float64, generator=g)
    for a, b in zip(torch.autograd.grad((out * w).sum(), ins, allow_unused=True),
                    torch.autograd.grad((out_plain * w).sum(), ins_plain, allow_unused=True)):
        if a is None:
            assert b is None or not b.any()
        else:
            torch.testing.assert_close(a, b)
    if mode == "linear-mipmap-linear":
        assert gradcheck(lambda p, a, t: run(p, a, t, False), tuple(ins), eps=1e-6, atol=1e-6, fast_mode=True)
