"""glTF 2.0 binary (.glb) of the head, written with numpy and struct only.

glTF wants one UV per vertex, so vertices are split where ICT has UV seams (a vertex is
one (position, uv) pair). One primitive per material shares the vertex attributes. The 53
expressions become morph targets (sparse accessors where that is smaller), named in
`mesh.extras.targetNames`, which Blender's importer turns into shape keys; `mesh.weights`
holds the fitted expression so the file opens in the photographed pose.
Units: metres, +y up (glTF), so model centimetres are scaled by 0.01.
`animation=` (a `GlbAnimation`) adds one animation: morph target weights and/or the head
node's rotation and translation over time (LINEAR samplers, time in seconds).
"""
from __future__ import annotations

import io
import json
import struct
from dataclasses import dataclass

import numpy as np

from ..core.geometry import vertex_normals
from ..model.atlas import atlas_uvs, fan_corner_triangles
from ..model.materials import MATERIALS, polygon_materials

_FLOAT, _UINT = 5126, 5125
_ARRAY_BUFFER, _ELEMENT_ARRAY_BUFFER = 34962, 34963
_GLB_MAGIC, _JSON_CHUNK, _BIN_CHUNK = 0x46546C67, 0x4E4F534A, 0x004E4942


class GlbBuilder:
    """Accumulates JSON and one binary buffer; `to_bytes()` gives the .glb file."""

    def __init__(self, generator="FaceSpace"):
        self.doc = {"asset": {"version": "2.0", "generator": generator},
                    "buffers": [{"byteLength": 0}], "bufferViews": [], "accessors": []}
        self.bin = bytearray()

    def buffer_view(self, data: bytes, target=None) -> int:
        while len(self.bin) % 4:
            self.bin.append(0)
        view = {"buffer": 0, "byteOffset": len(self.bin), "byteLength": len(data)}
        if target is not None:
            view["target"] = target
        self.bin += data
        self.doc["bufferViews"].append(view)
        return len(self.doc["bufferViews"]) - 1

    def accessor(self, array: np.ndarray, target=None, minmax=False) -> int:
        """float32 (N, k) -> VEC k / SCALAR; uint32 (N,) -> indices."""
        a = np.ascontiguousarray(array)
        comp = _UINT if a.dtype == np.uint32 else _FLOAT
        a = a.astype(np.uint32 if comp == _UINT else np.float32, copy=False)
        acc = {"bufferView": self.buffer_view(a.tobytes(), target), "componentType": comp,
               "count": int(a.shape[0]), "type": _type_name(a)}
        if minmax:
            acc["min"] = a.reshape(a.shape[0], -1).min(0).tolist()
            acc["max"] = a.reshape(a.shape[0], -1).max(0).tolist()
        self.doc["accessors"].append(acc)
        return len(self.doc["accessors"]) - 1

    def sparse_vec3(self, dense: np.ndarray) -> int:
        """A VEC3 float accessor that stores only its non-zero rows (glTF sparse accessor)."""
        dense = np.asarray(dense, dtype=np.float32)
        rows = np.flatnonzero(np.any(dense != 0, axis=1)).astype(np.uint32)
        if rows.size == 0 or rows.size * 16 >= dense.nbytes:  # sparse is not smaller: store densely
            return self.accessor(dense, _ARRAY_BUFFER, minmax=True)
        acc = {"componentType": _FLOAT, "count": int(dense.shape[0]), "type": "VEC3",
               "min": dense.min(0).tolist(), "max": dense.max(0).tolist(),
               "sparse": {"count": int(rows.size),
                          "indices": {"bufferView": self.buffer_view(rows.tobytes()), "componentType": _UINT},
                          "values": {"bufferView": self.buffer_view(dense[rows].tobytes())}}}
        self.doc["accessors"].append(acc)
        return len(self.doc["accessors"]) - 1

    def png_texture(self, png: bytes, name: str) -> int:
        d = self.doc
        d.setdefault("images", []).append(
            {"name": name, "mimeType": "image/png", "bufferView": self.buffer_view(png)})
        d.setdefault("samplers", []).append({"magFilter": 9729, "minFilter": 9987, "wrapS": 33071, "wrapT": 33071})
        d.setdefault("textures", []).append({"source": len(d["images"]) - 1, "sampler": len(d["samplers"]) - 1})
        return len(d["textures"]) - 1

    def to_bytes(self) -> bytes:
        while len(self.bin) % 4:
            self.bin.append(0)
        self.doc["buffers"][0]["byteLength"] = len(self.bin)
        js = json.dumps(self.doc, separators=(",", ":")).encode()
        js += b" " * (-len(js) % 4)
        total = 12 + 8 + len(js) + 8 + len(self.bin)
        return b"".join([struct.pack("<III", _GLB_MAGIC, 2, total),
                         struct.pack("<II", len(js), _JSON_CHUNK), js,
                         struct.pack("<II", len(self.bin), _BIN_CHUNK), bytes(self.bin)])


def _type_name(a: np.ndarray) -> str:
    return "SCALAR" if a.ndim == 1 else {2: "VEC2", 3: "VEC3", 4: "VEC4"}[a.shape[1]]


def split_at_seams(model):
    """(vertex_of_split (N,), uv_of_split (N,), split_of_corner (C,)): one split vertex per (vertex, uv)."""
    key = model.corner_verts.astype(np.int64) * len(model.uvs) + model.corner_uv_index
    uniq, corner_split = np.unique(key, return_inverse=True)
    return (uniq // len(model.uvs)).astype(np.int64), (uniq % len(model.uvs)).astype(np.int64), corner_split


def encode_png(image: np.ndarray, compress_level=1) -> bytes:
    """PNG bytes via Pillow; level 1 because a 2048^2 texture at Pillow's default level 6 takes seconds."""
    from PIL import Image
    buf = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(image)).save(buf, format="PNG", compress_level=compress_level)
    return buf.getvalue()


@dataclass
class GlbAnimation:
    """Keyframes for `write_glb(animation=...)`, all LINEAR, times in seconds (increasing).
    `weights` (T, n_targets) at `times`; `rotation` (P, 4) glTF node quaternions (x, y, z, w)
    and `translation` (P, 3) metres at `pose_times` (P,) (default `times`: a pose track may
    skip frames that have no pose). Any of the three may be None."""
    times: np.ndarray
    weights: np.ndarray | None = None
    rotation: np.ndarray | None = None
    translation: np.ndarray | None = None
    pose_times: np.ndarray | None = None
    name: str = "performance"


def add_animation(g: GlbBuilder, node: int, anim: GlbAnimation, n_targets: int) -> None:
    """Append `anim` to the document as one glTF animation targeting `node`."""
    samplers, channels = [], []

    def channel(times, values, path):
        times = np.asarray(times, dtype=np.float32)
        if times.ndim != 1 or len(times) == 0 or np.any(np.diff(times) <= 0):
            raise ValueError(f"{path} keyframe times must be a non-empty increasing (T,) array")
        values = np.asarray(values, dtype=np.float32)
        if len(values) != len(times) or not np.all(np.isfinite(values)):
            raise ValueError(f"{path} needs one finite value row per keyframe time")
        samplers.append({"input": g.accessor(times, minmax=True), "interpolation": "LINEAR",
                         "output": g.accessor(values if values.ndim == 2 and path != "weights"
                                              else values.reshape(-1))})
        channels.append({"sampler": len(samplers) - 1, "target": {"node": node, "path": path}})

    if anim.weights is not None:
        w = np.asarray(anim.weights)
        if w.shape != (len(anim.times), n_targets):
            raise ValueError(f"animation weights must be (T, {n_targets}); got {w.shape}")
        channel(anim.times, w, "weights")
    pose_times = anim.times if anim.pose_times is None else anim.pose_times
    if anim.rotation is not None:
        channel(pose_times, anim.rotation, "rotation")
    if anim.translation is not None:
        channel(pose_times, anim.translation, "translation")
    if channels:
        g.doc.setdefault("animations", []).append({"name": anim.name, "samplers": samplers, "channels": channels})


def write_glb(path, model, vertices, texture_rgb, expression_names=None, weights=None, animation=None) -> None:
    """Write the head as .glb: `vertices` (V, 3) model-space cm (the neutral-expression shape:
    expressions are morph targets on top), `texture_rgb` (S, S, 3) uint8 for the skin,
    `weights` (53,) optional initial expression weights. `texture_rgb` may also be PNG bytes.
    `animation` (a `GlbAnimation`) optionally animates the weights and the head node."""
    names = list(expression_names) if expression_names is not None else list(model.expression_names)
    if len(names) != model.n_expression:
        raise ValueError(f"{len(names)} expression names for {model.n_expression} expressions")
    scale = 0.01  # cm -> m
    vert_of, uv_of, corner_split = split_at_seams(model)
    verts = np.asarray(vertices, dtype=np.float32)
    normals = vertex_normals(verts, model.triangles).astype(np.float32)
    uv = atlas_uvs(model)[uv_of]
    uv_gl = np.stack([uv[:, 0], 1.0 - uv[:, 1]], 1)  # glTF's v runs down the image

    g = GlbBuilder()
    pos_acc = g.accessor(verts[vert_of] * scale, _ARRAY_BUFFER, minmax=True)
    nrm_acc = g.accessor(normals[vert_of], _ARRAY_BUFFER)
    uv_acc = g.accessor(uv_gl, _ARRAY_BUFFER)
    target_accs = [g.sparse_vec3(model.expression_basis[e][vert_of] * scale) for e in range(len(names))]

    png = texture_rgb if isinstance(texture_rgb, bytes) else encode_png(texture_rgb)
    tex = g.png_texture(png, "head_texture")
    mats = []
    for m in MATERIALS:
        pbr = {"baseColorFactor": [*m.color, m.alpha] if not m.textured else [1, 1, 1, 1],
               "metallicFactor": 0.0, "roughnessFactor": m.roughness}
        if m.textured:
            pbr["baseColorTexture"] = {"index": tex}
        mat = {"name": m.name, "pbrMetallicRoughness": pbr}
        if m.alpha < 1.0:
            mat["alphaMode"] = "BLEND"
        mats.append(mat)
    g.doc["materials"] = mats

    tri_corners, tri_poly = fan_corner_triangles(model)
    tri_split = corner_split[tri_corners].astype(np.uint32)
    tri_mat = polygon_materials(model)[tri_poly]
    prims = []
    for mi in range(len(MATERIALS)):
        sel = tri_split[tri_mat == mi]
        if len(sel) == 0:
            continue
        prims.append({"attributes": {"POSITION": pos_acc, "NORMAL": nrm_acc, "TEXCOORD_0": uv_acc},
                      "indices": g.accessor(sel.reshape(-1), _ELEMENT_ARRAY_BUFFER),
                      "material": mi, "mode": 4,
                      "targets": [{"POSITION": a} for a in target_accs]})
    w = np.zeros(len(names)) if weights is None else np.clip(np.asarray(weights, dtype=np.float64), 0.0, 1.0)
    g.doc["meshes"] = [{"name": "head", "primitives": prims, "weights": w.tolist(),
                        "extras": {"targetNames": names}}]
    g.doc["nodes"] = [{"name": "head", "mesh": 0}]
    g.doc["scenes"] = [{"nodes": [0]}]
    g.doc["scene"] = 0
    if animation is not None:
        add_animation(g, 0, animation, len(names))
    with open(path, "wb") as f:
        f.write(g.to_bytes())
