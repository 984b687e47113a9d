"""head.obj/.mtl/PNGs, head.glb and params.json, read back independently (and through real bpy)."""
from __future__ import annotations

import io
import json
import struct
import subprocess
import sys
import textwrap

import numpy as np
import pytest

from engine.core.errors import OutputExistsError
from engine.detect import FaceBox
from engine.io.export import check_outdir, params_dict, write_obj, write_outputs
from engine.io.safe_output import MANIFEST
from engine.io.gltf import split_at_seams, write_glb
from engine.model.atlas import atlas_uvs
from engine.model.obj_io import read_obj
from engine.pipeline.reconstruct import Reconstruction

TEX = 64  # small textures: the writers do not care about the size


def _texture(seed=0):
    rng = np.random.default_rng(seed)
    return {"photo": rng.integers(0, 256, (TEX, TEX, 3), dtype=np.uint8),
            "delit": rng.integers(0, 256, (TEX, TEX, 3), dtype=np.uint8),
            "confidence": rng.random((TEX, TEX)).astype(np.float32)}


@pytest.fixture(scope="module")
def rec(ict_model):
    """A Reconstruction of a head drawn from the model (no photo fitting needed to test writers)."""
    rng = np.random.default_rng(1)
    identity = rng.normal(size=100).astype(np.float32)
    expression = np.zeros(53, dtype=np.float32)
    expression[[ict_model.expression_names.index("jawOpen"), 5]] = [0.4, 0.7]
    M = np.eye(4)
    M[:3, :3] = np.diag([1.0, -1.0, -1.0])
    M[:3, 3] = [0, 0, 60]
    K = np.array([[1400.0, 0, 511.5], [0, 1400, 511.5], [0, 0, 1]])
    t = _texture()
    lm = rng.random((68, 2)).astype(np.float32) * 1000
    return Reconstruction(
        identity=identity, expression=expression, expression_names=list(ict_model.expression_names),
        rotation=M[:3, :3], translation=M[:3, 3], K=K, image_size=(1024, 1024), world_to_camera=M,
        vertices=ict_model.vertices(identity, expression).astype(np.float32),
        texture=t["photo"], texture_delit=t["delit"], texture_confidence=t["confidence"],
        landmarks={"detected478": rng.random((478, 2)), "fixed68": lm, "contour68": lm + 1},
        faces=[FaceBox((100.0, 120.0, 400.0, 460.0), 0.99, np.zeros((5, 2))),
               FaceBox((600.0, 100.0, 700.0, 220.0), 0.9, np.zeros((5, 2)))],
        face_index=0, timings={"fit": 0.2, "total": 0.5}, quality={"rms_px": np.float32(1.5)},
        path="test", image=np.zeros((1024, 1024, 3), np.uint8),
        extras={"sh_coeffs": np.ones((9, 3)), "skin_tone": np.array([0.8, 0.6, 0.5])})


# ---- a tiny independent glTF reader ---------------------------------------------------------
def read_glb(path):
    data = open(path, "rb").read()
    magic, version, length = struct.unpack_from("<III", data, 0)
    assert magic == 0x46546C67 and version == 2 and length == len(data)
    jlen, jtype = struct.unpack_from("<II", data, 12)
    assert jtype == 0x4E4F534A
    doc = json.loads(data[20:20 + jlen])
    blen, btype = struct.unpack_from("<II", data, 20 + jlen)
    assert btype == 0x004E4942
    binary = data[28 + jlen:28 + jlen + blen]
    assert len(binary) == blen == doc["buffers"][0]["byteLength"]
    return doc, binary


_NCOMP = {"SCALAR": 1, "VEC2": 2, "VEC3": 3, "VEC4": 4}
_DTYPE = {5126: np.float32, 5125: np.uint32, 5123: np.uint16}


def accessor(doc, binary, index):
    a = doc["accessors"][index]
    k = _NCOMP[a["type"]]

    def view(i, dtype, count, comps):
        v = doc["bufferViews"][i]
        assert v["byteOffset"] % 4 == 0
        return np.frombuffer(binary, dtype=dtype, count=count * comps, offset=v["byteOffset"]).reshape(count, comps)

    if "bufferView" in a:
        out = view(a["bufferView"], _DTYPE[a["componentType"]], a["count"], k).copy()
    else:
        out = np.zeros((a["count"], k), dtype=_DTYPE[a["componentType"]])
    if "sparse" in a:
        s = a["sparse"]
        idx = view(s["indices"]["bufferView"], _DTYPE[s["indices"]["componentType"]], s["count"], 1)[:, 0]
        out[idx] = view(s["values"]["bufferView"], _DTYPE[a["componentType"]], s["count"], k)
    return out if k > 1 else out[:, 0]


@pytest.fixture(scope="module")
def glb(ict_model, rec, tmp_path_factory):
    from engine.io.export import neutral_vertices
    path = tmp_path_factory.mktemp("glb") / "head.glb"
    base = neutral_vertices(rec, ict_model)
    write_glb(path, ict_model, base, rec.texture, weights=rec.expression)
    return path, base


def test_glb_structure(ict_model, glb):
    path, base = glb
    doc, binary = read_glb(path)
    mesh = doc["meshes"][0]
    assert mesh["extras"]["targetNames"] == list(ict_model.expression_names)
    assert len(mesh["extras"]["targetNames"]) == 53
    vert_of, uv_of, _ = split_at_seams(ict_model)
    prim0 = mesh["primitives"][0]
    pos = accessor(doc, binary, prim0["attributes"]["POSITION"])
    acc = doc["accessors"][prim0["attributes"]["POSITION"]]
    assert acc["count"] == len(vert_of) == len(ict_model.uvs)   # one split vertex per ICT UV
    np.testing.assert_allclose(acc["min"], pos.min(0), rtol=1e-6)
    np.testing.assert_allclose(acc["max"], pos.max(0), rtol=1e-6)
    np.testing.assert_allclose(pos, base[vert_of] * 0.01, atol=1e-6)       # cm -> m
    nrm = accessor(doc, binary, prim0["attributes"]["NORMAL"])
    np.testing.assert_allclose(np.linalg.norm(nrm, axis=1), 1.0, atol=1e-4)
    uv = accessor(doc, binary, prim0["attributes"]["TEXCOORD_0"])
    np.testing.assert_allclose(uv[:, 0], atlas_uvs(ict_model)[uv_of, 0], atol=1e-6)
    np.testing.assert_allclose(uv[:, 1], 1.0 - atlas_uvs(ict_model)[uv_of, 1], atol=1e-6)  # glTF v runs down
    # every triangle once, across the per-material primitives
    n_idx = sum(doc["accessors"][p["indices"]]["count"] for p in mesh["primitives"])
    assert n_idx == 3 * len(ict_model.triangles)
    for p in mesh["primitives"]:
        idx = accessor(doc, binary, p["indices"])
        assert idx.max() < len(vert_of)
        assert len(p["targets"]) == 53
    # morph targets (sparse or dense) are the expression deltas
    for e in (0, ict_model.expression_names.index("jawOpen"), 52):
        d = accessor(doc, binary, prim0["targets"][e]["POSITION"])
        np.testing.assert_allclose(d, ict_model.expression_basis[e][vert_of] * 0.01, atol=1e-7)
        a = doc["accessors"][prim0["targets"][e]["POSITION"]]
        np.testing.assert_allclose(a["min"], d.min(0), rtol=1e-6)
        np.testing.assert_allclose(a["max"], d.max(0), rtol=1e-6)
    assert mesh["weights"][ict_model.expression_names.index("jawOpen")] == pytest.approx(0.4)
    # the embedded texture decodes to the texture that was written
    from PIL import Image
    img = doc["images"][0]
    v = doc["bufferViews"][img["bufferView"]]
    png = Image.open(io.BytesIO(binary[v["byteOffset"]:v["byteOffset"] + v["byteLength"]]))
    assert png.size == (TEX, TEX)
    skin = [m for m in doc["materials"] if m["name"] == "skin"][0]
    assert skin["pbrMetallicRoughness"]["baseColorTexture"]["index"] == 0
    assert {"teeth", "sclera", "iris", "mouth_socket"} <= {m["name"] for m in doc["materials"]}


def test_glb_imports_into_blender(ict_model, glb):
    """Round trip through Blender's own glTF importer (real bpy, in a child process)."""
    path, base = glb
    jaw = ict_model.expression_names.index("jawOpen")
    vert_of, _, _ = split_at_seams(ict_model)
    # a vertex that jawOpen moves a lot, and where it lands in Blender (y-up -> z-up, metres)
    v = int(np.argmax(np.linalg.norm(ict_model.expression_basis[jaw][vert_of], axis=1)))
    script = textwrap.dedent(f"""
        import bpy, json
        bpy.ops.wm.read_factory_settings(use_empty=True)
        bpy.ops.import_scene.gltf(filepath={str(path)!r})
        obj = [o for o in bpy.data.objects if o.type == 'MESH'][0]
        me = obj.data
        keys = me.shape_keys.key_blocks
        kb = keys[{ict_model.expression_names[jaw]!r}]
        # the importer may reorder vertices: find ours by its basis position
        import mathutils
        target = mathutils.Vector({tuple(float(x) for x in base[vert_of[v]] * 0.01)!r})
        target = mathutils.Vector((target.x, -target.z, target.y))
        best = min(range(len(me.vertices)), key=lambda i: (me.vertices[i].co - target).length)
        print("RESULT" + json.dumps({{
            "n_vertices": len(me.vertices), "n_keys": len(keys), "names": [k.name for k in keys][1:],
            "uv_layers": len(me.uv_layers), "images": [i.name for i in bpy.data.images],
            "materials": [m.name for m in me.materials],
            "match": (me.vertices[best].co - target).length,
            "delta": list(kb.data[best].co - me.vertices[best].co), "jaw_value": kb.value}}))
    """)
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    line = [ln for ln in out.stdout.splitlines() if ln.startswith("RESULT")]
    assert line, out.stdout[-2000:] + out.stderr[-2000:]
    r = json.loads(line[0][6:])
    assert r["n_keys"] == 54 and r["names"] == list(ict_model.expression_names)
    # Blender's importer keeps each primitive's vertices apart (no merging by default): the
    # glTF vertices, plus a copy of each one that borders a second material (the eye's parts)
    doc, binary = read_glb(path)
    per_prim = [np.unique(accessor(doc, binary, p["indices"])) for p in doc["meshes"][0]["primitives"]]
    assert sum(len(u) for u in per_prim) - len(vert_of) < 300         # (the eyes' material borders)
    assert r["n_vertices"] == sum(len(u) for u in per_prim)
    assert r["uv_layers"] == 1 and len(r["images"]) == 1
    assert "skin" in r["materials"] and "teeth" in r["materials"]
    assert r["match"] < 1e-5
    d = ict_model.expression_basis[jaw][vert_of[v]] * 0.01
    np.testing.assert_allclose(r["delta"], [d[0], -d[2], d[1]], atol=1e-5)
    assert r["jaw_value"] == pytest.approx(0.4, abs=1e-6)


def test_obj_round_trip(ict_model, rec, tmp_path):
    files = write_obj(tmp_path, ict_model, rec.vertices, _texture())
    mesh = read_obj(tmp_path / files["obj"])
    assert mesh.positions.shape == (ict_model.n_vertices, 3)
    np.testing.assert_allclose(mesh.positions, rec.vertices, atol=1e-5)
    np.testing.assert_array_equal(mesh.poly_sizes, ict_model.poly_sizes)       # quads kept
    np.testing.assert_array_equal(mesh.corner_verts, ict_model.corner_verts)
    np.testing.assert_array_equal(mesh.corner_uvs, ict_model.corner_uv_index)  # UV seams kept
    np.testing.assert_allclose(mesh.uvs, atlas_uvs(ict_model), atol=1e-6)
    assert {"skin", "teeth", "sclera", "iris", "gums_and_tongue", "mouth_socket"} <= set(mesh.material_names)
    mtl = (tmp_path / files["mtl"]).read_text()
    assert "map_Kd head_texture.png" in mtl
    from PIL import Image
    for name in ("head_texture.png", "head_texture_delit.png", "head_confidence.png"):
        assert Image.open(tmp_path / name).size == (TEX, TEX)


def test_params_contract(ict_model, rec):
    p = json.loads(json.dumps(params_dict(rec, ict_model)))   # plain JSON types only
    assert p["model"]["id"] == ict_model.id and p["model"]["units"] == "cm"
    assert len(p["identity"]) == 100
    assert list(p["expression"]) == list(ict_model.expression_names)
    assert p["expression"]["jawOpen"] == pytest.approx(0.4)
    cam = p["camera"]
    assert np.array(cam["K"]).shape == (3, 3) and np.array(cam["world_to_camera"]).shape == (4, 4)
    assert cam["image_size"] == [1024, 1024]
    assert [f["box"] for f in p["faces_found"]] == [[100, 120, 400, 460], [600, 100, 700, 220]]
    assert p["face_index"] == 0
    assert np.array(p["landmarks68"]["fixed"]).shape == (68, 2)
    assert np.array(p["landmarks68"]["contour"]).shape == (68, 2)
    for key in ("timings", "quality", "path"):
        assert key in p


def test_write_outputs_all_or_nothing(ict_model, rec, tmp_path):
    out = tmp_path / "head"
    write_outputs(rec, ict_model, out)
    names = {"head.obj", "head.mtl", "head.glb", "params.json", "head_texture.png",
             "head_texture_delit.png", "head_confidence.png", MANIFEST}
    assert {f.name for f in out.iterdir()} == names
    before = (out / "params.json").read_bytes()
    with pytest.raises(OutputExistsError, match=str(out)):
        write_outputs(rec, ict_model, out)
    assert (out / "params.json").read_bytes() == before
    with pytest.raises(OutputExistsError):
        check_outdir(out)                                    # the early check a CLI can make
    (tmp_path / "afile").write_text("x")
    with pytest.raises(OutputExistsError):
        write_outputs(rec, ict_model, tmp_path / "afile", overwrite=True)
    (tmp_path / "afile").unlink()
    write_outputs(rec, ict_model, out, overwrite=True)
    assert {f.name for f in out.iterdir()} == names
    # a failure half-way (vertices that do not fit the model) leaves nothing behind
    broken = Reconstruction(**{**rec.__dict__, "vertices": rec.vertices[:-1]})
    with pytest.raises(ValueError):
        write_outputs(broken, ict_model, tmp_path / "other")
    assert not (tmp_path / "other").exists()
    assert sorted(f.name for f in tmp_path.iterdir()) == ["head"]
