"""Several photos of one person, one head: the bpy side of engine/pipeline/many.py.

A `Photo` is one photo the artist chose (a file, or an image in the .blend). The engine's
`reconstruct_many` returns one Reconstruction whose `extras["views"]` holds every photo it
used; here each view becomes an item of `head.facespace.views` (photo name, path, image,
camera, landmark residual) and, with cameras on, a camera named after the photo with the
photo as its background, parented to the head (so moving the head moves its cameras) and
linked into the head's collections. The reference view's camera is the scene camera and
`head.facespace.camera`. `head["facespace_fit"]` stores the views as params.json's `views`
(engine/io/export.py `_views_dict`), the photo list, the photos left out and the warnings.

`refit_head` replaces a head's identity, expression, textures, cameras and stored views in
place with a new reconstruction (Add Photo): the object, its name and transform stay.
Main thread only; nothing here imports sliders.py.
"""
from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np

from ..common.heads import FIT_KEY
from . import camera as camera_mod
from . import materials
from .mesh import _Created, build_head, identity_flat, store_parameters, write_shape


@dataclass
class Photo:
    """One chosen photo. `image`: the artist's image in the .blend (used as is); `cached`: an
    image FaceSpace made from this file before (reused as the background, and read when the
    file is gone)."""
    path: str = ""
    image: object = None
    cached: object = None

    @property
    def name(self) -> str:
        if self.image is not None:
            return self.image.name
        return os.path.splitext(os.path.basename(self.path))[0] or "photo"


def engine_input(photo: Photo, index: int):
    """What the engine reads for this photo: a path on disk, else the image's pixels."""
    import bpy
    from .jobs import image_to_array, photo_source
    if photo.image is not None:
        return photo_source(photo.image, "")
    path = bpy.path.abspath(photo.path) if photo.path else ""
    if (not path or not os.path.isfile(path)) and photo.cached is not None:
        return image_to_array(photo.cached)
    return path


def source_name(source, index: int) -> str:
    """The engine's name for an input (pipeline/many.py `_source_name`): views and the photos
    left out say which photo they are by it."""
    return str(source) if isinstance(source, (str, os.PathLike)) else f"image {index}"


def dedupe(photos: list) -> list:
    seen, out = set(), []
    for p in photos:
        key = ("image", p.image.name) if p.image is not None else ("path", os.path.abspath(p.path) if p.path else "")
        if key not in seen:
            seen.add(key)
            out.append(p)
    return out


# ---- stored parameters ---------------------------------------------------------------
def _idsafe(x):
    """JSON-like data -> what an ID property holds (no None: dropped from dicts, NaN in lists)."""
    if isinstance(x, dict):
        return {str(k): _idsafe(v) for k, v in x.items() if v is not None}
    if isinstance(x, (list, tuple)):
        return [float("nan") if v is None else _idsafe(v) for v in x]
    return x


def _label(name: str, names: dict) -> str:
    return names.get(name, name)


def fit_record(rec, model, photos: list, inputs: list) -> dict:
    """The head's `facespace_fit` for a several-photo reconstruction: the reference view's
    camera as for one photo, plus the photo list and params.json's `views` block."""
    from ..engine.io.export import _jsonable, _views_dict
    ref_view = rec.extras["views"][rec.extras.get("reference_view", 0)]
    labels = {source_name(s, i): (p.path or p.name) for i, (p, s) in enumerate(zip(photos, inputs))}
    block = _jsonable(_views_dict(rec.extras, list(model.expression_names)))
    for v in block.get("views", []):
        v["source"] = _label(v["source"], labels)
    for e in block.get("photos_left_out", []):
        e["source"] = _label(e["source"], labels)
    fit = {
        "K": [float(v) for v in np.asarray(rec.K).ravel()],
        "world_to_camera": [float(v) for v in np.asarray(rec.world_to_camera).ravel()],
        "image_size": [int(v) for v in rec.image_size],
        "face_index": int(rec.face_index),
        "face_box": [float(v) for v in rec.faces[rec.face_index].box] if rec.faces else [],
        "photo": _label(ref_view["source"], labels),
        "path": str(rec.path),
        "photos": [p.path for p in photos],
        "photo_images": [p.image.name if p.image is not None else "" for p in photos],
        "warnings": [str(w) for w in rec.extras.get("warnings", [])],
        **block,
    }
    return _idsafe(fit)


def fit_dict(obj) -> dict:
    """The head's stored fit as plain Python (ID property groups and arrays converted)."""
    rec = obj.get(FIT_KEY)
    if rec is None:
        return {}
    return rec.to_dict() if hasattr(rec, "to_dict") else dict(rec)


def stored_photos(obj) -> list:
    """The photos a head was built from, as `Photo`s (several photos, or the one photo)."""
    import bpy
    fit = obj.get(FIT_KEY) or {}
    cached = {v.path: v.image for v in obj.facespace.views if v.own_image and v.path and v.image}
    paths = [str(p) for p in fit.get("photos", [])]
    names = [str(n) for n in fit.get("photo_images", [])] + [""] * len(paths)
    if not paths:   # a one-photo head: the photo it was fitted to, its image as the cache
        single = str(fit.get("photo", "") or "")
        if single:
            photo = obj.facespace.photo
            return [Photo(single, None, photo)]
        if obj.facespace.photo is not None:
            return [Photo("", obj.facespace.photo)]
        return []
    out = []
    for path, name in zip(paths, names):
        image = bpy.data.images.get(name) if name else None
        out.append(Photo(path, image, cached.get(path)))
    return out


def texture_size(head, default: int = 1024) -> int:
    """The size of the head's photo texture (what a refit keeps), else `default`."""
    for mat in head.data.materials:
        node = mat.node_tree.nodes.get(materials.PHOTO_NODE) if mat is not None and mat.node_tree else None
        if node is not None and node.image is not None and node.image.size[0] > 0:
            return int(node.image.size[0])
    return default


# ---- views and cameras -----------------------------------------------------------------
def match_views(rec, photos: list, inputs: list) -> list:
    """[(engine view dict, Photo)] in the engine's view order."""
    by_source = {source_name(s, i): p for i, (p, s) in enumerate(zip(photos, inputs))}
    return [(v, by_source.get(v["source"], Photo(str(v["source"])))) for v in rec.extras["views"]]


def _view_image(view, photo: Photo, made):
    """(image, made by FaceSpace?) for a view's background: the artist's image, an image made
    earlier from the same file (same size), or a new packed image of the engine's pixels."""
    if photo.image is not None:
        return photo.image, False
    h, w = view["image"].shape[:2]
    if photo.cached is not None and tuple(photo.cached.size) == (w, h):
        return photo.cached, True
    return made.add(_images(), materials.image_from_array(f"{photo.name} photo", view["image"])), True


def _images():
    import bpy
    return bpy.data.images


def attach_views(context, obj, matched: list, reference: int, add_camera: bool, made) -> None:
    """Fill `obj.facespace.views` and (add_camera) make a camera per view, parented to the head.
    The cameras' parent inverse is the inverse of the head's default placement, so a head moved
    or turned by the artist carries its cameras along and they still match its photos."""
    import bpy
    from mathutils import Matrix
    props = obj.facespace
    props.views.clear()
    parent_inverse = Matrix(camera_mod.head_matrix().tolist()).inverted()
    collections = list(obj.users_collection) or [context.scene.collection]
    for view, photo in matched:
        image, own = _view_image(view, photo, made)
        item = props.views.add()
        item.name, item.path, item.image, item.own_image = photo.name, photo.path, image, own
        item.residual_px = float(view["landmark_residual_px_mean"])
        if add_camera:
            cam = view["fit"].camera
            cam_obj = camera_mod.add_camera(context, f"{photo.name} camera", cam.K, cam.world_to_camera,
                                            cam.image_size, image)
            made.add(bpy.data.cameras, cam_obj.data)
            made.add(bpy.data.objects, cam_obj)
            for coll in collections:
                coll.objects.link(cam_obj)
            cam_obj.parent = obj
            cam_obj.matrix_parent_inverse = parent_inverse
            item.camera = cam_obj
    props.reference_view = reference
    ref = props.views[reference]
    props.photo = ref.image
    props.camera = ref.camera
    if ref.camera is not None:
        context.scene.camera = ref.camera
        camera_mod.match_render_size(context.scene, matched[reference][0]["fit"].camera.image_size)


def head_name(photos: list) -> str:
    return f"{photos[0].name if photos else 'FaceSpace'} head"


def head_from_views(context, model, rec, photos: list, inputs: list, *, name: str,
                    add_camera: bool = True):
    """A new head from a several-photo Reconstruction; returns the head object."""
    matched = match_views(rec, photos, inputs)
    fit = fit_record(rec, model, photos, inputs)
    reference = int(rec.extras.get("reference_view", 0))
    obj, _ = build_head(context, model, rec.identity, rec.expression, name=name, texture=rec.texture,
                        texture_delit=rec.texture_delit, fit=fit, add_camera=False,
                        after=lambda obj, made: attach_views(context, obj, matched, reference, add_camera, made))
    return obj


# ---- Add Photo: refit in place ----------------------------------------------------------
def _remove_if_unused(collection, item) -> None:
    try:
        if item is not None and item.users == 0:
            collection.remove(item)
    except ReferenceError:
        pass


def _old_cameras(obj) -> list:
    cams = [v.camera for v in obj.facespace.views if v.camera is not None]
    if obj.facespace.camera is not None and obj.facespace.camera not in cams:
        cams.append(obj.facespace.camera)
    return cams


def refit_head(context, obj, model, rec, photos: list, inputs: list) -> None:
    """Replace the head's fit (identity, expression, textures, views, cameras, stored
    parameters) with `rec`; the object, its name, transform and materials stay."""
    import bpy
    matched = match_views(rec, photos, inputs)
    fit = fit_record(rec, model, photos, inputs)
    reference = int(rec.extras.get("reference_view", 0))
    old_cams = _old_cameras(obj)
    # keep the artist's choice: a head fitted to a photo without a camera gets none
    add_camera = bool(old_cams) or "K" not in (obj.get(FIT_KEY) or {})
    old_images = [v.image for v in obj.facespace.views if v.own_image and v.image is not None]
    old_textures = []
    made = _Created()
    try:
        # everything new first (a failure leaves the head as it was) ...
        tex = made.add(bpy.data.images, materials.image_from_array(f"{obj.name} texture", rec.texture)) \
            if rec.texture is not None else None
        tex_delit = made.add(bpy.data.images, materials.image_from_array(f"{obj.name} texture de-lit",
                                                                         rec.texture_delit)) \
            if rec.texture_delit is not None else None
        was_scene_camera = context.scene.camera in old_cams if old_cams else True
        scene_camera = context.scene.camera
        attach_views(context, obj, matched, reference, add_camera, made)
        if not was_scene_camera and scene_camera is not None:
            context.scene.camera = scene_camera   # the artist's own camera stays the scene's
    except Exception:
        made.remove_all()
        raise
    # ... then the swap
    for mat in obj.data.materials:
        if mat is not None and mat.use_nodes and materials.is_skin(mat):
            old_textures += materials.replace_textures(mat, tex, tex_delit, obj.facespace.texture_mode)
    store_parameters(obj, model, rec.identity, rec.expression, fit)
    write_shape(obj, identity_flat(rec.identity))
    blocks = obj.data.shape_keys.key_blocks if obj.data.shape_keys else {}
    for name, w in zip(model.expression_names, np.asarray(rec.expression, dtype=np.float32)):
        kb = blocks.get(name)
        if kb is not None:
            kb.value = float(w)
    for cam_obj in old_cams:
        data = cam_obj.data
        bpy.data.objects.remove(cam_obj)
        _remove_if_unused(bpy.data.cameras, data)
    keep = {v.image.name for v in obj.facespace.views if v.image is not None}
    for image in old_images + old_textures:
        if image is not None and image.name not in keep:
            _remove_if_unused(bpy.data.images, image)
    for view in obj.facespace.views:   # the old cameras are gone: the new ones take their names
        name = f"{view.name} camera"
        if view.camera is not None and view.camera.name != name and name not in bpy.data.objects:
            view.camera.name = name
            if name not in bpy.data.cameras:
                view.camera.data.name = name
    for image, name in ((tex, f"{obj.name} texture"), (tex_delit, f"{obj.name} texture de-lit")):
        if image is not None and name not in bpy.data.images:
            image.name = name   # the old one is gone: take its name back
    context.view_layer.update()
