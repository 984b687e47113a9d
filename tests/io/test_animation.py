"""animation.json round trips, and head_animated.glb: the real model's glb with an animation,
parsed back from its bytes and imported by Blender's own glTF importer (real bpy)."""
from __future__ import annotations

import json
import struct
import subprocess
import sys
import textwrap

import numpy as np
import pytest

from engine.core.errors import AnimationFileError, AnimationVersionError
from engine.io.gltf import write_glb
from engine.io.animation import Animation, glb_animation, gltf_node_pose, read_animation, write_animation
from engine.core.quaternion import matrix_from_quat, quat_exp

FPS = 25
FRONTAL = np.diag([1.0, -1.0, -1.0])  # a head facing the camera (OpenCV), docs/architecture.md


def _animation(names, T=12, seed=0):
    """A head turning (yaw) and drifting, the jaw opening; frame 4 bridged, frames 7-8 without a face."""
    rng = np.random.default_rng(seed)
    times = np.arange(T) / FPS
    yaw = np.linspace(-0.4, 0.5, T)
    R = np.stack([FRONTAL @ matrix_from_quat(quat_exp([0.0, a, 0.0])) for a in yaw])
    t = np.stack([np.linspace(-3, 3, T), np.linspace(1, -1, T), np.linspace(55, 65, T)], 1)
    w = rng.random((T, len(names))) * 0.3
    w[:, names.index("jawOpen")] = np.linspace(0, 1, T)
    found = np.ones(T, bool)
    found[[4, 7, 8]] = False
    bridged = np.zeros(T, bool)
    bridged[4] = True
    for a in (R, t, w):
        a[[7, 8]] = np.nan
    conf = np.where(found, 0.9, 0.0)
    return Animation(times=times, rotation=R, translation=t, weights=w, expression_names=names,
                     confidence=conf, face_found=found, bridged=bridged, fps=FPS,
                     camera={"K": [[800.0, 0, 255.5], [0, 800.0, 255.5], [0, 0, 1]], "width": 512, "height": 512},
                     source={"video": "clip.mp4"})


def test_animation_json_round_trip(ict_model, tmp_path):
    a = _animation(list(ict_model.expression_names))
    p = tmp_path / "animation.json"
    write_animation(p, a)
    doc = json.loads(p.read_text())
    assert (doc["format"], doc["version"], doc["units"], doc["camera_convention"]) == \
        ("facespace-animation", 1, "cm", "opencv")
    f0, f7 = doc["frames"][0], doc["frames"][7]
    assert set(f0["expressions"]) == set(ict_model.expression_names) and len(f0["rotation"]) == 3
    assert f7["face_found"] is False and f7["bridged"] is False and f7["rotation"] is None
    assert doc["frames"][4]["bridged"] is True and doc["frames"][4]["translation"] is not None
    b = read_animation(p)
    for k in ("times", "rotation", "translation", "weights", "confidence"):
        np.testing.assert_allclose(getattr(b, k), getattr(a, k), atol=1e-6, equal_nan=True, err_msg=k)
    assert b.face_found.tolist() == a.face_found.tolist() and b.bridged.tolist() == a.bridged.tolist()
    assert b.expression_names == a.expression_names and b.fps == FPS
    assert b.camera["width"] == 512 and b.source == {"video": "clip.mp4"}
    assert b.has_pose.tolist() == [i not in (7, 8) for i in range(12)]


def test_animation_json_errors(tmp_path, ict_model):
    p = tmp_path / "a.json"
    with pytest.raises(AnimationFileError, match="does not exist"):
        read_animation(p)
    p.write_text("{not json")
    with pytest.raises(AnimationFileError, match="not valid JSON"):
        read_animation(p)
    p.write_text(json.dumps({"format": "something-else"}))
    with pytest.raises(AnimationFileError, match="format"):
        read_animation(p)
    write_animation(p, _animation(list(ict_model.expression_names)))
    doc = json.loads(p.read_text())
    doc["version"] = 2
    p.write_text(json.dumps(doc))
    with pytest.raises(AnimationVersionError, match="version 2"):
        read_animation(p)
    doc["version"] = 1
    del doc["frames"][3]["expressions"]["jawOpen"]
    p.write_text(json.dumps(doc))
    with pytest.raises(AnimationFileError, match="missing"):
        read_animation(p)


def test_gltf_node_pose():
    """Camera at the origin looking down -z (glTF): a frontal head has no rotation and sits at -z."""
    q, t = gltf_node_pose(FRONTAL[None], np.array([[2.0, -3.0, 60.0]]))
    np.testing.assert_allclose(q, [[0, 0, 0, 1]], atol=1e-12)
    np.testing.assert_allclose(t, [[0.02, 0.03, -0.6]])
    a = 0.3   # a turn about the model's +y (up): the same turn about glTF's +y
    q, _ = gltf_node_pose((FRONTAL @ matrix_from_quat(quat_exp([0, a, 0])))[None], np.zeros((1, 3)))
    np.testing.assert_allclose(q, [[0, np.sin(a / 2), 0, np.cos(a / 2)]], atol=1e-12)
    yaw = np.linspace(0, 2 * np.pi, 40)   # a full turn: consecutive quaternions keep one sign
    q, _ = gltf_node_pose(np.stack([FRONTAL @ matrix_from_quat(quat_exp([0, y, 0])) for y in yaw]), np.zeros((40, 3)))
    assert np.all(np.sum(q[1:] * q[:-1], 1) > 0)


# -- glb -----------------------------------------------------------------------------------

def read_glb(path):
    data = path.read_bytes()
    magic, version, length = struct.unpack_from("<III", data, 0)
    assert (magic, version, length) == (0x46546C67, 2, len(data))
    jlen, jtype = struct.unpack_from("<II", data, 12)
    doc = json.loads(data[20:20 + jlen])
    blen, btype = struct.unpack_from("<II", data, 20 + jlen)
    assert (jtype, btype) == (0x4E4F534A, 0x004E4942)
    return doc, data[28 + jlen:28 + jlen + blen]


def accessor(doc, binary, i):
    a = doc["accessors"][i]
    assert a["componentType"] == 5126 and "sparse" not in a
    k = {"SCALAR": 1, "VEC3": 3, "VEC4": 4}[a["type"]]
    v = doc["bufferViews"][a["bufferView"]]
    assert v["byteLength"] == a["count"] * k * 4
    return np.frombuffer(binary, np.float32, a["count"] * k, v["byteOffset"]).reshape(a["count"], k)


@pytest.fixture(scope="module")
def animated_glb(ict_model, tmp_path_factory):
    a = _animation(list(ict_model.expression_names))
    d = tmp_path_factory.mktemp("anim")
    tex = np.full((16, 16, 3), 180, np.uint8)
    write_glb(d / "head.glb", ict_model, ict_model.mean, tex)
    write_glb(d / "head_animated.glb", ict_model, ict_model.mean, tex, animation=glb_animation(a))
    return a, d / "head_animated.glb", d / "head.glb"


def test_glb_animation_keyframes(ict_model, animated_glb):
    a, path, plain = animated_glb
    doc, binary = read_glb(path)
    assert "animations" not in read_glb(plain)[0]          # without animation= nothing changes
    (anim,) = doc["animations"]
    keep = [i for i in range(12) if i not in (7, 8)]       # frames without a face are not keyframes
    paths = {}
    for ch in anim["channels"]:
        s = anim["samplers"][ch["sampler"]]
        assert ch["target"]["node"] == 0 and s["interpolation"] == "LINEAR"
        times = accessor(doc, binary, s["input"])[:, 0]
        np.testing.assert_allclose(times, a.times[keep], atol=1e-7)
        acc = doc["accessors"][s["input"]]
        assert acc["min"] == [0.0] and acc["max"] == pytest.approx([a.times[keep][-1]])
        paths[ch["target"]["path"]] = accessor(doc, binary, s["output"])
    assert set(paths) == {"weights", "rotation", "translation"}
    np.testing.assert_allclose(paths["weights"].reshape(len(keep), 53), a.weights[keep], atol=1e-7)
    q, t = gltf_node_pose(a.rotation[keep], a.translation[keep])
    np.testing.assert_allclose(paths["rotation"], q, atol=1e-7)
    np.testing.assert_allclose(paths["translation"], t, atol=1e-7)
    yaw = 2 * np.arctan2(paths["rotation"][:, 1], paths["rotation"][:, 3])
    np.testing.assert_allclose(yaw, np.linspace(-0.4, 0.5, 12)[keep], atol=1e-6)  # the turn we made
    assert doc["meshes"][0]["extras"]["targetNames"] == list(ict_model.expression_names)


@pytest.mark.bpy
def test_animated_glb_imports_into_blender(ict_model, animated_glb):
    """Blender's glTF importer (real bpy, a child process) makes a shape-key action with the same
    keys at the same frames (scene at the animation's 25 fps: frame = time * fps) and animates
    the object's location and rotation."""
    pytest.importorskip("bpy")
    a, path, _ = animated_glb
    script = textwrap.dedent(f"""
        import bpy, json
        bpy.ops.wm.read_factory_settings(use_empty=True)
        bpy.context.scene.render.fps = {FPS}
        bpy.context.scene.render.fps_base = 1.0
        bpy.ops.import_scene.gltf(filepath={str(path)!r})

        def fcurves(idb):
            ad = idb.animation_data
            act = ad.action
            if getattr(act, "is_action_layered", False):
                for layer in act.layers:
                    for strip in layer.strips:
                        bag = strip.channelbag(ad.action_slot)
                        if bag:
                            return list(bag.fcurves)
            return list(act.fcurves)

        obj = [o for o in bpy.data.objects if o.type == 'MESH'][0]
        keys = {{}}
        for fc in fcurves(obj.data.shape_keys):
            name = fc.data_path.split('"')[1]
            keys[name] = [[k.co[0], k.co[1], k.interpolation] for k in fc.keyframe_points]
        pose = {{}}
        for fc in fcurves(obj):
            pose[fc.data_path + str(fc.array_index)] = [[k.co[0], k.co[1]] for k in fc.keyframe_points]
        print("RESULT" + json.dumps({{"keys": keys, "pose": pose, "mode": obj.rotation_mode}}))
    """)
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=180)
    line = [ln for ln in out.stdout.splitlines() if ln.startswith("RESULT")]
    assert line, out.stdout[-2000:] + out.stderr[-2000:]
    r = json.loads(line[0][6:])
    keep = [i for i in range(12) if i not in (7, 8)]
    frames = a.times[keep] * FPS
    assert sorted(r["keys"]) == sorted(ict_model.expression_names)
    for e, name in enumerate(ict_model.expression_names):
        k = np.array([x[:2] for x in r["keys"][name]])
        np.testing.assert_allclose(k[:, 0], frames, atol=1e-4, err_msg=name)
        np.testing.assert_allclose(k[:, 1], a.weights[keep, e], atol=1e-6, err_msg=name)
        assert {x[2] for x in r["keys"][name]} == {"LINEAR"}
    # glTF (x, y, z) -> Blender (x, -z, y); quaternions (x, y, z, w) -> Blender (w, x, -z, y)
    q, t = gltf_node_pose(a.rotation[keep], a.translation[keep])
    loc = np.array([[p[1] for p in r["pose"][f"location{i}"]] for i in range(3)]).T
    np.testing.assert_allclose(loc, np.stack([t[:, 0], -t[:, 2], t[:, 1]], 1), atol=1e-6)
    rot = np.array([[p[1] for p in r["pose"][f"rotation_quaternion{i}"]] for i in range(4)]).T
    np.testing.assert_allclose(rot, np.stack([q[:, 3], q[:, 0], -q[:, 2], q[:, 1]], 1), atol=1e-6)
    assert np.allclose([p[0] for p in r["pose"]["location0"]], frames, atol=1e-4)
