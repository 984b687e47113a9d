"""All of a head's editing sliders applied in one defined order (what the add-on evaluates
live from its stored base identity and slider values).

Order: symmetry -> caricature -> learned attributes -> measurement sliders (exact, so the mm
values hold on the final head) -> face-space guard (if a bound is set it wins, and may undo
part of the other edits; `EditResult.clamped` says so).
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field

import numpy as np

from .caricature import caricature, symmetrize
from .directions import edit_measurements
from .guard import GuardReading, clamp_to_bound, face_space_level, identity_norm
from .measure import NAMES


@dataclass
class EditState:
    """Slider values; JSON-friendly (`to_dict` / `from_dict`) for storing on a head."""
    measurements: dict = field(default_factory=dict)   # name -> change in mm
    attributes: dict = field(default_factory=dict)     # attribute name -> amount (rating units)
    caricature: float = 1.0                            # 1 = unchanged
    symmetry: float = 0.0                              # 0 = unchanged, 1 = symmetric
    bound: float | None = None                         # Mahalanobis bound, None = no guard
    exact: bool = True                                 # Newton-corrected measurement sliders

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> "EditState":
        known = {k: d[k] for k in cls.__dataclass_fields__ if k in d}
        state = cls(**known)
        unknown = set(state.measurements) - set(NAMES)
        if unknown:
            raise KeyError(f"unknown measurement sliders {sorted(unknown)}")
        return state


@dataclass
class EditResult:
    identity: np.ndarray
    guard: GuardReading
    clamped: bool


def apply_edits(base_identity, state: EditState, model, attributes=None) -> EditResult:
    """Edited identity (K,) of a head. attributes: {name: Attribute} for state.attributes."""
    a = np.asarray(base_identity, dtype=np.float64)
    if state.symmetry:
        a = symmetrize(a, state.symmetry, model)
    if state.caricature != 1.0:
        a = caricature(a, state.caricature)
    for name, amount in state.attributes.items():
        if amount:
            if not attributes or name not in attributes:
                raise KeyError(f"attribute slider {name!r} is not loaded")
            a = attributes[name].apply(a, amount, model.identity_std)
    deltas = {k: v for k, v in state.measurements.items() if v}
    if deltas:
        a = edit_measurements(a, deltas, model, exact=state.exact)
    clamped = False
    if state.bound is not None and identity_norm(a, model) > state.bound:
        a, clamped = clamp_to_bound(a, state.bound, model), True
    return EditResult(a, face_space_level(a, model), clamped)
