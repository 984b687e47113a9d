"""Install the ICT-FaceKit face model: download (pinned commit, every file SHA-256 checked) or
take a local folder/archive, convert, and write the model file atomically.

Whatever fails, nothing that loads is left behind: files are staged in a temporary folder
and the model only appears, via os.replace, once it was converted and read back.
"""
from __future__ import annotations

import lzma
import os
import shutil
import tarfile
import tempfile
import urllib.error
import urllib.request
import zipfile
from pathlib import Path

from ..core.errors import ChecksumMismatchError, MissingSourceFileError, ModelDownloadError, ModelInstallError
from ..core.files import sha256_file
from . import ict
from .morphable import MorphableModel, checksum_path, model_path

BASE_URL_ENV = "FACESPACE_ICT_BASE_URL"  # mirrors, and tests of the offline path


def upstream_base_url() -> str:
    m = ict.manifest()
    return os.environ.get(BASE_URL_ENV) or (
        f"https://raw.githubusercontent.com/{m['repository']}/{m['commit']}/"
    )


def verify_folder(root: Path) -> Path:
    """Check every file of the pinned release in `root` (which holds FaceXModel/ and LICENSE)."""
    files = ict.manifest()["files"]
    for rel, digest in files.items():
        p = root / rel
        if not p.is_file():
            raise MissingSourceFileError(
                f"The ICT-FaceKit copy at {root} is incomplete: {rel} is missing. "
                "Download the whole FaceXModel folder (and LICENSE) again."
            )
        if sha256_file(p) != digest:
            raise ChecksumMismatchError(
                f"{rel} in {root} is not the pinned ICT-FaceKit release (checksum mismatch). "
                "It may be damaged or a different version; download it again."
            )
    return root


def _download(dest: Path, allow_network: bool, progress=None) -> None:
    if not allow_network:
        raise ModelDownloadError(
            "Online access is turned off, so the face model can't be downloaded. Allow online access "
            "(Blender: Preferences > System > Network), or install from a downloaded copy of "
            "ICT-FaceKit with `python -m engine install-model --from PATH`."
        )
    base = upstream_base_url()
    files = ict.manifest()["files"]
    for n, (rel, digest) in enumerate(files.items()):
        target = dest / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        try:
            with urllib.request.urlopen(base + rel, timeout=60) as r, open(target, "wb") as f:
                shutil.copyfileobj(r, f)
        except (urllib.error.URLError, OSError, TimeoutError) as exc:
            raise ModelDownloadError(
                f"Couldn't download the face model ({rel}: {getattr(exc, 'reason', exc)}). "
                "Check your internet connection, or download ICT-FaceKit "
                "(github.com/ICT-VGL/ICT-FaceKit, folder FaceXModel and LICENSE) and run "
                "`python -m engine install-model --from PATH`."
            ) from exc
        if sha256_file(target) != digest:
            raise ChecksumMismatchError(f"Downloaded {rel} failed its checksum; try again later.")
        if progress:
            progress((n + 1) / len(files), f"downloaded {rel}")


def _extract(archive: Path, dest: Path) -> None:
    try:
        if zipfile.is_zipfile(archive):
            with zipfile.ZipFile(archive) as z:
                for name in z.namelist():
                    if name.startswith("/") or ".." in Path(name).parts:
                        raise ModelInstallError(f"{archive} contains an unsafe path: {name}")
                z.extractall(dest)
        else:
            with tarfile.open(archive) as t:
                t.extractall(dest, filter="data")
    except (tarfile.TarError, zipfile.BadZipFile, lzma.LZMAError, EOFError, OSError, ValueError) as exc:
        raise ModelInstallError(
            f"{archive} could not be unpacked ({exc}). The archive is damaged or incomplete; "
            "download it again."
        ) from exc


def _source_root(path: Path, staging: Path) -> Path:
    """A folder with FaceXModel/ and LICENSE, from a folder or an archive."""
    if not path.exists():
        raise MissingSourceFileError(f"{path} does not exist.")
    if path.is_file():
        _extract(path, staging)
        path = staging
    # accept FaceXModel itself, its parent, or one wrapping folder (GitHub's archives)
    for cand in [path, path.parent] + sorted(p for p in path.iterdir() if p.is_dir()):
        if (cand / "FaceXModel").is_dir():
            return cand
    if (path / "generic_neutral_mesh.obj").is_file():
        return path.parent
    raise MissingSourceFileError(f"No ICT-FaceKit FaceXModel folder found in {path}.")


def install_model(source=None, data_dir=None, allow_network: bool = True, progress=None) -> Path:
    """Install the face model; returns the model file's path. `source`: folder/archive, or None to download."""
    target = model_path(data_dir)
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=".facespace-staging-", dir=target.parent) as tmp:
        staging = Path(tmp)
        if source is None:
            _download(staging, allow_network, progress)
            root = staging
        else:
            root = _source_root(Path(source), staging)
        verify_folder(root)
        model = ict.convert(root / "FaceXModel", progress=progress)
        tmp_model = staging / "model.npz"
        digest = model.save(tmp_model)
        MorphableModel.load(tmp_model, digest)  # read back before it may replace anything
        tmp_sum = staging / "model.sha256"
        tmp_sum.write_text(f"{digest}  {target.name}\n")
        os.replace(tmp_model, target)
        os.replace(tmp_sum, checksum_path(target))
    return target
