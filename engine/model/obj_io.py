"""Minimal, fast Wavefront OBJ reader for the ICT-FaceKit files (positions, UVs, polygons)."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass
class ObjMesh:
    positions: np.ndarray          # (V, 3) float64, as written in the file
    uvs: np.ndarray                # (T, 2) float64
    poly_sizes: np.ndarray         # (P,) int32: corners per polygon
    corner_verts: np.ndarray       # (sum sizes,) int32, 0-based vertex index per corner
    corner_uvs: np.ndarray         # (sum sizes,) int32, 0-based UV index per corner (-1: none)
    poly_materials: np.ndarray     # (P,) int32 index into material_names
    material_names: list


def read_positions(path) -> np.ndarray:
    """Only the `v` lines: used for the 153 shape files, which share the neutral's topology."""
    with open(path, "rb") as f:
        lines = [ln for ln in f.read().split(b"\n") if ln.startswith(b"v ")]
    return np.array([ln.split()[1:4] for ln in lines], dtype=np.float64)


def read_obj(path) -> ObjMesh:
    positions, uvs = [], []
    sizes, cverts, cuvs, mats = [], [], [], []
    material_names: list = []
    current = -1
    with open(path, "rb") as f:
        for raw in f.read().split(b"\n"):
            if raw.startswith(b"v "):
                positions.append(raw.split()[1:4])
            elif raw.startswith(b"vt "):
                uvs.append(raw.split()[1:3])
            elif raw.startswith(b"f "):
                corners = raw.split()[1:]
                sizes.append(len(corners))
                mats.append(current)
                for c in corners:
                    parts = c.split(b"/")
                    cverts.append(int(parts[0]) - 1)
                    cuvs.append(int(parts[1]) - 1 if len(parts) > 1 and parts[1] else -1)
            elif raw.startswith(b"usemtl "):
                name = raw.split(None, 1)[1].strip().decode()
                if name not in material_names:
                    material_names.append(name)
                current = material_names.index(name)
    if not positions or not sizes:
        raise ValueError(f"{path}: no vertices or faces")
    return ObjMesh(
        positions=np.array(positions, dtype=np.float64),
        uvs=np.array(uvs, dtype=np.float64).reshape(-1, 2),
        poly_sizes=np.array(sizes, dtype=np.int32),
        corner_verts=np.array(cverts, dtype=np.int32),
        corner_uvs=np.array(cuvs, dtype=np.int32),
        poly_materials=np.array(mats, dtype=np.int32),
        material_names=material_names,
    )
