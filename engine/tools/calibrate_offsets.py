"""Offline builder (`python -m engine calibrate-offsets`): the detector-bias offsets in
engine/data/detector_offsets.json (what they are: landmarks/offsets.py).

- source "photos" (shipped): unsupervised self-calibration on real photos
  (../shared/photos/identity, read in place): fit, solve offsets against the fitted shape and
  camera, refit, three rounds. No annotation and no identity label is used.
- source "synthetic": model faces with known geometry rendered by eval/synthetic.py and
  detected by mediapipe; offsets against the TRUE shape and camera.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from ..core.cache import override
from ..core.errors import FaceSpaceError
from ..detect import choose_face, detect_faces, face_landmarks
from ..detect.image_io import load_image
from ..eval.datasets import identity_items
from ..eval.reconstruct_eval import synthetic_texture
from ..eval.synthetic import render_random_face
from ..fit import fit_points
from ..landmarks.correspondence import get_correspondence, surface_points
from ..landmarks.detector import detector_basis
from ..landmarks.offsets import OFFSETS_PATH, correspondence_hash
from ..model.points import PointBasis
from ..regress import predict_init


def collect(model, n_faces=40, seed=100, texture=None, yaw_max=60.0):
    """Render random faces and detect them: [(true vertices, Camera, detected (478, 2))]."""
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(n_faces):
        face, img = render_random_face(model, rng, texture=texture, yaw_max=yaw_max, background=(40, 220))
        try:
            lm = face_landmarks(img, choose_face(detect_faces(img)))
        except FaceSpaceError:
            continue
        out.append((face.vertices(model), face.camera, np.asarray(lm.points, dtype=np.float64)))
    return out


def solve_offsets(model, samples, ridge=0.05, iterations=2, base=None):
    """Per point, the 3D model-space offset d minimising sum_j |proj_j(X_j + d) - p_j|^2
    (Gauss-Newton, ridge relative to the mean curvature of the normal equations).
    samples: (vertices (V, 3), Camera, detected (478, 2)) per face."""
    corr = get_correspondence(model)
    n = len(corr["mp_vertex"])
    d = np.zeros((n, 3))
    base = np.zeros((n, 3)) if base is None else base  # offsets already in the samples' fits
    for _ in range(iterations):
        A = np.zeros((n, 3, 3))
        b = np.zeros((n, 3))
        for vertices, cam, p in samples:
            X = surface_points(np.asarray(vertices, dtype=np.float64), corr) + base + d
            R = cam.rotation
            Y = cam.to_camera(X)
            z = Y[:, 2]
            f = cam.focal
            J = np.zeros((n, 2, 3))
            J[:, 0, 0] = J[:, 1, 1] = f / z
            J[:, :, 2] = -f * Y[:, :2] / z[:, None] ** 2
            J = J @ R
            r = p - cam.project(X)
            A += np.einsum("nij,nik->njk", J, J)
            b += np.einsum("nij,ni->nj", J, r)
        lam = ridge * np.trace(A, axis1=1, axis2=2).mean() / 3
        d = d + np.linalg.solve(A + lam * np.eye(3), b[..., None])[..., 0]
    return d


def self_calibrate(model, photos, rounds=3):
    """Offsets from real photos: alternate fitting (with the current offsets) and solving."""
    dets = []
    for p in photos:
        img = load_image(p)
        lm = face_landmarks(img, choose_face(detect_faces(img)))
        dets.append((np.asarray(lm.points, dtype=np.float64), (img.shape[1], img.shape[0])))
    raw = detector_basis(model, calibrated=False)
    d = np.zeros_like(raw.mean)
    for _ in range(rounds):
        # fit with the offsets so far standing in for the shipped ones
        with override(model, ("detector_basis", True), PointBasis(raw.mean + d, raw.basis)):
            samples = []
            for pts, size in dets:
                fit = fit_points(model, pts, size, init=predict_init(pts, size, model))
                samples.append((model.vertices(fit.identity, fit.expression), fit.camera, pts))
        d = d + solve_offsets(model, samples, iterations=1, base=d)
    return d, len(dets)


def build(model, n_faces=40, seed=100, path=OFFSETS_PATH, source="photos") -> dict:
    """Derive the offsets and write them to `path`; returns the summary."""
    if source == "photos":
        d, n = self_calibrate(model, [p for p, _ in identity_items()])
        counts = {"photos": n}
    else:
        samples = collect(model, n_faces, seed, synthetic_texture(model))
        d = solve_offsets(model, samples)
        counts = {"faces_rendered": n_faces, "faces_detected": len(samples), "seed": seed}
    info = {"correspondence_sha256": correspondence_hash(get_correspondence(model)),
            "calibration_source": source, **counts,
            "offset_cm_mean": float(np.linalg.norm(d, axis=1).mean()),
            "offset_cm_max": float(np.linalg.norm(d, axis=1).max()),
            "source": "derived by engine/tools/calibrate_offsets.py from mediapipe detections (" + source + ")",
            "offsets_cm": np.round(d, 4).tolist()}
    Path(path).write_text(json.dumps(info, separators=(",", ":")))
    return {k: v for k, v in info.items() if k != "offsets_cm"}
