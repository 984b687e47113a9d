"""Detector-bias calibration: where on the model surface does mediapipe really put each point?

The correspondence table (engine/correspondence.py) maps each of the 478 detector points to a
surface point by aligning mediapipe's canonical mesh to ICT's neutral. On real detections
that map is off by ~1% of the face size, which the fit cannot follow (so its 68 points are
worse than the detector's). For every point a 3D offset (model space, cm) is solved by
ridge-regularised least squares so that the offset point explains its detections:
- source "photos" (shipped): unsupervised self-calibration on real photos
  (../shared/photos/identity, read in place): fit, solve offsets against the fitted shape and
  camera, refit, three rounds. No annotation and no identity label is used.
- source "synthetic": model faces with known geometry rendered by engine/synthetic.py and
  detected by mediapipe; offsets against the TRUE shape and camera. (Measured: this fixes
  renders but not real photos: mediapipe treats the bald renders differently.)
The offsets are stored in engine/data/detector_offsets.json with the SHA-256 of the
correspondence they correct; reconstruct.detector_basis applies them only while that matches.

    python -m engine.calibrate [--source photos|synthetic]     # ~1-3 min on 2 cores
"""
from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np

OFFSETS_PATH = Path(__file__).resolve().parent / "data" / "detector_offsets.json"


def correspondence_hash(corr) -> str:
    h = hashlib.sha256()
    h.update(np.ascontiguousarray(np.asarray(corr["mp_vertex"], dtype=np.int64)).tobytes())
    h.update(np.ascontiguousarray(np.round(np.asarray(corr["mp_bary"], dtype=np.float64), 5)).tobytes())
    return h.hexdigest()


def load_offsets(corr, path=OFFSETS_PATH):
    """(478, 3) cm offsets for this correspondence, or None (absent or built for another table)."""
    path = Path(path)
    if not path.is_file():
        return None
    d = json.loads(path.read_text())
    if d.get("correspondence_sha256") != correspondence_hash(corr):
        return None
    off = np.asarray(d["offsets_cm"], dtype=np.float64)
    return off if off.shape == (len(corr["mp_vertex"]), 3) else None


def collect(model, n_faces=40, seed=100, texture=None, yaw_max=60.0):
    """Render random faces and detect them: list of (SyntheticFace, detected (478, 2))."""
    from .detect import choose_face, detect_faces, face_landmarks
    from .errors import FaceSpaceError
    from .synthetic import render_random_face
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(n_faces):
        face, img = render_random_face(model, rng, texture=texture, yaw_max=yaw_max, background=(40, 220))
        try:
            lm = face_landmarks(img, choose_face(detect_faces(img)))
        except FaceSpaceError:
            continue
        out.append((face, np.asarray(lm.points, dtype=np.float64)))
    return out


def solve_offsets(model, samples, ridge=0.05, iterations=2, base=None):
    """Per point, the 3D model-space offset d minimising sum_j |proj_j(X_j + d) - p_j|^2
    (Gauss-Newton, ridge relative to the mean curvature of the normal equations)."""
    from .correspondence import get_correspondence, surface_points
    corr = get_correspondence(model)
    n = len(corr["mp_vertex"])
    d = np.zeros((n, 3))
    base = np.zeros((n, 3)) if base is None else base  # offsets already in the samples' fits
    for _ in range(iterations):
        A = np.zeros((n, 3, 3))
        b = np.zeros((n, 3))
        for face, p in samples:
            X = surface_points(face.vertices(model), corr) + base + d
            R, t, K = face.rotation, face.translation, face.K
            Y = X @ R.T + t
            z = Y[:, 2]
            f = K[0, 0]
            J = np.zeros((n, 2, 3))
            J[:, 0, 0] = J[:, 1, 1] = f / z
            J[:, :, 2] = -f * Y[:, :2] / z[:, None] ** 2
            J = J @ R
            r = p - face.project(X)
            A += np.einsum("nij,nik->njk", J, J)
            b += np.einsum("nij,ni->nj", J, r)
        lam = ridge * np.trace(A, axis1=1, axis2=2).mean() / 3
        d = d + np.linalg.solve(A + lam * np.eye(3), b[..., None])[..., 0]
    return d


class _Fitted:
    """A fitted photo in SyntheticFace's interface (vertices, project, camera) for solve_offsets."""

    def __init__(self, model, fit):
        self.v = model.vertices(fit.identity, fit.expression).astype(np.float64)
        self.rotation, self.translation, self.K = fit.camera.rotation, fit.camera.translation, fit.camera.K
        self.project = fit.camera.project

    def vertices(self, model):
        return self.v


def self_calibrate(model, photos, rounds=3):
    """Offsets from real photos: alternate fitting (with the current offsets) and solving."""
    from . import reconstruct as rec
    from .detect import choose_face, detect_faces, face_landmarks
    from .fit import PointBasis
    from .image_io import load_image
    dets = []
    for p in photos:
        img = load_image(p)
        lm = face_landmarks(img, choose_face(detect_faces(img)))
        dets.append((np.asarray(lm.points, dtype=np.float64), (img.shape[1], img.shape[0])))
    raw = rec.detector_basis(model, calibrated=False)
    d = np.zeros_like(raw.mean)
    key = (id(model), ("detector_basis", True))
    saved = rec._CACHE.get(key)
    try:
        for _ in range(rounds):
            rec._CACHE[key] = PointBasis(raw.mean + d, raw.basis)
            samples = []
            for pts, size in dets:
                init = rec._regressor_init(pts, size, model)
                fit = rec.fit_points(model, pts, size, init=init)
                samples.append((_Fitted(model, fit), pts))
            d = d + solve_offsets(model, samples, iterations=1, base=d)
    finally:
        if saved is None:
            rec._CACHE.pop(key, None)
        else:
            rec._CACHE[key] = saved
    return d, len(dets)


def build(model, n_faces=40, seed=100, path=OFFSETS_PATH, source="photos") -> dict:
    from .correspondence import get_correspondence
    if source == "photos":
        from .bench.reconstruct_eval import identity_items
        d, n = self_calibrate(model, [p for p, _ in identity_items()])
        counts = {"photos": n}
    else:
        from .bench.reconstruct_eval import synthetic_texture
        samples = collect(model, n_faces, seed, synthetic_texture(model))
        d = solve_offsets(model, samples)
        counts = {"faces_rendered": n_faces, "faces_detected": len(samples), "seed": seed}
    info = {"correspondence_sha256": correspondence_hash(get_correspondence(model)),
            "calibration_source": source, **counts,
            "offset_cm_mean": float(np.linalg.norm(d, axis=1).mean()),
            "offset_cm_max": float(np.linalg.norm(d, axis=1).max()),
            "source": "derived by engine/calibrate.py from mediapipe detections (" + source + ")",
            "offsets_cm": np.round(d, 4).tolist()}
    Path(path).write_text(json.dumps(info, separators=(",", ":")))
    return {k: v for k, v in info.items() if k != "offsets_cm"}


def main(argv=None) -> int:
    import argparse
    p = argparse.ArgumentParser(prog="python -m engine.calibrate", description=__doc__.split("\n")[0])
    p.add_argument("--faces", type=int, default=40)
    p.add_argument("--seed", type=int, default=100)
    p.add_argument("--source", default="photos", choices=("photos", "synthetic"))
    p.add_argument("-o", "--output", type=Path, default=OFFSETS_PATH)
    a = p.parse_args(argv)
    from .model import load_model
    print(json.dumps(build(load_model(), a.faces, a.seed, a.output, a.source), indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
