"""Caricature, symmetry and the face-space guard on the real ICT model."""
import math

import numpy as np

from engine.editing.caricature import caricature, mirror_operator, symmetrize
from engine.editing.guard import bound_for_percentile, chi_cdf, clamp_to_bound, face_space_level, identity_norm


def _asymmetry_mm(model, identity):
    V = model.vertices(identity).astype(np.float64)
    return model.mm_per_unit * np.sqrt(((V - model.mirror(V)) ** 2).sum(-1).mean())


def test_caricature_scales_every_vertex_deviation(ict_model):
    rng = np.random.default_rng(0)
    a = rng.standard_normal((3, 100))
    expr = np.zeros(53)
    mean = ict_model.vertices(None, expr).astype(np.float64)
    dev = ict_model.vertices(a, expr).astype(np.float64) - mean
    dev15 = ict_model.vertices(caricature(a, 1.5), expr).astype(np.float64) - mean
    # float32 mesh evaluation: measured worst 2e-6 cm against deviations up to ~5 cm
    np.testing.assert_allclose(dev15, 1.5 * dev, atol=1e-4)
    np.testing.assert_allclose(ict_model.vertices(caricature(a, 0.0)), ict_model.mean[None].repeat(3, 0), atol=1e-6)


def test_mirror_matrix_maps_the_basis_onto_its_mirror(ict_model):
    M, c, rel = mirror_operator(ict_model)
    assert rel < 0.01                              # measured 0.0039: the basis is closed under mirroring
    # mirroring twice is (nearly) the identity
    a = np.random.default_rng(1).standard_normal(100)
    assert np.linalg.norm(M @ (M @ a + c) + c - a) < 0.05 * np.linalg.norm(a)


def test_symmetry_slider(ict_model):
    rng = np.random.default_rng(2)
    for a in rng.standard_normal((4, 100)):
        before = _asymmetry_mm(ict_model, a)
        full = _asymmetry_mm(ict_model, symmetrize(a, 1.0, ict_model))
        half = _asymmetry_mm(ict_model, symmetrize(a, 0.5, ict_model))
        assert full < 0.05 * before                # measured ~1.5 % of the original asymmetry
        assert abs(half - 0.5 * before) < 0.05 * before
        np.testing.assert_array_equal(symmetrize(a, 0.0, ict_model), a)


def test_chi_cdf_matches_known_values():
    # chi^2 quantiles for 100 dof (tables): 0.5 -> 99.334, 0.95 -> 124.342, 0.999 -> 149.449
    for q, p in ((99.334, 0.5), (124.342, 0.95), (149.449, 0.999)):
        assert abs(chi_cdf(math.sqrt(q), 100) - p) < 1e-4
    assert abs(chi_cdf(1.0, 1) - 0.682689) < 1e-5      # |N(0,1)| < 1


def test_guard_levels_and_clamp(ict_model):
    rng = np.random.default_rng(3)
    heads = rng.standard_normal((2000, 100))
    levels = [face_space_level(a, ict_model).level for a in heads[:400]]
    assert 0.9 < levels.count("typical") / 400 <= 1.0
    assert face_space_level(heads[0] * 2.0, ict_model).level == "outside"
    assert face_space_level(np.zeros(100), ict_model).level == "typical"
    bound = bound_for_percentile(95, ict_model)
    assert abs((identity_norm(heads, ict_model) < bound).mean() - 0.95) < 0.02
    wild = caricature(heads[:5], 2.0)
    clamped = clamp_to_bound(wild, bound, ict_model)
    np.testing.assert_allclose(identity_norm(clamped, ict_model), bound, rtol=1e-12)
    inside = heads[:5] * 0.5
    np.testing.assert_array_equal(clamp_to_bound(inside, bound, ict_model), inside)
