"""The installer: local archive/folder, pinned download, and every failure leaving no model."""
import contextlib
import functools
import http.server
import shutil
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from engine.core.errors import ChecksumMismatchError, MissingSourceFileError, ModelDownloadError, ModelInstallError
from engine.model import MODEL_FILENAME, MorphableModel, checksum_path
from engine.model.install import BASE_URL_ENV, install_model
from tests.conftest import ROOT, need_shared


def _no_model_left(data_dir: Path):
    assert not (data_dir / MODEL_FILENAME).exists()
    assert not checksum_path(data_dir / MODEL_FILENAME).exists()
    assert not [p for p in data_dir.iterdir() if p.name.startswith(".facespace-staging")]


def _linked_copy(ict_folder: Path, dest: Path) -> Path:
    """A cheap copy of the release (symlinks), to damage one file without touching the original."""
    (dest / "FaceXModel").mkdir(parents=True)
    for f in ict_folder.iterdir():
        (dest / "FaceXModel" / f.name).symlink_to(f)
    (dest / "LICENSE").symlink_to(ict_folder.parent / "LICENSE")
    return dest


@contextlib.contextmanager
def serve(folder: Path):
    """A real HTTP server on loopback, standing in for the upstream host."""
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(folder))
    handler.log_message = lambda *a: None
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}/"
    finally:
        httpd.shutdown()


@pytest.mark.slow
def test_install_from_the_shared_archive(tmp_path):
    archive = need_shared("models", "ict-facekit.tar.xz")
    path = install_model(archive, data_dir=tmp_path)
    assert path == tmp_path / MODEL_FILENAME
    m = MorphableModel.load(path)
    assert m.n_vertices == 26719 and m.n_identity == 100 and m.n_expression == 53
    assert [p.name for p in tmp_path.iterdir()] and not list(tmp_path.glob(".facespace-staging*"))


@pytest.mark.slow
def test_download_from_a_mirror_checks_every_file(ict_folder, tmp_path, monkeypatch):
    with serve(ict_folder.parent) as url:
        monkeypatch.setenv(BASE_URL_ENV, url)
        path = install_model(None, data_dir=tmp_path / "data")
    assert MorphableModel.load(path).n_vertices == 26719


def test_partial_download_leaves_nothing(ict_folder, tmp_path, monkeypatch):
    mirror = _linked_copy(ict_folder, tmp_path / "mirror")
    (mirror / "FaceXModel" / "jawOpen.obj").unlink()  # the server answers 404 for it
    data = tmp_path / "data"
    with serve(mirror) as url:
        monkeypatch.setenv(BASE_URL_ENV, url)
        with pytest.raises(ModelDownloadError, match="install-model --from"):
            install_model(None, data_dir=data)
    _no_model_left(data)


def test_no_network_raises_a_clear_error(tmp_path, monkeypatch):
    monkeypatch.setenv(BASE_URL_ENV, "http://127.0.0.1:9/")  # discard port: connection refused
    with pytest.raises(ModelDownloadError, match="internet connection"):
        install_model(None, data_dir=tmp_path)
    _no_model_left(tmp_path)
    with pytest.raises(ModelDownloadError, match="Online access is turned off"):
        install_model(None, data_dir=tmp_path, allow_network=False)


def test_missing_file(ict_folder, tmp_path):
    src = _linked_copy(ict_folder, tmp_path / "src")
    (src / "FaceXModel" / "identity042.obj").unlink()
    with pytest.raises(MissingSourceFileError, match="identity042.obj is missing"):
        install_model(src, data_dir=tmp_path / "data")
    _no_model_left(tmp_path / "data")


def test_checksum_mismatch(ict_folder, tmp_path):
    src = _linked_copy(ict_folder, tmp_path / "src")
    bad = src / "FaceXModel" / "jawOpen.obj"
    bad.unlink()
    text = (ict_folder / "jawOpen.obj").read_text()
    bad.write_text(text.replace("v 0 ", "v 0.001 ", 1))
    with pytest.raises(ChecksumMismatchError, match="jawOpen.obj"):
        install_model(src, data_dir=tmp_path / "data")
    _no_model_left(tmp_path / "data")


def test_truncated_archive(tmp_path):
    archive = need_shared("models", "ict-facekit.tar.xz")
    cut = tmp_path / "cut.tar.xz"
    cut.write_bytes(archive.read_bytes()[: archive.stat().st_size // 3])
    with pytest.raises(ModelInstallError, match="damaged or incomplete"):
        install_model(cut, data_dir=tmp_path / "data")
    _no_model_left(tmp_path / "data")


@pytest.mark.slow
def test_a_failed_reinstall_keeps_the_working_model(ict_folder, tmp_path):
    data = tmp_path / "data"
    good = install_model(ict_folder.parent, data_dir=data)
    before = good.read_bytes()
    src = _linked_copy(ict_folder, tmp_path / "src")
    (src / "LICENSE").unlink()
    with pytest.raises(MissingSourceFileError):
        install_model(src, data_dir=data)
    assert good.read_bytes() == before and MorphableModel.load(good).n_vertices == 26719


def test_cli_reports_errors_without_a_traceback(tmp_path):
    r = subprocess.run([sys.executable, "-m", "engine", "install-model", "--from", str(tmp_path / "nope"),
                        "--data-dir", str(tmp_path)], cwd=ROOT, capture_output=True, text=True)
    assert r.returncode == 2
    assert "does not exist" in r.stderr and "Traceback" not in r.stderr
