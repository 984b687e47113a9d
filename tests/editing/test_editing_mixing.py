"""Mixing heads region by region on the real ICT model."""
import numpy as np
import pytest

from engine.editing.mixing import AREAS, area_masks, mix_heads, vertex_weights


@pytest.fixture(scope="module")
def trio():
    return np.random.default_rng(11).standard_normal((3, 100))


def _edges(model):
    t = model.triangles.astype(np.int64)
    e = np.concatenate([t[:, [0, 1]], t[:, [1, 2]], t[:, [2, 0]]])
    return np.unique(np.sort(e, 1), axis=0)


def _normals(model, V):
    t = model.triangles
    n = np.cross(V[t[:, 1]] - V[t[:, 0]], V[t[:, 2]] - V[t[:, 0]])
    return n / np.maximum(np.linalg.norm(n, axis=1, keepdims=True), 1e-12)


def test_masks_partition_the_head(ict_model):
    M = area_masks(ict_model)
    assert M.shape == (ict_model.n_vertices, len(AREAS))
    assert (M >= 0).all() and (M <= 1).all()
    np.testing.assert_allclose(M.sum(1), 1.0, atol=1e-12)
    assert (M[ict_model.region_vertices("teeth"), AREAS.index("mouth")] == 1).all()
    assert (M[ict_model.region_vertices("eyeballs"), AREAS.index("eyes")] == 1).all()
    lm = ict_model.landmarks68
    # the features themselves are (almost) wholly in their area (measured min 0.93: inner brows)
    for ids, area in ((lm[27:36], "nose"), (lm[48:68], "mouth"), (lm[36:48], "eyes"),
                      (lm[17:27], "eyes"), (lm[6:11], "chin_jaw")):
        assert M[ids, AREAS.index(area)].min() > 0.9, area
    # every area really covers part of the face
    face = ict_model.region_vertices("face")
    assert (M[face].max(0) == 1).all()


def test_all_weight_on_one_head_returns_it_exactly(ict_model, trio):
    expr = np.zeros((3, ict_model.n_expression))
    expr[1, ict_model.expression_names.index("jawOpen")] = 0.6
    expr[2, ict_model.expression_names.index("mouthSmile_L")] = 0.8
    for j in range(3):
        onehot = np.eye(3)[j]
        r = mix_heads(trio, {a: onehot for a in AREAS}, ict_model, expressions=expr)
        want = ict_model.vertices(trio[j], expr[j]).astype(np.float64)
        np.testing.assert_array_equal(r.vertices, want)
        np.testing.assert_allclose(r.identity, trio[j], atol=1e-6)
        np.testing.assert_allclose(r.expression, expr[j], atol=1e-5)


@pytest.mark.parametrize("area", AREAS[:5])
def test_region_swap_has_no_cracks(ict_model, trio, area):
    """Area from head B, rest from head A. Edge lengths stay inside the inputs' range; no
    triangles turned over; per edge the length leaves [min, max] of the inputs by < 125 % (measured
    worst over 12 random N(0,1) swaps: 108 %, at the narrow nose (1 cm) and lip/chin borders)."""
    A = trio[:2]
    r = mix_heads(A, {area: [0, 1]}, ict_model, default=[1, 0])
    e = _edges(ict_model)
    L = lambda V: np.linalg.norm(V[e[:, 0]] - V[e[:, 1]], axis=1)
    heads = [ict_model.vertices(a).astype(np.float64) for a in A]
    Ls = np.stack([L(V) for V in heads])
    lm = L(r.vertices)
    assert Ls.min() <= lm.min() and lm.max() <= Ls.max()
    lo, hi = Ls.min(0), Ls.max(0)
    excess = np.maximum(lm - hi, 0) / hi + np.maximum(lo - lm, 0) / lo
    assert excess.max() < 1.25
    skin = np.isin(ict_model.triangles[:, 0], ict_model.region_vertices("face"))
    n = _normals(ict_model, r.vertices)[skin]
    # no triangle turns over: each agrees with at least one input (the inputs themselves
    # disagree on ~30 thin eyelid-crease triangles)
    agree = np.maximum(*[(n * _normals(ict_model, V)[skin]).sum(1) for V in heads])
    assert (agree > 0).all()


def test_area_comes_from_its_donor(ict_model, trio):
    A = trio[:2]
    r = mix_heads(A, {"mouth": [0, 1]}, ict_model, default=[1, 0])
    VA, VB = (ict_model.vertices(a).astype(np.float64) for a in A)
    mouth = ict_model.landmarks68[48:68]
    np.testing.assert_array_equal(r.vertices[mouth], VB[mouth])
    teeth = ict_model.region_vertices("teeth")
    np.testing.assert_array_equal(r.vertices[teeth], VB[teeth])
    back = np.where(ict_model.mean[:, 2] < -5)[0]
    np.testing.assert_array_equal(r.vertices[back], VA[back])


def test_projection_back_into_face_space(ict_model, trio):
    r = mix_heads(trio, {"eyes": [1, 0, 0], "nose": [0, 1, 0], "mouth": [0, 0, 1]}, ict_model)
    # region mixes are not exactly in the 100-D face space: measured 0.2-1.5 mm RMS
    assert r.projection_rms_mm < 3.0
    fitted = ict_model.vertices(r.identity).astype(np.float64)
    np.testing.assert_allclose(np.sqrt(((fitted - r.vertices) ** 2).sum(-1).mean()) * 10, r.projection_rms_mm, rtol=1e-6)
    # the regularised projection stays nearer face space than plain least squares
    plain = mix_heads(trio, {"eyes": [1, 0, 0], "nose": [0, 1, 0], "mouth": [0, 0, 1]}, ict_model, regularization=0.0)
    assert np.linalg.norm(r.identity) < np.linalg.norm(plain.identity)
    assert plain.projection_rms_mm <= r.projection_rms_mm
    # same expression on every head: it survives the mix (identity and expression kept apart)
    expr = np.zeros(ict_model.n_expression)
    expr[ict_model.expression_names.index("jawOpen")] = 0.5
    r2 = mix_heads(trio, {"nose": [0, 1, 0]}, ict_model, expressions=np.tile(expr, (3, 1)), default=[1, 0, 0])
    np.testing.assert_allclose(r2.expression, expr, atol=1e-4)


def test_vertex_weights_are_smooth_and_normalised(ict_model):
    w = vertex_weights({"nose": [0, 1]}, 2, ict_model, default=[1, 0])
    np.testing.assert_allclose(w.sum(1), 1.0, atol=1e-12)
    e = _edges(ict_model)
    face = np.isin(e[:, 0], ict_model.region_vertices("face"))
    assert np.abs(w[e[face, 0], 1] - w[e[face, 1], 1]).max() < 0.75   # nose border 1 cm: measured 0.61


def test_textures_mix_with_the_shape(ict_model, trio):
    pytest.importorskip("engine.texture")
    rng = np.random.default_rng(0)
    S = 256
    texA = rng.integers(0, 256, (S, S, 3), dtype=np.uint8)
    texB = rng.integers(0, 256, (S, S, 3), dtype=np.uint8)
    r = mix_heads(trio[:2], {a: [1, 0] for a in AREAS}, ict_model, textures=[texA, texB])
    np.testing.assert_array_equal(r.texture, texA)
    red = np.zeros((S, S, 3), np.uint8)
    red[..., 0] = 255
    blue = np.zeros((S, S, 3), np.uint8)
    blue[..., 2] = 255
    r = mix_heads(trio[:2], {"mouth": [0, 1]}, ict_model, default=[1, 0], textures=[red, blue])
    share = r.texture[..., 2].astype(float) / 255              # how much of B each texel took
    assert 0.0 < share.mean() < 0.5
    assert share.max() == 1.0 and share.min() == 0.0
    np.testing.assert_array_equal(r.texture.astype(int).sum(-1), 255)   # a convex blend per texel
