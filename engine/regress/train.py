"""Training of the Genova et al. regressor (see genova.py for the losses).

Each step: a synthetic batch (random model parameters rendered on the fly: parameter loss)
and a "real" batch (face crops from a photo folder; without photos, a second synthetic
batch used without its labels) for the batch distribution, loopback and multi-view
identity losses. Checkpoints hold the regressor, optimizer, step and RNG states (torch.save
of state dicts, SHA-256 sidecar, loaded with weights_only=True), so a resumed run continues
bit-exactly. Logs are CSV. Multi-GPU: launch with torchrun (docs/regression.md); each rank
draws its own synthetic data (seed + rank) and rank 0 writes checkpoints and logs.
"""
from __future__ import annotations

import math
import os
import time
from pathlib import Path

import numpy as np

from ..core.device import pick_device
from ..core.errors import FaceSpaceError, ImageError
from ..detect import choose_face, detect_faces
from ..detect.image_io import load_image
from .checkpoint import load_checkpoint, save_checkpoint
from .encoder import build_encoder
from .genova import (CROP_FACE_FRAC, FaceRenderer, batch_distribution_loss, build_regressor, loopback_loss,
                     multiview_identity_loss, parameter_loss, sample_synthetic, to_nchw)

DEFAULTS = dict(
    photos=None, out="genova_regressor.pt", steps=1000, batch=16, lr=1e-4, size=160,
    w_param=1.0, w_dist=0.1, w_loop=1.0, w_mv=1.0, yaws=(-30.0, 0.0, 30.0), seed=0,
    device="auto", backend="auto", encoder="vggface2", facenet_weights=None, hidden=512, layers=2,
    log=None, save_every=200, synthetic_yaw=45.0, threads=None,
)

LOG_FIELDS = ("step", "seconds", "images_per_s", "total", "param", "dist", "loop", "mv")


def _image_files(folder):
    exts = {".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff"}
    return sorted(p for p in Path(folder).rglob("*") if p.suffix.lower() in exts)


class PhotoCrops:
    """Face crops (N, size, size, 3) float in [0, 1] from a folder of photos: the MTCNN box
    when the detector works, else the centre square."""

    def __init__(self, folder, size, progress=None):
        from PIL import Image
        crops = []
        for path in _image_files(folder):
            try:
                img = load_image(path)
            except Exception:
                continue
            h, w = img.shape[:2]
            box = None
            try:
                box = choose_face(detect_faces(img)).box
            except Exception:
                pass
            if box is None:
                s = min(w, h)
                box = ((w - s) / 2, (h - s) / 2, (w + s) / 2, (h + s) / 2)
            cx, cy = (box[0] + box[2]) / 2, (box[1] + box[3]) / 2
            side = max(box[2] - box[0], box[3] - box[1]) / CROP_FACE_FRAC * 0.85
            c = Image.fromarray(img).crop((cx - side / 2, cy - side / 2, cx + side / 2, cy + side / 2))
            crops.append(np.asarray(c.resize((size, size), Image.BILINEAR), dtype=np.float32) / 255.0)
        if not crops:
            raise ImageError(f"No readable photos in {folder}.")
        self.crops = np.stack(crops)

    def __len__(self):
        return len(self.crops)

    def batch(self, n, gen, device):
        import torch
        idx = torch.randint(0, len(self.crops), (n,), generator=gen)
        x = torch.as_tensor(self.crops[idx.numpy()])
        flip = torch.rand(n, generator=gen) < 0.5
        x = torch.where(flip[:, None, None, None], x.flip(2), x)
        return x.to(device)


def _dist_info():
    ws = int(os.environ.get("WORLD_SIZE", "1"))
    return ws, int(os.environ.get("RANK", "0")), int(os.environ.get("LOCAL_RANK", "0"))


class GenovaTrainer:
    def __init__(self, model, progress=print, **options):
        import torch
        cfg = dict(DEFAULTS)
        unknown = set(options) - set(cfg)
        if unknown:
            raise TypeError(f"unknown training options: {sorted(unknown)}")
        cfg.update({k: v for k, v in options.items()})
        cfg = {k: (str(v) if isinstance(v, Path) else v) for k, v in cfg.items()}
        cfg["yaws"] = [float(y) for y in cfg["yaws"]]
        self.cfg, self.model, self.progress = cfg, model, progress
        if cfg["threads"]:
            torch.set_num_threads(int(cfg["threads"]))
        self.world, self.rank, local = _dist_info()
        if self.world > 1:
            import torch.distributed as dist
            if not dist.is_initialized():
                dist.init_process_group("nccl" if torch.cuda.is_available() else "gloo")
            self.device = torch.device(f"cuda:{local}") if torch.cuda.is_available() else torch.device("cpu")
            if self.device.type == "cuda":
                torch.cuda.set_device(self.device)
        else:
            self.device = pick_device(cfg["device"])
        torch.manual_seed(cfg["seed"])
        K, E = model.n_identity, model.n_expression
        self.K, self.E = K, E
        self.encoder = build_encoder(pretrained=cfg["encoder"] == "vggface2", weights=cfg["facenet_weights"],
                                     device=self.device, seed=cfg["seed"], input_size=max(96, cfg["size"]))
        self.renderer = FaceRenderer(model, size=cfg["size"], device=self.device, backend=cfg["backend"])
        self.regressor = build_regressor(K, E, hidden=cfg["hidden"], layers=cfg["layers"]).to(self.device)
        self.net = self.regressor
        if self.world > 1:
            from torch.nn.parallel import DistributedDataParallel as DDP
            self.net = DDP(self.regressor, device_ids=[self.device.index] if self.device.type == "cuda" else None)
        self.opt = torch.optim.Adam(self.regressor.parameters(), lr=cfg["lr"])
        self.gen = torch.Generator().manual_seed(cfg["seed"] * 1000 + self.rank)
        self._init_feature_stats()
        self.step = 0
        self.photos = PhotoCrops(cfg["photos"], cfg["size"]) if cfg["photos"] else None
        self.t_start = time.perf_counter()

    def _init_feature_stats(self, n=64):
        """Standardise the encoder features with statistics of synthetic renders (seed-fixed,
        identical on every rank)."""
        import torch
        g = torch.Generator().manual_seed(self.cfg["seed"] * 1000 + 999)
        feats = []
        with torch.no_grad():
            for i in range(0, n, 16):
                syn = sample_synthetic(self.K, self.E, min(16, n - i), g, self.device, self.cfg["synthetic_yaw"])
                img = self.renderer.render(syn["identity"], syn["expression"], syn["pose"], syn["albedo"],
                                           syn["background"])
                feats.append(self.encoder(to_nchw(img))["pool"])
        self.regressor.set_feature_stats(torch.cat(feats, 0))

    # -- checkpoints --
    def state(self) -> dict:
        import torch
        rng = {"torch": torch.get_rng_state(), "data": self.gen.get_state()}
        if torch.cuda.is_available():
            rng["cuda"] = torch.cuda.get_rng_state_all()
        return {"config": {k: (list(v) if isinstance(v, tuple) else v) for k, v in self.cfg.items()},
                "kind": "facespace-genova-regressor", "version": 1,
                "n_identity": self.K, "n_expression": self.E, "step": self.step,
                "regressor": self.regressor.state_dict(), "optimizer": self.opt.state_dict(), "rng": rng}

    def save(self, path=None) -> str | None:
        if self.rank != 0:
            return None
        return save_checkpoint(path or self.cfg["out"], self.state())

    def load(self, path):
        import torch
        st = load_checkpoint(path)
        if st.get("kind") != "facespace-genova-regressor":
            raise FaceSpaceError(f"{path} is not a FaceSpace Genova regressor checkpoint.")
        self.regressor.load_state_dict(st["regressor"])
        self.opt.load_state_dict(st["optimizer"])
        self.step = int(st["step"])
        torch.set_rng_state(st["rng"]["torch"])
        self.gen.set_state(st["rng"]["data"])
        if "cuda" in st["rng"] and torch.cuda.is_available():
            torch.cuda.set_rng_state_all(st["rng"]["cuda"])
        return st

    # -- one step --
    def losses(self) -> dict:
        import torch
        c, B = self.cfg, self.cfg["batch"]
        syn = sample_synthetic(self.K, self.E, B, self.gen, self.device, c["synthetic_yaw"])
        with torch.no_grad():
            img_s = self.renderer.render(syn["identity"], syn["expression"], syn["pose"], syn["albedo"], syn["background"])
            f_s = self.encoder(to_nchw(img_s))
            if self.photos is not None:
                real = self.photos.batch(B, self.gen, self.device)
            else:
                syn2 = sample_synthetic(self.K, self.E, B, self.gen, self.device, c["synthetic_yaw"])
                real = self.renderer.render(syn2["identity"], syn2["expression"], syn2["pose"], syn2["albedo"],
                                            syn2["background"])
            f_r = self.encoder(to_nchw(real))
        L = {}
        # one forward through the (possibly DDP-wrapped) regressor for both batches; the
        # loopback's second regression uses the same parameters unwrapped (autograd sums the
        # contributions per parameter, so DDP still reduces each gradient once)
        both = self.net(torch.cat([f_s["pool"], f_r["pool"]], 0))
        p_s = {k: v[:B] for k, v in both.items()}
        p_r = {k: v[B:] for k, v in both.items()}
        L["param"] = parameter_loss(p_s, syn)
        L["dist"] = batch_distribution_loss(torch.cat([p_r["identity"], p_s["identity"]], 0))
        zero = p_r["identity"].sum() * 0
        L["loop"] = loopback_loss(p_r, self.renderer, self.encoder, self.regressor) if c["w_loop"] > 0 else zero
        L["mv"] = (multiview_identity_loss(p_r, f_r["embedding"], self.renderer, self.encoder, c["yaws"])
                   if c["w_mv"] > 0 else zero)
        L["total"] = (c["w_param"] * L["param"] + c["w_dist"] * L["dist"] + c["w_loop"] * L["loop"]
                      + c["w_mv"] * L["mv"])
        return L

    def train_step(self) -> dict:
        L = self.losses()
        self.opt.zero_grad(set_to_none=True)
        L["total"].backward()
        self.opt.step()
        self.step += 1
        return {k: float(v.detach()) for k, v in L.items()}

    def fit(self, steps=None, log=None) -> dict:
        cfg = self.cfg
        steps = cfg["steps"] if steps is None else steps
        logf = None
        log = log or cfg["log"]
        if log and self.rank == 0:
            new = not Path(log).exists() or self.step == 0
            logf = open(log, "w" if new else "a")
            if new:
                logf.write(",".join(LOG_FIELDS) + "\n")
        t0 = time.perf_counter()
        first = self.step
        vals = {}
        while self.step < steps:
            vals = self.train_step()
            el = time.perf_counter() - t0
            ips = (self.step - first) * cfg["batch"] * self.world / max(el, 1e-9)
            if logf:
                logf.write(f"{self.step},{el:.2f},{ips:.2f}," + ",".join(
                    f"{vals[k]:.6f}" for k in ("total", "param", "dist", "loop", "mv")) + "\n")
                logf.flush()
            if self.progress and self.rank == 0 and (self.step % 10 == 0 or self.step == steps):
                self.progress(f"step {self.step}/{steps} {ips:.1f} img/s total={vals['total']:.4f} "
                              f"param={vals['param']:.4f} dist={vals['dist']:.4f} loop={vals['loop']:.4f} mv={vals['mv']:.4f}")
            if cfg["save_every"] and self.step % cfg["save_every"] == 0:
                self.save()
        if logf:
            logf.close()
        el = time.perf_counter() - t0
        return dict(vals, step=self.step, seconds=el,
                    images_per_s=(self.step - first) * cfg["batch"] * self.world / max(el, 1e-9))


def train_genova(model, resume=False, progress=print, **options) -> dict:
    """Train (or resume when `resume` and the checkpoint exists) and save the final checkpoint."""
    tr = GenovaTrainer(model, progress=progress, **options)
    if resume and Path(tr.cfg["out"]).exists():
        tr.load(tr.cfg["out"])
        if progress:
            progress(f"resumed {tr.cfg['out']} at step {tr.step}")
    info = tr.fit()
    info["sha256"] = tr.save()
    info["device"] = str(tr.device)
    info["backend"] = tr.renderer.backend
    info["rank"], info["world_size"] = tr.rank, tr.world
    if tr.world > 1:
        import torch.distributed as dist
        dist.barrier()
        dist.destroy_process_group()
    return info
