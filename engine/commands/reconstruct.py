"""`python -m engine reconstruct PHOTO [PHOTO ...] -o OUTDIR`: photo(s) of one person ->
head.obj/.mtl/PNGs, head.glb, params.json. Several photos make one head (one identity, a
camera and expression per photo, the texture fused from all).

Every check that can fail (options, device, output folder, model) runs before the work;
nothing is written unless the whole reconstruction succeeds (errors exit with code 2)."""
from pathlib import Path

from ..core import options as rules
from ..core.device import pick_device
from ..io.export import check_outdir, write_outputs
from ..model import load_model
from ..pipeline.many import reconstruct_many
from ..pipeline.reconstruct import ReconstructOptions, reconstruct


def add_options(p):
    """The reconstruction options (shared with `batch`); checked by core.options."""
    p.add_argument("--face", type=int, default=None,
                   help="which face when the photo has several (0 = largest; default: the largest)")
    p.add_argument("--texture-size", type=int, default=rules.DEFAULT_TEXTURE_SIZE,
                   help=f"texture side in pixels: {', '.join(map(str, rules.TEXTURE_SIZES))}")
    p.add_argument("--device", default="auto", choices=rules.DEVICES)
    p.add_argument("--quality", default=rules.DEFAULT_QUALITY, choices=rules.QUALITIES,
                   help="instant: the learned regression alone, no fitting")
    p.add_argument("--regressor", default="auto", choices=rules.REGRESSORS,
                   help="what initialises the fit: auto = Genova et al. when its checkpoint and the FaceNet "
                        "weights are installed, else the shipped landmark regressor")
    p.add_argument("--no-regressor", action="store_true", help="same as --regressor none")
    p.add_argument("--regression-only", action="store_true", help="same as --quality instant")
    p.add_argument("--overwrite", action="store_true",
                   help="replace an output folder FaceSpace wrote before (never one holding other files)")


def options_from_args(args) -> ReconstructOptions:
    opts = ReconstructOptions(face_index=args.face, texture_size=args.texture_size, device=args.device,
                              quality="instant" if args.regression_only else args.quality,
                              regressor="none" if args.no_regressor else args.regressor)
    pick_device(opts.device)   # the machine has it, or DeviceUnavailableError now
    return opts


def add_arguments(p):
    p.add_argument("photo", nargs="+", help="the photo(s) of one person (JPEG, PNG, ...)")
    p.add_argument("-o", "--output", required=True, type=Path, help="output folder")
    add_options(p)


def print_warnings(rec, prefix=""):
    import sys
    for w in rec.warnings:
        print(f"{prefix}warning: {w['message']}", file=sys.stderr)


def run(args) -> int:
    import sys

    opts = options_from_args(args)
    check_outdir(args.output, args.overwrite)
    model = load_model()

    def progress(frac, msg):
        print(f"[{frac:4.0%}] {msg}", file=sys.stderr, flush=True)

    if len(args.photo) > 1:
        rec = reconstruct_many(args.photo, model, opts, progress=progress)
        for e in rec.extras["excluded"]:
            print(f"warning: {e['source']}: {e['reason']}", file=sys.stderr)
    else:
        rec = reconstruct(args.photo[0], model, opts, progress=progress)
    written = write_outputs(rec, model, args.output, overwrite=args.overwrite)
    print_warnings(rec)
    t = rec.timings
    print(f"{len(rec.faces)} face(s) found, used face {rec.face_index}; path {rec.path}; "
          f"landmark residual {rec.quality['landmark_residual_px_mean']:.2f} px; "
          f"{t['total']:.2f} s ({', '.join(f'{k} {v:.2f}' for k, v in t.items() if k != 'total')})")
    for p in (written or []):
        print(p)
    return 0
