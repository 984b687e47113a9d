"""The add-on on a real photo (real bpy, real engine): the reconstruct operator (EXEC, as
scripts and headless use it), undo, a photo without a face, a Workbench render from the
fitted camera against the detected face box, and the README's headless main-job command."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

pytestmark = [pytest.mark.bpy, pytest.mark.shared, pytest.mark.slow]
bpy = pytest.importorskip("bpy")
pytest.importorskip("engine.pipeline.reconstruct")
from tests.addon_support import headless  # noqa: E402
from tests.conftest import ROOT, need_shared  # noqa: E402

PHOTO = ("photos", "identity", "obama__obama.jpg")
OPTIONS = dict(texture_size=256, quality="fast", device="cpu")
# Measured (obama__obama.jpg, quality fast): head-silhouette vs MTCNN face-box IoU 0.53; the
# silhouette holds the whole head and neck, so it is bigger than the box; a misplaced camera
# (wrong shift/focal/pose) gives < 0.2.
IOU_MIN = 0.40


@pytest.fixture(scope="module")
def reconstructed(ict_model, tmp_path_factory):
    """One operator run (EXEC) on a real photo, saved so each test can reopen it."""
    photo = need_shared(*PHOTO)
    headless.load_addon()
    bpy.ops.wm.read_factory_settings(use_empty=True)
    before = {c: len(getattr(bpy.data, c)) for c in ("objects", "meshes", "images", "materials")}
    result = bpy.ops.facespace.reconstruct(filepath=str(photo), **OPTIONS)
    path = tmp_path_factory.mktemp("recon") / "head.blend"
    bpy.ops.wm.save_as_mainfile(filepath=str(path))
    yield {"result": result, "blend": path, "photo": photo, "before": before}
    headless.unload_addon()  # bpy can hang at exit with the classes still registered


def _open(blend):
    bpy.ops.wm.open_mainfile(filepath=str(blend))
    return next(o for o in bpy.data.objects if o.type == 'MESH' and o.facespace.is_head)


def test_operator_builds_textured_head(reconstructed, ict_model):
    assert reconstructed["result"] == {'FINISHED'}
    head = _open(reconstructed["blend"])
    assert head.name == "obama__obama head"
    mesh = head.data
    assert len(mesh.vertices) == 26719 and len(mesh.uv_layers) == 1
    keys = [kb.name for kb in mesh.shape_keys.key_blocks[1:]]
    assert keys == list(ict_model.expression_names) and len(keys) == 53
    skin = mesh.materials[0]
    bsdf = next(n for n in skin.node_tree.nodes if n.type == 'BSDF_PRINCIPLED')
    tex = bsdf.inputs["Base Color"].links[0].from_node.image
    assert tex.size[0] == 256 and tex.packed_file is not None
    px = np.empty(256 * 256 * 4, np.float32)
    tex.pixels.foreach_get(px)
    assert px.reshape(-1, 4)[:, :3].std() > 0.05  # a real photo texture, not a flat colour
    fit = head["facespace_fit"]
    assert len(fit["identity"]) == 100 and len(fit["K"]) == 9 and list(fit["image_size"]) == [910, 1137]
    # stored fitted parameters drive the mesh: sliders and shape keys reproduce the fit
    ident = np.asarray(fit["identity"])
    expr = np.asarray(fit["expression"])
    assert np.abs(ident).max() > 0.1  # fitted, not the mean face
    np.testing.assert_allclose([kb.value for kb in mesh.shape_keys.key_blocks[1:]], expr, atol=1e-6)
    dg = bpy.context.evaluated_depsgraph_get()
    ev = head.evaluated_get(dg).to_mesh()
    co = np.empty(len(ev.vertices) * 3, np.float32)
    ev.vertices.foreach_get("co", co)
    assert np.abs(co.reshape(-1, 3) - ict_model.vertices(ident, expr)).max() < 1e-3
    cam = head.facespace.camera
    assert cam is not None and cam.type == 'CAMERA' and cam.data.background_images[0].image is not None


def test_find_faces_fills_the_face_list(reconstructed):
    bpy.ops.wm.read_factory_settings(use_empty=True)
    settings = bpy.context.scene.facespace
    settings.photo_path = str(reconstructed["photo"])
    assert bpy.ops.facespace.find_faces() == {'FINISHED'}
    assert len(settings.faces) == 1 and settings.face_index == 0
    x0, y0, x1, y1 = settings.faces[0].box
    assert 0 <= x0 < x1 <= 910 and 0 <= y0 < y1 <= 1137 and settings.faces[0].score > 0.9
    assert bpy.ops.facespace.choose_face(index=0) == {'FINISHED'}


def test_background_job_and_cancel(reconstructed, ict_model):
    """What the modal operator does: the engine in a thread, polled; the head built after."""
    import time

    from facespace.engine.core.errors import Cancelled
    from facespace.operators import jobs, mesh
    bpy.ops.wm.read_factory_settings(use_empty=True)
    options = jobs.engine_options(-1, 256, "fast", "cpu")
    job = jobs.ReconstructJob(str(reconstructed["photo"]), ict_model, options).start()
    seen = set()
    while not job.done:
        seen.add(job.status)
        time.sleep(0.02)
    assert job.error is None and job.result is not None
    assert len(seen - {""}) >= 2  # progress messages arrived while it ran
    head = mesh.head_from_result(bpy.context, ict_model, job.result, name="threaded head")
    assert head.facespace.is_head and head.facespace.camera is not None
    cancelled = jobs.ReconstructJob(str(reconstructed["photo"]), ict_model, options)
    cancelled.cancel.set()  # Esc before the first stage
    cancelled.start().join(60)
    assert cancelled.done and isinstance(cancelled.error, Cancelled) and cancelled.result is None


def test_photo_from_an_image_in_the_blend(reconstructed):
    """An image already in the .blend, packed (no file to read): its pixels go to the engine."""
    bpy.ops.wm.read_factory_settings(use_empty=True)
    image = bpy.data.images.load(str(reconstructed["photo"]))
    image.pack()
    image.filepath = ""
    assert bpy.ops.facespace.reconstruct(image_name=image.name, **OPTIONS) == {'FINISHED'}
    head = next(o for o in bpy.data.objects if o.type == 'MESH')
    assert head.facespace.photo == image and head.name == f"{image.name} head"
    assert head.facespace.camera.data.background_images[0].image == image
    assert list(head["facespace_fit"]["image_size"]) == [910, 1137]


def test_instant_quality_is_the_regression_alone(reconstructed, ict_model):
    """Quality "Instant": the engine's regression-only mode; the head says which path ran."""
    bpy.ops.wm.read_factory_settings(use_empty=True)
    opts = dict(OPTIONS, quality="instant")
    assert bpy.ops.facespace.reconstruct(filepath=str(reconstructed["photo"]), **opts) == {'FINISHED'}
    head = next(o for o in bpy.data.objects if o.type == 'MESH' and o.facespace.is_head)
    fit = head["facespace_fit"]
    assert fit["path"] == "landmark-regressor"
    assert len(head.data.vertices) == ict_model.n_vertices and len(head.data.shape_keys.key_blocks) == 54


def test_undo_removes_the_head(reconstructed, ict_model):
    bpy.ops.wm.read_factory_settings(use_empty=True)
    bpy.ops.ed.undo_push(message="before FaceSpace")
    # second positional argument: push an undo step like a click in the UI does
    assert bpy.ops.facespace.reconstruct('EXEC_DEFAULT', True, filepath=str(reconstructed["photo"]),
                                         **OPTIONS) == {'FINISHED'}
    assert any(o.facespace.is_head for o in bpy.data.objects)
    bpy.ops.ed.undo()
    assert not any(o.type == 'MESH' for o in bpy.data.objects)
    assert not any(o.type == 'CAMERA' for o in bpy.data.objects)
    assert len(bpy.data.meshes) == 0


def test_no_face_reports_error_and_creates_nothing(reconstructed, tmp_path):
    from PIL import Image
    x = np.linspace(0, 255, 320, dtype=np.float32)
    grad = np.stack(np.broadcast_arrays(x[None, :], x[:, None], np.full((320, 320), 128.0)), -1)
    path = tmp_path / "gradient.png"
    Image.fromarray(grad.astype(np.uint8)).save(path)
    bpy.ops.wm.read_factory_settings(use_empty=True)
    before = {c: len(getattr(bpy.data, c)) for c in ("objects", "meshes", "images", "materials", "cameras")}
    with pytest.raises(RuntimeError, match="[Nn]o face"):  # an ERROR report raises in bpy.ops
        bpy.ops.facespace.reconstruct(filepath=str(path), **OPTIONS)
    after = {c: len(getattr(bpy.data, c)) for c in before}
    assert after == before


def silhouette_iou(head, scale=0.25):
    """Workbench render from the fitted camera; IoU of the head's alpha with the face box."""
    fit = head["facespace_fit"]
    scene = bpy.context.scene
    scene.camera = head.facespace.camera
    r = scene.render
    r.engine = 'BLENDER_WORKBENCH'
    r.resolution_percentage = int(scale * 100)
    r.film_transparent = True
    r.image_settings.file_format = 'PNG'
    r.image_settings.color_mode = 'RGBA'
    out = Path(bpy.app.tempdir or "/tmp") / "facespace_silhouette.png"
    r.filepath = str(out)
    bpy.ops.render.render(write_still=True)
    from PIL import Image
    alpha = np.asarray(Image.open(out))[..., 3] > 127
    h, w = alpha.shape
    x0, y0, x1, y1 = (np.asarray(fit["face_box"]) * w / fit["image_size"][0])
    ys, xs = np.mgrid[0:h, 0:w]
    box = (xs + 0.5 >= x0) & (xs + 0.5 <= x1) & (ys + 0.5 >= y0) & (ys + 0.5 <= y1)
    return (alpha & box).sum() / (alpha | box).sum(), (alpha & box).sum() / box.sum()


def test_render_from_fitted_camera_overlaps_face(reconstructed):
    head = _open(reconstructed["blend"])
    iou, box_covered = silhouette_iou(head)
    print(f"silhouette IoU {iou:.3f}, face box covered {box_covered:.3f}")
    assert iou > IOU_MIN
    assert box_covered > 0.8  # the head covers the face box (measured 0.91)


def test_main_job_command(reconstructed, tmp_path, ict_model):
    blend, glb = tmp_path / "out" / "head.blend", tmp_path / "out" / "head.glb"
    cmd = [sys.executable, str(ROOT / "scripts" / "headless_reconstruct.py"), str(reconstructed["photo"]),
           "-o", str(blend), "--glb", str(glb), "--texture-size", "256", "--quality", "fast"]
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=400)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    head = _open(blend)
    assert len(head.data.vertices) == 26719 and head.facespace.camera is not None
    bpy.ops.wm.read_factory_settings(use_empty=True)
    bpy.ops.import_scene.gltf(filepath=str(glb))
    meshes = [o for o in bpy.context.scene.objects if o.type == 'MESH']
    assert len(meshes) == 1
    names = [kb.name for kb in meshes[0].data.shape_keys.key_blocks[1:]]
    assert names == list(ict_model.expression_names)
    assert meshes[0].data.materials[0].node_tree.nodes.get("Image Texture") is not None or any(
        n.type == 'TEX_IMAGE' for n in meshes[0].data.materials[0].node_tree.nodes)


def test_headless_no_face_exits_2(tmp_path):
    from PIL import Image
    path = tmp_path / "flat.png"
    Image.fromarray(np.full((200, 200, 3), 90, np.uint8)).save(path)
    proc = subprocess.run([sys.executable, str(ROOT / "scripts" / "headless_reconstruct.py"), str(path),
                           "-o", str(tmp_path / "x.blend")], cwd=ROOT, capture_output=True, text=True,
                          timeout=300)
    assert proc.returncode == 2 and "face" in proc.stderr.lower()
    assert not (tmp_path / "x.blend").exists()
