"""Regressor geometry: the 6D rotation code (Zhou et al. 2019) and the model restricted to
the regressor's landmark points. Rotations, the camera and the projection follow the one
convention in core/geometry.py and core/torch_geometry.py."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from ..core.cache import cached
from ..core.geometry import vertex_normals
from ..landmarks.correspondence import get_correspondence, surface_points
from ..model.points import PointBasis


def rotation_6d_to_matrix(x):
    """(B, 6) -> (B, 3, 3), the first two columns Gram-Schmidt orthonormalised."""
    a1, a2 = x[..., 0:3], x[..., 3:6]
    b1 = torch.nn.functional.normalize(a1, dim=-1)
    b2 = torch.nn.functional.normalize(a2 - (b1 * a2).sum(-1, keepdim=True) * b1, dim=-1)
    b3 = torch.cross(b1, b2, dim=-1)
    return torch.stack([b1, b2, b3], dim=-1)


def matrix_to_rotation_6d(R):
    return torch.cat([R[..., :, 0], R[..., :, 1]], dim=-1)


@dataclass
class LandmarkBasis:
    """A PointBasis (model/points.py) split into identity and expression, in float32, with
    outward normals on the mean face (the regressor's self-occlusion test)."""
    scheme: str            # "ict68" (the model's 68 landmark vertices) or "mediapipe478"
    mean: np.ndarray       # (L, 3) cm
    identity: np.ndarray   # (K, L, 3)
    expression: np.ndarray  # (E, L, 3)
    normals: np.ndarray    # (L, 3)

    @classmethod
    def from_points(cls, scheme, points: PointBasis, n_identity: int, normals) -> "LandmarkBasis":
        f32 = lambda a: np.asarray(a).astype(np.float32)
        return cls(scheme, f32(points.mean), f32(points.basis[:n_identity]), f32(points.basis[n_identity:]), f32(normals))

    @property
    def n_points(self) -> int:
        return self.mean.shape[0]

    def torch(self, device="cpu"):
        L = self.n_points
        return {
            "mean": torch.as_tensor(self.mean, device=device).reshape(1, L * 3),
            "identity": torch.as_tensor(self.identity, device=device).reshape(-1, L * 3),
            "expression": torch.as_tensor(self.expression, device=device).reshape(-1, L * 3),
            "normals": torch.as_tensor(self.normals, device=device),
        }

    def points_torch(self, tb, identity, expression):
        """(B, K), (B, E) -> (B, L, 3) model-space points."""
        flat = tb["mean"] + identity @ tb["identity"] + expression @ tb["expression"]
        return flat.reshape(flat.shape[0], -1, 3)


def landmark_basis(model, scheme: str = "auto") -> LandmarkBasis:
    """The regressor's points: 'mediapipe478' (the detector correspondence, without the
    detector offsets), 'ict68' (the model's 68 landmark vertices); 'auto' is mediapipe478
    (the correspondence table ships with the engine)."""
    if scheme not in ("auto", "mediapipe478", "ict68"):
        raise ValueError(f"unknown landmark scheme {scheme!r}")
    return cached(model, ("landmark_basis", scheme), lambda: _build(model, scheme))


def _build(model, scheme):
    normals_all = vertex_normals(model.mean, model.triangles).astype(np.float32)
    if scheme == "ict68":
        idx = np.asarray(model.landmarks68, dtype=np.int64)
        return LandmarkBasis.from_points("ict68", PointBasis.from_vertices(model, idx), model.n_identity,
                                         normals_all[idx])
    corr = get_correspondence(model)

    def f(v):  # in the model's float32, as the shipped regressor was trained
        return np.asarray(surface_points(v, corr), dtype=np.float64)
    mean = f(model.mean)
    modes = np.stack([f(model.mean + b) - mean for b in (*model.identity_basis, *model.expression_basis)])
    nrm = f(model.mean + normals_all) - mean
    nrm /= np.linalg.norm(nrm, axis=1, keepdims=True) + 1e-12
    return LandmarkBasis.from_points("mediapipe478", PointBasis(mean, modes), model.n_identity, nrm)
