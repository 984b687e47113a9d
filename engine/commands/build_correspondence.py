"""`python -m engine build-correspondence`: the derived tables that tie mediapipe's face mesh
to the iBUG-68 scheme and to the ICT model (engine/data/, committed).

1. `--fit-68` (optional): choose, per iBUG-68 point, the mediapipe point or fixed blend of two
   neighbouring points that best matches the human annotations in ../shared/photos/landmarks
   (left/right tied, so 9 photos fit ~36 choices, not 68). Writes mediapipe_to_68.json.
2. Align mediapipe's canonical mesh (read in place from ../shared/mediapipe, never shipped) to
   the ICT neutral and project every point onto the surface. Writes mediapipe_correspondence.json.
"""
from __future__ import annotations

import itertools
import json
from pathlib import Path

import numpy as np

SHARED = Path(__file__).resolve().parents[2].parent / "shared"
HEURISTIC = "mp_to_ibug68_peizhiyan.json"
# iBUG-68 left/right mirror
MIRROR68 = (list(range(16, -1, -1)) + list(range(26, 16, -1)) + [27, 28, 29, 30] + [35, 34, 33, 32, 31]
            + [45, 44, 43, 42, 47, 46, 39, 38, 37, 36, 41, 40]
            + [54, 53, 52, 51, 50, 49, 48, 59, 58, 57, 56, 55] + [64, 63, 62, 61, 60, 67, 66, 65])
BLEND_T = (0.25, 0.5, 0.75)
POOL = 12


def add_arguments(p):
    p.add_argument("--mediapipe-dir", type=Path, default=SHARED / "mediapipe",
                   help="folder holding face_model_with_iris.obj (default: ../shared/mediapipe)")
    p.add_argument("--landmarks-dir", type=Path, default=SHARED / "photos" / "landmarks",
                   help="annotated photos for --fit-68 (default: ../shared/photos/landmarks)")
    p.add_argument("--fit-68", action="store_true", help="re-measure the mediapipe->68 table first")
    p.add_argument("--mp68", type=Path, default=None,
                   help="mediapipe->68 table to use (default: engine/data/mediapipe_to_68.json)")
    p.add_argument("--smooth", type=float, default=0.1, help="thin-plate warp smoothing")
    p.add_argument("-o", "--output", type=Path, default=None)


def load_mp68_any(path: Path):
    """Our table ({index, weight}) or PeizhiYan's ({ibug68_to_mediapipe_mean_of})."""
    d = json.loads(Path(path).read_text())
    if "index" in d:
        return np.asarray(d["index"], dtype=np.int64), np.asarray(d["weight"], dtype=np.float64)
    rows = d["ibug68_to_mediapipe_mean_of"]
    idx = np.array([(r * 2)[:2] for r in rows], dtype=np.int64)  # pad by repeating
    return idx, np.full((len(rows), 2), 0.5)


def annotated_landmarks(landmarks_dir: Path):
    """[(name, mediapipe (478,2), gt (68,2) 0-based)] for every annotated photo."""
    from ..detect import detect_faces, face_landmarks
    from ..image_io import load_image
    out = []
    for f in sorted(landmarks_dir.glob("*/json/*.json")):
        d = json.loads(f.read_text())
        gt = np.asarray(d["landmarks68"], dtype=np.float64)
        if str(d["coord_origin"]).startswith("1-based"):
            gt = gt - 1.0
        image = load_image(landmarks_dir / d["image"])
        faces = detect_faces(image)
        c = gt.mean(0)  # the annotated face: the box nearest the annotation's centre
        face = min(faces, key=lambda b: np.hypot((b.box[0] + b.box[2]) / 2 - c[0],
                                                  (b.box[1] + b.box[3]) / 2 - c[1]))
        out.append((f.stem, face_landmarks(image, face).points, gt))
    return out


def fit_mp68(samples, mp_canonical: np.ndarray, seed_index: np.ndarray):
    """Per iBUG point (mirror pairs tied) the single point or 2-point blend with least mean NME."""
    mp = mp_canonical[:468]
    mirrored = mp * [-1, 1, 1]
    mp_mirror = np.array([np.argmin(np.linalg.norm(mp - q, axis=1)) for q in mirrored])
    P = np.stack([s[1] for s in samples])
    G = np.stack([s[2] for s in samples])
    S = np.array([np.sqrt(np.prod(g.max(0) - g.min(0))) for g in G])

    def err(c, k):
        idx, w = c
        p = P[:, idx[0]] * w[0] + P[:, idx[1]] * w[1]
        return (np.linalg.norm(p - G[:, k], axis=1) / S).mean()

    def candidates(k):
        centre = mp[seed_index[k]].mean(0)
        pool = np.argsort(np.linalg.norm(mp - centre, axis=1))[:POOL]
        yield from (((i, i), (1.0, 0.0)) for i in pool)
        for i, j in itertools.combinations(pool, 2):
            for t in BLEND_T:
                yield (i, j), (1 - t, t)

    index = np.zeros((68, 2), dtype=np.int64)
    weight = np.zeros((68, 2))
    for k in range(68):
        k2 = MIRROR68[k]
        if k2 < k:
            continue
        best = None
        for c in candidates(k):
            e = err(c, k)
            if k2 != k:
                e = (e + err((tuple(mp_mirror[list(c[0])]), c[1]), k2)) / 2
            if best is None or e < best[0]:
                best = (e, c)
        (i, j), w = best[1]
        index[k], weight[k] = (i, j), w
        index[k2], weight[k2] = mp_mirror[[i, j]], w
    return index, weight


def nme_table(samples, index, weight):
    from ..metrics import nme68
    return {name: nme68((pts[index] * weight[..., None]).sum(1), gt) for name, pts, gt in samples}


def run(args) -> int:
    from ..correspondence import TABLE_PATH, build_correspondence, compute_table
    from ..detect import MP68_PATH
    from ..model import load_model
    from ..obj_io import read_positions

    mp = read_positions(args.mediapipe_dir / "face_model_with_iris.obj")
    report = {}
    mp68 = args.mp68 or MP68_PATH
    if args.fit_68:
        seed, _ = load_mp68_any(args.mediapipe_dir / HEURISTIC)
        samples = annotated_landmarks(args.landmarks_dir)
        idx, w = fit_mp68(samples, mp, seed)
        sidx, sw = load_mp68_any(args.mediapipe_dir / HEURISTIC)
        report["nme_heuristic"] = nme_table(samples, sidx, sw)
        report["nme_fitted"] = nme_table(samples, idx, w)
        MP68_PATH.write_text(json.dumps({
            "description": "iBUG-68 point k = sum_m weight[k][m] * mediapipe_point[index[k][m]]. Derived: "
                           "per point (left/right tied) the mediapipe point or 2-point blend minimising "
                           "mean NME on the annotated photos in ../shared/photos/landmarks, candidates "
                           "seeded near PeizhiYan's table (see docs/detection.md).",
            "index": idx.tolist(), "weight": w.tolist(),
            "nme_in_sample": {k: round(v, 5) for k, v in report["nme_fitted"].items()}}, indent=1))
        mp68 = MP68_PATH
    idx, w = load_mp68_any(mp68)
    model = load_model()
    table = compute_table(model, mp, idx, w, smooth=args.smooth)
    table["source"] = ("derived: mediapipe face_model_with_iris.obj aligned (similarity + thin-plate "
                       f"warp on the 51 inner landmarks of {mp68.name}) to the ICT neutral, each point "
                       "projected onto the nearest face-region (iris: eyeball) triangle")
    out = args.output or TABLE_PATH
    out.write_text(json.dumps(table, separators=(",", ":")))
    corr = build_correspondence(model, out)  # validate what we wrote
    d = np.asarray(table["projection_distance_cm"])
    report.update({"output": str(out), "points": len(corr["mp_triangle"]),
                   "projection_cm_mean": float(d.mean()), "projection_cm_max": float(d.max())})
    print(json.dumps(report, indent=1))
    return 0
