"""`python -m engine COMMAND`: install-model, bench, and the commands other modules add.

Each command lives in its own module with `add_arguments(parser)` and `run(args) -> int`;
COMMANDS maps the command name to that module, imported only when used.
"""
from __future__ import annotations

import argparse
import importlib
import sys

from .errors import FaceSpaceError

COMMANDS = {
    "install-model": (".commands.install_model", "install the ICT-FaceKit face model"),
    "build-correspondence": (".commands.build_correspondence", "map mediapipe's face mesh onto the model (derived table)"),
    "bench": (".commands.bench", "run a benchmark and print its figures as JSON"),
    "reconstruct": (".commands.reconstruct", "photo -> head.obj, head.glb, params.json"),
    "train-regressor": (".commands.train_regressor", "train the Genova et al. regressor"),
    "train-landmark-regressor": (".commands.train_landmark_regressor", "train the shipped landmark regressor"),
    "edit-sheet": (".commands.edit_sheet", "regenerate the face-space editing pictures (docs/images)"),
}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m engine", description="FaceSpace engine")
    sub = parser.add_subparsers(dest="command", required=True)
    modules = {}
    for name, (modname, help_text) in COMMANDS.items():
        try:
            mod = importlib.import_module(modname, __package__)
        except ModuleNotFoundError as exc:
            if exc.name and exc.name.startswith(__package__ + ".commands"):
                continue  # command not built yet
            raise
        modules[name] = mod
        mod.add_arguments(sub.add_parser(name, help=help_text, description=help_text))
    args = parser.parse_args(argv)
    try:
        return int(modules[args.command].run(args) or 0)
    except FaceSpaceError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
