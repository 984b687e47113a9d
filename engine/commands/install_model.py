from pathlib import Path

from ..model.install import install_model


def add_arguments(p):
    p.add_argument("--from", dest="source", type=Path, default=None,
                   help="a local ICT-FaceKit folder or archive (default: download the pinned release)")
    p.add_argument("--data-dir", type=Path, default=None,
                   help="install here instead of the per-user data folder (FACESPACE_DATA_DIR overrides both)")


def run(args) -> int:

    import sys
    last = [-1]

    def progress(frac, msg):
        if sys.stdout.isatty():
            print(f"\r[{frac:5.0%}] {msg:60s}", end="", flush=True)
        elif int(frac * 4) > last[0]:  # logs (CI): a line per quarter, not per file
            last[0] = int(frac * 4)
            print(f"[{frac:5.0%}] {msg}", flush=True)

    path = install_model(args.source, data_dir=args.data_dir, progress=progress)
    print(f"\ninstalled {path}")
    return 0
