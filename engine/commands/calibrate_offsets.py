"""`python -m engine calibrate-offsets`: re-derive engine/data/detector_offsets.json
(engine/tools/calibrate_offsets.py; ~1-3 min on 2 cores)."""
import json
from pathlib import Path

from ..landmarks.offsets import OFFSETS_PATH
from ..model import load_model
from ..tools.calibrate_offsets import build


def add_arguments(p):
    p.add_argument("--faces", type=int, default=40, help="synthetic source: faces to render")
    p.add_argument("--seed", type=int, default=100)
    p.add_argument("--source", default="photos", choices=("photos", "synthetic"))
    p.add_argument("-o", "--output", type=Path, default=OFFSETS_PATH)


def run(args) -> int:
    print(json.dumps(build(load_model(), args.faces, args.seed, args.output, args.source), indent=1))
    return 0
