"""Several photos of one person, one head (real bpy, real engine, real photos): the reconstruct
operator (EXEC, the file browser's `directory` + `files`) and `api.reconstruct([...])` each
make one head with a camera per photo (its photo as background, parented to the head, the
reference view's camera the scene camera) and the views stored as params.json's `views`;
save/reopen keeps cameras, views and the photo list; Add Photo refits a head in place (same
object, its transform kept, a fourth camera, a new identity) as one undo step."""
from __future__ import annotations

import numpy as np
import pytest

pytestmark = [pytest.mark.bpy, pytest.mark.shared, pytest.mark.slow]
bpy = pytest.importorskip("bpy")
pytest.importorskip("engine.pipeline.many")
from tests.addon_support import evaluated_vertices, headless  # noqa: E402
from tests.conftest import need_shared  # noqa: E402

NAMES = ("obama__obama", "obama__obama1", "obama__obama2")
FOURTH = "obama__obama3"
OPTIONS = dict(texture_size=256, quality="fast", device="cpu")
VIEW_KEYS = {"source", "camera", "pose_deg", "expression", "faces_found", "face_index", "landmarks68",
             "landmark_residual_px_mean"}


def _identity(head) -> np.ndarray:
    # a copy: an ID property array's buffer goes when the file is reloaded (undo, open)
    return np.array(head["facespace_fit"]["identity"].to_list(), dtype=np.float64)


def _photo(stem):
    return need_shared("photos", "identity", f"{stem}.jpg")


@pytest.fixture(scope="module")
def runs(ict_model, tmp_path_factory):
    """Three engine runs for the whole module: the operator on 3 photos (saved), the API on the
    same 3 (saved), then Add Photo on the API's head (moved by the artist first; saved)."""
    photos = [_photo(s) for s in NAMES]
    fourth = _photo(FOURTH)
    headless.load_addon()
    from facespace import api
    out = tmp_path_factory.mktemp("multiphoto")

    # the file browser's selection: the three photos and a picture without a face (left out)
    picked = out / "picked"
    picked.mkdir()
    for p in photos:
        (picked / p.name).symlink_to(p)
    from PIL import Image
    Image.fromarray(np.full((160, 160, 3), 90, np.uint8)).save(picked / "blank.png")
    bpy.ops.wm.read_factory_settings(use_empty=True)
    result = bpy.ops.facespace.reconstruct(directory=str(picked), files=[{"name": p.name} for p in photos]
                                           + [{"name": "blank.png"}], **OPTIONS)
    bpy.ops.wm.save_as_mainfile(filepath=str(out / "operator.blend"))

    bpy.ops.wm.read_factory_settings(use_empty=True)
    head = api.reconstruct([str(p) for p in photos], **OPTIONS)
    head.location = (0.3, -0.1, 0.05)      # the artist moves and turns the head
    head.rotation_euler[2] = 0.4
    bpy.context.view_layer.update()
    before = {"name": head.name, "identity": _identity(head),
              "pointer": head.as_pointer(), "cameras": {v.camera.name for v in head.facespace.views},
              "matrix": np.array(head.matrix_world)}
    bpy.ops.wm.save_as_mainfile(filepath=str(out / "api.blend"))
    bpy.ops.ed.undo_push(message="before Add Photo")
    # second positional argument: push an undo step as a click in the UI does
    added = bpy.ops.facespace.add_photo('EXEC_DEFAULT', True, filepath=str(fourth), **OPTIONS)
    after_pointer = bpy.data.objects[before["name"]].as_pointer()
    bpy.ops.wm.save_as_mainfile(filepath=str(out / "added.blend"))
    bpy.ops.ed.undo()
    head = bpy.data.objects[before["name"]]
    undone = {"views": len(head.facespace.views), "identity": _identity(head),
              "cameras": {o.name for o in bpy.data.objects if o.type == 'CAMERA'}}
    yield {"photos": photos, "picked": [picked / p.name for p in photos], "fourth": fourth,
           "result": result, "added": added, "before": before, "after_pointer": after_pointer,
           "out": out, "undone": undone}
    headless.unload_addon()  # bpy can hang at exit with the classes still registered


def _open(blend):
    bpy.ops.wm.open_mainfile(filepath=str(blend))
    heads = [o for o in bpy.data.objects if o.type == 'MESH' and o.facespace.is_head]
    assert len(heads) == 1
    return heads[0]


def _check_views(head, photos, ict_model, left_out=()):
    """One head, a camera per photo with that photo as background, the views stored."""
    from facespace.operators.camera import camera_world_matrix
    views = head.facespace.views
    fit = head["facespace_fit"].to_dict()
    assert len(views) == len(photos) and [v.name for v in views] == [p.stem for p in photos]
    assert fit["photos"] == [str(p) for p in photos] + [str(p) for p in left_out]
    assert len(fit["views"]) == len(photos) and set(fit["views"][0]) == VIEW_KEYS
    assert [e["source"] for e in fit["photos_left_out"]] == [str(p) for p in left_out]
    assert all(e["reason"] and e["kind"] for e in fit["photos_left_out"])
    assert fit["reference_view"] == head.facespace.reference_view
    cameras = [o for o in bpy.data.objects if o.type == 'CAMERA']
    assert len(cameras) == len(photos) and {c.name for c in cameras} == {f"{p.stem} camera" for p in photos}
    head_move = np.array(head.matrix_world) @ np.linalg.inv(_default_head_matrix())
    for view, record, path in zip(views, fit["views"], photos):
        cam = view.camera
        assert cam.parent == head and cam in cameras and cam.users_collection == head.users_collection
        bg = cam.data.background_images[0].image
        assert bg == view.image and cam.data.show_background_images
        w, h = record["camera"]["image_size"]
        assert tuple(bg.size) == (w, h) and bg.packed_file is not None
        assert record["source"] == str(path)
        assert view.residual_px == pytest.approx(record["landmark_residual_px_mean"], rel=1e-5)
        assert 0.2 < view.residual_px < 10.0          # px; measured 1.5-3.0 on these photos
        # the camera still sees the head as its photo did, wherever the artist moved the head
        expect = head_move @ camera_world_matrix(np.reshape(record["camera"]["world_to_camera"], (4, 4)))
        np.testing.assert_allclose(np.array(cam.matrix_world), expect, atol=1e-4)
    ref = views[head.facespace.reference_view]
    assert bpy.context.scene.camera == ref.camera == head.facespace.camera
    assert head.facespace.photo == ref.image
    # the stored parameters drive the mesh (reference view's expression)
    ident, expr = np.asarray(fit["identity"]), np.asarray(fit["expression"])
    assert np.abs(evaluated_vertices(head) - ict_model.vertices(ident, expr)).max() < 1e-3
    names = list(ict_model.expression_names)
    ref_expr = fit["views"][head.facespace.reference_view]["expression"]
    np.testing.assert_allclose([ref_expr[n] for n in names], expr, atol=1e-6)
    return fit


def _default_head_matrix():
    from facespace.operators.camera import head_matrix
    return head_matrix()


def test_operator_with_files_makes_one_head_per_several_photos(runs, ict_model):
    assert runs["result"] == {'FINISHED'}
    head = _open(runs["out"] / "operator.blend")      # saved and reopened
    assert head.name == "obama__obama head"
    fit = _check_views(head, runs["picked"], ict_model, left_out=[runs["out"] / "picked" / "blank.png"])
    assert fit["path"] == "multi-view" and len(fit["identity"]) == 100
    skin = head.data.materials[0]
    tex = next(n for n in skin.node_tree.nodes if n.type == 'TEX_IMAGE' and n.image).image
    assert tex.size[0] == 256 and tex.packed_file is not None


def test_head_panel_lists_each_photo_with_its_residual(runs):
    import layout_recorder as rec
    head = _open(runs["out"] / "operator.blend")
    bpy.context.view_layer.objects.active = head
    drawn = rec.draw_panels("facespace")["FACESPACE_PT_head"]
    rows = [c for c in drawn if c.name == "operator" and c.args and c.args[0] == "facespace.view_photo"]
    assert len(rows) == 3
    texts = rec.texts(drawn, "operator")
    for view in head.facespace.views:
        assert any(view.name in t and f"{view.residual_px:.1f} px" in t for t in texts), texts
    assert "facespace.add_photo" in rec.operators(drawn)
    labels = rec.texts(drawn)
    assert any("blank.png" in t for t in labels) and any("face" in t.lower() for t in labels), labels
    assert bpy.ops.facespace.view_photo(index=1) == {'FINISHED'}
    assert bpy.context.scene.camera == head.facespace.views[1].camera
    assert bpy.context.scene.render.resolution_x == head.facespace.views[1].image.size[0]


def test_main_panel_fills_the_photo_list(runs):
    """Several Photos: the list takes files (several at once) and images in the .blend, and
    the panel's Reconstruct button uses it."""
    import layout_recorder as rec
    bpy.ops.wm.read_factory_settings(use_empty=True)
    settings = bpy.context.scene.facespace
    settings.source = 'MANY'
    photos = runs["photos"]
    assert bpy.ops.facespace.photo_list_add(directory=str(photos[0].parent),
                                            files=[{"name": p.name} for p in photos[:2]]) == {'FINISHED'}
    assert bpy.ops.facespace.photo_list_add(filepath=str(photos[0])) == {'FINISHED'}   # no duplicate
    image = bpy.data.images.new("in the blend", 8, 8)
    assert bpy.ops.facespace.photo_list_add_image(image_name=image.name) == {'FINISHED'}
    assert [p.path for p in settings.photos] == [str(p) for p in photos[:2]] + [""]
    assert settings.photos[2].image == image
    drawn = rec.draw_panels("facespace")["FACESPACE_PT_main"]
    ops = rec.operators(drawn)
    assert {"facespace.photo_list_add", "facespace.photo_list_add_image", "facespace.reconstruct"} <= set(ops)
    assert ops.count("facespace.photo_list_remove") == 3 and "facespace.find_faces" not in ops
    button = next(c for c in drawn if c.name == "operator" and c.args[0] == "facespace.reconstruct")
    assert button.result.use_photo_list
    assert bpy.ops.facespace.photo_list_remove(index=2) == {'FINISHED'} and len(settings.photos) == 2


def test_api_takes_a_list_of_photos(runs, ict_model):
    head = _open(runs["out"] / "api.blend")
    _check_views(head, runs["photos"], ict_model)


def test_add_photo_refits_the_head_in_place(runs, ict_model):
    assert runs["added"] == {'FINISHED'}
    before = runs["before"]
    assert runs["after_pointer"] == before["pointer"]      # the same object, not a new one
    head = _open(runs["out"] / "added.blend")
    assert head.name == before["name"]
    np.testing.assert_allclose(np.array(head.matrix_world), before["matrix"], atol=1e-6)  # artist's move kept
    fit = _check_views(head, runs["photos"] + [runs["fourth"]], ict_model)
    assert head.facespace.views[-1].name == FOURTH
    assert np.abs(np.asarray(fit["identity"]) - before["identity"]).max() > 0.01   # refitted
    assert not before["cameras"] & {o.name for o in bpy.data.objects if o.type == 'CAMERA'} - \
        {v.camera.name for v in head.facespace.views}                               # old cameras gone
    assert len([i for i in bpy.data.images if i.name.endswith("texture")]) == 1


def test_add_photo_is_one_undo_step(runs):
    undone, before = runs["undone"], runs["before"]
    assert undone["views"] == 3 and undone["cameras"] == before["cameras"]
    np.testing.assert_allclose(undone["identity"], before["identity"])


def test_add_photo_refuses_a_photo_the_head_already_has(runs):
    head = _open(runs["out"] / "api.blend")
    bpy.context.view_layer.objects.active = head
    with pytest.raises(RuntimeError, match="already fitted to this photo"):   # nothing runs
        bpy.ops.facespace.add_photo(filepath=str(runs["photos"][0]), **OPTIONS)
