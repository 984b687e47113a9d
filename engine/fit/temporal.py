"""Temporal processing of a tracked performance: causal One-Euro smoothing and gap bridging.

One-Euro filter (Casiez, Roussel, Vogel, "1 Euro Filter: A Simple Speed-based Low-pass
Filter for Noisy Input in Interactive Systems", CHI 2012): an exponential low-pass whose
cutoff rises with the (low-passed) speed of the signal, `fc = min_cutoff + beta * |dx/dt|`,
so slow motion is smoothed hard (no jitter) and fast motion passes with little lag. It is
causal: frame t depends on frames <= t only (there is deliberately no zero-phase option).

`OneEuroFilter` works on any number of channels at once (x of shape (..., C)); each channel
has its own speed. `RotationOneEuro` filters rotations on SO(3): the speed is the angular
speed between consecutive raw rotations and each step moves the filtered rotation towards
the new one along the geodesic (`q_hat <- q_hat * exp(alpha * log(q_hat^-1 q))`), so the
quaternion double cover (q and -q) and the +-pi wrap of Euler/rotation-vector angles cannot
make it jump. `PoseExpressionFilter` bundles the three filters for a head track with the
defaults below (chosen so a typical step arrives with <= 1 frame of lag at 25-60 fps; see
tests/fit/test_temporal.py for the measured jitter reduction and lag):

| channel              | units | min_cutoff (Hz) | beta           | d_cutoff (Hz) |
|----------------------|-------|-----------------|----------------|---------------|
| expression weights   | 0..1  | 1.0             | 1.5            | 1.0           |
| rotation             | rad   | 1.0             | 4.0  (1/rad)   | 1.0           |
| translation          | cm    | 1.0             | 0.7  (1/cm)    | 1.0           |

`bridge_gaps(values, valid, max_gap)` fills runs of at most `max_gap` frames without a face
(interpolating between the good frames on either side: linearly, or by slerp for quaternions)
and reports which frames were bridged; longer runs, and runs at the start or end of the clip
(nothing on one side), stay missing (NaN) and flagged; nothing is extrapolated.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..core.quaternion import matrix_from_quat, quat_conj, quat_from_matrix, quat_log, quat_mul, slerp

WEIGHT_DEFAULTS = dict(min_cutoff=1.0, beta=1.5, d_cutoff=1.0)
ROTATION_DEFAULTS = dict(min_cutoff=1.0, beta=4.0, d_cutoff=1.0)
TRANSLATION_DEFAULTS = dict(min_cutoff=1.0, beta=0.7, d_cutoff=1.0)


def _alpha(cutoff, dt):
    """Smoothing factor of an exponential low-pass with `cutoff` Hz at time step `dt` s."""
    tau = 1.0 / (2.0 * np.pi * np.asarray(cutoff, dtype=np.float64))
    return 1.0 / (1.0 + tau / dt)


class OneEuroFilter:
    """Vectorised One-Euro filter: `f(x, t)` with x (..., C) float, t in seconds (increasing)."""

    def __init__(self, min_cutoff=1.0, beta=0.0, d_cutoff=1.0, clamp=None):
        if min_cutoff <= 0 or d_cutoff <= 0 or beta < 0:
            raise ValueError("min_cutoff and d_cutoff must be > 0 and beta >= 0")
        self.min_cutoff, self.beta, self.d_cutoff = float(min_cutoff), float(beta), float(d_cutoff)
        self.clamp = clamp
        self.reset()

    def reset(self):
        """Forget the past (call after a gap in the track): the next sample passes unchanged."""
        self._x = self._dx = self._t = None

    def __call__(self, x, t: float) -> np.ndarray:
        x = np.asarray(x, dtype=np.float64)
        if self._x is None:
            self._x, self._dx, self._t = x.copy(), np.zeros_like(x), float(t)
            return self._out(self._x)
        dt = float(t) - self._t
        if dt <= 0:
            raise ValueError(f"times must increase (got {t} after {self._t})")
        dx = (x - self._x) / dt
        self._dx = self._dx + _alpha(self.d_cutoff, dt) * (dx - self._dx)
        cutoff = self.min_cutoff + self.beta * np.abs(self._dx)
        self._x = self._x + _alpha(cutoff, dt) * (x - self._x)
        self._t = float(t)
        return self._out(self._x)

    def _out(self, x):
        return x.copy() if self.clamp is None else np.clip(x, *self.clamp)


class RotationOneEuro:
    """One-Euro on SO(3) for unit quaternions (..., 4) (w, x, y, z); see the module docstring."""

    def __init__(self, min_cutoff=1.0, beta=0.0, d_cutoff=1.0):
        self.min_cutoff, self.beta, self.d_cutoff = float(min_cutoff), float(beta), float(d_cutoff)
        self.reset()

    def reset(self):
        self._q = self._raw = self._w = self._t = None

    def __call__(self, q, t: float) -> np.ndarray:
        q = np.asarray(q, dtype=np.float64)
        q = q / np.linalg.norm(q, axis=-1, keepdims=True)
        if self._q is None:
            self._q, self._raw, self._t = q.copy(), q.copy(), float(t)
            self._w = np.zeros(q.shape[:-1] + (3,))
            return self._q.copy()
        dt = float(t) - self._t
        if dt <= 0:
            raise ValueError(f"times must increase (got {t} after {self._t})")
        w = quat_log(quat_mul(quat_conj(self._raw), q)) / dt  # angular velocity (rad/s), body frame
        self._w = self._w + _alpha(self.d_cutoff, dt) * (w - self._w)
        cutoff = self.min_cutoff + self.beta * np.linalg.norm(self._w, axis=-1)
        a = _alpha(cutoff, dt)
        self._q = slerp(self._q, q, a)
        self._q /= np.linalg.norm(self._q, axis=-1, keepdims=True)
        self._raw, self._t = q.copy(), float(t)
        return self._q.copy()


class PoseExpressionFilter:
    """The three filters of a head track with the module defaults (override per group with dicts).

    `f(t, rotation, translation, weights)` -> filtered (rotation 3x3, translation, weights in
    [0, 1]); `rotation` may be a 3x3 matrix or a (w, x, y, z) quaternion (returned alike).
    Call `reset()` where the track has a gap that was not bridged."""

    def __init__(self, weights=None, rotation=None, translation=None):
        self.weights = OneEuroFilter(**{**WEIGHT_DEFAULTS, **(weights or {})}, clamp=(0.0, 1.0))
        self.rotation = RotationOneEuro(**{**ROTATION_DEFAULTS, **(rotation or {})})
        self.translation = OneEuroFilter(**{**TRANSLATION_DEFAULTS, **(translation or {})})

    def reset(self):
        self.weights.reset()
        self.rotation.reset()
        self.translation.reset()

    def __call__(self, t, rotation, translation, weights):
        rotation = np.asarray(rotation, dtype=np.float64)
        as_matrix = rotation.shape[-2:] == (3, 3)
        q = self.rotation(quat_from_matrix(rotation) if as_matrix else rotation, t)
        return (matrix_from_quat(q) if as_matrix else q, self.translation(translation, t),
                self.weights(np.clip(weights, 0.0, 1.0), t))


# -- gaps --------------------------------------------------------------------------------------

@dataclass
class Bridged:
    """Result of `bridge_gaps`: `values` (T, ...) with bridged frames filled and missing ones NaN;
    `bridged` (T,) frames filled by interpolation; `missing` (T,) frames still without a value."""
    values: np.ndarray
    bridged: np.ndarray
    missing: np.ndarray


def _runs(mask):
    """(start, stop) of each run of True in a 1-D bool array."""
    d = np.diff(np.concatenate([[0], mask.astype(np.int8), [0]]))
    return list(zip(np.flatnonzero(d == 1), np.flatnonzero(d == -1)))


def bridge_gaps(values, valid, max_gap: int, kind: str = "linear") -> Bridged:
    """Fill runs of <= `max_gap` invalid frames that have valid frames on both sides.

    values (T, ...) per frame (any value at invalid frames, it is ignored); valid (T,) bool
    (a face was found). kind "linear" interpolates each channel linearly in the frame index;
    "quaternion" expects (T, 4) unit quaternions and interpolates by slerp. Frames in longer
    runs, or at the start/end without a valid frame before/after, come back NaN and `missing`."""
    values = np.array(values, dtype=np.float64, copy=True)
    valid = np.asarray(valid, dtype=bool)
    if valid.ndim != 1 or len(valid) != len(values):
        raise ValueError(f"valid must be (T,) with T={len(values)}; got {valid.shape}")
    if kind not in ("linear", "quaternion"):
        raise ValueError(f"kind must be 'linear' or 'quaternion', not {kind!r}")
    T = len(values)
    bridged = np.zeros(T, dtype=bool)
    missing = ~valid
    values[missing] = np.nan
    for a, b in _runs(~valid):
        if a == 0 or b == T or b - a > max_gap:
            continue
        u = (np.arange(a, b) - (a - 1)) / (b - (a - 1))
        v0, v1 = values[a - 1], values[b]
        if kind == "quaternion":
            values[a:b] = slerp(np.broadcast_to(v0, (b - a, 4)), np.broadcast_to(v1, (b - a, 4)), u)
        else:
            values[a:b] = v0 + (v1 - v0) * u.reshape((-1,) + (1,) * (values.ndim - 1))
        bridged[a:b] = True
        missing[a:b] = False
    return Bridged(values, bridged, missing)
