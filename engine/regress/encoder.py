"""The identity encoder: facenet-pytorch's InceptionResnetV1 (FaceNet), with the 512-D
embedding and the pre-embedding pooled layer (avgpool_1a, 1792-D; the layer Genova et al.
regress from) both exposed.

Pretrained `vggface2` weights, in this order:
1. `weights=PATH` argument or the FACESPACE_FACENET_WEIGHTS environment variable: a local
   state-dict file (facenet-pytorch's `20180402-114759-vggface2.pt`);
2. the per-user data folder (`<data dir>/weights/20180402-114759-vggface2.pt`);
3. a download from facenet-pytorch's release, where the internet is reachable
   (`download=True`).
The file is checked against a SHA-256 before `torch.load(weights_only=True)`: the
FACESPACE_FACENET_SHA256 variable or the `<file>.sha256` sidecar; with neither, the hash is
recorded in the sidecar on first use (trust on first use) and enforced afterwards.
"""
from __future__ import annotations

import os
from pathlib import Path

from ..core.errors import FaceSpaceError, WeightsUnavailableError
from ..core.paths import data_dir
from .checkpoint import read_sidecar, sha256_file, sidecar

FACENET_URL = "https://github.com/timesler/facenet-pytorch/releases/download/v2.2.9/20180402-114759-vggface2.pt"
FACENET_FILENAME = "20180402-114759-vggface2.pt"
WEIGHTS_ENV = "FACESPACE_FACENET_WEIGHTS"
SHA_ENV = "FACESPACE_FACENET_SHA256"
INPUT_SIZE = 160
POOL_DIM, EMBED_DIM = 1792, 512
_IRV1 = None


def _inception_resnet_v1_class():
    """facenet_pytorch.InceptionResnetV1. facenet-pytorch's package import needs `tqdm`
    (only for its downloader); without tqdm, the model module is executed on its own with
    that one import removed (nothing global is patched)."""
    import importlib.util
    import types
    global _IRV1
    if _IRV1 is not None:
        return _IRV1
    if importlib.util.find_spec("tqdm") is not None:
        from facenet_pytorch.models.inception_resnet_v1 import InceptionResnetV1
        _IRV1 = InceptionResnetV1
        return _IRV1
    spec = importlib.util.find_spec("facenet_pytorch")
    if spec is None or not spec.submodule_search_locations:
        raise WeightsUnavailableError("facenet-pytorch is not installed (see README: pip install --no-deps facenet-pytorch==2.6.0).")
    src_path = Path(list(spec.submodule_search_locations)[0]) / "models" / "inception_resnet_v1.py"
    src = src_path.read_text()
    src = src.replace("from .utils.download import download_url_to_file", "download_url_to_file = None")
    mod = types.ModuleType("facespace_inception_resnet_v1")
    mod.__file__ = str(src_path)
    exec(compile(src, str(src_path), "exec"), mod.__dict__)
    _IRV1 = mod.InceptionResnetV1
    return _IRV1


def default_facenet_path() -> Path:
    return data_dir() / "weights" / FACENET_FILENAME


def facenet_weights_path(weights=None) -> Path | None:
    for p in (weights, os.environ.get(WEIGHTS_ENV), default_facenet_path()):
        if p and Path(p).exists():
            return Path(p)
    return None


def facenet_weights_available(weights=None) -> bool:
    return facenet_weights_path(weights) is not None


def _offline_message() -> str:
    return ("The FaceNet (vggface2) weights are not on this computer and could not be downloaded. "
            f"Download {FACENET_URL} on a machine with internet access, then either set "
            f"{WEIGHTS_ENV}=/path/to/{FACENET_FILENAME} or copy it to {default_facenet_path()}. "
            "The landmark regressor and landmark fitting work without it.")


def download_facenet_weights(dest=None) -> Path:
    """Download the vggface2 state dict into the data folder and record its SHA-256."""
    import torch
    dest = Path(dest) if dest else default_facenet_path()
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest.with_name(dest.name + ".part")
    try:
        torch.hub.download_url_to_file(FACENET_URL, str(tmp), progress=False)
    except Exception as exc:  # offline, proxy, server refused
        tmp.unlink(missing_ok=True)
        raise WeightsUnavailableError(_offline_message()) from exc
    os.replace(tmp, dest)
    sidecar(dest).write_text(f"{sha256_file(dest)}  {dest.name}\n")
    return dest


def load_facenet_state_dict(weights=None, download=False) -> dict:
    import torch
    path = facenet_weights_path(weights)
    if path is None:
        if not download:
            raise WeightsUnavailableError(_offline_message())
        path = download_facenet_weights()
    expected = (os.environ.get(SHA_ENV) or read_sidecar(path) or "").lower()
    actual = sha256_file(path)
    if not expected:
        try:  # trust on first use: record it, enforce it from now on
            sidecar(path).write_text(f"{actual}  {path.name}\n")
        except OSError:
            pass
    elif actual != expected:
        raise FaceSpaceError(f"The FaceNet weights {path} do not match their SHA-256 "
                             f"({actual} != {expected}): the file is corrupt or was replaced.")
    sd = torch.load(path, map_location="cpu", weights_only=True)
    return {k: v for k, v in sd.items() if not k.startswith("logits.")}


def _encoder_class():
    import torch

    class FaceEncoder(torch.nn.Module):
        """forward(x (B,3,H,W) RGB in [0,1]) -> dict(pool (B,1792), embedding (B,512) L2-normalised).
        Frozen by default (eval mode, no parameter gradients); gradients still flow to the input."""

        def __init__(self, net, input_size=INPUT_SIZE):
            super().__init__()
            self.net = net
            self.input_size = int(input_size)

        def forward(self, x):
            n = self.net
            S = self.input_size
            if x.shape[-1] != S or x.shape[-2] != S:
                x = torch.nn.functional.interpolate(x, size=(S, S), mode="bilinear",
                                                    align_corners=False, antialias=False)
            x = (x * 255.0 - 127.5) / 128.0  # facenet-pytorch's fixed_image_standardization
            for name in ("conv2d_1a", "conv2d_2a", "conv2d_2b", "maxpool_3a", "conv2d_3b", "conv2d_4a",
                         "conv2d_4b", "repeat_1", "mixed_6a", "repeat_2", "mixed_7a", "repeat_3", "block8"):
                x = getattr(n, name)(x)
            pool = n.avgpool_1a(x).flatten(1)
            emb = n.last_bn(n.last_linear(pool))
            return {"pool": pool, "embedding": torch.nn.functional.normalize(emb, p=2, dim=1)}

    return FaceEncoder


def build_encoder(pretrained: bool = True, weights=None, download: bool = False, device="cpu", seed=None,
                  input_size: int = INPUT_SIZE):
    """The frozen identity encoder. pretrained=False gives a randomly initialised network
    (tests, smoke runs); pretrained=True raises WeightsUnavailableError when offline.
    Inputs are resized to `input_size` (FaceNet's 160; >= 96 keeps the network valid)."""
    if input_size < 96:
        raise ValueError("InceptionResnetV1 needs inputs of at least 96 x 96 pixels")
    import torch
    IRV1 = _inception_resnet_v1_class()
    if seed is not None:
        with torch.random.fork_rng():
            torch.manual_seed(seed)
            net = IRV1(pretrained=None, classify=False)
    else:
        net = IRV1(pretrained=None, classify=False)
    if pretrained:
        net.load_state_dict(load_facenet_state_dict(weights, download), strict=False)
    enc = _encoder_class()(net, input_size).to(device).eval()
    for p in enc.parameters():
        p.requires_grad_(False)
    return enc
