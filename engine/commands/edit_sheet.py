"""`python -m engine edit-sheet [OUT_DIR]`: regenerate the face-space editing pictures."""
from __future__ import annotations

from pathlib import Path


def add_arguments(parser):
    parser.add_argument("out_dir", nargs="?", default="docs/images",
                        help="folder for editing_measurements.png and editing_mix.png")


def run(args) -> int:
    from ..editing.sheet import measurement_sheet, mix_sheet
    from ..model import load_model
    model = load_model()
    out = Path(args.out_dir)
    out.mkdir(parents=True, exist_ok=True)
    measurement_sheet(model, out / "editing_measurements.png")
    mix_sheet(model, out / "editing_mix.png")
    print(out / "editing_measurements.png")
    print(out / "editing_mix.png")
    return 0
