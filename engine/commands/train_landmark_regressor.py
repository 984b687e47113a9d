"""`python -m engine train-landmark-regressor --out weights/landmark_regressor.pt --seed 0`:
train the shipped landmark regressor from scratch on synthetic landmark sets (CPU, 1 thread,
deterministic for a given seed / steps / thread count)."""
from pathlib import Path

from ..model import load_model
from ..regress.landmark import train_landmark_regressor


def add_arguments(p):
    p.add_argument("--out", type=Path, required=True, help="weights file to write (+ .sha256 sidecar)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--steps", type=int, default=8000)
    p.add_argument("--batch", type=int, default=256)
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--hidden", type=int, default=384)
    p.add_argument("--layers", type=int, default=3)
    p.add_argument("--scheme", choices=("auto", "ict68", "mediapipe478"), default="auto",
                   help="landmark scheme: mediapipe478 needs engine/correspondence (auto: 478 when available)")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--log", type=Path, default=None, help="CSV training log")
    p.add_argument("--fp32", action="store_true", help="store float32 weights (default float16)")


def run(args) -> int:
    model = load_model()
    info = train_landmark_regressor(model, args.out, seed=args.seed, steps=args.steps, batch=args.batch,
                                    lr=args.lr, hidden=args.hidden, layers=args.layers, scheme=args.scheme,
                                    log=args.log, threads=args.threads, fp16=not args.fp32)
    print(f"wrote {info['path']} ({info['scheme']}, {info['seconds']} s) sha256 {info['sha256']}")
    return 0
