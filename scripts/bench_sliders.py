"""Milliseconds per slider change on the full 26,719-vertex head, in real bpy (JSON out).

    .venv/bin/python scripts/bench_sliders.py [--repeats 50]

Times what a drag does: setting obj.facespace.identity[k].value runs the update callback
(mean + coefficients @ basis, then the mesh positions, the Basis key and all 53 expression
keys via foreach_set), and an expression slider (a shape-key value) followed by the
depsgraph evaluation Blender does to redraw. Target: < 16 ms per identity change.
"""
from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))


def _stats(ms):
    import numpy as np
    a = np.asarray(ms)
    return {"median_ms": round(float(np.median(a)), 2), "p90_ms": round(float(np.percentile(a, 90)), 2),
            "min_ms": round(float(a.min()), 2), "n": int(a.size)}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--repeats", type=int, default=50)
    args = p.parse_args(argv)
    import bpy
    import numpy as np
    from headless_reconstruct import load_addon
    bpy.ops.wm.read_factory_settings(use_empty=True)
    load_addon()
    from facespace import api
    head = api.add_head(name="Bench")
    rng = np.random.default_rng(0)
    items = head.facespace.identity
    items[0].value = 0.1  # warm-up: derived arrays, first allocation
    identity_ms, identity_eval_ms, expr_eval_ms = [], [], []
    blocks = head.data.shape_keys.key_blocks
    for i in range(args.repeats):
        k = int(rng.integers(0, len(items)))
        v = float(rng.uniform(-3, 3))
        t = time.perf_counter()
        items[k].value = v
        identity_ms.append((time.perf_counter() - t) * 1000)
        t = time.perf_counter()
        items[k].value = -v
        bpy.context.evaluated_depsgraph_get().update()  # what a redraw evaluates
        identity_eval_ms.append((time.perf_counter() - t) * 1000)
        t = time.perf_counter()
        blocks[1 + i % 53].value = float(rng.uniform(0, 1))
        bpy.context.evaluated_depsgraph_get().update()
        expr_eval_ms.append((time.perf_counter() - t) * 1000)
    print(json.dumps({
        "vertices": len(head.data.vertices), "shape_keys": len(blocks) - 1,
        "identity_slider_update": _stats(identity_ms),
        "identity_slider_update_plus_depsgraph": _stats(identity_eval_ms),
        "expression_slider_plus_depsgraph": _stats(expr_eval_ms),
        "bpy": bpy.app.version_string, "python": platform.python_version(), "machine": platform.machine(),
    }, indent=2))
    from headless_reconstruct import unload_addon
    unload_addon()
    return 0


if __name__ == "__main__":
    sys.exit(main())
