"""Renderer: 512^2 ICT head, rasterize + interpolate normals and UVs (with derivatives) +
mip-mapped texture lookup (+ antialias), forward and backward, per backend.

Figures and their meaning: docs/benchmarks.md, section Renderer."""
import os
import time

from ..core.device import pick_device
from ..model import load_model
from ..render import (antialias, available_backends, interpolate, look_at, rasterize, texture, texture_construct_mip,
                      world_to_clip)
from ..core.torch_geometry import vertex_normals
from ..render.mesh import triangle_uv_indices
from ._common import machine, peak_rss_mb


def add_arguments(p):
    p.add_argument("--size", type=int, default=512, help="image height and width in pixels")
    p.add_argument("--texture-size", type=int, default=1024)
    p.add_argument("--device", default="auto", help="auto | cpu | cuda | mps")
    p.add_argument("--backend", default="all", help="all | portable | nvdiffrast")
    p.add_argument("--repeat", type=int, default=10)
    p.add_argument("--threads", type=int, default=0, help="torch CPU threads (0: leave torch's default)")


def _sync(device):
    import torch
    if device.type == "cuda":
        torch.cuda.synchronize()


def _time(fn, device, repeat):
    """Wall-clock median/min, plus this process's CPU time (robust when other jobs share the cores)."""
    times, cpu = [], []
    for _ in range(repeat):
        _sync(device)
        t, c = time.perf_counter(), time.process_time()
        fn()
        _sync(device)
        times.append((time.perf_counter() - t) * 1000)
        cpu.append((time.process_time() - c) * 1000)
    times.sort()
    cpu.sort()
    return {"median_ms": round(times[len(times) // 2], 2), "min_ms": round(times[0], 2),
            "cpu_median_ms": round(cpu[len(cpu) // 2], 2)}


def split_vertices(tri, uv_tri):
    """Vertices split at UV seams, nvdiffrast-style: one vertex per distinct (position index, UV
    index) pair, so normals and UVs share one triangle list and one `interpolate` call.
    Returns (pair_v, pair_uv, tri_split) as numpy arrays; depends only on the topology."""
    import numpy as np
    tri, uv_tri = np.asarray(tri, np.int64), np.asarray(uv_tri, np.int64)
    key = tri * (int(uv_tri.max()) + 1) + uv_tri
    uniq, inverse = np.unique(key.reshape(-1), return_inverse=True)
    return uniq // (int(uv_tri.max()) + 1), uniq % (int(uv_tri.max()) + 1), inverse.reshape(tri.shape)


def _one_backend(backend, model, device, args):
    import torch
    S = args.size
    verts = torch.tensor(model.mean, dtype=torch.float32, device=device)
    tri = torch.tensor(model.triangles, dtype=torch.int32, device=device)
    uv_tri_np = triangle_uv_indices(model)
    uv_tri = torch.tensor(uv_tri_np, dtype=torch.int32, device=device)
    uvs = torch.tensor(model.uvs, dtype=torch.float32, device=device)
    pair_v, pair_uv, tri_split = (torch.tensor(a, device=device) for a in split_vertices(model.triangles, uv_tri_np))
    tri_split = tri_split.to(torch.int32)
    uvs_split = uvs.index_select(0, pair_uv)                 # constant per mesh
    K = torch.tensor([[1.6 * S, 0, S / 2 - 0.5], [0, 1.6 * S, S / 2 - 0.5], [0, 0, 1]], device=device)
    M = look_at((10.0, 5.0, 60.0), (0.0, -2.0, 0.0), (0.0, 1.0, 0.0)).to(device)
    g = torch.Generator().manual_seed(0)
    tex = torch.rand(1, args.texture_size, args.texture_size, 3, generator=g).to(device)
    light = torch.tensor([0.3, 0.4, 0.866], device=device)

    def forward(v, t, aa=False, mip=None, fused=True):
        pos = world_to_clip(v, M, K, S, S, 1.0, 200.0)[None]
        rast, db = rasterize(pos, tri, (S, S), backend=backend)
        nrm_v = vertex_normals(v, tri)
        if fused:                                            # normals and UVs in one interpolate
            attr = torch.cat([nrm_v.index_select(0, pair_v), uvs_split], 1)
            a, a_da = interpolate(attr, rast, tri_split, rast_db=db, diff_attrs=[3, 4], backend=backend)
            nrm, uv = a[..., :3], a[..., 3:]
        else:
            nrm, _ = interpolate(nrm_v, rast, tri, backend=backend)
            uv, a_da = interpolate(uvs, rast, uv_tri, rast_db=db, diff_attrs=[0, 1], backend=backend)
        col = texture(t, uv, a_da, filter_mode="linear-mipmap-linear", backend=backend, mip=mip)
        img = col * (nrm @ light).clamp(min=0)[..., None]
        if aa:
            img = antialias(img, rast, pos, tri, backend=backend)
        return img, rast

    with torch.no_grad():
        mip = texture_construct_mip(tex)                      # the texture is constant: build its pyramid once
        img, rast = forward(verts, tex, mip=mip)              # warm-up (and nvdiffrast's build)
        img_ref, _ = forward(verts, tex, fused=False)
        fused_max_abs_diff = float((img - img_ref).abs().max())
        raster_only = _time(lambda: rasterize(world_to_clip(verts, M, K, S, S, 1.0, 200.0)[None], tri, (S, S),
                                              backend=backend), device, args.repeat)
        fwd = _time(lambda: forward(verts, tex, mip=mip), device, args.repeat)
        fwd_mip_per_call = _time(lambda: forward(verts, tex), device, args.repeat)
        fwd_separate = _time(lambda: forward(verts, tex, fused=False), device, args.repeat)
        fwd_aa = _time(lambda: forward(verts, tex, aa=True, mip=mip), device, args.repeat)
    v = verts.clone().requires_grad_(True)
    t = tex.clone().requires_grad_(True)
    fwd_grad = _time(lambda: forward(v, t), device, args.repeat)   # graph built, pyramid per call (t is optimised)

    def fwd_bwd(aa):
        out, _ = forward(v, t, aa)
        out.sum().backward()

    fb = _time(lambda: fwd_bwd(False), device, args.repeat)
    fb_aa = _time(lambda: fwd_bwd(True), device, args.repeat)
    return {
        "rasterize_ms": raster_only,
        "forward_ms": fwd,
        "forward_mip_per_call_ms": fwd_mip_per_call,
        "forward_separate_interpolates_ms": fwd_separate,
        "forward_antialias_ms": fwd_aa,
        "forward_with_grad_ms": fwd_grad,
        "forward_backward_ms": fb,
        "forward_backward_antialias_ms": fb_aa,
        "fused_vs_separate_max_abs_diff": fused_max_abs_diff,
        "covered_pixels": int((rast[..., 3] > 0).sum()),
    }


def run(args) -> dict:
    import torch
    if args.threads:
        torch.set_num_threads(args.threads)
    device = pick_device(args.device)
    model = load_model()
    backends = available_backends(device) if args.backend == "all" else [args.backend]
    result = {"benchmark": "render", "size": args.size, "texture_size": args.texture_size,
              "vertices": int(model.n_vertices), "triangles": int(len(model.triangles)),
              "device": str(device), "repeat": args.repeat,
              "pipeline": "world_to_clip + rasterize + vertex normals + interpolate(normals and UVs of "
                          "seam-split vertices in one call, UV derivatives) + texture(trilinear mip-map "
                          "1024^2) + shading [+ antialias]",
              "timings": "median of --repeat wall-clock runs (cpu_median_ms: this process's CPU time). "
                         "forward_ms: no grad, the constant texture's mip pyramid prebuilt once "
                         "(texture_construct_mip); forward_mip_per_call_ms: pyramid rebuilt every call; "
                         "forward_separate_interpolates_ms: normals and UVs in two interpolate calls; "
                         "forward_with_grad_ms: vertices and texture require grad (graph built, pyramid per "
                         "call); forward_backward_ms: + sum().backward() to vertices and texture",
              "backends": {}}
    for b in backends:
        result["backends"][b] = _one_backend(b, model, device, args)
    result["peak_rss_mb"] = round(peak_rss_mb(), 1)
    result["load_average_1min"] = round(os.getloadavg()[0], 2)
    result["machine"] = machine()
    return result
