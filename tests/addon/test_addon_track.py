"""Performance capture in Blender (real bpy, real engine, a real clip; no mocks): the Track Video
operator (EXEC, as scripts call it) on a head reconstructed from a real photo keys the 53 shape
keys and the head's transform at the clip's frames, sets the scene's fps and frame range and
the clip behind the camera, in one undo step; the keyed head seen through the video camera
projects where the engine's Track puts it (head or camera animated); a folder of frames with a
faceless tail leaves those frames unkeyed and marked; a clip without a face reports an error and
builds nothing; a Live Link Face CSV written by engine/io/arkit round-trips through the import
operator; and the engine's own head_animated.glb of the same track re-imports with the same keys.
"""
from __future__ import annotations

import numpy as np
import pytest

pytestmark = [pytest.mark.bpy, pytest.mark.shared, pytest.mark.slow]
bpy = pytest.importorskip("bpy")
pytest.importorskip("engine.pipeline.track")
from tests.addon_support import evaluated_vertices, headless  # noqa: E402
from tests.conftest import need_shared  # noqa: E402

PHOTO = ("photos", "identity", "obama__obama.jpg")
CLIP = ("videos", "LivePortrait__driving_d0.mp4")  # 78 frames, 512x512, 25 fps
N = 30  # frames tracked by the operator (max_frames)


@pytest.fixture(scope="module")
def head_blend(ict_model, tmp_path_factory):
    """A head reconstructed from a real photo (texture 256), saved so each test can reopen it."""
    photo, clip = need_shared(*PHOTO), need_shared(*CLIP)
    headless.load_addon()
    bpy.ops.wm.read_factory_settings(use_empty=True)
    from facespace import api
    api.reconstruct(str(photo), texture_size=256, quality="fast", device="cpu")
    path = tmp_path_factory.mktemp("track") / "head.blend"
    bpy.ops.wm.save_as_mainfile(filepath=str(path))
    yield {"blend": path, "clip": clip}
    headless.unload_addon()  # bpy can hang at exit with the classes still registered


def _open(blend):
    bpy.ops.wm.open_mainfile(filepath=str(blend))
    head = next(o for o in bpy.data.objects if o.type == 'MESH' and o.facespace.is_head)
    bpy.context.view_layer.objects.active = head
    return head


def _fcurves(id_data):
    from facespace.operators.track_anim import fcurves
    return {(fc.data_path, fc.array_index): fc for fc in fcurves(id_data)}


def _keys(fc):
    co = np.empty(2 * len(fc.keyframe_points), np.float32)
    fc.keyframe_points.foreach_get("co", co)
    return co[0::2], co[1::2]


def _frames_of(path):
    import cv2
    cap = cv2.VideoCapture(str(path))
    out = []
    while True:
        ok, frame = cap.read()
        if not ok:
            break
        out.append(frame)
    cap.release()
    return out


def test_track_operator_keys_shape_keys_pose_scene_and_clip(head_blend, ict_model):
    head = _open(head_blend["blend"])
    names = list(ict_model.expression_names)
    rest = np.array(head.matrix_world)
    bpy.ops.ed.undo_push(message="before tracking")
    # second positional argument: push an undo step like a click in the UI does
    assert bpy.ops.facespace.track_video('EXEC_DEFAULT', True, filepath=str(head_blend["clip"]),
                                         max_frames=N) == {'FINISHED'}
    scene = bpy.context.scene
    frames = np.arange(1, N + 1, dtype=np.float32)
    keys = _fcurves(head.data.shape_keys)
    assert sorted(p for p, _ in keys) == sorted(f'key_blocks["{n}"].value' for n in names)
    weights = np.stack([_keys(keys[(f'key_blocks["{n}"].value', 0)])[1] for n in names], 1)
    for fc in keys.values():
        f, v = _keys(fc)
        np.testing.assert_array_equal(f, frames)
        assert {k.interpolation for k in fc.keyframe_points} == {'LINEAR'}
    assert weights.min() >= 0 and weights.max() <= 1 and weights.std(0).max() > 0.02  # it moves
    pose = _fcurves(head)
    assert set(pose) == {("location", i) for i in range(3)} | {("rotation_euler", i) for i in range(3)}
    for fc in pose.values():
        np.testing.assert_array_equal(_keys(fc)[0], frames)
    scene.frame_set(1)  # the first tracked frame puts the head where it was
    np.testing.assert_allclose(np.array(head.matrix_world), rest, atol=1e-5)
    assert (scene.render.fps, scene.render.fps_base) == (25, 1.0)
    assert (scene.frame_start, scene.frame_end) == (1, N)
    assert (scene.render.resolution_x, scene.render.resolution_y) == (512, 512)
    cam = scene.camera
    assert cam is head["facespace_track_camera"] and cam is not head.facespace.camera  # not the photo's
    (bg,) = cam.data.background_images
    assert bg.source == 'MOVIE_CLIP' and cam.data.show_background_images
    assert bpy.path.abspath(bg.clip.filepath) == str(head_blend["clip"]) and bg.clip.frame_start == 1
    assert bg.clip.size[:] == (512, 512)
    rec = head["facespace_track"]
    assert list(rec["frames"]) == list(range(1, N + 1)) and sum(rec["face_found"]) == N and rec["keyed"] == N
    assert not [m for m in scene.timeline_markers if m.name.startswith("FaceSpace")]
    # one undo step takes all of it away
    bpy.ops.ed.undo()
    head = next(o for o in bpy.data.objects if o.type == 'MESH')
    assert head.data.shape_keys.animation_data is None or head.data.shape_keys.animation_data.action is None
    assert head.animation_data is None or head.animation_data.action is None
    assert len(bpy.data.movieclips) == 0 and len(bpy.data.actions) == 0
    assert [o.name for o in bpy.data.objects if o.type == 'CAMERA'] == [head.facespace.camera.name]
    assert (bpy.context.scene.render.fps, bpy.context.scene.frame_end) == (24, 250)


def _project(scene, cam_obj, world_pts):
    """Blender's camera view of world points -> OpenCV pixel coordinates (0-based centres)."""
    from bpy_extras.object_utils import world_to_camera_view
    from mathutils import Vector
    w, h = scene.render.resolution_x, scene.render.resolution_y
    ndc = np.array([tuple(world_to_camera_view(scene, cam_obj, Vector(p))) for p in world_pts])
    return np.stack([ndc[:, 0] * w - 0.5, (1 - ndc[:, 1]) * h - 0.5], 1)


def test_keyed_head_projects_like_the_engine_track(head_blend, ict_model, tmp_path):
    """Through the video camera, the keyed head's vertices land where the Track's pose and K put
    them (animating the head, then the camera); the shape keys hold the Track's weights; and the
    engine's head_animated.glb of the same Track re-imports into Blender with the same keys."""
    from facespace.operators import track_anim, track_jobs
    from engine.io.track_export import write_track_outputs
    head = _open(head_blend["blend"])
    track = track_jobs.run_track(str(head_blend["clip"]), ict_model, track_jobs.head_params(head),
                                 track_jobs.track_options(max_frames=12))
    np.testing.assert_allclose(track.identity, track_jobs.head_params(head)["identity"], atol=1e-6)  # held fixed
    names = list(track.expression_names)
    scene = bpy.context.scene
    sample = np.random.default_rng(0).choice(ict_model.n_vertices, 300, replace=False)
    for animate in ('HEAD', 'CAMERA'):
        track_anim.apply_track(bpy.context, head, track, str(head_blend["clip"]), animate=animate)
        assert (head.animation_data.action is None) == (animate == 'CAMERA')
        moving = scene.camera if animate == 'CAMERA' else head
        assert len(_fcurves(moving)) == 6 and all(len(fc.keyframe_points) == 12 for fc in _fcurves(moving).values())
        for i in (0, 5, 11):
            scene.frame_set(1 + i)
            X = evaluated_vertices(head)[sample].astype(np.float64)  # model cm, the keyed expression
            world = np.array(head.matrix_world) @ np.c_[X, np.ones(len(X))].T
            x = track.K @ (track.rotation[i] @ X.T + track.translation[i][:, None])
            expected = (x[:2] / x[2]).T
            err = np.abs(_project(scene, scene.camera, world[:3].T) - expected).max()
            assert err < 0.05, f"{animate} frame {i}: {err:.3f} px"
            kb = head.data.shape_keys.key_blocks
            np.testing.assert_allclose([kb[n].value for n in names], np.clip(track.weights[i], 0, 1), atol=1e-6)
    # the engine's export of the same track, into Blender: the same keys at time * fps
    write_track_outputs(track, ict_model, tmp_path / "out")
    bpy.ops.wm.read_factory_settings(use_empty=True)
    bpy.context.scene.render.fps, bpy.context.scene.render.fps_base = 25, 1.0
    bpy.ops.import_scene.gltf(filepath=str(tmp_path / "out" / "head_animated.glb"))
    obj = next(o for o in bpy.data.objects if o.type == 'MESH')
    keys = _fcurves(obj.data.shape_keys)
    assert sorted(p for p, _ in keys) == sorted(f'key_blocks["{n}"].value' for n in names)
    for j, n in enumerate(names):
        f, v = _keys(keys[(f'key_blocks["{n}"].value', 0)])
        np.testing.assert_allclose(f, track.times * 25, atol=1e-4)
        np.testing.assert_allclose(v, np.clip(track.weights[:, j], 0, 1), atol=1e-5, err_msg=n)
    assert {p for p, _ in _fcurves(obj)} == {"location", "rotation_quaternion"}


def test_folder_of_frames_with_a_faceless_tail(head_blend, tmp_path):
    """Frames where no face is found (and none to bridge to) get no keys and a timeline marker; the
    folder becomes an image-sequence clip behind the camera."""
    import cv2
    folder = tmp_path / "frames"
    folder.mkdir()
    frames = _frames_of(head_blend["clip"])[:16]
    for i, frame in enumerate(frames):
        cv2.imwrite(str(folder / f"frame_{i:04d}.png"), frame if i < 13 else np.full_like(frame, 128))
    head = _open(head_blend["blend"])
    assert bpy.ops.facespace.track_video(filepath=str(folder), fps=25.0) == {'FINISHED'}
    scene = bpy.context.scene
    rec = head["facespace_track"]
    assert list(rec["face_found"]) == [1] * 13 + [0] * 3 and rec["keyed"] == 13
    for fc in _fcurves(head.data.shape_keys).values():
        np.testing.assert_array_equal(_keys(fc)[0], np.arange(1, 14))
    assert (scene.frame_start, scene.frame_end) == (1, 16)
    (marker,) = [m for m in scene.timeline_markers if m.name.startswith("FaceSpace")]
    assert marker.frame == 14 and "no face (3 frames)" in marker.name
    clip = scene.camera.data.background_images[0].clip
    assert clip.source == 'SEQUENCE' and clip.frame_duration == 16


def test_no_face_reports_and_builds_nothing(head_blend, tmp_path):
    folder = tmp_path / "blank"
    folder.mkdir()
    import cv2
    for i in range(4):
        cv2.imwrite(str(folder / f"{i:03d}.png"), np.full((240, 320, 3), 90, np.uint8))
    _open(head_blend["blend"])
    before = {c: len(getattr(bpy.data, c)) for c in ("objects", "cameras", "actions", "movieclips")}
    with pytest.raises(RuntimeError, match="No face was found in any frame"):
        bpy.ops.facespace.track_video(filepath=str(folder))
    with pytest.raises(RuntimeError, match="does not exist"):
        bpy.ops.facespace.track_video(filepath=str(tmp_path / "missing.mp4"))
    assert {c: len(getattr(bpy.data, c)) for c in before} == before
    assert bpy.context.scene.render.fps == 24  # untouched


def test_live_link_csv_round_trip(head_blend, ict_model, tmp_path):
    """A CSV written by engine/io/arkit's writer imports as the same keys at the same frames
    (values within 1e-4) and the head turned by its yaw, pitch and roll."""
    from engine.io.arkit import from_arkit, to_arkit, write_live_link_csv
    from engine.core.geometry import FRONTAL_FLIP, euler_to_matrix
    names = list(ict_model.expression_names)
    T, fps = 40, 30.0
    rng = np.random.default_rng(1)
    w = from_arkit(to_arkit(rng.uniform(0, 1, (T, 53)), names), names)  # merged pairs: both sides equal
    ypr = np.stack([np.linspace(-0.4, 0.4, T), 0.1 * np.sin(np.arange(T) / 5), np.full(T, 0.05)], 1)
    path = tmp_path / "take.csv"
    write_live_link_csv(path, np.arange(T) / fps, w, fps, names, head=ypr)
    head = _open(head_blend["blend"])
    rest = np.array(head.matrix_world)
    assert bpy.ops.facespace.import_live_link(filepath=str(path), frame_start=10) == {'FINISHED'}
    keys = _fcurves(head.data.shape_keys)
    assert len(keys) == 53
    for j, n in enumerate(names):
        f, v = _keys(keys[(f'key_blocks["{n}"].value', 0)])
        np.testing.assert_array_equal(f, np.arange(10, 10 + T))
        np.testing.assert_allclose(v, w[:, j], atol=1e-4, err_msg=n)
    scene = bpy.context.scene
    assert (scene.render.fps, scene.frame_start, scene.frame_end) == (30, 10, 10 + T - 1)
    for i in (0, 17, 39):
        scene.frame_set(10 + i)
        R = FRONTAL_FLIP @ euler_to_matrix(*ypr[i])
        np.testing.assert_allclose(np.array(head.matrix_world)[:3, :3], rest[:3, :3] @ R, atol=1e-6)
        np.testing.assert_allclose(np.array(head.matrix_world)[:3, 3], rest[:3, 3], atol=1e-6)
    with pytest.raises(RuntimeError, match="not a Live Link Face CSV"):
        bpy.ops.facespace.import_live_link(filepath=str(head_blend["blend"]))


def test_background_job_progress_and_cancel(head_blend, ict_model):
    """The worker the modal operator polls: progress messages while it runs, the Track at the end;
    Esc (the cancel event) mid-clip -> Cancelled and no result. Then the sub-panel draws its
    operators (a missing operator or property fails the layout recorder)."""
    import time
    import layout_recorder as rec
    from facespace.engine.core.errors import Cancelled  # the add-on package's own class
    from facespace.operators import track_jobs
    head = _open(head_blend["blend"])
    params, clip = track_jobs.head_params(head), str(head_blend["clip"])
    job = track_jobs.TrackJob(clip, ict_model, params, track_jobs.track_options(max_frames=15)).start()
    seen = set()
    while not job.done:
        seen.add(job.status)
        time.sleep(0.01)
    assert job.error is None and len(job.result.times) == 15 and len(seen - {""}) >= 2, seen
    cancelled = track_jobs.TrackJob(clip, ict_model, params, track_jobs.track_options())
    cancelled.cancel.set()  # Esc before the first frame
    cancelled.start().join(60)
    assert cancelled.done and isinstance(cancelled.error, Cancelled) and cancelled.result is None
    drawn = rec.draw_panels("facespace")
    assert {"facespace.track_video", "facespace.import_live_link"} <= set(rec.operators(drawn["FACESPACE_PT_track"]))
