"""Measurement sliders: directions in identity space that move one measurement by 1 mm.

Learning (once per model, ~0.1 s, cached): sample N identities ~ N(0, I), measure them, and
fit measurements ~ m0 + J alpha by least squares (J: M x K, the population-average Jacobian).
The slider direction of measurement i is the minimum-norm solution of J d = e_i, i.e. the
columns of pinv(J): moving alpha by delta * d_i changes measurement i by delta mm and every
other measurement by 0 to first order, with the smallest (most probable) change of identity.

Because measurements are distances (mildly nonlinear in alpha), `edit_measurements(...,
exact=True)` adds Newton corrections with the Jacobian at the current head so the requested
changes hold exactly and the other measurements stay put.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..core.cache import cached
from .measure import MEASUREMENTS, NAMES, measurement_set

N_SAMPLES = 4000
SEED = 7


@dataclass(frozen=True)
class SliderInfo:
    """What the add-on needs for one measurement slider (values in mm)."""
    name: str
    label: str
    description: str
    mean_mm: float     # population mean of the measurement
    std_mm: float      # population standard deviation
    soft_min: float    # suggested slider range for the change, mm (about -3 std)
    soft_max: float


class MeasurementDirections:
    def __init__(self, model, n_samples: int = N_SAMPLES, seed: int = SEED):
        self.model = model
        self.ms = measurement_set(model)
        K = model.n_identity
        alpha = np.random.default_rng(seed).standard_normal((n_samples, K)) * model.identity_std
        values = self.ms.of_identity(alpha)                       # (N, M)
        X = np.concatenate([np.ones((n_samples, 1)), alpha], 1)
        coef, *_ = np.linalg.lstsq(X, values, rcond=None)
        self.offset = coef[0]                                     # (M,)
        self.jacobian = coef[1:].T                                # (M, K) mm per coefficient unit
        resid = values - X @ coef
        self.fit_rms_mm = np.sqrt((resid ** 2).mean(0))           # nonlinearity of each measurement
        self.directions = np.linalg.pinv(self.jacobian)           # (K, M): column i moves m_i by 1 mm
        self.mean_mm = values.mean(0)
        self.std_mm = values.std(0)

    def direction(self, name: str) -> np.ndarray:
        return self.directions[:, _index(name)].copy()

    def sliders(self) -> list:
        out = []
        for j, m in enumerate(MEASUREMENTS):
            r = float(np.ceil(3 * self.std_mm[j]))
            out.append(SliderInfo(m.name, m.label, m.description, float(self.mean_mm[j]),
                                  float(self.std_mm[j]), -r, r))
        return out


def _index(name: str) -> int:
    if name not in NAMES:
        raise KeyError(f"unknown measurement {name!r}; known: {', '.join(NAMES)}")
    return NAMES.index(name)


def measurement_directions(model) -> MeasurementDirections:
    """The model's slider directions (computed once per model object)."""
    return cached(model, "measurement_directions", lambda: MeasurementDirections(model))


def local_jacobian(identity, model, h: float = 1e-3) -> np.ndarray:
    """Exact-to-O(h^2) Jacobian (..., M, K) of the measurements at identity (..., K)."""
    ms = measurement_set(model)
    ids = ms.vertex_ids
    Bs = model.identity_basis[:, ids].astype(np.float64)          # (K, n, 3)
    P = ms.points_of(identity)[..., None, :, :]                   # (..., 1, n, 3)
    plus = ms.measure_points(P + h * Bs)                          # (..., K, M)
    minus = ms.measure_points(P - h * Bs)
    return np.swapaxes((plus - minus) / (2 * h), -1, -2)


def edit_measurements(identity, deltas: dict, model, exact: bool = True,
                      iterations: int = 6, tol_mm: float = 1e-4) -> np.ndarray:
    """Identity (..., K) with each named measurement changed by deltas[name] mm.

    Measurements not named are held at their current values. exact=False is the pure linear
    slider (alpha + sum delta_i d_i, what a live UI can evaluate with one multiply-add);
    exact=True then applies Newton steps (minimum-norm, Jacobian at the current head).
    """
    dirs = measurement_directions(model)
    alpha0 = np.asarray(identity, dtype=np.float64)
    delta = np.zeros(len(NAMES))
    for name, v in deltas.items():
        delta[_index(name)] = float(v)
    alpha = alpha0 + dirs.directions @ delta
    if not exact:
        return alpha
    ms = measurement_set(model)
    target = ms.of_identity(alpha0) + delta
    for _ in range(iterations):
        r = target - ms.of_identity(alpha)
        if np.abs(r).max() < tol_mm:
            break
        J = local_jacobian(alpha, model)
        alpha = alpha + (np.linalg.pinv(J) @ r[..., None])[..., 0]
    return alpha


def apply_measurement(identity, name: str, delta_mm: float, model, exact: bool = True) -> np.ndarray:
    """Identity (..., K) with measurement `name` changed by delta_mm and the others held."""
    return edit_measurements(identity, {name: delta_mm}, model, exact=exact)
