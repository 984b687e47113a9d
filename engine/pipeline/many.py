"""Several photos of one person in, one head out: `reconstruct_many(images, model, options)`.

Each photo is read, its face found and fitted alone (pipeline/reconstruct.fit_photo); a photo
without a usable face, or whose face is another person's, is reported and left out. The
rest are fitted together (fit/multiview.py: one identity, a camera and expression per
photo), each is baked through its own camera, and the bakes are fused into one texture
(texture/fuse.py). The result is a Reconstruction whose camera, expression, landmarks and
photo are the reference view's (the most frontal photo), so everything that reads a
single-photo result reads it; `extras["views"]` holds every view."""
from __future__ import annotations

import os
import time
from dataclasses import dataclass

import numpy as np

from ..core.device import pick_device
from ..core.errors import Cancelled, FaceSpaceError, NoFaceError, WeightsUnavailableError
from ..core.geometry import head_angles
from ..detect import choose_face, detect_faces, face_landmarks
from ..detect.image_io import load_image
from ..fit.multiview import View, fit_views
from ..identity.encoder import identity_encoder
from ..landmarks.detector import detector_offsets, jaw68_vertices, landmarks68, mp_jaw_points
from ..texture import bake_texture
from ..texture.bake import INTERNAL_SIZE as BAKE_INTERNAL_SIZE
from ..texture.fuse import fuse_textures, resized
from .reconstruct import ReconstructOptions, Reconstruction, fit_photo, quality_report

@dataclass
class _Observed:
    index: int
    source: str
    image: np.ndarray
    faces: list
    face_index: int
    points: np.ndarray
    init: dict | None
    fit: object


def _source_name(image, i) -> str:
    return str(image) if isinstance(image, (str, os.PathLike)) else f"image {i}"


def face_shape_mm(model, identity) -> np.ndarray:
    """Identity-only face-region shape (no expression), mm: what 'the same person' compares."""
    return model.vertices(identity, None, region="face").astype(np.float64) * model.mm_per_unit


def other_person_check(observed, encoder=None):
    """-> ([(index, distance)] of photos showing someone else, warning or None).

    Identity descriptors (engine/identity: dlib's face-recognition network) decide, by
    `strangers`; the fitted shapes cannot (measured on the shared sets: a stranger's shape is
    no further from the others' than one's own other photos, docs/reconstruction.md)."""
    if len(observed) < 2:
        return [], None
    try:
        encoder = encoder or identity_encoder("dlib")
        desc = encoder.embed_batch([o.image for o in observed], [o.points for o in observed])
    except WeightsUnavailableError as exc:
        return [], ("Could not check that every photo shows the same person: the identity network is "
                    f"not installed ({exc}). Install it with: python -m engine install-identity")
    return strangers(desc, encoder.threshold), None


def strangers(descriptors, threshold) -> list:
    """[(index, distance)] of the descriptors (N, D) that belong to someone else.

    Photos closer than the threshold are linked; the largest linked group is the person (the
    first photo decides a tie, and with two photos the first says who it is). Photos outside
    it are strangers, but only when that group is a clear majority: when the photos fall
    apart into small groups (descriptors of turned or blurred faces drift), nobody is sure,
    so nobody is left out."""
    desc = np.asarray(descriptors, dtype=np.float64)
    n = len(desc)
    dist = np.linalg.norm(desc[:, None] - desc[None], axis=-1)
    linked = dist <= threshold
    group, seen = [], set()
    for start in range(n):
        if start in seen:
            continue
        comp, todo = set(), [start]
        while todo:
            i = todo.pop()
            if i not in comp:
                comp.add(i)
                todo.extend(np.nonzero(linked[i])[0].tolist())
        seen |= comp
        if len(comp) > len(group):
            group = sorted(comp)
    if n > 2 and 2 * len(group) <= n:
        return []
    return [(i, float(dist[i, group].min())) for i in range(n) if i not in group]


def reconstruct_many(images, model, options: ReconstructOptions | None = None, progress=None,
                     cancel=None) -> Reconstruction:
    """Photos (paths, bytes, PIL images or arrays) of one person -> one Reconstruction."""
    opts = options or ReconstructOptions()
    images = list(images)
    if not images:
        raise FaceSpaceError("No photos were given.")
    device = pick_device(opts.device)
    t0 = time.perf_counter()
    n = len(images)

    def step(frac, message):
        if cancel is not None and cancel.is_set():
            raise Cancelled("Reconstruction cancelled.")
        if progress is not None:
            progress(frac, message)

    observed, excluded = [], []
    for i, image in enumerate(images):
        name = _source_name(image, i)
        step(0.45 * i / n, f"Photo {i + 1} of {n}: finding the face")
        try:
            img = load_image(image)
            faces = detect_faces(img)
            face = choose_face(faces, opts.face_index)
            points = np.asarray(face_landmarks(img, face).points, dtype=np.float64)[:, :2]
            init, fit = fit_photo(img, face.box, points, model, opts, device, cancel)
        except Cancelled:
            raise
        except FaceSpaceError as exc:   # no face, face too small, unreadable: left out, said why
            excluded.append({"source": name, "reason": str(exc), "kind": type(exc).__name__})
            continue
        observed.append(_Observed(i, name, img, faces, 0 if opts.face_index is None else int(opts.face_index),
                                  points, init, fit))
    strangers, identity_warning = other_person_check(observed)
    for k, dist in reversed(strangers):
        o = observed.pop(k)
        excluded.append({"source": o.source, "kind": "OtherPerson", "descriptor_distance": round(dist, 3),
                         "reason": "The face in this photo looks like another person (identity distance "
                                   f"{dist:.2f}, same person below 0.6); it was left out."})
    if not observed:
        raise NoFaceError("None of the photos has a usable face: " + "; ".join(e["reason"] for e in excluded))
    timings = {"fit_single": time.perf_counter() - t0}

    step(0.5, "Fitting every photo together")
    if len(observed) > 1 and not opts.regression_only:
        joint = fit_views(model, [View(o.points, (o.image.shape[1], o.image.shape[0]), mp_jaw_points(o.points), o.fit)
                                  for o in observed], device=device, cancel=cancel).views
    else:
        joint = [o.fit for o in observed]
    identity = joint[0].identity
    timings["fit_joint"] = time.perf_counter() - t0 - timings["fit_single"]

    bakes, resolutions, views = [], [], []
    # bake and fuse at the bake's detail resolution, resize the fused texture once
    bake_size = min(opts.texture_size, BAKE_INTERNAL_SIZE) if len(observed) > 1 else opts.texture_size
    for k, (o, fit) in enumerate(zip(observed, joint)):
        step(0.6 + 0.35 * k / len(observed), f"Baking photo {k + 1} of {len(observed)}")
        cam = fit.camera
        vertices = model.vertices(identity, fit.expression).astype(np.float32)
        bakes.append(bake_texture(o.image, model, vertices, cam.world_to_camera, cam.K, bake_size, device))
        face_centre = vertices[model.region_vertices("face")].mean(0)
        resolutions.append(cam.focal / float(cam.to_camera(face_centre[None])[0, 2]))   # px per cm
        sil = jaw68_vertices(model, vertices, cam)
        fixed68, contour68 = landmarks68(model, vertices, cam, sil, jaw_targets=mp_jaw_points(o.points))
        views.append({"source": o.source, "image": o.image, "faces": o.faces, "face_index": o.face_index,
                      "fit": fit, "vertices": vertices, "silhouette68": sil, "init": o.init,
                      "landmarks": {"detected478": o.points.astype(np.float32), "fixed68": fixed68.astype(np.float32),
                                    "contour68": contour68.astype(np.float32)},
                      "pose_deg": head_angles(cam.rotation), "px_per_cm": resolutions[-1],
                      "landmark_residual_px_mean": float(fit.residual_px.mean())})
    ref = int(np.argmin([abs(v["pose_deg"]["yaw"]) for v in views]))   # the most frontal photo
    t_tex = time.perf_counter()
    tex, fusion = fuse_textures(bakes, resolutions, reference=ref) if len(bakes) > 1 else (bakes[0], {})
    tex = resized(tex, opts.texture_size)
    timings["texture"] = time.perf_counter() - t_tex + sum(b.timings.get("total", 0.0) for b in bakes)
    step(1.0, "Done")
    timings["total"] = time.perf_counter() - t0
    r, fit, o = views[ref], joint[ref], observed[ref]
    cam = fit.camera
    h, w = o.image.shape[:2]
    for v, b in zip(views, bakes):
        v["texture_photo"], v["texture_confidence"] = b.photo, b.confidence   # each view's own bake
    return Reconstruction(
        identity=identity, expression=fit.expression, expression_names=list(model.expression_names),
        rotation=cam.rotation, translation=cam.translation, K=cam.K, image_size=(w, h),
        world_to_camera=cam.world_to_camera, vertices=r["vertices"], texture=tex.photo, texture_delit=tex.delit,
        texture_confidence=tex.confidence, landmarks=r["landmarks"], faces=list(o.faces), face_index=o.face_index,
        timings=timings,
        quality={**quality_report(fit, identity, fit.expression, o.points),
                 "detector_offsets": detector_offsets(model) is not None, "views_used": len(views),
                 "photos_left_out": len(excluded)},
        path=("multi-view" if len(views) > 1 else fit.path), image=o.image,
        extras={"sh_coeffs": tex.sh_coeffs, "skin_tone": tex.skin_tone, "fit_seconds": timings["fit_joint"],
                "silhouette68": r["silhouette68"], "regressor": None if o.init is None else o.init["source"],
                "views": views, "reference_view": ref, "excluded": excluded, "fusion": fusion,
                "warnings": [identity_warning] if identity_warning else []},
    )
