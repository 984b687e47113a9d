"""`python -m engine reconstruct PHOTO [PHOTO ...] -o OUTDIR`: photo(s) of one person ->
head.obj/.mtl/PNGs, head.glb, params.json. Several photos make one head (one identity, a
camera and expression per photo, the texture fused from all).

Nothing is written unless the whole reconstruction succeeds (errors exit with code 2)."""
from pathlib import Path

from ..core.errors import FaceSpaceError
from ..io.export import write_outputs
from ..model import load_model
from ..pipeline.many import reconstruct_many
from ..pipeline.reconstruct import ReconstructOptions, reconstruct


def add_arguments(p):
    p.add_argument("photo", nargs="+", help="the photo(s) of one person (JPEG, PNG, ...)")
    p.add_argument("-o", "--output", required=True, type=Path, help="output folder")
    p.add_argument("--face", type=int, default=None,
                   help="which face when the photo has several (0 = largest; default: the largest)")
    p.add_argument("--texture-size", type=int, default=2048)
    p.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda", "mps"))
    p.add_argument("--quality", default="balanced", choices=("fast", "balanced", "high"))
    p.add_argument("--regressor", default="auto", choices=("auto", "genova", "landmark", "none"),
                   help="what initialises the fit: auto = Genova et al. when its checkpoint and the FaceNet "
                        "weights are installed, else the shipped landmark regressor")
    p.add_argument("--no-regressor", action="store_true", help="same as --regressor none")
    p.add_argument("--regression-only", action="store_true",
                   help="fast mode: the regression is the answer, no fitting")
    p.add_argument("--overwrite", action="store_true", help="replace existing output files")


def run(args) -> int:
    import sys

    if args.texture_size < 16 or args.texture_size > 8192:
        raise FaceSpaceError("--texture-size must be between 16 and 8192 pixels.")
    model = load_model()
    opts = ReconstructOptions(face_index=args.face, texture_size=args.texture_size, device=args.device,
                              quality=args.quality, regressor="none" if args.no_regressor else args.regressor,
                              regression_only=args.regression_only)

    def progress(frac, msg):
        print(f"[{frac:4.0%}] {msg}", file=sys.stderr, flush=True)

    if len(args.photo) > 1:
        rec = reconstruct_many(args.photo, model, opts, progress=progress)
        for e in rec.extras["excluded"]:
            print(f"warning: {e['source']}: {e['reason']}", file=sys.stderr)
    else:
        rec = reconstruct(args.photo[0], model, opts, progress=progress)
    written = write_outputs(rec, model, args.output, overwrite=args.overwrite)
    t = rec.timings
    print(f"{len(rec.faces)} face(s) found, used face {rec.face_index}; path {rec.path}; "
          f"landmark residual {rec.quality['landmark_residual_px_mean']:.2f} px; "
          f"{t['total']:.2f} s ({', '.join(f'{k} {v:.2f}' for k, v in t.items() if k != 'total')})")
    for p in (written or []):
        print(p)
    return 0
