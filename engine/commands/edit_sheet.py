"""`python -m engine edit-sheet [OUT_DIR] [--figures]`: regenerate the face-space editing pictures
(or print the measured figures of docs/editing.md as JSON)."""
from __future__ import annotations

from pathlib import Path

from ..eval.editing_figures import editing_figures
from ..eval.editing_sheet import measurement_sheet, mix_sheet
from ..model import load_model


def add_arguments(parser):
    parser.add_argument("out_dir", nargs="?", default="docs/images",
                        help="folder for editing_measurements.png and editing_mix.png")
    parser.add_argument("--figures", action="store_true",
                        help="print the measured editing figures as JSON instead of drawing")


def run(args) -> int:
    model = load_model()
    if args.figures:
        import json
        print(json.dumps(editing_figures(model), indent=1))
        return 0
    out = Path(args.out_dir)
    out.mkdir(parents=True, exist_ok=True)
    measurement_sheet(model, out / "editing_measurements.png")
    mix_sheet(model, out / "editing_mix.png")
    print(out / "editing_measurements.png")
    print(out / "editing_mix.png")
    return 0
