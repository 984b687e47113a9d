"""Load time and memory of the installed compact face model."""
import time

from ..model import load_model, model_path
from ._common import machine, peak_rss_mb


def add_arguments(p):
    p.add_argument("--repeat", type=int, default=5)


def run(args) -> dict:
    import numpy as np
    rss0 = peak_rss_mb()
    times = []
    for _ in range(args.repeat):
        t = time.perf_counter()
        m = load_model()
        times.append(time.perf_counter() - t)
    t = time.perf_counter()
    m.vertices(np.zeros((1, m.n_identity)), np.zeros((1, m.n_expression)))
    eval_s = time.perf_counter() - t
    path = model_path()
    return {
        "benchmark": "model",
        "file": str(path),
        "file_mb": round(path.stat().st_size / 1e6, 2),
        "load_s_median": round(sorted(times)[len(times) // 2], 4),
        "load_s_min": round(min(times), 4),
        "model_arrays_mb": round(sum(getattr(m, k).nbytes for k in ("mean", "identity_basis", "expression_basis")) / 1e6, 1),
        "peak_rss_mb_before": round(rss0, 1),
        "peak_rss_mb_after": round(peak_rss_mb(), 1),
        "evaluate_one_numpy_s": round(eval_s, 4),
        "machine": machine(),
    }
