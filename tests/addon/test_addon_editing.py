"""Issue #7 in real bpy: the "Edit face" sliders and the mix-heads operator on real heads,
and both surviving save and reopen."""
from __future__ import annotations

import numpy as np
import pytest

pytestmark = pytest.mark.bpy
bpy = pytest.importorskip("bpy")
from tests.addon_support import addon, evaluated_vertices, headless, scene  # noqa: E402,F401


def measured(obj, model, name):
    from engine.editing import measure
    return float(measure(evaluated_vertices(obj).astype(np.float64), model)[name])


def identity(seed, k=100):
    return np.clip(np.random.default_rng(seed).standard_normal(k), -2.5, 2.5).astype(np.float32)


def test_measurement_slider_changes_the_mesh(scene, ict_model):
    from facespace import api
    head = api.add_head(identity(1))
    before = measured(head, ict_model, "nose_length")
    width_before = measured(head, ict_model, "face_width")
    head.facespace_edit.nose_length = 5.0
    after = measured(head, ict_model, "nose_length")
    assert after - before == pytest.approx(5.0, abs=0.5)
    assert measured(head, ict_model, "face_width") == pytest.approx(width_before, abs=0.5)
    rec = head["facespace_edit_record"]
    np.testing.assert_allclose(list(rec["base"]), identity(1), atol=1e-6)
    assert rec["state"].to_dict()["measurements"] == {"nose_length": 5.0}
    # back to 0: the base identity again
    head.facespace_edit.nose_length = 0.0
    np.testing.assert_allclose(api.identity(head), identity(1), atol=1e-5)


def test_caricature_scales_the_deviation(scene, ict_model):
    from facespace import api
    head = api.add_head(identity(2))
    mean = ict_model.mean.astype(np.float64)
    dev0 = evaluated_vertices(head) - mean
    head.facespace_edit.caricature = 1.5
    dev = evaluated_vertices(head) - mean
    np.testing.assert_allclose(dev, 1.5 * dev0, atol=2e-3)  # cm, float32 mesh
    np.testing.assert_allclose(api.identity(head), 1.5 * identity(2), atol=1e-5)
    bpy.ops.facespace.reset_edits()
    np.testing.assert_allclose(api.identity(head), identity(2), atol=1e-6)
    assert head.facespace_edit.caricature == 1.0 and "facespace_edit_record" not in head


def test_bake_symmetry_and_bound(scene, ict_model):
    from facespace import api

    from engine.editing import bound_for_percentile, face_space_level
    head = api.add_head(identity(3) * 1.2)
    head.facespace_edit.symmetry = 1.0
    sym = api.identity(head).copy()
    assert not np.allclose(sym, identity(3) * 1.2, atol=1e-3)
    bpy.ops.facespace.bake_edits()
    assert head.facespace_edit.symmetry == 0.0
    np.testing.assert_allclose(api.identity(head), sym, atol=1e-6)  # baked: the mesh stays
    head.facespace_edit.caricature = 2.0
    head.facespace_edit.bound_percentile = 90.0
    head.facespace_edit.use_bound = True
    norm = face_space_level(api.identity(head).astype(float), ict_model).norm
    assert norm == pytest.approx(bound_for_percentile(90.0, ict_model), rel=1e-4)
    assert head["facespace_edit_record"]["clamped"]
    np.testing.assert_allclose(list(head["facespace_edit_record"]["base"]), sym, atol=1e-6)


def test_sliders_survive_save_and_reopen(scene, ict_model, tmp_path):
    from facespace import api
    head = api.add_head(identity(4))
    head.facespace_edit.nose_length = 4.0
    head.facespace_edit.caricature = 1.2
    edited = api.identity(head).copy()
    path = str(tmp_path / "edited.blend")
    bpy.ops.wm.save_as_mainfile(filepath=path)
    bpy.ops.wm.read_factory_settings(use_empty=True)
    bpy.ops.wm.open_mainfile(filepath=path)
    head = bpy.data.objects["FaceSpace Head"]
    assert head.facespace_edit.nose_length == pytest.approx(4.0)
    assert head.facespace_edit.caricature == pytest.approx(1.2)
    np.testing.assert_allclose(api.identity(head), edited, atol=1e-6)
    before = measured(head, ict_model, "nose_length")
    head.facespace_edit.nose_length = 9.0  # +5 mm more, from the stored base
    assert measured(head, ict_model, "nose_length") - before == pytest.approx(5.0, abs=0.5)
    np.testing.assert_allclose(list(head["facespace_edit_record"]["base"]), identity(4), atol=1e-6)


def _select(*objs):
    for o in bpy.context.view_layer.objects:
        o.select_set(False)
    for o in objs:
        o.select_set(True)
    bpy.context.view_layer.objects.active = objs[0] if objs else None


def test_mix_all_areas_from_one_head(scene, ict_model):
    from facespace import api

    from engine.editing import AREAS
    a = api.add_head(identity(5), name="Head A")
    api.set_expressions(a, {"jawOpen": 0.4})
    b = api.add_head(identity(6), name="Head B")
    _select(a, b)
    assert bpy.ops.facespace.mix_heads(**{area: "Head A" for area in AREAS}) == {'FINISHED'}
    mixed = bpy.context.view_layer.objects.active
    assert mixed not in (a, b) and mixed.facespace.is_head and len(bpy.data.objects) == 3
    np.testing.assert_allclose(evaluated_vertices(mixed), evaluated_vertices(a), atol=2e-3)


def test_mixed_head_equals_engine_mix(scene, ict_model):
    from facespace import api

    from engine.editing import mix_heads
    a = api.add_head(identity(7), name="Head A")
    b = api.add_head(identity(8), name="Head B")
    api.set_expressions(b, {"eyeBlink_L": 1.0})
    _select(b, a)
    choice = {"eyes": "Head B", "nose": "Head B", "mouth": "Head A", "chin_jaw": "Head A",
              "upper_head": "Head B", "rest": "Head A"}
    assert bpy.ops.facespace.mix_heads(**choice) == {'FINISHED'}
    mixed = bpy.context.view_layer.objects.active
    assert {o.name for o in bpy.data.objects} == {"Head A", "Head B", mixed.name}
    heads = [a, b]
    weights = {area: [1.0 * (h.name == n) for h in heads] for area, n in choice.items()}
    res = mix_heads(np.stack([identity(7), identity(8)]).astype(np.float64), weights, ict_model,
                    expressions=np.stack([api_expr(h) for h in heads]))
    np.testing.assert_allclose(api.identity(mixed), res.identity, atol=1e-4)
    expected = ict_model.vertices(res.identity, res.expression)
    np.testing.assert_allclose(evaluated_vertices(mixed), expected, atol=2e-3)
    # the mix itself is close to the exact region mix, and the head is a normal head: sliders work
    assert np.sqrt(((expected - res.vertices) ** 2).sum(-1).mean()) * ict_model.mm_per_unit < 3.0
    mixed.facespace_edit.nose_length = 3.0
    assert not np.allclose(api.identity(mixed), res.identity, atol=1e-3)


def api_expr(head):
    from facespace.operators import sliders
    return sliders.expression_values(head).astype(np.float64)


def test_mix_needs_two_heads(scene, ict_model):
    from facespace import api
    a = api.add_head(identity(9), name="Head A")
    _select(a)
    counts = (len(bpy.data.objects), len(bpy.data.meshes), len(bpy.data.materials), len(bpy.data.images))
    with pytest.raises(RuntimeError, match="at least two"):
        bpy.ops.facespace.mix_heads()
    assert (len(bpy.data.objects), len(bpy.data.meshes), len(bpy.data.materials), len(bpy.data.images)) == counts


def test_identity_changed_elsewhere_is_kept(scene, ict_model):
    from facespace import api
    head = api.add_head(identity(10))
    head.facespace_edit.caricature = 1.5
    head.facespace.identity[40].value += 1.0  # an identity slider moved by hand
    head.facespace_edit.caricature = 1.0
    expected = identity(10).astype(np.float64)
    expected[40] += 1.0 / 1.0  # the hand change became part of the base
    np.testing.assert_allclose(api.identity(head), expected, atol=1e-5)


def test_mixed_texture(scene, ict_model):
    from facespace.operators.mesh import build_head
    from facespace.operators.mix_ops import head_texture

    from engine.editing import AREAS
    red = np.zeros((64, 64, 3), np.uint8); red[..., 0] = 200
    blue = np.zeros((64, 64, 3), np.uint8); blue[..., 2] = 180
    a, _ = build_head(bpy.context, ict_model, identity(11), name="Head A", texture=red)
    b, _ = build_head(bpy.context, ict_model, identity(12), name="Head B", texture=blue)
    np.testing.assert_array_equal(head_texture(a), red)
    _select(a, b)
    choice = {area: "Head A" for area in AREAS}
    choice["nose"] = "Head B"
    assert bpy.ops.facespace.mix_heads(**choice) == {'FINISHED'}
    tex = head_texture(bpy.context.view_layer.objects.active)
    assert tex.shape == red.shape
    assert (tex[..., 2] > 0).any() and (tex[..., 0] == 200).mean() > 0.5  # some nose blue, mostly A


def test_edit_panel_draws(scene, ict_model):
    from facespace import api
    from facespace.ui import edit_panel, slider_groups

    from engine.editing.measure import NAMES
    assert edit_panel.GROUP_ID in [g[0] for g in slider_groups.GROUPS]
    assert hasattr(bpy.types, "FACESPACE_PT_group_" + edit_panel.GROUP_ID)
    import layout_recorder as rec
    head = api.add_head(identity(13))
    calls = rec.draw(None, lambda self, context: edit_panel.draw_edit(self.layout, context, head))
    props = [c.args[1] for c in calls if c.name == "prop"]
    assert set(NAMES) <= set(props) and {"caricature", "symmetry", "use_bound", "bound_percentile"} <= set(props)
    assert any("typical" in t or "unusual" in t for t in rec.texts(calls))
    assert {"facespace.bake_edits", "facespace.reset_edits"} <= set(rec.operators(calls))
