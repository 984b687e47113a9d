"""Build a head object from the model: quads, UVs, materials, 53 ARKit shape keys, stored
parameters, and optionally the fitted camera; and the head from a finished reconstruction.
Everything here runs on the main thread. Nothing here imports sliders.py (sliders.py calls
`identity_flat` / `write_shape`), and nothing sets a property that fires a slider callback
while the head is half-built (identity values go in with foreach_set, which fires none).

Vertices stay in model units (cm) in mesh space; the object carries the 0.01 scale and the
+90 degree X rotation (model +y up -> Blender +Z up), so the head is real size in metres
and faces -Y (Blender's front view). Failure removes every datablock made so far.
"""
from __future__ import annotations

import numpy as np

import os

from ..common.heads import FIT_KEY
from ..common.model_cache import derived
from ..engine.model.atlas import atlas_uvs
from ..engine.model.materials import polygon_materials
from . import camera as camera_mod
from . import materials


class _Created:
    """Datablocks made while building, removed again if building fails."""

    def __init__(self):
        self.items = []

    def add(self, collection, item):
        self.items.append((collection, item))
        return item

    def remove_all(self):
        for collection, item in reversed(self.items):
            try:
                collection.remove(item)
            except ReferenceError:
                pass


def build_mesh(name: str, model, basis_flat: np.ndarray):
    import bpy
    mesh = bpy.data.meshes.new(name)
    V, P, C = model.n_vertices, len(model.poly_sizes), len(model.corner_verts)
    mesh.vertices.add(V)
    mesh.loops.add(C)
    mesh.polygons.add(P)
    set_positions(mesh, basis_flat)
    mesh.loops.foreach_set("vertex_index", model.corner_verts.astype(np.int32))
    mesh.polygons.foreach_set("loop_start", model.poly_starts.astype(np.int32))
    mesh.polygons.foreach_set("material_index", polygon_materials(model))   # slots: engine MATERIALS
    uv = mesh.uv_layers.new(name="UVMap")
    # the baked texture's atlas (face and head tiles packed into one square), not ICT's raw UDIM-like UVs
    uv.uv.foreach_set("vector", atlas_uvs(model)[model.corner_uv_index].ravel())
    mesh.update(calc_edges=True)
    mesh.shade_smooth()
    return mesh


def identity_flat(identity) -> np.ndarray:
    """Basis coordinates (V*3,) for identity coefficients in standard deviations."""
    d = derived()
    c = np.asarray(identity, dtype=np.float32) * d["std"]
    return d["mean"] + c @ d["identity"]


def _points(kb):
    # ShapeKey.points (4.1+) has the raw-array fast path: ~0.02 ms vs ~2 ms for .data
    return getattr(kb, "points", kb.data)


def set_positions(mesh, flat: np.ndarray) -> None:
    attr = mesh.attributes.get("position")
    if attr is not None:  # raw-array fast path
        attr.data.foreach_set("vector", flat)
    else:
        mesh.vertices.foreach_set("co", flat)


def _key_buffer(shape):
    d = derived()
    if d.get("key_buffer") is None or d["key_buffer"].shape != shape:
        d["key_buffer"] = np.empty(shape, dtype=np.float32)  # reused: no 17 MB alloc per change
    return d["key_buffer"]


def write_shape(obj, basis_flat: np.ndarray) -> None:
    """Basis -> mesh and every shape key (key = basis + the expression's delta)."""
    mesh = obj.data
    basis_flat = np.ascontiguousarray(basis_flat, dtype=np.float32)
    set_positions(mesh, basis_flat)
    key = mesh.shape_keys
    if key is not None:
        blocks = key.key_blocks
        _points(blocks[0]).foreach_set("co", basis_flat)
        d = derived()
        keys = _key_buffer(d["expression"].shape)
        np.add(d["expression"], basis_flat, out=keys)  # one vectorised add for all keys
        for i, name in enumerate(d["expression_names"]):  # by name: user keys may sit between
            kb = blocks.get(name)
            if kb is not None:
                _points(kb).foreach_set("co", keys[i])
    mesh.update()


def add_shape_keys(obj, model, basis_flat, expression=None) -> None:
    obj.shape_key_add(name="Basis", from_mix=False)
    deltas = derived()["expression"]
    for i, name in enumerate(model.expression_names):
        kb = obj.shape_key_add(name=name, from_mix=False)
        _points(kb).foreach_set("co", basis_flat + deltas[i])
        kb.slider_min, kb.slider_max = 0.0, 1.0
        if expression is not None:
            kb.value = float(expression[i])
    obj.data.shape_keys.name = f"{obj.name} expressions"


def store_parameters(obj, model, identity, expression, fit: dict | None) -> None:
    props = obj.facespace
    props.is_head = True
    props.model_id = model.id
    props.identity.clear()
    for k in range(model.n_identity):
        props.identity.add().name = f"{k:03d}"
    props.identity.foreach_set("value", np.asarray(identity, dtype=np.float32)[:model.n_identity])
    record = {"identity": [float(v) for v in identity],
              "expression": [float(v) for v in expression]}
    record.update(fit or {})
    obj[FIT_KEY] = record


def build_head(context, model, identity=None, expression=None, *, name="FaceSpace Head",
               texture=None, texture_delit=None, photo_image=None, fit=None,
               add_camera=False, texture_mode='PHOTO', after=None):
    """Create and link a head; returns (head, camera or None). `fit` may hold K,
    world_to_camera, image_size (needed for the camera), photo path, face index.
    `after(obj, made)` runs once the head is linked, inside the all-or-nothing build (several
    photos: views.attach_views adds the views' cameras through it)."""
    import bpy
    identity = np.zeros(model.n_identity, np.float32) if identity is None else np.asarray(identity, np.float32)
    expression = np.zeros(model.n_expression, np.float32) if expression is None else np.asarray(expression, np.float32)
    made = _Created()
    try:
        basis = identity_flat(identity)
        mesh = made.add(bpy.data.meshes, build_mesh(name, model, basis))
        obj = made.add(bpy.data.objects, bpy.data.objects.new(name, mesh))
        name = obj.name  # unique: Blender appends .001 rather than overwrite
        tex = tex_delit = None
        if texture is not None:
            tex = made.add(bpy.data.images, materials.image_from_array(f"{name} texture", texture))
        if texture_delit is not None:
            tex_delit = made.add(bpy.data.images, materials.image_from_array(f"{name} texture de-lit", texture_delit))
        for mat in materials.head_materials(name, tex, tex_delit, texture_mode):
            mesh.materials.append(made.add(bpy.data.materials, mat))
        add_shape_keys(obj, model, basis, expression)
        obj.rotation_euler = (np.pi / 2, 0.0, 0.0)
        obj.scale = (0.01, 0.01, 0.01)
        store_parameters(obj, model, identity, expression, fit)
        obj.facespace.texture_mode = texture_mode if (tex or tex_delit) else 'PHOTO'
        if photo_image is not None:
            obj.facespace.photo = photo_image
        collection = context.scene.collection
        collection.objects.link(obj)
        cam_obj = None
        if add_camera and fit and "K" in fit:
            cam_obj = camera_mod.add_camera(context, f"{name} camera", np.reshape(fit["K"], (3, 3)),
                                            np.reshape(fit["world_to_camera"], (4, 4)),
                                            fit["image_size"], photo_image)
            made.add(bpy.data.cameras, cam_obj.data)
            made.add(bpy.data.objects, cam_obj)
            collection.objects.link(cam_obj)
            obj.facespace.camera = cam_obj
            camera_mod.match_render_size(context.scene, fit["image_size"])
            if context.scene.camera is None:
                context.scene.camera = cam_obj
        if after is not None:
            after(obj, made)
        for o in context.view_layer.objects:
            o.select_set(False)
        obj.select_set(True)
        context.view_layer.objects.active = obj
        context.view_layer.update()  # matrices and bounds current for scripts that follow
        return obj, cam_obj
    except Exception:
        made.remove_all()
        raise


def head_name(filepath: str, image=None) -> str:
    stem = image.name if image is not None else os.path.splitext(os.path.basename(filepath))[0]
    return f"{stem or 'FaceSpace'} head"


def head_from_result(context, model, rec, *, name, photo_image=None, add_camera=True, photo_path=""):
    """Build the head (and camera) from an engine Reconstruction; returns the head object."""
    import bpy
    made_photo = None
    if photo_image is None and rec.image is not None:
        # the engine's view of the photo (EXIF-rotated) is what the camera was fitted to
        photo_image = made_photo = materials.image_from_array(f"{name} photo", rec.image)
    fit = {
        "K": [float(v) for v in np.asarray(rec.K).ravel()],
        "world_to_camera": [float(v) for v in np.asarray(rec.world_to_camera).ravel()],
        "image_size": [int(v) for v in rec.image_size],
        "face_index": int(rec.face_index),
        "face_box": [float(v) for v in rec.faces[rec.face_index].box] if rec.faces else [],
        "photo": str(photo_path),
        "path": str(rec.path),
    }
    try:
        obj, _cam = build_head(context, model, rec.identity, rec.expression, name=name,
                               texture=rec.texture, texture_delit=rec.texture_delit,
                               photo_image=photo_image, fit=fit, add_camera=add_camera)
    except Exception:
        if made_photo is not None:
            bpy.data.images.remove(made_photo)
        raise
    return obj
