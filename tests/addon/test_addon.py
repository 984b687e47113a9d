"""The add-on in real bpy (PyPI): registration, the head built from the model, sliders that
equal the engine's evaluation, save/reopen, editing operators, export. No photo needed."""
from __future__ import annotations

import numpy as np
import pytest

pytestmark = pytest.mark.bpy
bpy = pytest.importorskip("bpy")
from tests.addon_support import addon, evaluated_vertices, headless, scene  # noqa: E402,F401

S_NOT_A_HEAD = "Select a FaceSpace head to edit it"
ARKIT_SAMPLE = {"jawOpen", "eyeBlink_L", "eyeBlink_R", "mouthSmile_L", "browInnerUp_R", "mouthFunnel"}


def test_register_unregister_cycle(addon):
    headless.unload_addon()
    assert not hasattr(bpy.types.Object, "facespace")
    for cls in ("FACESPACE_OT_reconstruct", "FACESPACE_PT_main", "FACESPACE_PG_head"):
        assert not hasattr(bpy.types, cls)
    with pytest.raises(KeyError):
        bpy.ops.facespace.reset.get_rna_type()
    headless.load_addon()
    assert hasattr(bpy.types.Object, "facespace")
    assert bpy.ops.facespace.reconstruct.get_rna_type().identifier == "FACESPACE_OT_reconstruct"
    assert hasattr(bpy.types, "FACESPACE_PT_main")


def test_registration_loads_no_model_and_slider_ranges_come_on_first_use(addon, ict_model):
    """Registering never loads the face model: the Edit Face sliders start with the generous
    range and take the model's +-3 sd ranges (and population tooltips) once it loads."""
    from facespace.common import model_cache
    from facespace.operators import properties
    headless.unload_addon()
    model_cache.forget()
    headless.load_addon()
    assert model_cache.loaded() is None
    rna = properties.FACESPACE_PG_edit.bl_rna.properties
    assert rna["eye_size"].soft_max == properties.GENEROUS_SOFT_MM == -rna["eye_size"].soft_min
    bpy.ops.wm.read_factory_settings(use_empty=True)
    from facespace import api
    head = api.add_head(name="Ranges")
    head.facespace_edit.eye_size = 2.0
    assert model_cache.loaded() is not None
    # from a GUI, a timer does this right after the first load (never inside a draw)
    assert bpy.app.timers.is_registered(properties._refine_from_timer)
    assert properties._refine_from_timer() is None and properties.edit_ranges_refined()  # what the timer runs
    assert not properties.refine_edit_ranges(model_cache.loaded())  # once per model
    from engine.editing import measurement_directions
    infos = {i.name: i for i in measurement_directions(ict_model).sliders()}
    rna = properties.FACESPACE_PG_edit.bl_rna.properties
    for name in ("eye_size", "face_width", "nose_length"):
        assert (rna[name].soft_min, rna[name].soft_max) == (infos[name].soft_min, infos[name].soft_max)
    assert "population" in rna["eye_size"].description
    assert head.facespace_edit.eye_size == pytest.approx(2.0)  # redefining kept the value
    head.facespace_edit.eye_size = 3.0  # and the callback still runs
    assert head["facespace_edit_record"]["state"].to_dict()["measurements"] == {"eye_size": 3.0}


def test_every_panel_and_the_preferences_draw(scene):
    """Into a real UILayout (tests/layout_recorder.py), with and without an active head."""
    import layout_recorder as rec
    from facespace import api
    empty = rec.draw_panels("facespace")
    assert empty["FACESPACE_PT_main"] is not None and empty["FACESPACE_PT_identity"] is None
    assert S_NOT_A_HEAD in rec.texts(empty["FACESPACE_PT_head"])
    bpy.context.view_layer.objects.active = api.add_head(name="Drawn")
    drawn = rec.draw_panels("facespace")
    assert {"FACESPACE_PT_main", "FACESPACE_PT_head", "FACESPACE_PT_identity", "FACESPACE_PT_expressions",
            "FACESPACE_PT_group_edit_face", "FACESPACE_PT_export"} <= set(drawn)
    assert all(calls for calls in drawn.values()), [k for k, v in drawn.items() if not v]
    assert "facespace.reconstruct" in rec.operators(drawn["FACESPACE_PT_main"])
    assert "facespace.export_glb" in rec.operators(drawn["FACESPACE_PT_export"])
    slider_rows = [c for c in drawn["FACESPACE_PT_expressions"] if c.name == "prop"]
    assert len(slider_rows) == 53


def test_head_from_model_structure(scene, ict_model):
    from facespace import api
    head = api.add_head()
    mesh = head.data
    assert len(mesh.vertices) == 26719 == ict_model.n_vertices
    sizes = np.empty(len(mesh.polygons), np.int32)
    mesh.polygons.foreach_get("loop_total", sizes)
    np.testing.assert_array_equal(sizes, ict_model.poly_sizes)  # quads stay quads
    assert (sizes == 4).mean() > 0.9
    assert len(mesh.uv_layers) == 1
    uv = np.empty(len(mesh.loops) * 2, np.float32)
    mesh.uv_layers[0].uv.foreach_get("vector", uv)
    from engine.model.atlas import atlas_uvs  # the layout the engine bakes textures into
    np.testing.assert_allclose(uv.reshape(-1, 2), atlas_uvs(ict_model)[ict_model.corner_uv_index], atol=1e-6)
    keys = [kb.name for kb in mesh.shape_keys.key_blocks]
    assert keys[0] == "Basis" and keys[1:] == list(ict_model.expression_names)
    assert len(keys) - 1 == 53 and ARKIT_SAMPLE <= set(keys)
    from engine.model.materials import MATERIALS, polygon_materials
    assert [m.name.split()[-1] for m in mesh.materials] == [m.name for m in MATERIALS]
    slots = np.empty(len(mesh.polygons), np.int32)
    mesh.polygons.foreach_get("material_index", slots)
    np.testing.assert_array_equal(slots, polygon_materials(ict_model))   # iris, pupil, clear cornea...
    assert len(head.facespace.identity) == 100 and head.facespace.is_head
    assert head.facespace.model_id == ict_model.id
    assert tuple(head.scale) == pytest.approx((0.01, 0.01, 0.01))
    # real size in metres, +Z up, facing -Y: the model's +y (cm) becomes world +Z (m)
    bpy.context.view_layer.update()
    mw = np.array(head.matrix_world)
    world = ict_model.mean @ mw[:3, :3].T + mw[:3, 3]
    np.testing.assert_allclose(world[:, 2], ict_model.mean[:, 1] / 100, atol=1e-6)
    np.testing.assert_allclose(world[:, 1], -ict_model.mean[:, 2] / 100, atol=1e-6)
    assert 0.25 < np.ptp(world[:, 2]) < 0.45  # a head and neck, in metres


def test_second_head_does_not_overwrite(scene):
    from facespace import api
    a = api.add_head(name="Head")
    b = api.add_head(name="Head")
    assert a.name != b.name and a.data.name != b.data.name
    assert len([o for o in bpy.data.objects if o.facespace.is_head]) == 2


def test_identity_slider_equals_engine(scene, ict_model):
    from facespace import api
    head = api.add_head()
    head.facespace.identity[0].value = 2.5
    head.facespace.identity[17].value = -1.25
    head.data.shape_keys.key_blocks["jawOpen"].value = 0.8
    head.data.shape_keys.key_blocks["eyeBlink_L"].value = 0.5
    ident = np.zeros(100)
    ident[0], ident[17] = 2.5, -1.25
    expr = np.zeros(53)
    expr[ict_model.expression_names.index("jawOpen")] = 0.8
    expr[ict_model.expression_names.index("eyeBlink_L")] = 0.5
    ref = ict_model.vertices(ident, expr)
    got = evaluated_vertices(head)
    assert np.abs(got - ref).max() < 1e-4  # cm; float32 sums
    # and the expression keys followed the identity: jawOpen key = new basis + delta
    kb = head.data.shape_keys.key_blocks["jawOpen"]
    co = np.empty(len(kb.data) * 3, np.float32)
    kb.data.foreach_get("co", co)
    e1 = np.zeros(53)
    e1[ict_model.expression_names.index("jawOpen")] = 1.0
    assert np.abs(co.reshape(-1, 3) - ict_model.vertices(ident, e1)).max() < 1e-4


def test_save_reopen_slider_still_works(scene, ict_model, tmp_path):
    from facespace import api
    head = api.add_head(name="Saved")
    api.set_identity(head, np.linspace(-1, 1, 100))
    path = tmp_path / "head.blend"
    bpy.ops.wm.save_as_mainfile(filepath=str(path))
    bpy.ops.wm.read_factory_settings(use_empty=True)
    assert "Saved" not in bpy.data.objects
    bpy.ops.wm.open_mainfile(filepath=str(path))
    head = bpy.data.objects["Saved"]
    np.testing.assert_allclose(api.identity(head), np.linspace(-1, 1, 100), atol=1e-6)
    head.facespace.identity[3].value = 2.0
    ident = np.linspace(-1, 1, 100)
    ident[3] = 2.0
    assert np.abs(evaluated_vertices(head) - ict_model.vertices(ident)).max() < 1e-4
    fit = head["facespace_fit"]  # the fitted (here: built-with) parameters survive too
    assert len(fit["identity"]) == 100 and len(fit["expression"]) == 53


def test_reset_randomise_symmetrise(scene, ict_model):
    from facespace import api
    head = api.add_head()
    bpy.context.view_layer.objects.active = head
    assert bpy.ops.facespace.randomise(seed=7) == {'FINISHED'}
    ident = api.identity(head)
    assert np.abs(ident).max() <= 3.0 and ident.std() > 0.5  # within face space, not zero
    assert np.abs(evaluated_vertices(head) - ict_model.vertices(ident)).max() < 1e-4
    blocks = head.data.shape_keys.key_blocks
    blocks["eyeBlink_L"].value, blocks["eyeBlink_R"].value = 1.0, 0.0
    assert bpy.ops.facespace.symmetrise() == {'FINISHED'}
    assert blocks["eyeBlink_L"].value == pytest.approx(0.5) == blocks["eyeBlink_R"].value
    v = evaluated_vertices(head)
    asym = np.abs(v - ict_model.mirror(v)).max() * ict_model.mm_per_unit
    assert asym < 1.0, asym  # mm
    assert bpy.ops.facespace.reset(target='MEAN') == {'FINISHED'}
    assert np.abs(api.identity(head)).max() == 0.0
    assert np.abs(evaluated_vertices(head) - ict_model.mean).max() < 1e-5


def test_texture_mode_switches_skin_image(scene, ict_model):
    from facespace.operators.mesh import build_head
    photo = np.full((64, 64, 3), 200, np.uint8)
    delit = np.full((64, 64, 3), 90, np.uint8)
    head, _ = build_head(bpy.context, ict_model, name="Tex", texture=photo, texture_delit=delit)
    skin = head.data.materials[0]
    bsdf = next(n for n in skin.node_tree.nodes if n.type == 'BSDF_PRINCIPLED')
    linked = lambda: bsdf.inputs["Base Color"].links[0].from_node.image
    assert linked().name.endswith("texture")
    assert linked().pixels[0] == pytest.approx(200 / 255, abs=1e-3)
    head.facespace.texture_mode = 'DELIT'
    assert linked().name.endswith("de-lit")
    assert linked().packed_file is not None  # travels with the .blend


def test_glb_export_has_53_morph_targets(scene, tmp_path):
    from facespace import api
    head = api.add_head(name="Export")
    path = api.export_glb(head, str(tmp_path / "head.glb"))
    bpy.ops.wm.read_factory_settings(use_empty=True)
    bpy.ops.import_scene.gltf(filepath=path)
    meshes = [o for o in bpy.context.scene.objects if o.type == 'MESH']
    assert len(meshes) == 1
    names = [kb.name for kb in meshes[0].data.shape_keys.key_blocks[1:]]
    assert len(names) == 53 and ARKIT_SAMPLE <= set(names)
