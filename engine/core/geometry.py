"""The one camera and rotation convention (docs/architecture.md), and numpy mesh geometry.

Camera: OpenCV. Model space (cm) -> camera space by `rotation` and `translation`; pixels by
a pinhole with focal length `focal` and the principal point at the image centre
((w - 1) / 2, (h - 1) / 2), 0-based pixel centres, x right, y down, z forward.

Rotation: a head turned by yaw (towards the subject's left, +x), pitch and roll is
    R = Rx(180) @ Rz(roll) @ Ry(yaw) @ Rx(pitch)
The head is turned in model space, then the frontal flip Rx(180) maps +y up / +z towards
the camera onto OpenCV's y down / z forward. `euler_to_matrix` and `matrix_to_euler` are
the only implementations; `head_rotation` / `head_angles` are the same in degrees.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

FRONTAL_FLIP = np.diag([1.0, -1.0, -1.0])   # Rx(180): the frontal pose


# ---- camera -----------------------------------------------------------------------------
@dataclass
class Camera:
    rotation: np.ndarray     # (3, 3) model -> camera
    translation: np.ndarray  # (3,) cm
    focal: float             # px
    image_size: tuple        # (w, h)

    @classmethod
    def from_matrices(cls, world_to_camera, K, image_size) -> "Camera":
        M = np.asarray(world_to_camera, dtype=np.float64)
        return cls(M[:3, :3].copy(), M[:3, 3].copy(), float(np.asarray(K)[0, 0]), tuple(int(v) for v in image_size))

    @property
    def principal_point(self) -> np.ndarray:
        return (np.asarray(self.image_size, dtype=np.float64) - 1) / 2

    @property
    def K(self) -> np.ndarray:
        cx, cy = self.principal_point
        return np.array([[self.focal, 0, cx], [0, self.focal, cy], [0, 0, 1]])

    @property
    def world_to_camera(self) -> np.ndarray:
        m = np.eye(4)
        m[:3, :3] = self.rotation
        m[:3, 3] = self.translation
        return m

    def to_camera(self, points: np.ndarray) -> np.ndarray:
        return np.asarray(points, dtype=np.float64) @ self.rotation.T + self.translation

    def project(self, points: np.ndarray) -> np.ndarray:
        y = points @ self.rotation.T + self.translation
        return y[..., :2] / y[..., 2:3] * self.focal + (np.asarray(self.image_size) - 1) / 2


def project_with_K(points_cam, K):
    """(..., N, 3) camera-space points -> (..., N, 2) pixels through a full K (numpy, or torch
    with a torch K): the same pinhole as Camera.project, for callers that hold K."""
    uvw = points_cam @ K.T
    return uvw[..., :2] / uvw[..., 2:3]


# ---- rotations --------------------------------------------------------------------------
def _namespace(a):
    """numpy or torch, by the argument's type (torch is imported only for torch input)."""
    if type(a).__module__.startswith("torch"):
        import torch
        return torch
    return np


def euler_to_matrix(yaw, pitch, roll):
    """Rotation(s) world_to_camera for yaw/pitch/roll in radians: floats or numpy arrays
    (-> (..., 3, 3) float64) or torch tensors (B,) (-> (B, 3, 3), differentiable)."""
    xp = _namespace(yaw)
    if xp is np:
        yaw, pitch, roll = (np.asarray(a, dtype=np.float64) for a in (yaw, pitch, roll))
    shape = tuple(yaw.shape)

    def mat(*rows):
        return xp.stack(rows, -1).reshape(*shape, 3, 3)

    def rx(a):
        c, s, o, z = xp.cos(a), xp.sin(a), xp.ones_like(a), xp.zeros_like(a)
        return mat(o, z, z, z, c, -s, z, s, c)

    def ry(a):
        c, s, o, z = xp.cos(a), xp.sin(a), xp.ones_like(a), xp.zeros_like(a)
        return mat(c, z, s, z, o, z, -s, z, c)

    def rz(a):
        c, s, o, z = xp.cos(a), xp.sin(a), xp.ones_like(a), xp.zeros_like(a)
        return mat(c, -s, z, s, c, z, z, z, o)

    flip = FRONTAL_FLIP if xp is np else _torch_flip(yaw)
    return flip @ rz(roll) @ ry(yaw) @ rx(pitch)


def _torch_flip(like):
    """FRONTAL_FLIP as a tensor of `like`'s dtype and device."""
    import torch
    return torch.as_tensor(FRONTAL_FLIP, dtype=like.dtype, device=like.device)


def matrix_to_euler(R):
    """Inverse of `euler_to_matrix`: numpy (..., 3, 3) -> (yaw, pitch, roll) in radians."""
    M = FRONTAL_FLIP @ np.asarray(R, dtype=np.float64)   # Rz(roll) Ry(yaw) Rx(pitch)
    yaw = np.arcsin(np.clip(-M[..., 2, 0], -1, 1))
    pitch = np.arctan2(M[..., 2, 1], M[..., 2, 2])
    roll = np.arctan2(M[..., 1, 0], M[..., 0, 0])
    return yaw, pitch, roll


def head_rotation(yaw_deg=0.0, pitch_deg=0.0, roll_deg=0.0) -> np.ndarray:
    """`euler_to_matrix` in degrees; (0, 0, 0) is frontal."""
    return euler_to_matrix(*(math.radians(float(a)) for a in (yaw_deg, pitch_deg, roll_deg)))


def head_angles(R) -> dict:
    """{"yaw", "pitch", "roll"} in degrees of a world_to_camera rotation (3, 3)."""
    return {k: float(np.degrees(v)) for k, v in zip(("yaw", "pitch", "roll"), matrix_to_euler(R))}


def rotation_angle_deg(Ra, Rb):
    """Geodesic angle between rotations (numpy (..., 3, 3)) in degrees."""
    Ra, Rb = np.asarray(Ra, np.float64), np.asarray(Rb, np.float64)
    tr = np.einsum("...ij,...ij->...", Ra, Rb)
    return np.degrees(np.arccos(np.clip((tr - 1) / 2, -1, 1)))


def rodrigues(w: np.ndarray) -> np.ndarray:
    """Rotation vector (3,) -> matrix (3, 3)."""
    th = float(np.linalg.norm(w))
    if th < 1e-12:
        return np.eye(3)
    k = w / th
    Kx = np.array([[0, -k[2], k[1]], [k[2], 0, -k[0]], [-k[1], k[0], 0]])
    return np.eye(3) + math.sin(th) * Kx + (1 - math.cos(th)) * Kx @ Kx


def orthonormalize(M: np.ndarray) -> np.ndarray:
    """The rotation nearest to M (SVD), never a reflection."""
    U, _, Vt = np.linalg.svd(M)
    R = U @ Vt
    if np.linalg.det(R) < 0:
        U[:, -1] *= -1
        R = U @ Vt
    return R


def rigid_align(src: np.ndarray, dst: np.ndarray) -> np.ndarray:
    """src rotated and translated (no scale) onto dst, least squares (Kabsch)."""
    ms, md = src.mean(0), dst.mean(0)
    U, _, Vt = np.linalg.svd((dst - md).T @ (src - ms))
    d = np.sign(np.linalg.det(U @ Vt))
    R = U @ np.diag([1, 1, d]) @ Vt
    return (src - ms) @ R.T + md


# ---- mesh -------------------------------------------------------------------------------
def vertex_normals(vertices: np.ndarray, triangles: np.ndarray) -> np.ndarray:
    """Area-weighted unit vertex normals (V, 3) float64; counter-clockwise triangles (ICT's
    winding) give outward normals. (torch: core.torch_geometry.vertex_normals.)"""
    v = np.asarray(vertices, dtype=np.float64)
    f = np.asarray(triangles, dtype=np.int64)
    fn = np.cross(v[f[:, 1]] - v[f[:, 0]], v[f[:, 2]] - v[f[:, 0]])
    n = np.zeros_like(v)
    for k in range(3):
        np.add.at(n, f[:, k], fn)
    return n / np.maximum(np.linalg.norm(n, axis=1, keepdims=True), 1e-12)
