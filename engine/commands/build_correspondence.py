"""`python -m engine build-correspondence`: rebuild the mediapipe tables (engine/tools/build_correspondence.py)."""
import json
from pathlib import Path

from ..tools.build_correspondence import SHARED, build


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


def run(args) -> int:
    print(json.dumps(build(args.mediapipe_dir, args.landmarks_dir, args.fit_68, args.mp68, args.smooth, args.output),
                     indent=1))
    return 0
