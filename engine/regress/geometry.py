"""Shared geometry for the regressors: rotations, the 6D rotation code, OpenCV projection,
and compact landmark bases (the model restricted to a set of surface points).

Conventions (docs/architecture.md): model space in cm; camera = OpenCV (x right, y down,
z forward); a frontal head has a rotation of 180 degrees about x. The principal point is
the image centre ((w - 1) / 2, (h - 1) / 2) in 0-based pixel coordinates.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np


def principal_point(image_size):
    w, h = image_size
    return ((w - 1) / 2.0, (h - 1) / 2.0)


# ---- rotations (torch) -------------------------------------------------------------------
def euler_to_matrix(yaw, pitch, roll):
    """Head rotation world_to_camera for yaw/pitch/roll in radians (tensors (B,)).

    R = Rx(pi) @ Rz(roll) @ Ry(yaw) @ Rx(pitch): the model is turned in model space, then the
    frontal flip maps +y up / +z towards the camera onto OpenCV's y down / z forward.
    Positive yaw turns the face towards the subject's left (+x).
    """
    import torch
    def rx(a):
        c, s, o, z = torch.cos(a), torch.sin(a), torch.ones_like(a), torch.zeros_like(a)
        return torch.stack([o, z, z, z, c, -s, z, s, c], -1).reshape(-1, 3, 3)

    def ry(a):
        c, s, o, z = torch.cos(a), torch.sin(a), torch.ones_like(a), torch.zeros_like(a)
        return torch.stack([c, z, s, z, o, z, -s, z, c], -1).reshape(-1, 3, 3)

    def rz(a):
        c, s, o, z = torch.cos(a), torch.sin(a), torch.ones_like(a), torch.zeros_like(a)
        return torch.stack([c, -s, z, s, c, z, z, z, o], -1).reshape(-1, 3, 3)

    flip = rx(torch.full_like(yaw, math.pi))
    return flip @ rz(roll) @ ry(yaw) @ rx(pitch)


def matrix_to_euler(R):
    """Inverse of `euler_to_matrix` (numpy (..., 3, 3) -> yaw, pitch, roll in radians)."""
    R = np.asarray(R, dtype=np.float64)
    flip = np.diag([1.0, -1.0, -1.0])
    M = flip @ R  # Rz(roll) Ry(yaw) Rx(pitch)
    yaw = np.arcsin(np.clip(-M[..., 2, 0], -1, 1))
    pitch = np.arctan2(M[..., 2, 1], M[..., 2, 2])
    roll = np.arctan2(M[..., 1, 0], M[..., 0, 0])
    return yaw, pitch, roll


def rotation_6d_to_matrix(x):
    """Zhou et al. 2019: (B, 6) -> (B, 3, 3), the first two columns Gram-Schmidt orthonormalised."""
    import torch
    a1, a2 = x[..., 0:3], x[..., 3:6]
    b1 = torch.nn.functional.normalize(a1, dim=-1)
    b2 = torch.nn.functional.normalize(a2 - (b1 * a2).sum(-1, keepdim=True) * b1, dim=-1)
    b3 = torch.cross(b1, b2, dim=-1)
    return torch.stack([b1, b2, b3], dim=-1)


def matrix_to_rotation_6d(R):
    import torch
    return torch.cat([R[..., :, 0], R[..., :, 1]], dim=-1)


def rotation_angle_deg(Ra, Rb):
    """Geodesic angle between rotations (numpy (..., 3, 3)) in degrees."""
    Ra, Rb = np.asarray(Ra, np.float64), np.asarray(Rb, np.float64)
    tr = np.einsum("...ij,...ij->...", Ra, Rb)
    return np.degrees(np.arccos(np.clip((tr - 1) / 2, -1, 1)))


def project(points_cam, focal, pp):
    """OpenCV pinhole: (..., N, 3) camera-space points -> (..., N, 2) pixels.
    `focal` broadcastable to (...,), `pp` (..., 2) or a pair."""
    import torch
    z = points_cam[..., 2:3].clamp_min(1e-3)
    uv = points_cam[..., :2] / z * focal[..., None, None]
    pp = torch.as_tensor(pp, dtype=uv.dtype, device=uv.device)
    if pp.dim() == 1:
        return uv + pp
    return uv + pp[..., None, :]


# ---- landmark bases ----------------------------------------------------------------------
def vertex_normals(vertices: np.ndarray, triangles: np.ndarray) -> np.ndarray:
    v = vertices.astype(np.float64)
    f = triangles.astype(np.int64)
    fn = np.cross(v[f[:, 1]] - v[f[:, 0]], v[f[:, 2]] - v[f[:, 0]])
    n = np.zeros_like(v)
    for k in range(3):
        np.add.at(n, f[:, k], fn)
    n /= np.linalg.norm(n, axis=1, keepdims=True) + 1e-12
    return n.astype(np.float32)


@dataclass
class LandmarkBasis:
    """The morphable model restricted to L surface points (linear in the coefficients)."""
    scheme: str            # "ict68" (the model's 68 landmark vertices) or "mediapipe478"
    mean: np.ndarray       # (L, 3) cm
    identity: np.ndarray   # (K, L, 3)
    expression: np.ndarray  # (E, L, 3)
    normals: np.ndarray    # (L, 3) outward normals on the mean face (visibility test)

    @property
    def n_points(self) -> int:
        return self.mean.shape[0]

    def torch(self, device="cpu"):
        import torch
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


def _correspondence_or_none(model):
    try:
        from .. import correspondence as corr_mod
    except ImportError:
        return None, None
    get = getattr(corr_mod, "get_correspondence", None)
    surf = getattr(corr_mod, "surface_points", None)
    if get is None or surf is None:
        return None, None
    try:
        return get(model), surf
    except Exception:  # correspondence not usable yet: fall back to the 68 vertices
        return None, None


def landmark_basis(model, scheme: str = "auto") -> LandmarkBasis:
    """Build the landmark basis. scheme: 'ict68', 'mediapipe478', or 'auto' (478 if the
    detector correspondence (engine/correspondence.py) is available, else 68)."""
    key = "_facespace_landmark_basis_" + scheme
    cached = getattr(model, key, None) if hasattr(model, "__dict__") else None
    if cached is not None:
        return cached
    normals_all = vertex_normals(model.mean, model.triangles)
    basis = None
    if scheme in ("auto", "mediapipe478"):
        corr, surf = _correspondence_or_none(model)
        if corr is not None:
            def f(v):
                return np.asarray(surf(v, corr), dtype=np.float64)
            mean = f(model.mean)
            idb = np.stack([f(model.mean + b) - mean for b in model.identity_basis])
            exb = np.stack([f(model.mean + b) - mean for b in model.expression_basis])
            nrm = f(model.mean + normals_all) - mean
            nrm /= np.linalg.norm(nrm, axis=1, keepdims=True) + 1e-12
            basis = LandmarkBasis("mediapipe478", mean.astype(np.float32), idb.astype(np.float32),
                                  exb.astype(np.float32), nrm.astype(np.float32))
        elif scheme == "mediapipe478":
            raise RuntimeError("the mediapipe478 landmark scheme needs engine/correspondence.py")
    if basis is None:
        idx = np.asarray(model.landmarks68, dtype=np.int64)
        basis = LandmarkBasis("ict68", model.mean[idx].astype(np.float32),
                              model.identity_basis[:, idx].astype(np.float32),
                              model.expression_basis[:, idx].astype(np.float32),
                              normals_all[idx])
    try:
        setattr(model, key, basis)
    except AttributeError:
        pass
    return basis
