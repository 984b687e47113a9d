"""The fast landmark regressor: 2D detector landmarks -> identity, expression, rotation,
translation and focal length, trained only on synthetic landmark sets projected from the
morphable model. It ships trained in `weights/landmark_regressor.pt` (model card:
weights/README.md); `python -m engine train-landmark-regressor` reproduces it.

Input normalisation: the visible points' bounding box gives a centre c and a scale s
(the larger side); the network sees (p - c) / s for every point (0 where hidden), the
visibility mask, (c - pp) / s and log(max(w, h) / s), so focal length and translation are
recoverable in pixels. Outputs: identity (K, N(0,1) units), expression (E, sigmoid to [0,1]),
rotation (6D), the projected model origin as an offset in box units, log depth
(tz = exp(a) * f / s) and log focal (f = max(w, h) * exp(b)).
"""
from __future__ import annotations

import math
import time
from pathlib import Path

import numpy as np

from ..core.errors import FaceSpaceError
from ..core.geometry import euler_to_matrix, rotation_angle_deg
from ..core.torch_geometry import project
from .checkpoint import save_checkpoint
from .geometry import LandmarkBasis, landmark_basis, rotation_6d_to_matrix

DEPTH_PRIOR = math.log(15.0)   # head landmark span ~15 cm
FOCAL_PRIOR = math.log(1.2)    # f / max(w, h)


# ---- synthetic landmark sets -------------------------------------------------------------
DEFAULT_SAMPLING = dict(
    identity_clip=3.0, expr_prob_max=0.15, yaw_deg=80.0, pitch_deg=35.0, roll_deg=30.0,
    focal_min=0.6, focal_max=3.5, image_min=256, image_max=1280, face_min=0.12, face_max=0.75,
    noise_max=0.02, dropout_max=0.10, block_prob=0.25, keep_occluded_prob=0.5, min_depth=25.0,
)


def _u(gen, shape, lo, hi):
    import torch
    return lo + (hi - lo) * torch.rand(shape, generator=gen)


def sample_landmark_sets(basis: LandmarkBasis, batch: int, gen, tb=None, **overrides) -> dict:
    """Random faces, cameras and 2D landmark sets (torch, CPU, float32), drawn from `gen`.

    Returns identity (B,K), expression (B,E), rotation (B,3,3), translation (B,3) cm,
    focal (B,), image_size (B,2) (w,h), points2d (B,L,2) noisy pixels, clean2d (B,L,2),
    visible (B,L) float mask.
    """
    import torch
    o = dict(DEFAULT_SAMPLING, **overrides)
    tb = tb or basis.torch()
    K, E, L = basis.identity.shape[0], basis.expression.shape[0], basis.n_points
    B = batch
    ident = torch.randn(B, K, generator=gen).clamp(-o["identity_clip"], o["identity_clip"])
    p_on = _u(gen, (B, 1), 0.0, o["expr_prob_max"])
    expr = torch.rand(B, E, generator=gen) * (torch.rand(B, E, generator=gen) < p_on).float()
    d = math.pi / 180
    yaw = _u(gen, (B,), -o["yaw_deg"] * d, o["yaw_deg"] * d)
    pitch = _u(gen, (B,), -o["pitch_deg"] * d, o["pitch_deg"] * d)
    roll = _u(gen, (B,), -o["roll_deg"] * d, o["roll_deg"] * d)
    R = euler_to_matrix(yaw, pitch, roll)
    w = torch.round(_u(gen, (B,), o["image_min"], o["image_max"]))
    h = torch.round(w * torch.exp(_u(gen, (B,), math.log(0.6), math.log(1.6)))).clamp(o["image_min"] // 2, 2 * o["image_max"])
    size = torch.stack([w, h], -1)
    longest, shortest = torch.maximum(w, h), torch.minimum(w, h)
    focal = longest * torch.exp(_u(gen, (B,), math.log(o["focal_min"]), math.log(o["focal_max"])))
    frac = _u(gen, (B,), o["face_min"], o["face_max"])
    tz = (focal * 15.0 / (frac * shortest)).clamp_min(o["min_depth"])
    pp = torch.stack([(w - 1) / 2, (h - 1) / 2], -1)
    target = torch.stack([_u(gen, (B,), 0.3, 0.7) * w, _u(gen, (B,), 0.3, 0.7) * h], -1)
    txy = (target - pp) * (tz / focal)[:, None]
    t = torch.cat([txy, tz[:, None]], -1)

    P = basis.points_torch(tb, ident, expr)                    # (B,L,3)
    Pc = P @ R.transpose(1, 2) + t[:, None, :]
    clean = project(Pc, focal, pp)
    # self-occlusion from the mean-face normals turned by the head rotation
    n = tb["normals"][None] @ R.transpose(1, 2)                # (B,L,3)
    facing = (n * torch.nn.functional.normalize(Pc, dim=-1)).sum(-1)
    self_vis = (facing < 0.0).float()
    keep_occ = (torch.rand(B, 1, generator=gen) < o["keep_occluded_prob"]).float()
    vis = torch.maximum(self_vis, keep_occ.expand(B, L))
    drop_p = _u(gen, (B, 1), 0.0, o["dropout_max"])
    vis = vis * (torch.rand(B, L, generator=gen) >= drop_p).float()
    # block occluder (hand, hair, sunglasses): a disc in the face box
    lo, hi = clean.min(1).values, clean.max(1).values
    scale = (hi - lo).max(-1).values
    centre = lo + (hi - lo) * torch.rand(B, 2, generator=gen)
    radius = scale * _u(gen, (B,), 0.1, 0.3)
    inside = ((clean - centre[:, None]).norm(dim=-1) < radius[:, None]).float()
    use_block = (torch.rand(B, 1, generator=gen) < o["block_prob"]).float()
    vis = vis * (1 - inside * use_block)
    # never fewer than a third of the points: fall back to the self-visible set
    few = vis.sum(1, keepdim=True) < L / 3
    vis = torch.where(few, torch.maximum(self_vis, keep_occ.expand(B, L)), vis)
    noise = _u(gen, (B, 1, 1), 0.0, o["noise_max"]) * scale[:, None, None]
    noisy = clean + torch.randn(B, L, 2, generator=gen) * noise
    return dict(identity=ident, expression=expr, rotation=R, translation=t, focal=focal,
                image_size=size, points2d=noisy, clean2d=clean, visible=vis)


# ---- network ----------------------------------------------------------------------------
def _torch_module():
    import torch
    nn = torch.nn

    class LandmarkRegressor(nn.Module):
        def __init__(self, n_points: int, n_identity: int, n_expression: int, hidden: int = 512,
                     layers: int = 3):
            super().__init__()
            self.n_points, self.n_identity, self.n_expression = n_points, n_identity, n_expression
            dims = [n_points * 3 + 3] + [hidden] * layers
            mods = []
            for a, b in zip(dims[:-1], dims[1:]):
                mods += [nn.Linear(a, b), nn.SiLU()]
            self.trunk = nn.Sequential(*mods)
            self.head = nn.Linear(hidden, n_identity + n_expression + 6 + 2 + 1 + 1)
            with torch.no_grad():
                self.head.weight.mul_(0.1)
                self.head.bias.zero_()
                # rotation bias: the frontal pose (180 degrees about x): columns (1,0,0), (0,-1,0)
                r = n_identity + n_expression
                self.head.bias[r:r + 6] = torch.tensor([1.0, 0, 0, 0, -1.0, 0])
                self.head.bias[n_identity:n_identity + n_expression] = -3.0

        def forward(self, x):
            return self.head(self.trunk(x))

    return LandmarkRegressor


def normalise_inputs(points2d, visible, image_size):
    """(B,L,2) px, (B,L) mask, (B,2) (w,h) -> features (B, 3L+3), centre (B,2), scale (B,)."""
    import torch
    big = torch.finfo(points2d.dtype).max
    m = visible[..., None] > 0
    lo = torch.where(m, points2d, torch.full_like(points2d, big)).min(1).values
    hi = torch.where(m, points2d, torch.full_like(points2d, -big)).max(1).values
    centre = (lo + hi) / 2
    scale = (hi - lo).max(-1).values.clamp_min(1.0)
    p = (points2d - centre[:, None]) / scale[:, None, None] * visible[..., None]
    w, h = image_size[:, 0], image_size[:, 1]
    pp = torch.stack([(w - 1) / 2, (h - 1) / 2], -1)
    extra = torch.cat([(centre - pp) / scale[:, None],
                       torch.log(torch.maximum(w, h) / scale)[:, None]], -1)
    feats = torch.cat([p.flatten(1), visible, extra], -1)
    return feats, centre, scale


def decode_outputs(out, centre, scale, image_size, n_identity, n_expression):
    import torch
    K, E = n_identity, n_expression
    ident = out[:, :K]
    expr = torch.sigmoid(out[:, K:K + E])
    R = rotation_6d_to_matrix(out[:, K + E:K + E + 6])
    off = out[:, K + E + 6:K + E + 8]
    a = out[:, K + E + 8] + DEPTH_PRIOR
    b = out[:, K + E + 9] + FOCAL_PRIOR
    w, h = image_size[:, 0], image_size[:, 1]
    focal = torch.maximum(w, h) * torch.exp(b)
    tz = torch.exp(a) * focal / scale
    pp = torch.stack([(w - 1) / 2, (h - 1) / 2], -1)
    u0 = centre + off * scale[:, None]
    txy = (u0 - pp) * (tz / focal)[:, None]
    return dict(identity=ident, expression=expr, rotation=R,
                translation=torch.cat([txy, tz[:, None]], -1), focal=focal,
                log_depth=a, log_focal=b, offset=off)


def landmark_losses(pred, batch, basis, tb, centre, scale, weights=None) -> dict:
    """Supervised losses on a synthetic batch; all in normalised units."""
    import torch
    wts = dict(rotation=1.0, identity=0.05, expression=1.0, focal=0.2, depth=1.0, offset=1.0,
               reprojection=1.0)
    wts.update(weights or {})
    R_gt = batch["rotation"]
    w, h = batch["image_size"][:, 0], batch["image_size"][:, 1]
    longest = torch.maximum(w, h)
    f_gt = batch["focal"]
    pp = torch.stack([(w - 1) / 2, (h - 1) / 2], -1)
    t_gt = batch["translation"]
    a_gt = torch.log(t_gt[:, 2] * scale / f_gt)
    u0_gt = t_gt[:, :2] / t_gt[:, 2:3] * f_gt[:, None] + pp
    off_gt = (u0_gt - centre) / scale[:, None]
    L = {
        "rotation": ((pred["rotation"] - R_gt) ** 2).sum((1, 2)).mean(),
        "identity": ((pred["identity"] - batch["identity"]) ** 2).mean(),
        "expression": ((pred["expression"] - batch["expression"]) ** 2).mean() * 10,
        "focal": ((pred["log_focal"] - torch.log(f_gt / longest)) ** 2).mean(),
        "depth": ((pred["log_depth"] - a_gt) ** 2).mean(),
        "offset": ((pred["offset"] - off_gt) ** 2).sum(-1).mean(),
    }
    P = basis.points_torch(tb, pred["identity"], pred["expression"])
    Pc = P @ pred["rotation"].transpose(1, 2) + pred["translation"][:, None]
    uv = project(Pc, pred["focal"], pp)
    L["reprojection"] = ((uv - batch["clean2d"]).norm(dim=-1) / scale[:, None]).mean()
    L["total"] = sum(wts[k] * L[k] for k in wts)
    return L


# ---- training ---------------------------------------------------------------------------
def train_landmark_regressor(model, out, seed=0, steps=8000, batch=256, lr=1e-3, hidden=384,
                             layers=3, scheme="auto", log=None, threads=1, progress=print,
                             fp16=True) -> dict:
    """Train from scratch on synthetic landmark sets; writes `out` (+ .sha256). Deterministic
    for a given seed, step count and thread count."""
    import torch
    torch.set_num_threads(threads)
    torch.manual_seed(seed)
    basis = landmark_basis(model, scheme)
    tb = basis.torch()
    K, E = basis.identity.shape[0], basis.expression.shape[0]
    net = _torch_module()(basis.n_points, K, E, hidden, layers)
    opt = torch.optim.AdamW(net.parameters(), lr=lr, weight_decay=1e-5)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=lr, total_steps=steps, pct_start=max(0.05, 3.0 / steps))
    gen = torch.Generator().manual_seed(seed)
    logf = open(log, "w") if log else None
    if logf:
        logf.write("step,seconds,total,rotation,identity,expression,focal,depth,offset,reprojection\n")
    t0 = time.perf_counter()
    for step in range(1, steps + 1):
        b = sample_landmark_sets(basis, batch, gen, tb)
        feats, c, s = normalise_inputs(b["points2d"], b["visible"], b["image_size"])
        pred = decode_outputs(net(feats), c, s, b["image_size"], K, E)
        L = landmark_losses(pred, b, basis, tb, c, s)
        opt.zero_grad(set_to_none=True)
        L["total"].backward()
        torch.nn.utils.clip_grad_norm_(net.parameters(), 5.0)
        opt.step()
        sched.step()
        if step % 100 == 0 or step == steps:
            vals = {k: float(v.detach()) for k, v in L.items()}
            if logf:
                logf.write(f"{step},{time.perf_counter() - t0:.1f}," + ",".join(
                    f"{vals[k]:.5f}" for k in ("total", "rotation", "identity", "expression", "focal",
                                                 "depth", "offset", "reprojection")) + "\n")
                logf.flush()
            if progress and (step % 500 == 0 or step == steps):
                progress(f"step {step}/{steps} {time.perf_counter() - t0:.0f}s total={vals['total']:.4f} "
                         f"rot={vals['rotation']:.4f} reproj={vals['reprojection']:.4f}")
    if logf:
        logf.close()
    sd = {k: (v.half() if fp16 else v.clone()) for k, v in net.state_dict().items()}
    config = dict(kind="facespace-landmark-regressor", version=1, scheme=basis.scheme,
                  n_points=basis.n_points, n_identity=K, n_expression=E, hidden=hidden, layers=layers,
                  seed=seed, steps=steps, batch=batch, lr=lr, model_id=str(getattr(model, "id", "")),
                  torch=str(torch.__version__))  # no timings: the file is reproducible byte for byte
    digest = save_checkpoint(out, {"config": config, "state_dict": sd})
    return dict(config, sha256=digest, path=str(out), seconds=round(time.perf_counter() - t0, 1))


# ---- inference --------------------------------------------------------------------------
class LandmarkPredictor:
    """A loaded landmark regressor (CPU by default)."""

    def __init__(self, state: dict, model, device="cpu"):
        import torch
        cfg = state["config"]
        if cfg.get("kind") != "facespace-landmark-regressor":
            raise FaceSpaceError("This file is not a FaceSpace landmark regressor.")
        self.config = cfg
        self.basis = landmark_basis(model, cfg["scheme"])
        self.net = _torch_module()(cfg["n_points"], cfg["n_identity"], cfg["n_expression"],
                                   cfg["hidden"], cfg["layers"])
        self.net.load_state_dict({k: v.float() for k, v in state["state_dict"].items()})
        self.net.eval().to(device)
        self.device = torch.device(device)

    @property
    def n_points(self) -> int:
        return self.config["n_points"]

    def predict_batch(self, points2d, image_size, visible=None) -> dict:
        """points2d (B,L,2) px, image_size (B,2) or (2,) -> numpy dict of batched outputs."""
        import torch
        p = torch.as_tensor(np.asarray(points2d, np.float32), device=self.device)
        if p.dim() == 2:
            p = p[None]
        B, L, _ = p.shape
        if L != self.n_points:
            raise ValueError(f"the landmark regressor expects {self.n_points} points "
                             f"({self.config['scheme']}), got {L}")
        size = torch.as_tensor(np.asarray(image_size, np.float32), device=self.device).reshape(-1, 2).expand(B, 2)
        vis = (torch.ones(B, L, device=self.device) if visible is None else
               torch.as_tensor(np.asarray(visible, np.float32), device=self.device).reshape(B, L))
        bad = ~torch.isfinite(p).all(-1)
        vis = vis * (~bad).float()
        p = torch.where(bad[..., None], torch.zeros_like(p), p)
        with torch.no_grad():
            feats, c, s = normalise_inputs(p, vis, size)
            out = decode_outputs(self.net(feats), c, s, size, self.config["n_identity"],
                                 self.config["n_expression"])
        return {k: out[k].cpu().numpy().astype(np.float64) for k in
                ("identity", "expression", "rotation", "translation", "focal")}


def default_weights_path() -> Path:
    return Path(__file__).resolve().parents[2] / "weights" / "landmark_regressor.pt"


# ---- evaluation -------------------------------------------------------------------------
def mean_face_baseline(points2d, visible, image_size, n_identity, n_expression) -> dict:
    """The prior answer: mean face, no expression, frontal, prior focal, placed on the box."""
    import torch
    feats, c, s = normalise_inputs(points2d, visible, image_size)
    B = points2d.shape[0]
    out = torch.zeros(B, n_identity + n_expression + 10)
    out[:, n_identity:n_identity + n_expression] = -30.0
    out[:, n_identity + n_expression:n_identity + n_expression + 6] = torch.tensor([1.0, 0, 0, 0, -1.0, 0])
    return decode_outputs(out, c, s, image_size, n_identity, n_expression)


def evaluate_landmark_regressor(predictor, n=2000, seed=12345, **sampling) -> dict:
    """Regressor vs the mean-face baseline on fresh synthetic landmark sets: rotation error
    (degrees), landmark reprojection error (% of the face box), focal error (%), identity RMSE."""
    import torch
    basis = predictor.basis
    tb = basis.torch()
    gen = torch.Generator().manual_seed(seed)
    b = sample_landmark_sets(basis, n, gen, tb, **sampling)
    K, E = basis.identity.shape[0], basis.expression.shape[0]
    t0 = time.perf_counter()
    pred = predictor.predict_batch(b["points2d"].numpy(), b["image_size"].numpy(), b["visible"].numpy())
    seconds = time.perf_counter() - t0
    base = mean_face_baseline(b["points2d"], b["visible"], b["image_size"], K, E)
    w, h = b["image_size"][:, 0], b["image_size"][:, 1]
    pp = torch.stack([(w - 1) / 2, (h - 1) / 2], -1)
    lo, hi = b["clean2d"].min(1).values, b["clean2d"].max(1).values
    scale = (hi - lo).max(-1).values

    def metrics(p):
        P = basis.points_torch(tb, torch.as_tensor(p["identity"]).float(), torch.as_tensor(p["expression"]).float())
        R = torch.as_tensor(p["rotation"]).float()
        t = torch.as_tensor(p["translation"]).float()
        f = torch.as_tensor(p["focal"]).float()
        uv = project(P @ R.transpose(1, 2) + t[:, None], f, pp)
        reproj = ((uv - b["clean2d"]).norm(dim=-1).mean(1) / scale).numpy() * 100
        rot = rotation_angle_deg(R.numpy(), b["rotation"].numpy())
        ferr = np.abs(f.numpy() / b["focal"].numpy() - 1) * 100
        idr = np.sqrt(((np.asarray(p["identity"]) - b["identity"].numpy()) ** 2).mean())
        return {"rotation_deg_mean": float(rot.mean()), "rotation_deg_median": float(np.median(rot)),
                "rotation_deg_p95": float(np.percentile(rot, 95)),
                "reprojection_pct_mean": float(reproj.mean()), "reprojection_pct_median": float(np.median(reproj)),
                "focal_err_pct_median": float(np.median(ferr)), "identity_rmse": float(idr)}

    base_np = {k: base[k].detach().numpy() for k in ("identity", "expression", "rotation", "translation", "focal")}
    return {"n": n, "seed": seed, "scheme": basis.scheme, "regressor": metrics(pred),
            "mean_face_baseline": metrics(base_np), "predict_seconds_batch": seconds}
