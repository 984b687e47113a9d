"""`python -m engine bench NAME [options]`: each benchmark is engine/bench/NAME.py with
`add_arguments(parser)` and `run(args) -> dict`; the dict is printed as JSON."""
import importlib
import json
import pkgutil

from .. import bench as bench_pkg


def add_arguments(p):
    names = sorted(m.name for m in pkgutil.iter_modules(bench_pkg.__path__) if not m.name.startswith("_"))
    sub = p.add_subparsers(dest="bench", required=True)
    for name in names:
        mod = importlib.import_module(f"..bench.{name}", __package__)
        mod.add_arguments(sub.add_parser(name, help=(mod.__doc__ or "").strip().split("\n")[0]))


def run(args) -> int:
    mod = importlib.import_module(f"..bench.{args.bench}", __package__)
    print(json.dumps(mod.run(args), indent=2))
    return 0
