"""Texture-space image operations: push-pull hole filling and normalised box blur."""
from __future__ import annotations

import torch
import torch.nn.functional as F


def push_pull(image: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
    """Fill an image where `weight` (H, W) in [0, 1] is low from where it is high.

    image (C, H, W). Pull: a pyramid of weighted 2x2 averages down to one pixel. Push: back
    up, each level keeps its own colour in proportion to its weight and takes the rest from
    the smoothly upsampled coarser level. Holes get smooth colours from their surroundings,
    large holes converge to the mean colour (the skin tone)."""
    c = image * weight[None]
    w = weight[None]
    levels = []
    while min(w.shape[-2:]) > 1:
        levels.append((c, w))
        c = F.avg_pool2d(c[None], 2, ceil_mode=True)[0] * 4.0
        w = F.avg_pool2d(w[None], 2, ceil_mode=True)[0] * 4.0
    filled = c / w.clamp_min(1e-8)
    for c, w in reversed(levels):
        up = F.interpolate(filled[None], size=c.shape[-2:], mode="bilinear", align_corners=False)[0]
        own = c / w.clamp_min(1e-8)
        a = w.clamp(0.0, 1.0)
        filled = a * own + (1.0 - a) * up
    return filled


def normalised_blur(value: torch.Tensor, support: torch.Tensor, radius: int) -> torch.Tensor:
    """Box blur of `value` (H, W) counting only texels where `support` (H, W) is set, so
    chart borders of the atlas do not read as dark (unseen) neighbours."""
    s = support.to(value.dtype)
    both = torch.stack([value * s, s])[None]                  # (1, 2, H, W)
    k = 2 * radius + 1                                        # separable: rows, then columns
    both = F.avg_pool2d(both, (1, k), stride=1, padding=(0, radius), count_include_pad=False)
    both = F.avg_pool2d(both, (k, 1), stride=1, padding=(radius, 0), count_include_pad=False)
    return both[0, 0] / both[0, 1].clamp_min(1e-6)
