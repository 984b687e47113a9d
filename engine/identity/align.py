"""Face-chip alignment as dlib does it for its face-recognition network, differentiable.

dlib (dlib/image_transforms/interpolation.h):
- get_face_chip_details(shape5, size=150, padding=0.25) fits a least-squares similarity
  transform from five template points (scaled into the padded chip) to the five detected
  points, then keeps only its rotation and a `size*scale` square centred on where the
  chip's centre lands;
- extract_image_chip maps that square's corners onto the chip's corner *pixels*
  (0 and size-1), so one chip pixel spans (W-1)/(size-1) image pixels, W = size*scale;
- for a face much larger than the chip it samples from an image pyramid (2x down steps
  while the square, halved, still has more pixels than the chip), bilinearly.
Here the same geometry is an affine grid (torch grid_sample, align_corners=True: pixel
centres at integer coordinates, as in dlib), and the pyramid is a [1 4 6 4 1]/16 blur with
stride 2, so gradients flow from the chip to the image and to the five points.

mediapipe_to_dlib5 gives dlib's five points from mediapipe's 478 face-mesh points, so the
runtime needs no dlib (the index table is engine/identity/data/dlib5_from_mediapipe.json).
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

CHIP_SIZE = 150
CHIP_PADDING = 0.25
# dlib's 5-point template, unit square: subject's left eye outer, inner corner, subject's
# right eye outer, inner corner, base of the nose (image x grows to the subject's left)
DLIB5_TEMPLATE = np.array([
    [0.8595674595992, 0.2134981538014],
    [0.6460604764104, 0.2289674387677],
    [0.1205750620789, 0.2137274526848],
    [0.3340850613712, 0.2290642403242],
    [0.4901123135679, 0.6277975316475]])
TABLE_PATH = Path(__file__).resolve().parent / "data" / "dlib5_from_mediapipe.json"
_TABLE = None


def _as_tensor(x, like=None, dtype=None):
    if isinstance(x, torch.Tensor):
        return x if dtype is None else x.to(dtype)
    dtype = dtype or (like.dtype if isinstance(like, torch.Tensor) else torch.float64)
    device = like.device if isinstance(like, torch.Tensor) else None
    return torch.as_tensor(np.asarray(x), dtype=dtype, device=device)


def chip_affine(points5, size: int = CHIP_SIZE, padding: float = CHIP_PADDING):
    """(B,5,2) or (5,2) image points -> (B,2,3) affine A with [x, y] = A @ [u, v, 1]: chip
    pixel (u, v) to image pixel, exactly dlib's chip_details + get_mapping_to_chip."""
    pts = _as_tensor(points5)
    if pts.dim() == 2:
        pts = pts[None]
    tmpl = (padding + _as_tensor(DLIB5_TEMPLATE, pts)) / (2 * padding + 1) * size  # chip coords
    # least-squares similarity chip -> image (dlib's find_similarity_transform; in 2D the
    # Umeyama solution is this closed form): q = [a -b; b a] p + t
    pc = tmpl - tmpl.mean(0)
    qc = pts - pts.mean(1, keepdim=True)
    denom = (pc ** 2).sum()
    a = (pc[None, :, 0] * qc[..., 0] + pc[None, :, 1] * qc[..., 1]).sum(1) / denom
    b = (pc[None, :, 0] * qc[..., 1] - pc[None, :, 1] * qc[..., 0]).sum(1) / denom
    t = pts.mean(1) - torch.stack([a * tmpl[:, 0].mean() - b * tmpl[:, 1].mean(),
                                   b * tmpl[:, 0].mean() + a * tmpl[:, 1].mean()], -1)
    scale = torch.sqrt(a * a + b * b)
    cos, sin = a / scale, b / scale
    half = size / 2.0
    centre = torch.stack([a * half - b * half, b * half + a * half], -1) + t
    # dlib's square: centered_drect(centre, W, W) with W = size*scale spans W-1 between its
    # corner coordinates (dlib rectangles count pixels inclusively); rotated, its corners
    # land on chip pixels 0 and size-1
    span = size * scale - 1
    k = span / (size - 1)
    rot = torch.stack([torch.stack([cos, -sin], -1), torch.stack([sin, cos], -1)], -2)  # (B,2,2)
    lin = rot * k[:, None, None]
    offset = centre - (rot @ torch.stack([span / 2, span / 2], -1)[..., None])[..., 0]
    return torch.cat([lin, offset[..., None]], -1)


def pyramid_levels(affine, size: int = CHIP_SIZE) -> list:
    """How many 2x down steps dlib's extract_image_chip takes for each chip: while the
    source square, halved, still holds more than size*size pixels."""
    out = []
    for A in affine.detach().cpu().double():
        width = float(torch.linalg.norm(A[:, 0])) * (size - 1) + 1
        n = 0
        while (width / 2 ** (n + 1)) ** 2 > size * size:
            n += 1
        out.append(n)
    return out


_KERNEL = torch.tensor([1.0, 4.0, 6.0, 4.0, 1.0]) / 16.0


def pyramid_down(image):
    """(B,C,H,W) -> (B,C,ceil(H/2),ceil(W/2)): 5-tap binomial blur, every second pixel; output
    pixel i is centred on input pixel 2i (so image coordinates halve)."""
    c = image.shape[1]
    k = _KERNEL.to(image)
    x = F.pad(image, (2, 2, 2, 2), mode="replicate")
    x = F.conv2d(x, k.view(1, 1, 1, 5).expand(c, 1, 1, 5), stride=(1, 2), groups=c)
    return F.conv2d(x, k.view(1, 1, 5, 1).expand(c, 1, 5, 1), stride=(2, 1), groups=c)


def extract_chips(image, affine, size: int = CHIP_SIZE, levels=None):
    """Chips (B,C,size,size) sampled from image (B,C,H,W) (or one image (C,H,W) for every
    affine) by chip->image affines (B,2,3). Outside the image is 0, as in dlib."""
    if image.dim() == 3:
        image = image[None].expand(affine.shape[0], *image.shape)
    affine = affine.to(image.dtype)
    levels = pyramid_levels(affine, size) if levels is None else levels
    uv = torch.stack(torch.meshgrid(torch.arange(size, dtype=image.dtype, device=image.device),
                                    torch.arange(size, dtype=image.dtype, device=image.device),
                                    indexing="xy"), -1)  # (size,size,2) as (u,v)
    uv1 = torch.cat([uv, torch.ones_like(uv[..., :1])], -1)
    chips = []
    for i in range(affine.shape[0]):
        A = affine[i]
        xy = uv1 @ A.T  # (size,size,2) image pixels
        img = image[i:i + 1]
        n = levels[i]
        # crop to the chip's footprint (plus the blur's reach) before building the pyramid
        with torch.no_grad():
            lo = xy.reshape(-1, 2).min(0).values.floor() - 4 * 2 ** n
            hi = xy.reshape(-1, 2).max(0).values.ceil() + 4 * 2 ** n
        h, w = img.shape[-2:]
        x0, y0 = int(max(lo[0], 0)), int(max(lo[1], 0))
        x1, y1 = int(min(hi[0], w - 1)), int(min(hi[1], h - 1))
        if x1 < x0 or y1 < y0:  # wholly outside the image
            chips.append(torch.zeros_like(img[..., :1, :1]).expand(1, img.shape[1], size, size))
            continue
        img = img[..., y0:y1 + 1, x0:x1 + 1]
        # dlib's pyramid_down<2> maps points with p/2 - (1.25, 0.75) while its output pixel
        # sits at 2p + 2: after n levels it samples (-(2^n-1)/2, +(2^n-1)/2) pixels off
        # (dlib/image_transforms/image_pyramid.h); mirrored so the chips agree
        shift = 0.5 * (2 ** n - 1)
        xy = xy - torch.tensor([x0 + shift, y0 - shift], dtype=xy.dtype, device=xy.device)
        for _ in range(n):
            if min(img.shape[-2:]) < 3:
                break
            img = pyramid_down(img)
            xy = xy / 2
        hh, ww = img.shape[-2:]
        grid = torch.stack([2 * xy[..., 0] / max(ww - 1, 1) - 1, 2 * xy[..., 1] / max(hh - 1, 1) - 1], -1)
        chips.append(F.grid_sample(img, grid[None], mode="bilinear", padding_mode="zeros", align_corners=True))
    return torch.cat(chips, 0)


def align_chips(image, points5, size: int = CHIP_SIZE, padding: float = CHIP_PADDING):
    """image (B,C,H,W) or (C,H,W) float, points5 (B,5,2) image pixels -> chips (B,C,size,size)."""
    pts = _as_tensor(points5, image)
    return extract_chips(image, chip_affine(pts, size, padding), size)


def image_tensor(image: np.ndarray, device="cpu", dtype=torch.float32):
    """(H,W,3) uint8 RGB -> (3,H,W) float in dlib's 0..255 scale."""
    return torch.tensor(np.asarray(image), device=device).permute(2, 0, 1).to(dtype)


def dlib5_table() -> dict:
    global _TABLE
    if _TABLE is None:
        _TABLE = json.loads(TABLE_PATH.read_text())
    return _TABLE


def mediapipe_to_dlib5(points478):
    """dlib's five points (subject's left eye outer, inner, right eye outer, inner, nose base)
    from mediapipe's 478 face-mesh points ((...,478,2) numpy or torch): each the mean of the
    mediapipe points the table lists for it."""
    groups = dlib5_table()["points"]
    if isinstance(points478, torch.Tensor):
        return torch.stack([points478[..., g["mediapipe"], :].mean(-2) for g in groups], -2)
    p = np.asarray(points478, np.float64)
    return np.stack([p[..., g["mediapipe"], :].mean(-2) for g in groups], -2)
