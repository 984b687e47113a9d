"""Keyframing a performance onto a head (main thread only): a tracked video (engine Track) or a
Live Link Face CSV.

Frames: the clip's first frame is scene frame `frame_start`; a frame at time t s is
`frame_start + t * clip_fps` (the clip's own rate, so a clip tracked with step N is keyed every
N frames and the background movie stays in step). Frames without a face that the engine did
not bridge get no keyframe (the curves interpolate across them); they are recorded in
`obj["facespace_track"]` and marked on the timeline ("FaceSpace: no face ..."), as bridged
runs are ("FaceSpace: bridged ...").

Pose: the track's `rotation`/`translation` map model space (cm) into the OpenCV camera. With
the head's rest matrix `rest` (model cm -> world, its 0.01 scale included: the matrix the head
had before its first track) and the camera's rigid world matrix `W`,
    world = W @ diag(1, -1, -1, 1) @ diag(s, s, s, 1) @ [R | t]   (s = the head's scale)
Animating the head: W is fixed where the first tracked frame puts the head at `rest`;
animating the camera: the head stays at `rest` and W(f) = rest @ inverse([R | t]) @ flip,
rigid (operators/camera.py's placement, per frame). A Live Link CSV has no head position:
its yaw/pitch/roll (docs/architecture.md) turn the head about its origin in model space,
world = rest @ Rz(roll) Ry(yaw) Rx(pitch).

Everything is built or nothing: on an exception the datablocks made are removed and the
head's previous actions are put back.
"""
from __future__ import annotations

import os

import numpy as np

from .. import strings as S
from ..common.heads import TRACK_KEY
from . import camera as camera_mod
from .track_jobs import clip_fps, frames_of

TRACK_CAMERA_KEY = "facespace_track_camera"  # the video camera object (ID pointer)
REST_KEY = "facespace_rest_matrix"     # the head's world matrix before its first performance (16)
MARKER_PREFIX = "FaceSpace: "
_FLIP = np.diag([1.0, -1.0, -1.0, 1.0])
_LINEAR = 1  # BezTriple interpolation enum value of 'LINEAR' (CONSTANT 0, LINEAR 1, BEZIER 2)
FRAME_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp")


# ---- fcurves (Blender 4.2 actions and 4.4+ layered actions) ---------------------------------
def fcurves(id_data):
    """The F-curves animating `id_data` (its assigned action; its slot's channelbag on 4.4+)."""
    ad = id_data.animation_data
    if ad is None or ad.action is None:
        return []
    act = ad.action
    if getattr(act, "is_action_layered", False) and getattr(ad, "action_slot", None) is not None:
        for layer in act.layers:
            for strip in layer.strips:
                bag = strip.channelbag(ad.action_slot)
                if bag is not None:
                    return list(bag.fcurves)
        return []
    return list(act.fcurves)


def _fill(fc, frames, values):
    """Replace the F-curve's keys by (frames, values), LINEAR, in one go."""
    n = len(frames)
    kp = fc.keyframe_points
    kp.clear()
    kp.add(n)
    co = np.empty(2 * n, dtype=np.float32)
    co[0::2], co[1::2] = frames, values
    kp.foreach_set("co", co)
    kp.foreach_set("interpolation", np.full(n, _LINEAR, dtype=np.int32))
    fc.update()


def key_channels(id_data, channels, frames, action_name, undo=None):
    """Replace `id_data`'s action by a new one, `action_name`, keyed with `channels`:
    [(data_path, index, owner, prop, values (T,))] at `frames` (T,). The action is made here (on
    4.4+ Blender would otherwise put an object's and its shape keys' curves in one shared action);
    `owner.keyframe_insert(prop, index)` makes each F-curve where Blender wants it (a 4.4+ slot
    included); `_fill` then writes every key at once."""
    import bpy
    act = bpy.data.actions.new(action_name)
    if undo is not None:
        undo.add(bpy.data.actions, act)
    ad = id_data.animation_data_create()
    ad.action = act
    f0 = float(frames[0])
    for _path, index, owner, prop, _values in channels:
        owner.keyframe_insert(prop, index=index, frame=f0)
    by_path = {(fc.data_path, fc.array_index): fc for fc in fcurves(id_data)}
    for path, index, _owner, _prop, values in channels:
        _fill(by_path[(path, max(index, 0))], frames, values)
    return act


class _Undo:
    """Datablocks made, and (id, action[, slot]) assignments replaced, while applying; `undo()`
    puts everything back (the operator's own undo step covers a successful run)."""

    def __init__(self):
        self.made, self.actions = [], []

    def add(self, collection, item):
        self.made.append((collection, item))
        return item

    def keep_action(self, id_data):
        ad = id_data.animation_data
        self.actions.append((id_data, ad.action if ad else None, getattr(ad, "action_slot", None) if ad else None))

    def undo(self):
        import bpy
        for id_data, action, slot in reversed(self.actions):
            try:
                made = id_data.animation_data.action if id_data.animation_data else None
                if action is None and id_data.animation_data is not None:
                    id_data.animation_data.action = None
                elif action is not None:
                    id_data.animation_data_create().action = action
                    if slot is not None and hasattr(id_data.animation_data, "action_slot"):
                        id_data.animation_data.action_slot = slot
                if made is not None and made is not action and made.users == 0:
                    bpy.data.actions.remove(made)
            except ReferenceError:
                pass
        for collection, item in reversed(self.made):
            try:
                collection.remove(item)
            except ReferenceError:
                pass


# ---- pose maths (numpy) ------------------------------------------------------------------
def _pose_matrices(rotation, translation) -> np.ndarray:
    T = len(rotation)
    M = np.tile(np.eye(4), (T, 1, 1))
    M[:, :3, :3], M[:, :3, 3] = rotation, translation
    return M


def _scale_of(rest) -> float:
    return float(np.linalg.norm(np.asarray(rest)[:3, 0]))


def camera_worlds(rest, pose) -> np.ndarray:
    """Rigid camera world matrices (T, 4, 4) that see a head at `rest` with the poses (T, 4, 4)."""
    s = _scale_of(rest)
    W = np.asarray(rest) @ np.linalg.inv(pose) @ _FLIP
    W[:, :3, :3] /= s
    return W


def head_worlds(rest, camera_world, pose) -> np.ndarray:
    """Head world matrices (T, 4, 4) with the camera fixed at `camera_world` (4, 4)."""
    s = _scale_of(rest)
    return np.asarray(camera_world) @ _FLIP @ np.diag([s, s, s, 1.0]) @ pose


def rest_matrix(obj) -> np.ndarray:
    """The head's world matrix before its first performance (stored then), else the current one."""
    rest = obj.get(REST_KEY)
    if rest is not None and len(rest) == 16:
        return np.asarray(rest, dtype=np.float64).reshape(4, 4)
    return np.array(obj.matrix_world, dtype=np.float64)


def _basis(obj, world):
    """World matrices -> the object's own (basis) matrices, through its parent if it has one."""
    if obj.parent is None:
        return world
    par = np.array(obj.parent.matrix_world, dtype=np.float64) @ np.array(obj.matrix_parent_inverse, dtype=np.float64)
    return np.linalg.inv(par) @ world


def transform_channels(obj, world):
    """[(data_path, index, owner, prop, values)] keying location and rotation of `obj` to the
    world matrices (T, 4, 4) (rotation in the object's own mode; Euler kept continuous)."""
    from mathutils import Matrix
    if obj.rotation_mode == 'AXIS_ANGLE':
        obj.rotation_mode = 'XYZ'
    quat = obj.rotation_mode == 'QUATERNION'
    locs, rots = [], []
    prev = None
    for m in _basis(obj, world):
        loc, q, _scale = Matrix(m.tolist()).decompose()
        locs.append(tuple(loc))
        if quat:
            if prev is not None and q.dot(prev) < 0:
                q.negate()
            prev = q
            rots.append(tuple(q))
        else:
            e = q.to_euler(obj.rotation_mode, prev) if prev is not None else q.to_euler(obj.rotation_mode)
            prev = e
            rots.append(tuple(e))
    locs, rots = np.asarray(locs), np.asarray(rots)
    rprop = "rotation_quaternion" if quat else "rotation_euler"
    return ([("location", i, obj, "location", locs[:, i]) for i in range(3)]
            + [(rprop, i, obj, rprop, rots[:, i]) for i in range(rots.shape[1])])


def shape_key_channels(obj, names, weights):
    blocks = obj.data.shape_keys.key_blocks
    out = []
    for j, name in enumerate(names):
        kb = blocks.get(name)
        if kb is not None:
            out.append((f'key_blocks["{name}"].value', -1, kb, "value", np.clip(weights[:, j], 0.0, 1.0)))
    return out


def _runs(mask):
    """(start, length) of each run of True in a 1-D bool array."""
    out, i, n = [], 0, len(mask)
    while i < n:
        if mask[i]:
            j = i
            while j < n and mask[j]:
                j += 1
            out.append((i, j - i))
            i = j
        else:
            i += 1
    return out


def set_scene_timing(scene, fps: float, frame_start: int, frame_end: int) -> None:
    """Scene frame rate (integer fps + fps_base, e.g. 30 / 1.001 for 29.97) and frame range."""
    fps_int = max(int(round(fps)), 1)
    scene.render.fps, scene.render.fps_base = fps_int, fps_int / float(fps)
    scene.frame_start, scene.frame_end = int(frame_start), max(int(frame_end), int(frame_start))
    scene.frame_current = int(frame_start)


def movie_path(video) -> str:
    """What bpy.data.movieclips.load takes: the file, or a folder's first frame (a sequence)."""
    video = os.fspath(video)
    if os.path.isdir(video):
        files = sorted(f for f in os.listdir(video) if os.path.splitext(f)[1].lower() in FRAME_EXTENSIONS)
        return os.path.join(video, files[0]) if files else video
    return video


def _clear_markers(scene):
    for m in [m for m in scene.timeline_markers if m.name.startswith(MARKER_PREFIX)]:
        scene.timeline_markers.remove(m)


# ---- a tracked video -------------------------------------------------------------------
def apply_track(context, obj, track, video, *, animate: str = 'HEAD', frame_start: int = 1,
                load_clip: bool = True) -> dict:
    """Keyframe `track` (engine Track) onto the head `obj`: the 53 shape keys, and the head's
    transform ('HEAD') or a camera's ('CAMERA'); the clip as the camera's background movie;
    the scene's fps and frame range. Returns the record stored in obj["facespace_track"]."""
    import bpy
    from mathutils import Matrix
    scene = context.scene
    fps = clip_fps(track)
    frames_all = frames_of(track.times, fps, frame_start)
    has_pose = (np.all(np.isfinite(track.weights), 1) & np.all(np.isfinite(track.translation), 1)
                & np.all(np.isfinite(track.rotation), (1, 2)))
    if not has_pose.any():
        raise ValueError("the track has no frame with a face")
    keep = np.flatnonzero(has_pose)
    frames = frames_all[keep]
    rest = rest_matrix(obj)
    pose = _pose_matrices(track.rotation[keep], track.translation[keep])
    w, h = (int(v) for v in track.image_size)
    name = obj.name
    undo = _Undo()
    try:
        # the video camera: reused from an earlier track of this head, else a new one
        cam_obj = obj.get(TRACK_CAMERA_KEY)
        if cam_obj is None or getattr(cam_obj, "type", None) != 'CAMERA' or cam_obj.name not in scene.objects:
            cam_obj = camera_mod.add_camera(context, f"{name} video camera", track.K, np.eye(4), (w, h))
            undo.add(bpy.data.cameras, cam_obj.data)
            undo.add(bpy.data.objects, cam_obj)
            scene.collection.objects.link(cam_obj)
        else:
            for k, v in camera_mod.intrinsics(track.K, (w, h)).items():
                setattr(cam_obj.data, k, v)
        cam = cam_obj.data
        clip = None
        if load_clip:
            clip = undo.add(bpy.data.movieclips, bpy.data.movieclips.load(movie_path(video), check_existing=False))
            clip.frame_start = int(frame_start)
        # keys
        undo.keep_action(obj.data.shape_keys)
        undo.keep_action(obj)
        undo.keep_action(cam_obj)
        key_channels(obj.data.shape_keys, shape_key_channels(obj, track.expression_names, track.weights[keep]),
                     frames, f"{name} expressions (track)", undo)
        if animate == 'CAMERA':
            if obj.animation_data is not None:
                prev = (obj.get(TRACK_KEY) or {}).get("object_action")
                if prev and obj.animation_data.action is not None and obj.animation_data.action.name == prev:
                    obj.animation_data.action = None  # the head's pose from an earlier track
            obj.matrix_world = Matrix(rest.tolist())
            key_channels(cam_obj, transform_channels(cam_obj, camera_worlds(rest, pose)), frames,
                         f"{cam_obj.name} (track)", undo)
            object_action = ""
        else:
            if cam_obj.animation_data is not None:
                cam_obj.animation_data.action = None
            W0 = camera_worlds(rest, pose[:1])[0]
            cam_obj.matrix_world = Matrix(W0.tolist())
            act = key_channels(obj, transform_channels(obj, head_worlds(rest, W0, pose)), frames,
                               f"{name} pose (track)", undo)
            object_action = act.name if act is not None else ""
        # the clip behind the camera
        if clip is not None:
            for bg in [b for b in cam.background_images if b.source == 'MOVIE_CLIP']:
                cam.background_images.remove(bg)
            bg = cam.background_images.new()
            bg.source = 'MOVIE_CLIP'
            bg.clip = clip
            bg.use_camera_clip = False
            bg.alpha = 0.5
            bg.display_depth = 'FRONT'
            cam.show_background_images = True
            scene.active_clip = clip
        # flags: no face / bridged runs on the timeline, and in the record
        _clear_markers(scene)
        missing = ~has_pose
        bridged = np.asarray(track.bridged, dtype=bool)
        for mask, label in ((missing, S.TRACK_MARKER_NO_FACE), (bridged, S.TRACK_MARKER_BRIDGED)):
            for start, n in _runs(mask):
                scene.timeline_markers.new(MARKER_PREFIX + label.format(n=n), frame=int(frames_all[start]))
        frame_end = int(frames_all[-1])
        record = {
            "video": os.fspath(video), "fps": fps, "frame_start": int(frame_start), "frame_end": frame_end,
            "frames": [int(f) for f in frames_all], "face_found": [int(v) for v in track.face_found],
            "bridged": [int(v) for v in bridged], "keyed": int(len(keep)), "animate": animate,
            "image_size": [w, h], "K": [float(v) for v in np.asarray(track.K).ravel()],
            "identity": track.source.get("identity", ""), "object_action": object_action,
            "rest_matrix": [float(v) for v in rest.ravel()], "clip": clip.name if clip is not None else "",
        }
        obj[TRACK_KEY] = record
        obj[REST_KEY] = record["rest_matrix"]
        obj[TRACK_CAMERA_KEY] = cam_obj
        camera_mod.match_render_size(scene, (w, h))
        set_scene_timing(scene, fps, frame_start, frame_end)
        scene.camera = cam_obj
        context.view_layer.update()
        return record
    except Exception:
        undo.undo()
        raise


# ---- a Live Link Face CSV ----------------------------------------------------------------
def apply_live_link(context, obj, take, *, frame_start: int = 1, rotation: bool = True,
                    set_scene: bool = True) -> dict:
    """Keyframe a read Live Link Face take (engine.io.arkit.LiveLinkTake) onto the head: the shape
    keys at frame_start + time * take.fps, and, when the CSV has head angles and `rotation`,
    the head's rotation (its location is held). Returns a summary."""
    from ..engine.core.geometry import FRONTAL_FLIP, euler_to_matrix
    frames = frame_start + np.asarray(take.times, dtype=np.float64) * float(take.fps)
    near = np.rint(frames)
    frames = np.where(np.abs(frames - near) < 1e-3, near, frames)  # whole frames stay whole
    undo = _Undo()
    try:
        undo.keep_action(obj.data.shape_keys)
        key_channels(obj.data.shape_keys, shape_key_channels(obj, take.names, take.weights), frames,
                     f"{obj.name} expressions (Live Link)", undo)
        head = np.asarray(take.head, dtype=np.float64)
        rotated = bool(rotation and len(head) and np.all(np.isfinite(head)))
        if rotated:
            undo.keep_action(obj)
            rest = rest_matrix(obj)
            R = FRONTAL_FLIP @ euler_to_matrix(head[:, 0], head[:, 1], head[:, 2])  # Rz(roll) Ry(yaw) Rx(pitch)
            world = np.tile(rest, (len(R), 1, 1))
            world[:, :3, :3] = rest[:3, :3] @ R
            channels = [c for c in transform_channels(obj, world) if c[0] != "location"]
            key_channels(obj, channels, frames, f"{obj.name} pose (Live Link)", undo)
            obj[REST_KEY] = [float(v) for v in rest.ravel()]
        if set_scene:
            set_scene_timing(context.scene, take.fps, frame_start, int(np.ceil(frames[-1])))
        return {"frames": len(frames), "rotation": rotated, "fps": float(take.fps)}
    except Exception:
        undo.undo()
        raise
