"""How usable the face in a photo is: its sharpness (variance of the Laplacian on the face crop)."""
from __future__ import annotations

import numpy as np
from PIL import Image

SHARPNESS_SIDE = 128   # the crop is resampled to this side, so the figure does not grow with resolution


def face_sharpness(image: np.ndarray, box) -> float:
    """Variance of the 4-neighbour Laplacian of the grey face crop at SHARPNESS_SIDE px.
    Sharp faces on the shared photos measure ~100-900; blurred copies fall below ~40."""
    h, w = image.shape[:2]
    x0, y0, x1, y1 = (int(round(v)) for v in box)
    x0, y0, x1, y1 = max(x0, 0), max(y0, 0), min(x1, w), min(y1, h)
    if x1 - x0 < 4 or y1 - y0 < 4:
        return 0.0
    crop = Image.fromarray(np.ascontiguousarray(image[y0:y1, x0:x1])).convert("L")
    g = np.asarray(crop.resize((SHARPNESS_SIDE, SHARPNESS_SIDE), Image.BILINEAR), dtype=np.float32)
    lap = g[1:-1, :-2] + g[1:-1, 2:] + g[:-2, 1:-1] + g[2:, 1:-1] - 4 * g[1:-1, 1:-1]
    return float(lap.var())
