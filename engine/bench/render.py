"""Renderer: 512^2 ICT head, rasterize + interpolate normals and UVs (with derivatives) +
mip-mapped texture lookup (+ antialias), forward and backward, per backend."""
import os
import time

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


def _one_backend(backend, model, device, args):
    import numpy as np
    import torch
    from ..render import antialias, interpolate, look_at, rasterize, texture, world_to_clip
    from ..render.mesh import triangle_uv_indices, vertex_normals
    S = args.size
    verts = torch.tensor(model.mean, dtype=torch.float32, device=device)
    tri = torch.tensor(model.triangles, dtype=torch.int32, device=device)
    uv_tri = torch.tensor(triangle_uv_indices(model), dtype=torch.int32, device=device)
    uvs = torch.tensor(model.uvs, dtype=torch.float32, device=device)
    K = torch.tensor([[1.6 * S, 0, S / 2 - 0.5], [0, 1.6 * S, S / 2 - 0.5], [0, 0, 1]], device=device)
    M = look_at((10.0, 5.0, 60.0), (0.0, -2.0, 0.0), (0.0, 1.0, 0.0)).to(device)
    g = torch.Generator().manual_seed(0)
    tex = torch.rand(1, args.texture_size, args.texture_size, 3, generator=g).to(device)
    light = torch.tensor([0.3, 0.4, 0.866], device=device)

    def forward(v, t, aa=False):
        pos = world_to_clip(v, M, K, S, S, 1.0, 200.0)[None]
        rast, db = rasterize(pos, tri, (S, S), backend=backend)
        nrm, _ = interpolate(vertex_normals(v, tri), rast, tri, backend=backend)
        uv, uv_da = interpolate(uvs, rast, uv_tri, rast_db=db, diff_attrs=[0, 1], backend=backend)
        col = texture(t, uv, uv_da, filter_mode="linear-mipmap-linear", backend=backend)
        img = col * (nrm @ light).clamp(min=0)[..., None]
        if aa:
            img = antialias(img, rast, pos, tri, backend=backend)
        return img, rast

    with torch.no_grad():
        img, rast = forward(verts, tex)                          # warm-up (and nvdiffrast's build)
        raster_only = _time(lambda: rasterize(world_to_clip(verts, M, K, S, S, 1.0, 200.0)[None], tri, (S, S),
                                              backend=backend), device, args.repeat)
        fwd = _time(lambda: forward(verts, tex), device, args.repeat)
        fwd_aa = _time(lambda: forward(verts, tex, aa=True), device, args.repeat)
    v = verts.clone().requires_grad_(True)
    t = tex.clone().requires_grad_(True)

    def fwd_bwd(aa):
        out, _ = forward(v, t, aa)
        out.sum().backward()

    fb = _time(lambda: fwd_bwd(False), device, args.repeat)
    fb_aa = _time(lambda: fwd_bwd(True), device, args.repeat)
    return {
        "rasterize_ms": raster_only,
        "forward_ms": fwd,
        "forward_antialias_ms": fwd_aa,
        "forward_backward_ms": fb,
        "forward_backward_antialias_ms": fb_aa,
        "covered_pixels": int((rast[..., 3] > 0).sum()),
    }


def run(args) -> dict:
    import torch
    from ..device import pick_device
    from ..model import load_model
    from ..render import available_backends
    if args.threads:
        torch.set_num_threads(args.threads)
    device = pick_device(args.device)
    model = load_model()
    backends = available_backends(device) if args.backend == "all" else [args.backend]
    result = {"benchmark": "render", "size": args.size, "texture_size": args.texture_size,
              "vertices": int(model.n_vertices), "triangles": int(len(model.triangles)),
              "device": str(device), "repeat": args.repeat,
              "pipeline": "world_to_clip + rasterize + interpolate(normals) + interpolate(UVs, derivatives) "
                          "+ texture(trilinear mip-map) + shading [+ antialias]; backward = sum().backward() "
                          "to vertices and texture",
              "backends": {}}
    for b in backends:
        result["backends"][b] = _one_backend(b, model, device, args)
    result["peak_rss_mb"] = round(peak_rss_mb(), 1)
    result["load_average_1min"] = round(os.getloadavg()[0], 2)
    result["machine"] = machine()
    return result
