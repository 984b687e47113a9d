"""Landmark regressor: fitting with vs without its initialisation on the synthetic benchmark
(engine/synthetic.py faces, detector points, engine/reconstruct.fit_points), failures at
large yaw (45-75 degrees), regressor accuracy vs the mean-face baseline, and inference time
per face (CPU single, CPU batched 64, CUDA when present)."""
import time

import numpy as np

from ..core.geometry import rotation_angle_deg
from ..eval.synthetic import SyntheticFace, detector_targets, face_error_mm, sample_face
from ..fit import FitSettings, fit_points
from ..model import load_model
from ..regress import landmark_weights_path, load_landmark_regressor, predict_init
from ..regress.checkpoint import load_checkpoint
from ..regress.encoder import build_encoder
from ..regress.genova import build_regressor
from ..regress.landmark import LandmarkPredictor, evaluate_landmark_regressor
from ._common import machine


def add_arguments(p):
    p.add_argument("--faces", type=int, default=30, help="synthetic faces, yaw up to +-60 degrees")
    p.add_argument("--large-yaw", type=int, default=30, help="synthetic faces at 45-75 degrees yaw")
    p.add_argument("--wide-angle", type=int, default=30,
                   help="synthetic close-up wide-angle faces (focal 0.6 x the longer side, selfie-like) at 45-75 degrees yaw")
    p.add_argument("--noise", type=float, default=1.0, help="landmark noise, px at 512 px")
    p.add_argument("--qualities", default="fast,balanced")
    p.add_argument("--fail-mm", type=float, default=4.0, help="failure: mean face error above this (mm)")
    p.add_argument("--fail-deg", type=float, default=10.0, help="failure: rotation error above this (degrees)")
    p.add_argument("--eval", type=int, default=2000, help="synthetic landmark sets for the accuracy figures")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=1)


def _wide_angle(model, face, focal_factor=0.6, face_fraction=0.6):
    """The same face and pose seen through a short lens from close by (a selfie)."""
    w, h = face.image_size
    f = max(w, h) * focal_factor
    z = f * float(np.ptp(model.mean[model.region_slice("face"), 1])) / (face_fraction * h)
    c = model.vertices(face.identity, face.expression)[model.region_vertices("face")].mean(0) @ face.rotation.T
    t = np.array([0.0, 0.0, z]) - c
    t[2] = z
    K = np.array([[f, 0, (w - 1) / 2], [0, f, (h - 1) / 2], [0, 0, 1]])
    return SyntheticFace(face.identity, face.expression, face.rotation, t, K, face.image_size, face.yaw_deg)


def _faces(model, rng, n, yaw_range, noise, wide=False):
    out = []
    for _ in range(n):
        lo, hi = yaw_range
        yaw = float(rng.uniform(lo, hi)) * (1 if rng.random() < 0.5 else -1) if lo > 0 else None
        face = sample_face(model, rng, yaw_max=hi, yaw_deg=yaw)
        if wide:
            face = _wide_angle(model, face)
        pts, jaw = detector_targets(model, face, rng, noise)
        out.append((face, pts, jaw))
    return out


INITS = ("none", "landmark-regressor", "landmark-regressor+focal-prior")


def _run_fits(model, faces, quality, init_mode, fail_mm, fail_deg):
    """init_mode: 'none' (the fit's closed-form rigid start), 'landmark-regressor' (predict_init
    as the fit's initialisation), '...+focal-prior' (also centre the fit's focal prior on the
    regressor's focal estimate: FitSettings(focal_prior=f / max(w, h)))."""
    errs, rots, secs, iters, focals = [], [], [], [], []
    for face, pts, jaw in faces:
        t = time.perf_counter()
        init = predict_init(pts, face.image_size, model) if init_mode != "none" else None
        st = None
        if init is not None and init_mode.endswith("focal-prior"):
            st = FitSettings(quality=quality, focal_prior=init["focal"] / max(face.image_size))
        fit = fit_points(model, pts, face.image_size, quality=quality, init=init, jaw_points=jaw, settings=st)
        secs.append(time.perf_counter() - t)
        iters.append(fit.iterations)
        errs.append(float(face_error_mm(model, face.vertices(model),
                                        model.vertices(fit.identity, fit.expression)).mean()))
        rots.append(float(rotation_angle_deg(fit.camera.rotation, face.rotation)))
        focals.append(fit.camera.focal / face.K[0, 0])
    errs, rots = np.array(errs), np.array(rots)
    fail = (errs > fail_mm) | (rots > fail_deg)
    return {"init": init_mode, "quality": quality,
            "face_error_mm_mean": round(float(errs.mean()), 3), "face_error_mm_median": round(float(np.median(errs)), 3),
            "rotation_deg_mean": round(float(rots.mean()), 2), "rotation_deg_max": round(float(rots.max()), 2),
            "failures": int(fail.sum()), "n": len(faces),
            "focal_ratio_median": round(float(np.median(focals)), 3),
            "seconds_mean": round(float(np.mean(secs)), 4), "iterations_mean": round(float(np.mean(iters)), 1)}


def summarise(rows, tol_mm=0.05) -> dict:
    """Per set: the accuracy target is the best mean face error reached without the regressor;
    for each initialisation, the cheapest quality (iterations, then time) within `tol_mm` of
    it ("never" if none), and the failures per configuration."""
    target = min(r["face_error_mm_mean"] for r in rows if r["init"] == "none")
    out = {"target_error_mm": target, "cheapest_at_target": {}, "failures": {}}
    for mode in INITS:
        ok = [r for r in rows if r["init"] == mode and r["face_error_mm_mean"] <= target + tol_mm]
        if ok:
            b = min(ok, key=lambda r: (r["iterations_mean"], r["seconds_mean"]))
            out["cheapest_at_target"][mode] = {"quality": b["quality"], "error_mm": b["face_error_mm_mean"],
                                               "iterations": b["iterations_mean"], "seconds": b["seconds_mean"]}
        else:
            out["cheapest_at_target"][mode] = "never"
    for r in rows:
        out["failures"][f"{r['init']}/{r['quality']}"] = r["failures"]
    # the headline: fit time (regressor inference included) at equal accuracy, relative to none
    base = out["cheapest_at_target"]["none"]
    for mode in INITS[1:]:
        b = out["cheapest_at_target"][mode]
        if isinstance(base, dict) and isinstance(b, dict):
            out.setdefault("fit_time_vs_none_at_target", {})[mode] = round(b["seconds"] / base["seconds"], 3)
    return out


def _median_ms(fn, runs, warm=1):
    """Median wall time of fn() in ms over `runs` calls, after `warm` untimed ones."""
    for _ in range(warm):
        fn()
    ts = []
    for _ in range(runs):
        t = time.perf_counter()
        fn()
        ts.append(time.perf_counter() - t)
    return 1000 * float(np.median(ts))


def _sync(device_name):
    if device_name == "cuda":
        import torch
        torch.cuda.synchronize()


def _inference_times(model, pred, device_name="cpu"):
    rng = np.random.default_rng(0)
    L = pred.n_points
    pts = rng.uniform(100, 400, (64, L, 2))
    size = np.array([512.0, 512.0])

    def batch(b):
        pred.predict_batch(pts[:b], size)
        _sync(device_name)

    return {"single_ms_median": round(_median_ms(lambda: batch(1), 50, warm=10), 3),
            "batch64_ms_per_face": round(_median_ms(lambda: batch(64), 8, warm=2) / 64, 4)}


def _genova_inference_times(model, device_name="cpu", size=160):
    """Genova regression per face: FaceNet (InceptionResnetV1, randomly initialised: the time
    does not depend on the weights) + the regressor MLP, one 160 px crop and a batch of 64."""
    import torch
    enc = build_encoder(pretrained=False, seed=0, device=device_name)
    reg = build_regressor(model.n_identity, model.n_expression).to(device_name).eval()
    x = torch.rand(64, 3, size, size, generator=torch.Generator().manual_seed(0)).to(device_name)

    def batch(b):
        with torch.no_grad():
            reg(enc(x[:b])["pool"])
        _sync(device_name)

    return {"single_ms_median": round(_median_ms(lambda: batch(1), 12), 3),
            "batch64_ms_per_face": round(_median_ms(lambda: batch(64), 3) / 64, 3)}


def run(args) -> dict:
    import torch
    torch.set_num_threads(args.threads)
    model = load_model()
    pred = load_landmark_regressor(model)
    out = {"benchmark": "regress", "weights": str(landmark_weights_path()), "scheme": pred.config["scheme"],
           "fitting": "engine.reconstruct.fit_points on engine.synthetic faces (detector_targets, noise "
                      f"{args.noise} px)", "fail_rule": f"mean face error > {args.fail_mm} mm or rotation error > {args.fail_deg} deg"}
    rng = np.random.default_rng(args.seed)
    sets = {"all_yaw_60": _faces(model, rng, args.faces, (0, 60), args.noise),
            "large_yaw_45_75": _faces(model, rng, args.large_yaw, (45, 75), args.noise),
            "wide_angle_large_yaw_45_75": _faces(model, rng, args.wide_angle, (45, 75), args.noise, wide=True)}
    quals = [q for q in args.qualities.split(",") if q]
    for name, faces in sets.items():
        rows = []
        for q in quals:
            for mode in INITS:
                rows.append(_run_fits(model, faces, q, mode, args.fail_mm, args.fail_deg))
        out[name] = rows
        out.setdefault("summary", {})[name] = summarise(rows)
    out["regressor_accuracy"] = evaluate_landmark_regressor(pred, n=args.eval, seed=12345)
    out["inference_cpu"] = _inference_times(model, pred)
    out["genova_inference_cpu"] = _genova_inference_times(model)
    if torch.cuda.is_available():
        gpu = LandmarkPredictor(load_checkpoint(landmark_weights_path()), model, "cuda")
        out["inference_cuda"] = _inference_times(model, gpu, "cuda")
        out["genova_inference_cuda"] = _genova_inference_times(model, "cuda")
    out["machine"] = machine()
    return out
