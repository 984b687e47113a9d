"""`python -m engine build-landmarks68`: re-derive the model's calibrated 68-point table,
engine/data/model_landmarks68.json (engine/tools/landmarks68.py)."""
from ..eval.datasets import landmark_items
from ..eval.reconstruct_eval import fitted_samples
from ..landmarks.model68 import TABLE_PATH
from ..model import load_model
from ..tools.landmarks68 import calibrate, save_table


def add_arguments(p):
    p.add_argument("--mediapipe-dir", default=None, help="default: ../shared/mediapipe")
    p.add_argument("--out", default=str(TABLE_PATH))
    p.add_argument("--jaw", choices=("nearest", "shift"), default="nearest")


def run(args) -> int:
    model = load_model()
    samples = fitted_samples(model, landmark_items())
    table, ins, loo = calibrate(model, samples, args.mediapipe_dir, args.jaw)
    ins, loo = ins.mean(1), loo.mean(1)
    for s, i, l in zip(samples, ins, loo):
        print(f"{s['name']:45s} in-sample {i:.4f}  leave-one-out {l:.4f}")
    print(f"mean in-sample {ins.mean():.4f}  leave-one-out {loo.mean():.4f}")
    save_table(table, args.out, {"images": [s["name"] for s in samples],
                                 "nme_in_sample": round(float(ins.mean()), 5),
                                 "nme_leave_one_out": round(float(loo.mean()), 5)})
    return 0
