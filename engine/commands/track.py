"""`python -m engine track VIDEO -o OUT`: a video of a face -> animation.json,
animation_livelink.csv and head_animated.glb (the head with its expressions and pose animated).

The output folder is checked first (a non-empty one is refused unless --overwrite) and nothing
is written unless tracking succeeds (errors exit with code 2)."""
from pathlib import Path

from ..core.errors import FaceSpaceError
from ..io.export import check_outdir
from ..io.track_export import write_track_outputs
from ..model import load_model
from ..pipeline.track import TrackOptions, track


def add_arguments(p):
    p.add_argument("video", type=Path, help="the video (MP4/MOV/MKV/AVI) or a folder of frames")
    p.add_argument("-o", "--output", required=True, type=Path, help="output folder")
    p.add_argument("--head", type=Path, default=None,
                   help="params.json of a reconstructed head: its identity is used (default: fitted from the clip)")
    p.add_argument("--no-filter", action="store_true", help="write the per-frame fits without temporal smoothing")
    p.add_argument("--step", type=int, default=1, help="use every N-th frame")
    p.add_argument("--max-frames", type=int, default=None, help="stop after this many frames")
    p.add_argument("--texture-size", type=int, default=1024, help="texture baked from the most frontal frame")
    p.add_argument("--overwrite", action="store_true", help="replace existing output files")


def run(args) -> int:
    import sys

    if args.step < 1:
        raise FaceSpaceError("--step must be 1 or more.")
    if args.texture_size and not 16 <= args.texture_size <= 8192:
        raise FaceSpaceError("--texture-size must be 0 (none) or between 16 and 8192 pixels.")
    if args.head is not None and not args.head.is_file():
        raise FaceSpaceError(f"The head file {args.head} does not exist. Give the params.json written by "
                             "`reconstruct`.")
    check_outdir(args.output, args.overwrite)  # before the work, so a doomed run wastes no time
    model = load_model()
    opts = TrackOptions(filter=not args.no_filter, step=args.step, max_frames=args.max_frames,
                        texture_size=args.texture_size)

    def progress(frac, msg):
        print(f"[{frac:4.0%}] {msg}", file=sys.stderr, flush=True)

    tr = track(args.video, model, head=args.head, options=opts, progress=progress)
    written = write_track_outputs(tr, model, args.output, overwrite=args.overwrite)
    n, found, bridged = len(tr.times), int(tr.face_found.sum()), int(tr.bridged.sum())
    print(f"{n} frames, face tracked in {found} ({found / n:.1%}), {bridged} bridged, "
          f"{int(tr.missing.sum())} missing; {tr.timings['total']:.1f} s ({n / tr.timings['total']:.1f} fps)")
    for p in written:
        print(p)
    return 0
