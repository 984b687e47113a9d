"""dlib's face-chip alignment in torch: the geometry against dlib.get_face_chip, gradients
by gradcheck, and the mediapipe -> 5-point table against dlib's 5-point predictor."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from engine.identity import align


def _frontal_points(cx, cy, iod):
    """Five points of an upright face, eye centres `iod` apart (dlib's template proportions)."""
    t = align.DLIB5_TEMPLATE
    scale = iod / (t[0:2].mean(0)[0] - t[2:4].mean(0)[0])
    return (t - t.mean(0)) * scale + np.array([cx, cy])


@pytest.mark.parametrize("iod,levels", [(3.0, 0), (7.0, 1)])
def test_gradcheck_chip_alignment(iod, levels):
    """Gradients of the chip w.r.t. the image and the five points (float64, small image;
    with and without the pyramid step)."""
    g = torch.Generator().manual_seed(0)
    size = 8
    h = w = 12 if levels == 0 else 24
    image = torch.rand(1, 1, h, w, generator=g, dtype=torch.float64, requires_grad=True)
    pts = torch.tensor(_frontal_points(w / 2 + 0.3, h / 2 - 0.2, iod)[None], dtype=torch.float64)
    pts = (pts + 0.1 * torch.rand(pts.shape, generator=g, dtype=torch.float64)).requires_grad_(True)
    assert align.pyramid_levels(align.chip_affine(pts, size), size) == [levels]

    def f(img, p):
        return align.align_chips(img, p, size=size)

    # the full Jacobian without the pyramid; with it, gradcheck's fast mode (random
    # projections of the same Jacobian), which keeps this test to a second
    assert torch.autograd.gradcheck(f, (image, pts), eps=1e-6, atol=1e-5, fast_mode=levels > 0)


def test_affine_follows_dlib_chip_details():
    """Points exactly on dlib's template (scaled by s, rotated): the chip's centre pixel
    (74.5, 74.5) lands where the similarity puts the template's (75, 75), and one chip pixel
    spans (150 s - 1) / 149 image pixels (dlib's inclusive rectangle corners)."""
    s, ang, c = 2.5, 0.3, np.array([210.0, 190.0])
    R = np.array([[np.cos(ang), -np.sin(ang)], [np.sin(ang), np.cos(ang)]])
    tmpl = (0.25 + align.DLIB5_TEMPLATE) / 1.5 * 150
    pts = (tmpl - 75) @ (s * R).T + c          # the similarity maps chip (75, 75) to c
    A = align.chip_affine(pts)[0].numpy()
    assert np.allclose(A @ [74.5, 74.5, 1.0], c, atol=1e-9)
    assert np.allclose(A[:, :2], R * (150 * s - 1) / 149, atol=1e-9)


@pytest.mark.slow
@pytest.mark.shared
def test_chip_matches_dlib_get_face_chip(shared_faces, cosine):
    """From dlib's own five points, our chip is dlib.get_face_chip's: within dlib's uint8
    truncation when sampled from the photo itself, within a few grey levels through the
    pyramid (dlib's integer pyramid truncates at every level); the descriptors of the two
    chips agree to cosine >= 0.999 on every face."""
    worst = {0: 0.0, 1: 0.0}
    for face in shared_faces.faces:
        level = min(face.pyramid, 1)
        worst[level] = max(worst[level], face.chip_diff)
    cos = cosine(np.stack([f.ours_dlib5 for f in shared_faces.faces]), np.stack([f.dlib_desc for f in shared_faces.faces]))
    print(f"\nmean |chip - dlib chip|, worst face: no pyramid {worst[0]:.2f}, pyramid {worst[1]:.2f} grey levels; "
          f"descriptor of our chip vs dlib's: min cosine {cos.min():.5f} over {len(cos)} faces")
    assert worst[0] <= 1.0
    assert worst[1] <= 3.0
    assert cos.min() >= 0.999


@pytest.mark.shared
def test_mediapipe_five_points_match_dlib_predictor(shared_faces):
    """The table's points from mediapipe land near dlib's 5-point predictor on the frontal,
    well-resolved photos (identity/): median error under 4 % of the interocular distance."""
    errs = []
    for face in shared_faces.faces:
        if not face.photo.startswith("identity/") or face.mp478 is None:
            continue
        p5 = align.mediapipe_to_dlib5(face.mp478)
        d = face.dlib5
        iod = np.linalg.norm(d[0:2].mean(0) - d[2:4].mean(0))
        errs.append(np.linalg.norm(p5 - d, axis=1) / iod)
    errs = np.array(errs)
    print(f"\n{len(errs)} faces, median error per point (interocular): {np.median(errs, 0).round(3)}")
    assert len(errs) >= 15
    assert np.median(errs, 0).max() <= 0.04
