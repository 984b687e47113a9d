"""`python -m engine COMMAND`: install-model, install-identity, bench, and the commands other modules add.

Each command lives in its own module with `add_arguments(parser)` and `run(args) -> int`;
COMMANDS maps the command name to that module, imported only when used. Exit status: 0 done,
2 an error the artist can act on (typed FaceSpaceError, one line), 130 interrupted, 1 an
internal failure (a short message; the traceback goes to a log file the message names).
"""
from __future__ import annotations

import argparse
import importlib
import sys

from .core.errors import FaceSpaceError

COMMANDS = {
    "install-model": (".commands.install_model", "install the ICT-FaceKit face model"),
    "install-identity": (".commands.install_identity", "install the identity network (dlib's face-recognition ResNet)"),
    "build-correspondence": (".commands.build_correspondence", "map mediapipe's face mesh onto the model (derived table)"),
    "calibrate-offsets": (".commands.calibrate_offsets", "re-derive the detector-bias offsets (derived table)"),
    "build-landmarks68": (".commands.build_landmarks68", "re-derive the model's calibrated 68 landmarks (derived table)"),
    "bench": (".commands.bench", "run a benchmark and print its figures as JSON"),
    "reconstruct": (".commands.reconstruct", "photo -> head.obj, head.glb, params.json"),
    "track": (".commands.track", "video -> animation.json, Live Link Face CSV, head_animated.glb"),
    "batch": (".commands.batch", "many photos -> one output folder each, resumable, in parallel"),
    "train-regressor": (".commands.train_regressor", "train the Genova et al. regressor"),
    "train-landmark-regressor": (".commands.train_landmark_regressor", "train the shipped landmark regressor"),
    "edit-sheet": (".commands.edit_sheet", "regenerate the face-space editing pictures (docs/images)"),
}


def main(argv=None) -> int:
    from .core.runtime import configure_process
    configure_process()   # before any command imports torch
    argv = sys.argv[1:] if argv is None else list(argv)
    parser = argparse.ArgumentParser(prog="python -m engine", description="FaceSpace engine")
    sub = parser.add_subparsers(dest="command", required=True)
    # only the command asked for is imported: `install-model` must not need torch
    chosen = next((a for a in argv if a in COMMANDS), None)
    module = None
    for name, (modname, help_text) in COMMANDS.items():
        p = sub.add_parser(name, help=help_text, description=help_text)
        if name == chosen:
            module = importlib.import_module(modname, __package__)
            module.add_arguments(p)
    args = parser.parse_args(argv)
    try:
        return int(module.run(args) or 0)
    except FaceSpaceError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted: nothing was left half-written.", file=sys.stderr)
        return 130
    except Exception as exc:   # not ours to explain: a short line here, the traceback in a file
        from .core.crashlog import internal_error_message
        print(f"error: {internal_error_message(exc, args.command)}", file=sys.stderr)
        return 1
