"""Landmark error metrics."""
from __future__ import annotations

import numpy as np


def bbox_size(gt: np.ndarray) -> float:
    """sqrt(w * h) of the points' bounding box (the AFLW2000-3D normaliser)."""
    gt = np.asarray(gt, dtype=np.float64)
    w, h = gt.max(0) - gt.min(0)
    return float(np.sqrt(w * h))


def point_errors(pred: np.ndarray, gt: np.ndarray) -> np.ndarray:
    """(N,) Euclidean error per point divided by the GT box size."""
    pred, gt = np.asarray(pred, dtype=np.float64), np.asarray(gt, dtype=np.float64)
    if pred.shape != gt.shape or pred.shape[-1] != 2:
        raise ValueError(f"shapes {pred.shape} and {gt.shape} must match and be (N, 2)")
    return np.linalg.norm(pred - gt, axis=-1) / bbox_size(gt)


def nme68(pred: np.ndarray, gt: np.ndarray) -> float:
    """Mean 68-point error normalised by sqrt(w*h) of the GT bounding box (AFLW2000-3D)."""
    if np.shape(gt) != (68, 2):
        raise ValueError(f"expected (68, 2) points, got {np.shape(gt)}")
    return float(point_errors(pred, gt).mean())
