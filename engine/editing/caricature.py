"""Caricature and symmetry in identity space.

Caricature: identity * factor scales every vertex's deviation from the mean shape by
`factor` (the model is linear), > 1 exaggerates, < 1 moves towards the average face.

Symmetry: the mirror image of a face-space head is (almost) a face-space head. We project the
mirrored basis shapes back onto the identity basis by least squares, once per model:
mirror(mean + B a) ~= mean + B (M a + c). The fully symmetric version of a is the average of
a and its mirror, (a + M a + c) / 2; the slider blends towards it.
"""
from __future__ import annotations

import numpy as np

from ..core.cache import cached


def caricature(identity, factor: float) -> np.ndarray:
    """Scale the head's deviation from the mean shape by `factor` (identity only)."""
    return np.asarray(identity, dtype=np.float64) * float(factor)


def _mirror_operator(model):
    K, V, _ = model.identity_basis.shape
    B = model.identity_basis.reshape(K, V * 3).astype(np.float64)
    mirrored = model.mirror(model.identity_basis).reshape(K, V * 3).astype(np.float64)
    mean = model.mean.astype(np.float64)
    offset = (model.mirror(mean) - mean).reshape(V * 3)
    G = B @ B.T                                                   # normal equations, K x K
    M = np.linalg.solve(G, B @ mirrored.T)                        # column k: mirror of mode k
    c = np.linalg.solve(G, B @ offset)
    resid = mirrored - (B.T @ M).T
    rel_residual = float(np.linalg.norm(resid) / np.linalg.norm(mirrored))
    return M, c, rel_residual


def mirror_operator(model):
    """(M (K, K), c (K,), relative residual of the projection), cached per model."""
    return cached(model, "mirror_operator", lambda: _mirror_operator(model))


def mirror_identity(identity, model) -> np.ndarray:
    """Identity of the mirrored head (least-squares projection)."""
    M, c, _ = mirror_operator(model)
    return np.asarray(identity, dtype=np.float64) @ M.T + c


def symmetrize(identity, amount: float, model) -> np.ndarray:
    """Blend the head towards its symmetric version: 0 unchanged, 1 symmetric, -1 doubly asymmetric."""
    a = np.asarray(identity, dtype=np.float64)
    sym = 0.5 * (a + mirror_identity(a, model))
    return a + float(amount) * (sym - a)
