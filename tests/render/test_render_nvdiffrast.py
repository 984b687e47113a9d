"""Backend agreement: portable vs nvdiffrast on the same inputs (CUDA + nvdiffrast only)."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from engine.render import (antialias, available_backends, interpolate, look_at, nvdiffrast_backend, rasterize, texture,
                           world_to_clip)
from engine.core.torch_geometry import vertex_normals
from engine.render.mesh import triangle_uv_indices

pytestmark = pytest.mark.skipif(
    not nvdiffrast_backend.available(),
    reason=f"backend agreement needs CUDA and nvdiffrast: {nvdiffrast_backend.unavailable_reason()}")

S = 512


@pytest.fixture(scope="module")
def head(ict_model):
    dev = torch.device("cuda")
    v = torch.tensor(ict_model.mean, dtype=torch.float32, device=dev)
    tri = torch.tensor(ict_model.triangles, dtype=torch.int32, device=dev)
    K = torch.tensor([[1.6 * S, 0, S / 2 - 0.5], [0, 1.6 * S, S / 2 - 0.5], [0, 0, 1]], device=dev)
    Ms = torch.stack([look_at(e, (0.0, -2.0, 0.0), (0.0, 1.0, 0.0)) for e in
                      ((0.0, 0.0, 60.0), (30.0, 10.0, 50.0))]).to(dev)
    pos = world_to_clip(v, Ms, K, S, S, 1.0, 200.0)
    uv_tri = torch.tensor(triangle_uv_indices(ict_model), dtype=torch.int32, device=dev)
    uvs = torch.tensor(ict_model.uvs, dtype=torch.float32, device=dev)
    return v, pos, tri, uv_tri, uvs


def both(fn):
    return fn("portable"), fn("nvdiffrast")


def test_auto_picks_nvdiffrast_on_cuda():
    assert "nvdiffrast" in available_backends("cuda")


def test_ids_barycentrics_depth_agree(head):
    _, pos, tri, _, _ = head
    (rp, dbp), (rn, dbn) = both(lambda b: rasterize(pos, tri, (S, S), backend=b))
    idp, idn = rp[..., 3].round().long(), rn[..., 3].round().long()
    assert ((idp > 0) == (idn > 0)).float().mean() > 0.999           # silhouettes (edge pixels may differ)
    same = (idp == idn) & (idp > 0)
    assert same.sum() > 0.99 * (idn > 0).sum()
    torch.testing.assert_close(rp[..., :3][same], rn[..., :3][same], atol=2e-3, rtol=0)
    torch.testing.assert_close(dbp[same], dbn[same], atol=1e-3, rtol=1e-2)


def test_images_agree(head, ict_model):
    v, pos, tri, uv_tri, uvs = head
    g = torch.Generator().manual_seed(0)
    tex = torch.rand(1, 256, 256, 3, generator=g).cuda()
    nrm = vertex_normals(v, tri)

    def shade(b):
        rast, db = rasterize(pos, tri, (S, S), backend=b)
        n, _ = interpolate(nrm, rast, tri, backend=b)
        uv, uv_da = interpolate(uvs, rast, uv_tri, rast_db=db, diff_attrs=[0, 1], backend=b)
        col = texture(tex, uv, uv_da, filter_mode="linear-mipmap-linear", backend=b)
        img = col * n[..., 2:].abs()
        return img, antialias(img, rast, pos, tri, backend=b)

    (ip, ap), (i_n, an) = both(shade)
    assert (ip - i_n).abs().mean() < 5e-3
    assert (ap - an).abs().mean() < 5e-3
