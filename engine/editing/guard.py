"""Face-space guard: how plausible is a head, and keeping edits inside a bound.

Identity coefficients are N(0, diag(identity_std^2)) under the model's prior, so the
Mahalanobis norm r = ||alpha / std|| of a random head follows the chi distribution with K
degrees of freedom (K = 100: median 9.97). The level is read from its CDF.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

# chi CDF below which a head is "typical", then "unusual"; above: "outside" face space
TYPICAL_BELOW = 0.95
UNUSUAL_BELOW = 0.999


def chi_cdf(r: float, dof: int) -> float:
    """P(chi_dof <= r) = regularised lower gamma P(dof/2, r^2/2), by its power series."""
    if r <= 0:
        return 0.0
    a, x = dof / 2.0, r * r / 2.0
    if x > a + 40.0 * math.sqrt(a) + 50.0:
        return 1.0
    term = total = 1.0 / a
    n = 0
    while term > total * 1e-15 and n < 5000:
        n += 1
        term *= x / (a + n)
        total += term
    return min(1.0, math.exp(a * math.log(x) - x - math.lgamma(a)) * total)


def chi_quantile(p: float, dof: int) -> float:
    """Inverse of chi_cdf by bisection."""
    lo, hi = 0.0, math.sqrt(dof) + 20.0
    for _ in range(100):
        mid = 0.5 * (lo + hi)
        lo, hi = (mid, hi) if chi_cdf(mid, dof) < p else (lo, mid)
    return 0.5 * (lo + hi)


@dataclass(frozen=True)
class GuardReading:
    norm: float         # Mahalanobis norm of the identity
    percentile: float   # chi CDF in percent: share of random heads closer to the mean
    level: str          # "typical", "unusual" or "outside"


def identity_norm(identity, model) -> np.ndarray:
    """Mahalanobis norm (...) of identity (..., K)."""
    return np.linalg.norm(np.asarray(identity, np.float64) / model.identity_std, axis=-1)


def face_space_level(identity, model) -> GuardReading:
    """Guard indicator for one head."""
    r = float(identity_norm(identity, model))
    p = chi_cdf(r, model.n_identity)
    level = "typical" if p < TYPICAL_BELOW else "unusual" if p < UNUSUAL_BELOW else "outside"
    return GuardReading(r, 100.0 * p, level)


def bound_for_percentile(percentile: float, model) -> float:
    """Mahalanobis radius that contains `percentile` % of random heads."""
    return chi_quantile(percentile / 100.0, model.n_identity)


def clamp_to_bound(identity, bound: float, model=None) -> np.ndarray:
    """Scale identities (..., K) whose Mahalanobis norm exceeds `bound` back onto it."""
    a = np.asarray(identity, dtype=np.float64)
    std = np.ones(a.shape[-1]) if model is None else np.asarray(model.identity_std, np.float64)
    r = np.linalg.norm(a / std, axis=-1, keepdims=True)
    return a * np.minimum(1.0, bound / np.maximum(r, 1e-300))
