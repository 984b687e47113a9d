"""Several photos of one person: synthetic ground truth, same-person consistency on the
shared photo sets, texture coverage and the blend boundary, and speed
(`python -m engine bench multiview`; docs/reconstruction.md, "Several photos")."""
from __future__ import annotations

import csv
import itertools
import time
from pathlib import Path

import numpy as np

from ..core.cache import cached
from ..core.errors import FaceSpaceError
from ..detect import choose_face, detect_faces, face_landmarks
from ..detect.image_io import load_image
from ..identity.encoder import identity_encoder
from ..core.geometry import rotation_angle_deg
from ..fit import fit_points
from ..fit.multiview import View, fit_views
from ..pipeline.many import face_shape_mm, reconstruct_many, strangers
from ..pipeline.reconstruct import ReconstructOptions, reconstruct
from ..regress import predict_init
from ..texture.fuse import best_view_texture
from ..texture.uvmap import uv_raster
from .datasets import SHARED
from .reconstruct_eval import roc_auc
from .synthetic import SyntheticFace, detector_targets, face_error_mm, sample_face


# ---- synthetic: three views of a known head ----------------------------------------------
def synthetic_views_eval(model, n=20, seed=0, side_yaw=(40.0, 60.0), noise_px=1.0):
    """Per head: face-region error (mm) of the frontal view alone and of the 3-view joint
    fit (yaw 0 and +-side), and each view's pose error (degrees)."""
    rng = np.random.default_rng(seed)
    rows = []
    for _ in range(n):
        front = sample_face(model, rng, yaw_deg=0.0)
        yaw = float(rng.uniform(*side_yaw))
        faces = [front] + [SyntheticFace(front.identity, f.expression, f.camera, f.yaw_deg)
                           for f in (sample_face(model, rng, yaw_deg=-yaw), sample_face(model, rng, yaw_deg=yaw))]
        views = []
        for f in faces:
            pts, jaw = detector_targets(model, f, rng, noise_px)
            fit = fit_points(model, pts, f.image_size, jaw_points=jaw, init=predict_init(pts, f.image_size, model))
            views.append(View(pts, f.image_size, jaw, fit))
        joint = fit_views(model, views)
        truth = front.vertices(model)
        single = face_error_mm(model, truth, model.vertices(views[0].start.identity, front.expression)).mean()
        fused = face_error_mm(model, truth, model.vertices(joint.identity, front.expression)).mean()
        pose = [float(rotation_angle_deg(r.camera.rotation, f.rotation)) for r, f in zip(joint.views, faces)]
        rows.append({"side_yaw": yaw, "single_mm": float(single), "joint_mm": float(fused),
                     "pose_error_deg_max": max(pose), "joint_s": joint.seconds})
    return rows


# ---- the shared photo sets ----------------------------------------------------------------
def people(min_photos=6, folders=("identity", "identity_sets")) -> dict:
    """{person: [photo paths]} over the shared sets, people with at least `min_photos`."""
    out: dict = {}
    for folder in folders:
        root = SHARED / "photos" / folder
        with open(root / "labels.csv") as f:
            for r in csv.DictReader(f):
                out.setdefault(r["identity"], []).append(root / r["file"])
    return {k: sorted(v) for k, v in out.items() if len(v) >= min_photos}


def single_identities(model, paths) -> dict:
    """{path: identity} of single-photo heads (photos without a usable face are skipped)."""
    def fit_one(p):
        try:
            return reconstruct(p, model, ReconstructOptions(texture_size=64)).identity
        except Exception:   # noqa: BLE001 - an unusable photo is simply not scored
            return None
    out = {}
    for p in paths:
        a = cached(model, ("single_identity", str(p)), lambda p=p: fit_one(p))
        if a is not None:
            out[p] = a
    return out


def consistency_eval(model, sets: dict, k=3, seed=0):
    """Per person, two heads fused from disjoint sets of k photos, against single-photo heads.
    -> rows of distances (mm, face region, identity only) and AUCs (same vs different person)."""
    rng = np.random.default_rng(seed)
    fused, singles = {}, {}
    for person, paths in sets.items():
        ids = single_identities(model, paths)
        usable = [p for p in paths if p in ids]
        if len(usable) < 2 * k:
            continue
        pick = rng.permutation(len(usable))[:2 * k]
        groups = [[usable[i] for i in pick[:k]], [usable[i] for i in pick[k:]]]
        fused[person] = [reconstruct_many(g, model, ReconstructOptions(texture_size=64)).identity for g in groups]
        singles[person] = [ids[usable[i]] for i in pick]
    shape = lambda a: face_shape_mm(model, a)
    d = lambda a, b: float(np.linalg.norm(shape(a) - shape(b), axis=1).mean())
    rows = {}
    for name, heads in (("fused", fused), ("single", singles)):
        same = [d(a, b) for hs in heads.values() for a, b in itertools.combinations(hs, 2)]
        diff = [d(a, b) for (p, hs), (q, gs) in itertools.combinations(heads.items(), 2) for a in hs for b in gs]
        rows[name] = {"same_mm": float(np.mean(same)), "different_mm": float(np.mean(diff)), "auc": roc_auc(same, diff),
                      "n_same": len(same), "n_different": len(diff)}
    rows["people"] = sorted(fused)
    rows["per_person_mm"] = {p: {"fused": d(*fused[p]),
                                 "single_mean": float(np.mean([d(a, b) for a, b in itertools.combinations(singles[p], 2)]))}
                             for p in fused}
    return rows


def descriptors(model, paths) -> dict:
    """{path: identity descriptor} (photos without a usable face are skipped)."""
    enc = identity_encoder("dlib")

    def one(p):
        try:
            img = load_image(p)
            return enc.embed(img, face_landmarks(img, choose_face(detect_faces(img))))
        except FaceSpaceError:
            return None
    out = {}
    for p in paths:
        d = cached(model, ("identity_descriptor", str(p)), lambda p=p: one(p))
        if d is not None:
            out[p] = d
    return out


def outlier_eval(model, sets: dict, k=3, seed=0):
    """Sets of k photos of one person plus one of another (every pair of people, every
    stranger photo): is the stranger, and only it, left out? And are clean sets left whole?"""
    rng = np.random.default_rng(seed)
    desc = {person: list(descriptors(model, paths).values()) for person, paths in sets.items()}
    threshold = identity_encoder("dlib").threshold
    caught = own_flagged = trials = clean_flagged = clean_trials = 0
    for person, own in desc.items():
        if len(own) < k + 1:
            continue
        for _ in range(5):
            group = [own[i] for i in rng.permutation(len(own))[:k + 1]]
            clean_flagged += len(strangers(group, threshold))
            clean_trials += 1
        for other, theirs in desc.items():
            if other == person:
                continue
            for s in theirs:
                group = [own[i] for i in rng.permutation(len(own))[:k]] + [s]
                flagged = {i for i, _ in strangers(group, threshold)}
                trials += 1
                caught += k in flagged
                own_flagged += len(flagged - {k})
    return {"trials": trials, "stranger_caught": caught, "own_photos_flagged": own_flagged,
            "clean_sets": clean_trials, "clean_set_photos_flagged": clean_flagged, "threshold": threshold}


# ---- texture -------------------------------------------------------------------------------
def _delta_e(a, b):
    """CIE76 colour difference of sRGB uint8 arrays (..., 3) (close to CIEDE2000 for small steps)."""
    def lab(x):
        c = np.asarray(x, np.float64) / 255.0
        c = np.where(c > 0.04045, ((c + 0.055) / 1.055) ** 2.4, c / 12.92)
        xyz = c @ np.array([[0.4124, 0.3576, 0.1805], [0.2126, 0.7152, 0.0722], [0.0193, 0.1192, 0.9505]]).T
        xyz /= np.array([0.95047, 1.0, 1.08883])
        f = np.where(xyz > 0.008856, np.cbrt(xyz), 7.787 * xyz + 16 / 116)
        return np.stack([116 * f[..., 1] - 16, 500 * (f[..., 0] - f[..., 1]), 200 * (f[..., 1] - f[..., 2])], -1)
    return np.linalg.norm(lab(a) - lab(b), axis=-1)


def boundary_step(texture, owner, covered, band=3):
    """Mean Delta E between the colours `band` texels either side of every place where the
    best view (`owner`, per texel) changes, over covered texels."""
    steps = []
    for axis in (0, 1):
        o0, o1 = np.take(owner, range(owner.shape[axis] - band), axis), np.take(owner, range(band, owner.shape[axis]), axis)
        c0, c1 = np.take(covered, range(covered.shape[axis] - band), axis), np.take(covered, range(band, covered.shape[axis]), axis)
        t0, t1 = np.take(texture, range(texture.shape[axis] - band), axis), np.take(texture, range(band, texture.shape[axis]), axis)
        edge = (o0 != o1) & c0 & c1
        if edge.any():
            steps.append(_delta_e(t0[edge], t1[edge]))
    return float(np.concatenate(steps).mean()) if steps else 0.0


def texture_eval(model, sets: dict, size=512):
    """Per person (front + two side photos): coverage of head-and-neck texels with confidence
    >= 0.5 from the front photo alone and from all three; the colour step across the boundary
    where the best view changes, fused vs the naive best-view-per-texel texture."""
    rows = []
    r = uv_raster(model, size)
    covered = r.covered.numpy()
    for person, paths in sets.items():
        ids = single_identities(model, paths)
        if len(ids) < 3:
            continue
        # front: the most frontal; sides: the most turned either way
        yaws = {p: reconstruct(p, model, ReconstructOptions(texture_size=64)).quality["head_yaw_deg"] for p in ids}
        ordered = sorted(yaws, key=lambda p: abs(yaws[p]))
        left = min(yaws, key=yaws.get)
        right = max(yaws, key=yaws.get)
        chosen = [ordered[0]] + [p for p in (left, right) if p != ordered[0]]
        if len(set(chosen)) < 3:
            continue
        front = reconstruct(chosen[0], model, ReconstructOptions(texture_size=size))
        many = reconstruct_many(chosen, model, ReconstructOptions(texture_size=size))
        conf = np.stack([v["texture_confidence"] for v in many.extras["views"]])
        owner = conf.argmax(0)
        seen = covered & (conf.max(0) > 0.3)
        naive = best_view_texture([_Bake(v) for v in many.extras["views"]], [v["px_per_cm"] for v in many.extras["views"]])
        rows.append({"person": person, "yaws": [round(yaws[p], 1) for p in chosen],
                     "coverage_front": float((front.texture_confidence[covered] >= 0.5).mean()),
                     "coverage_fused": float((many.texture_confidence[covered] >= 0.5).mean()),
                     "boundary_delta_e_fused": boundary_step(many.texture, owner, seen),
                     "boundary_delta_e_best_view": boundary_step(naive, owner, seen)})
    return rows


class _Bake:
    """A view's own bake, as fuse.best_view_texture reads it."""

    def __init__(self, view):
        self.photo, self.confidence = view["texture_photo"], view["texture_confidence"]


def speed_eval(model, photos, texture_size=2048, repeat=3):
    """Seconds for one photo and for three, end to end (model loaded, warm)."""
    opts = ReconstructOptions(texture_size=texture_size)
    reconstruct_many(photos, model, opts)
    reconstruct(photos[0], model, opts)
    one, three = [], []
    for _ in range(repeat):   # alternated: the machine's load moves both alike
        t = time.perf_counter(); reconstruct(photos[0], model, opts); one.append(time.perf_counter() - t)
        t = time.perf_counter(); reconstruct_many(photos, model, opts); three.append(time.perf_counter() - t)
    return {"one_photo_s": float(np.median(one)), "three_photos_s": float(np.median(three)),
            "ratio": float(np.median(three) / np.median(one)), "texture_size": texture_size,
            "photos": [Path(p).name for p in photos]}
