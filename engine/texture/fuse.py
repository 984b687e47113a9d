"""One texture from several photos' bakes.

Per texel each view weighs by its confidence (visibility and viewing angle, from the bake)
times its image resolution on the face (pixels per cm), so a sharp frontal view wins on the
face and a profile on the cheek and ear. Before blending, each view's exposure and white
balance are matched to the reference view's by per-channel gains measured where both see
the skin well. The weights are smooth (the confidences ramp), so the blend has no step
where the best view changes. Where no view sees a texel, the reference view's own fill
(mirror and skin tone) stays."""
from __future__ import annotations

import numpy as np
import torch

from .bake import TextureResult

OVERLAP_CONFIDENCE = 0.5   # both views see the texel at least this well: used to match exposure
GAIN_RANGE = (0.5, 2.0)    # a larger mismatch is a different light, not exposure: clamped


def _linear(u8: np.ndarray) -> torch.Tensor:
    return (torch.from_numpy(u8).float() / 255.0) ** 2


def _srgb(lin: torch.Tensor) -> np.ndarray:
    return (lin.clamp(0, 1).sqrt() * 255.0 + 0.5).to(torch.uint8).numpy()


def exposure_gains(ref_lin, ref_conf, lin, conf) -> torch.Tensor:
    """(3,) per-channel gains taking `lin` to `ref_lin`'s exposure over their shared texels."""
    both = (ref_conf > OVERLAP_CONFIDENCE) & (conf > OVERLAP_CONFIDENCE)
    if int(both.sum()) < 100:
        return torch.ones(3)
    a, b = ref_lin[both], lin[both]                  # (n, 3)
    return (a.median(0).values / b.median(0).values.clamp_min(1e-6)).clamp(*GAIN_RANGE)


def fuse_textures(bakes: list, resolutions, reference: int = 0) -> tuple:
    """bakes: TextureResult per view; resolutions: pixels per cm of each view's face;
    reference: the view whose exposure the others are matched to and whose fill covers what no
    view sees. -> (TextureResult, info dict with the gains and each view's weight share)."""
    ref = bakes[reference]
    confs = [torch.from_numpy(np.asarray(b.confidence, dtype=np.float32)) for b in bakes]
    res = torch.as_tensor(np.asarray(resolutions, dtype=np.float32))
    weights = [c * c * (r / res.max()) for c, r in zip(confs, res)]   # squared: the better view dominates
    total = torch.stack(weights).sum(0)
    # the blend takes over from the reference's fill as the views' coverage rises
    coverage = 1.0 - torch.stack([1.0 - c for c in confs]).prod(0)
    out, gains = {}, {}
    for kind in ("photo", "delit"):
        lins = [_linear(getattr(b, kind)) for b in bakes]
        g = [exposure_gains(lins[reference], confs[reference], l, c) if i != reference else torch.ones(3)
             for i, (l, c) in enumerate(zip(lins, confs))]
        blend = sum(w[..., None] * l * gi for w, l, gi in zip(weights, lins, g)) / total.clamp_min(1e-6)[..., None]
        a = coverage[..., None]
        out[kind] = _srgb(a * blend + (1.0 - a) * lins[reference])
        gains[kind] = [gi.tolist() for gi in g]
    share = [float((w / total.clamp_min(1e-6))[coverage > 0.5].mean()) if bool((coverage > 0.5).any()) else 0.0
             for w in weights]
    fused = TextureResult(photo=out["photo"], delit=out["delit"], confidence=coverage.numpy(),
                          sh_coeffs=ref.sh_coeffs, skin_tone=ref.skin_tone)
    return fused, {"gains": gains, "weight_share": share}


def resized(result: TextureResult, size: int) -> TextureResult:
    """The fused texture at `size` (bilinear; the bakes' detail is at their internal size,
    so fusing there and resizing once loses nothing and saves the fusion 4x the work)."""
    n = result.photo.shape[0]
    if n == size:
        return result

    def rgb(u8):
        t = torch.from_numpy(np.ascontiguousarray(u8)).permute(2, 0, 1)[None].contiguous(memory_format=torch.channels_last)
        return np.ascontiguousarray(torch.nn.functional.interpolate(t, size=(size, size), mode="bilinear",
                                                                    align_corners=False)[0].permute(1, 2, 0).numpy())
    conf = torch.nn.functional.interpolate(torch.from_numpy(np.asarray(result.confidence, np.float32))[None, None],
                                           size=(size, size), mode="bilinear", align_corners=False)[0, 0].numpy()
    return TextureResult(photo=rgb(result.photo), delit=rgb(result.delit), confidence=conf,
                         sh_coeffs=result.sh_coeffs, skin_tone=result.skin_tone, timings=result.timings)


def best_view_texture(bakes: list, resolutions) -> np.ndarray:
    """The naive alternative (for comparison): each texel from the single best view."""
    score = np.stack([np.asarray(b.confidence) ** 2 * r for b, r in zip(bakes, resolutions)])
    best = score.argmax(0)
    photos = np.stack([b.photo for b in bakes])
    return np.take_along_axis(photos, best[None, ..., None].repeat(3, -1), 0)[0]
