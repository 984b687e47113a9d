"""Shared fixtures: the real ICT model and the real data in ../shared, read in place."""
from __future__ import annotations

import os
import sys
import tarfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared"
ICT_ARCHIVE = SHARED / "models" / "ict-facekit.tar.xz"
sys.path.insert(0, str(ROOT))  # `import engine` from the repository root


def _mps_available() -> bool:
    import torch
    mps = getattr(torch.backends, "mps", None)
    return mps is not None and mps.is_available()


def _cuda_available() -> bool:
    import torch
    return torch.cuda.is_available()


@pytest.fixture(params=[
    "cpu",
    pytest.param("cuda", marks=pytest.mark.skipif(not _cuda_available(), reason="no CUDA device on this machine")),
    pytest.param("mps", marks=pytest.mark.skipif(not _mps_available(), reason="no MPS device on this machine")),
])
def device(request) -> str:
    """Every torch device this machine has: CPU always, CUDA and MPS where present."""
    return request.param


def need_shared(*parts) -> Path:
    p = SHARED.joinpath(*parts)
    if not p.exists():
        pytest.skip(f"{p} is absent: this test reads the real data in ../shared")
    return p


@pytest.fixture(scope="session")
def ict_folder(tmp_path_factory) -> Path:
    """The upstream FaceXModel/ folder, unpacked once per session from ../shared."""
    archive = need_shared("models", "ict-facekit.tar.xz")
    dest = tmp_path_factory.mktemp("ict")
    with tarfile.open(archive) as t:
        t.extractall(dest, filter="data")
    return dest / "FaceXModel"


@pytest.fixture(scope="session")
def ict_model(tmp_path_factory):
    """The installed model; if it is not installed, converted from ../shared into a temp dir."""
    from engine.core.errors import ModelNotInstalledError
    from engine.model import load_model
    try:
        return load_model()
    except ModelNotInstalledError:
        archive = need_shared("models", "ict-facekit.tar.xz")
        from engine.model.install import install_model
        path = install_model(archive, data_dir=tmp_path_factory.mktemp("model"))
        return load_model(path)


_SHARED_FIXTURES = {"ict_model", "ict_folder"}


def pytest_collection_modifyitems(config, items):
    """`shared` on every test that reads ../shared: through the model fixtures (the model is
    installed from ../shared when absent) or by naming the folder in its module."""
    for item in items:
        uses_shared = _SHARED_FIXTURES & set(getattr(item, "fixturenames", ()))
        module = getattr(item, "module", None)
        if uses_shared or "need_shared" in vars(module or object) or "SHARED" in vars(module or object):
            item.add_marker(pytest.mark.shared)


def pytest_sessionfinish(session, exitstatus):
    session.config._facespace_exitstatus = int(exitstatus)


def pytest_unconfigure(config):
    """bpy (the PyPI module) can deadlock at interpreter exit: its delayed-file-close thread
    waits on a condition variable that a static destructor is destroying. Once pytest has
    reported everything, leave without running C++ static destructors if bpy was loaded."""
    if "bpy" in sys.modules and hasattr(config, "_facespace_exitstatus"):
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(config._facespace_exitstatus)
