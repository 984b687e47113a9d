"""Linear point bases: points on the model surface as a linear function of the coefficients."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass
class PointBasis:
    """X = mean + coeffs @ basis, coeffs = [identity, expression]."""
    mean: np.ndarray   # (N, 3)
    basis: np.ndarray  # (C, N, 3), C = n_identity + n_expression

    @classmethod
    def from_vertices(cls, model, vertex_ids) -> "PointBasis":
        ids = np.asarray(vertex_ids, dtype=np.int64)
        basis = np.concatenate([model.identity_basis[:, ids], model.expression_basis[:, ids]], 0)
        return cls(model.mean[ids].astype(np.float64), basis.astype(np.float64))

    @classmethod
    def from_barycentric(cls, model, tri_vertices, bary) -> "PointBasis":
        """Points on triangles: tri_vertices (N, 3) vertex ids, bary (N, 3) weights."""
        tv = np.asarray(tri_vertices, dtype=np.int64)
        w = np.asarray(bary, dtype=np.float64)

        def apply(a):  # (..., V, 3) -> (..., N, 3)
            return np.einsum("...nkd,nk->...nd", a[..., tv, :].astype(np.float64), w)
        basis = np.concatenate([apply(model.identity_basis), apply(model.expression_basis)], 0)
        return cls(apply(model.mean), basis)

    @property
    def n_points(self) -> int:
        return self.mean.shape[0]

    def points(self, coeffs) -> np.ndarray:
        """(N, 3) points for coefficients (C,)."""
        return self.mean + np.tensordot(np.asarray(coeffs, dtype=np.float64), self.basis, 1)

    def concat(self, other: "PointBasis") -> "PointBasis":
        return PointBasis(np.concatenate([self.mean, other.mean], 0),
                          np.concatenate([self.basis, other.basis], 1))
