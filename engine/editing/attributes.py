"""Attributes learned from examples (Blanz & Vetter 1999, section 4).

Given heads alpha_i rated mu_i for some attribute (fullness, masculinity, ...), the paper's
direction is the rating-weighted deviation from the average:

    delta_alpha = sum_i (mu_i - mean(mu)) (alpha_i - mean(alpha))            method="paper"

With few examples the examples' own covariance C distorts that sum (it is N C w for a
linear attribute w). method="regression" removes it: delta_alpha = C^+ sum_i(...), i.e. least
squares of the ratings on the coefficients, optionally restricted to the leading
`components` identity components (a prior that the attribute lives there). See
docs/editing.md for how many examples each needs.

An Attribute stores a unit direction and `scale` (coefficient distance per rating unit), so
`attr.apply(alpha, +1)` moves a head by one rating unit. Files are small versioned JSON.
"""
from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..core.errors import AttributeFileError, AttributeModelMismatchError, AttributeVersionError

FORMAT_NAME = "facespace-attribute"
FORMAT_VERSION = 1
METHODS = ("paper", "regression")


@dataclass
class Attribute:
    name: str
    model_id: str
    direction: np.ndarray          # (K,) unit vector in identity space (std-normalised units)
    scale: float                   # identity distance per rating unit along `direction`
    origin: np.ndarray             # (K,) average identity of the examples
    rating_mean: float             # average rating of the examples
    method: str = "paper"
    components: int | None = None
    n_examples: int = 0
    meta: dict = field(default_factory=dict)

    def apply(self, identity, amount: float, identity_std=None) -> np.ndarray:
        """identity (..., K) moved by `amount` rating units along the attribute."""
        step = amount * self.scale * self.direction
        if identity_std is not None:
            step = step * np.asarray(identity_std)
        return np.asarray(identity, dtype=np.float64) + step

    def rating(self, identity, identity_std=None) -> np.ndarray:
        """Predicted rating (...) of heads, from their position along the direction."""
        a = np.asarray(identity, dtype=np.float64)
        if identity_std is not None:
            a = a / np.asarray(identity_std)
        return self.rating_mean + (a - self.origin) @ self.direction / self.scale

    # ---- file -------------------------------------------------------------------------
    def to_json(self) -> dict:
        return {
            "format": FORMAT_NAME, "format_version": FORMAT_VERSION, "name": self.name,
            "model_id": self.model_id, "n_identity": int(self.direction.size),
            "direction": [float(x) for x in self.direction], "scale": float(self.scale),
            "origin": [float(x) for x in self.origin], "rating_mean": float(self.rating_mean),
            "method": self.method, "components": self.components,
            "n_examples": int(self.n_examples), "meta": self.meta,
        }

    def save(self, path) -> Path:
        path = Path(path)
        path.write_text(json.dumps(self.to_json(), indent=1))
        return path


def learn_attribute(identities, ratings, name: str, model, method: str = "paper",
                    components: int | None = None) -> Attribute:
    """Learn an attribute slider from rated heads: identities (N, K), ratings (N,)."""
    if method not in METHODS:
        raise ValueError(f"method must be one of {METHODS}")
    if not name or not str(name).strip():
        raise ValueError("an attribute needs a name")
    std = np.asarray(model.identity_std, dtype=np.float64)
    A = np.asarray(identities, dtype=np.float64) / std          # Mahalanobis (whitened) units
    mu = np.asarray(ratings, dtype=np.float64).ravel()
    if A.ndim != 2 or A.shape[0] != mu.size or A.shape[1] != model.n_identity:
        raise ValueError(f"need identities (N, {model.n_identity}) and N ratings")
    if mu.size < 3 or np.ptp(mu) == 0:
        raise ValueError("need at least 3 examples with different ratings")
    K = A.shape[1]
    k = K if components is None else int(np.clip(components, 1, K))
    origin = A.mean(0)
    Ac, mc = A[:, :k] - origin[:k], mu - mu.mean()
    w = np.zeros(K)
    if method == "paper":
        w[:k] = Ac.T @ mc
    else:
        w[:k] = np.linalg.lstsq(Ac, mc, rcond=None)[0]
    norm = np.linalg.norm(w)
    if norm == 0:
        raise ValueError("the ratings do not vary with the heads")
    u = w / norm
    t = Ac @ u[:k]                                                 # example positions along u
    slope = float(t @ mc / (t @ t))                                # rating units per unit distance
    return Attribute(str(name).strip(), model.id, u, 1.0 / slope, origin, float(mu.mean()),
                     method, components, int(mu.size))


def load_attribute(path, model) -> Attribute:
    """Read an attribute file for `model`; typed errors for foreign or damaged files."""
    path = Path(path)
    try:
        d = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise AttributeFileError(f"{path.name} is not a readable attribute slider file ({exc}).") from exc
    if not isinstance(d, dict) or d.get("format") != FORMAT_NAME:
        raise AttributeFileError(f"{path.name} is not a FaceSpace attribute slider file.")
    if d.get("format_version") != FORMAT_VERSION:
        raise AttributeVersionError(
            f"{path.name} is attribute format v{d.get('format_version')}; this FaceSpace reads "
            f"v{FORMAT_VERSION}. Learn the slider again or update FaceSpace.")
    if d.get("model_id") != model.id:
        raise AttributeModelMismatchError(
            f"The slider {d.get('name')!r} was learned on face model {d.get('model_id')!r}, "
            f"but the installed model is {model.id!r}; learn it again on this model.")
    try:
        direction = np.asarray(d["direction"], dtype=np.float64)
        origin = np.asarray(d["origin"], dtype=np.float64)
        scale, rmean = float(d["scale"]), float(d["rating_mean"])
        attr = Attribute(str(d["name"]), d["model_id"], direction, scale, origin, rmean,
                         str(d.get("method", "paper")), d.get("components"),
                         int(d.get("n_examples", 0)), dict(d.get("meta") or {}))
    except (KeyError, TypeError, ValueError) as exc:
        raise AttributeFileError(f"{path.name} is missing or has bad fields ({exc}).") from exc
    ok = (direction.shape == (model.n_identity,) and origin.shape == (model.n_identity,)
          and np.isfinite(direction).all() and np.isfinite(origin).all()
          and math.isfinite(scale) and scale != 0 and math.isfinite(rmean))
    if not ok:
        raise AttributeFileError(f"{path.name} has invalid numbers for a {model.n_identity}-component model.")
    return attr
