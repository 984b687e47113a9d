"""The measured figures quoted in docs/editing.md and docs/benchmarks.md ("Face-space editing").

`python -m engine edit-sheet --figures` prints them as JSON (about a minute on 2 CPU cores).
"""
from __future__ import annotations

import time

import numpy as np

from ..core.cache import forget
from ..editing.attributes import learn_attribute
from ..editing.caricature import mirror_operator, symmetrize
from ..editing.directions import MeasurementDirections, apply_measurement, measurement_directions
from ..editing.guard import bound_for_percentile
from ..editing.measure import NAMES, measurement_set
from ..editing.mixing import AREAS, mix_heads


def _cos(a, b):
    return float(a @ b / np.linalg.norm(a) / np.linalg.norm(b))


def slider_figures(model, n_heads=20, delta=5.0, seed=0) -> dict:
    t = time.perf_counter()
    MeasurementDirections(model)
    learn_s = time.perf_counter() - t
    d = measurement_directions(model)
    ms = measurement_set(model)
    heads = np.random.default_rng(seed).standard_normal((n_heads, model.n_identity))
    before = ms.of_identity(heads)
    out = {"learn_s": round(learn_s, 3), "per_measurement": {}}
    for exact in (False, True):
        worst_t = worst_o = 0.0
        for j, name in enumerate(NAMES):
            ch = ms.of_identity(apply_measurement(heads, name, delta, model, exact=exact)) - before
            et, eo = float(np.abs(ch[:, j] - delta).max()), float(np.abs(np.delete(ch, j, 1)).max())
            worst_t, worst_o = max(worst_t, et), max(worst_o, eo)
            row = out["per_measurement"].setdefault(name, {
                "mean_mm": round(float(d.mean_mm[j]), 1), "std_mm": round(float(d.std_mm[j]), 2),
                "linear_fit_rms_mm": round(float(d.fit_rms_mm[j]), 3),
                "sigma_per_mm": round(float(np.linalg.norm(d.directions[:, j])), 3)})
            row["exact" if exact else "linear"] = {"target_err_mm": et, "others_max_mm": eo}
        out["exact" if exact else "linear"] = {"target_err_max_mm": worst_t, "others_max_mm": worst_o}
    t = time.perf_counter()
    for _ in range(20):
        apply_measurement(heads[0], "nose_length", delta, model)
    out["exact_edit_one_head_ms"] = round((time.perf_counter() - t) / 20 * 1000, 2)
    return out


def attribute_figures(model, draws=100, seed=1) -> dict:
    rng = np.random.default_rng(seed)
    res = {"paper_20_generic": [], "paper_20_top10": [], "regression10_20_top10": [], "paper_2000_generic": []}
    for i in range(draws):
        wg = rng.standard_normal(model.n_identity)
        wt = np.zeros(model.n_identity)
        wt[:10] = rng.standard_normal(10)
        for key, w, n, kw in (("paper_20_generic", wg, 20, {}), ("paper_20_top10", wt, 20, {}),
                              ("regression10_20_top10", wt, 20, {"method": "regression", "components": 10}),
                              ("paper_2000_generic", wg, 2000, {})):
            if n == 2000 and i >= 10:
                continue
            A = rng.standard_normal((n, model.n_identity))
            mu = A @ w
            mu = mu + 0.05 * mu.std() * rng.standard_normal(n)
            res[key].append(_cos(learn_attribute(A, mu, "x", model, **kw).direction, w))
    return {k: {"median": round(float(np.median(v)), 3), "min": round(float(np.min(v)), 3), "draws": len(v)}
            for k, v in res.items()}


def face_space_figures(model, seed=2) -> dict:
    forget(model, "mirror_operator")
    t = time.perf_counter()
    _, _, rel = mirror_operator(model)
    mirror_s = time.perf_counter() - t
    heads = np.random.default_rng(seed).standard_normal((20, model.n_identity))

    def asym(a):
        V = model.vertices(a).astype(np.float64)
        return float(np.sqrt(((V - model.mirror(V)) ** 2).sum(-1).mean()) * model.mm_per_unit)
    before = np.array([asym(a) for a in heads])
    after = np.array([asym(symmetrize(a, 1.0, model)) for a in heads])
    return {"mirror_matrix_s": round(mirror_s, 2), "mirror_projection_rel_residual": round(rel, 4),
            "asymmetry_rms_mm_before": round(float(before.mean()), 3),
            "asymmetry_rms_mm_after_symmetry_1": round(float(after.mean()), 4),
            "bound_95": round(bound_for_percentile(95, model), 3),
            "bound_99_9": round(bound_for_percentile(99.9, model), 3)}


def mixing_figures(model, swaps=12, seed=0) -> dict:
    t = model.triangles.astype(np.int64)
    e = np.unique(np.sort(np.concatenate([t[:, [0, 1]], t[:, [1, 2]], t[:, [2, 0]]]), 1), axis=0)
    L = lambda V: np.linalg.norm(V[e[:, 0]] - V[e[:, 1]], axis=1)
    rng = np.random.default_rng(seed)
    worst, inside, rms, rms0, secs = [], 0, [], [], []
    for i in range(swaps):
        A = rng.standard_normal((2, model.n_identity))
        weights = {AREAS[i % 5]: [0, 1]}
        t0 = time.perf_counter()
        r = mix_heads(A, weights, model, default=[1, 0])
        secs.append(time.perf_counter() - t0)
        rms0.append(mix_heads(A, weights, model, default=[1, 0], regularization=0.0).projection_rms_mm)
        Ls = np.stack([L(model.vertices(a).astype(np.float64)) for a in A])
        lm = L(r.vertices)
        inside += int(Ls.min() <= lm.min() and lm.max() <= Ls.max())
        lo, hi = Ls.min(0), Ls.max(0)
        worst.append(float((np.maximum(lm - hi, 0) / hi + np.maximum(lo - lm, 0) / lo).max()))
        rms.append(r.projection_rms_mm)
    return {"swaps": swaps, "edge_range_inside": inside, "per_edge_excess_worst": round(max(worst), 3),
            "per_edge_excess_median": round(float(np.median(worst)), 3),
            "projection_rms_mm_median": round(float(np.median(rms)), 3),
            "projection_rms_mm_plain_lsq_median": round(float(np.median(rms0)), 3),
            "mix_s_median": round(float(np.median(secs)), 3)}


def editing_figures(model) -> dict:
    return {"sliders": slider_figures(model), "attributes": attribute_figures(model),
            "face_space": face_space_figures(model), "mixing": mixing_figures(model)}
