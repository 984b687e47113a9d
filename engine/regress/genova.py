"""Genova et al. 2018, "Unsupervised Training for 3D Morphable Model Regression", on the
ICT-FaceKit model: an MLP from FaceNet features (avgpool, 1792-D) to identity (K),
expression (E), head pose (yaw, pitch, roll) and a flat albedo (RGB) for rendering, and its
four losses:

- parameter loss: synthetic faces drawn from the model, rendered, encoded, regressed,
  compared with the known parameters;
- batch distribution loss: the predicted identities' batch mean and covariance against the
  prior N(0, I);
- loopback loss: render the prediction, re-encode, regress, and require the same parameters;
- multi-view identity loss: render the predicted face from several yaws; cosine distance of
  their FaceNet embeddings to the input's.

Renders are face crops (the region "face" of the model, Lambertian shading of a flat albedo
with a head light) through engine.render (nvdiffrast on CUDA, portable PyTorch otherwise).
The ICT model has no albedo model, so appearance is a per-face RGB colour: a limitation.
"""
from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from ..core.cache import cached
from ..core.errors import FaceSpaceError
from ..core.device import pick_device
from ..core.geometry import euler_to_matrix
from ..core.paths import data_dir
from ..core.torch_geometry import vertex_normals
from ..detect import choose_face, detect_faces
from ..render import antialias, interpolate, project_clip, rasterize, resolve_backend
from .checkpoint import load_checkpoint
from .encoder import build_encoder

POSE_LIMITS = (math.radians(60), math.radians(30), math.radians(30))  # yaw, pitch, roll
CROP_FOCAL = 3.0       # focal / crop size of the render camera
CROP_FACE_FRAC = 0.75  # face width / crop size
FACE_WIDTH_CM = 15.0


def default_genova_path() -> Path:
    import os
    env = os.environ.get("FACESPACE_GENOVA_REGRESSOR")
    return Path(env) if env else data_dir() / "weights" / "genova_regressor.pt"


# ---- regressor --------------------------------------------------------------------------
def build_regressor(n_identity, n_expression, in_dim=1792, hidden=512, layers=2):
    import torch
    nn = torch.nn

    class GenovaRegressor(nn.Module):
        """features (B, in_dim) -> dict(identity, expression [0,1], pose (yaw,pitch,roll) rad, albedo [0,1])."""

        def __init__(self):
            super().__init__()
            self.n_identity, self.n_expression = n_identity, n_expression
            # input standardisation (FaceNet features have arbitrary per-dimension scale),
            # set once from training data by set_feature_stats and saved with the weights
            self.register_buffer("feat_mean", torch.zeros(in_dim))
            self.register_buffer("feat_std", torch.ones(in_dim))
            dims = [in_dim] + [hidden] * layers
            mods = []
            for a, b in zip(dims[:-1], dims[1:]):
                mods += [nn.Linear(a, b), nn.SiLU()]
            self.trunk = nn.Sequential(*mods)
            self.head = nn.Linear(hidden, n_identity + n_expression + 3 + 3)
            with torch.no_grad():
                self.head.weight.mul_(0.1)
                self.head.bias.zero_()
                self.head.bias[n_identity:n_identity + n_expression] = -3.0

        @torch.no_grad()
        def set_feature_stats(self, feats):
            self.feat_mean.copy_(feats.mean(0))
            self.feat_std.copy_(feats.std(0).clamp_min(1e-6 * feats.std(0).max().clamp_min(1e-12)))

        def forward(self, feats):
            o = self.head(self.trunk((feats - self.feat_mean) / self.feat_std))
            K, E = self.n_identity, self.n_expression
            lim = torch.tensor(POSE_LIMITS, dtype=o.dtype, device=o.device)
            return {"identity": o[:, :K], "expression": torch.sigmoid(o[:, K:K + E]),
                    "pose": torch.tanh(o[:, K + E:K + E + 3]) * lim,
                    "albedo": torch.sigmoid(o[:, K + E + 3:K + E + 6])}

    return GenovaRegressor()


# ---- rendering --------------------------------------------------------------------------
class FaceRenderer:
    """Differentiable face-crop renders of model parameters (B, size, size, 3) in [0, 1]."""

    def __init__(self, model, size=96, device="cpu", backend="auto", region="face"):
        import torch
        self.model, self.size, self.device = model, int(size), torch.device(device)
        self.backend = resolve_backend(backend, self.device)
        sl = model.region_slice(region)
        tri = model.triangles.astype(np.int64)
        keep = np.all((tri >= sl.start) & (tri < sl.stop), axis=1)
        self.slice = sl
        self.tri = torch.as_tensor(tri[keep] - sl.start, dtype=torch.int32, device=self.device)
        self.tri_long = self.tri.long()
        centre = model.mean[model.landmarks68].mean(0)
        self.centre = torch.as_tensor(centre, dtype=torch.float32, device=self.device)
        f = CROP_FOCAL * self.size
        self.focal = f
        self.tz = f * FACE_WIDTH_CM / (CROP_FACE_FRAC * self.size)
        c = (self.size - 1) / 2
        self.K = torch.tensor([[f, 0, c], [0, f, c], [0, 0, 1.0]], device=self.device)

    def camera(self, pose):
        """pose (B,3) -> rotation (B,3,3), translation (B,3): the face centre on the optical axis."""
        import torch
        R = euler_to_matrix(pose[:, 0], pose[:, 1], pose[:, 2])
        t = -(R @ self.centre) + torch.tensor([0.0, 0.0, self.tz], device=pose.device)
        return R, t

    def render(self, identity, expression, pose, albedo, background=None):
        import torch
        v = self.model.vertices_torch(identity, expression)[:, self.slice]
        R, t = self.camera(pose)
        vc = v @ R.transpose(1, 2) + t[:, None]
        nc = vertex_normals(vc, self.tri_long)
        # head light from the camera: shade = ambient + diffuse * max(0, n . -view)
        view = torch.nn.functional.normalize(vc, dim=-1)
        shade = 0.35 + 0.65 * (-(nc * view).sum(-1, keepdim=True)).clamp_min(0)
        col = shade * albedo[:, None, :]
        clip = project_clip(vc, self.K, self.size, self.size, near=1.0, far=1000.0)
        rast, _ = rasterize(clip.contiguous(), self.tri, (self.size, self.size), backend=self.backend)
        img, _ = interpolate(col.contiguous(), rast, self.tri, backend=self.backend)
        mask = (rast[..., 3:4] > 0).float()
        bg = background if background is not None else torch.full_like(img, 0.5)
        img = img * mask + bg * (1 - mask)
        try:  # silhouette gradients (nvdiffrast's analytic antialiasing)
            img = antialias(img.contiguous(), rast, clip.contiguous(), self.tri, backend=self.backend)
        except ModuleNotFoundError:  # renderer without antialias yet: interior gradients only
            pass
        return img.clamp(0, 1)


def sample_synthetic(n_identity, n_expression, batch, gen, device="cpu", yaw_deg=45.0):
    import torch
    ident = torch.randn(batch, n_identity, generator=gen).clamp(-3, 3)
    expr = torch.rand(batch, n_expression, generator=gen) * (torch.rand(batch, n_expression, generator=gen) < 0.08).float()
    lim = torch.tensor([math.radians(yaw_deg), math.radians(20), math.radians(15)])
    pose = (torch.rand(batch, 3, generator=gen) * 2 - 1) * lim
    albedo = 0.35 + 0.55 * torch.rand(batch, 3, generator=gen)
    albedo = albedo.sort(dim=1, descending=True).values  # skin-like: R >= G >= B
    bg = torch.rand(batch, 1, 1, 3, generator=gen)
    d = lambda x: x.to(device)
    return {"identity": d(ident), "expression": d(expr), "pose": d(pose), "albedo": d(albedo), "background": d(bg)}


# ---- losses -----------------------------------------------------------------------------
def to_nchw(img):
    return img.permute(0, 3, 1, 2).contiguous()


def parameter_loss(pred, target):
    return (((pred["identity"] - target["identity"]) ** 2).mean()
            + 10 * ((pred["expression"] - target["expression"]) ** 2).mean()
            + ((pred["pose"] - target["pose"]) ** 2).mean()
            + ((pred["albedo"] - target["albedo"]) ** 2).mean())


def batch_distribution_loss(identity):
    """|mean|^2 + |cov - I|_F^2 / K of the batch's predicted identity coefficients."""
    import torch
    B, K = identity.shape
    mu = identity.mean(0)
    xc = identity - mu
    cov = xc.T @ xc / max(B - 1, 1)
    return (mu ** 2).sum() / K + ((cov - torch.eye(K, device=identity.device)) ** 2).sum() / K


def loopback_loss(pred, renderer, encoder, regressor):
    """Render the prediction (frontal-ish at its own pose), re-encode, regress, compare."""
    img = renderer.render(pred["identity"], pred["expression"], pred["pose"], pred["albedo"])
    again = regressor(encoder(to_nchw(img))["pool"])
    return parameter_loss(again, pred)


def multiview_identity_loss(pred, input_embedding, renderer, encoder, yaws_deg=(-30.0, 0.0, 30.0)):
    """Mean (1 - cos) between the input's embedding and renders of the prediction at several yaws."""
    import torch
    losses = []
    for yaw in yaws_deg:
        pose = torch.zeros_like(pred["pose"])
        pose[:, 0] = math.radians(yaw)
        img = renderer.render(pred["identity"], pred["expression"], pose, pred["albedo"])
        emb = encoder(to_nchw(img))["embedding"]
        losses.append(1 - torch.nn.functional.cosine_similarity(emb, input_embedding, dim=-1).mean())
    return torch.stack(losses).mean()


# ---- inference --------------------------------------------------------------------------
class GenovaPredictor:
    def __init__(self, state, model, device="cpu", weights=None):
        cfg = state["config"]
        self.config, self.model = cfg, model
        self.device = device
        self.encoder = build_encoder(pretrained=True, weights=weights, device=device)
        self.regressor = build_regressor(state["n_identity"], state["n_expression"], hidden=cfg["hidden"],
                                         layers=cfg["layers"]).to(device).eval()
        self.regressor.load_state_dict(state["regressor"])
        self.size = int(cfg.get("size", 160))

    def predict(self, image, box=None) -> dict:
        """image (H, W, 3) uint8 -> dict(identity, expression, rotation, translation, focal,
        albedo) with the camera in the photo's pixels. `box` (x0,y0,x1,y1) optional face box
        (else MTCNN, else the centre square)."""
        import torch
        from PIL import Image
        img = np.asarray(image)
        h, w = img.shape[:2]
        if box is None:
            try:
                box = choose_face(detect_faces(img)).box
            except FaceSpaceError:   # no face found: use the centred square (an already-cropped face)
                side = min(w, h)
                box = ((w - side) / 2, (h - side) / 2, (w + side) / 2, (h + side) / 2)
        x0, y0, x1, y1 = box
        cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
        side = max(x1 - x0, y1 - y0) / CROP_FACE_FRAC * 0.85
        crop = Image.fromarray(img).crop((cx - side / 2, cy - side / 2, cx + side / 2, cy + side / 2))
        crop = np.asarray(crop.resize((self.size, self.size), Image.BILINEAR), dtype=np.float32) / 255.0
        x = torch.as_tensor(crop, device=self.device).permute(2, 0, 1)[None]
        with torch.no_grad():
            p = self.regressor(self.encoder(x)["pool"])
        pose = p["pose"]
        R = euler_to_matrix(pose[:, 0], pose[:, 1], pose[:, 2])[0].cpu().numpy()
        # render camera of the crop, mapped to the photo: same depth, focal scaled by side/size
        focal = CROP_FOCAL * side
        tz = CROP_FOCAL * self.size * FACE_WIDTH_CM / (CROP_FACE_FRAC * self.size)
        centre = self.model.mean[self.model.landmarks68].mean(0)
        pp = np.array([(w - 1) / 2, (h - 1) / 2])
        target = np.array([cx, cy]) - 0.5  # box centre, 0-based pixel centres
        c_cam = np.array([*(target - pp) * tz / focal, tz])
        t = c_cam - R @ centre
        return {"identity": p["identity"][0].cpu().numpy().astype(np.float64),
                "expression": p["expression"][0].cpu().numpy().astype(np.float64),
                "rotation": R.astype(np.float64), "translation": t.astype(np.float64), "focal": float(focal),
                "albedo": p["albedo"][0].cpu().numpy().astype(np.float64)}


def load_genova_predictor(model, path=None, device="auto"):
    """The GenovaPredictor for `model` from a checkpoint (SHA-256 checked), once per model."""
    path = Path(path) if path else default_genova_path()
    dev = pick_device(device)
    return cached(model, ("genova", str(path), str(dev)),
                  lambda: GenovaPredictor(load_checkpoint(path, map_location=str(dev)), model, dev))
