"""Anthropometric measurements on the model mesh, in millimetres.

Every measurement is defined on fixed vertices (vertex correspondence holds across all heads
of the model): 68-point landmarks where they sit on the anatomical point, and a few points
found once on the mean shape (nasion, pronasale, pogonion, ...). Model space: +y up, +z out
of the face, +x the subject's left, centimetres.

`measure(vertices, model)` works on (..., V, 3) batches; `measure_points` works on the small
(..., P, 3) array of the points alone, which is what the direction learning uses.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..core.cache import cached


@dataclass(frozen=True)
class Measurement:
    name: str
    label: str
    description: str
    kind: str      # "dist": |a-b|; "dist2": mean of |a-b| and |c-d|; "dz": z(b) - mean z(a...)
    points: tuple  # names of the points (see _points)


MEASUREMENTS = (
    Measurement("face_width", "Face width", "zygion to zygion: widest face point at cheekbone level", "dist", ("zygion_r", "zygion_l")),
    Measurement("jaw_width", "Jaw width", "jaw angle to jaw angle (landmarks 4 and 12)", "dist", ("gonion_r", "gonion_l")),
    Measurement("face_height", "Face height", "nasion to menton (landmark 8)", "dist", ("nasion", "menton")),
    Measurement("forehead_height", "Forehead height", "glabella to the top of the face area on the midline (trichion)", "dist", ("glabella", "trichion")),
    Measurement("nose_length", "Nose length", "nasion to subnasale (landmark 33)", "dist", ("nasion", "subnasale")),
    Measurement("nose_width", "Nose width", "alare to alare: widest points of the nose wings", "dist", ("alare_r", "alare_l")),
    Measurement("nose_projection", "Nose projection", "depth of the nose tip (pronasale) in front of the nose wings", "dz", ("alare_r", "alare_l", "pronasale")),
    Measurement("eye_spacing", "Eye spacing", "inner eye corner to inner eye corner (landmarks 39 and 42)", "dist", ("endocanthion_r", "endocanthion_l")),
    Measurement("eye_size", "Eye size", "eye opening length, outer to inner corner, mean of both eyes", "dist2", ("exocanthion_r", "endocanthion_r", "exocanthion_l", "endocanthion_l")),
    Measurement("mouth_width", "Mouth width", "mouth corner to mouth corner (landmarks 48 and 54)", "dist", ("cheilion_r", "cheilion_l")),
    Measurement("upper_lip", "Upper lip fullness", "upper lip red height: labrale superius (51) to upper stomion (62)", "dist", ("labrale_superius", "stomion_upper")),
    Measurement("lower_lip", "Lower lip fullness", "lower lip red height: lower stomion (66) to labrale inferius (57)", "dist", ("stomion_lower", "labrale_inferius")),
    Measurement("chin_height", "Chin height", "sublabiale (deepest point below the lip) to menton", "dist", ("sublabiale", "menton")),
    Measurement("chin_projection", "Chin projection", "depth of the pogonion in front of the subnasale (negative: behind)", "dz", ("subnasale", "pogonion")),
)
NAMES = tuple(m.name for m in MEASUREMENTS)


def _find_points(model) -> dict:
    """Vertex id of every named point, found on the mean shape."""
    V = model.mean.astype(np.float64)
    lm = np.asarray(model.landmarks68)
    L = V[lm]
    face = model.region_vertices("face")
    F = V[face]
    mid = face[np.abs(F[:, 0]) < 1e-3]          # vertices on the symmetry plane
    sym = np.asarray(model.symmetry)

    def midline(y_lo, y_hi, key):
        s = mid[(V[mid, 1] >= min(y_lo, y_hi)) & (V[mid, 1] <= max(y_lo, y_hi))]
        return int(s[key(V[s])])

    p = {
        "gonion_r": lm[4], "gonion_l": lm[12], "menton": lm[8], "subnasale": lm[33],
        "endocanthion_r": lm[39], "endocanthion_l": lm[42],
        "exocanthion_r": lm[36], "exocanthion_l": lm[45],
        "cheilion_r": lm[48], "cheilion_l": lm[54],
        "labrale_superius": lm[51], "stomion_upper": lm[62],
        "stomion_lower": lm[66], "labrale_inferius": lm[57],
    }
    brow_y = L[[19, 24], 1].mean()
    # nasion: deepest midline point between the eyes; glabella: most forward between the brows
    p["nasion"] = midline(L[27, 1], L[21, 1], lambda q: np.argmin(q[:, 2]))
    p["glabella"] = midline(L[27, 1] + 1.0, brow_y + 0.5, lambda q: np.argmax(q[:, 2]))
    p["trichion"] = int(mid[np.argmax(V[mid, 1])])
    p["pronasale"] = midline(L[33, 1], L[27, 1], lambda q: np.argmax(q[:, 2]))
    # sublabiale: deepest midline point under the lower lip; pogonion: most forward chin point below it
    p["sublabiale"] = midline(L[8, 1] + 0.4 * (L[57, 1] - L[8, 1]), L[57, 1] - 0.2, lambda q: np.argmin(q[:, 2]))
    p["pogonion"] = midline(L[8, 1], V[p["sublabiale"], 1], lambda q: np.argmax(q[:, 2]))
    # zygion: widest face point (in front of the ear) at the level between landmarks 0 and 1
    y_z = L[[0, 1], 1].mean()
    s = face[(np.abs(F[:, 1] - y_z) < 0.25) & (F[:, 2] > L[0, 2]) & (F[:, 0] > 0)]
    p["zygion_l"] = int(s[np.argmax(V[s, 0])])
    # alare: widest nose-wing point, in front of the cheek, between nose tip and nostrils
    y_a = (L[31, 1] + L[30, 1]) / 2
    s = face[(np.abs(F[:, 1] - y_a) < 0.4) & (F[:, 2] > L[31, 2] - 0.5) & (F[:, 0] > 0) & (F[:, 0] < 3)]
    p["alare_l"] = int(s[np.argmax(V[s, 0])])
    p["zygion_r"] = int(sym[p["zygion_l"]])
    p["alare_r"] = int(sym[p["alare_l"]])
    return {k: int(v) for k, v in p.items()}


class MeasurementSet:
    """The measurements resolved on one model: point ids and a vectorised evaluator."""

    def __init__(self, model):
        self.model = model
        self.points = _find_points(model)
        self.point_names = tuple(sorted(self.points))
        self.vertex_ids = np.array([self.points[n] for n in self.point_names], dtype=np.int64)
        col = {n: i for i, n in enumerate(self.point_names)}
        self._cols = [tuple(col[p] for p in m.points) for m in MEASUREMENTS]
        self.mm = model.mm_per_unit

    @property
    def names(self):
        return NAMES

    def measure_points(self, P) -> np.ndarray:
        """P (..., n_points, 3) in model units, columns in `point_names` order -> (..., M) mm."""
        P = np.asarray(P, dtype=np.float64)
        out = np.empty(P.shape[:-2] + (len(MEASUREMENTS),))
        d = lambda a, b: np.linalg.norm(P[..., a, :] - P[..., b, :], axis=-1)
        for j, (m, c) in enumerate(zip(MEASUREMENTS, self._cols)):
            if m.kind == "dist":
                v = d(*c)
            elif m.kind == "dist2":
                v = 0.5 * (d(c[0], c[1]) + d(c[2], c[3]))
            else:  # "dz": last point's depth in front of the mean depth of the others
                v = P[..., c[-1], 2] - P[..., list(c[:-1]), 2].mean(-1)
            out[..., j] = v * self.mm
        return out

    def measure(self, vertices) -> np.ndarray:
        """(..., V, 3) vertices -> (..., M) measurements in mm."""
        return self.measure_points(np.asarray(vertices)[..., self.vertex_ids, :])

    def points_of(self, identity, expression=None) -> np.ndarray:
        """The measured points only, for identity (..., K): cheap (a few dozen vertices)."""
        m = self.model
        ids = self.vertex_ids
        P = m.mean[ids].astype(np.float64) + np.tensordot(
            np.asarray(identity, np.float64), m.identity_basis[:, ids].astype(np.float64), axes=([-1], [0]))
        if expression is not None:
            P = P + np.tensordot(np.asarray(expression, np.float64),
                                 m.expression_basis[:, ids].astype(np.float64), axes=([-1], [0]))
        return P

    def of_identity(self, identity, expression=None) -> np.ndarray:
        """Measurements (..., M) in mm of heads given by identity (..., K) coefficients."""
        return self.measure_points(self.points_of(identity, expression))


def measurement_set(model) -> MeasurementSet:
    return cached(model, "measurement_set", lambda: MeasurementSet(model))


def measure(vertices, model) -> dict:
    """Named measurements in mm of (..., V, 3) vertices: {name: (...) array}."""
    values = measurement_set(model).measure(vertices)
    return {n: values[..., j] for j, n in enumerate(NAMES)}
