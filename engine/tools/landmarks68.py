"""Offline builder (`python -m engine build-landmarks68`): the model's calibrated 68-point
table, engine/data/model_landmarks68.json (what it is: landmarks/model68.py).

The annotated photos are reconstructed by the normal pipeline; per inner landmark the
candidate whose projection on the fitted heads best matches the annotations is kept, by the
detector table's own procedure (tools/build_correspondence.fit_mp68). `calibrate` also gives
the honest estimate: image i scored with the table chosen without it.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from ..eval.datasets import SHARED
from ..eval.metrics import bbox_size, nme68, point_errors
from ..eval.reconstruct_eval import fitted_samples_cached
from ..landmarks.detector import landmarks68, points68
from ..landmarks.model68 import JAW_SHIFTS, TABLE_PATH, jaw_polyline
from ..landmarks.mp68 import to68
from ..model.obj_io import read_positions
from .build_correspondence import HEURISTIC, fit_mp68, load_mp68_any


def jaw_costs(samples) -> np.ndarray:
    """(17, len(JAW_SHIFTS), n) normalised errors of every jaw shift on every sample."""
    jaw = np.zeros((17, len(JAW_SHIFTS), len(samples)))
    for i, s in enumerate(samples):
        sil = s["camera"].project(np.asarray(s["vertices"], dtype=np.float64)[np.asarray(s["silhouette_ids"])])
        for a, t in enumerate(JAW_SHIFTS):
            jaw[:, a, i] = np.linalg.norm(jaw_polyline(sil, np.full(17, t)) - s["gt"][:17], axis=1) / bbox_size(s["gt"])
    return jaw


def choose_jaw(jaw, train) -> np.ndarray:
    """(17,) shifts minimising the mean error over the images `train`; mirror pairs tied
    (+t on the subject's right side is -t on the left)."""
    train = np.asarray(train)
    shift = np.zeros(17)
    for j in range(9):
        m = 16 - j
        c = jaw[j][:, train].mean(1) + (jaw[m][::-1][:, train].mean(1) if m != j else 0)
        a = int(np.argmin(c))
        shift[j], shift[m] = JAW_SHIFTS[a], -JAW_SHIFTS[a]
    return shift


def choose(samples, train, jaw=None, mediapipe_dir=None, jaw_mode="nearest") -> dict:
    """The table chosen on the samples `train`: inner points by the detector table's own
    procedure (engine/commands/build_correspondence.fit_mp68: per point the mediapipe point or
    2-point blend, left/right tied, candidates seeded by PeizhiYan's table) applied to the
    fitted heads' 478 projected correspondence points instead of the detections."""
    mdir = Path(mediapipe_dir or SHARED / "mediapipe")
    mp = read_positions(mdir / "face_model_with_iris.obj")
    seed, _ = load_mp68_any(mdir / HEURISTIC)
    train = np.asarray(train)
    index, weight = fit_mp68([(samples[i]["name"], samples[i]["points478"], samples[i]["gt"]) for i in train], mp, seed)
    if jaw_mode == "nearest":  # nothing chosen on the photos: the jaw follows the detection along the silhouette
        return {"index": index, "weight": weight, "jaw_shift": np.zeros(17), "jaw": "nearest"}
    jaw = jaw_costs(samples) if jaw is None else jaw
    return {"index": index, "weight": weight, "jaw_shift": choose_jaw(jaw, train), "jaw": "shift"}


def score(model, table, sample) -> np.ndarray:
    """(68,) normalised point errors of `table` on one sample."""
    p = points68(model, sample["vertices"], sample["camera"], sample["silhouette_ids"], table,
                 sample.get("jaw_targets"))
    return point_errors(p, sample["gt"])


def calibrate(model, samples, mediapipe_dir=None, jaw_mode="nearest", loo_jaw_targets=None):
    """-> (table chosen on every sample, (n, 68) in-sample errors, (n, 68) leave-one-out errors:
    image i scored with the table chosen without it; loo_jaw_targets[i] (17, 2): image i's
    detected jaw points from the detector's own table chosen without image i)."""
    n = len(samples)
    allidx = np.arange(n)
    jaw = jaw_costs(samples) if jaw_mode == "shift" else None
    table = choose(samples, allidx, jaw, mediapipe_dir, jaw_mode)
    ins = np.array([score(model, table, s) for s in samples])
    loo = []
    for i in range(n):
        s = samples[i] if loo_jaw_targets is None else {**samples[i], "jaw_targets": loo_jaw_targets[i]}
        loo.append(score(model, choose(samples, allidx[allidx != i], jaw, mediapipe_dir, jaw_mode), s))
    return table, ins, np.array(loo)


def save_table(table, path=TABLE_PATH, meta=None):
    d = {"about": "the fitted model's 68 landmarks: inner 17-67 = sum_m weight[k][m] * (model point index[k][m] of the "
                  "478 detector correspondence points, calibrated offsets included); "
                  "jaw 0-16 on the fitted silhouette polyline: nearest to the detected jaw point "
                  "(jaw 'nearest') or at j + jaw_shift[j] (jaw 'shift'); engine/landmarks/model68.py",
         **(meta or {}),
         "index": np.asarray(table["index"]).tolist(),
         "weight": np.round(table["weight"], 6).tolist(),
         "jaw": table.get("jaw", "shift"),
         "jaw_shift": np.round(table["jaw_shift"], 4).tolist()}
    Path(path).write_text(json.dumps(d, indent=None))


def nme_eval(model, items, quality="balanced", leave_one_out=True):
    """Per image, NME against the human annotation of:
    fit_nme: the fitted model's 68 landmarks (rec.landmarks["contour68"]: the calibrated table
      engine/data/model_landmarks68.json, chosen on these same photos: in-sample);
    fit_loo_nme: the same with the table chosen without this image (engine/model_landmarks.py);
    fit_prev_nme: the previous definition (detector's 68 blend on the fitted surface, jaw on the
      silhouette); fit_fixed_nme: ICT's fixed 68 landmark vertices;
    detector_nme: the detector's own 68-point subset (detect.to68; its table was chosen on these
      photos too); detector_loo_nme: the detector with its table chosen without this image;
    detector_public_nme: the detector's 68 by the public MediaPipe-to-68 table in ../shared/mediapipe
      (nothing chosen on these photos)."""
    pub_idx, pub_w = load_mp68_any(SHARED / "mediapipe" / HEURISTIC)
    samples = fitted_samples_cached(model, items, quality)
    rows = []
    for s in samples:
        rec = s["rec"]
        pts478 = rec.landmarks["detected478"].astype(np.float64)
        det = to68(pts478)
        prev = landmarks68(model, s["vertices"], s["camera"], s["silhouette_ids"], table=None)[1]
        rows.append({"image": s["name"], "fit_nme": nme68(rec.landmarks["contour68"], s["gt"]),
                     "fit_prev_nme": nme68(prev, s["gt"]),
                     "fit_fixed_nme": nme68(rec.landmarks["fixed68"], s["gt"]), "detector_nme": nme68(det, s["gt"]),
                     "detector_public_nme": nme68((pts478[pub_idx] * pub_w[..., None]).sum(1), s["gt"])})
    if leave_one_out:
        mp = read_positions(SHARED / "mediapipe" / "face_model_with_iris.obj")
        seed = pub_idx                                    # the public table seeds the choice
        dets = [(s["name"], s["rec"].landmarks["detected478"].astype(np.float64), s["gt"]) for s in samples]
        det_loo = []
        for i in range(len(dets)):  # the detector's 68 table chosen without image i
            idx, w = fit_mp68(dets[:i] + dets[i + 1:], mp, seed)
            det_loo.append((dets[i][1][idx] * w[..., None]).sum(1))
        # the fit's jaw follows the detected jaw points: leave-one-out, those come from the
        # detector table chosen without the image too
        _, _, loo = calibrate(model, samples, loo_jaw_targets=[d[:17] for d in det_loo])
        for i, r in enumerate(rows):
            r["fit_loo_nme"] = float(loo[i].mean())
            r["detector_loo_nme"] = float(point_errors(det_loo[i], dets[i][2]).mean())
    return rows
