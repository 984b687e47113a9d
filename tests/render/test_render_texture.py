"""Texture lookups: texel-centre values, boundary modes, mip-mapping, both sampler paths agree."""
from __future__ import annotations

import pytest
import torch

from engine.render import texture
from engine.render.texturing import mip_pyramid, sample_bilinear, sample_grid


def rand_tex(h=8, w=10, c=3, seed=0):
    return torch.rand(1, h, w, c, dtype=torch.float64, generator=torch.Generator().manual_seed(seed))


def test_texel_centres_return_texel_values():
    tex = rand_tex()
    j, i = torch.meshgrid(torch.arange(8), torch.arange(10), indexing="ij")
    uv = torch.stack([(i.double() + 0.5) / 10, (j.double() + 0.5) / 8], -1)[None]
    for mode in ("nearest", "linear"):
        torch.testing.assert_close(texture(tex, uv, filter_mode=mode), tex)


def test_bilinear_midpoint_and_wrap_across_the_border():
    tex = rand_tex()
    # halfway between columns 3 and 4 of row 2
    uv = torch.tensor([[[[4.0 / 10, 2.5 / 8]]]], dtype=torch.float64)
    torch.testing.assert_close(texture(tex, uv, filter_mode="linear")[0, 0, 0], (tex[0, 2, 3] + tex[0, 2, 4]) / 2)
    # u = 0 lies halfway between the last and the first column when wrapping
    uv = torch.tensor([[[[0.0, 2.5 / 8]]]], dtype=torch.float64)
    torch.testing.assert_close(texture(tex, uv, filter_mode="linear", boundary_mode="wrap")[0, 0, 0],
                               (tex[0, 2, 9] + tex[0, 2, 0]) / 2)
    torch.testing.assert_close(texture(tex, uv, filter_mode="linear", boundary_mode="clamp")[0, 0, 0], tex[0, 2, 0])
    torch.testing.assert_close(texture(tex, uv, filter_mode="linear", boundary_mode="zero")[0, 0, 0], tex[0, 2, 0] / 2)


@pytest.mark.parametrize("boundary", ["wrap", "clamp", "zero"])
def test_grid_sample_path_equals_gather_path(boundary):
    tex = rand_tex(seed=1)
    uv = torch.rand(1, 500, 2, dtype=torch.float64, generator=torch.Generator().manual_seed(2)) * 3 - 1
    a = sample_grid(tex.permute(0, 3, 1, 2), uv, boundary)[0]
    b = sample_bilinear(tex, torch.zeros(500, dtype=torch.long), uv[0, :, 0], uv[0, :, 1], boundary)
    torch.testing.assert_close(a, b)


def test_mip_levels_and_minification():
    tex = rand_tex(16, 16, 3, seed=3)
    levels = mip_pyramid(tex)
    assert [tuple(l.shape[-2:]) for l in levels] == [(16, 16), (8, 8), (4, 4), (2, 2), (1, 1)]
    torch.testing.assert_close(levels[-1][0, :, 0, 0], tex[0].mean((0, 1)))
    uv = torch.rand(1, 4, 5, 2, dtype=torch.float64, generator=torch.Generator().manual_seed(4))
    # a footprint of 100 texels: the coarsest level, i.e. the mean colour
    big = torch.zeros(1, 4, 5, 4, dtype=torch.float64)
    big[..., 0] = big[..., 3] = 100 / 16
    torch.testing.assert_close(texture(tex, uv, big), tex[0].mean((0, 1)).expand(1, 4, 5, 3))
    # a footprint below one texel: plain bilinear
    small = big * (0.5 / 100)
    torch.testing.assert_close(texture(tex, uv, small), texture(tex, uv, filter_mode="linear"))
    # footprint of exactly 4 texels: level 2
    four = big * (4 / 100)
    ref = sample_grid(levels[2], uv.reshape(1, -1, 2), "wrap").view(1, 4, 5, 3)
    torch.testing.assert_close(texture(tex, uv, four), ref)


def test_batched_textures_match_single_texture():
    tex = rand_tex(16, 16, 3, seed=5)
    g = torch.Generator().manual_seed(6)
    uv = torch.rand(2, 3, 4, 2, dtype=torch.float64, generator=g)
    da = torch.rand(2, 3, 4, 4, dtype=torch.float64, generator=g) * 0.3
    one = texture(tex, uv, da)
    two = texture(tex.expand(2, -1, -1, -1), uv, da)          # per-batch texture path (gathers)
    torch.testing.assert_close(one, two)


@pytest.mark.parametrize("boundary", ["wrap", "clamp", "zero"])
def test_prebuilt_mip_matches_per_call_pyramid_and_carries_gradients(boundary):
    from torch.autograd import gradcheck

    from engine.render import texture_construct_mip
    g = torch.Generator().manual_seed(3)
    tex = torch.rand(1, 16, 8, 3, dtype=torch.float64, generator=g)
    uv = torch.rand(2, 5, 6, 2, dtype=torch.float64, generator=g) * 1.4 - 0.2
    uv_da = torch.rand(2, 5, 6, 4, dtype=torch.float64, generator=g) * 0.5
    uv_da[0, 0] = 0.0                                          # magnified / background pixels
    mip = texture_construct_mip(tex)
    ref = texture(tex, uv, uv_da, boundary_mode=boundary)
    for _ in range(2):                                         # the cached sampler levels are reused
        torch.testing.assert_close(texture(tex, uv, uv_da, boundary_mode=boundary, mip=mip), ref, rtol=0, atol=0)
    torch.testing.assert_close(texture(tex, uv, uv_da, boundary_mode=boundary, max_mip_level=1),
                               texture(tex, uv, uv_da, boundary_mode=boundary, mip=texture_construct_mip(tex, 1)))
    t = tex.clone().requires_grad_(True)
    assert gradcheck(lambda tt: texture(tt, uv, uv_da, boundary_mode=boundary, mip=texture_construct_mip(tt)),
                     (t,), eps=1e-6, atol=1e-6, fast_mode=True)
    with pytest.raises(ValueError):
        texture(tex[:, :8], uv, uv_da, mip=mip)
