"""The PyTorch port against dlib itself: same chip in, same descriptor out."""
from __future__ import annotations

import numpy as np
import pytest
import torch


@pytest.mark.shared
@pytest.mark.slow
def test_descriptor_of_dlib_chip_matches_dlib(shared_faces, cosine):
    """Every face dlib finds in ../shared/photos: dlib's own aligned chip through our network
    gives dlib's descriptor (cosine >= 0.9999, max |difference| <= 1e-3)."""
    faces = shared_faces.faces
    assert len(faces) >= 100, f"only {len(faces)} faces found: the photo set changed?"
    ours = np.stack([f.torch_on_dlib_chip for f in faces])
    ref = np.stack([f.dlib_desc for f in faces])
    cos = cosine(ours, ref)
    worst = int(np.argmin(cos))
    print(f"\n{len(faces)} faces in {shared_faces.photos} photos: min cosine {cos.min():.7f} "
          f"({faces[worst].photo}), max |d| {np.abs(ours - ref).max():.2e}; seconds {shared_faces.seconds}")
    assert cos.min() >= 0.9999
    assert np.abs(ours - ref).max() <= 1e-3
    # dlib's descriptors are not normalised; neither are ours
    assert np.allclose(np.linalg.norm(ours, axis=1), np.linalg.norm(ref, axis=1), atol=1e-3)


def test_network_shape_and_input_size(encoder):
    net = encoder.net
    assert float(net.dist_thresh) == pytest.approx(0.6)
    assert net.input_mean.tolist() == pytest.approx([122.782, 117.001, 104.298], abs=1e-4)
    x = torch.full((2, 3, 150, 150), 128.0)
    with torch.no_grad():
        y = net(x)
    assert y.shape == (2, 128) and torch.isfinite(y).all()
    assert torch.allclose(y[0], y[1])
    with pytest.raises(ValueError):
        net(torch.zeros(1, 3, 160, 160))
