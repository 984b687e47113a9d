"""The compact model reproduces the upstream ICT-FaceKit OBJ files and keeps their structure."""
import io
import zipfile

import numpy as np
import pytest

from engine.core.errors import ModelCorruptError, ModelNotInstalledError
from engine.model import MorphableModel, checksum_path
from engine.model.obj_io import read_obj, read_positions

# Upstream README "Face Model Topology": vertex and polygon counts per region.
README_COUNTS = {
    "face": (9409, 9230), "head_and_neck": (1839, 1914), "mouth_socket": (2046, 2082),
    "eye_socket_left": (384, 404), "eye_socket_right": (384, 404), "gums_and_tongue": (2977, 2972),
    "teeth": (4412, 4490), "eyeball_left": (1570, 1598), "eyeball_right": (1570, 1598),
    "lacrimal_fluid_left": (204, 163), "lacrimal_fluid_right": (204, 163),
    "eye_blend_left": (24, 15), "eye_blend_right": (24, 15),
    "eye_occlusion_left": (152, 128), "eye_occlusion_right": (152, 128),
    "eyelashes_left": (684, 540), "eyelashes_right": (684, 540),
}
# iBUG 68: index of each point's mirror partner.
IBUG_MIRROR = (list(range(16, -1, -1)) + list(range(26, 16, -1)) + [27, 28, 29, 30] + [35, 34, 33, 32, 31]
               + [45, 44, 43, 42, 47, 46, 39, 38, 37, 36, 41, 40]
               + [54, 53, 52, 51, 50, 49, 48, 59, 58, 57, 56, 55, 64, 63, 62, 61, 60, 67, 66, 65])


def test_zero_coefficients_reproduce_the_neutral_mesh_exactly(ict_model, ict_folder):
    neutral = read_obj(ict_folder / "generic_neutral_mesh.obj")
    v = ict_model.vertices(np.zeros(100), np.zeros(53))
    assert v.shape == (26719, 3)
    np.testing.assert_array_equal(v, neutral.positions.astype(np.float32))


def test_identity_mode_7_reproduces_identity007(ict_model, ict_folder):
    alpha = np.zeros(100)
    alpha[7] = 1.0
    target = read_positions(ict_folder / "identity007.obj")
    np.testing.assert_allclose(ict_model.vertices(alpha, np.zeros(53)), target, atol=2e-5)
    # and it is not the neutral: the test can fail
    assert np.abs(target - ict_model.mean).max() > 0.1


def test_jaw_open_reproduces_jawOpen(ict_model, ict_folder):
    e = np.zeros(53)
    e[ict_model.expression_names.index("jawOpen")] = 1.0
    target = read_positions(ict_folder / "jawOpen.obj")
    np.testing.assert_allclose(ict_model.vertices(np.zeros(100), e), target, atol=2e-5)


def test_torch_evaluation_matches_numpy_and_is_differentiable(ict_model):
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(0)
    a, e = rng.normal(size=(3, 100)), rng.uniform(size=(3, 53))
    ta = torch.tensor(a, dtype=torch.float32, requires_grad=True)
    te = torch.tensor(e, dtype=torch.float32, requires_grad=True)
    v = ict_model.vertices_torch(ta, te)
    np.testing.assert_allclose(v.detach().numpy(), ict_model.vertices(a, e), atol=1e-4)
    v[:, ict_model.landmarks68].sum().backward()
    assert ta.grad.abs().sum() > 0 and te.grad.abs().sum() > 0
    face = ict_model.vertices_torch(ta, te, region="face")
    assert face.shape == (3, 9409, 3)


def test_batches_and_regions(ict_model):
    rng = np.random.default_rng(1)
    a = rng.normal(size=(4, 2, 100))
    v = ict_model.vertices(a)
    assert v.shape == (4, 2, 26719, 3)
    np.testing.assert_allclose(ict_model.vertices(a, region="teeth"), v[..., 17039:21451, :], atol=1e-6)
    lm = ict_model.landmarks(v)
    assert lm.shape == (4, 2, 68, 3)
    jaw = ict_model.landmarks(v, which="jawline")
    np.testing.assert_array_equal(jaw[..., 0:8, :], v[..., ict_model.jaw_right, :])


def test_region_counts_match_the_upstream_readme(ict_model):
    for name, (nv, npoly) in README_COUNTS.items():
        assert len(ict_model.region_vertices(name)) == nv, name
        assert len(ict_model.region_polygons(name)) == npoly, name
    assert sum(n for n, _ in README_COUNTS.values()) == ict_model.n_vertices
    assert len(ict_model.region_vertices("eyeballs")) == 2 * 1570
    with pytest.raises(KeyError):
        ict_model.region_slice("ears")


def test_symmetry_map(ict_model):
    sym = ict_model.symmetry
    assert (sym[sym] == np.arange(ict_model.n_vertices)).all(), "not an involution"
    lm = ict_model.landmarks68
    np.testing.assert_array_equal(sym[lm], lm[IBUG_MIRROR])
    np.testing.assert_array_equal(sym[ict_model.jaw_right], ict_model.jaw_left[::-1])
    err_mm = np.linalg.norm(ict_model.mirror(ict_model.mean) - ict_model.mean, axis=1) * ict_model.mm_per_unit
    assert err_mm.max() < 0.5
    assert (sym != np.arange(len(sym))).sum() > 20000  # most vertices have a distinct partner


def test_quads_and_uv_seams_survive(ict_model, ict_folder):
    src = read_obj(ict_folder / "generic_neutral_mesh.obj")
    assert len(ict_model.poly_sizes) == 26384
    assert (ict_model.poly_sizes == 4).sum() == 25836  # quads stay quads
    np.testing.assert_array_equal(ict_model.corner_verts, src.corner_verts)
    assert len(ict_model.uvs) == 28911
    np.testing.assert_allclose(ict_model.corner_uvs, src.uvs[src.corner_uvs], atol=1e-6)
    # a seam: some vertex carries more than one distinct UV
    pairs = np.unique(np.stack([ict_model.corner_verts, ict_model.corner_uv_index], 1), axis=0)
    assert len(pairs) > ict_model.n_vertices
    # every triangle belongs to the polygon it says, with that polygon's vertices
    t = 1000
    p = ict_model.triangle_polygon[t]
    s = ict_model.poly_starts[p]
    assert set(ict_model.triangles[t]) <= set(ict_model.corner_verts[s:s + ict_model.poly_sizes[p]])
    assert len(ict_model.triangles) == 548 + 2 * 25836


def test_metadata_states_units_source_and_licence(ict_model):
    assert ict_model.units == "cm" and ict_model.mm_per_unit == 10.0
    assert ict_model.meta["source"]["commit"] == "da5f95a607f5e6b37755b38d3385d7f2853732e5"
    assert ict_model.meta["licence"] == "MIT" and "MIT License" in ict_model.meta["licence_text"]
    assert len(ict_model.expression_names) == 53 and "jawOpen" in ict_model.expression_names
    np.testing.assert_array_equal(ict_model.identity_std, np.ones(100, np.float32))


def test_file_is_pickle_free_and_verified(ict_model, tmp_path):
    path = tmp_path / "m.npz"
    digest = ict_model.save(path)
    checksum_path(path).write_text(digest)
    with np.load(path, allow_pickle=False) as z:  # raises if anything needs pickle
        assert z["identity_basis"].dtype == np.float32
        assert zipfile.is_zipfile(io.BytesIO(path.read_bytes()))
    assert MorphableModel.load(path).n_identity == 100
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))
    with pytest.raises(ModelCorruptError, match="damaged"):
        MorphableModel.load(path)
    with pytest.raises(ModelNotInstalledError, match="install-model"):
        MorphableModel.load(tmp_path / "absent.npz")
