"""The fitted model's own 68 landmarks (iBUG scheme), calibrated against human annotations.

Inner points (17-67): each is a fixed blend of one or two of the model's 478 detector
correspondence points (barycentric surface points plus the calibrated detector offsets,
engine/reconstruct.detector_points) on the fitted head. Jaw points (0-16): silhouette
points; the 17 silhouette vertices of the fitted head (engine/correspondence.select_contour)
are projected to an image polyline and jaw landmark j is the polyline point nearest to the
detected jaw point j (within planes j +- 1.5): table "jaw": "nearest" (nothing chosen on the
photos). The alternative "shift" mode reads jaw j off at `j + jaw_shift[j]`, shifts chosen on
the photos (measured worse, docs/reconstruction.md).

The table (`engine/data/model_landmarks68.json`) is derived by `python -m engine.model_landmarks`
exactly as the detector's 68-point table was (docs/detection.md), but against the *fitted*
heads: the photos with human 68-point annotations (../shared/photos/landmarks) are reconstructed
by the normal pipeline; per inner landmark the candidate (one of the 12 points nearest
PeizhiYan's seed, or a 1/4, 1/2, 3/4 blend of two) whose projection on the fitted heads best
matches the annotations is kept, left/right mirror points chosen together (36 choices).
`calibrate` also returns the honest estimate: image i scored with the table chosen without it.
Pure surface points (vertices or barycentric points, no offsets) were measured and lost:
the nearest surface point to each current landmark scored inner NME 0.0201 vs 0.0182.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np

DATA = Path(__file__).resolve().parent / "data"
TABLE_PATH = DATA / "model_landmarks68.json"
# iBUG-68 left/right mirror (same as engine/commands/build_correspondence.py)
MIRROR68 = (list(range(16, -1, -1)) + list(range(26, 16, -1)) + [27, 28, 29, 30] + [35, 34, 33, 32, 31]
            + [45, 44, 43, 42, 47, 46] + [39, 38, 37, 36, 41, 40]
            + [54, 53, 52, 51, 50, 49, 48, 59, 58, 57, 56, 55] + [64, 63, 62, 61, 60, 67, 66, 65])
JAW_SHIFTS = np.round(np.arange(-0.6, 0.6001, 0.05), 2)


def load_table(path=TABLE_PATH):
    """{"index" (68, 2) int64, "weight" (68, 2), "jaw_shift" (17,), "jaw": "nearest"|"shift"}
    or None when absent. Rows 0-16 of index/weight are unused (the jaw slides)."""
    path = Path(path)
    if not path.exists():
        return None
    d = json.loads(path.read_text())
    if not {"index", "weight", "jaw_shift"} <= set(d):
        return None
    return {"index": np.asarray(d["index"], dtype=np.int64),
            "weight": np.asarray(d["weight"], dtype=np.float64),
            "jaw_shift": np.asarray(d["jaw_shift"], dtype=np.float64), "jaw": d.get("jaw", "shift")}


def jaw_polyline(sil2d, shift):
    """(..., 17, 2) projected silhouette points -> (..., 17, 2) jaw landmarks at j + shift[j]
    (linear along the polyline, extrapolated past the ends)."""
    u = np.arange(17) + np.asarray(shift, dtype=np.float64)
    i = np.clip(np.floor(u).astype(int), 0, 15)
    t = (u - i)[:, None]
    return sil2d[..., i, :] * (1 - t) + sil2d[..., i + 1, :] * t


JAW_WINDOW = 1.5   # "nearest": jaw point j searched within j +- 1.5 along the silhouette polyline


def nearest_on_polyline(sil2d, targets, window=JAW_WINDOW, step=0.01):
    """(17,) polyline parameters u_j in [j - window, j + window] (clipped to -0.6..16.6) of the
    silhouette points nearest to the 17 target points."""
    off = np.arange(-window, window + 1e-9, step)
    u = np.clip(np.arange(17)[:, None] + off[None], -0.6, 16.6)          # (17, S)
    i = np.clip(np.floor(u).astype(int), 0, 15)
    t = (u - i)[..., None]
    pts = sil2d[i] * (1 - t) + sil2d[i + 1] * t                          # (17, S, 2)
    d = np.linalg.norm(pts - np.asarray(targets, dtype=np.float64)[:, None], axis=-1)
    return u[np.arange(17), np.argmin(d, 1)]


def jaw_points(sil2d, table, jaw_targets=None):
    """(17, 2) jaw landmarks on the projected silhouette polyline (17, 2)."""
    if table.get("jaw") == "nearest" and jaw_targets is not None:
        u = nearest_on_polyline(sil2d, jaw_targets) + table["jaw_shift"]
        i = np.clip(np.floor(u).astype(int), 0, 15)
        t = (u - i)[:, None]
        return sil2d[i] * (1 - t) + sil2d[i + 1] * t
    return jaw_polyline(sil2d, table["jaw_shift"])


def points68(model, vertices, camera, silhouette_ids, table, jaw_targets=None):
    """(68, 2) pixels: the model's 68 landmarks on fitted vertices (V, 3) (model space) with
    `camera` (engine.fit.Camera) and the 17 silhouette vertex ids of the jaw. jaw_targets
    (17, 2): the detected jaw points (detect.to68), used by a "nearest" table: jaw point j is
    the point of the fitted silhouette nearest to the detected one (within j +- 1.5 planes);
    without them (or with a "shift" table) it is read off at j + jaw_shift[j]."""
    from .reconstruct import detector_points
    v = np.asarray(vertices, dtype=np.float64)
    out = np.zeros((68, 2))
    pts = detector_points(model, v)[table["index"][17:]]                 # (51, 2, 3)
    out[17:] = camera.project((pts * table["weight"][17:, :, None]).sum(1))
    out[:17] = jaw_points(camera.project(v[np.asarray(silhouette_ids)]), table, jaw_targets)
    return out


# ---------------------------------------------------------------- calibration
def jaw_costs(samples) -> np.ndarray:
    """(17, len(JAW_SHIFTS), n) normalised errors of every jaw shift on every sample."""
    from .metrics import bbox_size
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
    from .commands.build_correspondence import HEURISTIC, SHARED, fit_mp68, load_mp68_any
    from .obj_io import read_positions
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
    from .metrics import point_errors
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


def fitted_samples(model, items, quality="balanced"):
    """Reconstruct each annotated photo (name, path, gt): the fitted vertices, camera and
    silhouette ids, as the pipeline produces them (the face whose box holds the annotation)."""
    from .fit import Camera
    from .reconstruct import ReconstructOptions, reconstruct
    out = []
    for name, path, gt in items:
        rec = reconstruct(path, model, ReconstructOptions(texture_size=64, quality=quality))
        if len(rec.faces) > 1:
            c = gt.mean(0)
            for k, f in enumerate(rec.faces):
                x0, y0, x1, y1 = f.box
                if x0 <= c[0] <= x1 and y0 <= c[1] <= y1 and k != rec.face_index:
                    rec = reconstruct(path, model, ReconstructOptions(texture_size=64, quality=quality, face_index=k))
                    break
        from .reconstruct import detector_points, mp_jaw_points
        cam = Camera(rec.rotation, rec.translation, rec.focal, rec.image_size)
        v = rec.vertices.astype(np.float64)
        out.append({"name": name, "gt": gt, "rec": rec, "vertices": v, "camera": cam,
                    "silhouette_ids": rec.extras["silhouette68"],
                    "points478": cam.project(detector_points(model, v)),
                    "jaw_targets": mp_jaw_points(rec.landmarks["detected478"])})
    return out


def save_table(table, path=TABLE_PATH, meta=None):
    d = {"about": "the fitted model's 68 landmarks: inner 17-67 = sum_m weight[k][m] * (model point index[k][m] of the "
                  "478 detector correspondence points, calibrated offsets included); "
                  "jaw 0-16 on the fitted silhouette polyline: nearest to the detected jaw point "
                  "(jaw 'nearest') or at j + jaw_shift[j] (jaw 'shift'); engine/model_landmarks.py",
         **(meta or {}),
         "index": np.asarray(table["index"]).tolist(),
         "weight": np.round(table["weight"], 6).tolist(),
         "jaw": table.get("jaw", "shift"),
         "jaw_shift": np.round(table["jaw_shift"], 4).tolist()}
    Path(path).write_text(json.dumps(d, indent=None))


def main(argv=None) -> int:
    import argparse
    from .bench.reconstruct_eval import landmark_items
    from .model import load_model
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--mediapipe-dir", default=None, help="default: ../shared/mediapipe")
    p.add_argument("--out", default=str(TABLE_PATH))
    p.add_argument("--jaw", choices=("nearest", "shift"), default="nearest")
    a = p.parse_args(argv)
    model = load_model()
    samples = fitted_samples(model, landmark_items())
    table, ins, loo = calibrate(model, samples, a.mediapipe_dir, a.jaw)
    ins, loo = ins.mean(1), loo.mean(1)
    for s, i, l in zip(samples, ins, loo):
        print(f"{s['name']:45s} in-sample {i:.4f}  leave-one-out {l:.4f}")
    print(f"mean in-sample {ins.mean():.4f}  leave-one-out {loo.mean():.4f}")
    save_table(table, a.out, {"images": [s["name"] for s in samples],
                              "nme_in_sample": round(float(ins.mean()), 5),
                              "nme_leave_one_out": round(float(loo.mean()), 5)})
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
