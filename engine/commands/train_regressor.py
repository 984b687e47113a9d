"""`python -m engine train-regressor --photos DIR --out CKPT`: train the Genova et al. (2018)
regressor on a photo folder plus on-the-fly synthetic renders (see docs/regression.md).
Multi-GPU: `torchrun --nproc_per_node N -m engine train-regressor ...`."""
from pathlib import Path

from ..model import load_model
from ..regress.train import train_genova


def add_arguments(p):
    p.add_argument("--photos", type=Path, default=None, help="folder of face photos (default: synthetic only)")
    p.add_argument("--out", type=Path, required=True, help="checkpoint to write (+ .sha256); resumed with --resume")
    p.add_argument("--resume", action="store_true", help="continue from --out if it exists")
    p.add_argument("--steps", type=int, default=1000, help="total optimisation steps")
    p.add_argument("--batch", type=int, default=16, help="images per loss batch (per process)")
    p.add_argument("--lr", type=float, default=1e-4)
    p.add_argument("--size", type=int, default=160, help="render / crop size in pixels (>= 96)")
    p.add_argument("--w-param", type=float, default=1.0, help="parameter loss weight")
    p.add_argument("--w-dist", type=float, default=0.1, help="batch distribution loss weight")
    p.add_argument("--w-loop", type=float, default=1.0, help="loopback loss weight")
    p.add_argument("--w-mv", type=float, default=1.0, help="multi-view identity loss weight")
    p.add_argument("--yaws", type=float, nargs="+", default=[-30.0, 0.0, 30.0], help="multi-view yaws, degrees")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--device", default="auto", help="auto | cpu | cuda | mps")
    p.add_argument("--backend", default="auto", help="renderer: auto (nvdiffrast on CUDA) | portable | nvdiffrast")
    p.add_argument("--encoder", choices=("vggface2", "random"), default="vggface2",
                   help="FaceNet weights; 'random' only for smoke tests")
    p.add_argument("--facenet-weights", type=Path, default=None, help="local vggface2 state dict (else FACESPACE_FACENET_WEIGHTS)")
    p.add_argument("--hidden", type=int, default=512)
    p.add_argument("--layers", type=int, default=2)
    p.add_argument("--log", type=Path, default=None, help="CSV log (default: OUT.csv)")
    p.add_argument("--save-every", type=int, default=200)
    p.add_argument("--threads", type=int, default=None, help="torch CPU threads")


def run(args) -> int:
    model = load_model()
    info = train_genova(
        model, resume=args.resume, photos=args.photos, out=args.out, steps=args.steps, batch=args.batch,
        lr=args.lr, size=args.size, w_param=args.w_param, w_dist=args.w_dist, w_loop=args.w_loop,
        w_mv=args.w_mv, yaws=tuple(args.yaws), seed=args.seed, device=args.device, backend=args.backend,
        encoder=args.encoder, facenet_weights=args.facenet_weights, hidden=args.hidden, layers=args.layers,
        log=args.log or args.out.with_suffix(".csv"), save_every=args.save_every, threads=args.threads)
    if info["rank"] != 0:
        return 0
    print(f"wrote {args.out} at step {info['step']} ({info['images_per_s']:.1f} img/s, {info['device']}, "
          f"{info['backend']}, {info['world_size']} process(es)) sha256 {info['sha256']}")
    return 0
