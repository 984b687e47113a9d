"""Camera helpers: OpenCV intrinsics/extrinsics -> OpenGL-style clip space with row 0 at the top.

Conventions (docs/architecture.md): camera space is OpenCV (x right, y down, z forward),
`K` is in pixels with 0-based pixel centres. Clip space is OpenGL's (x right, y up,
z_ndc = -1 at the near plane, +1 at the far plane, w = camera z). The renderer maps
ndc y = +1 to image row 0, so the top of the photo is row 0 in every rendered image.
"""
from __future__ import annotations

import numpy as np
import torch


def _as_tensor(x, like=None, dtype=None):
    if isinstance(x, torch.Tensor):
        return x if dtype is None else x.to(dtype)
    dev = like.device if isinstance(like, torch.Tensor) else None
    dt = dtype or (like.dtype if isinstance(like, torch.Tensor) else torch.float32)
    return torch.as_tensor(np.asarray(x), dtype=dt, device=dev)


def perspective(fx, fy, cx, cy, width, height, near=1.0, far=1000.0, device=None, dtype=torch.float32):
    """(4, 4) camera -> clip matrix for OpenCV intrinsics (pixels, 0-based centres).

    Pixel column u = fx x/z + cx lands on ndc x = (2u + 1)/W - 1 and row v = fy y/z + cy on
    ndc y = 1 - (2v + 1)/H, i.e. exactly the pixel whose centre is (u, v) in the render."""
    W, H, n, f = float(width), float(height), float(near), float(far)
    P = torch.zeros(4, 4, dtype=dtype, device=device)
    P[0, 0] = 2.0 * fx / W
    P[0, 2] = (2.0 * cx + 1.0 - W) / W
    P[1, 1] = -2.0 * fy / H              # camera y is down, clip y is up
    P[1, 2] = (H - 2.0 * cy - 1.0) / H
    P[2, 2] = (f + n) / (f - n)
    P[2, 3] = -2.0 * f * n / (f - n)
    P[3, 2] = 1.0                        # w = camera z (depth in front of the camera)
    return P


def perspective_from_K(K, width, height, near=1.0, far=1000.0):
    """`perspective` from a 3x3 K (numpy or tensor, optionally batched (..., 3, 3)), differentiable in K."""
    K = _as_tensor(K)
    W, H, n, f = float(width), float(height), float(near), float(far)
    P = torch.zeros(K.shape[:-2] + (4, 4), dtype=K.dtype, device=K.device)
    P[..., 0, 0] = 2.0 * K[..., 0, 0] / W
    P[..., 0, 1] = 2.0 * K[..., 0, 1] / W   # skew, normally 0
    P[..., 0, 2] = (2.0 * K[..., 0, 2] + 1.0 - W) / W
    P[..., 1, 1] = -2.0 * K[..., 1, 1] / H
    P[..., 1, 2] = (H - 2.0 * K[..., 1, 2] - 1.0) / H
    P[..., 2, 2] = (f + n) / (f - n)
    P[..., 2, 3] = -2.0 * f * n / (f - n)
    P[..., 3, 2] = 1.0
    return P


def _homogeneous(points):
    return torch.cat([points, torch.ones_like(points[..., :1])], -1)


def project_clip(points_cam, K, width, height, near=1.0, far=1000.0):
    """Camera-space points (..., V, 3) -> clip-space (..., V, 4) for `rasterize`. K may be (3,3) or (B,3,3)."""
    points_cam = _as_tensor(points_cam)
    P = perspective_from_K(_as_tensor(K, like=points_cam), width, height, near, far)
    return _homogeneous(points_cam) @ P.transpose(-1, -2)


def world_to_clip(points_world, world_to_camera, K, width, height, near=1.0, far=1000.0):
    """World/model-space points (..., V, 3) through a 4x4 OpenCV world_to_camera and K to clip space."""
    points_world = _as_tensor(points_world)
    M = _as_tensor(world_to_camera, like=points_world)
    P = perspective_from_K(_as_tensor(K, like=points_world), width, height, near, far)
    return _homogeneous(points_world) @ (P @ M).transpose(-1, -2)   # one product per vertex


def look_at(eye, target, up=(0.0, 1.0, 0.0), dtype=torch.float32):
    """OpenCV world_to_camera (4, 4) for a camera at `eye` looking at `target`.

    `up` is the world direction that should appear at the top of the image (camera -y)."""
    eye, target, up = (torch.as_tensor(np.asarray(a, dtype=np.float64), dtype=dtype) if not isinstance(a, torch.Tensor)
                       else a.to(dtype) for a in (eye, target, up))
    z = target - eye
    z = z / z.norm()
    x = torch.linalg.cross(z, up)      # OpenCV: x = forward x up points right when y is down
    x = x / x.norm()
    y = torch.linalg.cross(z, x)       # down
    R = torch.stack([x, y, z], 0)
    M = torch.eye(4, dtype=dtype, device=eye.device)
    M[:3, :3] = R
    M[:3, 3] = -R @ eye
    return M


def intrinsics(fx, fy, cx, cy, dtype=torch.float32):
    """3x3 K as a tensor."""
    return torch.tensor([[fx, 0.0, cx], [0.0, fy, cy], [0.0, 0.0, 1.0]], dtype=dtype)
