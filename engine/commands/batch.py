"""`python -m engine batch INPUTS... -o OUT [--workers N] [--ray [ADDRESS]]`: many photos,
one output folder each (engine.pipeline.batch), resumable; OUT/batch-manifest.json says
how each went. Exit status 0 when every photo made a head (warnings included), 2 otherwise."""
from pathlib import Path

from ..io.export import write_outputs
from ..pipeline.batch import collect_inputs, run_batch
from .reconstruct import add_options, options_from_args


def add_arguments(p):
    p.add_argument("inputs", nargs="+", help="photos, folders, glob patterns, or a CSV of paths "
                                             "(columns path, optional person: one folder per person)")
    p.add_argument("-o", "--output", required=True, type=Path, help="output folder (one subfolder per photo)")
    p.add_argument("--workers", type=int, default=1, help="local worker processes (each loads the model once)")
    p.add_argument("--ray", nargs="?", const="", default=None, metavar="ADDRESS",
                   help="run on Ray (pip install ray): a local cluster, or the one at ADDRESS")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    add_options(p)


def run(args) -> int:
    import sys
    from ..core.errors import OptionError
    if args.workers < 1:
        raise OptionError(f"--workers must be 1 or more, not {args.workers}.")
    opts = options_from_args(args)
    items = collect_inputs(args.inputs)
    if args.ray is not None:
        import importlib.util
        if importlib.util.find_spec("ray") is None:
            raise OptionError("--ray needs Ray, an optional extra: pip install ray")
    counts = run_batch(items, args.output, opts, write_outputs, workers=args.workers,
                       use_ray=args.ray is not None, ray_address=args.ray or None,
                       progress=not args.no_progress)
    print(f"{len(items)} photo(s): {counts['ok']} ok, {counts['warning']} with warnings, "
          f"{counts['error']} failed, {counts['skipped']} skipped (finished before); "
          f"{counts['seconds']:.1f} s; manifest {Path(args.output).absolute() / 'batch-manifest.json'}",
          file=sys.stderr)
    return 2 if counts["error"] else 0
