"""One interface for identity descriptors, two networks behind it.

IdentityEncoder
  embed(image, landmarks) -> (dim,) numpy      one photo: (H,W,3) uint8 RGB + its landmarks
  embed_batch(images, landmarks) -> (N, dim)   several photos, one network pass
  embed_chips(chips) -> (B, dim) torch         already aligned chips, 0..255 RGB
  forward(image, points5) -> (B, dim) torch    differentiable: (B,3,H,W) RGB in [0,1] and
                                               (B,5,2) points -> descriptors; gradients reach
                                               the image (and the points)
  distance(a, b), same_person(a, b)            the metric each network was trained for
Landmarks are mediapipe's 478 points (engine.detect.face_landmarks(...).points, mapped to
dlib's five by align.mediapipe_to_dlib5) or five dlib-style points directly.

- DlibIdentityEncoder (default, offline): dlib's face-recognition ResNet ported to PyTorch,
  on dlib's own 150-px chip alignment. Raw 128-D descriptors, Euclidean distance, same
  person below 0.6 (dlib's threshold, stored in the weights).
- FacenetIdentityEncoder: facenet-pytorch's InceptionResnetV1 (vggface2), when its weights
  are on this computer (engine.regress.encoder finds and checks them; nothing downloaded).
  Its 512-D embeddings are L2-normalised; it sees the same 5-point alignment at 160 px.
"""
from __future__ import annotations

import numpy as np
import torch

from ..core.device import pick_device
from . import align


class IdentityEncoder:
    name = "identity"
    dim = 0
    chip_size = align.CHIP_SIZE
    chip_padding = align.CHIP_PADDING
    threshold = 0.6

    def __init__(self, device="auto"):
        self.device = pick_device(device) if isinstance(device, str) else torch.device(device)

    # --- subclasses: chips (B,3,S,S) float, 0..255 RGB -> (B, dim)
    def embed_chips(self, chips):
        raise NotImplementedError

    @staticmethod
    def points5(landmarks):
        """dlib-style five points from mediapipe's 478, FaceLandmarks, or five points."""
        pts = getattr(landmarks, "points", landmarks)
        if isinstance(pts, torch.Tensor):
            return align.mediapipe_to_dlib5(pts) if pts.shape[-2] == 478 else pts
        pts = np.asarray(pts, np.float64)
        if pts.shape[-2] == 478:
            return align.mediapipe_to_dlib5(pts)
        if pts.shape[-2:] != (5, 2):
            raise ValueError(f"landmarks must be (478, 2) mediapipe or (5, 2) points, got {pts.shape}")
        return pts

    def chips(self, image: np.ndarray, landmarks):
        """Aligned chips (B,3,S,S), 0..255, of one photo for one or several faces."""
        p5 = self.points5(landmarks)
        p5 = p5[None] if np.ndim(p5) == 2 else p5
        img = align.image_tensor(image, self.device)
        return align.align_chips(img, torch.as_tensor(p5, dtype=torch.float32, device=self.device),
                                 self.chip_size, self.chip_padding)

    @torch.no_grad()
    def embed(self, image: np.ndarray, landmarks) -> np.ndarray:
        return self.embed_chips(self.chips(image, landmarks))[0].cpu().numpy()

    @torch.no_grad()
    def embed_batch(self, images, landmarks, batch_size: int = 32) -> np.ndarray:
        chips = torch.cat([self.chips(im, lm) for im, lm in zip(images, landmarks)])
        out = [self.embed_chips(chips[i:i + batch_size]) for i in range(0, len(chips), batch_size)]
        return torch.cat(out).cpu().numpy() if out else np.zeros((0, self.dim), np.float32)

    def forward(self, image, points5):
        """Differentiable: image (B,3,H,W) or (3,H,W) RGB in [0,1], points5 (B,5,2) -> (B, dim)."""
        chips = align.align_chips(image * 255.0, self.points5(points5), self.chip_size, self.chip_padding)
        return self.embed_chips(chips)

    __call__ = forward

    def distance(self, a, b):
        return np.linalg.norm(np.asarray(a) - np.asarray(b), axis=-1)

    def same_person(self, a, b):
        return self.distance(a, b) < self.threshold


class DlibIdentityEncoder(IdentityEncoder):
    name = "dlib"
    dim = 128

    def __init__(self, device="auto", weights=None, auto_install=True):
        super().__init__(device)
        from .weights import load_dlib_resnet
        self.net = load_dlib_resnet(weights, self.device, auto_install)
        self.threshold = float(self.net.dist_thresh)

    def embed_chips(self, chips):
        return self.net(chips.to(self.device, torch.float32))


class FacenetIdentityEncoder(IdentityEncoder):
    name = "facenet"
    dim = 512
    chip_size = 160
    threshold = 1.1  # Euclidean on unit vectors; a common operating point, not calibrated here

    def __init__(self, device="auto", weights=None):
        super().__init__(device)
        from ..regress.encoder import build_encoder  # the checked vggface2 loader; raises when absent
        self.net = build_encoder(pretrained=True, weights=weights, download=False, device=self.device)

    def embed_chips(self, chips):
        return self.net(chips.to(self.device, torch.float32) / 255.0)["embedding"]


def facenet_available(weights=None) -> bool:
    from ..regress.encoder import facenet_weights_available
    return facenet_weights_available(weights)


def identity_encoder(kind: str = "dlib", device="auto", weights=None) -> IdentityEncoder:
    """kind: "dlib" (default, offline), "facenet" (needs its weights; WeightsUnavailableError
    otherwise), or "auto" (facenet when its weights are present, else dlib)."""
    if kind == "auto":
        kind = "facenet" if facenet_available(weights) else "dlib"
    if kind == "dlib":
        return DlibIdentityEncoder(device, weights)
    if kind == "facenet":
        return FacenetIdentityEncoder(device, weights)
    raise ValueError(f"unknown identity encoder {kind!r} (dlib, facenet, auto)")
