"""Renderer: rasterize / interpolate / camera helpers on a cube, near-plane cases, the ICT head."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from test_render_reference import ndc_depth, raycast

from engine.render import interpolate, look_at, perspective, project_clip, rasterize, world_to_clip

H, W = 48, 64
FX, FY, CX, CY = 70.0, 72.0, 31.3, 22.6
NEAR, FAR = 0.5, 50.0


def K_matrix():
    return np.array([[FX, 0, CX], [0, FY, CY], [0, 0, 1.0]])


def cube(center=(0.1, -0.05, 5.0), size=2.0, angle=0.3):
    """A cube (8 vertices, 12 triangles), turned about y and x so no edge sits on a pixel centre."""
    c = np.array([[x, y, z] for x in (-1, 1) for y in (-1, 1) for z in (-1, 1)], float) * size / 2
    ca, sa = math.cos(angle), math.sin(angle)
    Ry = np.array([[ca, 0, sa], [0, 1, 0], [-sa, 0, ca]])
    Rx = np.array([[1, 0, 0], [0, math.cos(0.2), -math.sin(0.2)], [0, math.sin(0.2), math.cos(0.2)]])
    v = c @ (Rx @ Ry).T + np.array(center)
    faces = [(0, 1, 3, 2), (4, 6, 7, 5), (0, 4, 5, 1), (2, 3, 7, 6), (0, 2, 6, 4), (1, 5, 7, 3)]
    tri = np.array([t for a, b, c_, d in faces for t in ((a, b, c_), (a, c_, d))])
    return v, tri


def render(v_cam, tri, device="cpu", dtype=torch.float32, res=(H, W)):
    vt = torch.tensor(v_cam, dtype=dtype, device=device)
    pos = project_clip(vt, torch.tensor(K_matrix(), dtype=dtype, device=device), res[1], res[0], NEAR, FAR)
    t = torch.tensor(tri, dtype=torch.int64, device=device)
    rast, db = rasterize(pos, t, res, backend="portable")
    return vt, pos, t, rast, db


def compare_with_raycast(v, tri, rast, max_bad=0):
    tol = 1e-5 if rast.dtype == torch.float32 else 1e-8   # float32 z/w: measured error 3e-6
    ref_ids, ref_z = raycast(v, tri, K_matrix(), H, W, NEAR, FAR)
    ids = rast[0, ..., 3].round().long().cpu().numpy() - 1
    depth = rast[0, ..., 2].cpu().double().numpy()
    assert ((ids >= 0) == (ref_ids >= 0)).sum() >= ids.size - max_bad
    both = (ids >= 0) & (ref_ids >= 0)
    ref_d = ndc_depth(ref_z[both], NEAR, FAR)
    # the same triangle, or a tie on a shared edge at the same depth
    same = (ids[both] == ref_ids[both]) | (np.abs(depth[both] - ref_d) < tol)
    assert same.sum() >= both.sum() - max_bad
    np.testing.assert_allclose(depth[both][same], ref_d[same], atol=tol)
    return ids, ref_ids


def test_cube_ids_and_depth_match_ray_casting(device):
    v, tri = cube()
    _, _, _, rast, _ = render(v, tri, device)
    assert rast.shape == (1, H, W, 4)
    ids, ref_ids = compare_with_raycast(v, tri, rast)
    assert (ids >= 0).sum() > 300                         # the cube covers a good part of the frame
    assert ids.max() < len(tri)


def test_barycentrics_sum_to_one_and_reproduce_the_surface_point(device):
    v, tri = cube()
    vt, pos, t, rast, db = render(v, tri, device, dtype=torch.float64)
    cov = rast[0, ..., 3] > 0
    u, w = rast[0, ..., 0][cov], rast[0, ..., 1][cov]
    b2 = 1 - u - w
    for b in (u, w, b2):
        assert b.min() >= -1e-6 and b.max() <= 1 + 1e-6
    # interpolated camera-space position = where the pixel's ray meets the surface
    pts, _ = interpolate(vt, rast, t)
    p = pts[0][cov]
    rows, cols = torch.nonzero(cov, as_tuple=True)
    np.testing.assert_allclose((FX * p[:, 0] / p[:, 2] + CX).cpu(), cols.double().cpu(), atol=1e-6)
    np.testing.assert_allclose((FY * p[:, 1] / p[:, 2] + CY).cpu(), rows.double().cpu(), atol=1e-6)
    # depth channel is z/w of that point
    np.testing.assert_allclose(rast[0, ..., 2][cov].cpu(), ndc_depth(p[:, 2].cpu().numpy(), NEAR, FAR), atol=1e-9)
    # background is exactly zero
    assert (rast[0][~cov] == 0).all()


def test_screen_derivatives_match_neighbouring_pixels(device):
    v, tri = cube()
    _, _, _, rast, db = render(v, tri, device, dtype=torch.float64)
    r = rast[0].cpu()
    d = db[0].cpu()
    ids = r[..., 3]
    # inside one triangle, u is a smooth function: central differences ~ analytic derivative
    same_x = (ids[:, 1:-1] > 0) & (ids[:, :-2] == ids[:, 1:-1]) & (ids[:, 2:] == ids[:, 1:-1])
    fd = (r[:, 2:, 0] - r[:, :-2, 0]) / 2
    np.testing.assert_allclose(fd[same_x], d[:, 1:-1, 0][same_x], atol=2e-4)
    same_y = (ids[1:-1] > 0) & (ids[:-2] == ids[1:-1]) & (ids[2:] == ids[1:-1])
    fd = (r[2:, :, 1] - r[:-2, :, 1]) / 2                  # dv/dY, Y grows downwards
    np.testing.assert_allclose(fd[same_y], d[1:-1, :, 3][same_y], atol=2e-4)
    assert same_x.sum() > 100 and same_y.sum() > 100


def test_no_culling_both_windings_render_the_same(device):
    v, tri = cube()
    _, _, _, rast, _ = render(v, tri, device)
    _, _, _, rast_flip, _ = render(v, tri[:, [0, 2, 1]], device)
    assert torch.equal(rast[..., 3], rast_flip[..., 3])
    torch.testing.assert_close(rast[..., 2], rast_flip[..., 2])
    # swapped corners 1 <-> 2: u is unchanged, v becomes 1 - u - v
    cov = rast[..., 3] > 0
    torch.testing.assert_close(rast_flip[..., 0][cov], rast[..., 0][cov], atol=1e-5, rtol=0)
    torch.testing.assert_close(rast_flip[..., 1][cov], (1 - rast[..., 0] - rast[..., 1])[cov], atol=1e-5, rtol=0)


def test_inside_the_cube_shows_the_back_faces(device):
    """A camera inside a closed mesh sees only back faces; nvdiffrast draws them, so do we."""
    v, tri = cube(center=(0.0, 0.0, 0.0), size=6.0)
    _, _, _, rast, _ = render(v, tri, device)
    assert (rast[..., 3] > 0).all()
    compare_with_raycast(v, tri, rast)


def test_near_plane_clipping_is_exact(device):
    """Triangles with vertices behind the near plane and behind the camera are clipped, not garbage."""
    v = np.array([[-3.0, -1.5, 4.0], [3.5, -1.0, 4.5], [0.2, 1.0, -2.0],     # crosses the camera plane
                  [-1.0, 0.5, 0.3], [1.5, 0.8, 0.2], [0.0, 2.0, 6.0]])       # two vertices before near
    tri = np.array([[0, 1, 2], [3, 4, 5]])
    vt, pos, t, rast, _ = render(v, tri, device, dtype=torch.float64)
    depth = rast[0, ..., 2]
    cov = rast[0, ..., 3] > 0
    assert cov.sum() > 100
    assert depth[cov].min() >= -1 - 1e-9 and depth[cov].max() <= 1
    for ch in (0, 1):
        assert rast[0, ..., ch][cov].min() >= -1e-6 and rast[0, ..., ch][cov].max() <= 1 + 1e-6
    pts, _ = interpolate(vt, rast, t)
    assert pts[0, ..., 2][cov].min() >= NEAR - 1e-9      # nothing in front of the near plane
    compare_with_raycast(v, tri, rast, max_bad=2)         # a clipped edge may graze a pixel centre


def test_entirely_behind_the_camera_renders_nothing():
    v, tri = cube(center=(0.0, 0.0, -5.0))
    _, _, _, rast, _ = render(v, tri)
    assert (rast == 0).all()


def test_camera_projection_lands_on_the_covering_triangle():
    """A camera-space point projected with K falls on the pixel whose triangle contains it."""
    v, tri = cube()
    _, _, _, rast, _ = render(v, tri)
    ref_ids, _ = raycast(v, tri, K_matrix(), H, W, NEAR, FAR)
    visible = sorted(set(ref_ids[ref_ids >= 0].tolist()))
    checked = 0
    for f in visible:
        centroid = v[tri[f]].mean(0)
        col, row = (K_matrix() @ centroid / centroid[2])[:2]
        c, r = int(round(col)), int(round(row))
        if ref_ids[r, c] != f:           # the centroid's pixel centre lies on another triangle
            continue
        assert int(rast[0, r, c, 3]) - 1 == f
        checked += 1
    assert checked >= 3


def test_perspective_maps_pixel_centres():
    P = perspective(FX, FY, CX, CY, W, H, NEAR, FAR, dtype=torch.float64)
    for col, row, z in ((0, 0, 2.0), (W - 1, H - 1, 7.0), (CX, CY, 3.0)):
        x, y = (col - CX) * z / FX, (row - CY) * z / FY
        c = P @ torch.tensor([x, y, z, 1.0], dtype=torch.float64)
        ndc = c[:3] / c[3]
        assert abs(ndc[0] - ((2 * col + 1) / W - 1)) < 1e-12
        assert abs(ndc[1] - (1 - (2 * row + 1) / H)) < 1e-12           # row 0 is the top
        assert abs(ndc[2] - ndc_depth(z, NEAR, FAR)) < 1e-12
    assert abs(float((P @ torch.tensor([0, 0, NEAR, 1.0], dtype=torch.float64))[2]) + NEAR) < 1e-12


def test_look_at_frontal_is_rotation_about_x_and_world_to_clip_agrees():
    M = look_at([0.0, 0.0, 50.0], [0.0, 0.0, 0.0], [0.0, 1.0, 0.0], dtype=torch.float64)
    torch.testing.assert_close(M[:3, :3], torch.diag(torch.tensor([1.0, -1.0, -1.0], dtype=torch.float64)))
    torch.testing.assert_close(M[:3, 3], torch.tensor([0.0, 0.0, 50.0], dtype=torch.float64))
    # a general look-at: target on the optical axis, up vector upward in the image
    M = look_at([10.0, 5.0, 30.0], [1.0, -2.0, 0.5], [0.0, 1.0, 0.0], dtype=torch.float64)
    R = M[:3, :3]
    torch.testing.assert_close(R @ R.T, torch.eye(3, dtype=torch.float64))
    assert abs(torch.det(R) - 1) < 1e-9
    tgt = M @ torch.tensor([1.0, -2.0, 0.5, 1.0], dtype=torch.float64)
    assert abs(tgt[0]) < 1e-9 and abs(tgt[1]) < 1e-9 and tgt[2] > 0
    above = M @ torch.tensor([1.0, 0.0, 0.5, 1.0], dtype=torch.float64)
    assert above[1] < 0                                  # world up -> image up (camera y is down)
    pts = torch.tensor([[1.0, -2.0, 0.5], [2.0, 0.0, 1.0]], dtype=torch.float64)
    K = torch.tensor(K_matrix())
    clip = world_to_clip(pts, M, K, W, H, NEAR, FAR)
    cam = (torch.cat([pts, torch.ones(2, 1, dtype=torch.float64)], 1) @ M.T)[:, :3]
    torch.testing.assert_close(clip, project_clip(cam, K, W, H, NEAR, FAR))


def test_backend_selection_on_cpu():
    from engine.core.errors import FaceSpaceError
    from engine.render import available_backends, resolve_backend
    assert resolve_backend("auto", "cpu") == "portable"
    assert available_backends("cpu") == ["portable"]
    with pytest.raises(FaceSpaceError):
        resolve_backend("nvdiffrast", "cpu")
    with pytest.raises(FaceSpaceError):
        resolve_backend("opengl", "cpu")


def test_non_finite_vertices_draw_nothing_and_leave_the_rest_intact():
    v, tri = cube()
    _, _, _, rast, _ = render(v, tri)
    bad = np.concatenate([v, [[np.nan, 0.0, 5.0], [np.inf, 1.0, 4.0]]])
    tri_bad = np.concatenate([tri, [[8, 9, 0], [8, 1, 2]]])
    _, _, _, rast_bad, _ = render(bad, tri_bad)
    assert torch.equal(rast_bad, rast)


def test_memory_chunking_gives_the_same_image(monkeypatch):
    """Huge triangles are processed in row and fragment chunks; the result must not change."""
    import engine.render.zbuffer as zbuffer
    v, tri = cube()
    _, _, _, whole, _ = render(v, tri)
    monkeypatch.setattr(zbuffer, "_CHUNK_ROWS", 5)
    monkeypatch.setattr(zbuffer, "_CHUNK_FRAGMENTS", 37)
    _, _, _, chunked, _ = render(v, tri)
    assert torch.equal(whole, chunked)


@pytest.mark.parametrize("center", [(-2.6, 0.3, 5.0), (2.4, -1.9, 4.0)])
def test_cube_cut_by_the_image_border_matches_ray_casting(center):
    v, tri = cube(center=center)
    _, _, _, rast, _ = render(v, tri)
    ids, ref = compare_with_raycast(v, tri, rast)
    assert 0 < (ids >= 0).sum() < ids.size


def test_interpolate_covered_pixel_cache_follows_in_place_edits():
    """interpolate reuses the rasteriser's covered-pixel list; editing rast in place (or a
    rast that never had one) must give the same result as reading the triangle ids afresh."""
    v, tri = cube()
    vt, pos, t, rast, db = render(v, tri)
    attr = torch.arange(8 * 2, dtype=torch.float32).view(8, 2)
    fresh = rast.clone()                                      # a clone carries no cached list
    torch.testing.assert_close(interpolate(attr, rast, t, db, "all")[1], interpolate(attr, fresh, t, db, "all")[1])
    torch.testing.assert_close(interpolate(attr, rast, t)[0], interpolate(attr, fresh, t)[0])
    rast[:, :, : W // 2, 3] = 0.0                             # drop the left half in place
    fresh[:, :, : W // 2, 3] = 0.0
    out = interpolate(attr, rast, t)[0]
    assert (out[:, :, : W // 2] == 0).all() and (out[:, :, W // 2:] != 0).any()
    torch.testing.assert_close(out, interpolate(attr, fresh, t)[0])
    with torch.inference_mode():                              # inference tensors: no version counter, no cache
        _, _, t2, r2, _ = render(v, tri)
        r2[:, :, : W // 2, 3] = 0.0
        assert (interpolate(attr, r2, t2)[0][:, :, : W // 2] == 0).all()
