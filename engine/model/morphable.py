"""The morphable model: a compact, versioned, pickle-free file and its evaluator.

File format (`.npz`, read with allow_pickle=False, FORMAT_VERSION below):
    mean                (V, 3) float32     neutral shape, in `units`
    identity_basis      (K, V, 3) float32  PCA modes, scaled so coefficients are ~N(0, 1)
    identity_std        (K,) float32       std of each coefficient (1.0 for ICT: upstream samples N(0, 1))
    expression_basis    (E, V, 3) float32  blendshape deltas, weights in [0, 1]
    expression_names    (E,) str           ARKit names
    triangles           (F, 3) int32       triangulated polygons (for rendering)
    triangle_polygon    (F,) int32         source polygon of each triangle
    poly_sizes          (P,) int32         corners per original polygon (quads stay quads)
    corner_verts        (C,) int32         vertex per corner
    corner_uv_index     (C,) int32         UV per corner (UV seams: more UVs than vertices)
    uvs                 (T, 2) float32
    poly_materials      (P,) int32, material_names (M,) str
    region_names        (R,) str, region_vertex_ranges (R, 2) int32 [start, stop)
    region_poly_ranges  (R, 2) int32 [start, stop)
    landmarks68         (68,) int32        Multi-PIE 68-point vertex ids
    jaw_right / jaw_left (8,) int32        jawline alternatives for points 0-7 / 9-16
    jaw_right_extended / jaw_left_extended (17,) int32
    symmetry            (V,) int32         left/right mirror partner of every vertex
    meta_json           () str             format version, units, source, commit, licence
Optional arrays (derived data added at install time, e.g. the detector-to-surface
correspondence) are kept in `extras` and written back unchanged.
"""
from __future__ import annotations

import hashlib
import io
import json
from pathlib import Path

import numpy as np

from ..core.errors import ModelCorruptError, ModelNotInstalledError
from ..core.paths import data_dir

FORMAT_NAME = "facespace-3dmm"
FORMAT_VERSION = 1
MODEL_ID = "ict-facekit-light"
MODEL_FILENAME = f"{MODEL_ID}.v{FORMAT_VERSION}.npz"

_ARRAYS = (
    "mean", "identity_basis", "identity_std", "expression_basis", "expression_names",
    "triangles", "triangle_polygon", "poly_sizes", "corner_verts", "corner_uv_index", "uvs",
    "poly_materials", "material_names", "region_names", "region_vertex_ranges",
    "region_poly_ranges", "landmarks68", "jaw_right", "jaw_left", "jaw_right_extended",
    "jaw_left_extended", "symmetry",
)


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def checksum_path(model_path: Path) -> Path:
    return Path(str(model_path) + ".sha256")


def _read_sidecar(path: Path) -> str:
    """The SHA-256 in `path`.sha256; ModelCorruptError when it is missing, empty or garbled."""
    side = checksum_path(path)
    if not side.is_file():
        raise ModelCorruptError(f"{path} has no checksum file; reinstall the face model.")
    words = side.read_bytes().decode("ascii", "replace").split()
    digest = words[0].lower() if words else ""
    if len(digest) != 64 or any(c not in "0123456789abcdef" for c in digest):
        raise ModelCorruptError(f"The checksum file {side} is empty or damaged; reinstall the face model.")
    return digest


class MorphableModel:
    """Mean + identity PCA + expression blendshapes, evaluated in numpy or torch."""

    def __init__(self, arrays: dict, meta: dict):
        missing = [k for k in _ARRAYS if k not in arrays]
        if missing:
            raise ModelCorruptError(f"The face model file lacks arrays ({', '.join(missing)}); "
                                    "reinstall the face model.")
        for k in _ARRAYS:
            setattr(self, k, arrays[k])
        self.meta = meta
        self.extras = {k: v for k, v in arrays.items() if k not in _ARRAYS}
        self.expression_names = [str(s) for s in self.expression_names]
        self.material_names = [str(s) for s in self.material_names]
        self.region_names = [str(s) for s in self.region_names]
        self._torch_cache: dict = {}
        self._poly_starts = None

    # ---- identity -----------------------------------------------------------------
    @property
    def id(self) -> str:
        return self.meta["model_id"]

    @property
    def units(self) -> str:
        return self.meta["units"]

    @property
    def mm_per_unit(self) -> float:
        return float(self.meta["mm_per_unit"])

    @property
    def n_vertices(self) -> int:
        return self.mean.shape[0]

    @property
    def n_identity(self) -> int:
        return self.identity_basis.shape[0]

    @property
    def n_expression(self) -> int:
        return self.expression_basis.shape[0]

    # ---- file I/O -------------------------------------------------------------------
    @classmethod
    def load(cls, path, expected_sha256: str | None = None) -> "MorphableModel":
        """Load and verify a model file. The checksum is the sidecar `.sha256` unless given."""
        path = Path(path)
        if not path.is_file():
            raise ModelNotInstalledError(
                f"No face model at {path}. Install it with `python -m engine install-model` "
                "(or from FaceSpace's preferences in Blender)."
            )
        data = path.read_bytes()
        if expected_sha256 is None:
            expected_sha256 = _read_sidecar(path)
        if sha256_bytes(data) != expected_sha256:
            raise ModelCorruptError(f"{path} is damaged (checksum mismatch); reinstall the face model.")
        try:
            with np.load(io.BytesIO(data), allow_pickle=False) as z:
                arrays = {k: z[k] for k in z.files}
        except Exception as exc:  # zip/npy errors of many kinds: all mean "corrupt"
            raise ModelCorruptError(f"{path} is not a readable FaceSpace model ({exc}); "
                                    "reinstall the face model.") from exc
        try:
            meta = json.loads(str(arrays.pop("meta_json")))
        except (KeyError, ValueError) as exc:
            raise ModelCorruptError(f"{path} is not a FaceSpace model (no readable metadata); "
                                    "reinstall the face model.") from exc
        if meta.get("format") != FORMAT_NAME or meta.get("format_version") != FORMAT_VERSION:
            raise ModelCorruptError(
                f"{path} has format {meta.get('format')} v{meta.get('format_version')}; "
                f"this FaceSpace reads {FORMAT_NAME} v{FORMAT_VERSION}. Reinstall the face model."
            )
        return cls(arrays, meta)

    def save(self, path) -> str:
        """Write to `path` (no atomicity here; the installer handles that). Returns SHA-256."""
        arrays = {k: np.asarray(getattr(self, k)) for k in _ARRAYS}
        buf = io.BytesIO()
        np.savez(buf, meta_json=np.array(json.dumps(self.meta)), **self.extras, **arrays)
        data = buf.getvalue()
        Path(path).write_bytes(data)
        return sha256_bytes(data)

    # ---- evaluation -----------------------------------------------------------------
    def vertices(self, identity=None, expression=None, region: str | None = None) -> np.ndarray:
        """Vertices for coefficient batches: identity (..., K), expression (..., E) -> (..., V, 3)."""
        sel = self.region_slice(region) if region else slice(None)
        mean = self.mean[sel]
        out = None
        if identity is not None:
            identity = np.asarray(identity, dtype=np.float32)
            out = np.tensordot(identity, self.identity_basis[:, sel], axes=([-1], [0]))
        if expression is not None:
            expression = np.asarray(expression, dtype=np.float32)
            e = np.tensordot(expression, self.expression_basis[:, sel], axes=([-1], [0]))
            out = e if out is None else out + e
        return mean.copy() if out is None else out + mean

    def torch_arrays(self, device="cpu", dtype=None) -> dict:
        """Model arrays as torch tensors on `device`, cached (the basis is ~50 MB)."""
        import torch
        dtype = dtype or torch.float32
        key = (str(device), dtype)
        if key not in self._torch_cache:
            t = lambda a: torch.as_tensor(a).to(device=device, dtype=dtype)
            K, V, _ = self.identity_basis.shape
            E = self.expression_basis.shape[0]
            self._torch_cache[key] = {
                "mean": t(self.mean),
                "identity_basis": t(self.identity_basis.reshape(K, V * 3)),
                "expression_basis": t(self.expression_basis.reshape(E, V * 3)),
                "triangles": torch.as_tensor(self.triangles.astype(np.int64), device=device),
            }
        return self._torch_cache[key]

    def vertices_torch(self, identity=None, expression=None, device=None, region: str | None = None):
        """Differentiable: identity (B, K), expression (B, E) tensors -> (B, V, 3) on their device."""
        import torch
        ref = identity if identity is not None else expression
        device = device or (ref.device if ref is not None else "cpu")
        dtype = ref.dtype if ref is not None else torch.float32
        a = self.torch_arrays(device, dtype)
        V = self.n_vertices
        B = ref.shape[0] if ref is not None else 1
        flat = a["mean"].reshape(1, V * 3).expand(B, V * 3)
        if identity is not None:
            flat = flat + identity @ a["identity_basis"]
        if expression is not None:
            flat = flat + expression @ a["expression_basis"]
        verts = flat.reshape(B, V, 3)
        if region:
            verts = verts[:, self.region_slice(region)]
        return verts

    # ---- structure ------------------------------------------------------------------
    def region_slice(self, name: str) -> slice:
        if name not in self.region_names:
            raise KeyError(f"unknown region {name!r}; known: {', '.join(self.region_names)}")
        start, stop = self.region_vertex_ranges[self.region_names.index(name)]
        return slice(int(start), int(stop))

    def region_vertices(self, name: str) -> np.ndarray:
        s = self.region_slice(name)
        return np.arange(s.start, s.stop)

    def region_polygons(self, name: str) -> np.ndarray:
        start, stop = self.region_poly_ranges[self.region_names.index(name)]
        return np.arange(int(start), int(stop))

    def landmarks(self, vertices: np.ndarray, which: str = "fixed") -> np.ndarray:
        """Look up the 68 landmarks on (..., V, 3) vertices; `which`='jawline' swaps in the jaw alternatives."""
        idx = self.landmarks68
        if which == "jawline":
            idx = idx.copy()
            idx[0:8] = self.jaw_right
            idx[9:17] = self.jaw_left
        return vertices[..., idx, :]

    @property
    def poly_starts(self) -> np.ndarray:
        if self._poly_starts is None:
            self._poly_starts = np.concatenate([[0], np.cumsum(self.poly_sizes)[:-1]]).astype(np.int64)
        return self._poly_starts

    @property
    def corner_uvs(self) -> np.ndarray:
        """(C, 2) UV of every polygon corner, in the order of `corner_verts` (Blender's loops)."""
        return self.uvs[self.corner_uv_index]

    def mirror(self, vertices: np.ndarray) -> np.ndarray:
        """Mirror a shape left/right: x -> -x and swap symmetric vertices."""
        out = vertices[..., self.symmetry, :].copy()
        out[..., 0] *= -1
        return out


def model_path(default_dir=None) -> Path:
    """Where the installed model lives (core.paths.data_dir decides the folder)."""
    return data_dir(default_dir) / MODEL_FILENAME


def load_model(path=None, data_dir=None) -> MorphableModel:
    """Load the installed model (see `model_path`)."""
    return MorphableModel.load(path or model_path(data_dir))
